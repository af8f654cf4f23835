//! `portico serve` and `portico admin user …` end to end: the real binary, real TLS.

mod common;

use common::{Hub, admin, https_get};

#[tokio::test]
async fn serve_answers_healthz_and_metrics_over_https_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(dir.path(), &[]);
    assert!(
        hub.cert().exists(),
        "a self-signed certificate is created on first start"
    );

    let (status, ctype, body) = https_get(hub.http, &hub.cert(), "/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("application/json"), "{ctype}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");

    let (status, _, body) = https_get(hub.http, &hub.cert(), "/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "portico_connections",
        "portico_queue_depth",
        "portico_delivery_latency_seconds",
        "portico_stanzas_in_total",
    ] {
        assert!(body.contains(name), "metric {name} missing:\n{body}");
    }

    let (status, ctype, body) = https_get(hub.http, &hub.cert(), "/nope").await;
    assert_eq!(status, 404);
    assert_eq!(ctype, "application/problem+json");
    assert!(
        body.contains("\"status\":404") && body.contains("/nope"),
        "{body}"
    );

    let cert_before = std::fs::read(hub.cert()).expect("cert");
    let status = hub.terminate();
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");

    let hub = Hub::start(dir.path(), &[]);
    assert_eq!(
        std::fs::read(hub.cert()).expect("cert"),
        cert_before,
        "the certificate is reused"
    );
    let (status, _, _) = https_get(hub.http, &hub.cert(), "/healthz").await;
    assert_eq!(status, 200);
}

#[test]
fn bad_configuration_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::portico()
        .arg("serve")
        .arg("--data")
        .arg(dir.path())
        .env("PORTICO_QUEUE_TTL_DAYS", "forever")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PORTICO_QUEUE_TTL_DAYS") && err.contains("queue.ttl_days"),
        "{err}"
    );
}

#[test]
fn admin_user_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let (ok, out) = admin(data, &["add", "alice", "--password", "correct horse"]);
    assert!(ok, "{out}");
    assert!(out.contains("added alice@localhost"), "{out}");
    let (ok, out) = admin(data, &["add", "alice", "--password", "correct horse"]);
    assert!(!ok);
    assert!(out.contains("exists already"), "{out}");
    let (ok, out) = admin(data, &["add", "Bob Smith", "--password", "correct horse"]);
    assert!(!ok);
    assert!(out.contains("not a valid account name"), "{out}");
    let (ok, _) = admin(data, &["add", "bob", "--password", "battery staple"]);
    assert!(ok);
    let (ok, out) = admin(data, &["list"]);
    assert!(ok);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "alice@localhost\tdevices=0\tqueued=0",
            "bob@localhost\tdevices=0\tqueued=0"
        ]
    );
    let (ok, out) = admin(
        data,
        &["reset-password", "alice", "--password", "tr0ub4dor&3"],
    );
    assert!(ok, "{out}");
    let (ok, out) = admin(
        data,
        &["reset-password", "carol", "--password", "tr0ub4dor&3"],
    );
    assert!(!ok);
    assert!(out.contains("no account is named \"carol\""), "{out}");
    let (ok, _) = admin(data, &["remove", "bob"]);
    assert!(ok);
    let (_, out) = admin(data, &["list"]);
    assert_eq!(out.lines().count(), 1, "{out}");
}
