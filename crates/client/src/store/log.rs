//! The message log (what the user sees, with delivery status), the de-duplication set and
//! the outbox of sent plaintexts kept so a message can be re-encrypted and resent when a
//! recipient's session broke.

use rusqlite::{OptionalExtension, params};
use zeroize::Zeroizing;

use super::{Store, now_ms};
use crate::error::{ClientError, Result};

/// Which way a logged message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Sent by this account (from this or another of its devices).
    Outgoing,
    /// Received from the peer.
    Incoming,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Outgoing => "out",
            Direction::Incoming => "in",
        }
    }
}

/// Where a message stands. Outgoing: sending → sent (hub acked) → delivered → read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Could not be sent (the hub refused it, or its device set never settled).
    Failed,
    /// Written to the hub, not yet acknowledged.
    Sending,
    /// The hub queued it durably for every device (one tick).
    SentToHub,
    /// A recipient device has it (two ticks).
    Delivered,
    /// The recipient read it.
    Read,
    /// Received and stored (incoming messages).
    Received,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Failed => "failed",
            Status::Sending => "sending",
            Status::SentToHub => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
            Status::Received => "received",
        }
    }

    fn parse(s: &str) -> Result<Status> {
        Ok(match s {
            "failed" => Status::Failed,
            "sending" => Status::Sending,
            "sent" => Status::SentToHub,
            "delivered" => Status::Delivered,
            "read" => Status::Read,
            "received" => Status::Received,
            other => return Err(ClientError::CorruptDatabase(format!("status {other:?}"))),
        })
    }
}

/// One row of the message log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedMessage {
    /// The peer's bare JID.
    pub conversation: String,
    /// The message id.
    pub id: String,
    /// Which way it went.
    pub direction: Direction,
    /// The author's bare JID.
    pub sender: String,
    /// The text.
    pub body: String,
    /// Delivery status.
    pub status: Status,
    /// When it was sent (author's clock), Unix ms.
    pub sent_at_ms: u64,
}

impl Store {
    /// Logs a message; a second insert of the same (conversation, id, direction) is ignored.
    pub(crate) fn log_message(&self, m: &LoggedMessage) -> Result<()> {
        self.db.execute(
            "INSERT OR IGNORE INTO messages
             (conversation, id, direction, sender, body, status, sent_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                m.conversation,
                m.id,
                m.direction.as_str(),
                m.sender,
                m.body,
                m.status.as_str(),
                m.sent_at_ms as i64,
                now_ms() as i64
            ],
        )?;
        Ok(())
    }

    /// Raises the status of an outgoing message (never lowers it). Returns whether it rose.
    pub(crate) fn raise_status(&self, id: &str, status: Status) -> Result<bool> {
        let Some(current) = self.outgoing_status(id)? else {
            return Ok(false);
        };
        if current >= status {
            return Ok(false);
        }
        self.db.execute(
            "UPDATE messages SET status = ?2, updated_at = ?3 WHERE id = ?1 AND direction = 'out'",
            params![id, status.as_str(), now_ms() as i64],
        )?;
        Ok(true)
    }

    /// The status of outgoing message `id`, or `None` if `id` is not one (a receipt or a
    /// resend request, say).
    pub(crate) fn outgoing_status(&self, id: &str) -> Result<Option<Status>> {
        let current: Option<String> = self
            .db
            .query_row(
                "SELECT status FROM messages WHERE id = ?1 AND direction = 'out'",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        current.map(|c| Status::parse(&c)).transpose()
    }

    /// Marks an outgoing message that is still sending as failed.
    pub(crate) fn set_failed(&self, id: &str) -> Result<()> {
        self.db.execute(
            "UPDATE messages SET status = 'failed', updated_at = ?2
             WHERE id = ?1 AND direction = 'out' AND status = 'sending'",
            params![id, now_ms() as i64],
        )?;
        Ok(())
    }

    /// Remembers who a third-party peer is, from the hub's stamp on their latest message.
    pub(crate) fn remember_third_party(
        &self,
        jid: &str,
        origin: &crate::thirdparty::ThirdPartyOrigin,
    ) -> Result<()> {
        self.db
            .prepare_cached(
                "INSERT INTO third_party_peers (jid, provider, visible_id, updated)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (jid) DO UPDATE SET provider = ?2, visible_id = ?3, updated = ?4",
            )?
            .execute(params![
                jid,
                origin.provider,
                origin.visible_id,
                super::now_ms() as i64
            ])?;
        Ok(())
    }

    /// Who the third-party peer `jid` is, as the hub last stamped their messages.
    pub fn third_party(&self, jid: &str) -> Result<Option<crate::thirdparty::ThirdPartyOrigin>> {
        Ok(self
            .db
            .prepare_cached("SELECT provider, visible_id FROM third_party_peers WHERE jid = ?1")?
            .query_row([jid], |r| {
                Ok(crate::thirdparty::ThirdPartyOrigin {
                    provider: r.get(0)?,
                    visible_id: r.get(1)?,
                })
            })
            .optional()?)
    }

    /// The conversation with `peer`, oldest first.
    pub fn conversation(&self, peer: &str) -> Result<Vec<LoggedMessage>> {
        let mut st = self.db.prepare_cached(
            "SELECT conversation, id, direction, sender, body, status, sent_at FROM messages
             WHERE conversation = ?1 ORDER BY sent_at, rowid",
        )?;
        let rows = st.query_map([peer], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (conversation, id, dir, sender, body, status, sent) = row?;
            out.push(LoggedMessage {
                conversation,
                id,
                direction: if dir == "out" {
                    Direction::Outgoing
                } else {
                    Direction::Incoming
                },
                sender,
                body,
                status: Status::parse(&status)?,
                sent_at_ms: sent as u64,
            });
        }
        Ok(out)
    }

    /// Records (sender, device, id) as seen; false if it was already.
    pub(crate) fn mark_seen(&self, sender: &str, device: u32, id: &str) -> Result<bool> {
        let n = self.db.execute(
            "INSERT OR IGNORE INTO seen (sender, device, id, at) VALUES (?1, ?2, ?3, ?4)",
            params![sender, device, id, now_ms() as i64],
        )?;
        Ok(n == 1)
    }

    /// Whether (sender, device, id) was seen.
    pub(crate) fn was_seen(&self, sender: &str, device: u32, id: &str) -> Result<bool> {
        Ok(self
            .db
            .query_row(
                "SELECT 1 FROM seen WHERE sender = ?1 AND device = ?2 AND id = ?3",
                params![sender, device, id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Keeps a sent plaintext for resends.
    pub(crate) fn outbox_put(&self, id: &str, to: &str, plaintext: &[u8]) -> Result<()> {
        self.db.execute(
            "INSERT OR REPLACE INTO outbox (id, to_jid, plaintext, acked, created)
             VALUES (?1, ?2, ?3, 0, ?4)",
            params![id, to, plaintext, now_ms() as i64],
        )?;
        Ok(())
    }

    /// The recipient and plaintext of a kept message.
    pub(crate) fn outbox_get(&self, id: &str) -> Result<Option<(String, Zeroizing<Vec<u8>>)>> {
        Ok(self
            .db
            .query_row(
                "SELECT to_jid, plaintext FROM outbox WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        Zeroizing::new(r.get::<_, Vec<u8>>(1)?),
                    ))
                },
            )
            .optional()?)
    }

    /// Marks a kept message as acknowledged by the hub; returns whether this was its first
    /// acknowledgement.
    pub(crate) fn outbox_acked(&self, id: &str) -> Result<bool> {
        let changed = self.db.execute(
            "UPDATE outbox SET acked = 1 WHERE id = ?1 AND acked = 0",
            [id],
        )?;
        Ok(changed > 0)
    }

    /// Messages written to the hub but never acknowledged (to resend after a reconnect).
    pub(crate) fn outbox_unacked(&self) -> Result<Vec<String>> {
        let mut st = self
            .db
            .prepare_cached("SELECT id FROM outbox WHERE acked = 0 ORDER BY created")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Forgets acknowledged plaintexts older than `keep_ms`, and seen ids older than
    /// `seen_ms`.
    pub(crate) fn prune(&self, keep_ms: u64, seen_ms: u64) -> Result<()> {
        let now = now_ms();
        self.db.execute(
            "DELETE FROM outbox WHERE acked = 1 AND created < ?1",
            [now.saturating_sub(keep_ms) as i64],
        )?;
        self.db.execute(
            "DELETE FROM seen WHERE at < ?1",
            [now.saturating_sub(seen_ms) as i64],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&dir.path().join("c.db")).expect("open");
        (dir, s)
    }

    #[test]
    fn outgoing_status_only_rises() {
        let (_d, s) = store();
        s.log_message(&LoggedMessage {
            conversation: "bob@d".into(),
            id: "m1".into(),
            direction: Direction::Outgoing,
            sender: "alice@d".into(),
            body: "hi".into(),
            status: Status::Sending,
            sent_at_ms: 1,
        })
        .expect("log");
        assert!(s.raise_status("m1", Status::SentToHub).expect("raise"));
        assert!(s.raise_status("m1", Status::Read).expect("raise"));
        assert!(!s.raise_status("m1", Status::Delivered).expect("raise"));
        assert!(!s.raise_status("unknown", Status::Read).expect("raise"));
        let log = s.conversation("bob@d").expect("log");
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].status, Status::Read);
    }

    #[test]
    fn seen_ids_are_seen_once_and_outbox_rows_leave_when_acked_and_old() {
        let (_d, s) = store();
        assert!(s.mark_seen("bob@d", 2, "m1").expect("seen"));
        assert!(!s.mark_seen("bob@d", 2, "m1").expect("seen"));
        assert!(s.was_seen("bob@d", 2, "m1").expect("seen"));
        assert!(!s.was_seen("bob@d", 3, "m1").expect("seen"));

        s.outbox_put("m9", "bob@d", b"sealed").expect("put");
        assert_eq!(s.outbox_unacked().expect("unacked"), ["m9"]);
        assert!(s.outbox_acked("m9").expect("ack"), "the first ack");
        assert!(!s.outbox_acked("m9").expect("ack"), "a repeated ack");
        assert!(s.outbox_unacked().expect("unacked").is_empty());
        assert!(
            s.outbox_get("m9").expect("get").is_some(),
            "kept for resends"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
        s.prune(0, 0).expect("prune");
        assert!(s.outbox_get("m9").expect("get").is_none());
        assert!(!s.was_seen("bob@d", 2, "m1").expect("seen"));
    }
}
