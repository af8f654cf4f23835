//! Typed stanzas and nonzas, each convertible from and to [`Element`].
//!
//! Conversions consume the element (`TryFrom<Element>`), moving strings out instead of
//! copying them. Elements a type does not know are kept in a `payloads` (or `extra`) list and
//! written back, so nothing is silently dropped. Each type round-trips:
//! `T::try_from(Element::from(x)) == Ok(x)`.

mod disco;
mod e2ee;
mod errors;
mod iq;
pub mod keys;
mod message;
mod negotiation_types;
pub mod policy;
mod presence;
pub mod upload;
pub(crate) mod util;

use crate::Element;

pub use disco::{DiscoInfo, Identity, Ping};
pub use e2ee::{
    Ack, Ciphertext, CiphertextKind, DeviceAddress, DeviceCiphertext, DeviceMismatch, E2ee,
    Interop, Received,
};
pub use errors::{ErrorType, StanzaCondition, StanzaError, StreamError, StreamErrorCondition};
pub use iq::{Iq, IqKind};
pub use message::{Message, MessageType};
pub use negotiation_types::{Bind, Sasl, SaslCondition, SaslData, Sm, StartTls, StreamFeatures};
pub use presence::{Presence, PresenceType, Show};
pub use util::DecodeError;

/// Any top-level element of a client stream, typed where this crate knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopLevel {
    /// `<message/>`.
    Message(Box<Message>),
    /// `<presence/>`.
    Presence(Box<Presence>),
    /// `<iq/>`.
    Iq(Box<Iq>),
    /// A stream management nonza.
    Sm(Sm),
    /// A Portico `<received/>` device ack sent as a nonza.
    Received(Received),
    /// `<stream:error>`.
    StreamError(StreamError),
    /// Anything else, kept as is.
    Other(Element),
}

impl TryFrom<Element> for TopLevel {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        use crate::ns;
        Ok(match (el.ns(), el.name()) {
            (ns::JABBER_CLIENT, "message") => TopLevel::Message(Box::new(el.try_into()?)),
            (ns::JABBER_CLIENT, "presence") => TopLevel::Presence(Box::new(el.try_into()?)),
            (ns::JABBER_CLIENT, "iq") => TopLevel::Iq(Box::new(el.try_into()?)),
            (ns::SM, _) => TopLevel::Sm(el.try_into()?),
            (ns::PORTICO_E2EE, "received") => TopLevel::Received(el.try_into()?),
            (ns::STREAM, "error") => TopLevel::StreamError(el.try_into()?),
            _ => TopLevel::Other(el),
        })
    }
}

impl From<TopLevel> for crate::Element {
    fn from(t: TopLevel) -> crate::Element {
        match t {
            TopLevel::Message(x) => (*x).into(),
            TopLevel::Presence(x) => (*x).into(),
            TopLevel::Iq(x) => (*x).into(),
            TopLevel::Sm(x) => x.into(),
            TopLevel::Received(x) => x.into(),
            TopLevel::StreamError(x) => x.into(),
            TopLevel::Other(x) => x,
        }
    }
}
