//! The background task behind [`crate::Client`]: owns the connection and the database, and
//! handles commands and incoming stanzas one at a time, so no two steps race on a ratchet.
//! Stanzas that arrive while it waits for an IQ answer are kept in order and handled next.

mod media;
mod recv;
mod send;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;

use portico_content::Limits;
use portico_stanza::stanza::{Iq, IqKind};
use portico_stanza::{Element, Jid};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use tokio::sync::mpsc;

use crate::client::{Cmd, Config, Event};
use crate::conn::{ConnectOptions, Connection, Incoming};
use crate::error::{ClientError, Result};
use crate::keys;
use crate::store::Store;

pub(crate) struct Engine {
    store: Store,
    conn: Connection,
    opts: ConnectOptions,
    config: Config,
    rng: StdRng,
    me: String,
    device: u32,
    limits: Limits,
    backlog: VecDeque<Element>,
    events: Option<mpsc::UnboundedSender<Event>>,
    /// Message id → send attempts so far, while the hub has not acked it.
    attempts: HashMap<String, u32>,
    /// (sender, device, id) already asked to resend: ask once.
    asked: HashSet<(String, u32, String)>,
    next_iq: u64,
    /// The link dropped during a step; reconnect before the next one.
    lost: Option<String>,
}

impl Engine {
    pub(crate) async fn start(config: Config, db_path: &Path) -> Result<Engine> {
        let store = Store::open(db_path)?;
        let mut rng = StdRng::from_os_rng();
        keys::ensure_identity(&store, &mut rng)?;
        if let Some(user) = store.meta_text("account")? {
            let wanted = if config.user.contains('@') {
                config.user.clone()
            } else {
                format!("{}@{}", config.user, config.domain)
            };
            if user != wanted {
                return Err(ClientError::CorruptDatabase(format!(
                    "this database belongs to {user}, not {wanted}"
                )));
            }
        }
        let mut opts = ConnectOptions {
            addr: config.addr.clone(),
            domain: config.domain.clone(),
            user: config.user.clone(),
            password: config.password.clone(),
            transport: config.transport,
            trust: config.trust.clone(),
            device: store.device_id()?,
            resume: None,
            ping_interval: config.ping_interval,
            timeout: config.timeout,
        };
        let conn = Connection::open(&opts).await?;
        let me = conn.jid.to_bare().to_string();
        if opts.device.is_none() {
            store.set_meta("account", me.as_bytes())?;
            store.set_meta_u32("device_id", conn.device)?;
            opts.device = Some(conn.device);
        }
        let mut engine = Engine {
            store,
            device: conn.device,
            conn,
            opts,
            config,
            rng,
            me,
            limits: Limits::default(),
            backlog: VecDeque::new(),
            events: None,
            attempts: HashMap::new(),
            asked: HashSet::new(),
            next_iq: 0,
            lost: None,
        };
        if engine.store.meta("published")?.is_none() {
            let publish = keys::initial_publish(&engine.store, &mut engine.rng)?;
            engine
                .iq_ok(Iq::set("", publish.into()), "the key upload")
                .await?;
            engine.store.set_meta("published", b"1")?;
        } else if let Some(rotation) = keys::rotate_if_old(
            &engine.store,
            &mut engine.rng,
            engine.config.signed_prekey_rotation,
        )? {
            engine
                .iq_ok(Iq::set("", rotation.into()), "the signed prekey rotation")
                .await?;
        }
        Ok(engine)
    }

    pub(crate) fn bare_jid(&self) -> Result<Jid> {
        Jid::parse(&self.me).map_err(|_| ClientError::BadAddress(self.me.clone()))
    }

    pub(crate) fn device(&self) -> u32 {
        self.device
    }

    fn emit(&self, ev: Event) {
        if let Some(tx) = &self.events {
            let _ = tx.send(ev);
        }
    }

    pub(crate) async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
        events: mpsc::UnboundedSender<Event>,
    ) {
        self.events = Some(events);
        if let Err(e) = self.resend_unacked().await {
            self.on_error(e).await;
        }
        loop {
            if let Some(why) = self.lost.take() {
                if self.reconnect(why).await.is_break() {
                    return;
                }
                continue;
            }
            if let Some(el) = self.backlog.pop_front() {
                if let Err(e) = self.on_stanza(el).await {
                    self.on_error(e).await;
                }
                continue;
            }
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    None => {
                        self.conn.close();
                        return;
                    }
                    Some(Cmd::Close { reply }) => {
                        self.conn.close();
                        drop(self);
                        let _ = reply.send(());
                        return;
                    }
                    Some(cmd) => self.on_cmd(cmd).await,
                },
                incoming = self.conn.next() => match incoming {
                    Incoming::Stanza(el) => {
                        if let Err(e) = self.on_stanza(el).await {
                            self.on_error(e).await;
                        }
                    }
                    Incoming::Lost(why) => {
                        if self.reconnect(why).await.is_break() {
                            return;
                        }
                    }
                },
            }
        }
    }

    async fn on_error(&mut self, e: ClientError) {
        match e {
            ClientError::ConnectionLost(why) => self.lost = Some(why),
            other => tracing::warn!(error = %other, "client step failed"),
        }
    }

    async fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::SendText { to, text, reply } => {
                let r = self.send_text(&to.to_string(), text).await;
                let r = self.after(r);
                let _ = reply.send(r);
            }
            Cmd::Receipt {
                to,
                kind,
                ids,
                reply,
            } => {
                let r = self.send_receipt(&to.to_string(), kind, ids).await;
                let r = self.after(r);
                let _ = reply.send(r);
            }
            Cmd::Conversation { peer, reply } => {
                let _ = reply.send(self.store.conversation(&peer.to_string()));
            }
            Cmd::ThirdParty { peer, reply } => {
                let _ = reply.send(self.store.third_party(&peer.to_string()));
            }
            Cmd::ForgetSession {
                peer,
                device,
                reply,
            } => {
                let _ = reply.send(self.store.delete_session(&peer.to_string(), device));
            }
            Cmd::KeyStock { reply } => {
                let r = self.key_stock().await;
                let r = self.after(r);
                let _ = reply.send(r);
            }
            Cmd::Iq { iq, what, reply } => {
                let r = self.iq_ok(*iq, what).await;
                let r = self.after(r);
                let _ = reply.send(r);
            }
            Cmd::SafetyNumber {
                peer,
                device,
                reply,
            } => {
                let _ = reply.send(self.safety_number(&peer.to_string(), device));
            }
            Cmd::Verify {
                peer,
                device,
                verified,
                reply,
            } => {
                let _ = reply.send(self.store.set_verified(&peer.to_string(), device, verified));
            }
            Cmd::MediaIq { payload, reply } => {
                let r = self.media_iq(payload).await;
                let r = self.after(r);
                let _ = reply.send(r);
            }
            Cmd::SendContent {
                to,
                content,
                log_body,
                reply,
            } => {
                let r = self.send_content(&to.to_string(), *content, log_body).await;
                let r = self.after(r);
                let _ = reply.send(r);
            }
            Cmd::DropLink => self.conn.abort(),
            Cmd::Close { .. } => {}
        }
    }

    /// A command's result; a dropped link is noted so the loop reconnects after replying.
    fn after<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(ClientError::ConnectionLost(why)) = &r {
            self.lost = Some(why.clone());
        }
        r
    }

    /// For a message already in the outbox, a dropped link is not a failure: it goes out
    /// again after the reconnect.
    /// Any other failure is final: the message leaves the outbox so it is not retried
    /// forever.
    pub(super) fn queued(&mut self, id: &str, r: Result<()>) -> Result<()> {
        match r {
            Err(ClientError::ConnectionLost(why)) => {
                self.lost = Some(why);
                Ok(())
            }
            Err(e) => {
                self.attempts.remove(id);
                self.store.outbox_acked(id)?;
                self.store.set_failed(id)?;
                if let ClientError::PolicyRefused { reason, .. } = e {
                    // Refused before it left, for the reason the hub would have refused the
                    // message itself: reported the same way, as a failed send.
                    self.emit(Event::SendFailed {
                        id: id.to_owned(),
                        reason,
                    });
                    return Ok(());
                }
                Err(e)
            }
            Ok(()) => Ok(()),
        }
    }

    /// Reconnects with backoff until the hub takes the client back; breaks (after emitting
    /// [`Event::Stopped`]) when the hub refuses something retrying cannot fix.
    async fn reconnect(&mut self, why: String) -> std::ops::ControlFlow<()> {
        tracing::info!(reason = %why, "connection lost; reconnecting");
        self.emit(Event::Disconnected { reason: why });
        // A short pause first lets the hub finish with the old stream (and park it for
        // resumption) before the new one asks for it.
        let mut delay = std::time::Duration::from_millis(100);
        tokio::time::sleep(delay).await;
        loop {
            self.opts.resume = self.conn.sm_id.clone().map(|id| (id, self.conn.handled()));
            match Connection::open(&self.opts).await {
                Ok(conn) => {
                    self.conn = conn;
                    self.backlog.clear();
                    break;
                }
                Err(
                    e @ (ClientError::WrongPassword(_)
                    | ClientError::UnknownDevice { .. }
                    | ClientError::DeviceRefused(_)
                    | ClientError::PinMismatch { .. }
                    | ClientError::CaBundle { .. }),
                ) => {
                    tracing::warn!(error = %e, "reconnect refused; the client stops");
                    self.emit(Event::Stopped {
                        reason: e.to_string(),
                    });
                    return std::ops::ControlFlow::Break(());
                }
                Err(e) => {
                    tracing::info!(error = %e, "reconnect failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(10));
                }
            }
        }
        let resumed = self.conn.resumed;
        self.emit(Event::Reconnected { resumed });
        if let Err(e) = self.resend_unacked().await {
            tracing::warn!(error = %e, "resending after reconnect failed");
        }
        std::ops::ControlFlow::Continue(())
    }

    fn safety_number(&self, peer: &str, device: u32) -> Result<Option<String>> {
        use portico_signal::IdentityKeyStore as _;
        let view = self.store.signal();
        let theirs = view.get_identity(&portico_signal::ProtocolAddress::new(peer, device));
        let Some(theirs) = self.signal_result(&view, theirs)? else {
            return Ok(None);
        };
        let ours = self
            .store
            .identity()?
            .ok_or_else(|| ClientError::CorruptDatabase("no identity key".into()))?;
        let fp = portico_signal::fingerprint::Fingerprint::new(
            2,
            portico_signal::fingerprint::DEFAULT_ITERATIONS,
            self.me.as_bytes(),
            ours.identity_key(),
            peer.as_bytes(),
            &theirs,
        )
        .map_err(|e| ClientError::CorruptDatabase(e.to_string()))?;
        Ok(Some(fp.displayable.to_string()))
    }

    /// Sends an IQ and waits for its answer; other stanzas meanwhile go to the backlog.
    async fn iq(&mut self, mut iq: Iq, what: &'static str) -> Result<Iq> {
        self.next_iq += 1;
        iq.id = format!("c{}", self.next_iq).into();
        let id = iq.id.clone();
        self.conn.send(iq)?;
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.conn.next()).await {
                Err(_) => {
                    return Err(ClientError::Timeout {
                        what,
                        secs: self.config.timeout.as_secs(),
                    });
                }
                Ok(Incoming::Lost(why)) => return Err(ClientError::ConnectionLost(why)),
                Ok(Incoming::Stanza(el)) => {
                    if el.name() == "iq" && el.attr("id") == Some(id.as_str()) {
                        return Iq::try_from(el).map_err(|e| ClientError::Protocol {
                            what,
                            detail: e.to_string(),
                        });
                    }
                    self.backlog.push_back(el);
                }
            }
        }
    }

    /// An IQ whose answer must be a result; returns its payload.
    async fn iq_ok(&mut self, iq: Iq, what: &'static str) -> Result<Option<Element>> {
        let reply = self.iq(iq, what).await?;
        Self::iq_payload(reply, what)
    }

    /// The payload of an IQ answer that must be a result.
    fn iq_payload(reply: Iq, what: &'static str) -> Result<Option<Element>> {
        match reply.kind {
            IqKind::Result(p) => Ok(p),
            IqKind::Error { error, .. } => Err(ClientError::Protocol {
                what,
                detail: error
                    .text
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| error.condition.as_str().to_owned()),
            }),
            _ => Err(ClientError::Protocol {
                what,
                detail: "a request instead of an answer".into(),
            }),
        }
    }
}
