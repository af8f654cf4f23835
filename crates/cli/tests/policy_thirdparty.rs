//! Policy across the third-party boundary, end to end: the hub and the reference provider
//! run as separate processes over real HTTPS; a third-party user enlists and logs in. The
//! hub stamps third-party messages (and never delivers a forged stamp), refuses a message to
//! someone who has not opted in (alike for an account that does not exist and for a block),
//! limits new contacts per day and the provider's bucket while others keep chatting.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::provider::{Provider, start_provider};
use common::xmpp::{Client, Login, Mech, ack_of, e2ee_message, e2ee_of, expect, login};
use common::{Hub, admin, portico};
use portico_hub::interop::wire::api::EnlistResponse;
use portico_hub::interop::wire::keys::b64url_encode;
use portico_hub::interop::wire::login::compose_password;
use portico_stanza::stanza::keys::{Bundles, Fetch, PreKey, Publish, SignedPreKey};
use portico_stanza::stanza::policy::{
    Blocking, Discover, InteropSettings, Party, RateLimit, Refusal, ThirdPartyMode,
};
use portico_stanza::stanza::{Interop, Iq, IqKind, Message, StanzaCondition, StanzaError};
use portico_stanza::{Element, Jid, ns};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(10);
const PW: &str = "password-of-policy-tests";

fn run(args: &[&str]) -> String {
    let (ok, text) = common::run(args);
    assert!(ok, "portico {args:?}: {text}");
    text
}

async fn post(
    addr: SocketAddr,
    cert: &Path,
    path: &str,
    body: &Value,
    bearer: Option<&str>,
) -> Value {
    let (status, _, body) =
        common::https_post_json(addr, cert, path, &body.to_string(), bearer).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

struct World {
    _dir: tempfile::TempDir,
    hub: Hub,
    provider: Provider,
}

impl World {
    fn start(first_party: &[&str], env: &[(&str, &str)]) -> World {
        World::start_with_limits(first_party, env, &[])
    }

    /// Like [`World::start`], registering the provider with `--limit` for each of `limits`.
    fn start_with_limits(first_party: &[&str], env: &[(&str, &str)], limits: &[&str]) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let hub_data = dir.path().join("hub");
        let data = hub_data.to_string_lossy().into_owned();
        let hub_key = run(&["admin", "hub-key", "--data", &data])
            .trim()
            .to_owned();
        let provider = start_provider(&dir.path().join("provider"), &hub_key);
        let mut add = vec![
            "admin".to_owned(),
            "provider".into(),
            "add".into(),
            "birdy".into(),
        ];
        add.extend(provider.registration_args());
        add.extend(["--data".into(), data.clone()]);
        for limit in limits {
            add.extend(["--limit".into(), (*limit).to_owned()]);
        }
        run(&add.iter().map(String::as_str).collect::<Vec<_>>());
        for user in first_party {
            let (ok, out) = admin(&hub_data, &["add", user, "--password", PW]);
            assert!(ok, "{out}");
        }
        let mut hub_env = vec![("PORTICO_INTEROP_ENLIST_BURST", "100")];
        hub_env.extend_from_slice(env);
        let hub = Hub::start(&hub_data, &hub_env);
        World {
            _dir: dir,
            hub,
            provider,
        }
    }

    /// Creates `user` at the provider, enlists a device and logs it in to the hub.
    async fn third_party(&self, user: &str, seed: u8) -> (Client, EnlistResponse) {
        let pdata = self.provider.data.to_string_lossy().into_owned();
        run(&[
            "provider",
            "user",
            "add",
            user,
            "--password",
            "provider-password",
            "--data",
            &pdata,
        ]);
        let (addr, cert) = (self.provider.addr, &self.provider.cert);
        let login_body = json!({"user": user, "password": "provider-password"});
        let token = post(addr, cert, "/v1/login", &login_body, None).await["session_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let mut k = [seed; 33];
        k[0] = 5;
        let ik = b64url_encode(&k);
        let body = json!({"identity_key": ik, "audience": "localhost"});
        let assertion = post(addr, cert, "/v1/assertion", &body, Some(&token)).await["assertion"]
            .as_str()
            .expect("assertion")
            .to_owned();
        let body = json!({"assertion": assertion, "identity_key": ik, "registration_id": 7});
        let e: EnlistResponse = serde_json::from_value(
            post(self.hub.http, &self.hub.cert(), "/v1/enlist", &body, None).await,
        )
        .expect("enlist response");
        let l = Login {
            addr: self.hub.tls,
            tls: common::client_config(&self.hub.cert()),
            domain: "localhost".into(),
            user: e.jid.clone(),
            password: compose_password(e.credential.expose(), &token).to_string(),
            mech: Mech::Plain,
            resource: Some(e.device_id.to_string()),
            starttls: false,
            resume: None,
        };
        let c = Client::connect(&l)
            .await
            .unwrap_or_else(|err| panic!("{user} logs in: {err:?}"));
        (c, e)
    }

    async fn first_party(&self, user: &str) -> Client {
        Client::connect(&login(&self.hub, user, PW))
            .await
            .unwrap_or_else(|e| panic!("{user} logs in: {e:?}"))
    }
}

async fn send_to(
    c: &mut Client,
    to: &str,
    id: &str,
    devices: &[u32],
    extra: Option<Element>,
) -> Result<(), StanzaError> {
    let mut m = e2ee_message(to, id, devices, &[], b"ciphertext");
    if let Some(x) = extra {
        m.push_child(x);
    }
    c.send(m).await.expect("send");
    let answer = expect(c, T, "an ack or an error", |e| {
        ack_of(e).is_some_and(|a| a.attr("id") == Some(id))
            || (e.attr("type") == Some("error") && e.attr("id") == Some(id))
    })
    .await;
    if ack_of(&answer).is_some() {
        return Ok(());
    }
    Err(Message::try_from(answer)
        .expect("error message")
        .error
        .expect("error"))
}

async fn send(c: &mut Client, to: &str, id: &str) -> Result<(), StanzaError> {
    send_to(c, to, id, &[1], None).await
}

fn refusal(e: &StanzaError) -> Option<Refusal> {
    Refusal::from_stanza_error(e).map(|r| r.expect("a valid policy condition"))
}

async fn opt_in(c: &mut Client, discoverable: bool) {
    let s = InteropSettings {
        mode: ThirdPartyMode::All,
        providers: Vec::new(),
        discoverable,
    };
    let answer = c.iq(Iq::set("opt-in", s.into()), T).await.expect("answer");
    assert!(matches!(answer.kind, IqKind::Result(None)), "{answer:?}");
}

fn recipient_refused() -> Option<Refusal> {
    Some(Refusal::NotOptedIn {
        party: Party::Recipient,
        provider: Some("birdy".into()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamps_opt_in_blocks_and_new_contacts_across_the_boundary() {
    let w = World::start(
        &["alice", "carol", "dave"],
        &[("PORTICO_POLICY_NEW_CONTACTS_PER_DAY", "2")],
    );
    let mut alice = w.first_party("alice").await;
    let (mut bob, bob_e) = w.third_party("bob", 11).await;
    let bob_jid = bob_e.jid.clone();

    // Alice has not opted in: refused, and a made-up account answers exactly the same.
    let err = send(&mut bob, "alice@localhost", "m0")
        .await
        .expect_err("not opted in");
    assert_eq!(err.condition, StanzaCondition::Forbidden);
    assert_eq!(refusal(&err), recipient_refused());
    let nobody = send(&mut bob, "nobody@localhost", "m1")
        .await
        .expect_err("no such user");
    assert_eq!(
        (nobody.condition, nobody.text.clone(), refusal(&nobody)),
        (err.condition, err.text.clone(), refusal(&err))
    );

    // Once alice opts in, bob's message arrives stamped by the hub; a stamp bob forged is
    // not what alice sees.
    opt_in(&mut alice, false).await;
    let forged = Element::new("interop", ns::PORTICO_INTEROP)
        .with_attr("provider", "bank")
        .with_attr("visible-id", "security@bank.example");
    assert_eq!(
        send_to(&mut bob, "alice@localhost", "m2", &[1], Some(forged)).await,
        Ok(())
    );
    let got = expect(&mut alice, T, "bob's message", |e| e2ee_of(e).is_some()).await;
    let got = Message::try_from(got).expect("message");
    assert_eq!(
        got.from.map(|j| j.to_bare().to_string()),
        Some(bob_jid.clone())
    );
    assert_eq!(
        got.interop,
        Some(Interop {
            provider: "birdy".into(),
            visible: "bob@birdy.example".into()
        })
    );
    // Alice answers; a first-party sender's message carries no stamp.
    assert_eq!(
        send_to(&mut alice, &bob_jid, "r1", &[bob_e.device_id], None).await,
        Ok(())
    );
    let got = expect(&mut bob, T, "alice's reply", |e| e2ee_of(e).is_some()).await;
    assert_eq!(Message::try_from(got).expect("message").interop, None);

    // New contacts: at most two a day. Alice was the first; carol the second; dave is
    // refused, while bob may still write to alice.
    let mut carol = w.first_party("carol").await;
    let mut dave = w.first_party("dave").await;
    opt_in(&mut carol, false).await;
    opt_in(&mut dave, false).await;
    assert_eq!(send(&mut bob, "carol@localhost", "m3").await, Ok(()));
    let err = send(&mut bob, "dave@localhost", "m4")
        .await
        .expect_err("third new contact");
    assert_eq!(err.condition, StanzaCondition::PolicyViolation);
    match refusal(&err) {
        Some(Refusal::NewContactLimit {
            max_per_day: 2,
            retry_after,
        }) => {
            assert!((86_000..=86_400).contains(&retry_after), "{retry_after}")
        }
        other => panic!("expected the new-contact limit, got {other:?}"),
    }
    assert_eq!(send(&mut bob, "alice@localhost", "m5").await, Ok(()));
    // Dave writing first makes the pair known: bob may answer him.
    assert_eq!(
        send_to(&mut dave, &bob_jid, "d1", &[bob_e.device_id], None).await,
        Ok(())
    );
    assert_eq!(send(&mut bob, "dave@localhost", "m6").await, Ok(()));

    // Alice blocks bob: across the boundary that looks like an opt-out.
    let block = Iq::set(
        "b1",
        Blocking::Block(vec![Jid::parse(&bob_jid).expect("jid")]).into(),
    );
    assert!(matches!(
        alice.iq(block, T).await.expect("answer").kind,
        IqKind::Result(None)
    ));
    let err = send(&mut bob, "alice@localhost", "m7")
        .await
        .expect_err("blocked");
    assert_eq!(refusal(&err), recipient_refused());
    assert_eq!(
        send(&mut bob, "carol@localhost", "m8").await,
        Ok(()),
        "others keep chatting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_and_pair_buckets_refuse_by_name_and_discovery_needs_consent() {
    let env = [
        ("PORTICO_POLICY_PROVIDER_BURST", "4"),
        ("PORTICO_POLICY_PROVIDER_PER_MINUTE", "1"),
        ("PORTICO_POLICY_PAIR_BURST", "2"),
        ("PORTICO_POLICY_PAIR_PER_MINUTE", "1"),
        ("PORTICO_POLICY_DISCOVER_BURST", "2"),
        ("PORTICO_POLICY_DISCOVER_PER_MINUTE", "2"),
    ];
    let w = World::start(&["alice", "carol"], &env);
    let mut alice = w.first_party("alice").await;
    let mut carol = w.first_party("carol").await;
    opt_in(&mut alice, false).await;
    opt_in(&mut carol, false).await;
    let (mut bob, bob_e) = w.third_party("bob", 21).await;
    let (mut zed, _) = w.third_party("zed", 22).await;

    // Pair: bob may send alice two, then that pair is refused; bob → carol still passes.
    assert_eq!(send(&mut bob, "alice@localhost", "b1").await, Ok(()));
    assert_eq!(send(&mut bob, "alice@localhost", "b2").await, Ok(()));
    let err = send(&mut bob, "alice@localhost", "b3")
        .await
        .expect_err("pair");
    assert!(
        matches!(
            refusal(&err),
            Some(Refusal::RateLimited {
                limit: RateLimit::Pair,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(send(&mut bob, "carol@localhost", "b4").await, Ok(()));
    // Provider: four messages from birdy's users in all; zed's second is the fifth.
    assert_eq!(send(&mut zed, "carol@localhost", "z1").await, Ok(()));
    let err = send(&mut zed, "carol@localhost", "z2")
        .await
        .expect_err("provider");
    assert_eq!(err.condition, StanzaCondition::PolicyViolation);
    assert!(
        matches!(
            refusal(&err),
            Some(Refusal::RateLimited {
                limit: RateLimit::Provider,
                ..
            })
        ),
        "{err:?}"
    );
    // The hub's own users keep chatting, with each other and with bob.
    assert_eq!(send(&mut alice, "carol@localhost", "a1").await, Ok(()));
    assert_eq!(
        send_to(&mut carol, &bob_e.jid, "c1", &[bob_e.device_id], None).await,
        Ok(())
    );

    // Discovery: bob is not found until he allows it, then found by visible id.
    let d = || Discover {
        provider: "birdy".into(),
        visible_id: "bob@birdy.example".into(),
        jid: None,
    };
    let answer = alice
        .iq(Iq::get("d1", d().into()), T)
        .await
        .expect("answer");
    assert!(
        matches!(&answer.kind, IqKind::Error { error, .. } if error.condition == StanzaCondition::ItemNotFound),
        "{answer:?}"
    );
    opt_in(&mut bob, true).await;
    let answer = alice
        .iq(Iq::get("d2", d().into()), T)
        .await
        .expect("answer");
    match answer.kind {
        IqKind::Result(Some(p)) => {
            let found = Discover::try_from(p).expect("discover");
            assert_eq!(found.jid.map(|j| j.to_string()), Some(bob_e.jid.clone()));
        }
        other => panic!("expected bob's JID, got {other:?}"),
    }
    // Two lookups a minute (set above): alice's third is refused naming the discover bucket,
    // found or not; carol's lookups still pass.
    let answer = alice
        .iq(Iq::get("d3", d().into()), T)
        .await
        .expect("answer");
    let IqKind::Error { error, .. } = answer.kind else {
        panic!("a third lookup passed: {answer:?}")
    };
    assert_eq!(error.condition, StanzaCondition::PolicyViolation);
    assert!(
        matches!(
            refusal(&error),
            Some(Refusal::RateLimited {
                limit: RateLimit::Discover,
                retry_after: 1..=60
            })
        ),
        "{error:?}"
    );
    let answer = carol
        .iq(Iq::get("d4", d().into()), T)
        .await
        .expect("answer");
    assert!(matches!(answer.kind, IqKind::Result(Some(_))), "{answer:?}");
}

fn publish(identity: [u8; 33]) -> Iq {
    let signed = |id| SignedPreKey {
        id,
        public: vec![1; 33],
        signature: vec![2; 64],
    };
    let el = Publish {
        registration_id: Some(7),
        identity: Some(identity.to_vec()),
        signed_prekey: Some(signed(1)),
        last_resort_kyber: Some(signed(9000)),
        prekeys: vec![PreKey {
            id: 1,
            public: vec![3; 33],
        }],
        kyber_prekeys: Vec::new(),
    };
    Iq::set("publish", el.into())
}

async fn fetch_keys(c: &mut Client, jid: &str) -> Result<Bundles, StanzaError> {
    let fetch = Fetch {
        jid: Jid::parse(jid).expect("jid"),
        devices: Vec::new(),
    };
    let answer = c
        .iq(Iq::get("fetch", fetch.into()), T)
        .await
        .expect("answer");
    match answer.kind {
        IqKind::Result(Some(b)) => Ok(Bundles::try_from(b).expect("bundles")),
        IqKind::Error { error, .. } => Err(error),
        other => panic!("fetch answer {other:?}"),
    }
}

async fn device_list(c: &mut Client, jid: &str) -> StanzaError {
    let get = Element::new("devices", ns::PORTICO_KEYS).with_attr("jid", jid);
    let answer = c.iq(Iq::get("devices", get), T).await.expect("answer");
    match answer.kind {
        IqKind::Error { error, .. } => error,
        other => panic!("device list answer {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_directory_asks_the_same_consent_as_a_message() {
    let w = World::start(&["alice"], &[]);
    let mut alice = w.first_party("alice").await;
    let answer = alice.iq(publish([5; 33]), T).await.expect("answer");
    assert!(matches!(answer.kind, IqKind::Result(_)), "{answer:?}");
    let (mut bob, bob_e) = w.third_party("bob", 11).await;

    // Alice has not opted in: her keys and device list are refused exactly like a message
    // to her, and exactly like an account that does not exist.
    let refused = fetch_keys(&mut bob, "alice@localhost")
        .await
        .expect_err("alice has not opted in");
    assert_eq!(refused.condition, StanzaCondition::Forbidden);
    assert_eq!(refusal(&refused), recipient_refused());
    let message = send(&mut bob, "alice@localhost", "m0")
        .await
        .expect_err("message refused too");
    let nobody = fetch_keys(&mut bob, "nobody@localhost")
        .await
        .expect_err("no such account");
    for other in [
        &message,
        &nobody,
        &device_list(&mut bob, "alice@localhost").await,
    ] {
        assert_eq!(
            (&other.condition, &other.text, refusal(other)),
            (&refused.condition, &refused.text, refusal(&refused))
        );
    }

    // Once she opts in, bob gets her bundle with its one-time prekey.
    opt_in(&mut alice, false).await;
    let bundles = fetch_keys(&mut bob, "alice@localhost")
        .await
        .expect("opted in");
    assert_eq!(bundles.bundles.len(), 1);
    assert_eq!(bundles.bundles[0].prekey.as_ref().map(|k| k.id), Some(1));

    // A block looks like an opt-out again.
    let block = Blocking::Block(vec![Jid::parse(&bob_e.jid).expect("jid")]);
    let answer = alice
        .iq(Iq::set("b", block.into()), T)
        .await
        .expect("answer");
    assert!(matches!(answer.kind, IqKind::Result(None)), "{answer:?}");
    let blocked = fetch_keys(&mut bob, "alice@localhost")
        .await
        .expect_err("blocked");
    assert_eq!(refusal(&blocked), recipient_refused());

    // Alice, having blocked bob, is told so when she asks for his keys.
    let own_block = fetch_keys(&mut alice, &bob_e.jid)
        .await
        .expect_err("alice blocked bob");
    assert_eq!(refusal(&own_block), Some(Refusal::Blocked));
    // Within the hub's own network an unknown account is plainly not found.
    let unknown = fetch_keys(&mut alice, "nobody@localhost")
        .await
        .expect_err("unknown");
    assert_eq!(unknown.condition, StanzaCondition::ItemNotFound);

    // Bob's device enlisted with identity key [11; 33] (first byte 5): it may publish that
    // key, never another.
    let mut enlisted = [11; 33];
    enlisted[0] = 5;
    let answer = bob.iq(publish(enlisted), T).await.expect("answer");
    assert!(matches!(answer.kind, IqKind::Result(_)), "{answer:?}");
    let answer = bob.iq(publish([6; 33]), T).await.expect("answer");
    let IqKind::Error { error, .. } = answer.kind else {
        panic!("another identity key was accepted: {answer:?}")
    };
    assert_eq!(error.condition, StanzaCondition::NotAcceptable);
    assert!(
        error
            .text
            .as_deref()
            .unwrap_or_default()
            .contains("enlist again"),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_registered_with_its_own_limit_gets_that_limit() {
    let w = World::start_with_limits(
        &["alice"],
        &[],
        &["messages_per_minute=1", "messages_burst=2"],
    );
    let mut alice = w.first_party("alice").await;
    opt_in(&mut alice, false).await;
    let (mut bob, _) = w.third_party("bob", 31).await;
    // The [policy] provider default allows 20 000 at once; birdy was registered with 2.
    assert_eq!(send(&mut bob, "alice@localhost", "p1").await, Ok(()));
    assert_eq!(send(&mut bob, "alice@localhost", "p2").await, Ok(()));
    let err = send(&mut bob, "alice@localhost", "p3")
        .await
        .expect_err("birdy's own limit");
    match refusal(&err) {
        Some(Refusal::RateLimited {
            limit: RateLimit::Provider,
            retry_after,
        }) => assert!((1..=60).contains(&retry_after), "{retry_after}"),
        other => panic!("expected birdy's provider limit, got {other:?}"),
    }

    // A limit the hub does not know is refused, naming the ones it knows.
    let data = w.hub.data.to_string_lossy().into_owned();
    let out = portico()
        .args([
            "admin",
            "provider",
            "add",
            "other",
            "--domain",
            "other.example",
        ])
        .args([
            "--endpoint",
            "https://127.0.0.1:9",
            "--public-key",
            &w.provider.public_key,
        ])
        .args(["--limit", "messages_per_hour=5", "--data", &data])
        .output()
        .expect("run portico");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("messages_per_hour") && text.contains("messages_per_minute, messages_burst"),
        "{text}"
    );
}
