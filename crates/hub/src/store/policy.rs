//! Storage of policy state (DESIGN.md §8): each user's interop settings, XEP-0191
//! blocklists, spam reports, and the new-contact records of third-party senders.
//!
//! Users are named by account (`alice`, or the internal bare JID of a third-party user);
//! blocked items and contacts by JID text.

use portico_stanza::stanza::policy::{InteropSettings, ReportReason};

use super::StoreFuture;

/// One piece of evidence in a stored report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredEvidence {
    /// The message id.
    pub id: String,
    /// The hub stanza-id, if the reporter gave it.
    pub stanza_id: Option<u64>,
    /// Plaintext the reporter chose to reveal.
    pub plaintext: Option<String>,
}

/// A spam or abuse report as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// Store-assigned id (0 when filing).
    pub id: u64,
    /// The reporting account.
    pub reporter: String,
    /// The reported bare JID.
    pub reported: String,
    /// Why.
    pub reason: ReportReason,
    /// When, Unix ms.
    pub at_ms: u64,
    /// What the reporter chose to reveal.
    pub evidence: Vec<StoredEvidence>,
}

/// Facts about a sender's new contacts in a time window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContactHistory {
    /// The two have a contact record either way.
    pub known: bool,
    /// New contacts the sender made since the window start.
    pub recent: u32,
    /// The oldest of those, Unix ms.
    pub oldest_ms: Option<u64>,
}

/// Policy tables. A supertrait of [`super::Store`].
pub trait PolicyStore: Send + Sync {
    /// The account's interop settings, if it ever set any.
    fn interop_settings<'a>(&'a self, account: &'a str)
    -> StoreFuture<'a, Option<InteropSettings>>;
    /// Replaces the account's interop settings.
    fn set_interop_settings(
        &self,
        account: String,
        settings: InteropSettings,
    ) -> StoreFuture<'static, ()>;
    /// The account of the third-party user `visible_id` at `provider`, only if that user
    /// allows discovery.
    fn discover<'a>(
        &'a self,
        provider: &'a str,
        visible_id: &'a str,
    ) -> StoreFuture<'a, Option<String>>;

    /// The account's blocklist, in the order items were added.
    fn blocklist<'a>(&'a self, account: &'a str) -> StoreFuture<'a, Vec<String>>;
    /// Adds JIDs to the blocklist (already blocked ones are kept once).
    fn block(&self, account: String, jids: Vec<String>) -> StoreFuture<'static, ()>;
    /// Removes JIDs from the blocklist; all of them when `jids` is empty.
    fn unblock(&self, account: String, jids: Vec<String>) -> StoreFuture<'static, ()>;

    /// Stores a report; returns its id.
    fn add_report(&self, report: StoredReport) -> StoreFuture<'static, u64>;
    /// The most recent reports first, at most `limit`.
    fn reports(&self, limit: u32) -> StoreFuture<'_, Vec<StoredReport>>;
    /// Reports filed by `reporter` since `since_ms`.
    fn reports_since<'a>(&'a self, reporter: &'a str, since_ms: u64) -> StoreFuture<'a, u32>;

    /// Whether `sender` and `recipient` (bare JIDs) know each other, and `sender`'s new
    /// contacts since `since_ms`.
    fn contact_history<'a>(
        &'a self,
        sender: &'a str,
        recipient: &'a str,
        since_ms: u64,
    ) -> StoreFuture<'a, ContactHistory>;
    /// Records that `sender` wrote to `recipient` (bare JIDs) for the first time at `at_ms`.
    /// Records are kept: they make the pair known; only those in the window count as new.
    fn record_contact(
        &self,
        sender: String,
        recipient: String,
        at_ms: u64,
    ) -> StoreFuture<'static, ()>;
}

/// Policy cases of the shared backend suite: every backend runs them on a fresh store.
#[cfg(test)]
pub(crate) mod suite {
    use portico_stanza::stanza::policy::{
        InteropSettings, ProviderRule, ReportReason, ThirdPartyMode,
    };

    use super::{StoredEvidence, StoredReport};
    use crate::store::Store;

    /// Settings: absent until set, replaced whole, per account.
    pub async fn settings(store: &dyn Store) {
        assert_eq!(store.interop_settings("alice").await.expect("read"), None);
        let s = InteropSettings {
            mode: ThirdPartyMode::Listed,
            providers: vec![
                ProviderRule {
                    provider: "birdy".into(),
                    allow: true,
                },
                ProviderRule {
                    provider: "spam".into(),
                    allow: false,
                },
            ],
            discoverable: true,
        };
        store
            .set_interop_settings("alice".into(), s.clone())
            .await
            .expect("set");
        assert_eq!(
            store.interop_settings("alice").await.expect("read"),
            Some(s)
        );
        let off = InteropSettings::default();
        store
            .set_interop_settings("alice".into(), off.clone())
            .await
            .expect("set");
        assert_eq!(
            store.interop_settings("alice").await.expect("read"),
            Some(off),
            "rules from before are gone"
        );
        assert_eq!(store.interop_settings("bob").await.expect("read"), None);
    }

    /// Blocklists: ordered, idempotent, unblock some or all, per account.
    pub async fn blocklists(store: &dyn Store) {
        assert!(store.blocklist("alice").await.expect("read").is_empty());
        store
            .block("alice".into(), vec!["spam@d".into(), "x.interop.d".into()])
            .await
            .expect("block");
        store
            .block("alice".into(), vec!["spam@d".into(), "z@d".into()])
            .await
            .expect("block again");
        assert_eq!(
            store.blocklist("alice").await.expect("read"),
            vec!["spam@d", "x.interop.d", "z@d"]
        );
        assert!(store.blocklist("bob").await.expect("read").is_empty());
        store
            .unblock("alice".into(), vec!["x.interop.d".into()])
            .await
            .expect("unblock");
        assert_eq!(
            store.blocklist("alice").await.expect("read"),
            vec!["spam@d", "z@d"]
        );
        store
            .unblock("alice".into(), Vec::new())
            .await
            .expect("unblock all");
        assert!(store.blocklist("alice").await.expect("read").is_empty());
    }

    /// Reports: stored with their evidence, listed newest first, counted per reporter.
    pub async fn reports(store: &dyn Store) {
        let r = StoredReport {
            id: 0,
            reporter: "alice".into(),
            reported: "k@birdy.interop.d".into(),
            reason: ReportReason::Spam,
            at_ms: 1000,
            evidence: vec![StoredEvidence {
                id: "m1".into(),
                stanza_id: Some(7),
                plaintext: Some("buy now".into()),
            }],
        };
        let id1 = store.add_report(r.clone()).await.expect("add");
        let id2 = store
            .add_report(StoredReport {
                at_ms: 2000,
                evidence: Vec::new(),
                reason: ReportReason::Scam,
                ..r.clone()
            })
            .await
            .expect("add");
        assert!(id2 > id1);
        let list = store.reports(10).await.expect("list");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].id, id2);
        assert_eq!(list[1], StoredReport { id: id1, ..r });
        assert_eq!(store.reports(1).await.expect("list").len(), 1);
        assert_eq!(store.reports_since("alice", 1500).await.expect("count"), 1);
        assert_eq!(store.reports_since("bob", 0).await.expect("count"), 0);
    }

    /// Contacts: a record makes the pair known either way; only the window counts.
    pub async fn contacts(store: &dyn Store) {
        let h = store
            .contact_history("k@p", "alice@d", 0)
            .await
            .expect("read");
        assert!(!h.known && h.recent == 0 && h.oldest_ms.is_none());
        store
            .record_contact("k@p".into(), "alice@d".into(), 1000)
            .await
            .expect("record");
        store
            .record_contact("k@p".into(), "bob@d".into(), 5000)
            .await
            .expect("record");
        // Recording the same pair again keeps the first time.
        store
            .record_contact("k@p".into(), "alice@d".into(), 9000)
            .await
            .expect("record");
        let h = store
            .contact_history("k@p", "carol@d", 0)
            .await
            .expect("read");
        assert_eq!((h.known, h.recent, h.oldest_ms), (false, 2, Some(1000)));
        let h = store
            .contact_history("k@p", "carol@d", 2000)
            .await
            .expect("read");
        assert_eq!((h.recent, h.oldest_ms), (1, Some(5000)));
        let h = store
            .contact_history("alice@d", "k@p", 0)
            .await
            .expect("read");
        assert!(h.known, "the pair is known from the other side too");
        assert_eq!(h.recent, 0);
    }
}
