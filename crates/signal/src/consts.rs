//! Every limit of the protocol layer in one place, with libsignal's values.

/// Skipped message keys kept per receiving chain (libsignal: 2000). Older ones are dropped.
pub const MAX_MESSAGE_KEYS: usize = 2000;
/// How far ahead of the chain a message counter may jump (libsignal: 25 000).
pub const MAX_FORWARD_JUMPS: u32 = 25_000;
/// Receiving chains kept per session state (libsignal: 5).
pub const MAX_RECEIVER_CHAINS: usize = 5;
/// Archived previous session states kept per record (libsignal: 40).
pub const ARCHIVED_STATES_MAX_LENGTH: usize = 40;
/// How long an unacknowledged session (one that has only sent prekey messages) may be used
/// to send, in seconds (libsignal: 30 days).
pub const MAX_UNACKNOWLEDGED_SESSION_AGE_SECS: u64 = 60 * 60 * 24 * 30;
/// Largest plaintext `encrypt` accepts, in bytes.
pub const MAX_PLAINTEXT_LEN: usize = 16 * 1024 * 1024;

/// Session version of X3DH sessions (no Kyber).
pub const SESSION_VERSION_X3DH: u8 = 3;
/// Session version of PQXDH sessions (Kyber prekey in the handshake).
pub const SESSION_VERSION_PQXDH: u8 = 4;
/// The newest version this crate speaks (low nibble of every message's version byte).
pub const CIPHERTEXT_MESSAGE_CURRENT_VERSION: u8 = 4;

/// The tunable limits of a session, defaulting to libsignal's values. Raising them stays
/// wire-compatible (they only decide what the local side accepts or keeps); pass them to
/// [`message_encrypt_with_limits`](crate::session_cipher::message_encrypt_with_limits) and
/// [`message_decrypt_with_limits`](crate::session_cipher::message_decrypt_with_limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// See [`MAX_FORWARD_JUMPS`].
    pub max_forward_jumps: u32,
    /// See [`MAX_MESSAGE_KEYS`].
    pub max_message_keys: usize,
    /// See [`MAX_UNACKNOWLEDGED_SESSION_AGE_SECS`].
    pub max_unacknowledged_session_age_secs: u64,
    /// See [`MAX_PLAINTEXT_LEN`].
    pub max_plaintext_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_forward_jumps: MAX_FORWARD_JUMPS,
            max_message_keys: MAX_MESSAGE_KEYS,
            max_unacknowledged_session_age_secs: MAX_UNACKNOWLEDGED_SESSION_AGE_SECS,
            max_plaintext_len: MAX_PLAINTEXT_LEN,
        }
    }
}
