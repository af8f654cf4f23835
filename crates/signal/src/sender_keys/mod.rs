//! Sender Keys for groups: SenderKeyDistributionMessage and SenderKeyMessage, wire-compatible with libsignal.
//!
//! A group sender keeps one chain per group (its *distribution id*): a random 31-bit chain id,
//! an HMAC chain key and a Curve25519 signing key pair. It hands each member a
//! [`SenderKeyDistributionMessage`] over their 1:1 sessions, then encrypts every group message
//! once: AES-256-CBC under the chain's next message key, signed with XEdDSA by the signing key
//! ([`SenderKeyMessage`]). Receivers keep the sender's chains in a [`SenderKeyRecord`], verify
//! the signature, step the chain forward (keeping skipped keys, up to the limits in
//! [`SenderKeyLimits`]) and decrypt.
//!
//! The wire and record layouts are libsignal's; see [`message`] and [`record`].

mod chain;
pub mod message;
pub mod record;
mod store;

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

pub use chain::{SenderChainKey, SenderMessageKey};
pub use message::{SENDER_KEY_MESSAGE_VERSION, SenderKeyDistributionMessage, SenderKeyMessage};
pub use record::{SenderKeyRecord, SenderKeyState};
pub use store::{InMemSenderKeyStore, SenderKeyStore, StoreFailure};

use crate::address::ProtocolAddress;
use crate::consts::{MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS};
use crate::error::SignalError;
use crate::keys::KeyPair;

/// Sender chains kept per (sender, group) record (libsignal: 5).
pub const MAX_SENDER_KEY_STATES: usize = 5;

/// What went wrong in a Sender Key operation.
#[derive(Debug, thiserror::Error)]
pub enum SenderKeyError {
    /// We hold no sender key for this sender and group.
    #[error(
        "no sender key from {sender} for distribution {distribution_id}: process their SenderKeyDistributionMessage first (or create ours before sending)"
    )]
    NoSenderKey {
        /// The sender.
        sender: ProtocolAddress,
        /// The group.
        distribution_id: DistributionId,
    },
    /// We hold sender keys for this sender and group, but not the message's chain.
    #[error(
        "no sender key chain {chain_id} from {sender}: the sender rotated its key; ask for its new SenderKeyDistributionMessage"
    )]
    UnknownChain {
        /// The sender.
        sender: ProtocolAddress,
        /// The message's chain id.
        chain_id: u32,
    },
    /// The message's signature does not verify under the chain's signing key.
    #[error("group message signature does not verify: the message was altered or forged; drop it")]
    InvalidSignature,
    /// The message's key was already used (or dropped as too old): a duplicate or replay.
    #[error(
        "group message iteration {iteration} was already received (chain is at {chain_iteration}): duplicate or replayed message"
    )]
    DuplicatedMessage {
        /// The message's iteration.
        iteration: u32,
        /// The next iteration the chain expects.
        chain_iteration: u32,
    },
    /// The message is further ahead of the chain than the forward-jump limit.
    #[error(
        "group message jumps {jump} iterations ahead, past the limit of {limit} (SenderKeyLimits::max_forward_jumps)"
    )]
    TooFarInFuture {
        /// How far ahead the message is.
        jump: u32,
        /// The limit in force.
        limit: u32,
    },
    /// The chain reached the end of its 32-bit iteration space.
    #[error("sender key chain is exhausted: create a new SenderKeyDistributionMessage")]
    ChainExhausted,
    /// Bytes that are not a valid message or record.
    #[error("malformed {what}: {reason}; the bytes are truncated or not a Sender Key {what}")]
    Malformed {
        /// Which structure failed to decode.
        what: &'static str,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// The message's version is older than this crate accepts.
    #[error("Sender Key message uses legacy version {0}; only version 3 is supported")]
    LegacyVersion(u8),
    /// The message's version is newer than this crate speaks.
    #[error("Sender Key message uses unknown version {0}; upgrade this client")]
    UnrecognizedVersion(u8),
    /// The signing key in a distribution message or record is not a valid Curve25519 key.
    #[error("invalid sender signing key: {0}")]
    InvalidSigningKey(#[source] SignalError),
    /// The ciphertext did not decrypt (bad length or padding) although its signature verified.
    #[error("group message ciphertext does not decrypt: the message is corrupt")]
    DecryptionFailed,
    /// We hold only the public half of this chain's signing key, so cannot send on it.
    #[error(
        "cannot send with {sender}'s sender key for {distribution_id}: it was received, not created, here"
    )]
    NotOurSenderKey {
        /// The address the record is stored under.
        sender: ProtocolAddress,
        /// The group.
        distribution_id: DistributionId,
    },
    /// The caller's store failed.
    #[error("sender key store failed: {0}")]
    Store(#[source] StoreFailure),
}

/// A group's distribution id: a UUID, 16 bytes on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DistributionId([u8; 16]);

impl DistributionId {
    /// The id from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A fresh random (version 4) UUID.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Self(bytes)
    }

    /// Parses the hyphenated form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (any hex case).
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.as_bytes();
        if t.len() != 36 || [8, 13, 18, 23].iter().any(|&i| t[i] != b'-') {
            return None;
        }
        let mut hex = t.iter().filter(|&&c| c != b'-');
        let mut bytes = [0u8; 16];
        for byte in &mut bytes {
            let hi = char::from(*hex.next()?).to_digit(16)?;
            let lo = char::from(*hex.next()?).to_digit(16)?;
            *byte = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(Self(bytes))
    }
}

impl core::fmt::Display for DistributionId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl core::fmt::Debug for DistributionId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DistributionId({self})")
    }
}

/// The limits a receiver enforces; the defaults are libsignal's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderKeyLimits {
    /// How far past the chain a message's iteration may be (default 25 000).
    pub max_forward_jumps: u32,
    /// Skipped-message keys kept per chain; the oldest go first (default 2000).
    pub max_message_keys: usize,
    /// Chains kept per (sender, group) record; the oldest go first (default 5).
    pub max_states: usize,
}

impl Default for SenderKeyLimits {
    fn default() -> Self {
        Self {
            max_forward_jumps: MAX_FORWARD_JUMPS,
            max_message_keys: MAX_MESSAGE_KEYS,
            max_states: MAX_SENDER_KEY_STATES,
        }
    }
}

/// Returns the distribution message for our chain in `distribution_id`, creating the chain
/// (random chain id, chain key and signing key) the first time. `sender` is our own address.
pub fn create_distribution_message<S, R>(
    store: &mut S,
    sender: &ProtocolAddress,
    distribution_id: DistributionId,
    rng: &mut R,
) -> Result<SenderKeyDistributionMessage, SenderKeyError>
where
    S: SenderKeyStore + ?Sized,
    R: CryptoRng + ?Sized,
{
    let record = match store::load(store, sender, distribution_id)? {
        Some(record) if record.current_state().is_some() => record,
        _ => {
            let chain_id = rng.next_u32() >> 1;
            let mut seed = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(seed.as_mut());
            let signing = KeyPair::generate(rng);
            let state = SenderKeyState::new(
                SENDER_KEY_MESSAGE_VERSION,
                chain_id,
                SenderChainKey::new(0, *seed),
                signing.public_key,
                Some(signing.private_key),
            );
            let mut record = SenderKeyRecord::new();
            record.add_state(state, MAX_SENDER_KEY_STATES);
            store::save(store, sender, distribution_id, &record)?;
            record
        }
    };
    let state = record
        .current_state()
        .expect("the record was just checked or given a state");
    Ok(SenderKeyDistributionMessage::new(
        state.message_version(),
        distribution_id,
        state.chain_id(),
        state.chain_key().iteration(),
        *state.chain_key().seed(),
        *state.signing_public(),
    ))
}

/// Stores the chain that `sender` distributed, with the default limits.
pub fn process_distribution_message<S: SenderKeyStore + ?Sized>(
    store: &mut S,
    sender: &ProtocolAddress,
    message: &SenderKeyDistributionMessage,
) -> Result<(), SenderKeyError> {
    process_distribution_message_with_limits(store, sender, message, &SenderKeyLimits::default())
}

/// Stores the chain that `sender` distributed, keeping at most `limits.max_states` chains.
pub fn process_distribution_message_with_limits<S: SenderKeyStore + ?Sized>(
    store: &mut S,
    sender: &ProtocolAddress,
    message: &SenderKeyDistributionMessage,
    limits: &SenderKeyLimits,
) -> Result<(), SenderKeyError> {
    let distribution_id = message.distribution_id();
    let mut record = store::load(store, sender, distribution_id)?.unwrap_or_default();
    let state = SenderKeyState::new(
        message.message_version(),
        message.chain_id(),
        SenderChainKey::new(message.iteration(), *message.chain_key()),
        *message.signing_key(),
        None,
    );
    record.add_state(state, limits.max_states);
    store::save(store, sender, distribution_id, &record)
}

/// Encrypts `plaintext` for the group on our chain (`sender` is our own address).
pub fn group_encrypt<S, R>(
    store: &mut S,
    sender: &ProtocolAddress,
    distribution_id: DistributionId,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<SenderKeyMessage, SenderKeyError>
where
    S: SenderKeyStore + ?Sized,
    R: CryptoRng + ?Sized,
{
    let mut record = store::load(store, sender, distribution_id)?.ok_or_else(|| {
        SenderKeyError::NoSenderKey {
            sender: sender.clone(),
            distribution_id,
        }
    })?;
    let state = record
        .current_state_mut()
        .ok_or_else(|| SenderKeyError::NoSenderKey {
            sender: sender.clone(),
            distribution_id,
        })?;
    let signing = state
        .signing_private()
        .ok_or_else(|| SenderKeyError::NotOurSenderKey {
            sender: sender.clone(),
            distribution_id,
        })?
        .clone();
    let message_key = state.chain_key().message_key();
    let next = state.chain_key().next()?;
    let keys = message_key.cipher_keys();
    let ciphertext =
        cbc::Encryptor::<Aes256>::new(keys.key.as_ref().into(), keys.iv.as_ref().into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let message = SenderKeyMessage::new(
        state.message_version(),
        distribution_id,
        state.chain_id(),
        message_key.iteration(),
        ciphertext,
        &signing,
        rng,
    );
    state.set_chain_key(next);
    store::save(store, sender, distribution_id, &record)?;
    Ok(message)
}

/// Decrypts a group message from `sender` with the default limits.
pub fn group_decrypt<S: SenderKeyStore + ?Sized>(
    store: &mut S,
    sender: &ProtocolAddress,
    message: &[u8],
) -> Result<Vec<u8>, SenderKeyError> {
    group_decrypt_with_limits(store, sender, message, &SenderKeyLimits::default())
}

/// Decrypts a group message from `sender`: checks the signature, steps the chain (keeping
/// skipped keys within `limits`) and decrypts. The record is saved only on success.
pub fn group_decrypt_with_limits<S: SenderKeyStore + ?Sized>(
    store: &mut S,
    sender: &ProtocolAddress,
    message: &[u8],
    limits: &SenderKeyLimits,
) -> Result<Vec<u8>, SenderKeyError> {
    let message = SenderKeyMessage::deserialize(message)?;
    let distribution_id = message.distribution_id();
    let mut record = store::load(store, sender, distribution_id)?.ok_or_else(|| {
        SenderKeyError::NoSenderKey {
            sender: sender.clone(),
            distribution_id,
        }
    })?;
    let state = record
        .state_for_chain_mut(message.chain_id())
        .ok_or_else(|| SenderKeyError::UnknownChain {
            sender: sender.clone(),
            chain_id: message.chain_id(),
        })?;
    if !message.verify_signature(state.signing_public()) {
        return Err(SenderKeyError::InvalidSignature);
    }
    let key = message_key_for(state, message.iteration(), limits)?;
    let keys = key.cipher_keys();
    let plaintext =
        cbc::Decryptor::<Aes256>::new(keys.key.as_ref().into(), keys.iv.as_ref().into())
            .decrypt_padded_vec_mut::<Pkcs7>(message.ciphertext())
            .map_err(|_| SenderKeyError::DecryptionFailed)?;
    store::save(store, sender, distribution_id, &record)?;
    Ok(plaintext)
}

/// The key of `iteration`: a kept skipped key, or the chain stepped forward to it.
fn message_key_for(
    state: &mut SenderKeyState,
    iteration: u32,
    limits: &SenderKeyLimits,
) -> Result<SenderMessageKey, SenderKeyError> {
    let chain_iteration = state.chain_key().iteration();
    if iteration < chain_iteration {
        return state
            .take_message_key(iteration)
            .ok_or(SenderKeyError::DuplicatedMessage {
                iteration,
                chain_iteration,
            });
    }
    let jump = iteration - chain_iteration;
    if jump > limits.max_forward_jumps {
        return Err(SenderKeyError::TooFarInFuture {
            jump,
            limit: limits.max_forward_jumps,
        });
    }
    let mut chain = state.chain_key().clone();
    while chain.iteration() < iteration {
        state.add_message_key(chain.message_key(), limits.max_message_keys);
        chain = chain.next()?;
    }
    let key = chain.message_key();
    state.set_chain_key(chain.next()?);
    Ok(key)
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
