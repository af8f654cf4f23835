//! Policy end to end over real TLS against the `portico` binary: XEP-0191 blocks with their
//! errors and pushes, each rate limit's specific refusal while others keep chatting, the
//! opt-in refusal, interop settings, forged interop stamps stripped, reports and discovery.

mod common;

use std::time::Duration;

use common::xmpp::{Client, ack_of, e2ee_message, e2ee_of, expect, login};
use common::{Hub, admin};
use portico_stanza::stanza::policy::{
    Blocking, Discover, Evidence, InteropSettings, Party, ProviderRule, RateLimit, Refusal, Report,
    ReportReason, ThirdPartyMode,
};
use portico_stanza::stanza::{Iq, IqKind, Message, StanzaCondition, StanzaError};
use portico_stanza::{Element, Jid, ns};

const T: Duration = Duration::from_secs(10);
const PW: &str = "password-of-policy-tests";

fn hub_with(dir: &std::path::Path, users: &[&str], env: &[(&str, &str)]) -> Hub {
    for user in users {
        let (ok, out) = admin(dir, &["add", user, "--password", PW]);
        assert!(ok, "{out}");
    }
    Hub::start(dir, env)
}

async fn connect(hub: &Hub, user: &str) -> Client {
    Client::connect(&login(hub, user, PW))
        .await
        .unwrap_or_else(|e| panic!("{user} logs in: {e:?}"))
}

fn jid(s: &str) -> Jid {
    Jid::parse(s).expect("test JID")
}

/// Sends a one-device message and returns the hub's answer: `Ok(())` for an ack, the
/// stanza error otherwise.
async fn send(c: &mut Client, to: &str, id: &str) -> Result<(), StanzaError> {
    c.send(e2ee_message(to, id, &[1], &[], b"ciphertext"))
        .await
        .expect("send");
    let answer = expect(c, T, "an ack or an error", |e| {
        ack_of(e).is_some_and(|a| a.attr("id") == Some(id))
            || (e.attr("type") == Some("error") && e.attr("id") == Some(id))
    })
    .await;
    if ack_of(&answer).is_some() {
        return Ok(());
    }
    let m = Message::try_from(answer).expect("an error message");
    Err(m.error.expect("the error"))
}

fn refusal(e: &StanzaError) -> Option<Refusal> {
    Refusal::from_stanza_error(e).map(|r| r.expect("a valid policy condition"))
}

async fn iq_ok(c: &mut Client, iq: Iq) -> Option<Element> {
    match c.iq(iq, T).await.expect("an answer").kind {
        IqKind::Result(p) => p,
        IqKind::Error { error, .. } => panic!("refused: {error:?}"),
        other => panic!("unexpected {other:?}"),
    }
}

async fn iq_err(c: &mut Client, iq: Iq) -> StanzaError {
    match c.iq(iq, T).await.expect("an answer").kind {
        IqKind::Error { error, .. } => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn blocks_refuse_with_their_errors_pushes_reach_other_sessions_others_keep_chatting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with(dir.path(), &["alice", "bob", "carol"], &[]);
    let mut a1 = connect(&hub, "alice").await;
    let mut bob = connect(&hub, "bob").await;
    let mut carol = connect(&hub, "carol").await;
    // Alice's first device is the only one the messages below address (device 1); her
    // second session only watches for pushes.
    assert_eq!(send(&mut bob, "alice@localhost", "b0").await, Ok(()));
    let mut a2 = connect(&hub, "alice").await;
    // Now alice has two devices: address both from here on.
    async fn to_alice(c: &mut Client, id: &str) {
        let el = e2ee_message("alice@localhost", id, &[1, 2], &[], b"x");
        c.send(el).await.expect("send");
    }

    // XEP-0191 §3.1: the hub says it supports blocking.
    let disco = Element::new("query", ns::DISCO_INFO);
    let info = iq_ok(&mut a1, Iq::get("d0", disco))
        .await
        .expect("disco#info");
    assert!(
        info.children()
            .any(|f| f.name() == "feature" && f.attr("var") == Some("urn:xmpp:blocking")),
        "{info:?}"
    );
    let block = Iq::set("b1", Blocking::Block(vec![jid("bob@localhost")]).into());
    assert_eq!(iq_ok(&mut a1, block).await, None);
    // XEP-0191 §3.3: the change is pushed to the user's sessions.
    let push = expect(&mut a2, T, "a block push", |e| {
        e.name() == "iq" && e.get_child("block", "urn:xmpp:blocking").is_some()
    })
    .await;
    let push = Iq::try_from(push).expect("iq");
    match push.kind {
        IqKind::Set(p) => assert_eq!(
            Blocking::try_from(p),
            Ok(Blocking::Block(vec![jid("bob@localhost")]))
        ),
        other => panic!("a push is a set: {other:?}"),
    }
    let list = iq_ok(
        &mut a2,
        Iq::get("l1", Blocking::Blocklist(Vec::new()).into()),
    )
    .await;
    assert_eq!(
        list.map(Blocking::try_from),
        Some(Ok(Blocking::Blocklist(vec![jid("bob@localhost")])))
    );

    // The blocked contact gets XEP-0191's plain service-unavailable: no word of a block.
    to_alice(&mut bob, "b1").await;
    let err = expect(&mut bob, T, "an error", |e| e.attr("type") == Some("error")).await;
    let err = Message::try_from(err)
        .expect("message")
        .error
        .expect("error");
    assert_eq!(err.condition, StanzaCondition::ServiceUnavailable);
    assert_eq!(err.app, None, "nothing says why");
    // The blocker may not write to the blocked contact either: not-acceptable + <blocked/>.
    let err = send(&mut a1, "bob@localhost", "a1")
        .await
        .expect_err("refused");
    assert_eq!(err.condition, StanzaCondition::NotAcceptable);
    assert_eq!(refusal(&err), Some(Refusal::Blocked));
    // Others keep chatting with alice.
    to_alice(&mut carol, "c1").await;
    expect(&mut carol, T, "carol's ack", |e| ack_of(e).is_some()).await;
    let got = expect(&mut a1, T, "carol's message", |e| e2ee_of(e).is_some()).await;
    assert_eq!(
        got.attr("from").map(|f| f.starts_with("carol@localhost")),
        Some(true)
    );

    // Unblock everyone: bob gets through again.
    let unblock = Iq::set("u1", Blocking::Unblock(Vec::new()).into());
    assert_eq!(iq_ok(&mut a1, unblock).await, None);
    to_alice(&mut bob, "b2").await;
    expect(&mut bob, T, "bob's ack", |e| {
        ack_of(e).is_some_and(|a| a.attr("id") == Some("b2"))
    })
    .await;
    // A block without items is a bad request (XEP-0191 §3.3).
    let err = iq_err(
        &mut a1,
        Iq::set("b2", Element::new("block", "urn:xmpp:blocking")),
    )
    .await;
    assert_eq!(err.condition, StanzaCondition::BadRequest);
}

#[tokio::test]
async fn each_rate_limit_refuses_with_its_name_while_others_keep_chatting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [
        ("PORTICO_POLICY_LIMIT_FIRST_PARTY", "true"),
        ("PORTICO_POLICY_PAIR_BURST", "3"),
        ("PORTICO_POLICY_PAIR_PER_MINUTE", "1"),
        ("PORTICO_POLICY_SENDER_BURST", "5"),
        ("PORTICO_POLICY_SENDER_PER_MINUTE", "1"),
    ];
    let hub = hub_with(dir.path(), &["alice", "bob", "carol"], &env);
    let mut alice = connect(&hub, "alice").await;
    let mut bob = connect(&hub, "bob").await;
    let mut carol = connect(&hub, "carol").await;
    for i in 0..3 {
        assert_eq!(
            send(&mut alice, "bob@localhost", &format!("p{i}")).await,
            Ok(())
        );
    }
    let err = send(&mut alice, "bob@localhost", "p3")
        .await
        .expect_err("pair limit");
    assert_eq!(err.condition, StanzaCondition::PolicyViolation);
    match refusal(&err) {
        Some(Refusal::RateLimited {
            limit: RateLimit::Pair,
            retry_after,
        }) => {
            assert!((1..=60).contains(&retry_after), "{retry_after}")
        }
        other => panic!("expected the pair limit, got {other:?}"),
    }
    // Others keep chatting with bob; alice may still write to someone else.
    assert_eq!(send(&mut carol, "bob@localhost", "c0").await, Ok(()));
    assert_eq!(send(&mut alice, "carol@localhost", "q0").await, Ok(()));
    assert_eq!(send(&mut alice, "carol@localhost", "q1").await, Ok(()));
    // Five messages in all: the sender's own bucket is empty now.
    let err = send(&mut alice, "carol@localhost", "q2")
        .await
        .expect_err("sender limit");
    assert!(
        matches!(
            refusal(&err),
            Some(Refusal::RateLimited {
                limit: RateLimit::Sender,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(
        err.text.as_deref().is_some_and(|t| t.contains("sender")),
        "{err:?}"
    );
    assert_eq!(send(&mut bob, "carol@localhost", "b0").await, Ok(()));
    assert_eq!(send(&mut carol, "alice@localhost", "c1").await, Ok(()));
}

#[tokio::test]
async fn the_address_bucket_refuses_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [
        ("PORTICO_POLICY_LIMIT_FIRST_PARTY", "true"),
        ("PORTICO_POLICY_ADDRESS_BURST", "3"),
        ("PORTICO_POLICY_ADDRESS_PER_MINUTE", "1"),
    ];
    let hub = hub_with(dir.path(), &["alice", "bob", "carol"], &env);
    let mut alice = connect(&hub, "alice").await;
    let mut bob = connect(&hub, "bob").await;
    let _carol = connect(&hub, "carol").await;
    // Every client here comes from 127.0.0.1: three messages in all, whoever sends them.
    assert_eq!(send(&mut alice, "bob@localhost", "a1").await, Ok(()));
    assert_eq!(send(&mut alice, "carol@localhost", "a2").await, Ok(()));
    assert_eq!(send(&mut bob, "carol@localhost", "b1").await, Ok(()));
    let err = send(&mut bob, "alice@localhost", "b2")
        .await
        .expect_err("address limit");
    assert!(
        matches!(
            refusal(&err),
            Some(Refusal::RateLimited {
                limit: RateLimit::Address,
                ..
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn opt_in_settings_and_the_opt_out_refusal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with(dir.path(), &["alice"], &[]);
    let mut alice = connect(&hub, "alice").await;
    // Off by default.
    let got = iq_ok(&mut alice, Iq::get("s0", InteropSettings::query())).await;
    assert_eq!(
        got.map(InteropSettings::try_from),
        Some(Ok(InteropSettings::default()))
    );
    // Writing to a third-party user without having opted in: refused, naming the provider.
    let third = "k7f3abc@birdy.interop.localhost";
    let err = send(&mut alice, third, "t0")
        .await
        .expect_err("not opted in");
    assert_eq!(err.condition, StanzaCondition::Forbidden);
    assert_eq!(
        refusal(&err),
        Some(Refusal::NotOptedIn {
            party: Party::Sender,
            provider: Some("birdy".into())
        })
    );
    // Listed mode with birdy denied still refuses; allowing birdy lets the message on to
    // the routing checks.
    let mut s = InteropSettings {
        mode: ThirdPartyMode::Listed,
        providers: vec![ProviderRule {
            provider: "birdy".into(),
            allow: false,
        }],
        discoverable: false,
    };
    assert_eq!(
        iq_ok(&mut alice, Iq::set("s1", s.clone().into())).await,
        None
    );
    let got = iq_ok(&mut alice, Iq::get("s2", InteropSettings::query())).await;
    assert_eq!(got.map(InteropSettings::try_from), Some(Ok(s.clone())));
    let err = send(&mut alice, third, "t1")
        .await
        .expect_err("birdy denied");
    assert!(matches!(
        refusal(&err),
        Some(Refusal::NotOptedIn {
            party: Party::Sender,
            ..
        })
    ));
    s.providers[0].allow = true;
    assert_eq!(iq_ok(&mut alice, Iq::set("s3", s.into())).await, None);
    let err = send(&mut alice, third, "t2")
        .await
        .expect_err("nobody there");
    assert_eq!(refusal(&err), None, "past the policy check: {err:?}");
    // A malformed setting is refused with the reason.
    let bad = Element::new("settings", "urn:portico:interop-settings:1")
        .with_attr("third-party", "maybe");
    let err = iq_err(&mut alice, Iq::set("s4", bad)).await;
    assert_eq!(err.condition, StanzaCondition::BadRequest);
    assert!(
        err.text
            .as_deref()
            .is_some_and(|t| t.contains("third-party")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_forged_interop_stamp_never_reaches_the_recipient() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = hub_with(dir.path(), &["alice", "bob"], &[]);
    let mut alice = connect(&hub, "alice").await;
    let mut bob = connect(&hub, "bob").await;
    let mut m = e2ee_message("bob@localhost", "f1", &[1], &[], b"x");
    let forged = Element::new("interop", ns::PORTICO_INTEROP)
        .with_attr("provider", "bank")
        .with_attr("visible-id", "security@bank.example");
    m.push_child(forged.clone());
    if let Some(e2ee) = m.nodes_mut().iter_mut().find_map(|n| match n {
        portico_stanza::element::Node::Element(e) if e.name() == "e2ee" => Some(e),
        _ => None,
    }) {
        e2ee.push_child(forged);
    }
    alice.send(m).await.expect("send");
    expect(&mut alice, T, "the ack", |e| ack_of(e).is_some()).await;
    let got = expect(&mut bob, T, "the message", |e| e2ee_of(e).is_some()).await;
    let bytes = String::from_utf8_lossy(&got.to_bytes()).into_owned();
    assert!(!bytes.contains("interop"), "stamp stripped: {bytes}");
    let msg = Message::try_from(got).expect("message");
    assert_eq!(msg.interop, None);
}

#[tokio::test]
async fn reports_are_stored_size_limited_and_discovery_says_nothing_of_unknown_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [("PORTICO_POLICY_REPORTS_PER_DAY", "2")];
    let hub = hub_with(dir.path(), &["alice", "bob"], &env);
    let mut alice = connect(&hub, "alice").await;
    let report = |ev: Vec<Evidence>| Report {
        jid: jid("bob@localhost"),
        reason: ReportReason::Spam,
        evidence: ev,
    };
    let evidence = Evidence {
        id: "m1".into(),
        stanza_id: Some(42),
        plaintext: Some("win a prize: secret-evidence-text".into()),
    };
    assert_eq!(
        iq_ok(
            &mut alice,
            Iq::set("r1", report(vec![evidence.clone()]).into())
        )
        .await,
        None
    );
    let too_long = Evidence {
        plaintext: Some("x".repeat(5000).into()),
        ..evidence
    };
    let err = iq_err(&mut alice, Iq::set("r2", report(vec![too_long]).into())).await;
    assert_eq!(err.condition, StanzaCondition::NotAcceptable);
    assert!(
        err.text
            .as_deref()
            .is_some_and(|t| t.contains("report_max_evidence_bytes")),
        "{err:?}"
    );
    assert_eq!(
        iq_ok(&mut alice, Iq::set("r3", report(Vec::new()).into())).await,
        None
    );
    let err = iq_err(&mut alice, Iq::set("r4", report(Vec::new()).into())).await;
    assert_eq!(err.condition, StanzaCondition::PolicyViolation);
    assert!(
        err.text
            .as_deref()
            .is_some_and(|t| t.contains("reports_per_day")),
        "{err:?}"
    );

    let d = Discover {
        provider: "birdy".into(),
        visible_id: "bob@birdy.example".into(),
        jid: None,
    };
    let err = iq_err(&mut alice, Iq::get("d1", d.into())).await;
    assert_eq!(err.condition, StanzaCondition::ItemNotFound);
}
