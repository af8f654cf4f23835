//! End to end over real HTTPS: the reference provider in-process, a test "hub" that signs its
//! requests with its own key, and a plain-HTTP webhook receiver.

use std::sync::Arc;
use std::time::Duration;

use portico_interop::SigningKey;
use portico_interop::api::{AssertionResponse, AuthResponse, LoginResponse, Problem};
use portico_interop::assertion::{UnverifiedAssertion, VerifyPolicy};
use portico_interop::http_sig::sign_request;
use portico_interop::keys::{b64url_encode, decode_public_key, generate_signing_key};
use portico_provider::store::ProviderStore;
use portico_provider::webhook::request;
use portico_provider::{ProviderConfig, Ready};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

struct Provider {
    ready: Ready,
    tls: Arc<rustls::ClientConfig>,
    dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl Provider {
    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Vec<u8>) {
        let uri = format!("{}{path}", self.ready.url).parse().expect("uri");
        request(
            method,
            &uri,
            Some(self.tls.clone()),
            headers,
            body.as_bytes().to_vec(),
        )
        .await
        .expect("provider answers")
    }

    async fn hub_call(&self, key: &SigningKey, path: &str, body: &str) -> (u16, Vec<u8>) {
        let h = sign_request(
            "hub",
            key,
            "POST",
            path,
            body.as_bytes(),
            now(),
            &mut rand::rng(),
        );
        let pairs = h.pairs();
        let headers: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let mut all = headers.clone();
        all.push(("content-type", "application/json"));
        self.call("POST", path, &all, body).await
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn problem(body: &[u8]) -> Problem {
    serde_json::from_slice(body).expect("problem+json")
}

async fn start(hub: &SigningKey, webhook: Option<String>) -> Provider {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ProviderConfig::new(
        "birdy",
        "birdy.example",
        dir.path().to_owned(),
        "127.0.0.1:0".parse().expect("addr"),
    );
    config.hub_key = Some(hub.verifying_key());
    config.webhook = webhook;
    config.pbkdf2_iterations = 1000;
    let store = ProviderStore::open_with_iterations(dir.path(), 1000).expect("store");
    store.add_user("bob", "bob-pw", now()).expect("bob");
    store.add_user("carol", "carol-pw", now()).expect("carol");
    drop(store);
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        portico_provider::run(
            config,
            async {
                let _ = stopped.await;
            },
            |r| {
                let _ = ready_tx.send(r.clone());
            },
        )
        .await
        .expect("provider runs");
    });
    let ready = ready_rx.await.expect("ready");
    let tls = portico_provider::tls::client_config_trusting(&ready.cert_path).expect("trust");
    Provider {
        ready,
        tls,
        dir,
        _stop: stop,
    }
}

async fn login(p: &Provider, user: &str, pw: &str) -> LoginResponse {
    let (status, body) = p
        .call(
            "POST",
            "/v1/login",
            &[],
            &format!(r#"{{"user":"{user}","password":"{pw}"}}"#),
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("login response")
}

fn identity_key() -> String {
    let mut ik = [3u8; 33];
    ik[0] = 5;
    b64url_encode(&ik)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_log_in_and_get_assertions_the_hub_can_verify() {
    let hub = generate_signing_key(&mut rand::rng());
    let p = start(&hub, None).await;
    assert!(
        p.ready
            .line("birdy")
            .starts_with("portico provider ready id=birdy url=https://127.0.0.1:")
    );

    let (status, body) = p
        .call(
            "POST",
            "/v1/signup",
            &[],
            r#"{"user":"dave","password":"x"}"#,
        )
        .await;
    assert_eq!(
        (status, problem(&body).slug()),
        (403, Some("signup-closed"))
    );
    let (status, body) = p
        .call(
            "POST",
            "/v1/login",
            &[],
            r#"{"user":"bob","password":"nope"}"#,
        )
        .await;
    assert_eq!(
        (status, problem(&body).slug()),
        (401, Some("wrong-credentials"))
    );

    let session = login(&p, "bob", "bob-pw").await;
    assert_eq!(session.visible_id, "bob@birdy.example");
    assert_eq!(session.provider, "birdy");
    let bearer = format!("Bearer {}", session.session_token.expose());
    let body = format!(
        r#"{{"identity_key":"{}","audience":"hub.example"}}"#,
        identity_key()
    );

    let (status, b) = p.call("POST", "/v1/assertion", &[], &body).await;
    assert_eq!((status, problem(&b).slug()), (401, Some("not-logged-in")));
    let bad = r#"{"identity_key":"AAAA","audience":"hub.example"}"#;
    let (status, b) = p
        .call("POST", "/v1/assertion", &[("authorization", &bearer)], bad)
        .await;
    assert_eq!(
        (status, problem(&b).slug()),
        (400, Some("bad-identity-key"))
    );

    let (status, b) = p
        .call(
            "POST",
            "/v1/assertion",
            &[("authorization", &bearer)],
            &body,
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&b));
    let issued: AssertionResponse = serde_json::from_slice(&b).expect("assertion");
    let provider_key = decode_public_key(&p.ready.public_key).expect("key");
    let claims = UnverifiedAssertion::parse(&issued.assertion)
        .expect("parses")
        .verify(
            &provider_key,
            "hub.example",
            now(),
            &VerifyPolicy::default(),
        )
        .expect("verifies with the printed public key");
    assert_eq!(claims.iss, "birdy");
    assert_eq!(claims.sub, "bob@birdy.example");
    assert_eq!(claims.ik, identity_key());
    assert_eq!(claims.exp - claims.iat, 300);
    assert_eq!(claims.exp, issued.expires_at);

    let (status, _) = p
        .call("POST", "/v1/logout", &[("authorization", &bearer)], "")
        .await;
    assert_eq!(status, 204);
    let (status, _) = p
        .call(
            "POST",
            "/v1/assertion",
            &[("authorization", &bearer)],
            &body,
        )
        .await;
    assert_eq!(status, 401, "logged-out token is dead");
    let (status, b) = p.call("GET", "/nope", &[], "").await;
    assert_eq!((status, problem(&b).slug()), (404, Some("not-found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_answers_the_signed_hub_and_follows_revocation() {
    let hub = generate_signing_key(&mut rand::rng());
    let p = start(&hub, None).await;
    let bob = login(&p, "bob", "bob-pw").await;
    let carol = login(&p, "carol", "carol-pw").await;
    let auth_body = |token: &str| {
        format!(
            r#"{{"visible_id":"bob@birdy.example","jid":"x@birdy.interop.hub.example","device_id":1,"session_token":"{token}"}}"#
        )
    };
    let ask = |body: String| {
        let p = &p;
        let hub = hub.clone();
        async move {
            let (status, b) = p.hub_call(&hub, "/auth", &body).await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&b));
            serde_json::from_slice::<AuthResponse>(&b).expect("auth response")
        }
    };
    let yes = ask(auth_body(bob.session_token.expose())).await;
    assert!(yes.allowed, "{yes:?}");
    assert_eq!(yes.cache_seconds, 30);
    let other = ask(auth_body(carol.session_token.expose())).await;
    assert!(!other.allowed);
    assert!(
        other
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("another"),
        "{other:?}"
    );
    let unknown = ask(auth_body("made-up")).await;
    assert!(
        unknown
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("log in"),
        "{unknown:?}"
    );

    // Unsigned, wrongly signed, and replayed requests.
    let body = auth_body(bob.session_token.expose());
    let (status, b) = p.call("POST", "/auth", &[], &body).await;
    assert_eq!(
        (status, problem(&b).slug()),
        (401, Some("signature-header-missing"))
    );
    let forger = generate_signing_key(&mut rand::rng());
    let (status, b) = p.hub_call(&forger, "/auth", &body).await;
    assert_eq!((status, problem(&b).slug()), (401, Some("bad-signature")));
    let h = sign_request(
        "hub",
        &hub,
        "POST",
        "/auth",
        body.as_bytes(),
        now(),
        &mut rand::rng(),
    );
    let pairs = h.pairs();
    let headers: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert_eq!(p.call("POST", "/auth", &headers, &body).await.0, 200);
    let (status, b) = p.call("POST", "/auth", &headers, &body).await;
    assert_eq!(
        (status, problem(&b).slug()),
        (409, Some("replayed-request"))
    );

    // The operator revokes bob from the command line while the provider runs.
    let admin = ProviderStore::open(p.dir.path()).expect("second handle");
    admin.set_revoked("bob", true).expect("revoke");
    let no = ask(auth_body(bob.session_token.expose())).await;
    assert!(!no.allowed);
    assert!(
        no.reason.as_deref().unwrap_or_default().contains("revoked"),
        "{no:?}"
    );
    let (status, b) = p
        .call(
            "POST",
            "/v1/login",
            &[],
            r#"{"user":"bob","password":"bob-pw"}"#,
        )
        .await;
    assert_eq!((status, problem(&b).slug()), (403, Some("user-revoked")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_logged_and_forwarded_to_the_webhook_without_content() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_addr = listener.local_addr().expect("addr");
    let (seen_tx, mut seen) = mpsc::channel::<String>(4);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let mut got = Vec::new();
            // Read until the JSON body closes (small requests arrive whole).
            while !got.ends_with(b"}") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .await;
            let _ = seen_tx
                .send(String::from_utf8_lossy(&got).into_owned())
                .await;
        }
    });
    let hub = generate_signing_key(&mut rand::rng());
    let p = start(&hub, Some(format!("http://{hook_addr}/hook"))).await;
    let push = r#"{"visible_id":"bob@birdy.example","jid":"x@birdy.interop.hub.example","device_id":2,"push_id":"push-0001","pending":3}"#;
    let (status, b) = p.hub_call(&hub, "/push", push).await;
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&b));
    let (status, _) = p.hub_call(&hub, "/push", push).await;
    assert_eq!(status, 204, "a retried push is accepted");
    let stranger = push.replace("bob@", "zed@other.");
    let (status, b) = p.hub_call(&hub, "/push", &stranger).await;
    assert_eq!((status, problem(&b).slug()), (404, Some("unknown-user")));

    let request = tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .expect("webhook called in time")
        .expect("request");
    assert!(request.starts_with("POST /hook "), "{request}");
    let json = request.split("\r\n\r\n").nth(1).expect("body");
    let v: serde_json::Value = serde_json::from_str(json).expect("json");
    assert_eq!(v["provider"], "birdy");
    assert_eq!(v["push_id"], "push-0001");
    assert_eq!(v["device_id"], 2);
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    for k in &keys {
        assert!(
            [
                "provider",
                "push_id",
                "visible_id",
                "jid",
                "device_id",
                "pending",
                "received_at",
                "forwarded"
            ]
            .contains(&k.as_str()),
            "unexpected field {k}: no content or sender may leave the hub"
        );
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(500), seen.recv())
            .await
            .is_err(),
        "the retried push is forwarded once"
    );

    let bob = login(&p, "bob", "bob-pw").await;
    let bearer = format!("Bearer {}", bob.session_token.expose());
    let (status, b) = p
        .call("GET", "/v1/pushes", &[("authorization", &bearer)], "")
        .await;
    assert_eq!(status, 200);
    let log: Vec<serde_json::Value> = serde_json::from_slice(&b).expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["pending"], 3);
}
