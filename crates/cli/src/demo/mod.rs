//! `portico demo`: a hub on free loopback ports in a temporary directory, two users and
//! three devices, and a short narrated story that checks every step — first message and
//! its ticks, a reply, a second device, a device offline and back, safety numbers — then a
//! third-party chapter ([`thirdparty`]): a provider joins, its user enlists, opt-in, a
//! message each way, a push while offline, and a photo each way across the provider boundary
//! with its bytes checked ([`media`]).
//!
//! Exits 0 only if every step held; otherwise the error names the step that failed.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use portico_client::{Client, ClientError, Config, Event, Trust};
use portico_content::Body;
use portico_stanza::Jid;

mod media;
mod thirdparty;

/// How long any one step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// What went wrong in the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The hub could not be prepared or started.
    #[error("step {step} ({what}) failed: the hub could not start: {reason}")]
    Hub {
        /// The step number.
        step: usize,
        /// The step's title.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A client call failed.
    #[error("step {step} ({what}) failed: {source}")]
    Client {
        /// The step number.
        step: usize,
        /// The step's title.
        what: &'static str,
        /// The SDK's error.
        source: ClientError,
    },
    /// Something expected did not happen in time.
    #[error("step {step} ({what}) failed: {waited} did not happen within {secs} s")]
    Timeout {
        /// The step number.
        step: usize,
        /// The step's title.
        what: &'static str,
        /// What was awaited.
        waited: String,
        /// The timeout.
        secs: u64,
    },
    /// Something happened, but not what should have.
    #[error("step {step} ({what}) failed: {reason}")]
    Check {
        /// The step number.
        step: usize,
        /// The step's title.
        what: &'static str,
        /// What differed.
        reason: String,
    },
    /// A temporary directory or the async runtime could not be created.
    #[error("cannot prepare the demo: {0}")]
    Setup(#[from] std::io::Error),
}

/// Runs `portico demo`.
pub fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DemoError::Setup)?;
    runtime.block_on(story())?;
    Ok(())
}

/// The current step, for narration and error messages.
struct Step {
    n: usize,
    what: &'static str,
}

impl Step {
    fn first() -> Step {
        Step { n: 0, what: "" }
    }

    fn next(&mut self, what: &'static str) {
        self.n += 1;
        self.what = what;
        println!();
        println!("Step {}: {what}", self.n);
    }

    fn client(&self, source: ClientError) -> DemoError {
        DemoError::Client {
            step: self.n,
            what: self.what,
            source,
        }
    }

    fn check(&self, reason: String) -> DemoError {
        DemoError::Check {
            step: self.n,
            what: self.what,
            reason,
        }
    }

    fn hub(&self, reason: impl std::fmt::Display) -> DemoError {
        DemoError::Hub {
            step: self.n,
            what: self.what,
            reason: reason.to_string(),
        }
    }

    /// Waits on `client` for the first event `pred` accepts (returning `Some`), skipping
    /// others.
    async fn wait<T>(
        &self,
        client: &mut Client,
        waited: &str,
        mut pred: impl FnMut(&Event) -> Option<T>,
    ) -> Result<T, DemoError> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, client.next_event()).await {
                Ok(Some(ev)) => {
                    if let Some(t) = pred(&ev) {
                        return Ok(t);
                    }
                }
                Ok(None) => {
                    return Err(self.check(format!("the client stopped while waiting: {waited}")));
                }
                Err(_) => {
                    return Err(DemoError::Timeout {
                        step: self.n,
                        what: self.what,
                        waited: waited.to_owned(),
                        secs: STEP_TIMEOUT.as_secs(),
                    });
                }
            }
        }
    }

    /// Waits for a text message on `client`; returns (conversation, author, id, text).
    async fn text(
        &self,
        client: &mut Client,
        waited: &str,
    ) -> Result<(Jid, Jid, String, String), DemoError> {
        self.wait(client, waited, |ev| match ev {
            Event::Message {
                conversation,
                from,
                id,
                content,
                ..
            } => match &content.body {
                Some(Body::Text(t)) => Some((
                    conversation.clone(),
                    from.clone(),
                    id.clone(),
                    t.body.clone(),
                )),
                _ => None,
            },
            _ => None,
        })
        .await
    }

    /// Waits for a text and checks it says `expected`; prints what `who` sees.
    async fn expect_text(
        &self,
        client: &mut Client,
        who: &str,
        expected: &str,
    ) -> Result<(Jid, String), DemoError> {
        let (conversation, from, id, text) = self
            .text(client, &format!("{who} receiving \"{expected}\""))
            .await?;
        if text != expected {
            return Err(self.check(format!(
                "{who} received \"{text}\" where \"{expected}\" was expected"
            )));
        }
        let seen = if from == conversation {
            format!("receives from {from}: \"{text}\"")
        } else {
            format!("receives its own copy of {from} → {conversation}: \"{text}\"")
        };
        say(who, &seen);
        Ok((conversation, id))
    }
}

/// One narrated line: who sees what.
fn say(who: &str, what: &str) {
    println!("  {:<14} {what}", format!("[{who}]"));
}

async fn story() -> Result<(), DemoError> {
    println!("Portico demo: a hub, two people (alice and bob), three devices.");
    println!("Every message below crosses the hub end-to-end encrypted (Signal Protocol);");
    println!("the hub only ever stores and forwards ciphertext. Every step is checked.");

    let dir = tempfile::Builder::new().prefix("portico-demo-").tempdir()?;
    let mut step = Step::first();
    step.next("start a hub and create the accounts alice and bob");
    let hub = start_hub(dir.path()).await.map_err(|e| step.hub(e))?;
    let (addr, pin) = (hub.addr, hub.pin.clone());
    say(
        "hub",
        &format!(
            "listening on {addr} (direct TLS), data in {}",
            dir.path().display()
        ),
    );
    say(
        "hub",
        &format!(
            "self-signed certificate, clients pin its SHA-256 {}…",
            &pin[..16]
        ),
    );
    say("hub", "accounts alice@localhost and bob@localhost created");
    let config = |user: &str| {
        let mut c = Config::new(
            &addr.to_string(),
            "localhost",
            user,
            &password(user),
            Trust::Pin(pin.clone()),
        );
        c.timeout = Duration::from_secs(10);
        c
    };
    let parse = |s: &str| {
        s.parse::<Jid>()
            .map_err(|e| step.check(format!("cannot parse {s}: {e}")))
    };
    let (alice_jid, bob_jid) = (parse("alice@localhost")?, parse("bob@localhost")?);
    let open = |user: &str, db: &str| {
        let (config, path) = (config(user), dir.path().join(db));
        async move { Client::open(config, &path).await }
    };

    step.next("alice and bob sign in on their phones");
    let mut alice = open("alice", "alice-phone.db")
        .await
        .map_err(|e| step.client(e))?;
    say(
        "alice phone",
        &format!(
            "signed in as device {}, identity and prekeys published",
            alice.device_id()
        ),
    );
    let mut bob = open("bob", "bob-phone.db")
        .await
        .map_err(|e| step.client(e))?;
    say(
        "bob phone",
        &format!(
            "signed in as device {}, identity and prekeys published",
            bob.device_id()
        ),
    );

    step.next("alice writes to bob: on the hub ✓, delivered ✓✓, read");
    let first = "Hi Bob, it's Alice. Is this thing encrypted?";
    let id = alice
        .send_text(&bob_jid, first)
        .await
        .map_err(|e| step.client(e))?;
    say("alice phone", &format!("sends \"{first}\""));
    let (_, got_id) = step.expect_text(&mut bob, "bob phone", first).await?;
    if got_id != id {
        return Err(step.check(format!("bob got id {got_id}, alice sent {id}")));
    }
    let (mut on_hub, mut delivered) = (false, false);
    while !(on_hub && delivered) {
        let (s, d) = step
            .wait(&mut alice, "alice seeing ✓ and ✓✓", |ev| match ev {
                Event::Sent { id: s } if *s == id => Some((true, false)),
                Event::Delivered { id: d, .. } if *d == id => Some((false, true)),
                _ => None,
            })
            .await?;
        if s && !on_hub {
            say(
                "alice phone",
                "✓  the hub has it queued for every device of bob",
            );
        }
        if d && !delivered {
            say("alice phone", "✓✓ delivered to bob's phone");
        }
        on_hub |= s;
        delivered |= d;
    }
    bob.mark_read(&alice_jid, &[got_id])
        .await
        .map_err(|e| step.client(e))?;
    say(
        "bob phone",
        "opens the chat; an encrypted read receipt goes back",
    );
    let by = step
        .wait(&mut alice, "alice seeing the read receipt", |ev| match ev {
            Event::Read { id: r, by } if *r == id => Some(by.clone()),
            _ => None,
        })
        .await?;
    say("alice phone", &format!("read by {by}"));

    step.next("bob replies");
    let reply = "Yes: end to end. The hub only sees ciphertext.";
    bob.send_text(&alice_jid, reply)
        .await
        .map_err(|e| step.client(e))?;
    say("bob phone", &format!("sends \"{reply}\""));
    step.expect_text(&mut alice, "alice phone", reply).await?;

    step.next("alice signs in on a laptop: a second device sees both sides");
    let mut laptop = open("alice", "alice-laptop.db")
        .await
        .map_err(|e| step.client(e))?;
    say(
        "alice laptop",
        &format!(
            "signed in as device {} of alice (keys published)",
            laptop.device_id()
        ),
    );
    if laptop.device_id() == alice.device_id() {
        return Err(step.check("the laptop got the phone's device id".into()));
    }
    let from_phone = "I'm on my laptop now too.";
    alice
        .send_text(&bob_jid, from_phone)
        .await
        .map_err(|e| step.client(e))?;
    say("alice phone", &format!("sends \"{from_phone}\""));
    step.expect_text(&mut bob, "bob phone", from_phone).await?;
    let (conv, _) = step
        .expect_text(&mut laptop, "alice laptop", from_phone)
        .await?;
    if conv != bob_jid {
        return Err(step.check(format!(
            "the laptop filed its copy under {conv} instead of {bob_jid}"
        )));
    }
    let to_both = "Hello to both of your devices!";
    bob.send_text(&alice_jid, to_both)
        .await
        .map_err(|e| step.client(e))?;
    say("bob phone", &format!("sends \"{to_both}\""));
    step.expect_text(&mut alice, "alice phone", to_both).await?;
    step.expect_text(&mut laptop, "alice laptop", to_both)
        .await?;

    step.next("bob's phone goes offline; alice writes; bob comes back");
    bob.close().await;
    say("bob phone", "offline (app closed)");
    let queued = "Write back when you're online again.";
    let id = laptop
        .send_text(&bob_jid, queued)
        .await
        .map_err(|e| step.client(e))?;
    say("alice laptop", &format!("sends \"{queued}\""));
    step.wait(&mut laptop, "the hub's ✓ for the queued message", |ev| {
        matches!(ev, Event::Sent { id: s } if *s == id).then_some(())
    })
    .await?;
    say(
        "alice laptop",
        "✓  the hub keeps the ciphertext queued for bob's phone",
    );
    let mut bob = open("bob", "bob-phone.db")
        .await
        .map_err(|e| step.client(e))?;
    say("bob phone", "back online (same device, from its database)");
    step.expect_text(&mut bob, "bob phone", queued).await?;
    step.wait(&mut laptop, "alice laptop seeing ✓✓", |ev| {
        matches!(ev, Event::Delivered { id: d, .. } if *d == id).then_some(())
    })
    .await?;
    say("alice laptop", "✓✓ delivered to bob's phone");
    step.expect_text(&mut alice, "alice phone", queued).await?;

    step.next("alice and bob compare safety numbers");
    let a = alice
        .safety_number(&bob_jid, bob.device_id())
        .await
        .map_err(|e| step.client(e))?
        .ok_or_else(|| step.check("alice's phone does not know bob's identity".into()))?;
    let b = bob
        .safety_number(&alice_jid, alice.device_id())
        .await
        .map_err(|e| step.client(e))?
        .ok_or_else(|| step.check("bob's phone does not know alice's identity".into()))?;
    say(
        "alice phone",
        &format!("safety number with bob:   {}", groups(&a)),
    );
    say(
        "bob phone",
        &format!("safety number with alice: {}", groups(&b)),
    );
    if a != b || a.len() != 60 {
        return Err(step.check("the two safety numbers differ".into()));
    }
    alice
        .set_verified(&bob_jid, bob.device_id(), true)
        .await
        .map_err(|e| step.client(e))?;
    say(
        "alice phone",
        "the numbers match: bob's phone marked as verified",
    );

    laptop.close().await;
    bob.close().await;

    thirdparty::chapter(&mut step, dir.path(), &hub, &mut alice).await?;

    alice.close().await;
    println!();
    println!(
        "All {} steps held. Next: two terminals and `portico chat` (see crates/cli/README.md).",
        step.n
    );
    Ok(())
}

/// A safety number in groups of five digits, as Signal shows it.
fn groups(number: &str) -> String {
    number
        .as_bytes()
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn password(user: &str) -> String {
    format!("demo-password-of-{user}")
}

/// Keeps the in-process hub running; stops it when dropped.
struct HubGuard(portico_hub::shutdown::ShutdownTrigger);

/// The running demo hub.
struct DemoHub {
    /// Direct-TLS XMPP address.
    addr: SocketAddr,
    /// HTTPS address (`/v1/enlist`).
    http: SocketAddr,
    /// SHA-256 pin of its certificate.
    pin: String,
    /// Its configuration (to open its store beside it, as `portico admin` does).
    config: portico_hub::config::Config,
    _guard: HubGuard,
}

impl Drop for HubGuard {
    fn drop(&mut self) {
        self.0.trigger();
    }
}

/// Starts a hub in `dir` with accounts alice and bob; it stops when the result is dropped.
async fn start_hub(dir: &Path) -> Result<DemoHub, Box<dyn std::error::Error + Send + Sync>> {
    let data = dir.join("hub");
    let env = [
        ("PORTICO_C2S_STARTTLS_ADDR", "127.0.0.1:0"),
        ("PORTICO_C2S_TLS_ADDR", "127.0.0.1:0"),
        ("PORTICO_HTTP_ADDR", "127.0.0.1:0"),
        ("PORTICO_DOMAIN", "localhost"),
        // Birdy's media origin is on loopback here; a real hub keeps refusing private addresses.
        ("PORTICO_MEDIA_PROXY_ALLOW_PRIVATE_ADDRESSES", "true"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let config = portico_hub::config::Config::load(None, env, Some(&data))?;
    let run_config = config.clone();
    let store = portico_hub::server::open_store(&config)?;
    for user in ["alice", "bob"] {
        portico_hub::accounts::add_user(&store, user, &password(user)).await?;
    }
    store.close();
    let (trigger, shutdown) = portico_hub::shutdown::channel();
    let guard = HubGuard(trigger);
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        if let Err(e) = portico_hub::server::run(run_config, shutdown, move |bound| {
            let _ = tx.send((bound.c2s_tls, bound.http));
        })
        .await
        {
            eprintln!("the demo hub stopped: {e}");
        }
    });
    let (addr, http) = tokio::time::timeout(STEP_TIMEOUT, rx)
        .await
        .map_err(|_| "the hub did not become ready in time")?
        .map_err(|_| "the hub stopped before it was ready")?;
    let pin = portico_client::fingerprint_of_pem(&data.join("tls-cert.pem"))?;
    Ok(DemoHub {
        addr,
        http,
        pin,
        config,
        _guard: guard,
    })
}
