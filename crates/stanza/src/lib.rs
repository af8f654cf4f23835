//! Portico's XMPP-based wire protocol, sans-IO: a streaming XML codec with hard limits,
//! typed stanzas and the stream negotiation state machine. Bytes in, events out.
//!
//! - [`parser`]: feed bytes as they arrive, get [`parser::Event`]s (stream header, each
//!   complete top-level [`Element`], stream end). Limits ([`parser::Limits`]) and refused
//!   constructs (DTDs, entity declarations, comments, processing instructions, unknown
//!   entities) are fatal [`parser::ParseError`]s, each mapping to an RFC 6120 stream error.
//! - [`Element`]: the generic tree; `to_bytes`/`write_to` serialize it.
//! - [`stanza`]: typed stanzas and nonzas, `TryFrom<Element>` and `Into<Element>`; unknown
//!   children are kept. [`stanza::Message::to_bytes`] serializes the hot path directly.
//! - [`sasl`]: SCRAM-SHA-256 and PLAIN, both roles; [`sasl::ScramCredentials`] is what a
//!   server stores per account.
//! - [`negotiation`]: the server and client stream negotiation machines (STARTTLS, SASL,
//!   bind, XEP-0198 resume), over TCP streams or WebSocket framing (RFC 7395).
//! - [`Jid`]: Jabber identifiers.
//!
//! Nothing here does I/O, reads a clock or makes its own randomness: callers feed bytes,
//! write the bytes they are handed, and pass a `rand_core` RNG where randomness is needed.
//!
//! Parsing and typing a stanza:
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

//!
//! The server side of negotiation, driven by the caller (here with the client side of this
//! crate as the peer, in memory):
//!
//! ```
//! use portico_stanza::negotiation::*;
//! use portico_stanza::sasl::ScramCredentials;
//! use portico_stanza::Jid;
//! # struct Rng(u64);
//! # impl rand_core::RngCore for Rng {
//! #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
//! #     fn next_u64(&mut self) -> u64 { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1); self.0 }
//! #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = (self.next_u64() >> 56) as u8 } }
//! # }
//! # impl rand_core::CryptoRng for Rng {}
//! # let mut rng = Rng(7); // use a real CSPRNG, e.g. rand::rngs::OsRng
//! let stored = ScramCredentials::derive(b"secret", b"per-account-salt", 4096);
//! let mut server = ServerNegotiator::new(ServerConfig::new("hub.example", Transport::Tls), &mut rng);
//! let jid = Jid::parse("alice@hub.example/1").expect("jid");
//! let mut client = ClientNegotiator::new(ClientConfig::new(jid, b"secret", Transport::Tls), &mut rng);
//! let mut bound = None;
//! for _ in 0..20 {
//!     while let Some(ev) = client.poll_event() {
//!         if let ClientEvent::Send(bytes) = ev { server.feed(&bytes) }
//!     }
//!     while let Some(ev) = server.poll_event() {
//!         match ev {
//!             ServerEvent::Send(bytes) => client.feed(&bytes), // write to the socket
//!             ServerEvent::ScramCredentialsNeeded { username } => {
//!                 // Look the account up; None for an unknown user.
//!                 let found = (username == "alice").then(|| stored.clone());
//!                 server.scram_credentials(found).expect("was asked");
//!             }
//!             ServerEvent::BindRequested { requested } => {
//!                 // Portico: the resource is a device id the account registered.
//!                 server.bind(Ok(requested.as_deref().unwrap_or("1"))).expect("was asked");
//!             }
//!             ServerEvent::Established { jid, .. } => bound = Some(jid),
//!             _ => {}
//!         }
//!     }
//! }
//! assert_eq!(bound.expect("negotiated").to_string(), "alice@hub.example/1");
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
