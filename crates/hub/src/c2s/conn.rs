//! One client connection's framing: bytes from the socket into the stanza parser, elements
//! out as bytes, with read timeouts. Session code speaks in events and elements only.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use portico_stanza::Element;
use portico_stanza::parser::{Event, Limits, ParseError, StreamParser};
use portico_stanza::stanza::{Message, StreamError, StreamErrorCondition};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Bytes taken from the transport per read call, into a buffer on the stack that exists only
/// during the call: an idle connection holds no read buffer (it waits on a one-byte read).
const READ_CHUNK: usize = 8192;

/// Most bytes moved into the parser per wake-up, so one busy peer cannot buffer without bound.
const READ_BURST: usize = 64 * 1024;

/// Capacity reserved for the output buffer when the first element after a flush is queued
/// (the buffer is released after each flush, so idle connections keep none).
const OUT_RESERVE: usize = 4096;

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
    out: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Frames `io` with the given parser limits.
    pub fn new(io: S, limits: Limits) -> Self {
        Self {
            io,
            parser: StreamParser::new(limits),
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
            match tokio::time::timeout(timeout, self.read_some()).await {
                Err(_) => return Err(ReadEnd::Timeout),
                Ok(r) => r?,
            }
        }
    }

    /// Reads what is available into the parser, waiting for at least one byte.
    pub async fn fill(&mut self) -> Result<(), ReadEnd> {
        self.read_some().await
    }

    /// Waits for input with a one-byte read (so no buffer is held while the peer is quiet),
    /// then moves whatever else is ready into the parser without waiting.
    async fn read_some(&mut self) -> Result<(), ReadEnd> {
        if self.drain_ready()? > 0 {
            return Ok(());
        }
        let mut first = [0u8; 1];
        match self.io.read(&mut first).await {
            Err(_) => return Err(ReadEnd::Io),
            Ok(0) => return Err(ReadEnd::Closed),
            Ok(n) => self.parser.feed(&first[..n]),
        }
        self.drain_ready()?;
        Ok(())
    }

    /// Feeds the parser what the transport can give right now (up to [`READ_BURST`]), through
    /// a buffer on the stack; returns how many bytes. Never waits: a transport that has
    /// nothing returns `Pending`, and the caller's next await registers the task's waker.
    fn drain_ready(&mut self) -> Result<usize, ReadEnd> {
        let mut buf = [0u8; READ_CHUNK];
        let mut cx = Context::from_waker(Waker::noop());
        let mut total = 0;
        while total < READ_BURST {
            let mut rb = ReadBuf::new(&mut buf);
            match Pin::new(&mut self.io).poll_read(&mut cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => break,
                Poll::Ready(Ok(())) => {
                    total += rb.filled().len();
                    self.parser.feed(rb.filled());
                }
                Poll::Ready(Err(_)) if total == 0 => return Err(ReadEnd::Io),
                Poll::Ready(Err(_)) | Poll::Pending => break,
            }
        }
        Ok(total)
    }

    /// The next event already buffered, without reading.
    pub fn buffered_event(&mut self) -> Result<Option<Event>, ReadEnd> {
        self.try_event()
    }

    /// The output buffer, with room reserved if it was released by the last flush.
    fn out(&mut self) -> &mut Vec<u8> {
        if self.out.capacity() == 0 {
            self.out.reserve(OUT_RESERVE);
        }
        &mut self.out
    }

    /// Queues an element for sending.
    pub fn queue(&mut self, el: impl Into<Element>) {
        el.into().write_to(self.out());
    }

    /// Queues a message, serialized without building an element tree (the routing hot path).
    pub fn queue_message(&mut self, m: &Message) {
        m.write_to(self.out());
    }

    /// Queues raw bytes (stream headers).
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            // Released, not kept: an idle connection holds no output buffer.
            self.out = Vec::new();
        }
        self.io.flush().await
    }

    /// Sends one element now.
    pub async fn send(&mut self, el: impl Into<Element>) -> std::io::Result<()> {
        self.queue(el);
        self.flush().await
    }

    /// Sends a stream error and the closing tag, then shuts the transport down.
    ///
    /// The closing functions return boxed futures: closing happens once per connection, and
    /// an unboxed closing future would be part of every session task's size for its lifetime.
    pub fn close_with(
        &mut self,
        condition: StreamErrorCondition,
        text: &str,
    ) -> Pin<Box<impl Future<Output = ()> + '_>> {
        let bytes = StreamError::new(condition, text).to_closing_bytes();
        self.close_owned(bytes)
    }

    /// Sends the stream error a parse error maps to, and closes.
    pub fn close_parse_error(&mut self, e: &ParseError) -> Pin<Box<impl Future<Output = ()> + '_>> {
        let bytes = e.to_stream_error().to_closing_bytes();
        self.close_owned(bytes)
    }

    /// Sends `bytes` (a closing stream error or tag) and shuts the transport down.
    pub fn close_raw(&mut self, bytes: &[u8]) -> Pin<Box<impl Future<Output = ()> + '_>> {
        self.close_owned(bytes.to_vec())
    }

    fn close_owned(&mut self, bytes: Vec<u8>) -> Pin<Box<impl Future<Output = ()> + '_>> {
        self.out.extend_from_slice(&bytes);
        Box::pin(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                let _ = self.flush().await;
                let _ = self.io.shutdown().await;
            })
            .await;
        })
    }
}
