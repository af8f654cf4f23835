//! The streaming XMPP parser: feed byte chunks as they arrive, take events as they complete.
//!
//! ```
//! use portico_stanza::parser::{StreamParser, Event, Limits};
//! let mut p = StreamParser::new(Limits::default());
//! p.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'><mess");
//! assert!(matches!(p.next_event(), Ok(Some(Event::StreamHeader(h))) if h.to.as_deref() == Some("example.org")));
//! assert!(matches!(p.next_event(), Ok(None))); // the stanza is not complete yet
//! p.feed(b"age to='a@example.org'><body>hi</body></message>");
//! let Ok(Some(Event::Stanza(el))) = p.next_event() else { panic!() };
//! assert_eq!(el.name(), "message");
//! ```
//!
//! Errors are fatal: after one, send [`ParseError::to_stream_error`] and close the stream.

mod error;
mod framer;
mod tree;

pub use error::ParseError;

use crate::element::Element;
use compact_str::CompactString;
use framer::{Framer, Unit};
use tree::NsContext;

/// Hard input limits. Every breach is a [`ParseError`] naming the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest top-level stanza (and stream header), in bytes. Default 256 KiB.
    pub max_stanza_bytes: usize,
    /// Deepest element nesting inside one stanza (the stanza itself is depth 1). Default 32.
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one element. Default 64.
    pub max_attributes: usize,
    /// Longest attribute value, in bytes. Default 64 KiB.
    pub max_attribute_bytes: usize,
    /// Longest run of character data in one element, in bytes. Default 128 KiB.
    pub max_text_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stanza_bytes: 256 * 1024,
            max_depth: 32,
            max_attributes: 64,
            max_attribute_bytes: 64 * 1024,
            max_text_bytes: 128 * 1024,
        }
    }
}

/// The attributes of a received `<stream:stream>` header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamHeader {
    /// `to`: the domain the initiator wants.
    pub to: Option<CompactString>,
    /// `from`: the sender's JID or domain.
    pub from: Option<CompactString>,
    /// `id`: the stream id (set by the receiving entity).
    pub id: Option<CompactString>,
    /// `version`, `"1.0"` for RFC 6120 streams.
    pub version: Option<CompactString>,
    /// `xml:lang`.
    pub lang: Option<CompactString>,
    /// The default namespace of stanzas (`jabber:client` for c2s).
    pub default_ns: CompactString,
}

impl StreamHeader {
    /// Serializes a stream header (preceded by the XML declaration).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(200);
        out.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='");
        crate::element::escape_attribute(&self.default_ns, &mut out);
        out.extend_from_slice(b"' xmlns:stream='http://etherx.jabber.org/streams'");
        for (name, value) in [
            ("to", &self.to),
            ("from", &self.from),
            ("id", &self.id),
            ("version", &self.version),
            ("xml:lang", &self.lang),
        ] {
            if let Some(v) = value {
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"='");
                crate::element::escape_attribute(v, &mut out);
                out.push(b'\'');
            }
        }
        out.push(b'>');
        out
    }
}

impl StreamHeader {
    /// Serializes as a WebSocket `<open/>` (RFC 7395 §3.3.1).
    pub fn to_open_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'");
        for (name, value) in [
            ("to", &self.to),
            ("from", &self.from),
            ("id", &self.id),
            ("version", &self.version),
            ("xml:lang", &self.lang),
        ] {
            if let Some(v) = value {
                crate::element::write_attr(&mut out, name, v);
            }
        }
        out.extend_from_slice(b"/>");
        out
    }
}

/// The WebSocket `<close/>` (RFC 7395 §3.3.3).
pub const FRAMED_CLOSE: &[u8] = b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>";

/// The closing tag of a stream.
pub const STREAM_END: &[u8] = b"</stream:stream>";

/// One thing the parser found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer opened (or re-opened) the stream.
    StreamHeader(StreamHeader),
    /// One complete top-level element (stanza or nonza).
    Stanza(Element),
    /// The peer closed the stream with `</stream:stream>`.
    StreamEnd,
}

/// An incremental, sans-IO parser for one XMPP stream.
#[derive(Debug, Clone)]
pub struct StreamParser {
    limits: Limits,
    buf: Vec<u8>,
    framer: Framer,
    ctx: NsContext,
    failed: Option<ParseError>,
    /// WebSocket framing (RFC 7395) instead of one `<stream:stream>` document.
    framed: bool,
    /// Framed mode: `<open/>` seen / `<close/>` seen.
    opened: bool,
    closed: bool,
}

impl StreamParser {
    /// A parser awaiting a stream header.
    pub fn new(limits: Limits) -> Self {
        StreamParser {
            limits,
            buf: Vec::new(),
            framer: Framer::new(),
            ctx: NsContext::client(),
            failed: None,
            framed: false,
            opened: false,
            closed: false,
        }
    }

    /// A parser for XMPP over WebSocket (RFC 7395): each top-level element is complete on
    /// its own and declares its namespace; `<open/>` gives [`Event::StreamHeader`] and
    /// `<close/>` gives [`Event::StreamEnd`]. Feed each WebSocket message's payload.
    pub fn new_framed(limits: Limits) -> Self {
        StreamParser {
            framer: Framer::new_framed(),
            ctx: NsContext::empty(),
            framed: true,
            ..StreamParser::new(limits)
        }
    }

    /// True for a WebSocket-framed parser.
    pub fn is_framed(&self) -> bool {
        self.framed
    }

    fn fresh_framer(&self) -> Framer {
        if self.framed {
            Framer::new_framed()
        } else {
            Framer::new()
        }
    }

    fn fresh_ctx(&self) -> NsContext {
        if self.framed {
            NsContext::empty()
        } else {
            NsContext::client()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Appends received bytes. Call [`next_event`](Self::next_event) until it returns `None`.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    fn compact(&mut self) {
        if self.framer.at_boundary() {
            let n = self.framer.consumed();
            if n > 0 {
                self.buf.drain(..n);
                self.framer.shift(n);
            }
        }
    }

    /// Bytes received but not yet consumed by an event.
    pub fn buffered(&self) -> usize {
        self.buf.len()
            - if self.framer.at_boundary() {
                self.framer.consumed()
            } else {
                0
            }
    }

    /// Expects a new stream header, keeping bytes already received (RFC 6120 stream restart
    /// after SASL success, where the peer may send the new header right away).
    pub fn restart(&mut self) {
        self.compact();
        self.framer = self.fresh_framer();
        self.ctx = self.fresh_ctx();
        self.opened = false;
        self.closed = false;
    }

    /// Expects a new stream header and drops all buffered bytes (use after STARTTLS: bytes
    /// that arrived in plaintext before the TLS handshake must not be processed).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.framer = self.fresh_framer();
        self.ctx = self.fresh_ctx();
        self.failed = None;
        self.opened = false;
        self.closed = false;
    }

    /// True once the peer closed the stream.
    pub fn is_ended(&self) -> bool {
        self.framer.ended() || self.closed
    }

    /// Call when the transport reached end of input: `Err(UnclosedStream)` unless the stream
    /// was closed (or never opened and nothing is buffered).
    pub fn finish(&self) -> Result<(), ParseError> {
        if self.framed {
            let idle = self.buffered() == 0 && self.framer.at_boundary();
            return if self.closed || (!self.opened && idle) {
                Ok(())
            } else {
                Err(ParseError::UnclosedStream)
            };
        }
        if self.framer.ended()
            || (self.buffered() == 0 && self.framer.at_boundary() && !self.framer.in_stream())
        {
            Ok(())
        } else {
            Err(ParseError::UnclosedStream)
        }
    }

    /// The next complete event, `Ok(None)` if more bytes are needed. After an error every
    /// further call returns the same error.
    pub fn next_event(&mut self) -> Result<Option<Event>, ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.step() {
            Ok(ev) => Ok(ev),
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    fn step(&mut self) -> Result<Option<Event>, ParseError> {
        if self.closed {
            return Ok(None);
        }
        let Some(unit) = self.framer.next(&self.buf, &self.limits)? else {
            return Ok(None);
        };
        match unit {
            Unit::Header(range) => {
                let (el, ctx) = tree::parse_header(&self.buf[range], &self.limits)?;
                let header = header_from(&el, ctx.default_ns.clone());
                self.ctx = ctx;
                Ok(Some(Event::StreamHeader(header)))
            }
            Unit::Stanza(range) => {
                if range.len() > self.limits.max_stanza_bytes {
                    return Err(ParseError::StanzaTooLarge {
                        limit: self.limits.max_stanza_bytes,
                    });
                }
                let el = tree::parse_element(&self.buf[range], &self.ctx, &self.limits)?;
                if self.framed && el.ns() == crate::ns::FRAMING {
                    match el.name() {
                        "open" => {
                            self.opened = true;
                            return Ok(Some(Event::StreamHeader(header_from(
                                &el,
                                crate::ns::JABBER_CLIENT.into(),
                            ))));
                        }
                        "close" => {
                            self.closed = true;
                            return Ok(Some(Event::StreamEnd));
                        }
                        _ => {}
                    }
                }
                Ok(Some(Event::Stanza(el)))
            }
            Unit::End => Ok(Some(Event::StreamEnd)),
        }
    }
}

fn header_from(el: &Element, default_ns: CompactString) -> StreamHeader {
    StreamHeader {
        to: el.attr("to").map(CompactString::from),
        from: el.attr("from").map(CompactString::from),
        id: el.attr("id").map(CompactString::from),
        version: el.attr("version").map(CompactString::from),
        lang: el.attr("xml:lang").map(CompactString::from),
        default_ns,
    }
}

/// Parses one standalone element in a `jabber:client` context (the `stream:` prefix bound).
pub fn parse_fragment(bytes: &[u8], limits: &Limits) -> Result<Element, ParseError> {
    if bytes.len() > limits.max_stanza_bytes {
        return Err(ParseError::StanzaTooLarge {
            limit: limits.max_stanza_bytes,
        });
    }
    tree::parse_element(bytes, &NsContext::client(), limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0' xml:lang='en'>";

    fn events(p: &mut StreamParser) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(e) = p.next_event().expect("valid") {
            out.push(e);
        }
        out
    }

    #[test]
    fn header_stanzas_end_byte_by_byte() {
        let mut all = HEADER.to_vec();
        all.extend_from_slice(b" <presence/>\n<message to='a@b'><body>x</body></message>");
        all.extend_from_slice(STREAM_END);
        let mut p = StreamParser::new(Limits::default());
        let mut got = Vec::new();
        for b in &all {
            p.feed(std::slice::from_ref(b));
            got.extend(events(&mut p));
        }
        assert_eq!(got.len(), 4);
        let Event::StreamHeader(h) = &got[0] else {
            panic!("{:?}", got[0])
        };
        assert_eq!(h.lang.as_deref(), Some("en"));
        assert_eq!(h.default_ns, "jabber:client");
        assert_eq!(got[3], Event::StreamEnd);
        assert!(p.finish().is_ok());
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn header_round_trips() {
        let h = StreamHeader {
            to: Some("a'b".into()),
            id: Some("1".into()),
            version: Some("1.0".into()),
            default_ns: "jabber:client".into(),
            ..Default::default()
        };
        let mut p = StreamParser::new(Limits::default());
        p.feed(&h.to_bytes());
        assert_eq!(p.next_event(), Ok(Some(Event::StreamHeader(h))));
    }

    #[test]
    fn restart_keeps_pipelined_bytes_reset_drops_them() {
        let mut p = StreamParser::new(Limits::default());
        p.feed(HEADER);
        assert!(matches!(p.next_event(), Ok(Some(Event::StreamHeader(_)))));
        p.feed(HEADER);
        p.restart();
        assert!(matches!(p.next_event(), Ok(Some(Event::StreamHeader(_)))));
        p.feed(b"<starttls/>");
        p.reset();
        assert_eq!(p.next_event(), Ok(None));
    }

    #[test]
    fn websocket_framing() {
        let mut p = StreamParser::new_framed(Limits::default());
        let open = StreamHeader {
            to: Some("hub.example".into()),
            version: Some("1.0".into()),
            default_ns: "jabber:client".into(),
            ..Default::default()
        };
        p.feed(&open.to_open_bytes());
        assert_eq!(p.next_event(), Ok(Some(Event::StreamHeader(open))));
        p.feed(b"<message xmlns='jabber:client'><body>x</body></message>");
        let Ok(Some(Event::Stanza(el))) = p.next_event() else {
            panic!("stanza")
        };
        assert!(el.is("message", crate::ns::JABBER_CLIENT));
        let mut out = Vec::new();
        Element::new("features", crate::ns::STREAM).write_in("", &mut out);
        p.feed(&out);
        let Ok(Some(Event::Stanza(el))) = p.next_event() else {
            panic!("features")
        };
        assert!(el.is("features", crate::ns::STREAM));
        assert_eq!(p.finish(), Err(ParseError::UnclosedStream));
        p.feed(FRAMED_CLOSE);
        assert_eq!(p.next_event(), Ok(Some(Event::StreamEnd)));
        assert_eq!(p.finish(), Ok(()));
        // Prefixes are not pre-bound: each frame declares what it uses.
        let mut p = StreamParser::new_framed(Limits::default());
        p.feed(b"<stream:features/>");
        assert!(matches!(
            p.next_event(),
            Err(ParseError::UnboundPrefix { .. })
        ));
    }

    #[test]
    fn unclosed_stream_is_reported() {
        let mut p = StreamParser::new(Limits::default());
        p.feed(HEADER);
        p.feed(b"<message>");
        let _ = events(&mut p);
        assert_eq!(p.finish(), Err(ParseError::UnclosedStream));
    }
}
