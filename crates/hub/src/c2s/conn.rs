//! One client connection's framing: bytes from the socket into the stanza parser, elements
//! out as bytes, with read timeouts. Session code speaks in events and elements only.

use std::time::Duration;

use portico_stanza::Element;
use portico_stanza::parser::{Event, Limits, ParseError, StreamParser};
use portico_stanza::stanza::{Message, StreamError, StreamErrorCondition};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes read from the transport at a time. Small, because every idle connection keeps one;
/// TLS records larger than this are simply read in several steps.
const READ_CHUNK: usize = 2048;

/// Why reading from the connection stopped.
#[derive(Debug)]
pub enum ReadEnd {
    /// The peer closed the stream or the socket.
    Closed,
    /// A socket error.
    Io,
    /// The peer sent something the parser refuses (fatal; answer with its stream error).
    Parse(ParseError),
    /// Nothing arrived in time.
    Timeout,
}

/// A framed client stream.
pub struct Conn<S> {
    io: S,
    parser: StreamParser,
    read_buf: Box<[u8]>,
    out: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Frames `io` with the given parser limits.
    pub fn new(io: S, limits: Limits) -> Self {
        Self {
            io,
            parser: StreamParser::new(limits),
            read_buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
            out: Vec::new(),
        }
    }

    /// Takes back the transport (for STARTTLS).
    pub fn into_inner(self) -> S {
        self.io
    }

    /// Expects a new stream header, keeping what is buffered (after SASL success).
    pub fn restart(&mut self) {
        self.parser.restart();
    }

    /// Whether a complete event may be waiting without reading more bytes.
    fn try_event(&mut self) -> Result<Option<Event>, ReadEnd> {
        self.parser.next_event().map_err(ReadEnd::Parse)
    }

    /// The next event, reading as needed, or `ReadEnd::Timeout` after `timeout` of silence.
    pub async fn next_event(&mut self, timeout: Duration) -> Result<Event, ReadEnd> {
        loop {
            if let Some(ev) = self.try_event()? {
                return Ok(ev);
            }
            let n = match tokio::time::timeout(timeout, self.io.read(&mut self.read_buf)).await {
                Err(_) => return Err(ReadEnd::Timeout),
                Ok(Err(_)) => return Err(ReadEnd::Io),
                Ok(Ok(0)) => return Err(ReadEnd::Closed),
                Ok(Ok(n)) => n,
            };
            self.parser.feed(&self.read_buf[..n]);
        }
    }

    /// Reads what is available into the parser; returns false at end of input.
    pub async fn fill(&mut self) -> Result<(), ReadEnd> {
        match self.io.read(&mut self.read_buf).await {
            Err(_) => Err(ReadEnd::Io),
            Ok(0) => Err(ReadEnd::Closed),
            Ok(n) => {
                self.parser.feed(&self.read_buf[..n]);
                Ok(())
            }
        }
    }

    /// The next event already buffered, without reading.
    pub fn buffered_event(&mut self) -> Result<Option<Event>, ReadEnd> {
        self.try_event()
    }

    /// Queues an element for sending.
    pub fn queue(&mut self, el: impl Into<Element>) {
        el.into().write_to(&mut self.out);
    }

    /// Queues a message, serialized without building an element tree (the routing hot path).
    pub fn queue_message(&mut self, m: &Message) {
        m.write_to(&mut self.out);
    }

    /// Queues raw bytes (stream headers).
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            self.out.clear();
            // Do not let one burst pin a large buffer on an idle connection.
            if self.out.capacity() > 64 * 1024 {
                self.out = Vec::new();
            }
        }
        self.io.flush().await
    }

    /// Sends one element now.
    pub async fn send(&mut self, el: impl Into<Element>) -> std::io::Result<()> {
        self.queue(el);
        self.flush().await
    }

    /// Sends a stream error and the closing tag, then shuts the transport down.
    pub async fn close_with(&mut self, condition: StreamErrorCondition, text: &str) {
        let bytes = StreamError::new(condition, text).to_closing_bytes();
        self.close_raw(&bytes).await;
    }

    /// Sends the stream error a parse error maps to, and closes.
    pub async fn close_parse_error(&mut self, e: &ParseError) {
        let bytes = e.to_stream_error().to_closing_bytes();
        self.close_raw(&bytes).await;
    }

    /// Sends `bytes` (a closing stream error or tag) and shuts the transport down.
    pub async fn close_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = self.flush().await;
            let _ = self.io.shutdown().await;
        })
        .await;
    }
}
