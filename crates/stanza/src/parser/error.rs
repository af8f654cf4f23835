//! What can go wrong while reading an XMPP stream, and the stream error each breach ends in.

use crate::stanza::{StreamError, StreamErrorCondition};

/// A fatal error reading an XMPP stream. Every variant maps to an RFC 6120 stream error
/// condition via [`ParseError::condition`]; the message names the limit or rule broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A stanza (or the stream header) grew past `Limits::max_stanza_bytes`.
    #[error(
        "stanza exceeds the size limit of {limit} bytes (max_stanza_bytes); send smaller stanzas"
    )]
    StanzaTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// Elements nested deeper than `Limits::max_depth` inside one stanza.
    #[error("element nesting exceeds the depth limit of {limit} (max_depth)")]
    TooDeep {
        /// The limit in force.
        limit: usize,
    },
    /// An element carries more than `Limits::max_attributes` attributes.
    #[error("element has more than {limit} attributes (max_attributes)")]
    TooManyAttributes {
        /// The limit in force.
        limit: usize,
    },
    /// An attribute value is longer than `Limits::max_attribute_bytes`.
    #[error("attribute value exceeds the length limit of {limit} bytes (max_attribute_bytes)")]
    AttributeTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A run of character data is longer than `Limits::max_text_bytes`.
    #[error("text exceeds the length limit of {limit} bytes (max_text_bytes)")]
    TextTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A `<!DOCTYPE>` or other DTD markup was sent.
    #[error("DTDs and DOCTYPE declarations are not allowed in XMPP (RFC 6120 §11.1)")]
    DoctypeRefused,
    /// An `<!ENTITY>` declaration was sent.
    #[error("entity declarations are not allowed in XMPP (RFC 6120 §11.1)")]
    EntityDeclarationRefused,
    /// A processing instruction (other than the leading XML declaration) was sent.
    #[error("processing instructions are not allowed in XMPP (RFC 6120 §11.1)")]
    ProcessingInstructionRefused,
    /// An XML comment was sent.
    #[error("comments are not allowed in XMPP (RFC 6120 §11.1)")]
    CommentRefused,
    /// An entity reference other than the five predefined ones and character references.
    #[error(
        "unknown entity reference &{name}; (only &lt; &gt; &amp; &apos; &quot; and character references are allowed)"
    )]
    UnknownEntity {
        /// The entity name as sent (truncated to 64 bytes).
        name: String,
    },
    /// A character reference to a character XML does not allow.
    #[error("character reference &{reference}; names a character XML does not allow")]
    InvalidCharacterReference {
        /// The reference as sent (truncated to 64 bytes).
        reference: String,
    },
    /// An element or attribute uses a prefix that no `xmlns:` declaration binds.
    #[error("namespace prefix '{prefix}' is not bound")]
    UnboundPrefix {
        /// The prefix (truncated to 64 bytes).
        prefix: String,
    },
    /// A declaration rebinds `xml`, `xmlns` or `stream` to another namespace.
    #[error("namespace prefix '{prefix}' is reserved and cannot be bound to another namespace")]
    ReservedPrefix {
        /// The prefix.
        prefix: String,
    },
    /// The stream header is not `<stream:stream>` in the stream namespace.
    #[error("the stream header must be <stream> in namespace http://etherx.jabber.org/streams")]
    InvalidStreamNamespace,
    /// Non-whitespace text at stream level (between stanzas or before the header).
    #[error("only whitespace may appear between stanzas")]
    TextAtStreamLevel,
    /// The input is not valid UTF-8.
    #[error("input is not valid UTF-8 (XMPP streams are UTF-8 only)")]
    InvalidUtf8,
    /// The XML is not well-formed.
    #[error("XML is not well-formed: {detail}")]
    NotWellFormed {
        /// What the XML reader found (no input content is quoted).
        detail: String,
    },
    /// The input ended while the stream (or a stanza) was still open.
    #[error("the stream ended without </stream:stream>")]
    UnclosedStream,
}

impl ParseError {
    /// The RFC 6120 stream error condition this error ends the stream with.
    pub fn condition(&self) -> StreamErrorCondition {
        use ParseError::*;
        match self {
            StanzaTooLarge { .. }
            | TooDeep { .. }
            | TooManyAttributes { .. }
            | AttributeTooLong { .. }
            | TextTooLong { .. } => StreamErrorCondition::PolicyViolation,
            DoctypeRefused
            | EntityDeclarationRefused
            | ProcessingInstructionRefused
            | CommentRefused
            | UnknownEntity { .. } => StreamErrorCondition::RestrictedXml,
            UnboundPrefix { .. } | ReservedPrefix { .. } => {
                StreamErrorCondition::BadNamespacePrefix
            }
            InvalidStreamNamespace => StreamErrorCondition::InvalidNamespace,
            TextAtStreamLevel => StreamErrorCondition::BadFormat,
            InvalidUtf8
            | NotWellFormed { .. }
            | UnclosedStream
            | InvalidCharacterReference { .. } => StreamErrorCondition::NotWellFormed,
        }
    }

    /// The `<stream:error>` to send before closing the stream.
    pub fn to_stream_error(&self) -> StreamError {
        StreamError {
            condition: self.condition(),
            text: Some(self.to_string().into()),
            app: None,
        }
    }

    pub(crate) fn not_well_formed(detail: impl std::fmt::Display) -> Self {
        ParseError::NotWellFormed {
            detail: detail.to_string(),
        }
    }
}

pub(crate) fn truncated(bytes: &[u8]) -> String {
    let end = bytes.len().min(64);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}
