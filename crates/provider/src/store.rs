//! The provider's own database (SQLite, one file in the data dir): user accounts with
//! PBKDF2-hashed passwords, login sessions (only their SHA-256 is stored) and the push log.
//!
//! The running server and `portico provider user …` open the same file; WAL mode lets an
//! operator revoke a user while the server runs, and the server sees it on the next request.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use portico_interop::api::{PushRequest, Secret};
use portico_interop::keys::b64url_encode;
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "provider.db";
/// Longest user name, bytes.
pub const MAX_USER_NAME_LEN: usize = 64;
/// Longest password accepted, bytes.
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Default PBKDF2-HMAC-SHA256 iterations for new passwords.
pub const DEFAULT_PBKDF2_ITERATIONS: u32 = 60_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    salt BLOB NOT NULL,
    iterations INTEGER NOT NULL,
    hash BLOB NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash BLOB PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user);
CREATE TABLE IF NOT EXISTS pushes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    push_id TEXT NOT NULL UNIQUE,
    user TEXT NOT NULL,
    visible_id TEXT NOT NULL,
    jid TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    pending INTEGER NOT NULL,
    received INTEGER NOT NULL,
    forwarded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS pushes_user ON pushes(user, seq);
";

/// What went wrong with the provider's database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("provider database error: {0}; check that the data dir is writable and not full")]
    Sqlite(#[from] rusqlite::Error),
    /// A user with that name exists.
    #[error("user {0:?} already exists; pick another name")]
    UserExists(String),
    /// No user with that name.
    #[error("no user {0:?}; list users with `portico provider user list`")]
    UnknownUser(String),
    /// The name is not `[a-z0-9._-]{1,64}`.
    #[error("user name {0:?} is invalid: use 1 to 64 characters from a-z, 0-9, '.', '_' and '-'")]
    InvalidUserName(String),
    /// The password is empty or too long.
    #[error("the password must be 1 to 1024 bytes long")]
    InvalidPassword,
}

/// Result of checking a user name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordCheck {
    /// Name and password match an active user.
    Ok,
    /// No such user, or the password is wrong (not told apart, on purpose).
    Wrong,
    /// The user exists and the password matches, but the account is revoked.
    Revoked,
}

/// What a session token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// A live session of this user.
    Valid(String),
    /// No such token (never issued, or logged out).
    Unknown,
    /// The token is past its expiry.
    Expired,
    /// The token's user is revoked.
    Revoked,
}

/// A user as listed by the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    /// The user name.
    pub name: String,
    /// Whether the user is revoked.
    pub revoked: bool,
}

/// One push the hub sent, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRecord {
    /// The hub's push id.
    pub push_id: String,
    /// The user's visible id.
    pub visible_id: String,
    /// The internal JID.
    pub jid: String,
    /// The device to wake.
    pub device_id: u32,
    /// Messages waiting.
    pub pending: u32,
    /// When it arrived, unix seconds.
    pub received_at: u64,
    /// Whether it was forwarded to the webhook.
    pub forwarded: bool,
}

/// The provider's database.
#[derive(Debug)]
pub struct ProviderStore {
    conn: Mutex<Connection>,
    iterations: u32,
}

/// Checks a user name: `[a-z0-9._-]{1,64}`.
pub fn validate_user_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_USER_NAME_LEN
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidUserName(
            name.chars().take(MAX_USER_NAME_LEN + 8).collect(),
        ))
    }
}

fn hash_password(password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, out.as_mut());
    out
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl ProviderStore {
    /// Opens (or creates) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_iterations(data_dir, DEFAULT_PBKDF2_ITERATIONS)
    }

    /// Opens the database, hashing new passwords with `iterations` PBKDF2 rounds.
    pub fn open_with_iterations(data_dir: &Path, iterations: u32) -> Result<Self, StoreError> {
        let conn = Connection::open(data_dir.join(DB_FILE))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
            iterations: iterations.max(1),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent: keep going.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a user.
    pub fn add_user(&self, name: &str, password: &str, now: u64) -> Result<(), StoreError> {
        validate_user_name(name)?;
        if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
            return Err(StoreError::InvalidPassword);
        }
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let hash = hash_password(password.as_bytes(), &salt, self.iterations);
        let inserted = self.conn().execute(
            "INSERT OR IGNORE INTO users (name, salt, iterations, hash, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, &salt[..], self.iterations, &hash[..], now as i64],
        )?;
        if inserted == 0 {
            return Err(StoreError::UserExists(name.to_owned()));
        }
        Ok(())
    }

    /// Revokes a user (or lifts the revocation) and, when revoking, ends all their sessions.
    pub fn set_revoked(&self, name: &str, revoked: bool) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let changed = tx.execute(
            "UPDATE users SET revoked = ?2 WHERE name = ?1",
            params![name, revoked],
        )?;
        if changed == 0 {
            return Err(StoreError::UnknownUser(name.to_owned()));
        }
        if revoked {
            tx.execute("DELETE FROM sessions WHERE user = ?1", params![name])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether `name` is revoked; `None` when there is no such user.
    pub fn user_revoked(&self, name: &str) -> Result<Option<bool>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT revoked FROM users WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Lists users by name.
    pub fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name, revoked FROM users ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok(UserRow {
                name: r.get(0)?,
                revoked: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Checks a name and password.
    pub fn check_password(&self, name: &str, password: &str) -> Result<PasswordCheck, StoreError> {
        if validate_user_name(name).is_err() || password.len() > MAX_PASSWORD_LEN {
            return Ok(PasswordCheck::Wrong);
        }
        let row: Option<(Vec<u8>, u32, Vec<u8>, bool)> = self
            .conn()
            .query_row(
                "SELECT salt, iterations, hash, revoked FROM users WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((salt, iterations, stored, revoked)) = row else {
            // Spend the same time as for a real user, so timing does not reveal names.
            let _ = hash_password(password.as_bytes(), b"no-such-user-salt", self.iterations);
            return Ok(PasswordCheck::Wrong);
        };
        let hash = hash_password(password.as_bytes(), &salt, iterations);
        if !bool::from(hash[..].ct_eq(&stored)) {
            return Ok(PasswordCheck::Wrong);
        }
        Ok(if revoked {
            PasswordCheck::Revoked
        } else {
            PasswordCheck::Ok
        })
    }

    /// Starts a session for `name`, valid for `ttl` seconds; returns its bearer token.
    pub fn create_session(&self, name: &str, now: u64, ttl: u64) -> Result<Secret, StoreError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        let token = b64url_encode(bytes.as_ref());
        self.conn().execute(
            "INSERT INTO sessions (token_hash, user, created, expires) VALUES (?1, ?2, ?3, ?4)",
            params![
                token_hash(&token),
                name,
                now as i64,
                now.saturating_add(ttl) as i64
            ],
        )?;
        Ok(Secret::new(token))
    }

    /// What a session token stands for at `now`.
    pub fn session(&self, token: &str, now: u64) -> Result<SessionState, StoreError> {
        let row: Option<(String, i64, bool)> = self
            .conn()
            .query_row(
                "SELECT s.user, s.expires, u.revoked FROM sessions s JOIN users u ON u.name = s.user
                 WHERE s.token_hash = ?1",
                params![token_hash(token)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(match row {
            None => SessionState::Unknown,
            Some((_, _, true)) => SessionState::Revoked,
            Some((_, expires, _)) if (now as i64) > expires => SessionState::Expired,
            Some((user, _, _)) => SessionState::Valid(user),
        })
    }

    /// Ends one session; returns whether it existed.
    pub fn end_session(&self, token: &str) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            params![token_hash(token)],
        )?;
        Ok(n > 0)
    }

    /// Records a push for `user`; returns false when this push id was already recorded.
    pub fn record_push(
        &self,
        user: &str,
        push: &PushRequest,
        now: u64,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO pushes (push_id, user, visible_id, jid, device_id, pending, received)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                push.push_id,
                user,
                push.visible_id,
                push.jid,
                push.device_id,
                push.pending,
                now as i64
            ],
        )?;
        Ok(n > 0)
    }

    /// Marks a push as forwarded to the webhook.
    pub fn mark_forwarded(&self, push_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE pushes SET forwarded = 1 WHERE push_id = ?1",
            params![push_id],
        )?;
        Ok(())
    }

    /// The latest `limit` pushes, oldest first; only `user`'s when given.
    pub fn pushes(&self, user: Option<&str>, limit: u32) -> Result<Vec<PushRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT push_id, visible_id, jid, device_id, pending, received, forwarded FROM (
               SELECT * FROM pushes WHERE ?1 IS NULL OR user = ?1 ORDER BY seq DESC LIMIT ?2
             ) ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![user, limit], |r| {
            Ok(PushRecord {
                push_id: r.get(0)?,
                visible_id: r.get(1)?,
                jid: r.get(2)?,
                device_id: r.get(3)?,
                pending: r.get(4)?,
                received_at: r.get::<_, i64>(5)?.max(0) as u64,
                forwarded: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ProviderStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ProviderStore::open_with_iterations(dir.path(), 1000).expect("opens");
        (dir, store)
    }

    #[test]
    fn users_log_in_with_their_password_only() {
        let (_dir, s) = store();
        s.add_user("bob", "pw-bob", 1).expect("added");
        assert!(matches!(
            s.add_user("bob", "x", 1),
            Err(StoreError::UserExists(_))
        ));
        assert!(matches!(
            s.add_user("Bob!", "x", 1),
            Err(StoreError::InvalidUserName(_))
        ));
        assert_eq!(
            s.check_password("bob", "pw-bob").expect("db"),
            PasswordCheck::Ok
        );
        assert_eq!(
            s.check_password("bob", "pw-bo").expect("db"),
            PasswordCheck::Wrong
        );
        assert_eq!(
            s.check_password("eve", "pw-bob").expect("db"),
            PasswordCheck::Wrong
        );
    }

    #[test]
    fn sessions_expire_end_and_die_with_revocation() {
        let (_dir, s) = store();
        s.add_user("bob", "pw", 1).expect("added");
        let t = s.create_session("bob", 100, 50).expect("session");
        assert_eq!(
            s.session(t.expose(), 150).expect("db"),
            SessionState::Valid("bob".into())
        );
        assert_eq!(
            s.session(t.expose(), 151).expect("db"),
            SessionState::Expired
        );
        assert_eq!(s.session("nope", 100).expect("db"), SessionState::Unknown);
        assert!(s.end_session(t.expose()).expect("db"));
        assert_eq!(
            s.session(t.expose(), 100).expect("db"),
            SessionState::Unknown
        );

        let t = s.create_session("bob", 100, 50).expect("session");
        s.set_revoked("bob", true).expect("revoked");
        assert_eq!(
            s.session(t.expose(), 100).expect("db"),
            SessionState::Unknown
        );
        assert_eq!(
            s.check_password("bob", "pw").expect("db"),
            PasswordCheck::Revoked
        );
        assert!(matches!(
            s.set_revoked("eve", true),
            Err(StoreError::UnknownUser(_))
        ));
        s.set_revoked("bob", false).expect("restored");
        assert_eq!(
            s.check_password("bob", "pw").expect("db"),
            PasswordCheck::Ok
        );
        assert_eq!(
            s.list_users().expect("db"),
            vec![UserRow {
                name: "bob".into(),
                revoked: false
            }]
        );
    }

    #[test]
    fn pushes_are_recorded_once_per_push_id() {
        let (_dir, s) = store();
        let push = PushRequest {
            visible_id: "bob@birdy.example".into(),
            jid: "x@birdy.interop.hub".into(),
            device_id: 2,
            push_id: "p1".into(),
            pending: 3,
        };
        assert!(s.record_push("bob", &push, 10).expect("db"));
        assert!(
            !s.record_push("bob", &push, 11).expect("db"),
            "retry is a duplicate"
        );
        s.mark_forwarded("p1").expect("db");
        let log = s.pushes(Some("bob"), 10).expect("db");
        assert_eq!(log.len(), 1);
        assert!(log[0].forwarded);
        assert_eq!(log[0].pending, 3);
        assert!(s.pushes(Some("eve"), 10).expect("db").is_empty());
    }
}
