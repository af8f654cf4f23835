//! Third-party providers end to end: the hub (`portico serve`) and the reference provider
//! (`portico provider serve`) run as separate processes and talk real HTTPS to each other.
//! Enlistment and its refusals (forged signature, unknown issuer, wrong audience, expired,
//! replayed, key mismatch), third-party login with the provider's `/auth`, revocation and
//! suspension dropping connected sessions, and a content-free push for an offline device.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::provider::{Provider, start_provider};
use common::xmpp::{Client, ClientError, Login, Mech, e2ee_message, expect, stream_error};
use common::{Hub, run};
use portico_hub::interop::wire::api::{EnlistResponse, Problem};
use portico_hub::interop::wire::assertion::{self, Claims};
use portico_hub::interop::wire::keys::{b64url_encode, encode_public_key};
use portico_hub::interop::wire::login::compose_password;
use serde_json::{Value, json};

/// `POST path` over HTTPS with a JSON body; returns (status, content type, body).
async fn post(
    addr: SocketAddr,
    cert: &Path,
    path: &str,
    body: &str,
    bearer: Option<&str>,
) -> (u16, String, String) {
    common::https_post_json(addr, cert, path, body, bearer).await
}

/// Hub, provider, and the provider registered at the hub.
struct World {
    _dir: tempfile::TempDir,
    hub: Hub,
    provider: Provider,
}

impl World {
    fn start(extra_env: &[(&str, &str)]) -> World {
        // Every test enlists from 127.0.0.1, more often than the default per-address limit.
        let mut hub_env = vec![("PORTICO_INTEROP_ENLIST_BURST", "100")];
        hub_env.extend_from_slice(extra_env);
        let dir = tempfile::tempdir().expect("tempdir");
        let hub_data = dir.path().join("hub");
        let (ok, hub_key) = run(&["admin", "hub-key", "--data", &hub_data.to_string_lossy()]);
        assert!(ok, "{hub_key}");
        let hub_key = hub_key.trim().to_owned();
        assert_eq!(hub_key.len(), 43, "b64url of 32 bytes: {hub_key}");
        let provider = start_provider(&dir.path().join("provider"), &hub_key);
        let mut add = vec![
            "admin".to_owned(),
            "provider".into(),
            "add".into(),
            "birdy".into(),
        ];
        add.extend(provider.registration_args());
        add.extend(["--data".into(), hub_data.to_string_lossy().into_owned()]);
        let (ok, out) = run(&add.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(ok, "{out}");
        let hub = Hub::start(&hub_data, &hub_env);
        World {
            _dir: dir,
            hub,
            provider,
        }
    }

    fn admin(&self, args: &[&str]) -> String {
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        let data = self.hub.data.to_string_lossy().into_owned();
        all.extend_from_slice(&["--data", &data]);
        let (ok, out) = run(&all);
        assert!(ok, "portico {all:?}: {out}");
        out
    }

    fn provider_cmd(&self, args: &[&str]) -> String {
        let mut all = vec!["provider"];
        all.extend_from_slice(args);
        let data = self.provider.data.to_string_lossy().into_owned();
        all.extend_from_slice(&["--data", &data]);
        let (ok, out) = run(&all);
        assert!(ok, "portico {all:?}: {out}");
        out
    }

    /// Creates `user` at the provider and logs in; returns the session token.
    async fn provider_login(&self, user: &str) -> String {
        self.provider_cmd(&["user", "add", user, "--password", "provider-password"]);
        let (status, _, body) = post(
            self.provider.addr,
            &self.provider.cert,
            "/v1/login",
            &json!({"user": user, "password": "provider-password"}).to_string(),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        v["session_token"].as_str().expect("token").to_owned()
    }

    async fn assertion(&self, token: &str, ik: &str, audience: &str) -> String {
        let (status, _, body) = post(
            self.provider.addr,
            &self.provider.cert,
            "/v1/assertion",
            &json!({"identity_key": ik, "audience": audience}).to_string(),
            Some(token),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        v["assertion"].as_str().expect("assertion").to_owned()
    }

    async fn enlist_raw(&self, assertion: &str, ik: &str, reg: u32) -> (u16, String, String) {
        let body = json!({"assertion": assertion, "identity_key": ik, "registration_id": reg});
        post(
            self.hub.http,
            &self.hub.cert(),
            "/v1/enlist",
            &body.to_string(),
            None,
        )
        .await
    }

    async fn enlist(&self, assertion: &str, ik: &str) -> EnlistResponse {
        let (status, ctype, body) = self.enlist_raw(assertion, ik, 42).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ctype, "application/json");
        serde_json::from_str(&body).expect("enlist response")
    }

    /// A third-party device's XMPP login parameters.
    fn login(&self, e: &EnlistResponse, token: &str) -> Login {
        Login {
            addr: self.hub.tls,
            tls: common::client_config(&self.hub.cert()),
            domain: "localhost".into(),
            user: e.jid.clone(),
            password: compose_password(e.credential.expose(), token).to_string(),
            mech: Mech::Plain,
            resource: Some(e.device_id.to_string()),
            starttls: false,
            resume: None,
        }
    }
}

fn identity_key(seed: u8) -> String {
    let mut k = [seed; 33];
    k[0] = 5;
    b64url_encode(&k)
}

fn problem(status: u16, ctype: &str, body: &str, want_status: u16, slug: &str) -> Problem {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(ctype, "application/problem+json", "{body}");
    let p: Problem = serde_json::from_str(body).expect("problem json");
    assert_eq!(p.slug(), Some(slug), "{body}");
    assert_eq!(p.status, want_status);
    assert!(!p.detail.is_empty());
    p
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn claims(iss: &str, ik: &str, aud: &str, iat: u64, exp: u64, jti: &str) -> Claims {
    Claims {
        iss: iss.into(),
        sub: "mallory@birdy.example".into(),
        aud: aud.into(),
        ik: ik.into(),
        iat,
        exp,
        jti: jti.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enlistment_is_idempotent_and_every_bad_assertion_has_its_own_refusal() {
    let w = World::start(&[]);
    let token = w.provider_login("bob").await;
    let ik = identity_key(9);
    let a = w.assertion(&token, &ik, "localhost").await;
    let first = w.enlist(&a, &ik).await;
    assert!(
        first.jid.ends_with("@birdy.interop.localhost"),
        "{}",
        first.jid
    );
    assert_eq!(first.hub_domain, "localhost");
    // An exact retry gets the same answer.
    let again = w.enlist(&a, &ik).await;
    assert_eq!(again, first);
    // The same assertion with another body is a replay.
    let (s, c, b) = w.enlist_raw(&a, &ik, 43).await;
    problem(s, &c, &b, 409, "replayed");
    // A new assertion for the same device: same JID and device, new credential.
    let a2 = w.assertion(&token, &ik, "localhost").await;
    let renewed = w.enlist(&a2, &ik).await;
    assert_eq!(
        (renewed.jid.as_str(), renewed.device_id),
        (first.jid.as_str(), first.device_id)
    );
    assert_ne!(renewed.credential, first.credential);
    // Another device of the same user: same JID, another device id.
    let ik2 = identity_key(10);
    let a3 = w.assertion(&token, &ik2, "localhost").await;
    let other = w.enlist(&a3, &ik2).await;
    assert_eq!(other.jid, first.jid);
    assert_ne!(other.device_id, first.device_id);

    // Key binding: the assertion's ik must be the request's identity key.
    let a4 = w.assertion(&token, &ik, "localhost").await;
    let (s, c, b) = w.enlist_raw(&a4, &identity_key(11), 1).await;
    problem(s, &c, &b, 400, "key-mismatch");
    // Wrong audience: the real provider signed it for another hub.
    let a5 = w.assertion(&token, &ik, "other-hub.example").await;
    let (s, c, b) = w.enlist_raw(&a5, &ik, 1).await;
    let p = problem(s, &c, &b, 401, "wrong-audience");
    assert!(p.detail.contains("localhost"), "{}", p.detail);

    // Our own signing key, to forge and to register a test provider with.
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("random");
    let key = portico_hub::interop::wire::SigningKey::from_bytes(&seed);
    let t = now();
    // Forged: claims to be birdy, signed with another key.
    let forged = assertion::sign(
        &claims("birdy", &ik, "localhost", t, t + 60, "forged-0000000001"),
        &key,
    );
    let (s, c, b) = w.enlist_raw(&forged, &ik, 1).await;
    problem(s, &c, &b, 401, "bad-signature");
    // Unknown issuer.
    let unknown = assertion::sign(
        &claims("nobody", &ik, "localhost", t, t + 60, "unknown-000000001"),
        &key,
    );
    let (s, c, b) = w.enlist_raw(&unknown, &ik, 1).await;
    problem(s, &c, &b, 403, "unknown-issuer");
    // A provider whose key we hold: expired, too long, not yet valid.
    w.admin(&[
        "provider",
        "add",
        "testprov",
        "--domain",
        "test.example",
        "--endpoint",
        &w.provider.url,
        "--public-key",
        &encode_public_key(&key.verifying_key()),
    ]);
    let signed = |iat, exp, jti: &str| {
        assertion::sign(&claims("testprov", &ik, "localhost", iat, exp, jti), &key)
    };
    let (s, c, b) = w
        .enlist_raw(&signed(t - 1000, t - 700, "expired-00000000001"), &ik, 1)
        .await;
    problem(s, &c, &b, 401, "expired");
    let (s, c, b) = w
        .enlist_raw(&signed(t, t + 3600, "toolong-00000000001"), &ik, 1)
        .await;
    problem(s, &c, &b, 401, "lifetime-too-long");
    let (s, c, b) = w
        .enlist_raw(&signed(t + 1000, t + 1100, "future-000000000001"), &ik, 1)
        .await;
    problem(s, &c, &b, 401, "not-yet-valid");
    let good = signed(t, t + 60, "good-00000000000001");
    let (s, _, b) = w.enlist_raw(&good, &ik, 1).await;
    assert_eq!(s, 200, "{b}");
    // Suspended issuer.
    w.admin(&["provider", "suspend", "testprov"]);
    let (s, c, b) = w
        .enlist_raw(&signed(t, t + 60, "suspended-000000001"), &ik, 1)
        .await;
    problem(s, &c, &b, 403, "provider-suspended");
    // Malformed bodies and tokens.
    let (s, c, b) = post(w.hub.http, &w.hub.cert(), "/v1/enlist", "{", None).await;
    problem(s, &c, &b, 400, "bad-request");
    let (s, c, b) = w.enlist_raw("pia2.x.y", &ik, 1).await;
    problem(s, &c, &b, 400, "unsupported-version");

    let list = w.admin(&["provider", "list"]);
    assert!(list.contains("birdy\tactive"), "{list}");
    assert!(list.contains("users=1"), "{list}");
    assert!(list.contains("testprov\tsuspended"), "{list}");
}

async fn connect(login: &Login) -> Result<Client, ClientError> {
    tokio::time::timeout(Duration::from_secs(20), Client::connect(login))
        .await
        .expect("login finishes")
}

async fn expect_dropped(client: &mut Client, within: Duration, what: &str) -> (String, String) {
    let el = expect(client, within, what, |el| stream_error(el).is_some()).await;
    stream_error(&el).expect("a stream error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_auth_decides_logins_and_revocation_and_suspension_drop_sessions() {
    let w = World::start(&[("PORTICO_INTEROP_AUTH_RECHECK_SECS", "1")]);
    let token = w.provider_login("bob").await;
    let ik = identity_key(21);
    let e = w
        .enlist(&w.assertion(&token, &ik, "localhost").await, &ik)
        .await;

    // Logged in as the internal JID, bound to the enlisted device.
    let mut bob = connect(&w.login(&e, &token)).await.expect("bob logs in");
    assert_eq!(bob.jid.to_string(), format!("{}/{}", e.jid, e.device_id));
    // A wrong credential or session token is refused with the reason.
    let mut bad = w.login(&e, &token);
    bad.password = compose_password(&b64url_encode(&[7u8; 32]), &token).to_string();
    let err = connect(&bad).await.err().expect("refused");
    assert!(err.to_string().contains("enlist again"), "{err}");
    let mut bad = w.login(&e, "not-a-session");
    bad.resource = Some(e.device_id.to_string());
    let err = connect(&bad).await.err().expect("refused");
    assert!(err.to_string().contains("provider says"), "{err}");
    // Binding another device with this credential is refused.
    let mut other = w.login(&e, &token);
    other.resource = None;
    let err = connect(&other).await.err().expect("refused");
    assert!(err.to_string().contains("belongs to device"), "{err}");

    // The provider revokes bob: the connected session is dropped at the next re-check and a
    // new login is refused with the provider's reason.
    w.provider_cmd(&["user", "revoke", "bob"]);
    let (cond, text) = expect_dropped(&mut bob, Duration::from_secs(5), "revocation").await;
    assert_eq!(cond, "not-authorized", "{text}");
    assert!(text.contains("provider says"), "{text}");
    let err = connect(&w.login(&e, &token)).await.err().expect("refused");
    assert!(err.to_string().contains("provider says"), "{err}");

    // Suspension: every session of the provider is gone within a second.
    w.provider_cmd(&["user", "restore", "bob"]);
    let token = w.provider_login("carol").await;
    let mut sessions = Vec::new();
    for seed in [31u8, 32] {
        let ik = identity_key(seed);
        let e = w
            .enlist(&w.assertion(&token, &ik, "localhost").await, &ik)
            .await;
        sessions.push(connect(&w.login(&e, &token)).await.expect("carol logs in"));
    }
    w.admin(&["provider", "suspend", "birdy"]);
    let suspended_at = Instant::now();
    for s in &mut sessions {
        let (cond, text) = expect_dropped(s, Duration::from_secs(1), "suspension").await;
        assert_eq!(cond, "policy-violation", "{text}");
        assert!(text.contains("suspended"), "{text}");
    }
    assert!(suspended_at.elapsed() < Duration::from_secs(1));
    let ik = identity_key(33);
    let (s, c, b) = w
        .enlist_raw(&w.assertion(&token, &ik, "localhost").await, &ik, 1)
        .await;
    problem(s, &c, &b, 403, "provider-suspended");
    let e = w
        .enlist_raw(
            &w.assertion(&token, &identity_key(31), "localhost").await,
            &identity_key(31),
            1,
        )
        .await;
    assert_eq!(e.0, 403);
    w.admin(&["provider", "resume", "birdy"]);
    let e = w
        .enlist(&w.assertion(&token, &ik, "localhost").await, &ik)
        .await;
    connect(&w.login(&e, &token))
        .await
        .expect("carol logs in again after resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_for_an_offline_third_party_device_wakes_it_through_its_provider_without_content()
{
    let w = World::start(&[]);
    let token = w.provider_login("bob").await;
    let ik = identity_key(41);
    let e = w
        .enlist(&w.assertion(&token, &ik, "localhost").await, &ik)
        .await;
    assert!(
        common::admin(
            &w.hub.data,
            &["add", "alice", "--password", "alice-password"]
        )
        .0
    );
    let mut alice = connect(&common::xmpp::login(&w.hub, "alice", "alice-password"))
        .await
        .expect("alice logs in");
    opt_in(&mut alice).await;
    let secret_body = b"meet me at the usual place";
    alice
        .send(e2ee_message(&e.jid, "m1", &[e.device_id], &[], secret_body))
        .await
        .expect("send");
    let ack = expect(&mut alice, Duration::from_secs(5), "ack or error", |el| {
        common::xmpp::ack_of(el).is_some() || el.attr("type") == Some("error")
    })
    .await;
    assert!(common::xmpp::ack_of(&ack).is_some(), "{ack}");
    let push = wait_for_push(&w, Duration::from_secs(10)).await;
    assert_eq!(push["jid"], e.jid.as_str());
    assert_eq!(push["device_id"], e.device_id);
    assert_eq!(push["visible_id"], "bob@birdy.example");
    assert!(push["pending"].as_u64().is_some_and(|n| n >= 1), "{push}");
    let text = push.to_string();
    for leak in ["meet me", &b64url_encode(secret_body), "alice", "m1"] {
        assert!(!text.contains(leak), "push carries {leak:?}: {text}");
    }
    let keys: Vec<&str> = push
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    for k in &keys {
        assert!(
            [
                "push_id",
                "visible_id",
                "jid",
                "device_id",
                "pending",
                "received_at",
                "forwarded"
            ]
            .contains(k),
            "unexpected field {k} in {push}"
        );
    }

    // The provider logs the push before its answer reaches the hub, which counts it then.
    let delivered = "portico_interop_total{call=\"push\",outcome=\"delivered\"} 1";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let (_, _, m) = common::https_get(w.hub.http, &w.hub.cert(), "/metrics").await;
        if m.contains(delivered) || tokio::time::Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(metrics.contains(delivered), "{metrics}");
    assert!(
        metrics.contains("portico_interop_total{call=\"enlist\",outcome=\"ok\"} 1"),
        "{metrics}"
    );

    // Bob comes online and gets the message; he answers; alice gets it.
    let mut bob = connect(&w.login(&e, &token)).await.expect("bob logs in");
    let got = expect(&mut bob, Duration::from_secs(5), "alice's message", |el| {
        common::xmpp::e2ee_of(el).is_some()
    })
    .await;
    assert_eq!(got.attr("id"), Some("m1"));
    let alice_device: u32 = alice
        .jid
        .resource()
        .and_then(|r| r.parse().ok())
        .expect("device");
    bob.send(e2ee_message(
        "alice@localhost",
        "r1",
        &[alice_device],
        &[],
        b"reply",
    ))
    .await
    .expect("send");
    let got = expect(&mut alice, Duration::from_secs(5), "bob's reply", |el| {
        common::xmpp::e2ee_of(el).is_some()
    })
    .await;
    assert_eq!(got.attr("id"), Some("r1"));
    assert!(
        got.attr("from").is_some_and(|f| f.starts_with(&e.jid)),
        "{got}"
    );
}

/// Alice opts in to chats with users of provider birdy (third-party chats are off by
/// default).
async fn opt_in(alice: &mut Client) {
    use portico_stanza::stanza::{Iq, IqKind};
    let settings = portico_stanza::Element::new("settings", "urn:portico:interop-settings:1")
        .with_attr("third-party", "listed")
        .with_child(
            portico_stanza::Element::new("provider", "urn:portico:interop-settings:1")
                .with_attr("id", "birdy")
                .with_attr("allow", "true"),
        );
    let reply = alice
        .iq(Iq::set("opt-in", settings), Duration::from_secs(5))
        .await
        .expect("an answer to the settings IQ");
    // A hub without the policy module answers service-unavailable: nothing to opt in to.
    let unsupported = matches!(&reply.kind, IqKind::Error { error, .. } if error.condition == portico_stanza::stanza::StanzaCondition::ServiceUnavailable);
    assert!(
        matches!(reply.kind, IqKind::Result(_)) || unsupported,
        "{reply:?}"
    );
}

async fn wait_for_push(w: &World, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let out = w.provider_cmd(&["pushes"]);
        if let Some(line) = out.lines().find(|l| l.starts_with('{')) {
            return serde_json::from_str(line).expect("push json");
        }
        assert!(Instant::now() < deadline, "no push reached the provider");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
