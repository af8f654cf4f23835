//! The bound session loop and e2ee routing (DESIGN.md §4): the device-set check, the durable
//! per-device queue write before the sender's `<ack/>`, delivery of each device's own
//! ciphertext with the hub stanza-id and timestamp, and deletion on the device's
//! `<received/>`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_stanza::parser::Event;
use portico_stanza::stanza::{
    Ack, Ciphertext, CiphertextKind, DeviceAddress, DeviceCiphertext, DeviceMismatch, E2ee, Iq,
    IqKind, Message, MessageType, StanzaCondition, StanzaError, StreamErrorCondition, TopLevel,
};
use portico_stanza::{CompactString, Element, Jid, ns};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::conn::{Conn, ReadEnd};
use super::session::{Bound, LoopState, basic_iq, handle_sm, message_error};
use super::{Inner, Push};
use crate::shutdown::Shutdown;
use crate::store::sqlite::now_ms;
use crate::store::{DeviceId, NewMessage, QueueLimits, QueuedMessage};

/// Flag byte of a stored payload: which element the ciphertext travels in, and its type.
const FLAG_SELF: u8 = 1;
const FLAG_PREKEY: u8 = 2;

fn encode_payload(c: &DeviceCiphertext, own: bool) -> Vec<u8> {
    let mut flags = 0;
    if own {
        flags |= FLAG_SELF;
    }
    if c.kind == CiphertextKind::PreKey {
        flags |= FLAG_PREKEY;
    }
    let b64 = c.payload.as_base64().as_bytes();
    let mut out = Vec::with_capacity(1 + b64.len());
    out.push(flags);
    out.extend_from_slice(b64);
    out
}

/// The stanza a device receives for a queued message.
fn delivery_stanza(m: &QueuedMessage, to: &Jid, device: DeviceId) -> Option<Element> {
    let (&flags, b64) = m.payload.split_first()?;
    let payload = Ciphertext::from_base64(std::str::from_utf8(b64).ok()?)?;
    let kind = if flags & FLAG_PREKEY != 0 {
        CiphertextKind::PreKey
    } else {
        CiphertextKind::Message
    };
    let sender = Jid::parse(&m.sender).ok()?;
    let sender_device = sender.resource().and_then(|r| r.parse().ok());
    let c = DeviceCiphertext {
        device,
        kind,
        payload,
    };
    let (to_list, own) = if flags & FLAG_SELF != 0 {
        (Vec::new(), vec![c])
    } else {
        (vec![c], Vec::new())
    };
    let e2ee = E2ee {
        sender_device,
        stanza_id: Some(m.stanza_id.to_string().into()),
        timestamp: Some(m.timestamp_ms),
        to: to_list,
        own,
        extra: Vec::new(),
    };
    Some(
        Message {
            id: Some(m.msg_id.as_str().into()),
            from: Some(sender),
            to: Some(to.clone()),
            kind: Some(MessageType::Chat),
            e2ee: Some(e2ee),
            ..Message::default()
        }
        .into(),
    )
}

/// Session state plus the connection, for the bound phase.
struct Session<'a, S> {
    inner: &'a Arc<Inner>,
    conn: Conn<S>,
    me: Bound,
    st: LoopState,
}

enum Flow {
    Continue,
    Stop,
}

/// Runs a bound session until the client leaves, misbehaves, or the hub shuts down.
pub async fn serve_bound<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &Arc<Inner>,
    conn: Conn<S>,
    me: Bound,
    mut shutdown: Shutdown,
    session_id: u64,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    inner
        .router
        .register(&me.account, me.device, session_id, tx);
    let limits = &inner.config.limits;
    let mut s = Session {
        inner,
        conn,
        me,
        st: LoopState {
            sm_handled: None,
            tokens: f64::from(limits.stanza_burst),
            refilled: Instant::now(),
            inflight: HashMap::new(),
            backlog_max: 0,
            last_rx: Instant::now(),
            ping_sent: None,
            rx,
        },
    };
    if s.deliver_backlog().await.is_ok() {
        s.notify_low_stock().await;
        s.run_loop(&mut shutdown).await;
    }
    inner
        .router
        .unregister(&s.me.account, s.me.device, session_id);
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    async fn deliver_backlog(&mut self) -> std::io::Result<()> {
        let mut after = 0;
        loop {
            let page = self
                .inner
                .store
                .pending(&self.me.account, self.me.device, after, 500, now_ms())
                .await
                .unwrap_or_default();
            let Some(last) = page.last().map(|m| m.stanza_id) else {
                break;
            };
            for m in &page {
                self.queue_delivery(m);
            }
            self.conn.flush().await?;
            after = last;
            self.st.backlog_max = last;
        }
        Ok(())
    }

    fn queue_delivery(&mut self, m: &QueuedMessage) {
        if let Some(el) = delivery_stanza(m, &self.me.jid, self.me.device) {
            self.st.inflight.insert(m.stanza_id, m.timestamp_ms);
            self.inner.metrics.stanzas_out.inc();
            self.conn.queue(el);
        }
    }

    async fn notify_low_stock(&mut self) {
        if let Some(el) = super::keys::low_stock_notice(
            self.inner,
            &self.me.account,
            self.me.device,
            &self.me.jid,
        )
        .await
        {
            self.conn.queue(el);
            let _ = self.conn.flush().await;
        }
    }

    async fn run_loop(&mut self, shutdown: &mut Shutdown) {
        let interval = Duration::from_secs(self.inner.config.limits.ping_interval_secs.into());
        let ping_timeout = Duration::from_secs(self.inner.config.limits.ping_timeout_secs.into());
        loop {
            let wait = match self.st.ping_sent {
                Some(sent) => (sent + ping_timeout).saturating_duration_since(Instant::now()),
                None => (self.st.last_rx + interval).saturating_duration_since(Instant::now()),
            };
            let flow = tokio::select! {
                () = shutdown.wait() => {
                    self.conn.close_with(StreamErrorCondition::SystemShutdown, "the hub is shutting down; reconnect shortly").await;
                    Flow::Stop
                }
                push = self.st.rx.recv() => self.on_push(push).await,
                read = self.conn.next_event(wait) => self.on_read(read).await,
            };
            if matches!(flow, Flow::Stop) {
                return;
            }
        }
    }

    async fn on_push(&mut self, push: Option<Push>) -> Flow {
        match push {
            Some(Push::Deliver(m)) => {
                if m.stanza_id > self.st.backlog_max && !self.st.inflight.contains_key(&m.stanza_id)
                {
                    self.queue_delivery(&m);
                }
                // Drain whatever else is waiting, then write once.
                while let Ok(next) = self.st.rx.try_recv() {
                    match next {
                        Push::Deliver(m) => {
                            if m.stanza_id > self.st.backlog_max
                                && !self.st.inflight.contains_key(&m.stanza_id)
                            {
                                self.queue_delivery(&m);
                            }
                        }
                        Push::Stanza(el) => self.conn.queue(el),
                        Push::Replaced => return self.replaced().await,
                    }
                }
                self.flush_or_stop().await
            }
            Some(Push::Stanza(el)) => {
                self.conn.queue(el);
                self.flush_or_stop().await
            }
            Some(Push::Replaced) | None => self.replaced().await,
        }
    }

    async fn replaced(&mut self) -> Flow {
        self.conn
            .close_with(
                StreamErrorCondition::Conflict,
                "this device connected again from elsewhere",
            )
            .await;
        Flow::Stop
    }

    async fn flush_or_stop(&mut self) -> Flow {
        match self.conn.flush().await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }

    async fn on_read(&mut self, read: Result<Event, ReadEnd>) -> Flow {
        match read {
            Ok(Event::Stanza(el)) => {
                self.st.last_rx = Instant::now();
                self.st.ping_sent = None;
                if !self.take_token() {
                    self.inner.metrics.reject("rate-limit");
                    let text = format!(
                        "rate limit exceeded: more than {} stanzas per second (limits.stanzas_per_second)",
                        self.inner.config.limits.stanzas_per_second
                    );
                    self.conn
                        .close_with(StreamErrorCondition::PolicyViolation, &text)
                        .await;
                    return Flow::Stop;
                }
                self.inner.metrics.stanzas_in.inc();
                self.on_stanza(el).await
            }
            Ok(Event::StreamEnd) => {
                self.conn
                    .close_raw(portico_stanza::parser::STREAM_END)
                    .await;
                Flow::Stop
            }
            Ok(Event::StreamHeader(_)) => {
                self.conn
                    .close_with(
                        StreamErrorCondition::NotWellFormed,
                        "unexpected stream header",
                    )
                    .await;
                Flow::Stop
            }
            Err(ReadEnd::Timeout) => {
                if self.st.ping_sent.is_some() {
                    self.inner.metrics.reject("ping-timeout");
                    self.conn
                        .close_with(
                            StreamErrorCondition::ConnectionTimeout,
                            "no answer to the hub's ping",
                        )
                        .await;
                    return Flow::Stop;
                }
                self.st.ping_sent = Some(Instant::now());
                let ping = Iq {
                    from: Jid::parse(&self.inner.config.domain).ok(),
                    to: Some(self.me.jid.clone()),
                    ..Iq::get("hub-ping", Element::new("ping", ns::PING))
                };
                self.conn.queue(ping);
                self.flush_or_stop().await
            }
            Err(ReadEnd::Parse(e)) => {
                self.inner.metrics.reject(e.condition().as_str());
                self.conn.close_parse_error(&e).await;
                Flow::Stop
            }
            Err(ReadEnd::Closed | ReadEnd::Io) => Flow::Stop,
        }
    }

    fn take_token(&mut self) -> bool {
        let l = &self.inner.config.limits;
        let now = Instant::now();
        let elapsed = now.duration_since(self.st.refilled).as_secs_f64();
        self.st.refilled = now;
        self.st.tokens = (self.st.tokens + elapsed * f64::from(l.stanzas_per_second))
            .min(f64::from(l.stanza_burst));
        if self.st.tokens >= 1.0 {
            self.st.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn count_handled(&mut self) {
        if let Some(h) = &mut self.st.sm_handled {
            *h = h.wrapping_add(1);
        }
    }

    async fn on_stanza(&mut self, el: Element) -> Flow {
        let top = match TopLevel::try_from(el) {
            Ok(t) => t,
            Err(e) => {
                self.inner.metrics.reject("bad-format");
                let text = format!("invalid stanza: {e}");
                self.conn
                    .close_with(StreamErrorCondition::BadFormat, &text)
                    .await;
                return Flow::Stop;
            }
        };
        match top {
            TopLevel::Message(m) => {
                self.count_handled();
                self.on_message(*m).await;
            }
            TopLevel::Iq(iq) => {
                self.count_handled();
                let reply = self.on_iq(*iq).await;
                if let Some(reply) = reply {
                    self.conn.queue(reply);
                }
            }
            TopLevel::Presence(_) => {
                // Presence is not routed by the hub (no rosters); it only counts as handled.
                self.count_handled();
            }
            TopLevel::Sm(sm) => {
                if let Some(answer) = handle_sm(&mut self.st, sm) {
                    self.conn.queue(answer);
                }
            }
            TopLevel::Received(r) => self.on_received(&r.stanza_id),
            TopLevel::StreamError(_) => {
                self.conn
                    .close_raw(portico_stanza::parser::STREAM_END)
                    .await;
                return Flow::Stop;
            }
            TopLevel::Other(_) => {
                self.conn
                    .close_with(
                        StreamErrorCondition::UnsupportedStanzaType,
                        "unknown top-level element",
                    )
                    .await;
                return Flow::Stop;
            }
        }
        self.flush_or_stop().await
    }

    async fn on_iq(&mut self, iq: Iq) -> Option<Iq> {
        if let Some(reply) = basic_iq(self.inner, &iq) {
            return Some(reply);
        }
        match &iq.kind {
            IqKind::Result(_) | IqKind::Error { .. } => None,
            IqKind::Get(p) | IqKind::Set(p) if p.ns() == ns::PORTICO_KEYS => {
                Some(super::keys::handle(self.inner, &self.me, &iq).await)
            }
            _ => Some(
                iq.error(
                    StanzaError::new(StanzaCondition::ServiceUnavailable)
                        .with_text("the hub does not serve this request"),
                ),
            ),
        }
    }

    fn on_received(&mut self, stanza_id: &str) {
        let Ok(id) = stanza_id.parse::<u64>() else {
            return;
        };
        if let Some(ts) = self.st.inflight.remove(&id) {
            let latency = now_ms().saturating_sub(ts) as f64 / 1000.0;
            self.inner.metrics.delivery_latency.observe(latency);
        }
        let store = self.inner.store.clone();
        let (account, device) = (self.me.account.clone(), self.me.device);
        tokio::spawn(async move {
            if let Err(e) = store.delete_delivered(&account, device, vec![id]).await {
                tracing::warn!(error = %e, "deleting a delivered message failed; it will be redelivered");
            }
        });
    }

    async fn on_message(&mut self, m: Message) {
        if let Some(r) = &m.received {
            self.on_received(&r.stanza_id.clone());
            if m.e2ee.is_none() {
                return;
            }
        }
        if m.kind == Some(MessageType::Error) {
            return;
        }
        let reply = match route(self.inner, &self.me, m).await {
            Ok(ack) => ack,
            Err((to, id, err)) => {
                self.inner.metrics.reject(err.condition.as_str());
                message_error(&to, id, err).into()
            }
        };
        self.conn.queue(reply);
    }
}

type RouteError = (Jid, Option<CompactString>, StanzaError);

/// Checks, queues durably, pushes to online devices, and returns the sender's ack.
async fn route(inner: &Inner, me: &Bound, m: Message) -> Result<Element, RouteError> {
    let reply_to = me.jid.clone();
    let id = m.id.clone();
    let fail = |c: StanzaCondition, text: String| {
        (
            reply_to.clone(),
            id.clone(),
            StanzaError::new(c).with_text(text),
        )
    };
    let Some(e2ee) = m.e2ee else {
        return Err(fail(
            StanzaCondition::PolicyViolation,
            "the hub carries only end-to-end encrypted messages (<e2ee xmlns='urn:portico:e2ee:1'>)".into(),
        ));
    };
    let Some(msg_id) = m.id.clone() else {
        return Err(fail(
            StanzaCondition::BadRequest,
            "an e2ee message needs an id".into(),
        ));
    };
    let Some(to) = m.to else {
        return Err(fail(
            StanzaCondition::BadRequest,
            "an e2ee message needs a 'to' address".into(),
        ));
    };
    if to.domain() != inner.config.domain {
        return Err(fail(
            StanzaCondition::RemoteServerNotFound,
            format!(
                "{} is not served by this hub; only {} is",
                to.domain(),
                inner.config.domain
            ),
        ));
    }
    let Some(recipient) = to.node().map(str::to_owned) else {
        return Err(fail(
            StanzaCondition::BadRequest,
            "address the recipient's bare JID".into(),
        ));
    };
    let store_err = |_| {
        fail(
            StanzaCondition::InternalServerError,
            "the hub's store failed; retry later".into(),
        )
    };
    let recipient_devices = inner.store.devices(&recipient).await.map_err(store_err)?;
    if recipient_devices.is_empty() {
        let exists = inner
            .store
            .credentials(&recipient)
            .await
            .map_err(store_err)?
            .is_some();
        let text = if exists {
            format!("{recipient}@{} has no devices yet", inner.config.domain)
        } else {
            format!("no account {recipient}@{}", inner.config.domain)
        };
        return Err(fail(StanzaCondition::ItemNotFound, text));
    }
    let distinct = |list: &[DeviceCiphertext]| {
        list.iter().map(|c| c.device).collect::<BTreeSet<_>>().len() == list.len()
    };
    if !distinct(&e2ee.to) || !distinct(&e2ee.own) {
        return Err(fail(
            StanzaCondition::BadRequest,
            "one ciphertext per device, please".into(),
        ));
    }
    let self_chat = recipient == me.account;
    let own_devices = if self_chat {
        Vec::new()
    } else {
        inner.store.devices(&me.account).await.map_err(store_err)?
    };
    let bare = |name: &str| Jid::parse(&format!("{name}@{}", inner.config.domain)).ok();
    let mut mismatch = DeviceMismatch::default();
    let expected_to: BTreeSet<DeviceId> = recipient_devices
        .iter()
        .copied()
        .filter(|d| !(self_chat && *d == me.device))
        .collect();
    let expected_own: BTreeSet<DeviceId> = own_devices
        .iter()
        .copied()
        .filter(|d| *d != me.device)
        .collect();
    compare(&expected_to, &e2ee.to, bare(&recipient), &mut mismatch);
    compare(&expected_own, &e2ee.own, bare(&me.account), &mut mismatch);
    if !mismatch.missing.is_empty() || !mismatch.stale.is_empty() {
        return Err((reply_to.clone(), id.clone(), mismatch.into_stanza_error()));
    }
    let sender = me.jid.to_string();
    let copies: Vec<NewMessage> = e2ee
        .to
        .iter()
        .map(|c| (recipient.as_str(), c, false))
        .chain(e2ee.own.iter().map(|c| (me.account.as_str(), c, true)))
        .map(|(account, c, own)| NewMessage {
            account: account.to_owned(),
            device: c.device,
            sender: sender.clone(),
            msg_id: msg_id.to_string(),
            payload: encode_payload(c, own),
        })
        .collect();
    let q = &inner.config.queue;
    let limits = QueueLimits {
        max_per_device: q.max_per_device,
        ttl_ms: u64::from(q.ttl_days) * 86_400_000,
        now_ms: now_ms(),
    };
    let targets: Vec<(String, DeviceId, Vec<u8>)> = copies
        .iter()
        .map(|c| (c.account.clone(), c.device, c.payload.clone()))
        .collect();
    let done = inner.store.enqueue(copies, limits).await.map_err(|e| {
        tracing::error!(error = %e, "queue write failed");
        fail(
            StanzaCondition::InternalServerError,
            "the hub could not store the message; it was not sent".into(),
        )
    })?;
    for (account, device, payload) in targets {
        if done
            .overflowed
            .iter()
            .any(|(a, d)| *a == account && *d == device)
        {
            continue;
        }
        let queued = Arc::new(QueuedMessage {
            stanza_id: done.stanza_id,
            sender: sender.clone(),
            msg_id: msg_id.to_string(),
            timestamp_ms: done.timestamp_ms,
            payload,
        });
        inner.router.push(&account, device, Push::Deliver(queued));
    }
    let mut ack: Element = Message {
        from: Jid::parse(&inner.config.domain).ok(),
        to: Some(me.jid.clone()),
        ack: Some(Ack {
            id: msg_id,
            stanza_id: done.stanza_id.to_string().into(),
            timestamp: done.timestamp_ms,
        }),
        ..Message::default()
    }
    .into();
    for (account, device) in &done.overflowed {
        inner.metrics.reject("queue-full");
        ack.push_child(
            Element::new("queue-full", ns::PORTICO_E2EE)
                .with_attr("jid", format!("{account}@{}", inner.config.domain))
                .with_attr("device", device.to_string())
                .with_attr("max", q.max_per_device.to_string()),
        );
    }
    Ok(ack)
}

fn compare(
    expected: &BTreeSet<DeviceId>,
    given: &[DeviceCiphertext],
    jid: Option<Jid>,
    out: &mut DeviceMismatch,
) {
    let Some(jid) = jid else { return };
    let given: BTreeSet<DeviceId> = given.iter().map(|c| c.device).collect();
    for d in expected.difference(&given) {
        out.missing.push(DeviceAddress {
            jid: jid.clone(),
            device: *d,
        });
    }
    for d in given.difference(expected) {
        out.stale.push(DeviceAddress {
            jid: jid.clone(),
            device: *d,
        });
    }
}
