//! The provider gateway (DESIGN.md §6): everything the hub does for third-party providers
//! and their users.
//!
//! - [`config`]: the `[interop]` knobs; [`keys`]: the hub's signing key and HMAC secret.
//! - Addressing (this module): a third-party user is an account whose name is its whole
//!   internal bare JID `<opaque>@<provider>.interop.<domain>` ([`account_of`], [`bare_jid`]);
//!   only enlistment creates such accounts, so the rest of the hub (devices, key directory,
//!   queues, routing) treats them like first-party accounts.
//! - The identity of an authenticated third-party session is a [`ThirdParty`], carried in
//!   `c2s::session::Bound::third_party` (for the interop stamp and provider-level limits).
//! - [`Gateway`] holds the gateway's shared state; `enlist` serves `POST /v1/enlist`,
//!   `login` checks `pit1:` SASL passwords and asks the provider's `/auth`, `push` wakes
//!   offline devices through the provider's `/push`, `watch` notices suspensions and
//!   revocations and drops the sessions concerned.

pub mod client;
pub mod config;
pub mod enlist;
pub mod keys;
pub mod login;
pub mod push;
pub mod watch;

/// The wire contract crate, re-exported for the `portico` binary's admin commands.
pub use portico_interop as wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portico_stanza::Jid;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;

/// Who is behind an authenticated third-party session: its provider and the user's visible
/// id there. Sessions of first-party accounts have none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ThirdParty {
    /// Provider id (`birdy`).
    pub provider: String,
    /// The user's visible id at the provider (`bob@birdy.example`).
    pub visible_id: String,
}

/// The label between the opaque part and the hub domain in internal JIDs.
pub const INTEROP_LABEL: &str = "interop";

/// The account a JID addresses on a hub serving `domain`: the local part for `name@domain`,
/// the whole bare JID for `opaque@provider.interop.domain`; `None` for other domains or a JID
/// without a local part.
pub fn account_of(jid: &Jid, domain: &str) -> Option<String> {
    let node = jid.node()?;
    if jid.domain() == domain {
        return Some(node.to_owned());
    }
    provider_of_domain(jid.domain(), domain)?;
    Some(format!("{node}@{}", jid.domain()))
}

/// The bare JID of an account on a hub serving `domain`.
pub fn bare_jid(account: &str, domain: &str) -> String {
    if account.contains('@') {
        account.to_owned()
    } else {
        format!("{account}@{domain}")
    }
}

/// The full JID of an account's device.
pub fn full_jid(account: &str, domain: &str, device: crate::store::DeviceId) -> String {
    format!("{}/{device}", bare_jid(account, domain))
}

/// Whether an account is a third-party user's (first-party names never hold `@`).
pub fn is_third_party(account: &str) -> bool {
    account.contains('@')
}

/// The provider id of a third-party account, from its JID.
pub fn provider_of_account<'a>(account: &'a str, domain: &str) -> Option<&'a str> {
    let (_, jid_domain) = account.split_once('@')?;
    provider_of_domain(jid_domain, domain)
}

fn provider_of_domain<'a>(jid_domain: &'a str, domain: &str) -> Option<&'a str> {
    let provider = jid_domain
        .strip_suffix(domain)?
        .strip_suffix('.')?
        .strip_suffix(INTEROP_LABEL)?
        .strip_suffix('.')?;
    let valid = !provider.is_empty()
        && provider.len() <= 32
        && provider
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then_some(provider)
}

/// RFC 4648 base32, lowercase, without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// HMAC-SHA256 under the hub secret.
pub(crate) fn hmac(secret: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The stable internal JID of (provider, visible id): `<opaque>@<provider>.interop.<domain>`,
/// where `<opaque>` is the base32 of the first 16 bytes of
/// HMAC-SHA256(hub secret, provider || 0x00 || visible id).
pub fn internal_jid(secret: &[u8; 32], provider: &str, visible_id: &str, domain: &str) -> String {
    let mac = hmac(secret, &[provider.as_bytes(), &[0], visible_id.as_bytes()]);
    format!("{}@{provider}.{INTEROP_LABEL}.{domain}", base32(&mac[..16]))
}

/// The gateway's shared state, one per hub.
pub struct Gateway {
    /// The hub configuration.
    pub(crate) config: Config,
    /// The store.
    pub(crate) store: Arc<dyn Store>,
    /// Metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// The hub's signing key and secret.
    pub(crate) keys: keys::HubKeys,
    /// TLS client configurations per provider.
    tls: client::TlsCache,
    /// Circuit breakers per provider: consecutive failures and when an open one may retry.
    breakers: Mutex<HashMap<String, (u32, Option<Instant>)>>,
    /// Cached `/auth` answers by (jid, device, token digest).
    pub(crate) auth_cache: Mutex<HashMap<login::CacheKey, login::CachedAuth>>,
    /// Logged-in third-party devices, re-checked by `watch`.
    pub(crate) live: Mutex<HashMap<(String, store::DeviceId), login::Live>>,
    /// Push state per device.
    pub(crate) push_slots: Mutex<HashMap<(String, store::DeviceId), push::Slot>>,
    /// Enlistment rate limits.
    pub(crate) enlist_buckets: enlist::Buckets,
    /// Accounts that got a device by enlistment, for `watch` to refresh the sessions' device
    /// caches.
    pub(crate) enlisted: Mutex<Vec<String>>,
}

use crate::store;

impl Gateway {
    /// The gateway of a hub; loads (or creates) the hub's keys in the data dir.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, keys::KeyFileError> {
        let keys = keys::HubKeys::load_or_create(&config.data_dir)?;
        Ok(Arc::new(Self {
            config,
            store,
            metrics,
            keys,
            tls: client::TlsCache::default(),
            breakers: Mutex::new(HashMap::new()),
            auth_cache: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            push_slots: Mutex::new(HashMap::new()),
            enlist_buckets: enlist::Buckets::default(),
            enlisted: Mutex::new(Vec::new()),
        }))
    }

    /// The hub's public signing key, b64url.
    pub fn public_key(&self) -> String {
        self.keys.public_b64()
    }

    /// A signed `POST` to a provider endpoint through its circuit breaker: after
    /// `interop.breaker_failures` failures in a row (no answer, or a 5xx), calls fail at once
    /// for `interop.breaker_open_secs`, then one is let through to try again.
    pub(crate) async fn call(
        &self,
        provider: &store::interop::Provider,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, bytes::Bytes), client::CallError> {
        let knobs = &self.config.interop;
        let now = Instant::now();
        if let Ok(mut b) = self.breakers.lock() {
            let entry = b.entry(provider.id.clone()).or_insert((0, None));
            if let Some(until) = entry.1 {
                if until > now {
                    return Err(client::CallError::CircuitOpen(entry.0));
                }
                // Half open: let this call through; a failure opens the breaker again.
                entry.1 = Some(now + Duration::from_secs(knobs.breaker_open_secs.into()));
            }
        }
        let result = client::post(
            &self.tls,
            &self.keys.signing,
            provider,
            path,
            body,
            knobs.provider_timeout_ms,
        )
        .await;
        let failed = match &result {
            Ok((status, _)) => *status >= 500,
            Err(_) => true,
        };
        if let Ok(mut b) = self.breakers.lock() {
            let entry = b.entry(provider.id.clone()).or_insert((0, None));
            if failed {
                entry.0 = entry.0.saturating_add(1);
                if entry.0 >= knobs.breaker_failures {
                    if entry.1.is_none() {
                        tracing::warn!(provider = %provider.id, failures = entry.0, "circuit breaker open");
                        self.metrics.interop("breaker", "opened");
                    }
                    entry.1 =
                        Some(Instant::now() + Duration::from_secs(knobs.breaker_open_secs.into()));
                }
            } else {
                *entry = (0, None);
            }
        }
        result
    }
}

#[cfg(test)]
#[path = "gateway_tests.rs"]
mod gateway_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        for (input, out) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32(input.as_bytes()), out, "{input}");
        }
    }

    #[test]
    fn internal_jids_are_stable_per_pair_and_route_to_accounts() {
        let secret = [7u8; 32];
        let a = internal_jid(&secret, "birdy", "bob@birdy.example", "hub.example");
        assert_eq!(
            a,
            internal_jid(&secret, "birdy", "bob@birdy.example", "hub.example")
        );
        assert_ne!(
            a,
            internal_jid(&secret, "birdy", "eve@birdy.example", "hub.example")
        );
        assert_ne!(
            a,
            internal_jid(&[8u8; 32], "birdy", "bob@birdy.example", "hub.example")
        );
        let (opaque, dom) = a.split_once('@').expect("a JID");
        assert_eq!(opaque.len(), 26);
        assert_eq!(dom, "birdy.interop.hub.example");

        let jid = Jid::parse(&format!("{a}/3")).expect("valid JID");
        assert_eq!(account_of(&jid, "hub.example").as_deref(), Some(a.as_str()));
        assert_eq!(bare_jid(&a, "hub.example"), a);
        assert_eq!(full_jid(&a, "hub.example", 3), format!("{a}/3"));
        assert_eq!(provider_of_account(&a, "hub.example"), Some("birdy"));
        assert!(is_third_party(&a));

        let alice = Jid::parse("alice@hub.example").expect("valid");
        assert_eq!(account_of(&alice, "hub.example").as_deref(), Some("alice"));
        assert_eq!(bare_jid("alice", "hub.example"), "alice@hub.example");
        assert!(!is_third_party("alice"));
        for other in [
            "x@elsewhere.example",
            "x@birdy.interop.other.example",
            "x@interop.hub.example",
            "x@a.b.interop.hub.example",
            "hub.example",
        ] {
            let jid = Jid::parse(other).expect("valid");
            assert_eq!(account_of(&jid, "hub.example"), None, "{other}");
        }
    }
}
