//! The `[interop]` settings: provider gateway knobs (enlistment, provider auth, push,
//! suspension). Every one has a default and a `PORTICO_INTEROP_…` environment override.

use serde::{Deserialize, Serialize};

/// Provider-gateway settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InteropConfig {
    /// Let a third-party device log in when its provider's `/auth` cannot be reached (the
    /// default refuses: fail-closed).
    pub auth_fail_open: bool,
    /// Milliseconds the hub waits for a provider's `/auth` or `/push` answer.
    pub provider_timeout_ms: u32,
    /// Most seconds an `/auth` answer is reused (the provider's `cache_seconds` is capped by
    /// this).
    pub auth_cache_max_secs: u32,
    /// Seconds between re-checks of a connected third-party session with its provider's
    /// `/auth`; a user the provider revoked is disconnected.
    pub auth_recheck_secs: u32,
    /// Milliseconds between reads of the provider registry by the running hub (how soon a
    /// suspension made by `portico admin provider suspend` drops the provider's sessions).
    pub registry_poll_ms: u32,
    /// Longest lifetime (`exp - iat`) of an identity assertion, in seconds.
    pub assertion_max_lifetime_secs: u32,
    /// Clock skew tolerated on assertion and signed-request times, in seconds.
    pub clock_skew_secs: u32,
    /// Enlistments one client address may make per minute (sustained).
    pub enlist_per_address_per_minute: u32,
    /// Enlistments the users of one provider may make per minute (sustained).
    pub enlist_per_provider_per_minute: u32,
    /// Enlistments above the sustained rate allowed in a burst (per address and per provider).
    pub enlist_burst: u32,
    /// Most delivery attempts of one push before it is given up.
    pub push_max_attempts: u32,
    /// Milliseconds before the first push retry; doubled after each failure.
    pub push_backoff_initial_ms: u32,
    /// Longest wait between push retries, in milliseconds.
    pub push_backoff_max_ms: u32,
    /// Consecutive failed calls to a provider after which its circuit breaker opens.
    pub breaker_failures: u32,
    /// Seconds an open circuit breaker stays open before one trial call is let through.
    pub breaker_open_secs: u32,
}

impl Default for InteropConfig {
    fn default() -> Self {
        Self {
            auth_fail_open: false,
            provider_timeout_ms: 5000,
            auth_cache_max_secs: 300,
            auth_recheck_secs: 30,
            registry_poll_ms: 250,
            assertion_max_lifetime_secs: 600,
            clock_skew_secs: 60,
            enlist_per_address_per_minute: 30,
            enlist_per_provider_per_minute: 600,
            enlist_burst: 10,
            push_max_attempts: 6,
            push_backoff_initial_ms: 500,
            push_backoff_max_ms: 60_000,
            breaker_failures: 5,
            breaker_open_secs: 30,
        }
    }
}

impl InteropConfig {
    /// The first setting that is out of range: its key and what is wrong.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let positive = [
            ("interop.provider_timeout_ms", self.provider_timeout_ms),
            ("interop.auth_recheck_secs", self.auth_recheck_secs),
            ("interop.registry_poll_ms", self.registry_poll_ms),
            (
                "interop.assertion_max_lifetime_secs",
                self.assertion_max_lifetime_secs,
            ),
            (
                "interop.enlist_per_address_per_minute",
                self.enlist_per_address_per_minute,
            ),
            (
                "interop.enlist_per_provider_per_minute",
                self.enlist_per_provider_per_minute,
            ),
            ("interop.enlist_burst", self.enlist_burst),
            ("interop.push_max_attempts", self.push_max_attempts),
            (
                "interop.push_backoff_initial_ms",
                self.push_backoff_initial_ms,
            ),
            ("interop.push_backoff_max_ms", self.push_backoff_max_ms),
            ("interop.breaker_failures", self.breaker_failures),
            ("interop.breaker_open_secs", self.breaker_open_secs),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        if self.assertion_max_lifetime_secs > 600 {
            return Err((
                "interop.assertion_max_lifetime_secs",
                "must be at most 600 (assertions live at most 10 minutes)".into(),
            ));
        }
        Ok(())
    }
}
