//! Gateway tests without a provider: the circuit breaker and push coalescing against an
//! endpoint where nothing listens.

use std::sync::Arc;
use std::time::Duration;

use super::Gateway;
use super::client::CallError;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::interop::{Enlistment, InteropStore, Provider, ProviderStatus};
use crate::store::sqlite::SqliteStore;

fn counter(m: &Metrics, call: &str, outcome: &str) -> String {
    let text = m.render();
    let needle = format!("portico_interop_total{{call=\"{call}\",outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .unwrap_or("0")
        .to_owned()
}

async fn gateway(dir: &std::path::Path) -> (Arc<Gateway>, Arc<Metrics>, Provider) {
    let mut config = Config {
        data_dir: dir.to_owned(),
        ..Config::default()
    };
    config.interop.breaker_failures = 2;
    config.interop.breaker_open_secs = 60;
    config.interop.push_max_attempts = 3;
    config.interop.push_backoff_initial_ms = 10;
    config.interop.provider_timeout_ms = 2000;
    let store = Arc::new(SqliteStore::open(&dir.join("db.sqlite3"), 8).expect("store"));
    // Port 1 on loopback: connections are refused at once.
    let provider = Provider {
        id: "birdy".into(),
        domain: "birdy.example".into(),
        endpoint: "https://127.0.0.1:1".into(),
        public_key: vec![0; 32],
        media_origins: Vec::new(),
        ca_pem: crate::tls::load_identity(&config)
            .map(|_| std::fs::read_to_string(dir.join("tls-cert.pem")).unwrap_or_default())
            .unwrap_or_default(),
        limits: Default::default(),
        status: ProviderStatus::Active,
    };
    store.add_provider(provider.clone()).await.expect("add");
    let metrics = Arc::new(Metrics::new());
    let gw = Gateway::new(config, store, metrics.clone()).expect("gateway");
    (gw, metrics, provider)
}

#[tokio::test]
async fn the_breaker_opens_after_repeated_failures_and_stops_calling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gw, metrics, provider) = gateway(dir.path()).await;
    for _ in 0..2 {
        let e = gw.call(&provider, "/auth", b"{}".to_vec()).await;
        assert!(matches!(e, Err(CallError::Connect { .. })), "{e:?}");
    }
    assert_eq!(counter(&metrics, "breaker", "opened"), "1");
    let e = gw.call(&provider, "/auth", b"{}".to_vec()).await;
    assert!(matches!(e, Err(CallError::CircuitOpen(2))), "{e:?}");
    assert!(
        e.err()
            .is_some_and(|e| e.to_string().contains("interop.breaker_failures"))
    );
}

#[tokio::test]
async fn pushes_for_one_device_are_coalesced_retried_and_given_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gw, metrics, _) = gateway(dir.path()).await;
    let account = "abc@birdy.interop.localhost";
    gw.store
        .enlist(
            Enlistment {
                provider: "birdy".into(),
                visible_id: "bob@birdy.example".into(),
                account: account.into(),
                identity_key: vec![5; 33],
                registration_id: 1,
                credential_hash: vec![0; 32],
            },
            6,
        )
        .await
        .expect("enlist");
    // First-party accounts are never pushed.
    gw.offline("alice", 1);
    for _ in 0..3 {
        gw.offline(account, 1);
    }
    assert_eq!(counter(&metrics, "push", "coalesced"), "2");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while counter(&metrics, "push", "given-up") == "0" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            metrics.render()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One push (three messages) with its attempts: two failed calls open the breaker, the
    // third attempt is refused by it without a call.
    assert_eq!(counter(&metrics, "push", "given-up"), "1");
    assert_eq!(counter(&metrics, "push", "retry"), "2");
    assert_eq!(counter(&metrics, "push", "circuit-open"), "1");
    assert!(gw.push_slots.lock().expect("lock").is_empty());
}
