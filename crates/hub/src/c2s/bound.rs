//! The bound session loop: reads stanzas (rate-limited), keeps several e2ee messages in flight
//! to the store while acknowledging them in order, delivers each device its own queued
//! ciphertexts (backlog first, then live pushes), deletes on the device's `<received/>`,
//! and pings quiet clients to find half-open connections.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_stanza::parser::Event;
use portico_stanza::stanza::{
    Iq, IqKind, Message, MessageType, StanzaCondition, StanzaError, StreamErrorCondition, TopLevel,
};
use portico_stanza::{Element, Jid, ns};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::conn::{Conn, ReadEnd};
use super::resume::handle_sm;
use super::session::{Bound, LoopState, basic_iq, message_error};
use super::{Inner, Push};
use crate::shutdown::Shutdown;
use crate::store::QueuedMessage;
use crate::store::sqlite::now_ms;

/// Most e2ee messages one session may have waiting for the store; reading pauses beyond.
const MAX_IN_FLIGHT: usize = 256;

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
///
/// Not an `async fn`: the session is built here and the returned future owns it once, where
/// an `async fn` would keep both its `conn` argument and the session holding it (every idle
/// connection's task is as large as its largest state).
pub fn serve_bound<'a, S: AsyncRead + AsyncWrite + Unpin + 'a>(
    inner: &'a Arc<Inner>,
    conn: Conn<S>,
    me: Bound,
    mut shutdown: Shutdown,
    session_id: u64,
) -> impl Future<Output = ()> + 'a {
    let (tx, rx) = mpsc::unbounded_channel();
    inner
        .router
        .register(&me.account, me.device, session_id, tx);
    let limits = &inner.config.limits;
    let sm_handled = me.resumed.as_ref().map(|(_, h)| *h);
    let sm_id = me.resumed.as_ref().map(|(id, _)| id.clone());
    let mut s = Session {
        inner,
        conn,
        me,
        st: LoopState {
            sm_handled,
            sm_id,
            tokens: f64::from(limits.stanza_burst),
            refilled: Instant::now(),
            inflight: HashMap::new(),
            backlog_max: 0,
            last_rx: Instant::now(),
            ping_sent: None,
            rx,
            pending: VecDeque::new(),
            to_delete: Vec::new(),
        },
    };
    // An `async move` block uses the captured session in place (an `async fn` taking it by
    // value would hold it twice).
    async move {
        if s.deliver_backlog().await.is_ok() {
            s.notify_low_stock().await;
            s.run_loop(&mut shutdown).await;
        }
        inner
            .router
            .unregister(&s.me.account, s.me.device, session_id);
        if let Some(id) = s.st.sm_id.take() {
            let handled = s.st.sm_handled.unwrap_or(0);
            inner
                .resumable
                .park(id, &s.me.account, s.me.device, handled);
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    async fn deliver_backlog(&mut self) -> std::io::Result<()> {
        let mut after = 0;
        loop {
            // The first page is ordered after every message already submitted: those were
            // pushed (if at all) before this session registered, so it must find them here.
            // Everything submitted later reaches it as a push.
            let store = &self.inner.store;
            let (account, device) = (&self.me.account, self.me.device);
            let page = if after == 0 {
                store.pending_ordered(account, device, 500, now_ms()).await
            } else {
                store.pending(account, device, after, 500, now_ms()).await
            }
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
        if let Some(msg) = super::route::delivery_stanza(m, &self.me.jid, self.me.device) {
            self.st.inflight.insert(m.stanza_id, m.timestamp_ms);
            self.inner.metrics.stanzas_out.inc();
            self.conn.queue_message(&msg);
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
                    // Answer the messages already submitted before saying goodbye.
                    while let Some((fut, ctx)) = self.st.pending.pop_front() {
                        let reply = super::route::finish(self.inner, ctx, fut.await);
                        self.queue_reply(reply);
                    }
                    self.conn.close_with(StreamErrorCondition::SystemShutdown, "the hub is shutting down; reconnect shortly").await;
                    Flow::Stop
                }
                push = self.st.rx.recv() => self.on_push(push).await,
                written = async {
                    match self.st.pending.front_mut() {
                        Some((fut, _)) => fut.await,
                        None => std::future::pending().await,
                    }
                }, if !self.st.pending.is_empty() => self.on_written(written).await,
                read = self.conn.next_event(wait), if self.st.pending.len() < MAX_IN_FLIGHT => self.on_read(read).await,
            };
            if matches!(flow, Flow::Stop) {
                return;
            }
        }
    }

    async fn on_written(
        &mut self,
        written: Result<crate::store::Enqueued, crate::store::StoreError>,
    ) -> Flow {
        if let Some((_, ctx)) = self.st.pending.pop_front() {
            let reply = super::route::finish(self.inner, ctx, written);
            self.queue_reply(reply);
        }
        // Later writes that are done already are answered in the same flush.
        while let Some((fut, _)) = self.st.pending.front_mut() {
            let Some(written) = futures_now(fut) else {
                break;
            };
            if let Some((_, ctx)) = self.st.pending.pop_front() {
                let reply = super::route::finish(self.inner, ctx, written);
                self.queue_reply(reply);
            }
        }
        self.flush_or_stop().await
    }

    fn queue_reply(&mut self, reply: super::route::Reply) {
        match reply {
            super::route::Reply::Ack(m) => self.conn.queue_message(&m),
            super::route::Reply::Element(el) => self.conn.queue(el),
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
                        Push::Stanza(el) => self.conn.queue(*el),
                        Push::Replaced => return self.replaced().await,
                        Push::Close(c, text) => return self.close(c, &text).await,
                    }
                }
                self.flush_or_stop().await
            }
            Some(Push::Stanza(el)) => {
                self.conn.queue(*el);
                self.flush_or_stop().await
            }
            Some(Push::Replaced) | None => self.replaced().await,
            Some(Push::Close(c, text)) => self.close(c, &text).await,
        }
    }

    async fn close(&mut self, condition: StreamErrorCondition, text: &str) -> Flow {
        self.conn.close_with(condition, text).await;
        Flow::Stop
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
        let mut flow = self.on_event(read).await;
        // Handle everything that arrived in the same read before writing once.
        while matches!(flow, Flow::Continue) && self.st.pending.len() < MAX_IN_FLIGHT {
            match self.conn.buffered_event() {
                Ok(Some(ev)) => flow = self.on_event(Ok(ev)).await,
                Ok(None) => break,
                Err(e) => flow = self.on_event(Err(e)).await,
            }
        }
        self.flush_deletes();
        match flow {
            Flow::Continue => self.flush_or_stop().await,
            Flow::Stop => Flow::Stop,
        }
    }

    fn flush_deletes(&mut self) {
        if self.st.to_delete.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.st.to_delete);
        self.inner
            .store
            .forget_delivered(&self.me.account, self.me.device, ids);
    }

    async fn on_event(&mut self, read: Result<Event, ReadEnd>) -> Flow {
        match read {
            Ok(Event::Stanza(el)) => {
                self.st.last_rx = Instant::now();
                self.st.ping_sent = None;
                // A device acknowledging what the hub delivered to it is not flooding: those
                // acks are as many as the deliveries, so they cost no tokens.
                let owed_ack = el.is("received", ns::PORTICO_E2EE)
                    && el
                        .attr("stanza-id")
                        .and_then(|id| id.parse::<u64>().ok())
                        .is_some_and(|id| self.st.inflight.contains_key(&id));
                if !owed_ack && !self.take_token() {
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
                Flow::Continue
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
            // Boxed: routing and key-directory work are large futures, and inline they would
            // size every idle session's task for them.
            TopLevel::Message(m) => {
                self.count_handled();
                Box::pin(self.on_message(*m)).await;
            }
            TopLevel::Iq(iq) => {
                self.count_handled();
                let reply = Box::pin(self.on_iq(*iq)).await;
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
        Flow::Continue
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
            IqKind::Get(p) | IqKind::Set(p) if crate::media::slots::handles(p.ns()) => Some(
                crate::media::slots::handle(&self.inner.media, &self.me.account, &iq),
            ),
            IqKind::Get(p) | IqKind::Set(p) if crate::policy::iq::is_policy_iq(p) => {
                let me = crate::policy::iq::Asker {
                    account: &self.me.account,
                    jid: &self.me.jid,
                };
                Some(crate::policy::iq::handle(self.inner, me, &iq).await)
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
        self.st.to_delete.push(id);
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
        match super::route::prepare(self.inner, &self.me, m).await {
            Ok((copies, limits, mut ctx)) => {
                // Submitted now, in order (and pushed to online devices at once); answered
                // in order by `on_written` once durable.
                let fut = super::route::submit(self.inner, copies, limits, &mut ctx);
                self.st.pending.push_back((fut, ctx));
            }
            Err((to, id, err)) => {
                self.inner.metrics.reject(err.condition.as_str());
                self.conn.queue(message_error(&to, id, err));
            }
        }
    }
}

/// The output of a future that is ready now, without waiting.
fn futures_now<F: std::future::Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match std::pin::Pin::new(fut).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
