//! Client sessions end to end over real TLS against the `portico` binary: login, bind,
//! key directory, routing, and the specific error for each kind of bad input.

mod common;

use std::time::Duration;

use common::xmpp::{
    Client, ClientError, Mech, ack_of, e2ee_message, e2ee_of, expect, login, stream_error,
};
use common::{Hub, admin};
use portico_stanza::stanza::keys::{Count, Fetch, PreKey, Publish, SignedPreKey};
use portico_stanza::stanza::{DeviceMismatch, Iq, IqKind, Message, StanzaError};
use portico_stanza::{Element, Jid, ns};

const T: Duration = Duration::from_secs(10);

fn hub_with_users(dir: &std::path::Path, env: &[(&str, &str)]) -> Hub {
    for user in ["alice", "bob"] {
        let (ok, out) = admin(dir, &["add", user, "--password", "password-of-{user}"]);
        assert!(ok, "{out}");
    }
    Hub::start(dir, env)
}

fn iq_error(iq: &Iq) -> Option<&StanzaError> {
    match &iq.kind {
        IqKind::Error { error, .. } => Some(error),
        _ => None,
    }
}

#[tokio::test]
async fn login_bind_and_route_between_two_accounts_with_two_devices_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with_users(dir.path(), &[]);
    let pw = "password-of-{user}";

    // SCRAM over STARTTLS and PLAIN over direct TLS both work; new devices get 1, 2.
    let mut l = login(&hub, "alice", pw);
    l.starttls = true;
    l.addr = hub.starttls;
    l.mech = Mech::Scram;
    let mut a1 = Client::connect(&l).await.expect("alice device 1");
    assert_eq!(a1.jid.to_string(), "alice@localhost/1");
    let mut a2 = Client::connect(&login(&hub, "alice", pw))
        .await
        .expect("alice device 2");
    assert_eq!(a2.jid.to_string(), "alice@localhost/2");
    let mut b1 = Client::connect(&login(&hub, "bob", pw))
        .await
        .expect("bob 1");
    let mut b2 = Client::connect(&login(&hub, "bob", pw))
        .await
        .expect("bob 2");

    // Re-binding a registered device works; an unknown one is refused with a clear text.
    let mut again = login(&hub, "bob", pw);
    again.resource = Some("7".into());
    match Client::connect(&again).await {
        Err(ClientError::Bind(text)) => {
            assert!(
                text.contains("item-not-found") && text.contains("not registered"),
                "{text}"
            )
        }
        other => panic!(
            "unknown device must be refused, got {:?}",
            other.map(|c| c.jid)
        ),
    }

    // Device-set mismatch: bob has 1 and 2; alice's other device 2 is missing too.
    a1.send(e2ee_message("bob@localhost", "m0", &[1, 3], &[], b"x"))
        .await
        .expect("send");
    let err = expect(&mut a1, T, "an error", |e| e.attr("type") == Some("error")).await;
    let msg = Message::try_from(err).expect("message");
    let mismatch = DeviceMismatch::from_stanza_error(msg.error.as_ref().expect("error"))
        .expect("device-mismatch")
        .expect("parses");
    let fmt = |l: &[portico_stanza::stanza::DeviceAddress]| {
        l.iter()
            .map(|d| format!("{}/{}", d.jid, d.device))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        fmt(&mismatch.missing),
        ["bob@localhost/2", "alice@localhost/2"]
    );
    assert_eq!(fmt(&mismatch.stale), ["bob@localhost/3"]);

    // A correct message: ack to the sender, each device gets only its ciphertext.
    a1.send(e2ee_message("bob@localhost", "m1", &[1, 2], &[2], b"hello"))
        .await
        .expect("send");
    let ack = expect(&mut a1, T, "the ack", |e| ack_of(e).is_some()).await;
    let ack = ack_of(&ack).expect("ack");
    assert_eq!(ack.attr("id"), Some("m1"));
    let stanza_id = ack.attr("stanza-id").expect("stanza-id").to_owned();
    for (client, device, child) in [
        (&mut b1, "1", "to"),
        (&mut b2, "2", "to"),
        (&mut a2, "2", "self"),
    ] {
        let got = expect(client, T, "the message", |e| e2ee_of(e).is_some()).await;
        assert_eq!(got.attr("from"), Some("alice@localhost/1"));
        assert_eq!(got.attr("id"), Some("m1"));
        let e2ee = e2ee_of(&got).expect("e2ee");
        assert_eq!(e2ee.attr("stanza-id"), Some(stanza_id.as_str()));
        assert!(e2ee.attr("t").is_some(), "hub timestamp");
        let cts: Vec<&Element> = e2ee.children().collect();
        assert_eq!(cts.len(), 1, "only this device's ciphertext: {got}");
        assert_eq!(cts[0].name(), child);
        assert_eq!(cts[0].attr("device"), Some(device));
    }

    // Unacknowledged messages come back on reconnect, in order; acknowledged ones do not.
    a1.send(e2ee_message(
        "bob@localhost",
        "m2",
        &[1, 2],
        &[2],
        b"second",
    ))
    .await
    .expect("send");
    expect(&mut a1, T, "ack m2", |e| ack_of(e).is_some()).await;
    let got = expect(&mut b1, T, "m2", |e| e2ee_of(e).is_some()).await;
    let sid = e2ee_of(&got)
        .and_then(|e| e.attr("stanza-id"))
        .expect("id")
        .to_owned();
    b1.send(Element::new("received", ns::PORTICO_E2EE).with_attr("stanza-id", sid))
        .await
        .expect("ack m2");
    // The ping round trip shows the hub read the <received/>; its delete is written in the
    // background (group commit), so give it a moment before reconnecting.
    let pong = b1
        .iq(Iq::get("p1", Element::new("ping", ns::PING)), T)
        .await
        .expect("pong");
    assert!(matches!(pong.kind, IqKind::Result(_)));
    b1.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut relogin = login(&hub, "bob", pw);
    relogin.resource = Some("1".into());
    let mut b1 = Client::connect(&relogin).await.expect("bob 1 again");
    let got = expect(&mut b1, T, "redelivery", |e| e2ee_of(e).is_some()).await;
    assert_eq!(
        got.attr("id"),
        Some("m1"),
        "m1 was never acknowledged by bob/1; m2 was"
    );
    assert!(
        b1.next(Duration::from_millis(300)).await.is_none(),
        "m2 must not come back"
    );

    // Disco lists what is supported.
    let disco = a1
        .iq(Iq::get("d1", Element::new("query", ns::DISCO_INFO)), T)
        .await
        .expect("disco");
    let IqKind::Result(Some(q)) = disco.kind else {
        panic!("disco result")
    };
    let features: Vec<String> = q
        .children()
        .filter_map(|f| f.attr("var").map(str::to_owned))
        .collect();
    for f in [ns::PING, ns::SM, ns::PORTICO_E2EE, ns::PORTICO_KEYS] {
        assert!(
            features.iter().any(|x| x == f),
            "{f} missing from {features:?}"
        );
    }

    // Messages to unknown accounts are refused by name.
    a1.send(e2ee_message("carol@localhost", "m3", &[1], &[2], b"x"))
        .await
        .expect("send");
    let err = expect(&mut a1, T, "error", |e| e.attr("type") == Some("error")).await;
    assert!(
        err.to_string().contains("item-not-found") && err.to_string().contains("carol@localhost"),
        "{err}"
    );

    // The hub still serves everyone: bob/2 can still talk to alice.
    b2.send(e2ee_message(
        "alice@localhost",
        "r1",
        &[1, 2],
        &[1],
        b"reply",
    ))
    .await
    .expect("send");
    expect(&mut b2, T, "ack r1", |e| ack_of(e).is_some()).await;
    expect(&mut a1, T, "reply", |e| {
        e2ee_of(e).is_some() && e.attr("id") == Some("r1")
    })
    .await;
}

#[tokio::test]
async fn wrong_password_is_refused_and_others_still_log_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with_users(dir.path(), &[]);
    for mech in [Mech::Scram, Mech::Plain] {
        let mut l = login(&hub, "alice", "not the password");
        l.mech = mech;
        match Client::connect(&l).await {
            Err(ClientError::Auth(text)) => assert!(text.contains("NotAuthorized"), "{text}"),
            other => panic!("wrong password accepted: {:?}", other.map(|c| c.jid)),
        }
    }
    let mut l = login(&hub, "nobody", "whatever1");
    l.mech = Mech::Scram;
    assert!(matches!(
        Client::connect(&l).await,
        Err(ClientError::Auth(_))
    ));
    Client::connect(&login(&hub, "alice", "password-of-{user}"))
        .await
        .expect("right password");
}

fn publish_el(n_prekeys: u32) -> Element {
    let sk = |id| SignedPreKey {
        id,
        public: vec![1; 33],
        signature: vec![2; 64],
    };
    Publish {
        registration_id: Some(77),
        identity: Some(vec![5; 33]),
        signed_prekey: Some(sk(1)),
        last_resort_kyber: Some(sk(9000)),
        prekeys: (1..=n_prekeys)
            .map(|id| PreKey {
                id,
                public: vec![3; 33],
            })
            .collect(),
        kyber_prekeys: vec![sk(500)],
    }
    .into()
}

#[tokio::test]
async fn key_directory_publish_fetch_count_and_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with_users(dir.path(), &[("PORTICO_LIMITS_LOW_PREKEY_THRESHOLD", "2")]);
    let pw = "password-of-{user}";
    let mut alice = Client::connect(&login(&hub, "alice", pw))
        .await
        .expect("alice");
    let mut bob = Client::connect(&login(&hub, "bob", pw)).await.expect("bob");

    // More than 100 prekeys in one upload: refused, naming the limit.
    let reply = bob
        .iq(Iq::set("k0", publish_el(101)), T)
        .await
        .expect("reply");
    let err = iq_error(&reply).expect("refused");
    let text = err.text.as_deref().unwrap_or_default();
    assert!(text.contains("100"), "{text}");

    let reply = bob
        .iq(Iq::set("k1", publish_el(3)), T)
        .await
        .expect("reply");
    let IqKind::Result(Some(count)) = reply.kind else {
        panic!("publish result: {reply:?}")
    };
    let Count(Some(stock)) = Count::try_from(count).expect("count") else {
        panic!("stock")
    };
    assert_eq!((stock.ec, stock.kyber), (3, 1));

    let fetch = |id: &str| {
        Iq::get(
            id.to_owned(),
            Fetch {
                jid: Jid::parse("bob@localhost").expect("jid"),
                devices: vec![],
            }
            .into(),
        )
    };
    let first = alice.iq(fetch("f1"), T).await.expect("bundles");
    let IqKind::Result(Some(b)) = first.kind else {
        panic!("fetch result {first:?}")
    };
    let b = portico_stanza::stanza::keys::Bundles::try_from(b).expect("bundles");
    assert_eq!(b.bundles.len(), 1);
    assert_eq!(b.bundles[0].registration_id, 77);
    assert_eq!(b.bundles[0].prekey.as_ref().map(|k| k.id), Some(1));
    assert_eq!(
        b.bundles[0].kyber_prekey.id, 500,
        "the one-time Kyber key first"
    );
    // Bob's stock fell to 2 EC / 0 Kyber: under the threshold, he is told.
    let notice = expect(&mut bob, T, "low-stock", |e| {
        e.get_child("low-stock", ns::PORTICO_KEYS).is_some()
    })
    .await;
    assert!(
        notice.to_string().contains("kyber='0'") || notice.to_string().contains("kyber=\"0\""),
        "{notice}"
    );
    let second = alice.iq(fetch("f2"), T).await.expect("bundles");
    let IqKind::Result(Some(b)) = second.kind else {
        panic!()
    };
    let b = portico_stanza::stanza::keys::Bundles::try_from(b).expect("bundles");
    assert_eq!(b.bundles[0].prekey.as_ref().map(|k| k.id), Some(2));
    assert_eq!(
        b.bundles[0].kyber_prekey.id, 9000,
        "the last-resort Kyber key when none is left"
    );

    let count = bob
        .iq(Iq::get("c1", Count(None).into()), T)
        .await
        .expect("count");
    let IqKind::Result(Some(c)) = count.kind else {
        panic!()
    };
    assert_eq!(
        Count::try_from(c).expect("count"),
        Count(Some(portico_stanza::stanza::keys::KeyStock {
            ec: 1,
            kyber: 0
        }))
    );

    // Unknown JID: item-not-found naming it.
    let reply = alice
        .iq(
            Iq::get(
                "f3",
                Fetch {
                    jid: Jid::parse("zed@localhost").expect("jid"),
                    devices: vec![],
                }
                .into(),
            ),
            T,
        )
        .await
        .expect("reply");
    let err = iq_error(&reply).expect("error");
    assert_eq!(err.condition.as_str(), "item-not-found");
    assert!(
        err.text
            .as_deref()
            .unwrap_or_default()
            .contains("zed@localhost")
    );
}

async fn raw_session(hub: &Hub) -> Client {
    Client::connect(&login(hub, "alice", "password-of-{user}"))
        .await
        .expect("login")
}

#[tokio::test]
async fn hostile_input_gets_specific_stream_errors_and_the_hub_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with_users(
        dir.path(),
        &[
            ("PORTICO_LIMITS_MAX_STANZA_BYTES", "10000"),
            ("PORTICO_LIMITS_MAX_TEXT_BYTES", "2000"),
            // Each case below logs in as a new device.
            ("PORTICO_MAX_DEVICES", "20"),
            ("PORTICO_LIMITS_MAX_ATTRIBUTE_BYTES", "500"),
            ("PORTICO_LIMITS_STANZAS_PER_SECOND", "50"),
            ("PORTICO_LIMITS_STANZA_BURST", "100"),
        ],
    );
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "oversized stanza",
            format!(
                "<message to='bob@localhost'><body>{}</body></message>",
                "x".repeat(20_000)
            )
            .into_bytes(),
            "policy-violation",
            "10000",
        ),
        (
            "deep nesting",
            format!(
                "<message>{}{}</message>",
                "<a>".repeat(100),
                "</a>".repeat(100)
            )
            .into_bytes(),
            "policy-violation",
            "depth",
        ),
        (
            "text over max_text_bytes",
            format!("<message><body>{}</body></message>", "t".repeat(5000)).into_bytes(),
            "policy-violation",
            "2000 bytes (max_text_bytes)",
        ),
        (
            "attribute over max_attribute_bytes",
            format!("<message id='{}'/>", "a".repeat(1000)).into_bytes(),
            "policy-violation",
            "500 bytes (max_attribute_bytes)",
        ),
        (
            "entity declaration",
            b"<!DOCTYPE x [<!ENTITY boom 'boom'>]><message/>".to_vec(),
            "restricted-xml",
            "",
        ),
    ];
    for (name, bytes, condition, text_part) in cases {
        let mut c = raw_session(&hub).await;
        c.queue_raw(&bytes);
        c.flush().await.expect("send");
        let el = expect(&mut c, T, name, |e| e.is("error", ns::STREAM)).await;
        let (cond, text) = stream_error(&el).expect("stream error");
        assert_eq!(cond, condition, "{name}: {el}");
        assert!(text.to_lowercase().contains(text_part), "{name}: {text}");
    }

    // Flood: far more stanzas than the burst allows.
    let mut c = raw_session(&hub).await;
    for i in 0..300 {
        c.queue(Iq::get(format!("p{i}"), Element::new("ping", ns::PING)));
    }
    c.flush().await.expect("send");
    let el = expect(&mut c, T, "rate limit", |e| e.is("error", ns::STREAM)).await;
    let (cond, text) = stream_error(&el).expect("stream error");
    assert_eq!(cond, "policy-violation");
    assert!(text.contains("rate limit") && text.contains("50"), "{text}");

    // The hub still serves others.
    let mut ok = raw_session(&hub).await;
    let pong = ok
        .iq(Iq::get("p", Element::new("ping", ns::PING)), T)
        .await
        .expect("pong");
    assert!(matches!(pong.kind, IqKind::Result(_)));

    // Every refusal is counted by reason.
    let (_, _, metrics) = common::https_get(hub.http, &hub.cert(), "/metrics").await;
    for reason in ["rate-limit", "policy-violation", "restricted-xml"] {
        assert!(
            metrics.contains(&format!("portico_rejections_total{{reason=\"{reason}\"}}")),
            "{reason} missing:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn full_device_queue_is_reported_to_the_sender() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with_users(dir.path(), &[("PORTICO_QUEUE_MAX_PER_DEVICE", "2")]);
    let pw = "password-of-{user}";
    Client::connect(&login(&hub, "bob", pw))
        .await
        .expect("bob registers")
        .close()
        .await;
    let mut alice = Client::connect(&login(&hub, "alice", pw))
        .await
        .expect("alice");
    for i in 0..3 {
        alice
            .send(e2ee_message(
                "bob@localhost",
                &format!("q{i}"),
                &[1],
                &[],
                b"x",
            ))
            .await
            .expect("send");
        let ack = expect(&mut alice, T, "ack", |e| ack_of(e).is_some()).await;
        let full = ack.get_child("queue-full", ns::PORTICO_E2EE);
        if i < 2 {
            assert!(full.is_none(), "room for message {i}: {ack}");
        } else {
            let full = full.expect("the third message overflows bob's queue");
            assert_eq!(full.attr("jid"), Some("bob@localhost"));
            assert_eq!(full.attr("device"), Some("1"));
            assert_eq!(full.attr("max"), Some("2"));
        }
    }
}

#[tokio::test]
async fn half_open_connections_are_pinged_and_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with_users(
        dir.path(),
        &[
            ("PORTICO_LIMITS_PING_INTERVAL_SECS", "1"),
            ("PORTICO_LIMITS_PING_TIMEOUT_SECS", "1"),
        ],
    );
    let mut silent = raw_session(&hub).await;
    let ping = expect(&mut silent, T, "the hub's ping", |e| {
        e.get_child("ping", ns::PING).is_some()
    })
    .await;
    assert_eq!(ping.attr("type"), Some("get"));
    // Do not answer: the hub gives up after the timeout.
    let el = expect(&mut silent, T, "connection-timeout", |e| {
        e.is("error", ns::STREAM)
    })
    .await;
    assert_eq!(stream_error(&el).expect("error").0, "connection-timeout");

    // A client that answers stays connected.
    let mut lively = raw_session(&hub).await;
    for _ in 0..2 {
        let ping = expect(&mut lively, T, "ping", |e| {
            e.get_child("ping", ns::PING).is_some()
        })
        .await;
        let id = ping.attr("id").expect("id").to_owned();
        lively
            .send(
                Element::new("iq", ns::JABBER_CLIENT)
                    .with_attr("type", "result")
                    .with_attr("id", id),
            )
            .await
            .expect("pong");
    }
    let pong = lively
        .iq(Iq::get("x", Element::new("ping", ns::PING)), T)
        .await
        .expect("still served");
    assert!(matches!(pong.kind, IqKind::Result(_)));
}

#[tokio::test]
async fn in_band_registration_only_when_open() {
    use common::xmpp_client::register;
    let dir = tempfile::tempdir().expect("tempdir");
    let closed = Hub::start(dir.path(), &[]);
    match register(&login(&closed, "dora", "dora-password")).await {
        Err(ClientError::Protocol(text)) => assert!(
            text.contains("not-allowed") && text.contains("closed"),
            "{text}"
        ),
        other => panic!("registration must be closed by default: {other:?}"),
    }
    drop(closed);
    let dir = tempfile::tempdir().expect("tempdir");
    let open = Hub::start(dir.path(), &[("PORTICO_REGISTRATION", "open")]);
    register(&login(&open, "dora", "dora-password"))
        .await
        .expect("registered");
    match register(&login(&open, "dora", "other-password")).await {
        Err(ClientError::Protocol(text)) => assert!(text.contains("conflict"), "{text}"),
        other => panic!("duplicate registration: {other:?}"),
    }
    match register(&login(&open, "Dora Explorer", "dora-password")).await {
        Err(ClientError::Protocol(text)) => {
            assert!(text.contains("not a valid account name"), "{text}")
        }
        other => panic!("bad name: {other:?}"),
    }
    let c = Client::connect(&login(&open, "dora", "dora-password"))
        .await
        .expect("log in");
    assert_eq!(c.jid.to_string(), "dora@localhost/1");
}

#[tokio::test]
async fn sigterm_closes_streams_with_system_shutdown_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with_users(dir.path(), &[]);
    let pw = "password-of-{user}";
    Client::connect(&login(&hub, "bob", pw))
        .await
        .expect("bob registers device 1")
        .close()
        .await;
    let mut alice = Client::connect(&login(&hub, "alice", pw))
        .await
        .expect("alice");
    alice
        .send(e2ee_message(
            "bob@localhost",
            "queued",
            &[1],
            &[],
            b"for later",
        ))
        .await
        .expect("send");
    expect(&mut alice, T, "ack", |e| ack_of(e).is_some()).await;

    let stopping = tokio::task::spawn_blocking(move || hub.terminate());
    let el = expect(&mut alice, T, "system-shutdown", |e| {
        e.is("error", ns::STREAM)
    })
    .await;
    assert_eq!(
        stream_error(&el).expect("stream error").0,
        "system-shutdown"
    );
    assert!(
        stopping.await.expect("join").success(),
        "clean exit on SIGTERM"
    );

    let hub = Hub::start(dir.path(), &[]);
    let mut again = login(&hub, "bob", pw);
    again.resource = Some("1".into());
    let mut bob = Client::connect(&again).await.expect("bob again");
    let got = expect(&mut bob, T, "the queued message", |e| e2ee_of(e).is_some()).await;
    assert_eq!(got.attr("id"), Some("queued"));
}

#[tokio::test]
async fn stream_management_acks_and_resumption() {
    use portico_stanza::stanza::Sm;
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with_users(dir.path(), &[]);
    let pw = "password-of-{user}";
    let mut bob = Client::connect(&login(&hub, "bob", pw)).await.expect("bob");
    bob.send(Sm::Enable {
        resume: true,
        max: None,
    })
    .await
    .expect("enable");
    let enabled = expect(&mut bob, T, "enabled", |e| e.is("enabled", ns::SM)).await;
    let id = enabled.attr("id").expect("resumption id").to_owned();
    bob.send(Iq::get("p", Element::new("ping", ns::PING)))
        .await
        .expect("ping");
    bob.send(Sm::Request).await.expect("r");
    let a = expect(&mut bob, T, "a", |e| e.is("a", ns::SM)).await;
    assert_eq!(a.attr("h"), Some("1"), "one stanza handled");
    bob.disconnect().await; // the connection drops without a goodbye

    // A message arrives while bob is away; resuming brings the device back with the count.
    let mut alice = Client::connect(&login(&hub, "alice", pw))
        .await
        .expect("alice");
    alice
        .send(e2ee_message("bob@localhost", "while-away", &[1], &[], b"x"))
        .await
        .expect("send");
    expect(&mut alice, T, "ack", |e| ack_of(e).is_some()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut l = login(&hub, "bob", pw);
    l.resource = Some("1".into());
    l.resume = Some(id.clone());
    let mut bob = Client::connect(&l).await.expect("resumed");
    let got = expect(&mut bob, T, "queued message", |e| e2ee_of(e).is_some()).await;
    assert_eq!(got.attr("id"), Some("while-away"));
    bob.send(Sm::Request).await.expect("r");
    let a = expect(&mut bob, T, "a", |e| e.is("a", ns::SM)).await;
    assert_eq!(a.attr("h"), Some("1"), "the count carries over");

    // An unknown id fails with item-not-found.
    l.resume = Some("no-such-session".into());
    match Client::connect(&l).await {
        Err(ClientError::Bind(text)) => assert!(
            text.contains("failed") && text.contains("item-not-found"),
            "{text}"
        ),
        other => panic!("bogus resumption accepted: {:?}", other.map(|c| c.jid)),
    }
}

#[tokio::test]
async fn delivery_acks_do_not_count_against_the_rate_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with_users(
        dir.path(),
        &[
            ("PORTICO_LIMITS_STANZAS_PER_SECOND", "1"),
            ("PORTICO_LIMITS_STANZA_BURST", "10"),
        ],
    );
    let pw = "password-of-{user}";
    let mut bob = Client::connect(&login(&hub, "bob", pw)).await.expect("bob");
    let mut alice = Client::connect(&login(&hub, "alice", pw))
        .await
        .expect("alice");
    for i in 0..10 {
        alice.queue(e2ee_message(
            "bob@localhost",
            &format!("r{i}"),
            &[1],
            &[],
            b"x",
        ));
    }
    alice.flush().await.expect("send");
    for _ in 0..10 {
        let got = expect(&mut bob, T, "delivery", |e| e2ee_of(e).is_some()).await;
        let sid = e2ee_of(&got)
            .and_then(|e| e.attr("stanza-id"))
            .expect("id")
            .to_owned();
        bob.send(Element::new("received", ns::PORTICO_E2EE).with_attr("stanza-id", sid))
            .await
            .expect("ack");
    }
    // Ten acks and then a ping: only the ping costs a token.
    let pong = bob
        .iq(Iq::get("after-acks", Element::new("ping", ns::PING)), T)
        .await;
    assert!(
        pong.is_some_and(|p| matches!(p.kind, IqKind::Result(_))),
        "bob was rate-limited for acknowledging"
    );
}

/// Reads what the hub sends on a plain TCP connection until it closes (or 10 s pass).
async fn read_all_plain(mut tcp: tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(T, tcp.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn connection_login_device_and_attribute_limits_name_themselves() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with_users(
        dir.path(),
        &[
            ("PORTICO_MAX_DEVICES", "1"),
            ("PORTICO_LIMITS_MAX_CONNECTIONS", "2"),
            ("PORTICO_LIMITS_LOGIN_TIMEOUT_SECS", "1"),
            ("PORTICO_LIMITS_MAX_ATTRIBUTES", "8"),
        ],
    );
    let pw = "password-of-{user}";

    // Login timeout: a client that says nothing is closed, naming the setting.
    let silent = tokio::net::TcpStream::connect(hub.starttls)
        .await
        .expect("connect");
    let text = read_all_plain(silent).await;
    assert!(
        text.contains("connection-timeout") && text.contains("login_timeout_secs"),
        "{text}"
    );

    // Device cap: the account may have one device.
    let mut first = Client::connect(&login(&hub, "alice", pw))
        .await
        .expect("first device");
    match Client::connect(&login(&hub, "alice", pw)).await {
        Err(ClientError::Bind(text)) => {
            assert!(
                text.contains("resource-constraint") && text.contains("max_devices"),
                "{text}"
            )
        }
        other => panic!("second device accepted: {:?}", other.map(|c| c.jid)),
    }

    // Too many attributes on one element.
    let attrs: String = (0..9).map(|i| format!(" a{i}='x'")).collect();
    first.queue_raw(
        format!("<iq type='get' id='x'><ping xmlns='urn:xmpp:ping'{attrs}/></iq>").as_bytes(),
    );
    first.flush().await.expect("send");
    let el = expect(&mut first, T, "stream error", |e| e.is("error", ns::STREAM)).await;
    let (_, text) = stream_error(&el).expect("stream error");
    assert!(
        text.contains('8') && text.to_lowercase().contains("attribute"),
        "{text}"
    );

    // Connection cap: two sessions are open (bob below and one more); the third is refused.
    let _bob = Client::connect(&login(&hub, "bob", pw)).await.expect("bob");
    let _held = tokio::net::TcpStream::connect(hub.starttls)
        .await
        .expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = tokio::net::TcpStream::connect(hub.starttls)
        .await
        .expect("connect");
    let _ = third
        .write_all(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
        .await;
    let text = read_all_plain(third).await;
    assert!(
        text.contains("resource-constraint") && text.contains("max_connections"),
        "{text}"
    );
}
