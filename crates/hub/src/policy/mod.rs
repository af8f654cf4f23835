//! Policy, privacy and abuse controls (DESIGN.md §8): who may write to whom across the
//! third-party boundary, XEP-0191 blocks, token-bucket rate limits, new-contact limits for
//! third-party senders, reports and discovery.
//!
//! - [`bucket`]: token buckets in bounded maps with idle eviction (sans-IO).
//! - [`decide`]: the decision for one message from the facts the caller gathered (sans-IO).
//! - [`Policy`]: the hub's shared state: the buckets, and caches of settings and blocklists
//!   in front of [`crate::store::policy::PolicyStore`].
//!
//! # What a refusal reveals
//! - Opt-in is off by default for the hub's own users; a message across the boundary to
//!   someone who has not opted in is refused with `forbidden` + `<not-opted-in
//!   party='recipient'/>`. An account that does not exist has not opted in either, and a
//!   recipient who blocked a sender from another network answers the same way, so a
//!   third-party sender learns nothing about existence or blocks from a refusal. The key
//!   directory asks the same consent and gives the same refusal
//!   ([`Policy::key_fetch_refusal`]), so bundles and device lists reveal nothing either.
//! - Between users of the same network, a recipient's block gives XEP-0191's plain
//!   `service-unavailable`; a sender who blocked the recipient gets XEP-0191's
//!   `not-acceptable` + `<blocked xmlns='urn:xmpp:blocking:errors'/>`.
//! - Rate limits name the bucket and the wait: they concern the sender only.
//! - Discovery answers `item-not-found` alike for a visible id never enlisted and for a user
//!   who does not allow discovery.
//! - Reports are stored for operators; their content is never logged.

pub mod bucket;
pub mod decide;
pub mod iq;
pub mod shell;

use serde::{Deserialize, Serialize};

pub use bucket::Rate;
pub use decide::{Contacts, Decision, Facts, Limiter, Parties, Reason};
pub use shell::Policy;

/// The `[policy]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Messages from one sender to one recipient.
    pub pair: Rate,
    /// Messages from one sender to anyone.
    pub sender: Rate,
    /// Messages from all users of one provider.
    pub provider: Rate,
    /// Messages from one network address.
    pub address: Rate,
    /// Discovery lookups by one user (each answer, found or not, takes a token), so nobody
    /// enumerates a provider's users by visible id.
    pub discover: Rate,
    /// Apply the pair, sender and address buckets to the hub's own users too (third-party
    /// senders always have them).
    pub limit_first_party: bool,
    /// New contacts a third-party sender may write to per day.
    pub new_contacts_per_day: u32,
    /// Most keys each kind of bucket tracks.
    pub max_tracked: u32,
    /// Seconds after which an idle bucket is forgotten.
    pub idle_evict_secs: u32,
    /// Most evidence items in one report.
    pub report_max_evidence: u32,
    /// Most bytes of revealed plaintext per evidence item.
    pub report_max_evidence_bytes: u32,
    /// Reports one user may file per day.
    pub reports_per_day: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            pair: Rate {
                burst: 30,
                per_minute: 60,
            },
            sender: Rate {
                burst: 200,
                per_minute: 600,
            },
            provider: Rate {
                burst: 20_000,
                per_minute: 120_000,
            },
            address: Rate {
                burst: 300,
                per_minute: 1200,
            },
            discover: Rate {
                burst: 20,
                per_minute: 20,
            },
            limit_first_party: false,
            new_contacts_per_day: 50,
            max_tracked: 100_000,
            idle_evict_secs: 600,
            report_max_evidence: 20,
            report_max_evidence_bytes: 4096,
            reports_per_day: 50,
        }
    }
}

/// A `[policy]` value out of range: the key and what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`policy.{key}` {problem}")]
pub struct PolicyConfigError {
    /// The key under `[policy]`.
    pub key: &'static str,
    /// What is wrong.
    pub problem: &'static str,
}

impl PolicyConfig {
    /// Checks every value is in range.
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        let rates = [
            ("pair", self.pair),
            ("sender", self.sender),
            ("provider", self.provider),
            ("address", self.address),
            ("discover", self.discover),
        ];
        for (key, r) in rates {
            if r.burst == 0 || r.per_minute == 0 {
                return Err(PolicyConfigError {
                    key,
                    problem: "needs burst and per_minute of at least 1",
                });
            }
        }
        let positive = [
            ("new_contacts_per_day", self.new_contacts_per_day),
            ("max_tracked", self.max_tracked),
            ("idle_evict_secs", self.idle_evict_secs),
            ("report_max_evidence_bytes", self.report_max_evidence_bytes),
            ("reports_per_day", self.reports_per_day),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err(PolicyConfigError {
                    key,
                    problem: "must be at least 1",
                });
            }
        }
        Ok(())
    }
}

/// Where a JID's user comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The hub's own user (`name@D`).
    FirstParty,
    /// A third-party user (`opaque@<provider>.interop.D`).
    ThirdParty {
        /// The provider id.
        provider: String,
    },
    /// Neither (not served here).
    Elsewhere,
}

impl Origin {
    /// Classifies a JID against the hub domain.
    pub fn of(jid: &portico_stanza::Jid, hub_domain: &str) -> Origin {
        let domain = jid.domain();
        if domain == hub_domain {
            return Origin::FirstParty;
        }
        let provider = domain
            .strip_suffix(hub_domain)
            .and_then(|d| d.strip_suffix(".interop."))
            .filter(|p| {
                !p.is_empty()
                    && p.len() <= 32
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        match provider {
            Some(p) => Origin::ThirdParty {
                provider: p.to_owned(),
            },
            None => Origin::Elsewhere,
        }
    }

    /// The provider, for third-party users; `None` for the hub's own network.
    pub fn network(&self) -> Option<&str> {
        match self {
            Origin::ThirdParty { provider } => Some(provider),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
