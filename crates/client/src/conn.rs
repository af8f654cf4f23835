//! The connection to the hub: TCP, direct TLS or STARTTLS, SASL and resource binding driven
//! by `portico_stanza`'s [`ClientNegotiator`], XEP-0198 (enable, answer `<r/>`, resume), and
//! XEP-0199 pings as keepalive. After login a writer task sends whatever it is handed and a
//! reader task parses the stream into elements, so sending never waits on receiving.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use portico_stanza::negotiation::{
    ClientConfig, ClientEvent, ClientFailure, ClientNegotiator, Transport as NegTransport,
};
use portico_stanza::parser::{Event, STREAM_END, StreamParser};
use portico_stanza::stanza::{Iq, Sm, StanzaCondition};
use portico_stanza::{CompactString, Element, Jid, ns};
use rand::SeedableRng as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};
use crate::tls::{PIN_MISMATCH, Trust, client_config};

/// How the TCP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TLS from the first byte (the hub's port 5223).
    DirectTls,
    /// Plain TCP upgraded with STARTTLS before login (port 5222).
    StartTls,
}

/// Everything needed to open one stream.
#[derive(Clone)]
pub struct ConnectOptions {
    /// `host:port` of the hub.
    pub addr: String,
    /// The hub's domain (also the TLS server name).
    pub domain: String,
    /// The account name (localpart); or, for a third-party device, its whole internal bare
    /// JID (`<opaque>@<provider>.interop.<hub domain>`): then it logs in with SASL PLAIN under
    /// that name (see [`crate::thirdparty`]).
    pub user: String,
    /// The password.
    pub password: Zeroizing<String>,
    /// Direct TLS or STARTTLS.
    pub transport: Transport,
    /// How the hub's certificate is checked.
    pub trust: Trust,
    /// The device to bind, or `None` to register a new one.
    pub device: Option<u32>,
    /// An earlier XEP-0198 session to resume: (id, stanzas handled).
    pub resume: Option<(String, u32)>,
    /// Interval between keepalive pings.
    pub ping_interval: Duration,
    /// How long any step may wait for the hub.
    pub timeout: Duration,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// What the reader hands up.
#[derive(Debug)]
pub enum Incoming {
    /// A stanza (message, iq, presence or a Portico nonza).
    Stanza(Element),
    /// The stream ended; why.
    Lost(String),
}

enum Out {
    Bytes(Vec<u8>),
    Close,
    Abort,
}

/// A logged-in, bound stream to the hub.
pub struct Connection {
    out: mpsc::UnboundedSender<Out>,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    handled: Arc<AtomicU32>,
    /// The bound full JID (`user@domain/device`).
    pub jid: Jid,
    /// The device id the hub bound.
    pub device: u32,
    /// The XEP-0198 resumption id, if the hub allows resumption.
    pub sm_id: Option<String>,
    /// Whether an earlier session was resumed instead of binding anew.
    pub resumed: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("jid", &self.jid)
            .finish_non_exhaustive()
    }
}

enum Step {
    StartTls,
    Established {
        jid: Jid,
        sm_id: Option<String>,
        resumed: bool,
        early: Vec<Element>,
    },
}

fn tls_error(e: std::io::Error) -> ClientError {
    let text = e.to_string();
    if let Some(pos) = text.find(PIN_MISMATCH) {
        let actual = text[pos + PIN_MISMATCH.len()..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        return ClientError::PinMismatch { actual };
    }
    ClientError::Tls(e)
}

fn map_failure(f: ClientFailure, device: Option<u32>) -> ClientError {
    match f {
        ClientFailure::AuthFailed(c) => ClientError::WrongPassword(c.to_string()),
        ClientFailure::Sasl(e) => ClientError::WrongPassword(e.to_string()),
        ClientFailure::BindFailed(e) => match device {
            Some(device) if e.condition == StanzaCondition::ItemNotFound => {
                ClientError::UnknownDevice { device }
            }
            _ => ClientError::DeviceRefused(
                e.text
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| e.condition.as_str().to_owned()),
            ),
        },
        other => ClientError::Negotiation(Box::new(other)),
    }
}

async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    neg: &mut ClientNegotiator,
    io: &mut S,
    opts: &ConnectOptions,
) -> Result<Step> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut done: Option<(Jid, Option<String>, bool)> = None;
    let mut early = Vec::new();
    loop {
        while let Some(ev) = neg.poll_event() {
            match ev {
                // Flushed each time: over TLS, rustls may keep records back until a flush.
                ClientEvent::Send(bytes) => {
                    io.write_all(&bytes)
                        .await
                        .map_err(|e| ClientError::ConnectionLost(e.to_string()))?;
                    io.flush()
                        .await
                        .map_err(|e| ClientError::ConnectionLost(e.to_string()))?;
                }
                ClientEvent::StartTls => return Ok(Step::StartTls),
                ClientEvent::Authenticated => {}
                ClientEvent::Established { jid, sm, resumed } => {
                    done = Some((
                        jid,
                        sm.and_then(|s| s.resume.then_some(s.id).flatten())
                            .map(|id| id.to_string()),
                        resumed.is_some(),
                    ));
                }
                ClientEvent::Stanza(el) => early.push(el),
                ClientEvent::Closed { error } => {
                    return Err(match error {
                        Some(f) => map_failure(f, opts.device),
                        None => ClientError::ConnectionLost("the hub closed the stream".into()),
                    });
                }
            }
        }
        if let Some((jid, sm_id, resumed)) = done {
            return Ok(Step::Established {
                jid,
                sm_id,
                resumed,
                early,
            });
        }
        let n = tokio::time::timeout(opts.timeout, io.read(&mut buf))
            .await
            .map_err(|_| ClientError::Timeout {
                what: "login",
                secs: opts.timeout.as_secs(),
            })?
            .map_err(|e| ClientError::ConnectionLost(e.to_string()))?;
        if n == 0 {
            neg.eof();
        } else {
            neg.feed(&buf[..n]);
        }
    }
}

impl Connection {
    /// Connects, protects the stream with TLS, logs in and binds (or resumes).
    pub async fn open(opts: &ConnectOptions) -> Result<Connection> {
        let tls = client_config(&opts.trust)?;
        let mut tcp = tokio::time::timeout(opts.timeout, TcpStream::connect(&opts.addr))
            .await
            .map_err(|_| ClientError::Timeout {
                what: "the TCP connection",
                secs: opts.timeout.as_secs(),
            })?
            .map_err(|source| ClientError::Unreachable {
                addr: opts.addr.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        // A third-party device's user is its internal JID: the stream still goes to the hub.
        let (node, sasl_user) = match opts.user.split_once('@') {
            Some((node, _)) => (node, Some(opts.user.clone())),
            None => (opts.user.as_str(), None),
        };
        let bare = format!("{node}@{}", opts.domain);
        let jid_text = match opts.device {
            Some(d) => format!("{bare}/{d}"),
            None => bare,
        };
        let jid = Jid::parse(&jid_text).map_err(|_| ClientError::BadAddress(jid_text.clone()))?;
        let transport = match opts.transport {
            Transport::DirectTls => NegTransport::Tls,
            Transport::StartTls => NegTransport::StartTls,
        };
        let mut config = ClientConfig::new(jid, opts.password.as_bytes(), transport);
        if let Some(user) = sasl_user {
            config.authcid = Some(user);
            config.mechanisms = vec![portico_stanza::sasl::Mechanism::Plain];
        }
        config.resume = opts
            .resume
            .as_ref()
            .map(|(id, h)| (CompactString::from(id.as_str()), *h));
        let mut rng = rand::rngs::StdRng::from_os_rng();
        let mut neg = ClientNegotiator::new(config, &mut rng);
        if opts.transport == Transport::StartTls {
            match drive(&mut neg, &mut tcp, opts).await? {
                Step::StartTls => {}
                Step::Established { .. } => {
                    return Err(ClientError::Protocol {
                        what: "STARTTLS",
                        detail: "the stream was established without TLS".into(),
                    });
                }
            }
        }
        let name = rustls::pki_types::ServerName::try_from(opts.domain.clone())
            .map_err(|_| ClientError::BadAddress(opts.domain.clone()))?;
        let mut stream =
            tokio::time::timeout(opts.timeout, TlsConnector::from(tls).connect(name, tcp))
                .await
                .map_err(|_| ClientError::Timeout {
                    what: "the TLS handshake",
                    secs: opts.timeout.as_secs(),
                })?
                .map_err(tls_error)?;
        if opts.transport == Transport::StartTls {
            neg.tls_established().map_err(|e| ClientError::Protocol {
                what: "STARTTLS",
                detail: e.to_string(),
            })?;
        }
        let Step::Established {
            jid,
            sm_id,
            resumed,
            early,
        } = drive(&mut neg, &mut stream, opts).await?
        else {
            return Err(ClientError::Protocol {
                what: "login",
                detail: "STARTTLS offered twice".into(),
            });
        };
        let device = jid
            .resource()
            .and_then(|r| r.parse::<u32>().ok())
            .ok_or_else(|| ClientError::Protocol {
                what: "resource binding",
                detail: format!("the bound resource of {jid} is not a device id"),
            })?;
        Ok(Self::start(
            stream,
            neg.into_parser(),
            early,
            StartInfo {
                jid,
                device,
                sm_id,
                resumed,
                handled: opts.resume.as_ref().map(|r| r.1).unwrap_or(0),
                ping: opts.ping_interval,
            },
        ))
    }

    fn start(
        stream: TlsStream<TcpStream>,
        parser: StreamParser,
        early: Vec<Element>,
        info: StartInfo,
    ) -> Connection {
        let (reader, writer) = tokio::io::split(stream);
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (in_tx, incoming) = mpsc::unbounded_channel();
        let handled = Arc::new(AtomicU32::new(if info.resumed { info.handled } else { 0 }));
        let reader_state = Reader {
            parser,
            tx: in_tx,
            out: out_tx.clone(),
            handled: handled.clone(),
            silence: info.ping * 3,
        };
        for el in early {
            reader_state.hand_up(el);
        }
        tokio::spawn(reader_state.run(reader));
        tokio::spawn(write_loop(writer, out_rx, info.ping));
        Connection {
            out: out_tx,
            incoming,
            handled,
            jid: info.jid,
            device: info.device,
            sm_id: info.sm_id,
            resumed: info.resumed,
        }
    }

    /// Sends one element (queued to the writer task).
    pub fn send(&self, el: impl Into<Element>) -> Result<()> {
        self.out
            .send(Out::Bytes(el.into().to_bytes()))
            .map_err(|_| ClientError::ConnectionLost("the writer stopped".into()))
    }

    /// The next thing from the hub; `Incoming::Lost` once the stream is over.
    pub async fn next(&mut self) -> Incoming {
        self.incoming
            .recv()
            .await
            .unwrap_or_else(|| Incoming::Lost("the reader stopped".into()))
    }

    /// Stanzas handled on this stream, for a later XEP-0198 resume.
    pub fn handled(&self) -> u32 {
        self.handled.load(Ordering::Relaxed)
    }

    /// Drops the TCP connection without closing the stream (the hub keeps the session
    /// resumable), as a lost network would.
    pub fn abort(&self) {
        let _ = self.out.send(Out::Abort);
    }

    /// Closes the stream politely.
    pub fn close(&self) {
        let _ = self.out.send(Out::Close);
    }
}

struct StartInfo {
    jid: Jid,
    device: u32,
    sm_id: Option<String>,
    resumed: bool,
    handled: u32,
    ping: Duration,
}

/// Pings use ids with this prefix; their answers are swallowed by the reader.
const PING_PREFIX: &str = "keepalive-";

async fn write_loop(
    mut writer: tokio::io::WriteHalf<TlsStream<TcpStream>>,
    mut rx: mpsc::UnboundedReceiver<Out>,
    ping: Duration,
) {
    let mut tick = tokio::time::interval(ping);
    tick.tick().await;
    let mut n: u64 = 0;
    loop {
        let bytes = tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Bytes(b)) => b,
                Some(Out::Abort) => {
                    let _ = writer.shutdown().await;
                    return;
                }
                Some(Out::Close) | None => {
                    let _ = writer.write_all(STREAM_END).await;
                    let _ = writer.shutdown().await;
                    return;
                }
            },
            _ = tick.tick() => {
                n += 1;
                Element::from(Iq::get(
                    format!("{PING_PREFIX}{n}"),
                    Element::new("ping", ns::PING),
                ))
                .to_bytes()
            }
        };
        if writer.write_all(&bytes).await.is_err() {
            return;
        }
        // Over TLS, `write_all` can leave records inside rustls when the socket was full;
        // without a flush they would wait for the next write (the hub would never see the
        // last stanzas of a burst). Flush once the queue is drained.
        if rx.is_empty() && writer.flush().await.is_err() {
            return;
        }
    }
}

struct Reader {
    parser: StreamParser,
    tx: mpsc::UnboundedSender<Incoming>,
    out: mpsc::UnboundedSender<Out>,
    handled: Arc<AtomicU32>,
    silence: Duration,
}

impl Reader {
    fn hand_up(&self, el: Element) -> bool {
        if el.ns() == ns::SM {
            if el.name() == "r" {
                let h = self.handled.load(Ordering::Relaxed);
                let _ = self
                    .out
                    .send(Out::Bytes(Element::from(Sm::Answer { h }).to_bytes()));
            }
            return true;
        }
        if matches!(el.name(), "message" | "iq" | "presence") {
            self.handled.fetch_add(1, Ordering::Relaxed);
        }
        if el.name() == "iq" && el.attr("id").is_some_and(|id| id.starts_with(PING_PREFIX)) {
            return true;
        }
        self.tx.send(Incoming::Stanza(el)).is_ok()
    }

    async fn run(mut self, mut reader: tokio::io::ReadHalf<TlsStream<TcpStream>>) {
        let mut buf = vec![0u8; 32 * 1024];
        let why = loop {
            let n = match tokio::time::timeout(self.silence, reader.read(&mut buf)).await {
                Err(_) => break "the hub stopped answering pings".to_owned(),
                Ok(Ok(0)) => break "the hub closed the connection".to_owned(),
                Ok(Err(e)) => break e.to_string(),
                Ok(Ok(n)) => n,
            };
            self.parser.feed(&buf[..n]);
            let mut end = None;
            loop {
                match self.parser.next_event() {
                    Ok(Some(Event::Stanza(el))) => {
                        if el.is("error", ns::STREAM) {
                            end = Some(format!("the hub closed the stream: {el}"));
                            break;
                        }
                        if !self.hand_up(el) {
                            return;
                        }
                    }
                    Ok(Some(Event::StreamEnd)) => {
                        end = Some("the hub ended the stream".to_owned());
                        break;
                    }
                    Ok(Some(Event::StreamHeader(_))) => {}
                    Ok(None) => break,
                    Err(e) => {
                        end = Some(format!("the hub's stream is invalid: {e}"));
                        break;
                    }
                }
            }
            if let Some(why) = end {
                break why;
            }
        };
        let _ = self.tx.send(Incoming::Lost(why));
    }
}
