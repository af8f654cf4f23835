//! One client connection from the first byte to bind: STARTTLS (on the STARTTLS port), stream
//! headers, authentication (in `auth`), and resource binding (DESIGN.md §4: the resource is
//! the device id) or XEP-0198 resumption; then hands over to the bound loop (`bound`). Also the
//! helpers the bound loop shares: disco#info, ping and error replies, and its state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_stanza::parser::{Event, Limits, StreamHeader};
use portico_stanza::stanza::{
    Bind, DiscoInfo, Identity, Iq, IqKind, Message, MessageType, Sm, StanzaCondition, StanzaError,
    StartTls, StreamErrorCondition, StreamFeatures, TopLevel,
};
use portico_stanza::{CompactString, Element, Jid, ns};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::conn::{Conn, ReadEnd};
use super::{Inner, Push};
use crate::config::Registration;
use crate::shutdown::Shutdown;
use crate::store::{DeviceId, StoreError};

/// Parser limits from the configuration.
fn limits(inner: &Inner) -> Limits {
    let l = &inner.config.limits;
    Limits {
        max_stanza_bytes: l.max_stanza_bytes as usize,
        max_depth: l.max_depth as usize,
        max_attributes: l.max_attributes as usize,
        max_attribute_bytes: l.max_attribute_bytes as usize,
        max_text_bytes: l.max_text_bytes as usize,
    }
}

pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn header_for(inner: &Inner) -> Vec<u8> {
    StreamHeader {
        from: Some(inner.config.domain.as_str().into()),
        id: Some(random_token().into()),
        version: Some("1.0".into()),
        lang: Some("en".into()),
        default_ns: ns::JABBER_CLIENT.into(),
        ..StreamHeader::default()
    }
    .to_bytes()
}

/// Refuses a connection over the connection cap with a stream error (after TLS if direct).
pub async fn refuse_full(inner: &Inner, tcp: TcpStream) {
    let mut conn = Conn::new(tcp, limits(inner));
    conn.queue_raw(&header_for(inner));
    conn.close_with(
        StreamErrorCondition::ResourceConstraint,
        "the hub is at its connection limit (limits.max_connections); retry later",
    )
    .await;
}

/// Why negotiation ended without a bound session.
pub(super) enum Stop {
    /// Already answered (stream error sent) or the peer left.
    Done,
}

/// Runs one connection.
pub async fn run(
    inner: &Arc<Inner>,
    tcp: TcpStream,
    direct_tls: bool,
    shutdown: Shutdown,
    id: u64,
) {
    // Everything up to bind lives in this block, so none of it (the TLS stream, the
    // connection before it moves into the session) keeps space in the task while the bound
    // session runs: every idle connection's task is as large as its largest state.
    let address = tcp.peer_addr().ok().map(|a| a.ip());
    let serve = {
        let deadline =
            Instant::now() + Duration::from_secs(inner.config.limits.login_timeout_secs.into());
        let tcp = if direct_tls {
            tcp
        } else {
            // Boxed: the negotiation steps' state is freed once they finish, instead of
            // sizing every idle session's task for them.
            match Box::pin(starttls(inner, tcp, deadline)).await {
                Some(tcp) => tcp,
                None => return,
            }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let tls = match Box::pin(tokio::time::timeout(remaining, inner.tls.accept(tcp))).await {
            Ok(Ok(tls)) => tls,
            _ => {
                inner.metrics.reject("tls-handshake");
                return;
            }
        };
        let mut conn = Conn::new(tls, limits(inner));
        let Ok(mut bound) = Box::pin(negotiate(inner, &mut conn, deadline)).await else {
            return;
        };
        bound.address = address;
        super::bound::serve_bound(inner, conn, bound, shutdown, id)
    };
    serve.await;
}

/// The identity a session bound.
pub struct Bound {
    /// Account name.
    pub account: String,
    /// Device id.
    pub device: DeviceId,
    /// `account@domain/device`.
    pub jid: Jid,
    /// Set when the session resumed a dropped one: its stream-management id and count.
    pub resumed: Option<(String, u32)>,
    /// The provider and visible id of a third-party user's session (`None` for first-party
    /// accounts); set by third-party login (`crate::interop`).
    #[allow(dead_code)] // read by the policy code (interop stamp, provider limits)
    pub third_party: Option<Arc<crate::interop::ThirdParty>>,
    /// The client's network address (for the per-address policy bucket).
    pub address: Option<std::net::IpAddr>,
}

pub(super) async fn next<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &Inner,
    conn: &mut Conn<S>,
    deadline: Instant,
) -> Result<Event, Stop> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    match conn.next_event(remaining).await {
        Ok(ev) => Ok(ev),
        Err(ReadEnd::Parse(e)) => {
            inner.metrics.reject(e.condition().as_str());
            conn.close_parse_error(&e).await;
            Err(Stop::Done)
        }
        Err(ReadEnd::Timeout) => {
            inner.metrics.reject("login-timeout");
            conn.close_with(
                StreamErrorCondition::ConnectionTimeout,
                "login did not finish in time (limits.login_timeout_secs)",
            )
            .await;
            Err(Stop::Done)
        }
        Err(ReadEnd::Closed | ReadEnd::Io) => Err(Stop::Done),
    }
}

/// Waits for the client's stream header and answers with ours; checks the domain.
async fn open_stream<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &Inner,
    conn: &mut Conn<S>,
    deadline: Instant,
) -> Result<(), Stop> {
    let header = match next(inner, conn, deadline).await? {
        Event::StreamHeader(h) => h,
        _ => {
            conn.queue_raw(&header_for(inner));
            conn.close_with(
                StreamErrorCondition::NotWellFormed,
                "expected a stream header",
            )
            .await;
            return Err(Stop::Done);
        }
    };
    conn.queue_raw(&header_for(inner));
    if header.to.as_deref() != Some(inner.config.domain.as_str()) {
        inner.metrics.reject("host-unknown");
        let text = format!("this hub serves {}", inner.config.domain);
        conn.close_with(StreamErrorCondition::HostUnknown, &text)
            .await;
        return Err(Stop::Done);
    }
    if header.default_ns != ns::JABBER_CLIENT {
        conn.close_with(
            StreamErrorCondition::InvalidNamespace,
            "only jabber:client streams are served here",
        )
        .await;
        return Err(Stop::Done);
    }
    Ok(())
}

/// The plaintext part on the STARTTLS port; returns the TCP stream ready for the handshake.
async fn starttls(inner: &Inner, tcp: TcpStream, deadline: Instant) -> Option<TcpStream> {
    let mut conn = Conn::new(tcp, limits(inner));
    open_stream(inner, &mut conn, deadline).await.ok()?;
    conn.queue(StreamFeatures {
        starttls: Some(true),
        ..StreamFeatures::default()
    });
    conn.flush().await.ok()?;
    match next(inner, &mut conn, deadline).await.ok()? {
        Event::Stanza(el) if el.is("starttls", ns::TLS) => {
            conn.send(StartTls::Proceed).await.ok()?;
            Some(conn.into_inner())
        }
        _ => {
            inner.metrics.reject("tls-required");
            conn.close_with(
                StreamErrorCondition::PolicyViolation,
                "STARTTLS is required before anything else on this port",
            )
            .await;
            None
        }
    }
}

/// SASL, stream restart and bind over TLS.
async fn negotiate<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &Inner,
    conn: &mut Conn<S>,
    deadline: Instant,
) -> Result<Bound, Stop> {
    open_stream(inner, conn, deadline).await?;
    let mut extra = Vec::new();
    if inner.config.registration == Registration::Open {
        extra.push(Element::new(
            "register",
            "http://jabber.org/features/iq-register",
        ));
    }
    conn.queue(StreamFeatures {
        mechanisms: vec!["SCRAM-SHA-256".into(), "PLAIN".into()],
        extra,
        ..StreamFeatures::default()
    });
    conn.flush().await.map_err(|_| Stop::Done)?;
    let (account, login) = super::auth::authenticate(inner, conn, deadline).await?;
    let third_party = login.as_ref().map(|(who, _)| who.clone());
    let login_device = login.map(|(_, device)| device);
    conn.restart();
    open_stream(inner, conn, deadline).await?;
    conn.queue(StreamFeatures {
        bind: true,
        sm: true,
        ..StreamFeatures::default()
    });
    conn.flush().await.map_err(|_| Stop::Done)?;
    loop {
        let Event::Stanza(el) = next(inner, conn, deadline).await? else {
            return Err(Stop::Done);
        };
        if el.is("resume", ns::SM) {
            if let Ok(Sm::Resume { previd, .. }) = Sm::try_from(el) {
                if let Some((device, handled)) = inner
                    .resumable
                    .take(&previd, &account)
                    .filter(|(d, _)| login_device.is_none_or(|l| l == *d))
                {
                    let jid = Jid::parse(&crate::interop::full_jid(
                        &account,
                        &inner.config.domain,
                        device,
                    ))
                    .map_err(|_| Stop::Done)?;
                    conn.send(Sm::Resumed {
                        previd: previd.clone(),
                        h: handled,
                    })
                    .await
                    .map_err(|_| Stop::Done)?;
                    return Ok(Bound {
                        account,
                        device,
                        jid,
                        resumed: Some((previd.to_string(), handled)),
                        third_party,
                        address: None,
                    });
                }
            }
            inner.metrics.reject("resume-failed");
            conn.send(Sm::Failed {
                h: None,
                condition: Some(StanzaCondition::ItemNotFound),
            })
            .await
            .map_err(|_| Stop::Done)?;
            continue;
        }
        let Ok(TopLevel::Iq(iq)) = TopLevel::try_from(el) else {
            conn.close_with(StreamErrorCondition::NotAuthorized, "bind a resource first")
                .await;
            return Err(Stop::Done);
        };
        let bind = match &iq.kind {
            IqKind::Set(p) if p.is("bind", ns::BIND) => Bind::try_from(p.clone()).ok(),
            _ => None,
        };
        let Some(Bind::Request(resource)) = bind else {
            let err =
                StanzaError::new(StanzaCondition::NotAllowed).with_text("bind a resource first");
            conn.send(iq.error(err)).await.map_err(|_| Stop::Done)?;
            continue;
        };
        let bound = match login_device {
            // A third-party credential belongs to one enlisted device: bind only that one.
            Some(d) if resource.as_deref() != Some(d.to_string().as_str()) => {
                Err(StanzaError::new(StanzaCondition::NotAllowed).with_text(format!(
                    "this credential belongs to device {d}: bind resource {d} (third-party devices are added by enlistment)"
                )))
            }
            // Its credential proved the device is registered.
            Some(d) => Ok(d),
            None => bind_device(inner, &account, resource.as_deref()).await,
        };
        match bound {
            Ok(device) => {
                let jid = Jid::parse(&crate::interop::full_jid(
                    &account,
                    &inner.config.domain,
                    device,
                ))
                .map_err(|_| Stop::Done)?;
                conn.send(iq.result(Some(Bind::Result(jid.clone()).into())))
                    .await
                    .map_err(|_| Stop::Done)?;
                return Ok(Bound {
                    account,
                    device,
                    jid,
                    resumed: None,
                    third_party,
                    address: None,
                });
            }
            Err(err) => {
                inner.metrics.reject("bind-refused");
                conn.send(iq.error(err)).await.map_err(|_| Stop::Done)?;
            }
        }
    }
}

async fn bind_device(
    inner: &Inner,
    account: &str,
    resource: Option<&str>,
) -> Result<DeviceId, StanzaError> {
    let internal = |e: StoreError| {
        tracing::error!(error = %e, "store failure during bind");
        StanzaError::new(StanzaCondition::InternalServerError)
            .with_text("the hub's store failed; retry later")
    };
    match resource {
        Some(r) => {
            let device: Option<DeviceId> = r.parse().ok();
            let devices = inner.devices(account).await.map_err(internal)?;
            match device {
                Some(d) if devices.contains(&d) => Ok(d),
                _ => Err(StanzaError::new(StanzaCondition::ItemNotFound).with_text(format!(
                    "device {r:?} is not registered for this account; bind without a resource to register a new device"
                ))),
            }
        }
        None => match inner.store.register_device(account, inner.config.max_devices).await {
            Ok(d) => {
                inner.forget_devices(account);
                Ok(d)
            }
            Err(StoreError::DeviceCapReached { max }) => Err(StanzaError::new(StanzaCondition::ResourceConstraint)
                .with_text(format!(
                    "the account has {max} devices already (max_devices); remove one before adding another"
                ))),
            Err(e) => Err(internal(e)),
        },
    }
}

/// What the session loop asks of `handle_iq` callers for disco.
pub fn disco_info(inner: &Inner) -> DiscoInfo {
    let _ = inner;
    DiscoInfo {
        node: None,
        identities: vec![Identity {
            category: "server".into(),
            kind: "im".into(),
            name: Some("Portico hub".into()),
            lang: None,
        }],
        features: [
            ns::DISCO_INFO,
            ns::PING,
            ns::SM,
            ns::PORTICO_E2EE,
            ns::PORTICO_KEYS,
            // XEP-0191 §3.1 and the other policy IQs (crate::policy::iq).
            portico_stanza::stanza::policy::NS_BLOCKING,
            portico_stanza::stanza::policy::NS_SETTINGS,
            portico_stanza::stanza::policy::NS_REPORT,
            portico_stanza::stanza::policy::NS_DISCOVER,
        ]
        .iter()
        .map(|f| CompactString::from(*f))
        .collect(),
        extra: Vec::new(),
    }
}

/// Session-loop state shared with the routing module.
pub struct LoopState {
    /// Stanzas handled (XEP-0198 `h`), if stream management is on.
    pub sm_handled: Option<u32>,
    /// The stream-management id, if the client asked for resumption.
    pub sm_id: Option<String>,
    /// Tokens left in the rate-limit bucket.
    pub tokens: f64,
    /// When the bucket was last refilled.
    pub refilled: Instant,
    /// Messages delivered and not yet acknowledged by the device: stanza-id → hub time.
    pub inflight: HashMap<u64, u64>,
    /// Highest stanza-id delivered from the stored backlog.
    pub backlog_max: u64,
    /// When the last bytes arrived.
    pub last_rx: Instant,
    /// When the hub's unanswered ping went out.
    pub ping_sent: Option<Instant>,
    /// Channel pushes arrive on.
    pub rx: mpsc::UnboundedReceiver<Push>,
    /// E2ee messages submitted to the store, oldest first, waiting to be acknowledged.
    pub pending: std::collections::VecDeque<(
        crate::store::StoreFuture<'static, crate::store::Enqueued>,
        super::route::SendCtx,
    )>,
    /// Delivered stanza-ids to delete, written in one batch per read.
    pub to_delete: Vec<u64>,
}

/// Answers IQs the session handles itself: ping, disco; `None` when not one of these.
pub fn basic_iq(inner: &Inner, iq: &Iq) -> Option<Iq> {
    match &iq.kind {
        IqKind::Get(p) if p.is("ping", ns::PING) => Some(iq.result(None)),
        IqKind::Get(p) if p.is("query", ns::DISCO_INFO) => {
            Some(iq.result(Some(disco_info(inner).into())))
        }
        IqKind::Get(p) | IqKind::Set(p) if p.is("bind", ns::BIND) => Some(iq.error(
            StanzaError::new(StanzaCondition::NotAllowed).with_text("a resource is bound already"),
        )),
        _ => None,
    }
}

/// Builds a `<message type='error'>` reply.
pub fn message_error(to: &Jid, id: Option<CompactString>, err: StanzaError) -> Message {
    Message {
        id,
        to: Some(to.clone()),
        kind: Some(MessageType::Error),
        error: Some(err),
        ..Message::default()
    }
}
