//! The SDK end to end through a real hub over real TLS sockets: the stories a user lives.

mod common;

use common::{TestHub, wait_delivered, wait_for, wait_text};
use portico_client::{ClientError, Event, Status, Transport, Trust};
use portico_stanza::Jid;

fn jid(s: &str) -> Jid {
    Jid::parse(s).expect("jid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_message_reply_delivery_and_read_receipts() {
    let hub = TestHub::start(&["alice", "bob"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let mut bob = hub.open("bob", "bob").await;
    assert_eq!(alice.jid().to_string(), "alice@localhost");
    assert_eq!(alice.device_id(), 1);

    let id = alice
        .send_text(&jid("bob@localhost"), "hi Bob")
        .await
        .expect("send");
    let got = wait_text(&mut bob, "hi Bob").await;
    let Event::Message {
        conversation,
        from,
        device,
        id: got_id,
        ..
    } = got
    else {
        unreachable!()
    };
    assert_eq!(
        (
            conversation.to_string(),
            from.to_string(),
            device,
            got_id.as_str()
        ),
        (
            "alice@localhost".into(),
            "alice@localhost".into(),
            1,
            id.as_str()
        )
    );
    common::wait_sent_and_delivered(&mut alice, &id).await;

    let reply = bob
        .send_text(&jid("alice@localhost"), "hello Alice")
        .await
        .expect("reply");
    wait_text(&mut alice, "hello Alice").await;
    wait_delivered(&mut bob, &reply).await;
    alice
        .mark_read(&jid("bob@localhost"), std::slice::from_ref(&reply))
        .await
        .expect("read receipt");
    wait_for(
        &mut bob,
        "the read receipt",
        |e| matches!(e, Event::Read { id: r, .. } if *r == reply),
    )
    .await;

    let log = bob
        .conversation(&jid("alice@localhost"))
        .await
        .expect("log");
    let lines: Vec<(&str, Status)> = log.iter().map(|m| (m.body.as_str(), m.status)).collect();
    assert_eq!(
        lines,
        [("hi Bob", Status::Received), ("hello Alice", Status::Read)]
    );
}

/// The hub pushes a message to online devices before its durable write answers the sender,
/// so the recipient's receipt can overtake the hub's ack (here a long commit window makes
/// sure it does): the sender still gets `Sent`, after `Delivered`, and the logged status
/// stays "delivered".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_ack_still_counts_when_the_receipt_overtakes_it() {
    let hub = TestHub::start(
        &["alice", "bob"],
        &[("PORTICO_QUEUE_GROUP_COMMIT_WAIT_MS", "400")],
    )
    .await;
    let mut alice = hub.open("alice", "alice").await;
    let mut bob = hub.open("bob", "bob").await;
    let id = alice
        .send_text(&jid("bob@localhost"), "quick")
        .await
        .expect("send");
    wait_text(&mut bob, "quick").await;
    let mut order = Vec::new();
    let deadline = tokio::time::Instant::now() + common::T;
    while !order.contains(&"sent") {
        let ev = tokio::time::timeout_at(deadline, alice.next_event())
            .await
            .expect("the hub's ack in time")
            .expect("the client runs");
        match ev {
            Event::Delivered { id: d, .. } if d == id => order.push("delivered"),
            Event::Sent { id: s } if s == id => order.push("sent"),
            _ => {}
        }
    }
    assert_eq!(order, ["delivered", "sent"], "the receipt came first");
    let log = alice
        .conversation(&jid("bob@localhost"))
        .await
        .expect("log");
    assert_eq!(log.last().map(|m| m.status), Some(Status::Delivered));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_device_sees_both_sides_of_the_conversation() {
    let hub = TestHub::start(&["alice", "bob"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let mut bob1 = hub.open("bob", "bob-phone").await;
    let mut bob2 = hub.open("bob", "bob-laptop").await;
    assert_ne!(bob1.device_id(), bob2.device_id());

    alice
        .send_text(&jid("bob@localhost"), "to both of you")
        .await
        .expect("send");
    wait_text(&mut bob1, "to both of you").await;
    wait_text(&mut bob2, "to both of you").await;

    // Bob answers from the phone: the laptop gets the copy, filed under Alice.
    bob1.send_text(&jid("alice@localhost"), "from my phone")
        .await
        .expect("reply");
    wait_text(&mut alice, "from my phone").await;
    let copy = wait_text(&mut bob2, "from my phone").await;
    let Event::Message {
        conversation, from, ..
    } = copy
    else {
        unreachable!()
    };
    assert_eq!(conversation.to_string(), "alice@localhost");
    assert_eq!(from.to_string(), "bob@localhost");
    let log = bob2
        .conversation(&jid("alice@localhost"))
        .await
        .expect("log");
    let bodies: Vec<&str> = log.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["to both of you", "from my phone"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_device_gets_its_messages_when_it_comes_back() {
    let hub = TestHub::start(&["alice", "bob"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let bob = hub.open("bob", "bob").await;
    bob.close().await;

    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        let id = alice
            .send_text(&jid("bob@localhost"), text)
            .await
            .expect("send");
        wait_for(
            &mut alice,
            "the hub's ack",
            |e| matches!(e, Event::Sent { id: s } if *s == id),
        )
        .await;
        ids.push(id);
    }
    let mut bob = hub.open("bob", "bob").await;
    let mut got = Vec::new();
    while got.len() < 3 {
        let ev = wait_for(&mut bob, "queued messages", |e| {
            matches!(e, Event::Message { .. })
        })
        .await;
        got.push(common::text_of(&ev).expect("text").to_owned());
    }
    assert_eq!(got, ["one", "two", "three"], "in order, each once");
    for id in &ids {
        wait_delivered(&mut alice, id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_restarted_from_its_database_continues_the_conversation() {
    let hub = TestHub::start(&["alice", "bob"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let mut bob = hub.open("bob", "bob").await;
    alice
        .send_text(&jid("bob@localhost"), "before")
        .await
        .expect("send");
    wait_text(&mut bob, "before").await;
    bob.send_text(&jid("alice@localhost"), "answer")
        .await
        .expect("send");
    wait_text(&mut alice, "answer").await;
    let device = alice.device_id();
    alice.close().await;

    // Bob writes while Alice is away; Alice restarts from the same database.
    bob.send_text(&jid("alice@localhost"), "while you were away")
        .await
        .expect("send");
    let mut alice = hub.open("alice", "alice").await;
    assert_eq!(alice.device_id(), device, "the same device, not a new one");
    wait_text(&mut alice, "while you were away").await;
    let id = alice
        .send_text(&jid("bob@localhost"), "after")
        .await
        .expect("send");
    wait_text(&mut bob, "after").await;
    wait_delivered(&mut alice, &id).await;
    let log = alice
        .conversation(&jid("bob@localhost"))
        .await
        .expect("log");
    let bodies: Vec<&str> = log.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["before", "answer", "while you were away", "after"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_session_is_recovered_and_the_message_arrives() {
    let hub = TestHub::start(&["alice", "bob"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let mut bob = hub.open("bob", "bob").await;
    alice
        .send_text(&jid("bob@localhost"), "hello")
        .await
        .expect("send");
    wait_text(&mut bob, "hello").await;
    let hi = bob
        .send_text(&jid("alice@localhost"), "hi")
        .await
        .expect("send");
    wait_text(&mut alice, "hi").await;
    // Alice's delivery receipt is the last thing on the old session.
    wait_delivered(&mut bob, &hi).await;

    // Bob loses his session with Alice's device: her next message cannot decrypt.
    bob.forget_session(&jid("alice@localhost"), alice.device_id())
        .await
        .expect("forget");
    let id = alice
        .send_text(&jid("bob@localhost"), "do you still read me?")
        .await
        .expect("send");
    let failed = wait_for(&mut bob, "the decryption failure", |e| {
        matches!(e, Event::DecryptionFailed { .. })
    })
    .await;
    assert!(matches!(failed, Event::DecryptionFailed { id: f, .. } if f == id));
    wait_text(&mut bob, "do you still read me?").await;
    wait_for(
        &mut alice,
        "the resend",
        |e| matches!(e, Event::Resent { id: r, .. } if *r == id),
    )
    .await;
    wait_delivered(&mut alice, &id).await;
    // The new session works both ways.
    bob.send_text(&jid("alice@localhost"), "yes")
        .await
        .expect("send");
    wait_text(&mut alice, "yes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_errors_are_specific_and_starttls_works() {
    let hub = TestHub::start(&["alice"], &[]).await;
    let mut bad = hub.config("alice");
    bad.password = "wrong".to_owned().into();
    let err = portico_client::Client::open(bad, &hub.db("x"))
        .await
        .expect_err("wrong password");
    assert!(matches!(err, ClientError::WrongPassword(_)), "{err}");

    let mut pinned_wrong = hub.config("alice");
    pinned_wrong.trust = Trust::Pin("00".repeat(32));
    let err = portico_client::Client::open(pinned_wrong, &hub.db("y"))
        .await
        .expect_err("pin mismatch");
    match &err {
        ClientError::PinMismatch { actual } => assert_eq!(*actual, hub.pin),
        other => panic!("expected a pin mismatch, got {other}"),
    }

    // Writing to an account that does not exist fails at once, naming it.
    let alice = common::open_at(hub.config("alice"), &hub.db("first")).await;
    let err = alice
        .send_text(&jid("zed@localhost"), "anyone?")
        .await
        .expect_err("no such account");
    assert!(err.to_string().contains("zed@localhost"), "{err}");
    let log = alice
        .conversation(&jid("zed@localhost"))
        .await
        .expect("log");
    assert_eq!(log[0].status, Status::Failed);
    alice.close().await;

    let mut missing_ca = hub.config("alice");
    missing_ca.trust = Trust::CaBundle(hub.dir.path().join("no-such.pem"));
    let err = portico_client::Client::open(missing_ca, &hub.db("y2"))
        .await
        .expect_err("no CA file");
    assert!(matches!(err, ClientError::CaBundle { .. }), "{err}");

    // A CA bundle holding the hub's certificate works too (the name must match).
    let mut with_ca = hub.config("alice");
    with_ca.trust = Trust::CaBundle(hub.dir.path().join("hub").join("tls-cert.pem"));
    common::open_at(with_ca, &hub.db("first"))
        .await
        .close()
        .await;

    let mut starttls = hub.config("alice");
    starttls.transport = Transport::StartTls;
    starttls.addr = hub.starttls.to_string();
    let client = common::open_at(starttls, &hub.db("z")).await;
    assert_eq!(client.device_id(), 2, "a second device of alice");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_message_is_shown_once_on_devices_that_already_had_it() {
    let hub = TestHub::start(&["alice", "bob"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let mut bob1 = hub.open("bob", "bob-phone").await;
    let mut bob2 = hub.open("bob", "bob-laptop").await;
    alice
        .send_text(&jid("bob@localhost"), "hello")
        .await
        .expect("send");
    wait_text(&mut bob1, "hello").await;
    wait_text(&mut bob2, "hello").await;
    let hi = bob1
        .send_text(&jid("alice@localhost"), "hi")
        .await
        .expect("send");
    wait_text(&mut alice, "hi").await;
    wait_delivered(&mut bob1, &hi).await;

    // Only the phone loses its session; the resend reaches the laptop a second time.
    bob1.forget_session(&jid("alice@localhost"), alice.device_id())
        .await
        .expect("forget");
    let id = alice
        .send_text(&jid("bob@localhost"), "once only")
        .await
        .expect("send");
    wait_text(&mut bob1, "once only").await;
    wait_for(
        &mut alice,
        "the resend",
        |e| matches!(e, Event::Resent { id: r, .. } if *r == id),
    )
    .await;
    alice
        .send_text(&jid("bob@localhost"), "marker")
        .await
        .expect("send");
    let mut seen = 0;
    loop {
        let ev = wait_for(&mut bob2, "messages", |e| {
            matches!(e, Event::Message { .. })
        })
        .await;
        match common::text_of(&ev) {
            Some("once only") => seen += 1,
            Some("marker") => break,
            _ => {}
        }
    }
    assert_eq!(seen, 1, "the laptop shows the resent message once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_compute_the_same_safety_number() {
    let hub = TestHub::start(&["alice", "bob"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let mut bob = hub.open("bob", "bob").await;
    let (alice_jid, bob_jid) = (jid("alice@localhost"), jid("bob@localhost"));
    assert_eq!(
        alice.safety_number(&bob_jid, 1).await.expect("ask"),
        None,
        "unknown before any key exchange"
    );
    alice.send_text(&bob_jid, "hi").await.expect("send");
    wait_text(&mut bob, "hi").await;
    let id = bob.send_text(&alice_jid, "hey").await.expect("send");
    wait_text(&mut alice, "hey").await;
    wait_delivered(&mut bob, &id).await;
    let a = alice
        .safety_number(&bob_jid, bob.device_id())
        .await
        .expect("ask")
        .expect("known");
    let b = bob
        .safety_number(&alice_jid, alice.device_id())
        .await
        .expect("ask")
        .expect("known");
    assert_eq!(a.len(), 60);
    assert!(a.bytes().all(|c| c.is_ascii_digit()));
    assert_eq!(a, b);
    alice
        .set_verified(&bob_jid, bob.device_id(), true)
        .await
        .expect("verify");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reinstalled_device_gets_a_new_safety_number_and_the_conversation_recovers() {
    let hub = TestHub::start(&["alice", "bob"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let bob = hub.open("bob", "bob").await;
    let bob_device = bob.device_id();
    alice
        .send_text(&jid("bob@localhost"), "first")
        .await
        .expect("send");
    let mut bob = bob;
    wait_text(&mut bob, "first").await;
    let before = alice
        .safety_number(&jid("bob@localhost"), bob_device)
        .await
        .expect("ask")
        .expect("known");
    bob.close().await;

    // Bob reinstalls: a fresh database (new identity key) bound to the same device.
    let fresh = hub.db("bob-reinstalled");
    common::bind_fresh_database_to(&fresh, "bob@localhost", bob_device);
    let mut bob = common::open_at(hub.config("bob"), &fresh).await;
    assert_eq!(bob.device_id(), bob_device);

    // Alice still encrypts to the old session: Bob cannot read it, asks, and gets it.
    let id = alice
        .send_text(&jid("bob@localhost"), "are you new?")
        .await
        .expect("send");
    wait_text(&mut bob, "are you new?").await;
    wait_for(
        &mut alice,
        "the identity change",
        |e| matches!(e, Event::IdentityChanged { device, .. } if *device == bob_device),
    )
    .await;
    wait_delivered(&mut alice, &id).await;
    let after = alice
        .safety_number(&jid("bob@localhost"), bob_device)
        .await
        .expect("ask")
        .expect("known");
    assert_ne!(before, after, "a new key, a new safety number");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_device_whose_key_changes_is_refused_until_unverified() {
    let hub = TestHub::start(&["alice", "bob"], &[]).await;
    let mut alice = hub.open("alice", "alice").await;
    let mut bob = hub.open("bob", "bob").await;
    let bob_jid = jid("bob@localhost");
    let bob_device = bob.device_id();
    alice.send_text(&bob_jid, "first").await.expect("send");
    wait_text(&mut bob, "first").await;
    alice
        .set_verified(&bob_jid, bob_device, true)
        .await
        .expect("verify");
    bob.close().await;
    let fresh = hub.db("bob-reinstalled");
    common::bind_fresh_database_to(&fresh, "bob@localhost", bob_device);
    let mut bob = common::open_at(hub.config("bob"), &fresh).await;

    // Bob's resend request comes under his new key: Alice's client refuses it and says so.
    alice.send_text(&bob_jid, "secret").await.expect("send");
    wait_for(
        &mut alice,
        "the refusal",
        |e| matches!(e, Event::IdentityUntrusted { device, .. } if *device == bob_device),
    )
    .await;
    // Alice compares the new safety number and accepts it; the conversation goes on.
    alice
        .set_verified(&bob_jid, bob_device, false)
        .await
        .expect("unverify");
    alice
        .send_text(&bob_jid, "welcome back")
        .await
        .expect("send");
    wait_text(&mut bob, "welcome back").await;
}
