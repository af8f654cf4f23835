//! Helpers shared by the typed conversions, and the error they return.

use crate::element::Element;
use crate::jid::{Jid, JidError};
use base64::Engine as _;
use compact_str::CompactString;

/// Why an element is not the typed stanza it was converted to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The element has another name or namespace than the type expects.
    #[error("expected <{expected}> in namespace '{expected_ns}', found <{found}> in '{found_ns}'")]
    UnexpectedElement {
        /// The expected local name.
        expected: &'static str,
        /// The expected namespace.
        expected_ns: &'static str,
        /// The local name found (truncated).
        found: String,
        /// The namespace found (truncated).
        found_ns: String,
    },
    /// A required attribute is absent.
    #[error("<{element}> lacks the required attribute '{attribute}'")]
    MissingAttribute {
        /// The element's local name.
        element: &'static str,
        /// The attribute's name.
        attribute: &'static str,
    },
    /// An attribute's value is not one the type accepts.
    #[error("<{element}> attribute '{attribute}' has an invalid value")]
    InvalidAttribute {
        /// The element's local name.
        element: &'static str,
        /// The attribute's name.
        attribute: &'static str,
    },
    /// A required child element is absent.
    #[error("<{element}> lacks the required child <{child}>")]
    MissingChild {
        /// The element's local name.
        element: &'static str,
        /// The child's local name.
        child: &'static str,
    },
    /// The content breaks a rule of the element's specification.
    #[error("<{element}> is invalid: {reason}")]
    InvalidContent {
        /// The element's local name.
        element: &'static str,
        /// The rule broken.
        reason: &'static str,
    },
    /// Text that must be base64 is not.
    #[error("<{element}> content is not valid base64")]
    InvalidBase64 {
        /// The element's local name.
        element: &'static str,
    },
    /// An attribute that must hold a JID does not.
    #[error("<{element}> attribute '{attribute}' is not a valid JID: {source}")]
    InvalidJid {
        /// The element's local name.
        element: &'static str,
        /// The attribute's name.
        attribute: &'static str,
        /// What is wrong with it.
        source: JidError,
    },
    /// A key upload carries more one-time prekeys than allowed.
    #[error(
        "too many one-time {kind} prekeys in one upload: {found}, the limit is {limit} (max_prekeys_per_upload); upload in batches"
    )]
    TooManyPrekeys {
        /// `ec` or `kyber`.
        kind: &'static str,
        /// The limit in force.
        limit: usize,
        /// How many were sent.
        found: usize,
    },
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Checks the element's name and namespace.
pub(crate) fn expect(
    el: &Element,
    name: &'static str,
    ns: &'static str,
) -> Result<(), DecodeError> {
    if el.is(name, ns) {
        Ok(())
    } else {
        Err(DecodeError::UnexpectedElement {
            expected: name,
            expected_ns: ns,
            found: cut(el.name()),
            found_ns: cut(el.ns()),
        })
    }
}

/// The error for an element that is none of the ones a type accepts.
pub(crate) fn unexpected(
    el: &Element,
    expected: &'static str,
    expected_ns: &'static str,
) -> DecodeError {
    DecodeError::UnexpectedElement {
        expected,
        expected_ns,
        found: cut(el.name()),
        found_ns: cut(el.ns()),
    }
}

/// Takes a required attribute.
pub(crate) fn req_attr(
    el: &mut Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<CompactString, DecodeError> {
    el.take_attr(attribute)
        .ok_or(DecodeError::MissingAttribute { element, attribute })
}

/// Parses an optional attribute with `FromStr`.
pub(crate) fn parse_attr<T: std::str::FromStr>(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<Option<T>, DecodeError> {
    match el.attr(attribute) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| DecodeError::InvalidAttribute { element, attribute }),
    }
}

/// Parses a required attribute with `FromStr`.
pub(crate) fn parse_req<T: std::str::FromStr>(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<T, DecodeError> {
    parse_attr(el, element, attribute)?.ok_or(DecodeError::MissingAttribute { element, attribute })
}

/// Parses an optional JID attribute.
pub(crate) fn jid_attr(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<Option<Jid>, DecodeError> {
    match el.attr(attribute) {
        None => Ok(None),
        Some(v) => Jid::parse(v)
            .map(Some)
            .map_err(|source| DecodeError::InvalidJid {
                element,
                attribute,
                source,
            }),
    }
}

/// Decodes standard base64 (padding required).
pub(crate) fn b64_decode(text: &str, element: &'static str) -> Result<Vec<u8>, DecodeError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| DecodeError::InvalidBase64 { element })
}

/// Encodes standard base64 with padding.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Defines a closed set of wire names as an enum with `as_str`/`from_name`.
macro_rules! wire_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident => $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant,)* }
        impl $name {
            /// Every value, in specification order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s,)* }
            }
            /// Parses the name on the wire.
            pub fn from_name(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)* _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_enum;
