//! Prometheus metrics: connections, stanzas in and out, queue depth, delivery latency and
//! rejections by reason, rendered in the OpenMetrics text format at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Label of the rejection counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Short machine name of why something was refused (e.g. `not-authorized`).
    pub reason: String,
}

/// Labels of the provider-gateway counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InteropLabel {
    /// What: `enlist`, `login`, `auth`, `push`, `breaker`, `suspension`, `revocation`.
    pub call: String,
    /// How it ended (e.g. `ok`, `denied`, `unreachable`, `delivered`, `retry`, a problem slug).
    pub outcome: String,
}

/// Every metric the hub exports.
pub struct Metrics {
    registry: Registry,
    /// Open client connections.
    pub connections: Gauge,
    /// Stanzas received from clients.
    pub stanzas_in: Counter,
    /// Stanzas sent to clients.
    pub stanzas_out: Counter,
    /// Messages waiting in device queues.
    pub queue_depth: Gauge,
    /// Seconds from the hub accepting a message to the device acknowledging it.
    pub delivery_latency: Histogram,
    /// Refusals by reason.
    pub rejections: Family<ReasonLabel, Counter>,
    /// Provider-gateway events (enlistments, logins, provider calls) by outcome.
    pub interop: Family<InteropLabel, Counter>,
    /// Media uploads, storage and the media proxy (`portico_media_*`).
    pub media: crate::media::metrics::MediaMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("portico");
        let connections = Gauge::default();
        let stanzas_in = Counter::default();
        let stanzas_out = Counter::default();
        let queue_depth = Gauge::default();
        let delivery_latency = Histogram::new([
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0,
        ]);
        let rejections = Family::<ReasonLabel, Counter>::default();
        let interop = Family::<InteropLabel, Counter>::default();
        registry.register(
            "interop",
            "Provider gateway: enlistments, third-party logins, provider auth and push calls, by outcome",
            interop.clone(),
        );
        registry.register(
            "connections",
            "Open client connections",
            connections.clone(),
        );
        registry.register(
            "stanzas_in",
            "Stanzas received from clients",
            stanzas_in.clone(),
        );
        registry.register(
            "stanzas_out",
            "Stanzas sent to clients",
            stanzas_out.clone(),
        );
        registry.register(
            "queue_depth",
            "Messages waiting in device queues",
            queue_depth.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "Time from the hub accepting a message to the recipient device acknowledging it",
            delivery_latency.clone(),
        );
        registry.register(
            "rejections",
            "Refused logins, stanzas and connections by reason",
            rejections.clone(),
        );
        let media = crate::media::metrics::MediaMetrics::default();
        media.register(&mut registry);
        Self {
            registry,
            connections,
            stanzas_in,
            stanzas_out,
            queue_depth,
            delivery_latency,
            rejections,
            interop,
            media,
        }
    }

    /// Counts one provider-gateway event.
    pub fn interop(&self, call: &str, outcome: &str) {
        self.interop
            .get_or_create(&InteropLabel {
                call: call.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one refusal.
    pub fn reject(&self, reason: &str) {
        self.rejections
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric() {
        let m = Metrics::new();
        m.connections.inc();
        m.reject("rate-limit");
        m.delivery_latency.observe(0.002);
        let text = m.render();
        for name in [
            "portico_connections 1",
            "portico_stanzas_in_total 0",
            "portico_stanzas_out_total 0",
            "portico_queue_depth 0",
            "portico_delivery_latency_seconds_bucket",
            "portico_rejections_total{reason=\"rate-limit\"} 1",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
