//! The Rust mirror of `content.proto`, field for field (prost derives; no code generation).
//!
//! Every field's meaning is documented in `crates/content/content.proto`, the schema that
//! third-party developers implement; the docs here repeat the essentials.

use std::fmt;

use zeroize::Zeroize;

/// One unit of end-to-end encrypted content. Exactly one [`Body`] is set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Content {
    /// What this content is.
    #[prost(oneof = "Body", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9")]
    pub body: Option<Body>,
    /// Sender's wall clock at composition, milliseconds since the Unix epoch.
    #[prost(uint64, tag = "14")]
    pub sent_at_ms: u64,
    /// The group conversation this content belongs to, if any.
    #[prost(message, optional, tag = "15")]
    pub group: Option<GroupContext>,
}

/// The kinds of content (`Content.body` in `content.proto`).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Body {
    /// A text message, optionally a reply.
    #[prost(message, tag = "1")]
    Text(Text),
    /// An emoji reaction to an earlier message.
    #[prost(message, tag = "2")]
    Reaction(Reaction),
    /// Replaces the text of an earlier message of the same sender.
    #[prost(message, tag = "3")]
    Edit(Edit),
    /// Deletes an earlier message of the same sender for everyone.
    #[prost(message, tag = "4")]
    Delete(Delete),
    /// Delivered / read / viewed receipts.
    #[prost(message, tag = "5")]
    Receipt(Receipt),
    /// A typing indicator.
    #[prost(message, tag = "6")]
    Typing(Typing),
    /// An encrypted file.
    #[prost(message, tag = "7")]
    Attachment(Attachment),
    /// A change of group membership or metadata.
    #[prost(message, tag = "8")]
    GroupUpdate(GroupUpdate),
    /// Call signalling.
    #[prost(message, tag = "9")]
    Call(CallSignal),
}

/// A text message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Text {
    /// UTF-8 text.
    #[prost(string, tag = "1")]
    pub body: String,
    /// The message this one replies to.
    #[prost(message, optional, tag = "2")]
    pub reply_to: Option<Quote>,
}

/// A reference to an earlier message, shown above a reply.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Quote {
    /// The quoted message's sender-assigned id.
    #[prost(string, tag = "1")]
    pub message_id: String,
    /// Bare JID of the quoted message's sender.
    #[prost(string, tag = "2")]
    pub author: String,
    /// A short excerpt the client shows.
    #[prost(string, tag = "3")]
    pub snippet: String,
}

/// An emoji reaction.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Reaction {
    /// Id of the message reacted to.
    #[prost(string, tag = "1")]
    pub target_id: String,
    /// Bare JID of its sender.
    #[prost(string, tag = "2")]
    pub target_author: String,
    /// One emoji.
    #[prost(string, tag = "3")]
    pub emoji: String,
    /// True to withdraw an earlier reaction.
    #[prost(bool, tag = "4")]
    pub remove: bool,
}

/// An edit of one of the sender's own earlier text messages.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Edit {
    /// Id of the message being edited.
    #[prost(string, tag = "1")]
    pub target_id: String,
    /// Its new text.
    #[prost(string, tag = "2")]
    pub body: String,
}

/// A delete-for-everyone of one of the sender's own earlier messages.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Delete {
    /// Id of the message being deleted.
    #[prost(string, tag = "1")]
    pub target_id: String,
}

/// What a [`Receipt`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ReceiptKind {
    /// The recipient's device has the message.
    Delivered = 0,
    /// The recipient has displayed it.
    Read = 1,
    /// The recipient has played or opened the media.
    Viewed = 2,
}

/// Receipts for one or more messages from the same sender.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Receipt {
    /// What is being reported ([`ReceiptKind`] as its protobuf number).
    #[prost(enumeration = "ReceiptKind", tag = "1")]
    pub kind: i32,
    /// Ids of the messages concerned.
    #[prost(string, repeated, tag = "2")]
    pub message_ids: Vec<String>,
}

/// A typing indicator.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Typing {
    /// True when typing starts, false when it stops.
    #[prost(bool, tag = "1")]
    pub started: bool,
}

/// An encrypted attachment: where its ciphertext is and how to decrypt and verify it.
///
/// `Debug` redacts the key, and the key is zeroized on drop.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct Attachment {
    /// https URL of the ciphertext.
    #[prost(string, tag = "1")]
    pub url: String,
    /// 32-byte file key.
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    /// SHA-256 of the ciphertext as uploaded (32 bytes).
    #[prost(bytes = "vec", tag = "3")]
    pub ciphertext_sha256: Vec<u8>,
    /// SHA-256 of the decrypted file (32 bytes).
    #[prost(bytes = "vec", tag = "4")]
    pub plaintext_sha256: Vec<u8>,
    /// Plaintext size in bytes.
    #[prost(uint64, tag = "5")]
    pub size: u64,
    /// MIME type, e.g. `image/jpeg`.
    #[prost(string, tag = "6")]
    pub content_type: String,
    /// Optional original file name.
    #[prost(string, tag = "7")]
    pub file_name: String,
    /// Optional small preview image.
    #[prost(bytes = "vec", tag = "8")]
    pub thumbnail: Vec<u8>,
    /// Width in pixels (0 if unknown).
    #[prost(uint32, tag = "9")]
    pub width: u32,
    /// Height in pixels (0 if unknown).
    #[prost(uint32, tag = "10")]
    pub height: u32,
    /// Audio or video duration in milliseconds (0 if unknown).
    #[prost(uint32, tag = "11")]
    pub duration_ms: u32,
    /// Plaintext bytes per encrypted chunk.
    #[prost(uint32, tag = "12")]
    pub chunk_size: u32,
    /// Optional caption.
    #[prost(string, tag = "13")]
    pub caption: String,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("url", &self.url)
            .field("key", &"<redacted>")
            .field("size", &self.size)
            .field("content_type", &self.content_type)
            .field("file_name", &self.file_name)
            .field("thumbnail_bytes", &self.thumbnail.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// The group a content belongs to.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GroupContext {
    /// 16..=32-byte group id chosen by its creator.
    #[prost(bytes = "vec", tag = "1")]
    pub id: Vec<u8>,
    /// The sender's view of the group state revision.
    #[prost(uint32, tag = "2")]
    pub revision: u32,
}

/// A change of group membership or metadata; its payload is defined with groups.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GroupUpdate {
    /// The update, opaque to this version.
    #[prost(bytes = "vec", tag = "1")]
    pub payload: Vec<u8>,
}

/// Call signalling; its payload is defined with calls.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CallSignal {
    /// The call this signal belongs to.
    #[prost(string, tag = "1")]
    pub call_id: String,
    /// The signal, opaque to this version.
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
}
