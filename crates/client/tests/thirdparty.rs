//! Third-party mode end to end: a real hub and the real reference provider, in-process, talking
//! HTTPS to each other; a third-party user logs in to the provider, enlists, logs in to the hub
//! with the `pit1:` password and chats with a first-party user both ways; the provider revokes
//! the user; an offline device gets a push without content.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{T, password, text_of, wait_for};
use portico_client::thirdparty::{self, ThirdPartyConfig, ThirdPartyError};
use portico_client::{Client, Config, Event, Trust};
use portico_hub::store::interop::{InteropStore, Provider, ProviderStatus};
use portico_interop::keys::decode_public_key;
use portico_provider::store::ProviderStore;
use portico_provider::{ProviderConfig, Ready};
use tokio::sync::oneshot;

struct World {
    dir: tempfile::TempDir,
    hub_tls: SocketAddr,
    hub_http: SocketAddr,
    pin: String,
    provider: Ready,
    _hub_stop: portico_hub::shutdown::ShutdownTrigger,
    _provider_stop: oneshot::Sender<()>,
}

impl World {
    /// A hub with first-party user `alice`, and provider `birdy` (users `bob`, `carol`)
    /// registered at it.
    async fn start() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let hub_data = dir.path().join("hub");
        std::fs::create_dir_all(&hub_data).expect("hub dir");
        let hub_key = portico_hub::interop::keys::HubKeys::load_or_create(&hub_data)
            .expect("hub keys")
            .public_b64();

        // The provider first: the hub's registry needs its URL, key and certificate.
        let provider_data = dir.path().join("provider");
        std::fs::create_dir_all(&provider_data).expect("provider dir");
        let accounts = ProviderStore::open_with_iterations(&provider_data, 1000).expect("store");
        for user in ["bob", "carol"] {
            accounts.add_user(user, &password(user), 1).expect("user");
        }
        drop(accounts);
        let mut pc = ProviderConfig::new(
            "birdy",
            "birdy.example",
            provider_data,
            "127.0.0.1:0".parse().expect("addr"),
        );
        pc.hub_key = Some(decode_public_key(&hub_key).expect("hub key"));
        pc.hub_domains = vec!["localhost".into()];
        pc.auth_cache_seconds = 1;
        let (ready_tx, ready_rx) = oneshot::channel();
        let (provider_stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let stop = async {
                let _ = stopped.await;
            };
            if let Err(e) = portico_provider::run(pc, stop, |r| {
                let _ = ready_tx.send(r.clone());
            })
            .await
            {
                eprintln!("provider stopped: {e}");
            }
        });
        let provider = tokio::time::timeout(T, ready_rx)
            .await
            .expect("provider ready in time")
            .expect("provider ready");

        let vars: Vec<(String, String)> = [
            ("PORTICO_C2S_STARTTLS_ADDR", "127.0.0.1:0"),
            ("PORTICO_C2S_TLS_ADDR", "127.0.0.1:0"),
            ("PORTICO_HTTP_ADDR", "127.0.0.1:0"),
            ("PORTICO_INTEROP_AUTH_RECHECK_SECS", "1"),
            ("PORTICO_INTEROP_AUTH_CACHE_MAX_SECS", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config =
            portico_hub::config::Config::load(None, vars, Some(&hub_data)).expect("hub config");
        {
            let store = portico_hub::server::open_store(&config).expect("hub store");
            portico_hub::accounts::add_user(&store, "alice", &password("alice"))
                .await
                .expect("alice");
            store
                .add_provider(Provider {
                    id: "birdy".into(),
                    domain: "birdy.example".into(),
                    endpoint: provider.url.clone(),
                    public_key: decode_public_key(&provider.public_key)
                        .expect("provider key")
                        .to_bytes()
                        .to_vec(),
                    media_origins: vec![provider.url.clone()],
                    ca_pem: std::fs::read_to_string(&provider.cert_path).expect("cert"),
                    limits: BTreeMap::new(),
                    status: ProviderStatus::Active,
                })
                .await
                .expect("register birdy");
            store.close();
        }
        let (trigger, shutdown) = portico_hub::shutdown::channel();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            if let Err(e) = portico_hub::server::run(config, shutdown, move |b| {
                let _ = tx.send(b);
            })
            .await
            {
                eprintln!("hub stopped: {e}");
            }
        });
        let bound = tokio::time::timeout(T, rx)
            .await
            .expect("hub ready in time")
            .expect("hub ready");
        let pin = portico_client::fingerprint_of_pem(&hub_data.join("tls-cert.pem")).expect("pin");
        World {
            dir,
            hub_tls: bound.c2s_tls,
            hub_http: bound.http,
            pin,
            provider,
            _hub_stop: trigger,
            _provider_stop: provider_stop,
        }
    }

    fn hub_config(&self, user: &str) -> Config {
        let mut c = Config::new(
            &self.hub_tls.to_string(),
            "localhost",
            user,
            &password(user),
            Trust::Pin(self.pin.clone()),
        );
        c.timeout = Duration::from_secs(10);
        c
    }

    fn third_party(&self, user: &str) -> ThirdPartyConfig {
        ThirdPartyConfig::new(
            &self.provider.url,
            Trust::CaBundle(self.provider.cert_path.clone()),
            user,
            &password(user),
            &format!("https://{}", self.hub_http),
            self.hub_config(""),
        )
    }

    fn db(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(format!("{name}.db"))
    }

    fn provider_store(&self) -> ProviderStore {
        ProviderStore::open(&self.dir.path().join("provider")).expect("provider store")
    }
}

async fn open_third_party(w: &World, user: &str, db: &str) -> (Client, thirdparty::Enlistment) {
    tokio::time::timeout(T, thirdparty::open(w.third_party(user), &w.db(db)))
        .await
        .expect("third-party open in time")
        .expect("third-party open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_user_enlists_and_chats_both_ways() {
    let w = World::start().await;
    let (mut bob, enlisted) = open_third_party(&w, "bob", "bob").await;
    assert_eq!(enlisted.visible_id, "bob@birdy.example");
    assert_eq!(enlisted.provider, "birdy");
    assert!(
        enlisted.jid.ends_with("@birdy.interop.localhost"),
        "{}",
        enlisted.jid
    );
    assert_eq!(bob.jid().to_string(), enlisted.jid);
    assert_eq!(bob.device_id(), enlisted.device_id);

    let mut alice = common::open_at(w.hub_config("alice"), &w.db("alice")).await;
    let bob_jid = bob.jid().clone();
    // Third-party chats are off until the user opts in: the hub refuses, saying why.
    let early = alice.send_text(&bob_jid, "too early").await.expect("send");
    let refused = wait_for(
        &mut alice,
        "the refusal",
        |e| matches!(e, Event::SendFailed { id, .. } if *id == early),
    )
    .await;
    if let Event::SendFailed { reason, .. } = refused {
        assert!(reason.contains("interop settings"), "{reason}");
    }
    alice
        .allow_provider("birdy")
        .await
        .expect("alice opts in to Birdy");
    let settings = alice.interop_settings().await.expect("settings");
    assert!(settings.allows("birdy") && !settings.allows("other"));
    let id = alice
        .send_text(&bob_jid, "hello Bob on Birdy")
        .await
        .expect("send");
    let got = wait_for(&mut bob, "alice's message", |e| text_of(e).is_some()).await;
    assert_eq!(text_of(&got), Some("hello Bob on Birdy"));
    assert!(
        matches!(
            &got,
            Event::Message {
                third_party: None,
                ..
            }
        ),
        "the hub's own users carry no stamp"
    );
    wait_for(
        &mut alice,
        "delivered",
        |e| matches!(e, Event::Delivered { id: d, .. } if *d == id),
    )
    .await;

    let alice_jid = alice.jid().clone();
    bob.send_text(&alice_jid, "hi Alice, from Birdy")
        .await
        .expect("reply");
    let got = wait_for(&mut alice, "bob's reply", |e| text_of(e).is_some()).await;
    assert_eq!(text_of(&got), Some("hi Alice, from Birdy"));
    let Event::Message {
        from, third_party, ..
    } = &got
    else {
        unreachable!("a text event is a message")
    };
    assert_eq!(from, &bob_jid);
    let stamp = third_party
        .as_ref()
        .expect("the hub stamps third-party senders");
    assert_eq!(
        (stamp.provider.as_str(), stamp.visible_id.as_str()),
        ("birdy", "bob@birdy.example")
    );
    assert_eq!(
        thirdparty::provider_of(from, "localhost"),
        Some("birdy"),
        "the internal JID says so too"
    );

    // A restart reuses the enlistment: same JID and device, no new enlistment needed.
    bob.close().await;
    let (bob, again) = open_third_party(&w, "bob", "bob").await;
    assert_eq!(again, enlisted);
    bob.close().await;

    // Alice's client remembers who bob is across a restart, for her contact list.
    alice.close().await;
    let alice = common::open_at(w.hub_config("alice"), &w.db("alice")).await;
    let known = alice.third_party(&bob_jid).await.expect("look up");
    assert_eq!(
        known.map(|o| (o.provider, o.visible_id)),
        Some(("birdy".to_owned(), "bob@birdy.example".to_owned()))
    );
    let me = alice.jid().clone();
    assert_eq!(alice.third_party(&me).await.expect("look up"), None);
    alice.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_user_is_dropped_and_refused() {
    let w = World::start().await;
    let (mut bob, _) = open_third_party(&w, "bob", "bob").await;
    w.provider_store().set_revoked("bob", true).expect("revoke");
    // The hub re-checks connected third-party sessions every second and drops this one.
    wait_for(&mut bob, "the session dropped", |e| {
        matches!(e, Event::Stopped { .. } | Event::Disconnected { .. })
    })
    .await;
    drop(bob);
    let err = thirdparty::open(w.third_party("bob"), &w.db("bob"))
        .await
        .expect_err("revoked");
    match err {
        ThirdPartyError::ProviderLogin(p) => assert_eq!(p.slug(), Some("user-revoked")),
        other => panic!("expected the provider to refuse the login, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_device_gets_a_push_without_content() {
    let w = World::start().await;
    let (bob, enlisted) = open_third_party(&w, "bob", "bob").await;
    let bob_jid = bob.jid().clone();
    bob.close().await;
    let mut alice = common::open_at(w.hub_config("alice"), &w.db("alice")).await;
    alice
        .allow_provider("birdy")
        .await
        .expect("alice opts in to Birdy");
    let id = alice.send_text(&bob_jid, "wake up").await.expect("send");
    wait_for(
        &mut alice,
        "sent",
        |e| matches!(e, Event::Sent { id: s } if *s == id),
    )
    .await;
    let deadline = tokio::time::Instant::now() + T;
    let push = loop {
        let log = w
            .provider_store()
            .pushes(Some("bob"), 10)
            .expect("push log");
        if let Some(p) = log.into_iter().next() {
            break p;
        }
        assert!(tokio::time::Instant::now() < deadline, "no push in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(push.visible_id, "bob@birdy.example");
    assert_eq!(push.jid, enlisted.jid);
    assert_eq!(push.device_id, enlisted.device_id);
    assert!(push.pending >= 1);
    // Bob comes back and gets the message the push announced.
    let (mut bob, _) = open_third_party(&w, "bob", "bob").await;
    let got = wait_for(&mut bob, "the queued message", |e| text_of(e).is_some()).await;
    assert_eq!(text_of(&got), Some("wake up"));
    alice.close().await;
    bob.close().await;
}
