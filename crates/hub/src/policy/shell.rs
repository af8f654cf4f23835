//! [`Policy`]: the hub's shared policy state around the sans-IO decision: the token buckets,
//! short-lived caches of settings and blocklists in front of the store, and the gathering of
//! facts for one message.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portico_stanza::Jid;
use portico_stanza::stanza::policy::{InteropSettings, Party, Refusal, ThirdPartyMode};

use super::decide::{Contacts, DAY_MS, Decision, Facts, Limiter, Parties, Reason};
use super::{Origin, PolicyConfig, Rate};
use crate::store::{Store, StoreError};

/// How long a cached setting or blocklist is trusted (changes made through this hub are
/// seen at once; the TTL covers other nodes and `portico admin`).
const CACHE_TTL: Duration = Duration::from_secs(5);
/// Most entries each cache keeps before it starts over.
const CACHE_MAX: usize = 100_000;

type Cache<T> = Mutex<HashMap<String, (Instant, Arc<T>)>>;

fn cached<T>(cache: &Cache<T>, key: &str) -> Option<Arc<T>> {
    let c = cache.lock().ok()?;
    let (at, v) = c.get(key)?;
    (at.elapsed() < CACHE_TTL).then(|| v.clone())
}

fn remember<T>(cache: &Cache<T>, key: &str, v: Arc<T>) {
    if let Ok(mut c) = cache.lock() {
        if c.len() >= CACHE_MAX {
            c.clear();
        }
        c.insert(key.to_owned(), (Instant::now(), v));
    }
}

/// A message to decide on, as the routing code knows it.
#[derive(Debug, Clone)]
pub struct Route<'a> {
    /// The sender's account.
    pub sender_account: &'a str,
    /// The sender's full JID.
    pub sender: &'a Jid,
    /// The recipient's account.
    pub recipient_account: &'a str,
    /// The recipient's bare JID.
    pub recipient: &'a Jid,
    /// The sender's network address, if known.
    pub address: Option<IpAddr>,
}

/// The hub's policy state. One per hub; shared by every session.
pub struct Policy {
    config: PolicyConfig,
    domain: String,
    limiter: Mutex<Limiter>,
    settings: Cache<InteropSettings>,
    blocks: Cache<Vec<Jid>>,
    /// Each provider's registered rate (`None`: the `[policy] provider` rate).
    provider_rates: Cache<Option<Rate>>,
    /// Pairs (sender, recipient) known to have a contact record.
    known: Mutex<HashSet<(String, String)>>,
}

impl Policy {
    /// Fresh state for `config` on a hub serving `domain`.
    pub fn new(config: &PolicyConfig, domain: &str) -> Self {
        Policy {
            config: config.clone(),
            domain: domain.to_owned(),
            limiter: Mutex::new(Limiter::new(config)),
            settings: Mutex::new(HashMap::new()),
            blocks: Mutex::new(HashMap::new()),
            provider_rates: Mutex::new(HashMap::new()),
            known: Mutex::new(HashSet::new()),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Where a JID's user comes from.
    pub fn origin(&self, jid: &Jid) -> Origin {
        Origin::of(jid, &self.domain)
    }

    /// The settings of a user who never set any: everything off for the hub's own users;
    /// for a third-party user, who enlisted in order to chat here, the hub's users allowed.
    pub fn default_settings(&self, account: &str) -> InteropSettings {
        if account.contains('@') {
            InteropSettings {
                mode: ThirdPartyMode::All,
                ..InteropSettings::default()
            }
        } else {
            InteropSettings::default()
        }
    }

    /// The account's settings (cached briefly).
    pub async fn settings(
        &self,
        store: &dyn Store,
        account: &str,
    ) -> Result<Arc<InteropSettings>, StoreError> {
        if let Some(s) = cached(&self.settings, account) {
            return Ok(s);
        }
        let s = Arc::new(
            store
                .interop_settings(account)
                .await?
                .unwrap_or_else(|| self.default_settings(account)),
        );
        remember(&self.settings, account, s.clone());
        Ok(s)
    }

    /// The account's blocklist (cached briefly).
    pub async fn blocklist(
        &self,
        store: &dyn Store,
        account: &str,
    ) -> Result<Arc<Vec<Jid>>, StoreError> {
        if let Some(b) = cached(&self.blocks, account) {
            return Ok(b);
        }
        let b: Vec<Jid> = store
            .blocklist(account)
            .await?
            .iter()
            .filter_map(|j| Jid::parse(j).ok())
            .collect();
        let b = Arc::new(b);
        remember(&self.blocks, account, b.clone());
        Ok(b)
    }

    /// Takes a discovery token for `requester`; the refusal to send when there is none.
    pub fn take_discover(&self, requester: &Jid, now_ms: u64) -> Result<(), Refusal> {
        match self.limiter.lock() {
            Ok(mut l) => l.take_discover(&requester.to_bare().to_string(), now_ms),
            // A poisoned lock means a panic elsewhere; refuse rather than run unlimited.
            Err(_) => Err(Refusal::RateLimited {
                limit: portico_stanza::stanza::policy::RateLimit::Discover,
                retry_after: 1,
            }),
        }
    }

    /// The message rate registered for `provider` (cached briefly, like settings).
    pub async fn provider_rate(
        &self,
        store: &dyn Store,
        provider: &str,
    ) -> Result<Option<Rate>, StoreError> {
        if let Some(r) = cached(&self.provider_rates, provider) {
            return Ok(*r);
        }
        let rate = store
            .provider(provider)
            .await?
            .and_then(|p| super::bucket::provider_rate(&p.limits, self.config.provider));
        remember(&self.provider_rates, provider, Arc::new(rate));
        Ok(rate)
    }

    /// Forgets what is cached about `account` (after it changed its settings or blocklist).
    pub fn forget(&self, account: &str) {
        if let Ok(mut c) = self.blocks.lock() {
            c.remove(account);
        }
        if let Ok(mut c) = self.settings.lock() {
            c.remove(account);
        }
    }

    /// Why `requester` may not fetch the key bundles or device list of `target` (whose
    /// account is `target_account`, `None` when there is no such account), or `None` when it
    /// may. Within one network nothing is refused here. Across the third-party boundary the
    /// key directory asks for the same consent a message needs (opt-in on both sides, no
    /// block) and refuses with the same [`Refusal`], so that without consent it reveals
    /// neither an account's existence nor its devices, and nobody drains the one-time prekeys
    /// of a user who never agreed to hear from them. Takes no rate-limit token.
    pub async fn key_fetch_refusal(
        &self,
        store: &dyn Store,
        requester_account: &str,
        requester: &Jid,
        target: &Jid,
        target_account: Option<&str>,
    ) -> Result<Option<Refusal>, StoreError> {
        let requester_origin = self.origin(requester);
        let target_origin = self.origin(target);
        if requester_origin.network() == target_origin.network() {
            return Ok(None);
        }
        let recipient_refuses = Refusal::NotOptedIn {
            party: Party::Recipient,
            provider: requester_origin.network().map(Into::into),
        };
        let requester_settings = self.settings(store, requester_account).await?;
        let requester_blocks = self.blocklist(store, requester_account).await?;
        let (target_settings, target_blocks) = match target_account {
            Some(account) => (
                self.settings(store, account).await?,
                self.blocklist(store, account).await?,
            ),
            // No such account: it has not opted in either (checked after the requester's
            // own settings, so the answer is the one an existing account would give).
            None => (Arc::new(InteropSettings::default()), Arc::new(Vec::new())),
        };
        let parties = Parties {
            sender: requester,
            sender_origin: &requester_origin,
            recipient: target,
            recipient_origin: &target_origin,
            address: None,
        };
        let facts = Facts {
            sender_settings: &requester_settings,
            recipient_settings: &target_settings,
            sender_blocks: &requester_blocks,
            recipient_blocks: &target_blocks,
            provider_rate: None,
            contacts: Contacts {
                known: true,
                ..Contacts::default()
            },
        };
        Ok(
            match super::decide::check(&self.config, &parties, &facts, 0) {
                Decision::Allow { .. } if target_account.is_none() => Some(recipient_refuses),
                Decision::Allow { .. } => None,
                Decision::Refuse(Reason::Refused(r)) => Some(r),
                // Only given within one network, which returned above.
                Decision::Refuse(Reason::RecipientBlocked) => Some(recipient_refuses),
            },
        )
    }

    /// Decides on one message, takes its tokens, and records a new contact when it is one.
    pub async fn check(
        &self,
        store: &dyn Store,
        route: &Route<'_>,
        now_ms: u64,
    ) -> Result<Decision, StoreError> {
        let sender_origin = self.origin(route.sender);
        let recipient_origin = self.origin(route.recipient);
        let crossing = sender_origin.network() != recipient_origin.network();
        let sender_blocks = self.blocklist(store, route.sender_account).await?;
        let recipient_blocks = self.blocklist(store, route.recipient_account).await?;
        let (sender_settings, recipient_settings) = if crossing {
            (
                self.settings(store, route.sender_account).await?,
                self.settings(store, route.recipient_account).await?,
            )
        } else {
            let none = Arc::new(InteropSettings::default());
            (none.clone(), none)
        };
        let sender_bare = route.sender.to_bare().to_string();
        let recipient_bare = route.recipient.to_bare().to_string();
        let pair = (sender_bare.clone(), recipient_bare.clone());
        let third_party_sender = matches!(sender_origin, Origin::ThirdParty { .. });
        let mut contacts = Contacts {
            known: true,
            ..Contacts::default()
        };
        let known_here = || self.known.lock().is_ok_and(|k| k.contains(&pair));
        if crossing && !known_here() {
            let h = store
                .contact_history(&sender_bare, &recipient_bare, now_ms.saturating_sub(DAY_MS))
                .await?;
            contacts = Contacts {
                known: h.known,
                recent: h.recent,
                oldest_ms: h.oldest_ms,
            };
        }
        let parties = Parties {
            sender: route.sender,
            sender_origin: &sender_origin,
            recipient: route.recipient,
            recipient_origin: &recipient_origin,
            address: route.address,
        };
        let provider_rate = match &sender_origin {
            Origin::ThirdParty { provider } => self.provider_rate(store, provider).await?,
            _ => None,
        };
        let facts = Facts {
            sender_settings: &sender_settings,
            recipient_settings: &recipient_settings,
            sender_blocks: &sender_blocks,
            recipient_blocks: &recipient_blocks,
            provider_rate,
            contacts: if third_party_sender {
                contacts
            } else {
                Contacts {
                    known: true,
                    ..contacts
                }
            },
        };
        let decision = match self.limiter.lock() {
            Ok(mut l) => l.decide(&parties, &facts, now_ms),
            Err(_) => return Err(StoreError::Closed),
        };
        if let Decision::Allow { .. } = decision {
            if crossing && !contacts.known {
                // First message of the pair across the boundary (either way): remember it,
                // so that replies are not new contacts and the sender's count is right.
                store
                    .record_contact(sender_bare.clone(), recipient_bare.clone(), now_ms)
                    .await?;
            }
            if crossing {
                if let Ok(mut k) = self.known.lock() {
                    if k.len() >= CACHE_MAX {
                        k.clear();
                    }
                    k.insert(pair);
                    k.insert((recipient_bare, sender_bare));
                }
            }
        }
        Ok(decision)
    }
}
