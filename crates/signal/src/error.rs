//! The crate's error type: one variant per thing that can go wrong, each telling the caller
//! what to do about it.

use crate::address::ProtocolAddress;

/// Everything that can go wrong in the Signal Protocol layer.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SignalError {
    /// A key's type byte is not one this crate knows.
    #[error(
        "unknown key type byte {0:#04x}: expected 0x05 (Curve25519), 0x08 (Kyber1024) or 0x0a (ML-KEM-1024)"
    )]
    InvalidKeyType(u8),
    /// A serialized key has the wrong length for its type.
    #[error("{kind} key has {actual} bytes, expected {expected}: the key is truncated or corrupt")]
    BadKeyLength {
        /// Which kind of key.
        kind: &'static str,
        /// Length received.
        actual: usize,
        /// Length expected.
        expected: usize,
    },
    /// A Curve25519 public key is not a usable curve point.
    #[error("public key is not a valid Curve25519 point: reject the key")]
    InvalidPublicKey,
    /// A signed prekey's XEdDSA signature does not verify under the identity key.
    #[error("signed prekey signature does not verify under the identity key: discard the bundle")]
    InvalidSignedPreKeySignature,
    /// A Kyber prekey's XEdDSA signature does not verify under the identity key.
    #[error("Kyber prekey signature does not verify under the identity key: discard the bundle")]
    InvalidKyberPreKeySignature,
    /// A message or record could not be decoded (truncated, malformed protobuf, missing field).
    #[error("malformed {what}: {reason}; the bytes are truncated or not a Signal message")]
    InvalidMessage {
        /// Which structure failed to decode.
        what: &'static str,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// The message's version nibble is older than this crate accepts.
    #[error("message uses legacy version {0}; only versions 3 and 4 are supported")]
    LegacyCiphertextVersion(u8),
    /// The message's version nibble is newer than this crate speaks.
    #[error("message uses unknown version {0}; upgrade this client")]
    UnrecognizedMessageVersion(u8),
    /// The message authentication code did not verify.
    #[error("message MAC does not verify: the message was altered or is not for this session")]
    InvalidMac,
    /// The ciphertext did not decrypt (bad padding or length) even though its MAC verified.
    #[error("ciphertext does not decrypt: the message is corrupt")]
    DecryptionFailed,
    /// The remote identity key is not trusted by the identity store.
    #[error("identity key of {0} is not trusted: ask the user to verify the new safety number")]
    UntrustedIdentity(ProtocolAddress),
    /// A prekey referenced by a message or bundle is not in the store (unknown or already used).
    #[error(
        "prekey {0} not found: it was already used or never existed; the sender must fetch a new bundle"
    )]
    InvalidPreKeyId(u32),
    /// A signed prekey referenced by a message is not in the store.
    #[error("signed prekey {0} not found: the sender used a rotated-out signed prekey")]
    InvalidSignedPreKeyId(u32),
    /// A Kyber prekey referenced by a message is not in the store.
    #[error("Kyber prekey {0} not found: it was already used or never existed")]
    InvalidKyberPreKeyId(u32),
    /// The message's counter is one whose key was already used or dropped: a replay.
    #[error(
        "message counter {counter} on this chain was already received: duplicate or replayed message"
    )]
    DuplicatedMessage {
        /// The chain index the receiver has reached.
        chain_index: u32,
        /// The message's counter.
        counter: u32,
    },
    /// The message's counter is further ahead than the forward-jump limit allows.
    #[error(
        "message counter jumps {jump} ahead, past the limit of {limit} (Limits::max_forward_jumps)"
    )]
    TooFarInFuture {
        /// How far ahead the message is.
        jump: u32,
        /// The limit in force.
        limit: u32,
    },
    /// There is no session with this address; process a prekey bundle first.
    #[error("no session with {0}: fetch a prekey bundle and process it first")]
    SessionNotFound(ProtocolAddress),
    /// No stored session could decrypt the message.
    #[error("no session with {0} can decrypt this message: it is for a lost or unknown session")]
    NoSessionForMessage(ProtocolAddress),
    /// The PreKeySignalMessage was for a Kyber-less (X3DH) session, which the local policy refuses,
    /// or the message lacks the Kyber fields its version requires.
    #[error("prekey message lacks the Kyber prekey fields that PQXDH requires")]
    MissingKyberPreKey,
    /// The Kyber ciphertext could not be decapsulated (wrong length or type).
    #[error("Kyber ciphertext is malformed: {0}")]
    BadKemCiphertext(&'static str),
    /// A bundle's key type does not match what the operation needs.
    #[error("the KEM key types of ciphertext ({0:#04x}) and secret key ({1:#04x}) differ")]
    KemKeyTypeMismatch(u8, u8),
    /// A pending (unacknowledged) session has been waiting longer than the limit allows.
    #[error(
        "session with {0} was never acknowledged within Limits::max_unacknowledged_session_age_secs: fetch a new prekey bundle"
    )]
    StaleUnacknowledgedSession(ProtocolAddress),
    /// The plaintext is larger than this crate encrypts.
    #[error("plaintext of {0} bytes exceeds the limit of {1} bytes (Limits::max_plaintext_len)")]
    PlaintextTooLarge(usize, usize),
}

/// Shorthand for results in this crate.
pub type Result<T> = core::result::Result<T, SignalError>;

pub(crate) fn malformed(what: &'static str, reason: &'static str) -> SignalError {
    SignalError::InvalidMessage { what, reason }
}
