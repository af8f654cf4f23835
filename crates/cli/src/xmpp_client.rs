//! A small XMPP client for `portico bench` and the end-to-end tests: direct TLS or STARTTLS,
//! SASL SCRAM-SHA-256 or PLAIN, bind, then elements in and out. A reader task parses the
//! stream and hands complete elements over a channel, so sending never waits on receiving
//! ([`Client`]); the bench takes the bound stream as it is ([`Client::login`]) and drives
//! reading and writing in one task per connection.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portico_stanza::parser::{Event, Limits, StreamHeader, StreamParser};
use portico_stanza::sasl::{ScramClient, plain_message};
use portico_stanza::stanza::{Bind, Iq, IqKind, Sasl, StartTls, StreamFeatures};
use portico_stanza::{Element, Jid, ns};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    /// SASL SCRAM-SHA-256.
    Scram,
    /// SASL PLAIN.
    Plain,
}

/// What went wrong while connecting.
#[derive(Debug)]
pub enum ClientError {
    /// Socket or TLS failure.
    Io(std::io::Error),
    /// The server closed or sent something unexpected; the element or text says what.
    Protocol(String),
    /// Authentication failed; the server's `<failure/>`.
    Auth(String),
    /// Bind failed; the server's IQ error.
    Bind(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "I/O: {e}"),
            ClientError::Protocol(s) => write!(f, "protocol: {s}"),
            ClientError::Auth(s) => write!(f, "auth: {s}"),
            ClientError::Bind(s) => write!(f, "bind: {s}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// Connection parameters.
#[derive(Clone)]
pub struct Login {
    /// Server address.
    pub addr: SocketAddr,
    /// TLS client configuration (trusting the hub).
    pub tls: Arc<rustls::ClientConfig>,
    /// Hub domain.
    pub domain: String,
    /// Account name.
    pub user: String,
    /// Password.
    pub password: String,
    /// SASL mechanism.
    pub mech: Mech,
    /// Device id to bind, or `None` to register a new device.
    pub resource: Option<String>,
    /// STARTTLS (port 5222) instead of direct TLS (5223).
    pub starttls: bool,
    /// Resume this XEP-0198 session (bound to `resource`) instead of binding.
    pub resume: Option<String>,
}

/// A logged-in, bound client.
pub struct Client {
    writer: WriteHalf<TlsStream<TcpStream>>,
    /// Elements from the server, in order; `None` once the stream ended.
    pub incoming: mpsc::UnboundedReceiver<Element>,
    /// The bound full JID.
    pub jid: Jid,
    out: Vec<u8>,
}

struct Raw<S> {
    io: S,
    parser: StreamParser,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    fn new(io: S) -> Self {
        Self {
            io,
            parser: StreamParser::new(Limits::default()),
            buf: vec![0; 16384],
        }
    }

    async fn event(&mut self) -> Result<Event, ClientError> {
        loop {
            match self.parser.next_event() {
                Ok(Some(ev)) => return Ok(ev),
                Ok(None) => {}
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            }
            let n = tokio::time::timeout(Duration::from_secs(30), self.io.read(&mut self.buf))
                .await
                .map_err(|_| ClientError::Protocol("timed out waiting for the server".into()))??;
            if n == 0 {
                return Err(ClientError::Protocol(
                    "the server closed the connection".into(),
                ));
            }
            self.parser.feed(&self.buf[..n]);
        }
    }

    async fn element(&mut self) -> Result<Element, ClientError> {
        match self.event().await? {
            Event::Stanza(el) => Ok(el),
            other => Err(ClientError::Protocol(format!(
                "expected an element, got {other:?}"
            ))),
        }
    }

    async fn send(&mut self, el: impl Into<Element>) -> Result<(), ClientError> {
        self.io.write_all(&el.into().to_bytes()).await?;
        self.io.flush().await?;
        Ok(())
    }

    async fn open(&mut self, domain: &str) -> Result<StreamFeatures, ClientError> {
        let header = StreamHeader {
            to: Some(domain.into()),
            version: Some("1.0".into()),
            default_ns: ns::JABBER_CLIENT.into(),
            ..StreamHeader::default()
        };
        self.io.write_all(&header.to_bytes()).await?;
        match self.event().await? {
            Event::StreamHeader(_) => {}
            other => {
                return Err(ClientError::Protocol(format!(
                    "expected a stream header, got {other:?}"
                )));
            }
        }
        let el = self.element().await?;
        if el.is("error", ns::STREAM) {
            return Err(ClientError::Protocol(el.to_string()));
        }
        StreamFeatures::try_from(el).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}

impl Raw<TlsStream<TcpStream>> {
    fn bound(self, jid: Jid) -> BoundStream {
        BoundStream {
            io: self.io,
            parser: self.parser,
            jid,
        }
    }
}

fn nonce() -> String {
    let mut b = [0u8; 18];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// XEP-0077 in-band registration of `login.user` with `login.password` (direct TLS).
/// Returns the server's reply IQ as text on refusal.
pub async fn register(login: &Login) -> Result<(), ClientError> {
    let tcp = TcpStream::connect(login.addr).await?;
    let name = rustls::pki_types::ServerName::try_from(login.domain.clone())
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    let tls = TlsConnector::from(login.tls.clone())
        .connect(name, tcp)
        .await?;
    let mut raw = Raw::new(tls);
    raw.open(&login.domain).await?;
    let query = Element::new("query", "jabber:iq:register")
        .with_child(Element::new("username", "jabber:iq:register").with_text(login.user.as_str()))
        .with_child(
            Element::new("password", "jabber:iq:register").with_text(login.password.as_str()),
        );
    raw.send(Iq::set("reg", query)).await?;
    let reply = raw.element().await?;
    if reply.attr("type") == Some("result") {
        Ok(())
    } else {
        Err(ClientError::Protocol(reply.to_string()))
    }
}

/// A logged-in, bound stream for a caller that drives its own I/O (the bench: one task per
/// connection, reading and writing, with no reader task or channel in between).
pub struct BoundStream {
    /// The TLS stream.
    pub io: TlsStream<TcpStream>,
    /// The stream parser, holding whatever the server sent after the bind answer.
    pub parser: StreamParser,
    /// The bound full JID.
    pub jid: Jid,
}

impl Client {
    /// Connects, authenticates and binds.
    pub async fn connect(login: &Login) -> Result<Client, ClientError> {
        let bound = Self::login(login).await?;
        Ok(Self::start(bound))
    }

    /// Connects, authenticates and binds, and hands over the stream as it is.
    pub async fn login(login: &Login) -> Result<BoundStream, ClientError> {
        let mut tcp = TcpStream::connect(login.addr).await?;
        let _ = tcp.set_nodelay(true);
        if login.starttls {
            let mut raw = Raw::new(tcp);
            let features = raw.open(&login.domain).await?;
            if features.starttls.is_none() {
                return Err(ClientError::Protocol("no STARTTLS offered".into()));
            }
            raw.send(StartTls::Request).await?;
            let el = raw.element().await?;
            if StartTls::try_from(el).ok() != Some(StartTls::Proceed) {
                return Err(ClientError::Protocol("STARTTLS refused".into()));
            }
            tcp = raw.io;
        }
        let name = rustls::pki_types::ServerName::try_from(login.domain.clone())
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let tls = TlsConnector::from(login.tls.clone())
            .connect(name, tcp)
            .await?;
        let mut raw = Raw::new(tls);
        raw.open(&login.domain).await?;
        match login.mech {
            Mech::Plain => {
                let msg = plain_message(None, &login.user, login.password.as_bytes());
                raw.send(Sasl::Auth {
                    mechanism: "PLAIN".into(),
                    initial: Some(msg),
                })
                .await?;
                match Sasl::try_from(raw.element().await?) {
                    Ok(Sasl::Success(_)) => {}
                    other => return Err(ClientError::Auth(format!("{other:?}"))),
                }
            }
            Mech::Scram => {
                let (client, first) =
                    ScramClient::with_nonce(&login.user, login.password.as_bytes(), &nonce());
                raw.send(Sasl::Auth {
                    mechanism: "SCRAM-SHA-256".into(),
                    initial: Some(zeroize::Zeroizing::new(first)),
                })
                .await?;
                let server_first = match Sasl::try_from(raw.element().await?) {
                    Ok(Sasl::Challenge(d)) => d,
                    other => return Err(ClientError::Auth(format!("{other:?}"))),
                };
                let (client, last) = client
                    .handle_server_first(&server_first)
                    .map_err(|e| ClientError::Auth(e.to_string()))?;
                raw.send(Sasl::Response(zeroize::Zeroizing::new(last)))
                    .await?;
                match Sasl::try_from(raw.element().await?) {
                    Ok(Sasl::Success(Some(v))) => client
                        .verify(&v)
                        .map_err(|e| ClientError::Auth(e.to_string()))?,
                    other => return Err(ClientError::Auth(format!("{other:?}"))),
                }
            }
        }
        raw.parser.restart();
        let features = raw.open(&login.domain).await?;
        if !features.bind {
            return Err(ClientError::Protocol("no bind offered".into()));
        }
        if let Some(previd) = &login.resume {
            raw.send(portico_stanza::stanza::Sm::Resume {
                previd: previd.as_str().into(),
                h: 0,
            })
            .await?;
            let reply = raw.element().await?;
            if !reply.is("resumed", ns::SM) {
                return Err(ClientError::Bind(reply.to_string()));
            }
            let jid = Jid::parse(&format!(
                "{}@{}/{}",
                login.user,
                login.domain,
                login.resource.as_deref().unwrap_or_default()
            ))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
            return Ok(raw.bound(jid));
        }
        raw.send(Iq::set(
            "bind",
            Bind::Request(login.resource.as_deref().map(Into::into)).into(),
        ))
        .await?;
        let reply = raw.element().await?;
        let iq = Iq::try_from(reply.clone()).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let jid = match iq.kind {
            IqKind::Result(Some(p)) => match Bind::try_from(p) {
                Ok(Bind::Result(jid)) => jid,
                _ => return Err(ClientError::Bind(reply.to_string())),
            },
            _ => return Err(ClientError::Bind(reply.to_string())),
        };
        Ok(raw.bound(jid))
    }

    /// A client over an established TLS stream, as if `jid` were bound already (for tests of
    /// the client's own I/O).
    pub fn over(tls: TlsStream<TcpStream>, jid: Jid) -> Client {
        Self::start(Raw::new(tls).bound(jid))
    }

    fn start(bound: BoundStream) -> Client {
        let BoundStream {
            io,
            mut parser,
            jid,
        } = bound;
        let (reader, writer) = tokio::io::split(io);
        let (tx, incoming) = mpsc::unbounded_channel();
        // Elements already buffered go first.
        while let Ok(Some(Event::Stanza(el))) = parser.next_event() {
            let _ = tx.send(el);
        }
        tokio::spawn(read_loop(reader, parser, tx));
        Client {
            writer,
            incoming,
            jid,
            out: Vec::with_capacity(4096),
        }
    }

    /// Queues an element; [`flush`](Self::flush) sends.
    pub fn queue(&mut self, el: impl Into<Element>) {
        el.into().write_to(&mut self.out);
    }

    /// Queues raw bytes.
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Sends everything queued, and waits until it is all on the socket.
    ///
    /// Over TLS, `write_all` alone is not enough: when the socket is full, rustls accepts the
    /// rest of the plaintext and keeps its records until the next write or flush. Without
    /// the flush, the last stanzas of a burst could wait there for as long as the client sends
    /// nothing more (the durability test's stall: a device's last messages never acked).
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.writer.write_all(&self.out).await?;
            self.out.clear();
        }
        self.writer.flush().await
    }

    /// Sends one element.
    pub async fn send(&mut self, el: impl Into<Element>) -> std::io::Result<()> {
        self.queue(el);
        self.flush().await
    }

    /// The next element within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Element> {
        tokio::time::timeout(timeout, self.incoming.recv())
            .await
            .ok()
            .flatten()
    }

    /// Sends an IQ and waits for its answer, setting aside anything else that arrives.
    pub async fn iq(&mut self, iq: Iq, timeout: Duration) -> Option<Iq> {
        let id = iq.id.clone();
        self.send(iq).await.ok()?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let el = tokio::time::timeout_at(deadline, self.incoming.recv())
                .await
                .ok()??;
            if el.name() == "iq" && el.attr("id") == Some(id.as_str()) {
                return Iq::try_from(el).ok();
            }
        }
    }

    /// Drops the connection without closing the XMPP stream (as a lost network would).
    pub async fn disconnect(mut self) {
        let _ = self.writer.shutdown().await;
    }

    /// Closes the stream politely.
    pub async fn close(mut self) {
        let _ = self
            .writer
            .write_all(portico_stanza::parser::STREAM_END)
            .await;
        let _ = self.writer.shutdown().await;
    }
}

async fn read_loop(
    mut reader: ReadHalf<TlsStream<TcpStream>>,
    mut parser: StreamParser,
    tx: mpsc::UnboundedSender<Element>,
) {
    let mut buf = vec![0u8; 32768];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        parser.feed(&buf[..n]);
        loop {
            match parser.next_event() {
                Ok(Some(Event::Stanza(el))) => {
                    if tx.send(el).is_err() {
                        return;
                    }
                }
                Ok(Some(Event::StreamEnd)) | Err(_) => return,
                Ok(Some(Event::StreamHeader(_))) => {}
                Ok(None) => break,
            }
        }
    }
}
