//! Portico's XMPP-based wire protocol, sans-IO: a streaming XML codec with hard limits,
//! typed stanzas and the stream negotiation state machine. Bytes in, events out.
//!
//! - [`parser`]: feed bytes as they arrive, get [`parser::Event`]s (stream header, each
//!   complete top-level [`Element`], stream end). Limits ([`parser::Limits`]) and refused
//!   constructs (DTDs, entity declarations, comments, processing instructions, unknown
//!   entities) are fatal [`parser::ParseError`]s, each mapping to an RFC 6120 stream error.
//! - [`Element`]: the generic tree; `to_bytes`/`write_to` serialize it.
//! - [`stanza`]: typed stanzas and nonzas, `TryFrom<Element>` and `Into<Element>`.
//! - [`Jid`]: Jabber identifiers.
//!
//! ```
//! use portico_stanza::parser::{Event, Limits, StreamParser};
//! use portico_stanza::stanza::Message;
//! use portico_stanza::Element;
//!
//! let mut parser = StreamParser::new(Limits::default());
//! parser.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='hub.example' version='1.0'>");
//! parser.feed(b"<message to='bob@hub.example' id='m1' type='chat'><e2ee xmlns='urn:portico:e2ee:1'>");
//! parser.feed(b"<to device='1' type='msg'>AAEC</to></e2ee></message>");
//! let mut messages = Vec::new();
//! while let Some(event) = parser.next_event().expect("valid stream") {
//!     if let Event::Stanza(el) = event {
//!         messages.push(Message::try_from(el).expect("a message"));
//!     }
//! }
//! let e2ee = messages[0].e2ee.as_ref().expect("encrypted payload");
//! assert_eq!(e2ee.to[0].device, 1);
//! // Serialize back; parsing the bytes gives the same typed message.
//! let bytes = Element::from(messages[0].clone()).to_bytes();
//! assert_eq!(Message::try_from(Element::from_bytes(&bytes).expect("parses")), Ok(messages[0].clone()));
//! ```

pub mod element;
pub mod jid;
pub mod negotiation;
pub mod ns;
pub mod parser;
pub mod sasl;
pub mod stanza;

pub use compact_str::CompactString;
pub use element::{Element, Node};
pub use jid::{Jid, JidError};
