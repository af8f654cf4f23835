//! The local SQLite database: this device's identity and prekeys, Signal sessions, trusted
//! identities, a sender-key slot, the message log with delivery status, the de-duplication
//! set and the outbox of sent plaintexts kept for resends. Everything a restart needs.
//!
//! Secrets (identity key, prekeys, sessions, outbox plaintexts) live only in this file; they
//! are never logged. Protect the file as you would the device.

mod log;
mod signal;

pub use log::{Direction, LoggedMessage, Status};
pub use signal::SignalStore;

use std::path::Path;

use portico_signal::IdentityKeyPair;
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS prekeys (id INTEGER PRIMARY KEY, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS signed_prekeys (id INTEGER PRIMARY KEY, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS kyber_prekeys (
    id INTEGER PRIMARY KEY, record BLOB NOT NULL, last_resort INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    jid TEXT NOT NULL, device INTEGER NOT NULL, record BLOB NOT NULL,
    PRIMARY KEY (jid, device));
CREATE TABLE IF NOT EXISTS identities (
    jid TEXT NOT NULL, device INTEGER NOT NULL, identity BLOB NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (jid, device));
CREATE TABLE IF NOT EXISTS sender_keys (
    jid TEXT NOT NULL, device INTEGER NOT NULL, distribution TEXT NOT NULL,
    record BLOB NOT NULL, PRIMARY KEY (jid, device, distribution));
CREATE TABLE IF NOT EXISTS messages (
    conversation TEXT NOT NULL, id TEXT NOT NULL, direction TEXT NOT NULL,
    sender TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,
    sent_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (conversation, id, direction));
CREATE INDEX IF NOT EXISTS messages_by_id ON messages (id);
CREATE TABLE IF NOT EXISTS seen (
    sender TEXT NOT NULL, device INTEGER NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (sender, device, id));
CREATE TABLE IF NOT EXISTS third_party_peers (
    jid TEXT PRIMARY KEY, provider TEXT NOT NULL, visible_id TEXT NOT NULL,
    updated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY, to_jid TEXT NOT NULL, plaintext BLOB NOT NULL,
    acked INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);
";

/// The client's database.
pub struct Store {
    pub(crate) db: Connection,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let db = Connection::open(path)?;
        // Keys and sessions are in this file: readable by this user only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(SCHEMA)?;
        Ok(Store { db })
    }

    /// A value from the `meta` table.
    pub(crate) fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Sets a value in the `meta` table.
    pub(crate) fn set_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// A `u32` from `meta`.
    pub(crate) fn meta_u32(&self, key: &str) -> Result<Option<u32>> {
        match self.meta(key)? {
            None => Ok(None),
            Some(v) => <[u8; 4]>::try_from(v.as_slice())
                .map(|b| Some(u32::from_be_bytes(b)))
                .map_err(|_| ClientError::CorruptDatabase(format!("meta {key} is not a u32"))),
        }
    }

    /// Sets a `u32` in `meta`.
    pub(crate) fn set_meta_u32(&self, key: &str, v: u32) -> Result<()> {
        self.set_meta(key, &v.to_be_bytes())
    }

    /// A text value from `meta`.
    pub(crate) fn meta_text(&self, key: &str) -> Result<Option<String>> {
        self.meta(key)?
            .map(|v| {
                String::from_utf8(v)
                    .map_err(|_| ClientError::CorruptDatabase(format!("meta {key} is not text")))
            })
            .transpose()
    }

    /// This device's identity key pair, if generated.
    pub fn identity(&self) -> Result<Option<IdentityKeyPair>> {
        match self.meta("identity")? {
            None => Ok(None),
            Some(bytes) => {
                let bytes = Zeroizing::new(bytes);
                IdentityKeyPair::deserialize(&bytes)
                    .map(Some)
                    .map_err(|e| ClientError::CorruptDatabase(format!("identity key: {e}")))
            }
        }
    }

    /// Stores this device's identity and registration id (first start only).
    pub(crate) fn set_identity(&self, id: &IdentityKeyPair, registration_id: u32) -> Result<()> {
        self.set_meta("identity", &id.serialize())?;
        self.set_meta_u32("registration_id", registration_id)
    }

    /// The device id the hub assigned, once registered.
    pub fn device_id(&self) -> Result<Option<u32>> {
        self.meta_u32("device_id")
    }

    /// The Signal signal store view over this database.
    pub fn signal(&self) -> SignalStore<'_> {
        SignalStore::new(&self.db)
    }

    /// Devices of `jid` this device has a session with.
    pub fn session_devices(&self, jid: &str) -> Result<Vec<u32>> {
        let mut st = self
            .db
            .prepare_cached("SELECT device FROM sessions WHERE jid = ?1 ORDER BY device")?;
        let rows = st.query_map([jid], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Deletes the session with one device (used for stale devices, and by tests that break
    /// a session on purpose).
    pub fn delete_session(&self, jid: &str, device: u32) -> Result<()> {
        self.db.execute(
            "DELETE FROM sessions WHERE jid = ?1 AND device = ?2",
            params![jid, device],
        )?;
        Ok(())
    }

    /// Number of one-time EC and Kyber prekeys held locally.
    pub fn prekey_counts(&self) -> Result<(u32, u32)> {
        let ec = self
            .db
            .query_row("SELECT COUNT(*) FROM prekeys", [], |r| r.get(0))?;
        let kyber = self.db.query_row(
            "SELECT COUNT(*) FROM kyber_prekeys WHERE last_resort = 0",
            [],
            |r| r.get(0),
        )?;
        Ok((ec, kyber))
    }

    /// Marks the identity of `jid`'s device as verified by the user (key changes are then
    /// refused until the user verifies again).
    pub fn set_verified(&self, jid: &str, device: u32, verified: bool) -> Result<()> {
        self.db.execute(
            "UPDATE identities SET verified = ?3 WHERE jid = ?1 AND device = ?2",
            params![jid, device, verified],
        )?;
        Ok(())
    }
}
