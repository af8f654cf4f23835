//! Typed stanzas and nonzas, each convertible from and to [`Element`].
//!
//! Conversions consume the element (`TryFrom<Element>`), moving strings out instead of
//! copying them. Elements a type does not know are kept in a `payloads` (or `extra`) list and
//! written back, so nothing is silently dropped. Each type round-trips:
//! `T::try_from(Element::from(x)) == Ok(x)`.

mod e2ee;
mod errors;
mod message;
pub(crate) mod util;

pub use e2ee::{
    Ack, Ciphertext, CiphertextKind, DeviceAddress, DeviceCiphertext, DeviceMismatch, E2ee,
    Interop, Received,
};
pub use errors::{ErrorType, StanzaCondition, StanzaError, StreamError, StreamErrorCondition};
pub use message::{Message, MessageType};
pub use util::DecodeError;
