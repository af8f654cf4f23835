//! The high-level API: [`Client::open`] logs in (registering a device and publishing keys on
//! first start), then a background task keeps the connection, encrypts, decrypts, acks and
//! recovers; the application sends with [`Client::send_text`] and reads [`Event`]s.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use portico_content::{Content, ReceiptKind};
use portico_stanza::Jid;
use tokio::sync::{mpsc, oneshot};
use zeroize::Zeroizing;

use crate::conn::Transport;
use crate::engine::Engine;
use crate::error::{ClientError, Result};
use crate::store::LoggedMessage;
use crate::tls::Trust;

/// How to reach the hub and who to log in as.
#[derive(Clone)]
pub struct Config {
    /// `host:port` of the hub (5223 for direct TLS, 5222 for STARTTLS).
    pub addr: String,
    /// The hub's domain, e.g. `localhost`.
    pub domain: String,
    /// The account name (the part before `@`); for a third-party device its whole internal
    /// JID, set by [`crate::thirdparty::open`].
    pub user: String,
    /// The account password.
    pub password: Zeroizing<String>,
    /// Direct TLS or STARTTLS (default direct TLS).
    pub transport: Transport,
    /// How the hub's certificate is checked.
    pub trust: Trust,
    /// Keepalive ping interval (default 30 s); the link counts as lost after three
    /// intervals of silence.
    pub ping_interval: Duration,
    /// How long one request may wait for the hub (default 15 s).
    pub timeout: Duration,
    /// How long sent plaintexts are kept to answer resend requests (default 7 days).
    pub keep_sent: Duration,
    /// How often a message is re-encrypted after device-set mismatches before giving up
    /// (default 5).
    pub max_send_attempts: u32,
    /// Age after which the signed prekey is replaced at the next start (default 7 days);
    /// old ones are kept so messages already on their way still decrypt.
    pub signed_prekey_rotation: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("domain", &self.domain)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A configuration with defaults for everything but where and who.
    pub fn new(addr: &str, domain: &str, user: &str, password: &str, trust: Trust) -> Config {
        Config {
            addr: addr.to_owned(),
            domain: domain.to_owned(),
            user: user.to_owned(),
            password: Zeroizing::new(password.to_owned()),
            transport: Transport::DirectTls,
            trust,
            ping_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(15),
            keep_sent: Duration::from_secs(7 * 86_400),
            max_send_attempts: 5,
            signed_prekey_rotation: Duration::from_secs(7 * 86_400),
        }
    }
}

/// Something that happened, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A message arrived (from the peer, or a copy of one this account sent from another
    /// device: then `from` is this account).
    Message {
        /// The conversation: the peer's bare JID.
        conversation: Jid,
        /// The author's bare JID.
        from: Jid,
        /// The author's device.
        device: u32,
        /// The message id.
        id: String,
        /// What it says.
        content: Box<Content>,
        /// Set when the author is a third-party provider's user: the hub's stamp with the
        /// provider and the author's visible id (keep these chats apart, e.g. in their own
        /// inbox). `None` for the hub's own users.
        third_party: Option<crate::thirdparty::ThirdPartyOrigin>,
    },
    /// The hub has the message queued for every device (one tick). Once per message; it
    /// may follow [`Event::Delivered`] or [`Event::Read`] when the recipient answered before
    /// the hub's durable write was acknowledged (the status in the log never goes down).
    Sent {
        /// The message id.
        id: String,
    },
    /// A device of the recipient has the message (two ticks).
    Delivered {
        /// The message id.
        id: String,
        /// Who confirmed.
        by: Jid,
    },
    /// The recipient read the message.
    Read {
        /// The message id.
        id: String,
        /// Who read it.
        by: Jid,
    },
    /// A message could not be decrypted; the sender was asked to resend it.
    DecryptionFailed {
        /// The sender.
        from: Jid,
        /// The sender's device.
        device: u32,
        /// The message id; it will arrive again as [`Event::Message`].
        id: String,
    },
    /// A device asked for a message again and it was resent.
    Resent {
        /// The message id.
        id: String,
        /// Who asked.
        to: Jid,
    },
    /// A message could not be sent.
    SendFailed {
        /// The message id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The connection was lost; the client reconnects with backoff.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// The client stopped for good: the hub refused its credentials, its device or its
    /// certificate pin while reconnecting, which retrying cannot fix. `reason` says what to
    /// do; open the client again once it is fixed.
    Stopped {
        /// The refusal, worded for the user.
        reason: String,
    },
    /// The connection is back; unacknowledged messages were sent again.
    Reconnected {
        /// Whether the hub resumed the earlier stream (XEP-0198) instead of binding anew.
        resumed: bool,
    },
    /// A device's identity key changed (a reinstall, or someone else): its safety number
    /// is new and should be compared again.
    IdentityChanged {
        /// The account.
        jid: Jid,
        /// The device.
        device: u32,
    },
    /// A message came under an identity key that differs from the one the user verified;
    /// it was refused. Compare the new safety number, then verify again.
    IdentityUntrusted {
        /// The account.
        jid: Jid,
        /// The device.
        device: u32,
        /// The refused message's id.
        id: String,
    },
    /// The hub reported a low one-time prekey stock and new prekeys were uploaded.
    KeysRefilled {
        /// One-time EC prekeys uploaded.
        ec: u32,
        /// One-time Kyber prekeys uploaded.
        kyber: u32,
    },
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;

pub(crate) enum Cmd {
    SendText {
        to: Jid,
        text: String,
        reply: Reply<String>,
    },
    Receipt {
        to: Jid,
        kind: ReceiptKind,
        ids: Vec<String>,
        reply: Reply<()>,
    },
    Conversation {
        peer: Jid,
        reply: Reply<Vec<LoggedMessage>>,
    },
    ThirdParty {
        peer: Jid,
        reply: Reply<Option<crate::thirdparty::ThirdPartyOrigin>>,
    },
    ForgetSession {
        peer: Jid,
        device: u32,
        reply: Reply<()>,
    },
    KeyStock {
        reply: Reply<(u32, u32)>,
    },
    /// Any IQ request to the hub; the answer's payload (used by `settings.rs`).
    Iq {
        iq: Box<portico_stanza::stanza::Iq>,
        what: &'static str,
        reply: Reply<Option<portico_stanza::Element>>,
    },
    SafetyNumber {
        peer: Jid,
        device: u32,
        reply: Reply<Option<String>>,
    },
    Verify {
        peer: Jid,
        device: u32,
        verified: bool,
        reply: Reply<()>,
    },
    MediaIq {
        payload: portico_stanza::Element,
        reply: Reply<Option<portico_stanza::Element>>,
    },
    SendContent {
        to: Jid,
        content: Box<portico_content::Content>,
        log_body: String,
        reply: Reply<String>,
    },
    DropLink,
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// A logged-in client. Dropping it stops the background task.
///
/// ```no_run
/// # async fn demo() -> portico_client::Result<()> {
/// use portico_client::{Client, Config, Event, Trust};
/// use portico_content::Body;
///
/// let pin = "3f…".to_owned(); // SHA-256 of the hub's certificate, from its operator
/// let config = Config::new("127.0.0.1:5223", "localhost", "alice", "secret", Trust::Pin(pin));
/// let mut alice = Client::open(config, "alice.db".as_ref()).await?;
/// let bob = "bob@localhost".parse().expect("a JID");
/// let id = alice.send_text(&bob, "hi Bob").await?;
/// while let Some(event) = alice.next_event().await {
///     match event {
///         Event::Delivered { id: got, .. } if got == id => println!("delivered"),
///         Event::Message { from, content, .. } => {
///             if let Some(Body::Text(t)) = content.body {
///                 println!("{from}: {}", t.body);
///             }
///         }
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Client {
    cmds: mpsc::UnboundedSender<Cmd>,
    events: mpsc::UnboundedReceiver<Event>,
    jid: Jid,
    device: u32,
    pub(crate) media: Arc<crate::media::MediaCtx>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("jid", &self.jid)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Opens the database at `db_path` (created on first use), connects and logs in. On
    /// first start this generates the identity, registers a new device and publishes keys;
    /// later starts bind the same device and resend whatever the hub never acknowledged.
    pub async fn open(config: Config, db_path: &Path) -> Result<Client> {
        let media = Arc::new(crate::media::MediaCtx {
            domain: config.domain.clone(),
            trust: config.trust.clone(),
            timeout: config.timeout,
        });
        let engine = Engine::start(config, db_path).await?;
        let jid = engine.bare_jid()?;
        let device = engine.device();
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, events) = mpsc::unbounded_channel();
        tokio::spawn(engine.run(cmd_rx, ev_tx));
        Ok(Client {
            cmds,
            events,
            jid,
            device,
            media,
        })
    }

    /// This account's bare JID.
    pub fn jid(&self) -> &Jid {
        &self.jid
    }

    /// This device's id.
    pub fn device_id(&self) -> u32 {
        self.device
    }

    pub(crate) async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Cmd) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(make(tx)).map_err(|_| ClientError::Stopped)?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Encrypts `text` for every device of `to` and this account's other devices and sends
    /// it; returns the message id. Progress arrives as [`Event::Sent`], [`Event::Delivered`]
    /// and [`Event::Read`].
    pub async fn send_text(&self, to: &Jid, text: &str) -> Result<String> {
        let (to, text) = (to.to_bare(), text.to_owned());
        self.call(|reply| Cmd::SendText { to, text, reply }).await
    }

    /// Tells `from` that this user read the messages `ids` (travels encrypted).
    pub async fn mark_read(&self, from: &Jid, ids: &[String]) -> Result<()> {
        let (to, ids) = (from.to_bare(), ids.to_vec());
        self.call(|reply| Cmd::Receipt {
            to,
            kind: ReceiptKind::Read,
            ids,
            reply,
        })
        .await
    }

    /// The conversation with `peer` from the local log, oldest first, with statuses.
    pub async fn conversation(&self, peer: &Jid) -> Result<Vec<LoggedMessage>> {
        let peer = peer.to_bare();
        self.call(|reply| Cmd::Conversation { peer, reply }).await
    }

    /// Who the third-party user `peer` is (provider and visible id), as the hub stamped
    /// their latest message; kept across restarts. `None` for someone who never wrote or is
    /// not a third-party user.
    pub async fn third_party(
        &self,
        peer: &Jid,
    ) -> Result<Option<crate::thirdparty::ThirdPartyOrigin>> {
        let peer = peer.to_bare();
        self.call(|reply| Cmd::ThirdParty { peer, reply }).await
    }

    /// Deletes the Signal session with one device of `peer`. The next message from that
    /// device fails to decrypt and is recovered by a resend request; for tests and for a
    /// user who wants to reset a conversation.
    pub async fn forget_session(&self, peer: &Jid, device: u32) -> Result<()> {
        let peer = peer.to_bare();
        self.call(|reply| Cmd::ForgetSession {
            peer,
            device,
            reply,
        })
        .await
    }

    /// This device's one-time prekeys left on the hub: (EC, Kyber).
    pub async fn key_stock(&self) -> Result<(u32, u32)> {
        self.call(|reply| Cmd::KeyStock { reply }).await
    }

    /// The 60-digit safety number of this device and `peer`'s `device` (Signal's
    /// displayable fingerprint, both sides see the same digits), once their identity is
    /// known; compare it out of band, then call [`Client::set_verified`].
    pub async fn safety_number(&self, peer: &Jid, device: u32) -> Result<Option<String>> {
        let peer = peer.to_bare();
        self.call(|reply| Cmd::SafetyNumber {
            peer,
            device,
            reply,
        })
        .await
    }

    /// Records that the user verified (or un-verified) `peer`'s `device`. A verified
    /// device's identity key may not change silently: messages under a new key are refused
    /// until the user verifies again.
    pub async fn set_verified(&self, peer: &Jid, device: u32, verified: bool) -> Result<()> {
        let peer = peer.to_bare();
        self.call(|reply| Cmd::Verify {
            peer,
            device,
            verified,
            reply,
        })
        .await
    }

    /// Cuts the TCP connection without closing the XMPP stream, as a lost network would;
    /// the client then reconnects and resumes. For tests and demonstrations.
    #[doc(hidden)]
    pub fn simulate_network_loss(&self) {
        let _ = self.cmds.send(Cmd::DropLink);
    }

    /// The next event; `None` once the client has stopped.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Closes the stream politely and stops the background task (the database is closed).
    pub async fn close(self) {
        let (tx, rx) = oneshot::channel();
        if self.cmds.send(Cmd::Close { reply: tx }).is_ok() {
            let _ = rx.await;
        }
    }
}
