//! Token buckets and a bounded map of them keyed by sender, pair, provider or address.
//!
//! Time comes in as Unix milliseconds (sans-IO). A bucket left idle long enough to be full
//! again is the same as a fresh one, so evicting it loses nothing; when the map is at its
//! bound with no such bucket, the least recently used tenth goes (those senders start again
//! with a full bucket, which fails open for them rather than refusing everyone new).

use std::collections::HashMap;
use std::hash::Hash;

/// How fast a bucket refills and how much it holds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Tokens (messages) the bucket holds when full: the burst.
    pub burst: u32,
    /// Tokens added per minute.
    pub per_minute: u32,
}

impl Rate {
    fn per_ms(self) -> f64 {
        f64::from(self.per_minute) / 60_000.0
    }

    /// Milliseconds an empty bucket needs to fill up.
    pub fn fill_ms(self) -> u64 {
        if self.per_minute == 0 {
            return u64::MAX;
        }
        (f64::from(self.burst) / self.per_ms()).ceil() as u64
    }
}

/// The names `portico admin provider add --limit NAME=VALUE` knows.
pub const PROVIDER_LIMITS: [&str; 2] = ["messages_per_minute", "messages_burst"];

/// The message rate an operator registered for one provider, from its named limits
/// ([`PROVIDER_LIMITS`]); `None` when it registered neither, so `default` (the
/// `[policy] provider` rate) applies. With only a per-minute rate, the burst is one minute's
/// worth; with only a burst, the refill is `default`'s.
pub fn provider_rate(
    limits: &std::collections::BTreeMap<String, u64>,
    default: Rate,
) -> Option<Rate> {
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let per_minute = limits.get(PROVIDER_LIMITS[0]).map(|v| clamp(*v));
    let burst = limits.get(PROVIDER_LIMITS[1]).map(|v| clamp(*v));
    match (per_minute, burst) {
        (None, None) => None,
        (Some(per_minute), burst) => Some(Rate {
            burst: burst.unwrap_or(per_minute),
            per_minute,
        }),
        (None, Some(burst)) => Some(Rate {
            burst,
            per_minute: default.per_minute,
        }),
    }
}

/// One token bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(rate: Rate, now_ms: u64) -> Self {
        TokenBucket {
            tokens: f64::from(rate.burst),
            last_ms: now_ms,
        }
    }

    /// Tokens available at `now_ms` (never more than the burst; time going backwards adds
    /// nothing).
    pub fn available(&self, rate: Rate, now_ms: u64) -> f64 {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64;
        (self.tokens + elapsed * rate.per_ms()).min(f64::from(rate.burst))
    }

    /// Seconds until one token is available (0 if one is now).
    pub fn retry_after_secs(&self, rate: Rate, now_ms: u64) -> u64 {
        let have = self.available(rate, now_ms);
        if have >= 1.0 {
            return 0;
        }
        if rate.per_minute == 0 {
            return u64::MAX;
        }
        (((1.0 - have) / rate.per_ms()) / 1000.0).ceil().max(1.0) as u64
    }

    /// Takes one token if there is one; otherwise leaves the bucket as it was.
    pub fn take(&mut self, rate: Rate, now_ms: u64) -> bool {
        let have = self.available(rate, now_ms);
        if have < 1.0 {
            return false;
        }
        self.tokens = have - 1.0;
        self.last_ms = self.last_ms.max(now_ms);
        true
    }

    /// Whether the bucket has been idle long enough to be full again.
    fn is_full(&self, rate: Rate, now_ms: u64) -> bool {
        self.available(rate, now_ms) >= f64::from(rate.burst)
    }
}

/// Buckets by key, at most `max` of them.
#[derive(Debug)]
pub struct BucketMap<K> {
    rate: Rate,
    max: usize,
    buckets: HashMap<K, TokenBucket>,
    /// Keys with a rate of their own (a provider registered with its own limits).
    own_rates: HashMap<K, Rate>,
}

impl<K: Hash + Eq + Clone> BucketMap<K> {
    /// An empty map of buckets refilling at `rate`, holding at most `max` (≥ 1).
    pub fn new(rate: Rate, max: usize) -> Self {
        BucketMap {
            rate,
            max: max.max(1),
            buckets: HashMap::new(),
            own_rates: HashMap::new(),
        }
    }

    /// The rate in force for keys without one of their own.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// The rate in force for `key`.
    pub fn rate_of(&self, key: &K) -> Rate {
        self.own_rates.get(key).copied().unwrap_or(self.rate)
    }

    /// Gives `key` a rate of its own (`None`: back to the map's rate). A bucket already
    /// holding more tokens than the new burst is cut down to it.
    pub fn set_rate(&mut self, key: &K, rate: Option<Rate>) {
        if self.own_rates.get(key).copied() == rate {
            return;
        }
        match rate {
            Some(r) => {
                self.own_rates.insert(key.clone(), r);
            }
            None => {
                self.own_rates.remove(key);
            }
        }
        let burst = f64::from(self.rate_of(key).burst);
        if let Some(b) = self.buckets.get_mut(key) {
            b.tokens = b.tokens.min(burst);
        }
    }

    /// Tracked keys.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Seconds until `key` may take a token (0: now). Changes nothing.
    pub fn retry_after_secs(&self, key: &K, now_ms: u64) -> u64 {
        self.buckets
            .get(key)
            .map_or(0, |b| b.retry_after_secs(self.rate_of(key), now_ms))
    }

    /// Takes a token for `key`; `false` if its bucket is empty.
    pub fn take(&mut self, key: &K, now_ms: u64) -> bool {
        if !self.buckets.contains_key(key) {
            if self.buckets.len() >= self.max {
                self.evict(now_ms);
            }
            self.buckets
                .insert(key.clone(), TokenBucket::full(self.rate_of(key), now_ms));
        }
        let rate = self.rate_of(key);
        self.buckets
            .get_mut(key)
            .is_some_and(|b| b.take(rate, now_ms))
    }

    /// Drops buckets that are full again; if that frees nothing much, the least recently
    /// used tenth as well.
    fn evict(&mut self, now_ms: u64) {
        let (rate, own) = (self.rate, &self.own_rates);
        self.buckets
            .retain(|k, b| !b.is_full(own.get(k).copied().unwrap_or(rate), now_ms));
        if self.buckets.len() >= self.max {
            let mut ages: Vec<u64> = self.buckets.values().map(|b| b.last_ms).collect();
            let cut_at = (self.max / 10).max(1).min(ages.len() - 1);
            let (_, cut, _) = ages.select_nth_unstable(cut_at);
            let cut = *cut;
            self.buckets.retain(|_, b| b.last_ms > cut);
        }
    }

    /// Drops every bucket idle for `idle_ms` or full again (call now and then).
    pub fn sweep(&mut self, now_ms: u64, idle_ms: u64) {
        let (rate, own) = (self.rate, &self.own_rates);
        self.buckets.retain(|k, b| {
            now_ms.saturating_sub(b.last_ms) < idle_ms
                && !b.is_full(own.get(k).copied().unwrap_or(rate), now_ms)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const R: Rate = Rate {
        burst: 3,
        per_minute: 60,
    };

    #[test]
    fn provider_limits_name_a_rate() {
        let limits = |pairs: &[(&str, u64)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        assert_eq!(provider_rate(&limits(&[]), R), None);
        assert_eq!(
            provider_rate(&limits(&[("messages_per_minute", 600)]), R),
            Some(Rate {
                burst: 600,
                per_minute: 600
            })
        );
        assert_eq!(
            provider_rate(&limits(&[("messages_burst", 5)]), R),
            Some(Rate {
                burst: 5,
                per_minute: 60
            })
        );
        assert_eq!(
            provider_rate(
                &limits(&[("messages_per_minute", 6), ("messages_burst", 2)]),
                R
            ),
            Some(Rate {
                burst: 2,
                per_minute: 6
            })
        );
    }

    #[test]
    fn a_key_with_its_own_rate_gets_its_burst_not_the_maps() {
        let mut m = BucketMap::new(R, 10);
        let slow = Rate {
            burst: 1,
            per_minute: 1,
        };
        m.set_rate(&"birdy", Some(slow));
        assert!(m.take(&"birdy", 0));
        assert!(!m.take(&"birdy", 0));
        assert_eq!(m.retry_after_secs(&"birdy", 0), 60);
        // Others keep the map's burst of 3.
        assert!((0..3).all(|_| m.take(&"other", 0)));
        // Back to the map's rate: the bucket refills at one a second again.
        m.set_rate(&"birdy", None);
        assert_eq!(m.retry_after_secs(&"birdy", 0), 1);
    }

    #[test]
    fn burst_then_one_per_second() {
        let mut b = TokenBucket::full(R, 0);
        assert!(b.take(R, 0) && b.take(R, 0) && b.take(R, 0));
        assert!(!b.take(R, 0), "burst of 3 spent");
        assert_eq!(b.retry_after_secs(R, 0), 1);
        assert!(!b.take(R, 999));
        assert!(b.take(R, 1000), "one token a second at 60/min");
        assert!(!b.take(R, 1500));
        // Long idle refills only up to the burst.
        assert!((b.available(R, 1_000_000) - 3.0).abs() < 1e-9);
        assert_eq!(R.fill_ms(), 3000);
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let mut b = TokenBucket::full(R, 10_000);
        for _ in 0..3 {
            assert!(b.take(R, 10_000));
        }
        assert!(!b.take(R, 5_000));
        assert!(!b.take(R, 10_000));
    }

    #[test]
    fn map_is_bounded_and_evicts_idle_buckets_first() {
        let mut m = BucketMap::new(R, 10);
        for k in 0..10u32 {
            assert!(m.take(&k, 0));
        }
        // Key 0 is drained; everyone else becomes full again by 10 s.
        assert!(m.take(&0, 0) && m.take(&0, 0) && !m.take(&0, 0));
        for k in 1..10u32 {
            assert!(m.take(&k, 9_000));
        }
        assert!(m.take(&100, 9_500));
        assert!(m.len() <= 10);
        // Under a flood of new keys the map stays bounded.
        for k in 1000..5000u32 {
            m.take(&k, 9_600);
            assert!(m.len() <= 10);
        }
        m.sweep(1_000_000, 60_000);
        assert!(m.is_empty());
    }

    proptest! {
        #[test]
        fn never_above_capacity_and_refill_math_holds(
            burst in 1u32..50,
            per_minute in 1u32..100_000,
            steps in proptest::collection::vec((0u64..5_000, any::<bool>()), 1..200),
        ) {
            let rate = Rate { burst, per_minute };
            let mut b = TokenBucket::full(rate, 0);
            let mut now = 0u64;
            let mut taken = 0u64;
            for (dt, take) in steps {
                now += dt;
                let before = b.available(rate, now);
                prop_assert!(before <= f64::from(burst) + 1e-9);
                prop_assert!(before >= -1e-9);
                if take {
                    let ok = b.take(rate, now);
                    prop_assert_eq!(ok, before >= 1.0);
                    if ok {
                        taken += 1;
                        prop_assert!((b.available(rate, now) - (before - 1.0)).abs() < 1e-6);
                    }
                    if !ok {
                        // The wait it announces is enough, and not more than a second too long.
                        let wait = b.retry_after_secs(rate, now);
                        prop_assert!(b.available(rate, now + wait * 1000) >= 1.0 - 1e-9);
                        if wait > 1 {
                            prop_assert!(b.available(rate, now + (wait - 1) * 1000) < 1.0);
                        }
                    }
                }
            }
            // Never more than the burst plus what the elapsed time refilled.
            let bound = f64::from(burst) + now as f64 * f64::from(per_minute) / 60_000.0;
            prop_assert!(taken as f64 <= bound + 1e-6);
        }
    }
}
