//! Storage of the provider gateway (DESIGN.md §6): the registry of third-party providers,
//! the third-party users enlisted through them with their devices and credential hashes, and
//! the identity-assertion ids already seen (replay protection).
//!
//! A third-party user is an ordinary account whose name is its whole internal bare JID
//! (`<opaque>@<provider>.interop.<domain>`), so devices, the key directory and the queues
//! treat it like any account; only enlistment creates such accounts (first-party names cannot
//! hold `@`, see [`super::valid_account_name`]).

use std::collections::BTreeMap;

use super::{DeviceId, StoreFuture};

/// Whether a provider may serve users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderStatus {
    /// Its users may enlist and log in.
    Active,
    /// Its sessions are dropped, logins and enlistments refused.
    Suspended,
}

impl ProviderStatus {
    /// `active` or `suspended`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderStatus::Active => "active",
            ProviderStatus::Suspended => "suspended",
        }
    }

    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ProviderStatus::Active),
            "suspended" => Some(ProviderStatus::Suspended),
            _ => None,
        }
    }
}

/// One registered provider (the Reference Offer's technical annex, in a row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Provider id, `[a-z0-9-]{1,32}`: the `iss` of its assertions and the label in its
    /// users' internal JIDs.
    pub id: String,
    /// The domain of its users' visible ids (`bob@birdy.example` → `birdy.example`).
    pub domain: String,
    /// HTTPS base URL of its `/auth` and `/push` endpoints.
    pub endpoint: String,
    /// Its Ed25519 public key (32 bytes): verifies its assertions and its signed requests.
    pub public_key: Vec<u8>,
    /// Origins (`https://host:port`) the media proxy may fetch from.
    pub media_origins: Vec<String>,
    /// PEM certificates the hub trusts for the provider's TLS (empty: none registered).
    pub ca_pem: String,
    /// Named limits (for example `messages_per_minute`); policy code reads the names it knows.
    pub limits: BTreeMap<String, u64>,
    /// Active or suspended.
    pub status: ProviderStatus,
}

/// The third-party user behind an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdPartyUser {
    /// Provider id.
    pub provider: String,
    /// The user's visible id at the provider.
    pub visible_id: String,
}

/// One enlisted third-party device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdPartyDevice {
    /// Its user.
    pub user: ThirdPartyUser,
    /// The device's identity key bound by the assertion.
    pub identity_key: Vec<u8>,
    /// SHA-256 of the current device credential.
    pub credential_hash: Vec<u8>,
}

/// What an enlistment writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enlistment {
    /// Provider id.
    pub provider: String,
    /// Visible id.
    pub visible_id: String,
    /// The account: the internal bare JID.
    pub account: String,
    /// The device's identity key (33 bytes).
    pub identity_key: Vec<u8>,
    /// The device's Signal registration id.
    pub registration_id: u32,
    /// SHA-256 of the new credential.
    pub credential_hash: Vec<u8>,
}

/// Provider registry and third-party users. A supertrait of [`super::Store`].
pub trait InteropStore: Send + Sync {
    /// Registers a provider; fails with [`InteropStoreError::ProviderExists`].
    fn add_provider(&self, provider: Provider) -> StoreFuture<'static, ()>;
    /// The provider with that id.
    fn provider<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Provider>>;
    /// Every provider, by id.
    fn list_providers(&self) -> StoreFuture<'_, Vec<Provider>>;
    /// Sets a provider's status; false if there is no such provider.
    fn set_provider_status<'a>(
        &'a self,
        id: &'a str,
        status: ProviderStatus,
    ) -> StoreFuture<'a, bool>;
    /// Removes a provider with its users' accounts, devices, keys and queues; false if there
    /// was no such provider.
    fn remove_provider<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;
    /// Number of enlisted users of a provider.
    fn provider_user_count<'a>(&'a self, id: &'a str) -> StoreFuture<'a, u64>;

    /// Enlists a device: creates the account and user on first use, reuses the device that
    /// has the same identity key, or registers a new one under `max_devices`
    /// ([`super::StoreError::DeviceCapReached`]); stores the credential hash.
    fn enlist(&self, e: Enlistment, max_devices: u32) -> StoreFuture<'static, DeviceId>;
    /// The third-party user behind `account`, if it is one.
    fn third_party_user<'a>(&'a self, account: &'a str) -> StoreFuture<'a, Option<ThirdPartyUser>>;
    /// The enlisted devices of `account` that are still registered, by device id.
    fn third_party_devices<'a>(
        &'a self,
        account: &'a str,
    ) -> StoreFuture<'a, Vec<(DeviceId, ThirdPartyDevice)>>;

    /// Records assertion id `jti` with the digest of the request that carried it, kept until
    /// `expires` (unix seconds). Returns the digest recorded earlier if the id was seen
    /// already (and is not past its time), `None` if it is new. Forgets expired ids.
    fn remember_assertion(
        &self,
        jti: String,
        digest: Vec<u8>,
        expires: u64,
        now: u64,
    ) -> StoreFuture<'static, Option<Vec<u8>>>;
}

/// Errors of the interop tables, carried in [`super::StoreError::Interop`].
#[derive(Debug, thiserror::Error)]
pub enum InteropStoreError {
    /// A provider with that id is registered already.
    #[error("provider {0:?} is registered already; remove it first or pick another id")]
    ProviderExists(String),
    /// No provider has that id.
    #[error("no provider is registered as {0:?}")]
    UnknownProvider(String),
}

/// The shared backend suite for the interop tables: every backend runs it.
#[cfg(test)]
pub(crate) mod suite {
    use super::*;
    use crate::store::{Store, StoreError};
    use portico_stanza::stanza::policy::{InteropSettings, ProviderRule, ThirdPartyMode};

    fn birdy() -> Provider {
        Provider {
            id: "birdy".into(),
            domain: "birdy.example".into(),
            endpoint: "https://127.0.0.1:9".into(),
            public_key: vec![1; 32],
            media_origins: vec!["https://media.birdy.example".into()],
            ca_pem: "PEM".into(),
            limits: [("messages_per_minute".to_owned(), 60)].into(),
            status: ProviderStatus::Active,
        }
    }

    fn enlistment(key: u8, cred: u8) -> Enlistment {
        Enlistment {
            provider: "birdy".into(),
            visible_id: "bob@birdy.example".into(),
            account: "abc@birdy.interop.hub".into(),
            identity_key: vec![key; 33],
            registration_id: 7,
            credential_hash: vec![cred; 32],
        }
    }

    /// Registry: add, duplicate refused, list, status, remove.
    pub(crate) async fn providers(store: &dyn Store) {
        store.add_provider(birdy()).await.expect("add");
        assert!(matches!(
            store.add_provider(birdy()).await,
            Err(StoreError::Interop(InteropStoreError::ProviderExists(_)))
        ));
        assert_eq!(store.provider("birdy").await.expect("get"), Some(birdy()));
        assert_eq!(store.provider("nobody").await.expect("get"), None);
        assert_eq!(store.list_providers().await.expect("list"), vec![birdy()]);
        assert!(
            store
                .set_provider_status("birdy", ProviderStatus::Suspended)
                .await
                .expect("suspend")
        );
        assert_eq!(
            store
                .provider("birdy")
                .await
                .expect("get")
                .map(|p| p.status),
            Some(ProviderStatus::Suspended)
        );
        assert!(
            !store
                .set_provider_status("nobody", ProviderStatus::Active)
                .await
                .expect("no such provider")
        );
        assert!(store.remove_provider("birdy").await.expect("remove"));
        assert!(!store.remove_provider("birdy").await.expect("gone"));
    }

    /// Enlistment: same key → same device and a new credential; new key → new device under
    /// the cap; the account is routable; removing the provider removes its users.
    pub(crate) async fn enlistment_and_devices(store: &dyn Store) {
        assert!(matches!(
            store.enlist(enlistment(5, 1), 2).await,
            Err(StoreError::Interop(InteropStoreError::UnknownProvider(_)))
        ));
        store.add_provider(birdy()).await.expect("add");
        let first = store.enlist(enlistment(5, 1), 2).await.expect("enlist");
        let again = store.enlist(enlistment(5, 2), 2).await.expect("again");
        assert_eq!(first, again);
        let second = store.enlist(enlistment(6, 3), 2).await.expect("second");
        assert_ne!(first, second);
        assert!(matches!(
            store.enlist(enlistment(9, 4), 2).await,
            Err(StoreError::DeviceCapReached { max: 2 })
        ));
        let account = "abc@birdy.interop.hub";
        assert_eq!(
            store.devices(account).await.expect("devices"),
            vec![first, second]
        );
        assert!(store.credentials(account).await.expect("creds").is_some());
        let devices = store.third_party_devices(account).await.expect("devices");
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[0].0, first);
        assert_eq!(devices[0].1.credential_hash, vec![2; 32]);
        assert_eq!(devices[0].1.user.visible_id, "bob@birdy.example");
        assert_eq!(
            store.third_party_user(account).await.expect("user"),
            Some(ThirdPartyUser {
                provider: "birdy".into(),
                visible_id: "bob@birdy.example".into()
            })
        );
        assert_eq!(store.third_party_user("alice").await.expect("none"), None);
        assert_eq!(store.provider_user_count("birdy").await.expect("count"), 1);
        // Policy rows about the user and the provider, which removal must forget.
        let all = |providers| InteropSettings {
            mode: ThirdPartyMode::Listed,
            providers,
            discoverable: true,
        };
        let birdy_allowed = vec![ProviderRule {
            provider: "birdy".into(),
            allow: true,
        }];
        store
            .set_interop_settings(account.into(), all(Vec::new()))
            .await
            .expect("settings");
        store
            .set_interop_settings("alice".into(), all(birdy_allowed))
            .await
            .expect("alice allows birdy");
        store
            .block(account.into(), vec!["alice@hub".into()])
            .await
            .expect("block");
        store
            .record_contact(account.into(), "alice@hub".into(), 1)
            .await
            .expect("contact");
        assert!(store.remove_provider("birdy").await.expect("remove"));
        assert_eq!(store.interop_settings(account).await.expect("get"), None);
        assert!(store.blocklist(account).await.expect("blocks").is_empty());
        let history = store
            .contact_history("alice@hub", account, 0)
            .await
            .expect("history");
        assert!(!history.known);
        let alice = store.interop_settings("alice").await.expect("alice");
        assert_eq!(alice.map(|s| s.providers), Some(Vec::new()));
        assert!(store.devices(account).await.expect("devices").is_empty());
        assert!(store.credentials(account).await.expect("creds").is_none());
        assert_eq!(store.third_party_user(account).await.expect("user"), None);
    }

    /// Assertion ids: new, seen with its digest, forgotten after expiry.
    pub(crate) async fn assertions(store: &dyn Store) {
        let r = |jti: &str, d: u8, exp, now| {
            store.remember_assertion(jti.to_owned(), vec![d], exp, now)
        };
        assert_eq!(r("jti-0000000000001", 1, 100, 10).await.expect("new"), None);
        assert_eq!(
            r("jti-0000000000001", 2, 100, 20).await.expect("seen"),
            Some(vec![1])
        );
        assert_eq!(
            r("jti-0000000000002", 3, 100, 20).await.expect("other"),
            None
        );
        assert_eq!(
            r("jti-0000000000001", 4, 300, 200).await.expect("expired"),
            None
        );
    }
}
