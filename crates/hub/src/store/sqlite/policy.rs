//! [`PolicyStore`] for SQLite: interop settings, blocklists, reports, contact records.

use rusqlite::{OptionalExtension, params};

use portico_stanza::stanza::policy::{InteropSettings, ProviderRule, ReportReason, ThirdPartyMode};

use super::{SqliteStore, db};
use crate::store::StoreFuture;
use crate::store::policy::{ContactHistory, PolicyStore, StoredEvidence, StoredReport};

/// The policy tables, created at open.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS policy_settings (
    account TEXT PRIMARY KEY, mode TEXT NOT NULL, discoverable INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS policy_provider_rules (
    account TEXT NOT NULL, provider TEXT NOT NULL, allow INTEGER NOT NULL,
    PRIMARY KEY (account, provider)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policy_blocks (
    seq INTEGER PRIMARY KEY, account TEXT NOT NULL, jid TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS policy_blocks_by_account ON policy_blocks (account, jid);
CREATE TABLE IF NOT EXISTS policy_reports (
    id INTEGER PRIMARY KEY, reporter TEXT NOT NULL, reported TEXT NOT NULL,
    reason TEXT NOT NULL, at INTEGER NOT NULL, evidence TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS policy_reports_by_reporter ON policy_reports (reporter, at);
CREATE TABLE IF NOT EXISTS policy_contacts (
    sender TEXT NOT NULL, recipient TEXT NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (sender, recipient)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS policy_contacts_by_time ON policy_contacts (sender, at);
";

/// Forgets what policy keeps about a removed `account`: its settings and rules, its
/// blocklist and its contact records either way. Reports stay (they are the operator's record).
pub(super) fn forget_account(conn: &rusqlite::Connection, account: &str) -> rusqlite::Result<()> {
    for sql in [
        "DELETE FROM policy_settings WHERE account = ?1",
        "DELETE FROM policy_provider_rules WHERE account = ?1",
        "DELETE FROM policy_blocks WHERE account = ?1",
        "DELETE FROM policy_contacts WHERE sender = ?1 OR recipient = ?1",
    ] {
        conn.execute(sql, [account])?;
    }
    Ok(())
}

/// Forgets every user's allow or deny rule for a removed `provider`, so that a provider
/// registered later under the same id starts without anyone's consent.
pub(super) fn forget_provider(conn: &rusqlite::Connection, provider: &str) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM policy_provider_rules WHERE provider = ?1",
        [provider],
    )?;
    Ok(())
}

fn report_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredReport> {
    let reason: String = r.get(3)?;
    let evidence: String = r.get(5)?;
    Ok(StoredReport {
        id: r.get::<_, i64>(0)? as u64,
        reporter: r.get(1)?,
        reported: r.get(2)?,
        reason: ReportReason::from_name(&reason).unwrap_or(ReportReason::Other),
        at_ms: r.get::<_, i64>(4)? as u64,
        evidence: serde_json::from_str::<Vec<StoredEvidence>>(&evidence).unwrap_or_default(),
    })
}

impl PolicyStore for SqliteStore {
    fn interop_settings<'a>(
        &'a self,
        account: &'a str,
    ) -> StoreFuture<'a, Option<InteropSettings>> {
        let account = account.to_owned();
        self.read(move |conn| {
            let head: Option<(String, bool)> = conn
                .prepare_cached("SELECT mode, discoverable FROM policy_settings WHERE account = ?1")
                .and_then(|mut s| s.query_row([&account], |r| Ok((r.get(0)?, r.get(1)?))).optional())
                .map_err(db)?;
            let Some((mode, discoverable)) = head else {
                return Ok(None);
            };
            let mut stmt = conn
                .prepare_cached(
                    "SELECT provider, allow FROM policy_provider_rules WHERE account = ?1 ORDER BY provider",
                )
                .map_err(db)?;
            let providers = stmt
                .query_map([&account], |r| {
                    Ok(ProviderRule {
                        provider: r.get::<_, String>(0)?.into(),
                        allow: r.get(1)?,
                    })
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            Ok(Some(InteropSettings {
                mode: ThirdPartyMode::from_name(&mode).unwrap_or(ThirdPartyMode::Off),
                providers,
                discoverable,
            }))
        })
    }

    fn set_interop_settings(
        &self,
        account: String,
        settings: InteropSettings,
    ) -> StoreFuture<'static, ()> {
        self.write(move |conn, _| {
            conn.execute(
                "INSERT OR REPLACE INTO policy_settings (account, mode, discoverable) VALUES (?1, ?2, ?3)",
                params![account, settings.mode.as_str(), settings.discoverable],
            )
            .map_err(db)?;
            conn.execute("DELETE FROM policy_provider_rules WHERE account = ?1", [&account])
                .map_err(db)?;
            for r in &settings.providers {
                conn.execute(
                    "INSERT OR REPLACE INTO policy_provider_rules (account, provider, allow) VALUES (?1, ?2, ?3)",
                    params![account, r.provider.as_str(), r.allow],
                )
                .map_err(db)?;
            }
            Ok(())
        })
    }

    fn discover<'a>(
        &'a self,
        provider: &'a str,
        visible_id: &'a str,
    ) -> StoreFuture<'a, Option<String>> {
        let (provider, visible_id) = (provider.to_owned(), visible_id.to_owned());
        self.read(move |conn| {
            // The third-party users' table belongs to the interop store; without it (an
            // older schema), nobody is enlisted, so nobody can be found.
            let enlisted: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'interop_users')",
                    [],
                    |r| r.get(0),
                )
                .map_err(db)?;
            if !enlisted {
                return Ok(None);
            }
            conn.prepare_cached(
                "SELECT u.account FROM interop_users u JOIN policy_settings s ON s.account = u.account
                 WHERE u.provider = ?1 AND u.visible_id = ?2 AND s.discoverable = 1",
            )
            .and_then(|mut s| s.query_row(params![provider, visible_id], |r| r.get(0)).optional())
            .map_err(db)
        })
    }

    fn blocklist<'a>(&'a self, account: &'a str) -> StoreFuture<'a, Vec<String>> {
        let account = account.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT jid FROM policy_blocks WHERE account = ?1 ORDER BY seq")
                .map_err(db)?;
            stmt.query_map([&account], |r| r.get(0))
                .map_err(db)?
                .collect::<Result<Vec<String>, _>>()
                .map_err(db)
        })
    }

    fn block(&self, account: String, jids: Vec<String>) -> StoreFuture<'static, ()> {
        self.write(move |conn, _| {
            for jid in &jids {
                conn.execute(
                    "INSERT OR IGNORE INTO policy_blocks (account, jid) VALUES (?1, ?2)",
                    params![account, jid],
                )
                .map_err(db)?;
            }
            Ok(())
        })
    }

    fn unblock(&self, account: String, jids: Vec<String>) -> StoreFuture<'static, ()> {
        self.write(move |conn, _| {
            if jids.is_empty() {
                conn.execute("DELETE FROM policy_blocks WHERE account = ?1", [&account])
                    .map_err(db)?;
            }
            for jid in &jids {
                conn.execute(
                    "DELETE FROM policy_blocks WHERE account = ?1 AND jid = ?2",
                    params![account, jid],
                )
                .map_err(db)?;
            }
            Ok(())
        })
    }

    fn add_report(&self, report: StoredReport) -> StoreFuture<'static, u64> {
        self.write(move |conn, _| {
            let evidence = serde_json::to_string(&report.evidence)
                .map_err(|e| crate::store::StoreError::Database(e.to_string()))?;
            conn.execute(
                "INSERT INTO policy_reports (reporter, reported, reason, at, evidence) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    report.reporter,
                    report.reported,
                    report.reason.as_str(),
                    report.at_ms as i64,
                    evidence
                ],
            )
            .map_err(db)?;
            Ok(conn.last_insert_rowid() as u64)
        })
    }

    fn reports(&self, limit: u32) -> StoreFuture<'_, Vec<StoredReport>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, reporter, reported, reason, at, evidence FROM policy_reports ORDER BY id DESC LIMIT ?1",
                )
                .map_err(db)?;
            stmt.query_map([limit], report_row)
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)
        })
    }

    fn reports_since<'a>(&'a self, reporter: &'a str, since_ms: u64) -> StoreFuture<'a, u32> {
        let reporter = reporter.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT COUNT(*) FROM policy_reports WHERE reporter = ?1 AND at >= ?2",
            )
            .and_then(|mut s| s.query_row(params![reporter, since_ms as i64], |r| r.get(0)))
            .map_err(db)
        })
    }

    fn contact_history<'a>(
        &'a self,
        sender: &'a str,
        recipient: &'a str,
        since_ms: u64,
    ) -> StoreFuture<'a, ContactHistory> {
        let (sender, recipient) = (sender.to_owned(), recipient.to_owned());
        self.read(move |conn| {
            let known: bool = conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM policy_contacts WHERE (sender = ?1 AND recipient = ?2) OR (sender = ?2 AND recipient = ?1))",
                )
                .and_then(|mut s| s.query_row(params![sender, recipient], |r| r.get(0)))
                .map_err(db)?;
            let (recent, oldest): (u32, Option<i64>) = conn
                .prepare_cached(
                    "SELECT COUNT(*), MIN(at) FROM policy_contacts WHERE sender = ?1 AND at >= ?2",
                )
                .and_then(|mut s| {
                    s.query_row(params![sender, since_ms as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                })
                .map_err(db)?;
            Ok(ContactHistory {
                known,
                recent,
                oldest_ms: oldest.map(|o| o as u64),
            })
        })
    }

    fn record_contact(
        &self,
        sender: String,
        recipient: String,
        at_ms: u64,
    ) -> StoreFuture<'static, ()> {
        self.write(move |conn, _| {
            conn.execute(
                "INSERT OR IGNORE INTO policy_contacts (sender, recipient, at) VALUES (?1, ?2, ?3)",
                params![sender, recipient, at_ms as i64],
            )
            .map_err(db)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::SqliteStore;
    use crate::store::policy::suite;

    fn store(dir: &tempfile::TempDir) -> SqliteStore {
        SqliteStore::open(&dir.path().join("db.sqlite3"), 64).expect("open")
    }

    #[tokio::test]
    async fn policy_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = store(&dir);
        suite::settings(&s).await;
        suite::blocklists(&s).await;
        suite::reports(&s).await;
        suite::contacts(&s).await;
    }

    #[tokio::test]
    async fn policy_state_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let s = store(&dir);
            crate::store::policy::PolicyStore::block(&s, "alice".into(), vec!["x@d".into()])
                .await
                .expect("block");
            s.close();
        }
        let s = store(&dir);
        assert_eq!(
            crate::store::policy::PolicyStore::blocklist(&s, "alice")
                .await
                .expect("read"),
            vec!["x@d"]
        );
    }
}
