//! The plaintext that travels inside end-to-end encryption (`content.proto`): text,
//! attachments, reactions, receipts, edits, deletes, typing, group and call signalling,
//! and the padding that hides its length.
//!
//! Sans-IO and pure: [`encode`] validates a [`Content`], serializes it as protobuf and pads
//! it, ready for Signal encryption; [`decode`] reverses that on the receiving side and
//! refuses, with a specific [`ContentError`], anything malformed or over a [`Limits`] bound.
//!
//! ```
//! use portico_content::{decode, encode, Body, Content, Limits, Text};
//!
//! let limits = Limits::default();
//! let hello = Content {
//!     body: Some(Body::Text(Text { body: "hello".into(), reply_to: None })),
//!     sent_at_ms: 1_700_000_000_000,
//!     group: None,
//! };
//! let plaintext = encode(&hello, &limits)?;
//! assert_eq!(plaintext.len() % portico_content::PADDING_BLOCK, 0);
//! assert_eq!(decode(&plaintext, &limits)?, hello);
//! # Ok::<(), portico_content::ContentError>(())
//! ```

mod padding;
mod schema;
mod validate;

use prost::Message as _;
use zeroize::Zeroizing;

pub use padding::{PADDING_BLOCK, pad, unpad};
pub use schema::{
    Attachment, Body, CallSignal, Content, Delete, Edit, GroupContext, GroupUpdate, Quote,
    Reaction, Receipt, ReceiptKind, Text, Typing,
};

/// Bounds on content; each has a default and is checked on both encode and decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest serialized content, before padding (default 128 KiB).
    pub max_content_bytes: usize,
    /// Longest text body, edit or caption in bytes (default 64 KiB).
    pub max_text_bytes: usize,
    /// Most message ids in one receipt (default 100).
    pub max_receipt_ids: usize,
    /// Largest attachment thumbnail in bytes (default 64 KiB).
    pub max_thumbnail_bytes: usize,
    /// Longest reaction emoji in bytes (default 64).
    pub max_emoji_bytes: usize,
    /// Longest message id, URL, name or MIME type in bytes (default 2 KiB).
    pub max_reference_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_content_bytes: 128 * 1024,
            max_text_bytes: 64 * 1024,
            max_receipt_ids: 100,
            max_thumbnail_bytes: 64 * 1024,
            max_emoji_bytes: 64,
            max_reference_bytes: 2048,
        }
    }
}

/// Why content was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The decrypted plaintext does not end in Portico padding.
    #[error("plaintext has no 0x80 padding marker: the sender is not a conforming Portico client")]
    MissingPaddingMarker,
    /// The serialized content is over [`Limits::max_content_bytes`].
    #[error(
        "content is {size} bytes, over the {limit}-byte limit (max_content_bytes); send large data as an attachment"
    )]
    TooLarge {
        /// Serialized size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a valid `Content` protobuf.
    #[error("content is not valid protobuf: {0}")]
    Malformed(#[from] prost::DecodeError),
    /// No body this version knows is set.
    #[error("content carries no body this version understands; update Portico to read it")]
    UnknownBody,
    /// A string or byte field is longer than its limit.
    #[error("{field} is {len} bytes, over the {limit}-byte limit ({knob})")]
    FieldTooLong {
        /// The protobuf field, e.g. `Text.body`.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
        /// The [`Limits`] knob that sets it.
        knob: &'static str,
    },
    /// A receipt lists too many message ids.
    #[error(
        "receipt lists {count} message ids, over the limit of {limit} (max_receipt_ids); split it"
    )]
    TooManyReceiptIds {
        /// Ids listed.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A field that names an earlier message or a file is empty.
    #[error("{field} must not be empty")]
    EmptyField {
        /// The protobuf field.
        field: &'static str,
    },
    /// A key, hash or group id has the wrong length.
    #[error("{field} is {len} bytes; it must be {expected}")]
    WrongLength {
        /// The protobuf field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// What it must be, in words.
        expected: &'static str,
    },
    /// A receipt kind this version does not know.
    #[error("receipt kind {0} is unknown; update Portico to read it")]
    UnknownReceiptKind(i32),
    /// An attachment URL that is not https.
    #[error("attachment url must start with https://")]
    AttachmentNotHttps,
}

/// Validates `content`, serializes it and pads it: the plaintext to hand to Signal encryption.
///
/// # Errors
/// The [`ContentError`] naming the first field over its limit or malformed.
pub fn encode(content: &Content, limits: &Limits) -> Result<Zeroizing<Vec<u8>>, ContentError> {
    validate::check(content, limits)?;
    let size = content.encoded_len();
    if size > limits.max_content_bytes {
        return Err(ContentError::TooLarge {
            size,
            limit: limits.max_content_bytes,
        });
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(size + PADDING_BLOCK));
    content.encode_raw(&mut *bytes);
    pad(&mut bytes);
    Ok(bytes)
}

/// Removes the padding from a decrypted plaintext, parses and validates the content.
///
/// # Errors
/// [`ContentError::MissingPaddingMarker`], [`ContentError::TooLarge`],
/// [`ContentError::Malformed`], [`ContentError::UnknownBody`], or the field-specific error.
pub fn decode(plaintext: &[u8], limits: &Limits) -> Result<Content, ContentError> {
    let bytes = unpad(plaintext)?;
    if bytes.len() > limits.max_content_bytes {
        return Err(ContentError::TooLarge {
            size: bytes.len(),
            limit: limits.max_content_bytes,
        });
    }
    let content = Content::decode(bytes)?;
    validate::check(&content, limits)?;
    Ok(content)
}
