//! The demo's third-party chapter: the reference provider Birdy starts beside the hub and is
//! onboarded; its user carol signs in through Birdy (identity assertion, enlistment, `pit1:`
//! login); a message to alice is refused until alice opts in; then a message each way, with
//! the hub's stamp showing carol's visible id; and a push without content while carol's app
//! is offline; then a photo each way ([`super::media`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use portico_client::thirdparty::{self, ThirdPartyConfig};
use portico_client::{Client, Config, Event, Trust};
use portico_hub::store::interop::{InteropStore, Provider, ProviderStatus};
use portico_interop::keys::decode_public_key;
use portico_provider::store::ProviderStore;
use portico_provider::{ProviderConfig, Ready};
use portico_stanza::Jid;

use super::{DemoError, DemoHub, STEP_TIMEOUT, Step, password, say};

/// Stops the in-process provider when dropped.
struct ProviderGuard(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for ProviderGuard {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts Birdy with the user carol, trusting the hub's signing key.
async fn start_provider(
    data: &Path,
    hub_key: &str,
) -> Result<(Ready, ProviderGuard), Box<dyn std::error::Error + Send + Sync>> {
    std::fs::create_dir_all(data)?;
    ProviderStore::open_with_iterations(data, 10_000)?.add_user("carol", &password("carol"), 0)?;
    let mut config = ProviderConfig::new(
        "birdy",
        "birdy.example",
        data.to_owned(),
        "127.0.0.1:0".parse()?,
    );
    config.hub_key = Some(decode_public_key(hub_key)?);
    config.hub_domains = vec!["localhost".into()];
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let stop = async {
            let _ = stopped.await;
        };
        if let Err(e) = portico_provider::run(config, stop, |r| {
            let _ = ready_tx.send(r.clone());
        })
        .await
        {
            eprintln!("the demo provider stopped: {e}");
        }
    });
    let ready = tokio::time::timeout(STEP_TIMEOUT, ready_rx)
        .await
        .map_err(|_| "the provider did not become ready in time")??;
    Ok((ready, ProviderGuard(Some(stop))))
}

/// Registers Birdy in the hub's provider registry (what `portico admin provider add` does).
async fn onboard(
    hub: &DemoHub,
    ready: &Ready,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let store = portico_hub::server::open_store(&hub.config)?;
    let added = store
        .add_provider(Provider {
            id: "birdy".into(),
            domain: "birdy.example".into(),
            endpoint: ready.url.clone(),
            public_key: decode_public_key(&ready.public_key)?.to_bytes().to_vec(),
            media_origins: vec![ready.url.clone()],
            ca_pem: std::fs::read_to_string(&ready.cert_path)?,
            limits: BTreeMap::new(),
            status: ProviderStatus::Active,
        })
        .await;
    store.close();
    Ok(added?)
}

/// Runs the chapter; `alice` is alice's phone from the first chapter.
pub(super) async fn chapter(
    step: &mut Step,
    dir: &Path,
    hub: &DemoHub,
    alice: &mut Client,
) -> Result<(), DemoError> {
    step.next("a third-party provider, Birdy, joins the hub");
    let hub_key = portico_hub::interop::keys::HubKeys::load_or_create(&hub.config.data_dir)
        .map_err(|e| step.hub(e))?
        .public_b64();
    let (birdy, _birdy_guard) = start_provider(&dir.join("birdy"), &hub_key)
        .await
        .map_err(|e| step.hub(e))?;
    say(
        "birdy",
        &format!(
            "provider listening on {}, user carol@birdy.example",
            birdy.url
        ),
    );
    onboard(hub, &birdy).await.map_err(|e| step.hub(e))?;
    say(
        "hub",
        &format!(
            "provider birdy registered: endpoint, Ed25519 key {}…, its certificate",
            &birdy.public_key[..12]
        ),
    );

    step.next("carol signs in through Birdy and is enlisted at the hub");
    let mut hub_config = Config::new(
        &hub.addr.to_string(),
        "localhost",
        "",
        "",
        Trust::Pin(hub.pin.clone()),
    );
    hub_config.timeout = Duration::from_secs(10);
    let carol_config = ThirdPartyConfig::new(
        &birdy.url,
        Trust::CaBundle(birdy.cert_path.clone()),
        "carol",
        &password("carol"),
        &format!("https://{}", hub.http),
        hub_config,
    );
    let carol_db = dir.join("carol-birdy.db");
    let (mut carol, enlisted) = thirdparty::open(carol_config.clone(), &carol_db)
        .await
        .map_err(|e| step.check(e.to_string()))?;
    say(
        "carol@birdy",
        "logs in to Birdy; Birdy signs an assertion of her device's identity key",
    );
    say(
        "carol@birdy",
        &format!(
            "enlisted as {} device {}, logged in to the hub",
            enlisted.jid, enlisted.device_id
        ),
    );
    let carol_jid: Jid = enlisted
        .jid
        .parse()
        .map_err(|_| step.check(format!("the hub gave an invalid JID {}", enlisted.jid)))?;
    let alice_jid = alice.jid().clone();

    step.next("carol writes to alice, who has not opted in: refused");
    let early = "Hi Alice, Carol from Birdy here!";
    let id = carol
        .send_text(&alice_jid, early)
        .await
        .map_err(|e| step.client(e))?;
    let reason = step
        .wait(&mut carol, "the hub's refusal", |ev| match ev {
            Event::SendFailed { id: f, reason } if *f == id => Some(reason.clone()),
            Event::Sent { id: s } if *s == id => Some(String::new()),
            _ => None,
        })
        .await?;
    if reason.is_empty() {
        return Err(step.check("the hub accepted a message alice had not opted in to".into()));
    }
    say("carol@birdy", &format!("refused: {reason}"));

    step.next("alice opts in to Birdy; a message each way");
    alice
        .allow_provider("birdy")
        .await
        .map_err(|e| step.client(e))?;
    say("alice phone", "interop settings: chats with birdy allowed");
    carol
        .send_text(&alice_jid, early)
        .await
        .map_err(|e| step.client(e))?;
    say("carol@birdy", &format!("sends \"{early}\""));
    let (from, origin) = step
        .wait(alice, "alice receiving carol's message", |ev| match ev {
            Event::Message {
                from, third_party, ..
            } if from.to_bare() == carol_jid => Some((from.clone(), third_party.clone())),
            _ => None,
        })
        .await?;
    let origin =
        origin.ok_or_else(|| step.check("the hub did not stamp carol's message".into()))?;
    say(
        "alice phone",
        &format!(
            "receives from {} (third party: {} on {}): \"{early}\"",
            from.to_bare(),
            origin.visible_id,
            origin.provider
        ),
    );
    let reply = "Welcome, Carol! Same encryption on both sides.";
    alice
        .send_text(&carol_jid, reply)
        .await
        .map_err(|e| step.client(e))?;
    say("alice phone", &format!("sends \"{reply}\""));
    step.expect_text(&mut carol, "carol@birdy", reply).await?;

    step.next("carol's app goes offline; alice writes; Birdy gets a push without content");
    carol.close().await;
    say("carol@birdy", "offline (app closed)");
    let queued = "Call me when you see this.";
    let id = alice
        .send_text(&carol_jid, queued)
        .await
        .map_err(|e| step.client(e))?;
    say("alice phone", &format!("sends \"{queued}\""));
    step.wait(alice, "the hub's ✓", |ev| {
        matches!(ev, Event::Sent { id: s } if *s == id).then_some(())
    })
    .await?;
    let log = ProviderStore::open(&dir.join("birdy")).map_err(|e| step.hub(e))?;
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let push = loop {
        let pushes = log.pushes(Some("carol"), 10).map_err(|e| step.hub(e))?;
        if let Some(p) = pushes.into_iter().next() {
            break p;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(step.check("Birdy got no push for carol's device".into()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let json = serde_json::to_string(&push).unwrap_or_default();
    if json.contains(queued) || json.contains("alice") {
        return Err(step.check(format!("the push leaks content or sender: {json}")));
    }
    say(
        "birdy",
        &format!(
            "push: wake device {} of {} ({} waiting) — no content, no sender",
            push.device_id, push.visible_id, push.pending
        ),
    );
    let (mut carol, _) = thirdparty::open(carol_config.clone(), &carol_db)
        .await
        .map_err(|e| step.check(e.to_string()))?;
    say("carol@birdy", "back online");
    step.expect_text(&mut carol, "carol@birdy", queued).await?;

    let session = thirdparty::provider_login(&carol_config)
        .await
        .map_err(|e| step.check(e.to_string()))?;
    let parties = super::media::Parties {
        alice,
        carol: &mut carol,
        carol_jid: &carol_jid,
        birdy: &birdy,
        carol_session: session.session_token.expose(),
        hub,
    };
    let media = super::media::steps(step, dir, parties).await;
    carol.close().await;
    media
}
