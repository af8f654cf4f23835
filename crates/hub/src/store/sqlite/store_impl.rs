//! The [`Store`] trait for [`SqliteStore`]: each method as one SQL job.

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    AccountSummary, Bundle, DeviceId, EC, Enqueued, KYBER, KeyUpload, NewMessage, PreKey,
    PrekeyCount, QueueLimits, QueuedMessage, SqliteStore, Store, StoreError, StoreFuture,
    StoredCredentials, WriterState, account_exists, count_keys, db, device_exists, queue_len,
    signed,
};

impl Store for SqliteStore {
    fn create_account<'a>(
        &'a self,
        name: &'a str,
        creds: StoredCredentials,
    ) -> StoreFuture<'a, ()> {
        let name = name.to_owned();
        self.write(move |conn, _| {
            if account_exists(conn, &name)? {
                return Err(StoreError::AccountExists(name));
            }
            conn.execute(
                "INSERT INTO accounts (name, salt, iterations, stored_key, server_key) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, creds.salt, creds.iterations, creds.stored_key, creds.server_key],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn credentials<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<StoredCredentials>> {
        let name = name.to_owned();
        self.read(move |conn| {
            conn.query_row(
                "SELECT salt, iterations, stored_key, server_key FROM accounts WHERE name = ?1",
                [name],
                |r| {
                    Ok(StoredCredentials {
                        salt: r.get(0)?,
                        iterations: r.get(1)?,
                        stored_key: r.get(2)?,
                        server_key: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(db)
        })
    }

    fn set_credentials<'a>(
        &'a self,
        name: &'a str,
        creds: StoredCredentials,
    ) -> StoreFuture<'a, ()> {
        let name = name.to_owned();
        self.write(move |conn, _| {
            let n = conn
                .execute(
                    "UPDATE accounts SET salt = ?2, iterations = ?3, stored_key = ?4, server_key = ?5 WHERE name = ?1",
                    params![name, creds.salt, creds.iterations, creds.stored_key, creds.server_key],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(StoreError::UnknownAccount(name));
            }
            Ok(())
        })
    }

    fn remove_account<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        let name = name.to_owned();
        self.write(move |conn, state| {
            if !account_exists(conn, &name)? {
                return Err(StoreError::UnknownAccount(name));
            }
            for table in ["devices", "device_keys", "one_time_keys", "queued"] {
                conn.execute(&format!("DELETE FROM {table} WHERE account = ?1"), [&name])
                    .map_err(db)?;
            }
            conn.execute("DELETE FROM device_lists WHERE account = ?1", [&name])
                .map_err(db)?;
            conn.execute("DELETE FROM accounts WHERE name = ?1", [&name])
                .map_err(db)?;
            state.depth.retain(|(a, _), _| *a != name);
            Ok(())
        })
    }

    fn list_accounts(&self) -> StoreFuture<'_, Vec<AccountSummary>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT name,
                        (SELECT COUNT(*) FROM devices d WHERE d.account = a.name),
                        (SELECT COUNT(*) FROM queued q WHERE q.account = a.name)
                     FROM accounts a ORDER BY name",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(AccountSummary {
                        name: r.get(0)?,
                        devices: r.get(1)?,
                        queued: r.get::<_, i64>(2)? as u64,
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn devices<'a>(&'a self, account: &'a str) -> StoreFuture<'a, Vec<DeviceId>> {
        let account = account.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT device FROM devices WHERE account = ?1 ORDER BY device")
                .map_err(db)?;
            let rows = stmt.query_map([account], |r| r.get(0)).map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn register_device<'a>(&'a self, account: &'a str, max: u32) -> StoreFuture<'a, DeviceId> {
        let account = account.to_owned();
        self.write(move |conn, _| {
            if !account_exists(conn, &account)? {
                return Err(StoreError::UnknownAccount(account));
            }
            let (count, highest): (u32, u32) = conn
                .query_row(
                    "SELECT COUNT(*), COALESCE(MAX(device), 0) FROM devices WHERE account = ?1",
                    [&account],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db)?;
            if count >= max {
                return Err(StoreError::DeviceCapReached { max });
            }
            let id = highest + 1;
            conn.execute(
                "INSERT INTO devices (account, device) VALUES (?1, ?2)",
                params![account, id],
            )
            .map_err(db)?;
            Ok(id)
        })
    }

    fn remove_device<'a>(&'a self, account: &'a str, device: DeviceId) -> StoreFuture<'a, bool> {
        let account = account.to_owned();
        self.write(move |conn, state| {
            let n = conn
                .execute(
                    "DELETE FROM devices WHERE account = ?1 AND device = ?2",
                    params![account, device],
                )
                .map_err(db)?;
            for table in ["device_keys", "one_time_keys", "queued"] {
                conn.execute(
                    &format!("DELETE FROM {table} WHERE account = ?1 AND device = ?2"),
                    params![account, device],
                )
                .map_err(db)?;
            }
            state.depth.remove(&(account, device));
            Ok(n > 0)
        })
    }

    fn publish_keys<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
        upload: KeyUpload,
    ) -> StoreFuture<'a, PrekeyCount> {
        let account = account.to_owned();
        self.write(move |conn, _| {
            if !device_exists(conn, &account, device)? {
                return Err(StoreError::UnknownDevice { account, device });
            }
            conn.execute(
                "INSERT OR IGNORE INTO device_keys (account, device) VALUES (?1, ?2)",
                params![account, device],
            )
            .map_err(db)?;
            if let Some(ik) = &upload.identity_key {
                let old: Option<Vec<u8>> = conn
                    .query_row(
                        "SELECT identity_key FROM device_keys WHERE account = ?1 AND device = ?2",
                        params![account, device],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                if old.as_ref().is_some_and(|o| o != ik) {
                    conn.execute(
                        "DELETE FROM one_time_keys WHERE account = ?1 AND device = ?2",
                        params![account, device],
                    )
                    .map_err(db)?;
                }
                conn.execute(
                    "UPDATE device_keys SET identity_key = ?3 WHERE account = ?1 AND device = ?2",
                    params![account, device, ik],
                )
                .map_err(db)?;
            }
            if let Some(id) = upload.registration_id {
                conn.execute(
                    "UPDATE device_keys SET registration_id = ?3 WHERE account = ?1 AND device = ?2",
                    params![account, device, id],
                )
                .map_err(db)?;
            }
            if let Some(k) = &upload.signed_prekey {
                conn.execute(
                    "UPDATE device_keys SET spk_id = ?3, spk = ?4, spk_sig = ?5 WHERE account = ?1 AND device = ?2",
                    params![account, device, k.id, k.public, k.signature],
                )
                .map_err(db)?;
            }
            if let Some(k) = &upload.last_resort_kyber {
                conn.execute(
                    "UPDATE device_keys SET kyber_id = ?3, kyber = ?4, kyber_sig = ?5 WHERE account = ?1 AND device = ?2",
                    params![account, device, k.id, k.public, k.signature],
                )
                .map_err(db)?;
            }
            let mut insert = conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO one_time_keys (account, device, kind, key_id, public, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(db)?;
            for k in &upload.one_time_ec {
                insert
                    .execute(params![account, device, EC, k.id, k.public, Vec::<u8>::new()])
                    .map_err(db)?;
            }
            for k in &upload.one_time_kyber {
                insert
                    .execute(params![account, device, KYBER, k.id, k.public, k.signature])
                    .map_err(db)?;
            }
            count_keys(conn, &account, device)
        })
    }

    fn fetch_bundle<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
    ) -> StoreFuture<'a, Option<Bundle>> {
        let account = account.to_owned();
        self.write(move |conn, _| {
            type Row = (
                Option<Vec<u8>>,
                Option<u32>,
                Option<Vec<u8>>,
                Option<Vec<u8>>,
                Option<u32>,
                Option<Vec<u8>>,
                Option<Vec<u8>>,
                Option<u32>,
            );
            let row: Option<Row> = conn
                .query_row(
                    "SELECT identity_key, spk_id, spk, spk_sig, kyber_id, kyber, kyber_sig, registration_id FROM device_keys WHERE account = ?1 AND device = ?2",
                    params![account, device],
                    |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
                    },
                )
                .optional()
                .map_err(db)?;
            let Some((Some(identity_key), spk_id, spk, spk_sig, k_id, k, k_sig, reg)) = row else {
                return Ok(None);
            };
            let Some(signed_prekey) = signed(spk_id, spk, spk_sig) else {
                return Ok(None);
            };
            let take = |kind: i64| -> Result<Option<SignedKeyRow>, StoreError> {
                let row: Option<SignedKeyRow> = conn
                    .query_row(
                        "SELECT key_id, public, signature FROM one_time_keys WHERE account = ?1 AND device = ?2 AND kind = ?3 ORDER BY key_id LIMIT 1",
                        params![account, device, kind],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(db)?;
                if let Some((id, _, _)) = &row {
                    conn.execute(
                        "DELETE FROM one_time_keys WHERE account = ?1 AND device = ?2 AND kind = ?3 AND key_id = ?4",
                        params![account, device, kind, id],
                    )
                    .map_err(db)?;
                }
                Ok(row)
            };
            let one_time_ec = take(EC)?.map(|(id, public, _)| PreKey { id, public });
            let (kyber, kyber_is_last_resort) = match take(KYBER)? {
                Some((id, public, signature)) => (
                    super::SignedKey {
                        id,
                        public,
                        signature,
                    },
                    false,
                ),
                None => match signed(k_id, k, k_sig) {
                    Some(k) => (k, true),
                    None => return Ok(None),
                },
            };
            Ok(Some(Bundle {
                device,
                registration_id: reg.unwrap_or(0),
                identity_key,
                signed_prekey,
                one_time_ec,
                kyber,
                kyber_is_last_resort,
            }))
        })
    }

    fn identity_key<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        let account = account.to_owned();
        self.read(move |conn| {
            conn.query_row(
                "SELECT identity_key FROM device_keys WHERE account = ?1 AND device = ?2",
                params![account, device],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(db)
        })
    }

    fn prekey_count<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
    ) -> StoreFuture<'a, PrekeyCount> {
        let account = account.to_owned();
        self.read(move |conn| count_keys(conn, &account, device))
    }

    fn set_device_list<'a>(&'a self, account: &'a str, signed: Vec<u8>) -> StoreFuture<'a, ()> {
        let account = account.to_owned();
        self.write(move |conn, _| {
            conn.execute(
                "INSERT OR REPLACE INTO device_lists (account, signed) VALUES (?1, ?2)",
                params![account, signed],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn device_list<'a>(&'a self, account: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        let account = account.to_owned();
        self.read(move |conn| {
            conn.query_row(
                "SELECT signed FROM device_lists WHERE account = ?1",
                [account],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)
        })
    }

    fn enqueue(
        &self,
        copies: Vec<NewMessage>,
        limits: QueueLimits,
    ) -> StoreFuture<'static, Enqueued> {
        self.submit_enqueue(move |conn, state, id| enqueue_job(conn, state, copies, limits, id))
            .1
    }

    fn enqueue_assigned(
        &self,
        copies: Vec<NewMessage>,
        limits: QueueLimits,
    ) -> (Option<u64>, StoreFuture<'static, Enqueued>) {
        self.submit_enqueue(move |conn, state, id| enqueue_job(conn, state, copies, limits, id))
    }

    fn pending_ordered<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
        limit: u32,
        now_ms: u64,
    ) -> StoreFuture<'a, Vec<QueuedMessage>> {
        let account = account.to_owned();
        self.write(move |conn, _| pending_rows(conn, &account, device, 0, limit, now_ms))
    }

    fn pending<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
        after: u64,
        limit: u32,
        now_ms: u64,
    ) -> StoreFuture<'a, Vec<QueuedMessage>> {
        let account = account.to_owned();
        self.read(move |conn| pending_rows(conn, &account, device, after, limit, now_ms))
    }

    fn delete_delivered<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
        stanza_ids: Vec<u64>,
    ) -> StoreFuture<'a, usize> {
        let account = account.to_owned();
        self.write_unguarded(move |conn, state| {
            delete_rows(conn, state, account, device, stanza_ids)
        })
    }

    fn forget_delivered(&self, account: &str, device: DeviceId, stanza_ids: Vec<u64>) {
        let account = account.to_owned();
        self.write_detached(move |conn, state| {
            delete_rows(conn, state, account, device, stanza_ids)
        });
    }

    fn expire(&self, now_ms: u64) -> StoreFuture<'_, usize> {
        // The expired messages are a prefix of the table in arrival order (one ttl for all):
        // the scan stops at the first live row, and the delete is a range of rowids. After
        // `ttl_days` is lowered, messages queued later may expire before earlier ones; they
        // are never delivered (reads skip expired rows) and leave the disk with the prefix.
        self.write(move |conn, state| {
            let live: Option<i64> = conn
                .query_row(
                    "SELECT seq FROM queued WHERE expires > ?1 ORDER BY seq LIMIT 1",
                    [now_ms as i64],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            let n = conn
                .execute(
                    "DELETE FROM queued WHERE seq < ?2 AND expires <= ?1",
                    params![now_ms as i64, live.unwrap_or(i64::MAX)],
                )
                .map_err(db)?;
            if n > 0 {
                state.depth.clear();
            }
            Ok(n)
        })
    }

    fn queue_depth(&self) -> StoreFuture<'_, u64> {
        self.read(|conn| {
            conn.query_row("SELECT COUNT(*) FROM queued", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(db)
        })
    }
}

type SignedKeyRow = (u32, Vec<u8>, Vec<u8>);

/// Up to `limit` queued messages of a device after `after`, oldest first, unexpired.
fn pending_rows(
    conn: &rusqlite::Connection,
    account: &str,
    device: DeviceId,
    after: u64,
    limit: u32,
    now_ms: u64,
) -> Result<Vec<QueuedMessage>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT stanza_id, sender, msg_id, ts, payload FROM queued
             WHERE account = ?1 AND device = ?2 AND stanza_id > ?3 AND expires > ?4
             ORDER BY stanza_id LIMIT ?5",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(
            params![account, device, after as i64, now_ms as i64, limit],
            |r| {
                Ok(QueuedMessage {
                    stanza_id: r.get::<_, i64>(0)? as u64,
                    sender: r.get(1)?,
                    msg_id: r.get(2)?,
                    timestamp_ms: r.get::<_, i64>(3)? as u64,
                    payload: r.get(4)?,
                })
            },
        )
        .map_err(db)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db)
}

/// The queue insert of one message (every copy) under `stanza_id`, in the writer's
/// transaction.
fn enqueue_job(
    conn: &rusqlite::Connection,
    state: &mut WriterState,
    copies: Vec<NewMessage>,
    limits: QueueLimits,
    stanza_id: u64,
) -> Result<Enqueued, StoreError> {
    let expires = limits.now_ms.saturating_add(limits.ttl_ms);
    let mut overflowed = Vec::new();
    let mut added = Vec::new();
    {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO queued (account, device, stanza_id, sender, msg_id, ts, expires, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(db)?;
        for m in copies {
            if queue_len(conn, state, &m.account, m.device)? >= limits.max_per_device {
                overflowed.push((m.account, m.device));
                continue;
            }
            insert
                .execute(params![
                    m.account,
                    m.device,
                    stanza_id as i64,
                    m.sender,
                    m.msg_id,
                    limits.now_ms as i64,
                    expires as i64,
                    m.payload
                ])
                .map_err(db)?;
            added.push((m.account, m.device));
        }
    }
    for key in added {
        *state.depth.entry(key).or_insert(0) += 1;
    }
    Ok(Enqueued {
        stanza_id,
        timestamp_ms: limits.now_ms,
        overflowed,
    })
}

/// Deletes a device's delivered messages by stanza-id; returns how many existed.
fn delete_rows(
    conn: &Connection,
    state: &mut WriterState,
    account: String,
    device: DeviceId,
    stanza_ids: Vec<u64>,
) -> Result<usize, StoreError> {
    let mut stmt = conn
        .prepare_cached("DELETE FROM queued WHERE account = ?1 AND device = ?2 AND stanza_id = ?3")
        .map_err(db)?;
    let mut n = 0;
    for id in stanza_ids {
        n += stmt
            .execute(params![account, device, id as i64])
            .map_err(db)?;
    }
    if let Some(depth) = state.depth.get_mut(&(account, device)) {
        *depth = depth.saturating_sub(n as u32);
    }
    Ok(n)
}
