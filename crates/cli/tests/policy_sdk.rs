//! The SDK's policy calls against the `portico` binary over TLS: block, blocklist, unblock
//! and report through `portico_client::Client`, the refusals a sender sees as
//! `Event::SendFailed`, and the report as `portico admin reports list` shows it.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Hub, admin, portico};
use portico_client::{Client, Config, Event, Trust};
use portico_stanza::Jid;
use portico_stanza::stanza::policy::{Evidence, ReportReason};

const PW: &str = "password-of-policy-sdk";

async fn client(hub: &Hub, dir: &Path, user: &str) -> Client {
    let pin = portico_client::fingerprint_of_pem(&hub.cert()).expect("pin");
    let mut config = Config::new(&hub.tls.to_string(), "localhost", user, PW, Trust::Pin(pin));
    config.timeout = Duration::from_secs(30);
    Client::open(config, &dir.join(format!("{user}.db")))
        .await
        .expect("client")
}

/// Waits for the outcome of message `id`: `Ok(())` once the hub queued it, the reason if
/// it was refused.
async fn outcome(c: &mut Client, id: &str) -> Result<(), String> {
    let wait = async {
        while let Some(ev) = c.next_event().await {
            match ev {
                Event::Sent { id: got } if got == id => return Ok(()),
                Event::SendFailed { id: got, reason } if got == id => return Err(reason),
                _ => {}
            }
        }
        Err("the client stopped".to_owned())
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("an outcome in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_unblock_and_report_through_the_sdk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("hub");
    for user in ["alice", "bob"] {
        let (ok, out) = admin(&data, &["add", user, "--password", PW]);
        assert!(ok, "{out}");
    }
    let hub = Hub::start(&data, &[]);
    let mut alice = client(&hub, dir.path(), "alice").await;
    let mut bob = client(&hub, dir.path(), "bob").await;
    let (a, b) = (alice.jid().clone(), bob.jid().clone());

    let id = bob
        .send_text(&a, "hello before any block")
        .await
        .expect("send");
    assert_eq!(outcome(&mut bob, &id).await, Ok(()));

    alice.block(std::slice::from_ref(&b)).await.expect("block");
    assert_eq!(alice.blocklist().await.expect("blocklist"), vec![b.clone()]);
    // The blocker's own message to the blocked contact is refused, saying why.
    let id = alice.send_text(&b, "are you there?").await.expect("send");
    let reason = outcome(&mut alice, &id).await.expect_err("refused");
    assert!(reason.contains("blocked"), "{reason}");
    // The blocked contact's message is refused without a word about the block.
    let id = bob.send_text(&a, "hello again").await.expect("send");
    let reason = outcome(&mut bob, &id).await.expect_err("refused");
    assert!(!reason.contains("block"), "{reason}");

    alice.unblock(&[]).await.expect("unblock all");
    assert!(alice.blocklist().await.expect("blocklist").is_empty());
    let id = bob.send_text(&a, "third try").await.expect("send");
    assert_eq!(outcome(&mut bob, &id).await, Ok(()));

    let evidence = vec![Evidence {
        id: id.as_str().into(),
        stanza_id: None,
        plaintext: Some("third try".into()),
    }];
    alice
        .report(&b, ReportReason::Spam, evidence)
        .await
        .expect("report");
    let nobody = Jid::parse("nobody@localhost").expect("jid");
    alice
        .report(&nobody, ReportReason::Abuse, Vec::new())
        .await
        .expect("report without evidence");
    alice.close().await;
    bob.close().await;

    let out = portico()
        .args(["admin", "reports", "list", "--json", "--data"])
        .arg(&data)
        .env_remove("PORTICO_LOG")
        .output()
        .expect("portico admin reports list");
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["reported"], "nobody@localhost", "newest first");
    assert_eq!(lines[1]["reporter"], "alice");
    assert_eq!(lines[1]["reported"], "bob@localhost");
    assert_eq!(lines[1]["reason"], "spam");
    assert_eq!(lines[1]["evidence"][0]["id"], id.as_str());
    assert_eq!(lines[1]["evidence"][0]["plaintext"], "third try");
}
