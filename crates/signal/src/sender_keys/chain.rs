//! The Sender Key chain: a 32-byte seed with an iteration that an HMAC ratchet moves forward,
//! and the per-message keys it yields.
//!
//! `message seed = HMAC-SHA256(chain seed, 0x01)`, `next chain seed = HMAC-SHA256(chain seed,
//! 0x02)`; a message seed expands with HKDF-SHA256 (no salt, info `"WhisperGroup"`) to 48
//! bytes: a 16-byte CBC IV then a 32-byte AES-256 key.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::SenderKeyError;

const MESSAGE_KEY_SEED: u8 = 0x01;
const CHAIN_KEY_SEED: u8 = 0x02;
const MESSAGE_KEY_INFO: &[u8] = b"WhisperGroup";

fn hmac(key: &[u8; 32], byte: u8) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(&[byte]);
    mac.finalize().into_bytes().into()
}

/// A sending or receiving chain position: the seed for `iteration`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SenderChainKey {
    iteration: u32,
    seed: [u8; 32],
}

impl core::fmt::Debug for SenderChainKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "SenderChainKey {{ iteration: {}, seed: <secret> }}",
            self.iteration
        )
    }
}

impl SenderChainKey {
    /// The chain at `iteration` with `seed`.
    pub fn new(iteration: u32, seed: [u8; 32]) -> Self {
        Self { iteration, seed }
    }

    /// The iteration of the next message this chain key encrypts or decrypts.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The 32-byte chain seed (secret).
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The message key for this iteration.
    pub fn message_key(&self) -> SenderMessageKey {
        SenderMessageKey::new(self.iteration, hmac(&self.seed, MESSAGE_KEY_SEED))
    }

    /// The chain key one step on; fails at the end of the 32-bit iteration space.
    pub fn next(&self) -> Result<Self, SenderKeyError> {
        let iteration = self
            .iteration
            .checked_add(1)
            .ok_or(SenderKeyError::ChainExhausted)?;
        Ok(Self {
            iteration,
            seed: hmac(&self.seed, CHAIN_KEY_SEED),
        })
    }
}

/// The key of one group message: kept as its seed, expanded on use.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SenderMessageKey {
    iteration: u32,
    seed: [u8; 32],
}

impl core::fmt::Debug for SenderMessageKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "SenderMessageKey {{ iteration: {}, seed: <secret> }}",
            self.iteration
        )
    }
}

/// The AES-256-CBC key and IV of one message.
pub(crate) struct MessageCipherKeys {
    pub(crate) iv: Zeroizing<[u8; 16]>,
    pub(crate) key: Zeroizing<[u8; 32]>,
}

impl SenderMessageKey {
    /// The message key of `iteration` with `seed`.
    pub fn new(iteration: u32, seed: [u8; 32]) -> Self {
        Self { iteration, seed }
    }

    /// The iteration this key belongs to.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The 32-byte seed (secret).
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    pub(crate) fn cipher_keys(&self) -> MessageCipherKeys {
        let mut okm = Zeroizing::new([0u8; 48]);
        Hkdf::<Sha256>::new(None, &self.seed)
            .expand(MESSAGE_KEY_INFO, okm.as_mut())
            .expect("48 bytes is within HKDF-SHA256's output limit");
        let mut iv = Zeroizing::new([0u8; 16]);
        let mut key = Zeroizing::new([0u8; 32]);
        iv.copy_from_slice(&okm[..16]);
        key.copy_from_slice(&okm[16..]);
        MessageCipherKeys { iv, key }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_steps_change_seed_and_count() {
        let chain = SenderChainKey::new(7, [1; 32]);
        let next = chain.next().expect("not at the end");
        assert_eq!(next.iteration(), 8);
        assert_ne!(next.seed(), chain.seed());
        assert_ne!(chain.message_key().seed(), next.message_key().seed());
        assert_eq!(chain.message_key().iteration(), 7);
    }

    #[test]
    fn chain_end_is_an_error_not_a_wrap() {
        let chain = SenderChainKey::new(u32::MAX, [1; 32]);
        assert!(matches!(chain.next(), Err(SenderKeyError::ChainExhausted)));
    }
}
