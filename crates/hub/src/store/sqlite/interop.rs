//! [`InteropStore`] for SQLite: providers, third-party users and devices, seen assertion ids.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, account_exists, db};
use crate::store::interop::{
    Enlistment, InteropStore, InteropStoreError, Provider, ProviderStatus, ThirdPartyDevice,
    ThirdPartyUser,
};
use crate::store::{DeviceId, StoreError, StoreFuture};

/// The interop tables, created at open.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS interop_providers (
    id TEXT PRIMARY KEY, domain TEXT NOT NULL, endpoint TEXT NOT NULL, public_key BLOB NOT NULL,
    media_origins TEXT NOT NULL, ca_pem TEXT NOT NULL, limits TEXT NOT NULL,
    status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS interop_users (
    account TEXT PRIMARY KEY, provider TEXT NOT NULL, visible_id TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS interop_users_by_visible ON interop_users (provider, visible_id);
CREATE TABLE IF NOT EXISTS interop_devices (
    account TEXT NOT NULL, device INTEGER NOT NULL, identity_key BLOB NOT NULL,
    registration_id INTEGER NOT NULL, credential_hash BLOB NOT NULL,
    PRIMARY KEY (account, device)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS interop_assertions (
    jti TEXT PRIMARY KEY, digest BLOB NOT NULL, expires INTEGER NOT NULL);
";

fn provider_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Provider> {
    let origins: String = r.get(4)?;
    let limits: String = r.get(6)?;
    let status: String = r.get(7)?;
    Ok(Provider {
        id: r.get(0)?,
        domain: r.get(1)?,
        endpoint: r.get(2)?,
        public_key: r.get(3)?,
        media_origins: serde_json::from_str(&origins).unwrap_or_default(),
        ca_pem: r.get(5)?,
        limits: serde_json::from_str::<BTreeMap<String, u64>>(&limits).unwrap_or_default(),
        status: ProviderStatus::parse(&status).unwrap_or(ProviderStatus::Suspended),
    })
}

const PROVIDER_COLUMNS: &str =
    "id, domain, endpoint, public_key, media_origins, ca_pem, limits, status";

/// Deletes every row of `account` (what `remove_account` does, for a provider's users).
fn delete_account(conn: &Connection, account: &str) -> Result<(), StoreError> {
    for table in [
        "devices",
        "device_keys",
        "one_time_keys",
        "queued",
        "device_lists",
        "interop_devices",
        "interop_users",
    ] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE account = ?1"),
            [account],
        )
        .map_err(db)?;
    }
    conn.execute("DELETE FROM accounts WHERE name = ?1", [account])
        .map_err(db)?;
    super::policy::forget_account(conn, account).map_err(db)?;
    Ok(())
}

impl InteropStore for SqliteStore {
    fn add_provider(&self, p: Provider) -> StoreFuture<'static, ()> {
        self.write(move |conn, _| {
            let exists = conn
                .query_row(
                    "SELECT 1 FROM interop_providers WHERE id = ?1",
                    [&p.id],
                    |_| Ok(()),
                )
                .optional()
                .map_err(db)?
                .is_some();
            if exists {
                return Err(InteropStoreError::ProviderExists(p.id).into());
            }
            let origins = serde_json::to_string(&p.media_origins).unwrap_or_else(|_| "[]".into());
            let limits = serde_json::to_string(&p.limits).unwrap_or_else(|_| "{}".into());
            conn.execute(
                &format!("INSERT INTO interop_providers ({PROVIDER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![p.id, p.domain, p.endpoint, p.public_key, origins, p.ca_pem, limits, p.status.as_str()],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn provider<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Provider>> {
        let id = id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {PROVIDER_COLUMNS} FROM interop_providers WHERE id = ?1"
            ))
            .and_then(|mut s| s.query_row([id], provider_row).optional())
            .map_err(db)
        })
    }

    fn list_providers(&self) -> StoreFuture<'_, Vec<Provider>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {PROVIDER_COLUMNS} FROM interop_providers ORDER BY id"
                ))
                .map_err(db)?;
            let rows = stmt.query_map([], provider_row).map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn set_provider_status<'a>(
        &'a self,
        id: &'a str,
        status: ProviderStatus,
    ) -> StoreFuture<'a, bool> {
        let id = id.to_owned();
        self.write(move |conn, _| {
            let n = conn
                .execute(
                    "UPDATE interop_providers SET status = ?2 WHERE id = ?1",
                    params![id, status.as_str()],
                )
                .map_err(db)?;
            Ok(n > 0)
        })
    }

    fn remove_provider<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        let id = id.to_owned();
        self.write(move |conn, state| {
            let accounts: Vec<String> = {
                let mut stmt = conn
                    .prepare("SELECT account FROM interop_users WHERE provider = ?1")
                    .map_err(db)?;
                let rows = stmt.query_map([&id], |r| r.get(0)).map_err(db)?;
                rows.collect::<Result<_, _>>().map_err(db)?
            };
            for account in &accounts {
                delete_account(conn, account)?;
            }
            state.depth.retain(|(a, _), _| !accounts.contains(a));
            super::policy::forget_provider(conn, &id).map_err(db)?;
            let n = conn
                .execute("DELETE FROM interop_providers WHERE id = ?1", [&id])
                .map_err(db)?;
            Ok(n > 0)
        })
    }

    fn provider_user_count<'a>(&'a self, id: &'a str) -> StoreFuture<'a, u64> {
        let id = id.to_owned();
        self.read(move |conn| {
            conn.query_row(
                "SELECT COUNT(*) FROM interop_users WHERE provider = ?1",
                [id],
                |r| r.get(0),
            )
            .map_err(db)
        })
    }

    fn enlist(&self, e: Enlistment, max_devices: u32) -> StoreFuture<'static, DeviceId> {
        self.write(move |conn, _| {
            let known = conn
                .query_row(
                    "SELECT 1 FROM interop_providers WHERE id = ?1",
                    [&e.provider],
                    |_| Ok(()),
                )
                .optional()
                .map_err(db)?
                .is_some();
            if !known {
                return Err(InteropStoreError::UnknownProvider(e.provider).into());
            }
            if !account_exists(conn, &e.account)? {
                // Verifiers no password matches: third-party devices log in with their
                // credential, never with a password.
                let mut random = [0u8; 48];
                getrandom::fill(&mut random).map_err(|err| {
                    StoreError::Database(format!("no randomness for an account: {err}"))
                })?;
                conn.execute(
                    "INSERT INTO accounts (name, salt, iterations, stored_key, server_key) VALUES (?1, ?2, 4096, ?3, ?4)",
                    params![e.account, &random[..16], &random[16..48], vec![0u8; 32]],
                )
                .map_err(db)?;
            }
            conn.execute(
                "INSERT OR IGNORE INTO interop_users (account, provider, visible_id) VALUES (?1, ?2, ?3)",
                params![e.account, e.provider, e.visible_id],
            )
            .map_err(db)?;
            let existing: Option<DeviceId> = conn
                .query_row(
                    "SELECT device FROM interop_devices WHERE account = ?1 AND identity_key = ?2",
                    params![e.account, e.identity_key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            let device = match existing {
                Some(d) => d,
                None => {
                    let (count, highest): (u32, u32) = conn
                        .query_row(
                            "SELECT COUNT(*), COALESCE(MAX(device), 0) FROM devices WHERE account = ?1",
                            [&e.account],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .map_err(db)?;
                    if count >= max_devices {
                        return Err(StoreError::DeviceCapReached { max: max_devices });
                    }
                    highest + 1
                }
            };
            conn.execute(
                "INSERT OR IGNORE INTO devices (account, device) VALUES (?1, ?2)",
                params![e.account, device],
            )
            .map_err(db)?;
            conn.execute(
                "INSERT OR REPLACE INTO interop_devices (account, device, identity_key, registration_id, credential_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![e.account, device, e.identity_key, e.registration_id, e.credential_hash],
            )
            .map_err(db)?;
            Ok(device)
        })
    }

    fn third_party_user<'a>(&'a self, account: &'a str) -> StoreFuture<'a, Option<ThirdPartyUser>> {
        let account = account.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT provider, visible_id FROM interop_users WHERE account = ?1")
                .and_then(|mut s| {
                    s.query_row([account], |r| {
                        Ok(ThirdPartyUser {
                            provider: r.get(0)?,
                            visible_id: r.get(1)?,
                        })
                    })
                    .optional()
                })
                .map_err(db)
        })
    }

    fn third_party_devices<'a>(
        &'a self,
        account: &'a str,
    ) -> StoreFuture<'a, Vec<(DeviceId, ThirdPartyDevice)>> {
        let account = account.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT d.device, u.provider, u.visible_id, d.identity_key, d.credential_hash
                     FROM interop_devices d JOIN interop_users u ON u.account = d.account
                     JOIN devices r ON r.account = d.account AND r.device = d.device
                     WHERE d.account = ?1 ORDER BY d.device",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([account], |r| {
                    Ok((
                        r.get(0)?,
                        ThirdPartyDevice {
                            user: ThirdPartyUser {
                                provider: r.get(1)?,
                                visible_id: r.get(2)?,
                            },
                            identity_key: r.get(3)?,
                            credential_hash: r.get(4)?,
                        },
                    ))
                })
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn remember_assertion(
        &self,
        jti: String,
        digest: Vec<u8>,
        expires: u64,
        now: u64,
    ) -> StoreFuture<'static, Option<Vec<u8>>> {
        self.write(move |conn, _| {
            conn.execute(
                "DELETE FROM interop_assertions WHERE expires < ?1",
                [now as i64],
            )
            .map_err(db)?;
            let seen: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT digest FROM interop_assertions WHERE jti = ?1",
                    [&jti],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if seen.is_none() {
                conn.execute(
                    "INSERT INTO interop_assertions (jti, digest, expires) VALUES (?1, ?2, ?3)",
                    params![jti, digest, expires as i64],
                )
                .map_err(db)?;
            }
            Ok(seen)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::store::interop::suite;
    use crate::store::sqlite::SqliteStore;

    fn fresh() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("db.sqlite3"), 64).expect("open");
        (dir, store)
    }

    #[tokio::test]
    async fn providers() {
        suite::providers(&fresh().1).await;
    }

    #[tokio::test]
    async fn enlistment_and_devices() {
        suite::enlistment_and_devices(&fresh().1).await;
    }

    #[tokio::test]
    async fn assertions() {
        suite::assertions(&fresh().1).await;
    }
}
