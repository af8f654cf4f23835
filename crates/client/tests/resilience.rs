//! What keeps a client working over time, through a real hub: prekey refills when the hub
//! reports low stock, reconnecting (and resending) after the hub restarts, and the specific
//! error for a device the hub does not know, and stopping (not retrying forever) when the hub
//! refuses the device on reconnect.

mod common;

use std::time::Duration;

use common::{T, TestHub, wait_delivered, wait_for, wait_text};

use portico_client::{ClientError, ConnectOptions, Connection, Event, Transport, Trust};
use portico_stanza::Jid;

fn jid(s: &str) -> Jid {
    Jid::parse(s).expect("jid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_prekey_stock_is_refilled_to_a_full_batch() {
    // Every fetch brings the stock under the threshold.
    let hub = TestHub::start(
        &["alice", "bob"],
        &[("PORTICO_LIMITS_LOW_PREKEY_THRESHOLD", "100")],
    )
    .await;
    let mut alice = hub.open("alice", "alice").await;
    let mut bob = hub.open("bob", "bob").await;
    assert_eq!(bob.key_stock().await.expect("count"), (100, 100));

    // Alice's first message takes one EC and one Kyber prekey of Bob's.
    let id = alice
        .send_text(&jid("bob@localhost"), "hi")
        .await
        .expect("send");
    // The message and the refill both happen, in either order.
    let (mut got_text, mut refilled) = (false, None);
    while !got_text || refilled.is_none() {
        let ev = wait_for(&mut bob, "the message and the refill", |_| true).await;
        got_text |= common::text_of(&ev) == Some("hi");
        if matches!(ev, Event::KeysRefilled { .. }) {
            refilled = Some(ev);
        }
    }
    assert_eq!(refilled, Some(Event::KeysRefilled { ec: 1, kyber: 1 }));
    assert_eq!(bob.key_stock().await.expect("count"), (100, 100));
    wait_delivered(&mut alice, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reconnect_after_the_hub_restarts_and_messages_flow_again() {
    let mut hub = TestHub::start(&["alice", "bob"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let mut bob = hub.open("bob", "bob").await;
    alice
        .send_text(&jid("bob@localhost"), "before the restart")
        .await
        .expect("send");
    wait_text(&mut bob, "before the restart").await;

    hub.restart().await;
    for c in [&mut alice, &mut bob] {
        wait_for(c, "the disconnect", |e| {
            matches!(e, Event::Disconnected { .. })
        })
        .await;
        // The old hub may take one more resume while it shuts down; in the end the new hub,
        // which knows no parked stream, binds the device again.
        wait_for(c, "a fresh bind on the new hub", |e| {
            matches!(e, Event::Reconnected { resumed: false })
        })
        .await;
    }
    let id = alice
        .send_text(&jid("bob@localhost"), "after the restart")
        .await
        .expect("send");
    wait_text(&mut bob, "after the restart").await;
    wait_delivered(&mut alice, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_a_device_the_hub_does_not_know_is_a_specific_error() {
    let hub = TestHub::start(&["alice"], &[]).await;
    let opts = ConnectOptions {
        addr: hub.tls.to_string(),
        domain: "localhost".into(),
        user: "alice".into(),
        password: common::password("alice").into(),
        transport: Transport::DirectTls,
        trust: Trust::Pin(hub.pin.clone()),
        device: Some(9),
        resume: None,
        ping_interval: Duration::from_secs(30),
        timeout: T,
    };
    match Connection::open(&opts).await {
        Err(ClientError::UnknownDevice { device }) => assert_eq!(device, 9),
        other => panic!("expected UnknownDevice, got {other:?}"),
    }
    // A new device is registered when none is asked for.
    let fresh = Connection::open(&ConnectOptions {
        device: None,
        ..opts
    })
    .await
    .expect("register a device");
    assert_eq!(fresh.jid.to_string(), "alice@localhost/1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_device_is_dropped_from_the_device_set_and_sending_goes_on() {
    let mut hub = TestHub::start(&["alice", "bob"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let mut bob1 = hub.open("bob", "bob-phone").await;
    let mut bob2 = hub.open("bob", "bob-old-laptop").await;
    let old = bob2.device_id();
    alice
        .send_text(&jid("bob@localhost"), "to both")
        .await
        .expect("send");
    wait_text(&mut bob1, "to both").await;
    wait_text(&mut bob2, "to both").await;
    bob2.close().await;

    // Bob's laptop is retired; Alice still has a session with it and learns it is stale.
    hub.restart_removing(Some(("bob", old))).await;
    wait_for(&mut alice, "the reconnect", |e| {
        matches!(e, Event::Reconnected { .. })
    })
    .await;
    wait_for(&mut bob1, "the reconnect", |e| {
        matches!(e, Event::Reconnected { .. })
    })
    .await;
    let id = alice
        .send_text(&jid("bob@localhost"), "only the phone now")
        .await
        .expect("send");
    wait_text(&mut bob1, "only the phone now").await;
    common::wait_sent_and_delivered(&mut alice, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_link_is_resumed_and_nothing_is_lost() {
    let hub = TestHub::start(&["alice", "bob"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let mut bob = hub.open("bob", "bob").await;
    alice
        .send_text(&jid("bob@localhost"), "before")
        .await
        .expect("send");
    wait_text(&mut bob, "before").await;

    // The hub parks the dropped stream; the client resumes it. (Should the reconnect beat
    // the hub's bookkeeping, the client binds afresh; try a few drops before failing.)
    let mut resumed = false;
    for _ in 0..5 {
        bob.simulate_network_loss();
        let back = wait_for(&mut bob, "the reconnect", |e| {
            matches!(e, Event::Reconnected { .. })
        })
        .await;
        if back == (Event::Reconnected { resumed: true }) {
            resumed = true;
            break;
        }
    }
    assert!(resumed, "the hub never resumed the dropped stream");
    let id = alice
        .send_text(&jid("bob@localhost"), "after")
        .await
        .expect("send");
    wait_text(&mut bob, "after").await;
    wait_delivered(&mut alice, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_prekey_rotates_and_messages_under_the_old_one_still_decrypt() {
    let hub = TestHub::start(&["alice", "bob", "carol"], &[]).await;
    hub.open("alice", "alice").await.close().await;
    // Bob starts a session while Alice is away: his first message uses her first signed
    // prekey and waits in her queue.
    let bob = hub.open("bob", "bob").await;
    bob.send_text(&jid("alice@localhost"), "sent under the old key")
        .await
        .expect("send");
    // Alice comes back with a rotation age of zero: she publishes a new signed prekey.
    let mut config = hub.config("alice");
    config.signed_prekey_rotation = Duration::ZERO;
    let mut alice = common::open_at(config, &hub.db("alice")).await;
    wait_text(&mut alice, "sent under the old key").await;
    let carol = hub.open("carol", "carol").await;
    carol
        .send_text(&jid("alice@localhost"), "sent under the new key")
        .await
        .expect("send");
    wait_text(&mut alice, "sent under the new key").await;
    let db = rusqlite::Connection::open(hub.db("alice")).expect("db");
    let signed: u32 = db
        .query_row("SELECT COUNT(*) FROM signed_prekeys", [], |r| r.get(0))
        .expect("count");
    assert_eq!(
        signed, 2,
        "the old signed prekey is kept beside the new one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_device_was_removed_stops_with_the_reason_instead_of_retrying() {
    let mut hub = TestHub::start(&["alice"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let device = alice.device_id();
    // The operator retires this device while the hub is down; the reconnect is refused.
    hub.restart_removing(Some(("alice", device))).await;
    let stopped = wait_for(&mut alice, "the client to stop", |e| {
        matches!(e, Event::Stopped { .. })
    })
    .await;
    let Event::Stopped { reason } = stopped else {
        unreachable!("wait_for returns the matching event")
    };
    assert!(
        reason.contains(&format!("does not know device {device}"))
            && reason.contains("new database"),
        "the reason tells the user what happened and what to do: {reason}"
    );
}
