//! Prometheus metrics of the media service, registered into the hub's registry by
//! [`crate::metrics::Metrics::new`] and rendered at `/metrics`:
//!
//! - `portico_media_uploads_total{outcome}`: PUTs into upload slots, `stored` or the refusal's
//!   problem type (`too-large`, `size-mismatch`, `slot-unknown`, …);
//! - `portico_media_uploaded_bytes_total` and `portico_media_stored_bytes` (bytes of live blobs,
//!   counting down as they expire);
//! - `portico_media_proxy_fetches_total{outcome}`: proxied downloads that reached the origin and
//!   started streaming, by how they ended (`ok`, `too-large`, `origin-timeout`, `origin-error`,
//!   `client-gone`);
//! - `portico_media_proxy_refusals_total{reason}`: proxy requests refused with a problem
//!   document, by its type (`origin-not-registered`, `private-address`, `too-large`, …);
//! - `portico_media_proxied_bytes_total`: bytes relayed to clients;
//! - `portico_media_quota_refusals_total{limit}`: requests refused by a per-user limit
//!   (`upload-quota`, `upload-rate`, `proxy-rate`, `proxy-concurrency`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label: how something ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `ok`/`stored`, or a problem type slug.
    pub outcome: String,
}

/// Label: why the proxy refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The problem type slug.
    pub reason: String,
}

/// Label: which per-user limit refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabel {
    /// `upload-quota`, `upload-rate`, `proxy-rate` or `proxy-concurrency`.
    pub limit: String,
}

/// The media counters; cloning shares them (every clone counts into the same series).
#[derive(Clone, Debug, Default)]
pub struct MediaMetrics {
    /// Uploads by outcome.
    pub uploads: Family<OutcomeLabel, Counter>,
    /// Bytes stored by successful uploads.
    pub uploaded_bytes: Counter,
    /// Bytes of live blobs.
    pub stored_bytes: Gauge,
    /// Proxied downloads that started streaming, by outcome.
    pub proxy_fetches: Family<OutcomeLabel, Counter>,
    /// Proxy refusals by reason.
    pub proxy_refusals: Family<ReasonLabel, Counter>,
    /// Bytes the proxy relayed.
    pub proxied_bytes: Counter,
    /// Refusals by per-user limit.
    pub quota_refusals: Family<LimitLabel, Counter>,
}

impl MediaMetrics {
    /// Registers every series under `media_` in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("media");
        r.register(
            "uploads",
            "Uploads into media slots, by outcome (stored, or the refusal's problem type)",
            self.uploads.clone(),
        );
        r.register(
            "uploaded_bytes",
            "Bytes stored by successful uploads",
            self.uploaded_bytes.clone(),
        );
        r.register(
            "stored_bytes",
            "Bytes of media blobs held (uploaded and not yet expired)",
            self.stored_bytes.clone(),
        );
        r.register(
            "proxy_fetches",
            "Proxied downloads that started streaming, by how they ended",
            self.proxy_fetches.clone(),
        );
        r.register(
            "proxy_refusals",
            "Media proxy requests refused with a problem document, by its type",
            self.proxy_refusals.clone(),
        );
        r.register(
            "proxied_bytes",
            "Bytes the media proxy relayed to clients",
            self.proxied_bytes.clone(),
        );
        r.register(
            "quota_refusals",
            "Media requests refused by a per-user limit, by limit",
            self.quota_refusals.clone(),
        );
    }

    /// Counts one upload ending with `outcome`.
    pub fn upload(&self, outcome: &str) {
        self.uploads
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one proxied download ending with `outcome`.
    pub fn proxy_fetch(&self, outcome: &str) {
        self.proxy_fetches
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one proxy refusal.
    pub fn proxy_refusal(&self, reason: &str) {
        self.proxy_refusals
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts one refusal by the per-user `limit`.
    pub fn quota_refusal(&self, limit: &str) {
        self.quota_refusals
            .get_or_create(&LimitLabel {
                limit: limit.to_owned(),
            })
            .inc();
    }

    /// Adds (or with a negative `delta`, removes) stored bytes.
    pub fn stored(&self, delta: i64) {
        self.stored_bytes.inc_by(delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_renders_under_portico_media() {
        let m = MediaMetrics::default();
        let mut registry = Registry::with_prefix("portico");
        m.register(&mut registry);
        m.upload("stored");
        m.uploaded_bytes.inc_by(300);
        m.stored(300);
        m.stored(-100);
        m.proxy_fetch("too-large");
        m.proxy_refusal("private-address");
        m.proxied_bytes.inc_by(42);
        m.quota_refusal("upload-quota");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("render");
        for line in [
            "portico_media_uploads_total{outcome=\"stored\"} 1",
            "portico_media_uploaded_bytes_total 300",
            "portico_media_stored_bytes 200",
            "portico_media_proxy_fetches_total{outcome=\"too-large\"} 1",
            "portico_media_proxy_refusals_total{reason=\"private-address\"} 1",
            "portico_media_proxied_bytes_total 42",
            "portico_media_quota_refusals_total{limit=\"upload-quota\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
