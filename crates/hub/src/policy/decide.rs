//! The policy decision for one message: blocks, opt-in across the third-party boundary,
//! new contacts of third-party senders, then the token buckets. Sans-IO: the caller gathers
//! the facts (settings, blocklists, contact history) and passes the time.

use std::net::IpAddr;

use portico_stanza::Jid;
use portico_stanza::stanza::policy::{
    InteropSettings, Party, RateLimit, Refusal, ThirdPartyMode, block_matches,
};
use portico_stanza::stanza::{StanzaCondition, StanzaError};

use super::bucket::{BucketMap, Rate};
use super::{Origin, PolicyConfig};

/// Milliseconds in the new-contact window (a day).
pub const DAY_MS: u64 = 86_400_000;

/// Who a message goes between, as the hub sees it.
#[derive(Debug, Clone)]
pub struct Parties<'a> {
    /// The sender's full JID (its device as resource).
    pub sender: &'a Jid,
    /// Where the sender is from.
    pub sender_origin: &'a Origin,
    /// The recipient's bare JID.
    pub recipient: &'a Jid,
    /// Where the recipient is from.
    pub recipient_origin: &'a Origin,
    /// The sender's network address, when the session knows it (not for relayed ones).
    pub address: Option<IpAddr>,
}

/// The sender's history with new contacts (only consulted for third-party senders).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contacts {
    /// The two have written to each other before (either way).
    pub known: bool,
    /// New contacts the sender made in the last day.
    pub recent: u32,
    /// When the oldest of those was made, Unix ms.
    pub oldest_ms: Option<u64>,
}

/// What the store says about the two parties.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The sender's interop settings.
    pub sender_settings: &'a InteropSettings,
    /// The recipient's interop settings.
    pub recipient_settings: &'a InteropSettings,
    /// Whom the sender blocked.
    pub sender_blocks: &'a [Jid],
    /// Whom the recipient blocked.
    pub recipient_blocks: &'a [Jid],
    /// The sender's new-contact history.
    pub contacts: Contacts,
    /// The rate the operator registered for the sender's provider (`portico admin provider
    /// add --limit`), if any; `None`: the `[policy] provider` rate.
    pub provider_rate: Option<Rate>,
}

/// Why a message is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A refusal the sender is told about specifically.
    Refused(Refusal),
    /// The recipient blocked a sender of the same network: XEP-0191's `service-unavailable`,
    /// which does not say that a block exists.
    RecipientBlocked,
}

impl Reason {
    /// The stanza error sent back to the sender.
    pub fn to_stanza_error(&self) -> StanzaError {
        match self {
            Reason::Refused(r) => r.clone().into_stanza_error(),
            Reason::RecipientBlocked => StanzaError::new(StanzaCondition::ServiceUnavailable),
        }
    }

    /// A short name for metrics (never an identifier).
    pub fn metric(&self) -> &'static str {
        match self {
            Reason::Refused(Refusal::NotOptedIn { .. }) => "not-opted-in",
            Reason::Refused(Refusal::Blocked) => "blocked",
            Reason::Refused(Refusal::RateLimited { limit, .. }) => match limit {
                RateLimit::Pair => "rate-limited-pair",
                RateLimit::Sender => "rate-limited-sender",
                RateLimit::Provider => "rate-limited-provider",
                RateLimit::Address => "rate-limited-address",
                RateLimit::Discover => "rate-limited-discover",
            },
            Reason::Refused(Refusal::NewContactLimit { .. }) => "new-contact-limit",
            Reason::RecipientBlocked => "recipient-blocked",
        }
    }
}

/// The outcome of [`Limiter::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Route it; when `new_contact`, record the pair as a new contact of the sender.
    Allow {
        /// The pair is new for a third-party sender.
        new_contact: bool,
    },
    /// Refuse it.
    Refuse(Reason),
}

/// The hub's rate limit state: one bounded map of token buckets per kind.
#[derive(Debug)]
pub struct Limiter {
    config: PolicyConfig,
    pair: BucketMap<(String, String)>,
    sender: BucketMap<String>,
    provider: BucketMap<String>,
    address: BucketMap<IpAddr>,
    discover: BucketMap<String>,
    last_sweep_ms: u64,
}

impl Limiter {
    /// Empty buckets for `config`.
    pub fn new(config: &PolicyConfig) -> Self {
        let max = config.max_tracked as usize;
        Limiter {
            config: config.clone(),
            pair: BucketMap::new(config.pair, max),
            sender: BucketMap::new(config.sender, max),
            provider: BucketMap::new(config.provider, max),
            address: BucketMap::new(config.address, max),
            discover: BucketMap::new(config.discover, max),
            last_sweep_ms: 0,
        }
    }

    /// Decides whether `parties` may exchange this message, and if so takes its tokens.
    pub fn decide(&mut self, parties: &Parties<'_>, facts: &Facts<'_>, now_ms: u64) -> Decision {
        let decision = check(&self.config, parties, facts, now_ms);
        let Decision::Allow { .. } = decision else {
            return decision;
        };
        if let Origin::ThirdParty { provider } = parties.sender_origin {
            self.provider.set_rate(provider, facts.provider_rate);
        }
        if let Some(reason) = self.take_tokens(parties, now_ms) {
            return Decision::Refuse(reason);
        }
        decision
    }

    /// Takes a discovery token for `requester` (a bare JID); the refusal names the wait.
    pub fn take_discover(&mut self, requester: &str, now_ms: u64) -> Result<(), Refusal> {
        let key = requester.to_owned();
        let retry_after = self.discover.retry_after_secs(&key, now_ms);
        if retry_after > 0 || !self.discover.take(&key, now_ms) {
            return Err(Refusal::RateLimited {
                limit: RateLimit::Discover,
                retry_after: retry_after.max(1),
            });
        }
        Ok(())
    }

    fn take_tokens(&mut self, p: &Parties<'_>, now_ms: u64) -> Option<Reason> {
        let idle_ms = u64::from(self.config.idle_evict_secs) * 1000;
        if now_ms.saturating_sub(self.last_sweep_ms) >= idle_ms {
            self.last_sweep_ms = now_ms;
            self.pair.sweep(now_ms, idle_ms);
            self.sender.sweep(now_ms, idle_ms);
            self.provider.sweep(now_ms, idle_ms);
            self.address.sweep(now_ms, idle_ms);
            self.discover.sweep(now_ms, idle_ms);
        }
        let provider = match p.sender_origin {
            Origin::ThirdParty { provider } => Some(provider.clone()),
            _ => None,
        };
        if provider.is_none() && !self.config.limit_first_party {
            return None;
        }
        let sender = p.sender.to_bare().to_string();
        let pair = (sender.clone(), p.recipient.to_bare().to_string());
        let address = p.address;
        // Look at every bucket first, so a refusal takes no token from any.
        let waits = [
            (RateLimit::Pair, self.pair.retry_after_secs(&pair, now_ms)),
            (
                RateLimit::Sender,
                self.sender.retry_after_secs(&sender, now_ms),
            ),
            (
                RateLimit::Provider,
                provider
                    .as_ref()
                    .map_or(0, |k| self.provider.retry_after_secs(k, now_ms)),
            ),
            (
                RateLimit::Address,
                address.map_or(0, |k| self.address.retry_after_secs(&k, now_ms)),
            ),
        ];
        if let Some((limit, retry_after)) = waits.into_iter().find(|(_, w)| *w > 0) {
            return Some(Reason::Refused(Refusal::RateLimited { limit, retry_after }));
        }
        self.pair.take(&pair, now_ms);
        self.sender.take(&sender, now_ms);
        if let Some(k) = &provider {
            self.provider.take(k, now_ms);
        }
        if let Some(k) = &address {
            self.address.take(k, now_ms);
        }
        None
    }
}

/// Everything but the token buckets: blocks, opt-in, new contacts.
pub fn check(config: &PolicyConfig, p: &Parties<'_>, f: &Facts<'_>, now_ms: u64) -> Decision {
    let sender_bare = p.sender.to_bare();
    // XEP-0191: a user who blocked a contact may not write to them either.
    if f.sender_blocks
        .iter()
        .any(|b| block_matches(b, p.recipient))
    {
        return Decision::Refuse(Reason::Refused(Refusal::Blocked));
    }
    let crossing = p.sender_origin.network() != p.recipient_origin.network();
    let recipient_refuses = Reason::Refused(Refusal::NotOptedIn {
        party: Party::Recipient,
        provider: p.sender_origin.network().map(Into::into),
    });
    let blocked = f
        .recipient_blocks
        .iter()
        .any(|b| block_matches(b, p.sender) || block_matches(b, &sender_bare));
    if blocked {
        // Across the boundary a block looks exactly like an opt-out, so a sender from
        // elsewhere cannot tell the two apart (nor either from an account that does not exist).
        return Decision::Refuse(if crossing {
            recipient_refuses
        } else {
            Reason::RecipientBlocked
        });
    }
    if crossing {
        if let Some(theirs) = p.recipient_origin.network() {
            if !f.sender_settings.allows(theirs) {
                return Decision::Refuse(Reason::Refused(Refusal::NotOptedIn {
                    party: Party::Sender,
                    provider: Some(theirs.into()),
                }));
            }
        }
        let accepts = match p.sender_origin.network() {
            Some(provider) => f.recipient_settings.allows(provider),
            // A third-party user takes the hub's own users unless they turned interop off.
            None => f.recipient_settings.mode != ThirdPartyMode::Off,
        };
        if !accepts {
            return Decision::Refuse(recipient_refuses);
        }
    }
    if matches!(p.sender_origin, Origin::ThirdParty { .. }) && !f.contacts.known {
        let max = config.new_contacts_per_day;
        if f.contacts.recent >= max {
            let oldest = f.contacts.oldest_ms.unwrap_or(now_ms);
            let retry_after = (oldest + DAY_MS)
                .saturating_sub(now_ms)
                .div_ceil(1000)
                .max(1);
            return Decision::Refuse(Reason::Refused(Refusal::NewContactLimit {
                max_per_day: max,
                retry_after,
            }));
        }
        return Decision::Allow { new_contact: true };
    }
    Decision::Allow { new_contact: false }
}
