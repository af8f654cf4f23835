//! The Double Ratchet's key derivations with libsignal's labels
//! (<https://signal.org/docs/specifications/doubleratchet/>): the root KDF
//! (HKDF-SHA256, info `"WhisperRatchet"`), the chain KDF (HMAC-SHA256 of `0x01` for the
//! message key seed and `0x02` for the next chain key) and the message-key KDF (HKDF-SHA256,
//! info `"WhisperMessageKeys"`, 80 bytes: cipher key, MAC key, IV).

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::keys::{KeyPair, PrivateKey, PublicKey};

const MESSAGE_KEY_SEED: u8 = 0x01;
const CHAIN_KEY_SEED: u8 = 0x02;

pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .expect("HMAC-SHA256 accepts keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

pub(crate) fn hkdf_sha256(salt: Option<&[u8]>, ikm: &[u8], info: &[u8], out: &mut [u8]) {
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, out)
        .expect("HKDF output lengths used here are far below 255 * 32");
}

/// A root key.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct RootKey([u8; 32]);

impl RootKey {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Self(key)
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.0
    }

    /// One DH ratchet step: `KDF_RK(rk, DH(ours, theirs))`.
    pub(crate) fn create_chain(&self, their: &PublicKey, ours: &PrivateKey) -> (RootKey, ChainKey) {
        let shared = ours.calculate_agreement(their);
        let mut out = Zeroizing::new([0u8; 64]);
        hkdf_sha256(
            Some(&self.0),
            shared.as_ref(),
            b"WhisperRatchet",
            out.as_mut(),
        );
        let mut root = [0u8; 32];
        let mut chain = [0u8; 32];
        root.copy_from_slice(&out[..32]);
        chain.copy_from_slice(&out[32..]);
        (RootKey(root), ChainKey::new(chain, 0))
    }
}

/// A sending or receiving chain key at an index.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct ChainKey {
    key: [u8; 32],
    index: u32,
}

impl ChainKey {
    pub(crate) fn new(key: [u8; 32], index: u32) -> Self {
        Self { key, index }
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }

    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// The next chain key (`HMAC(ck, 0x02)`).
    pub(crate) fn next(&self) -> ChainKey {
        ChainKey {
            key: hmac_sha256(&self.key, &[&[CHAIN_KEY_SEED]]),
            index: self.index.wrapping_add(1),
        }
    }

    /// The message keys for this index (from the seed `HMAC(ck, 0x01)`).
    pub(crate) fn message_keys(&self) -> MessageKeys {
        let mut seed = hmac_sha256(&self.key, &[&[MESSAGE_KEY_SEED]]);
        let keys = MessageKeys::derive(&seed, self.index);
        seed.zeroize();
        keys
    }
}

/// The keys of one message: AES-256 key, HMAC-SHA256 key and CBC IV.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct MessageKeys {
    pub(crate) cipher_key: [u8; 32],
    pub(crate) mac_key: [u8; 32],
    pub(crate) iv: [u8; 16],
    pub(crate) counter: u32,
}

impl MessageKeys {
    pub(crate) fn derive(seed: &[u8], counter: u32) -> Self {
        let mut out = Zeroizing::new([0u8; 80]);
        hkdf_sha256(None, seed, b"WhisperMessageKeys", out.as_mut());
        let mut keys = MessageKeys {
            cipher_key: [0; 32],
            mac_key: [0; 32],
            iv: [0; 16],
            counter,
        };
        keys.cipher_key.copy_from_slice(&out[..32]);
        keys.mac_key.copy_from_slice(&out[32..64]);
        keys.iv.copy_from_slice(&out[64..]);
        keys
    }
}

/// Derives the first root and chain keys from the PQXDH/X3DH secret input.
pub(crate) fn derive_initial_keys(secret_input: &[u8], with_kyber: bool) -> (RootKey, ChainKey) {
    let label: &[u8] = if with_kyber {
        b"WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024"
    } else {
        b"WhisperText"
    };
    let mut out = Zeroizing::new([0u8; 64]);
    hkdf_sha256(None, secret_input, label, out.as_mut());
    let mut root = [0u8; 32];
    let mut chain = [0u8; 32];
    root.copy_from_slice(&out[..32]);
    chain.copy_from_slice(&out[32..]);
    (RootKey(root), ChainKey::new(chain, 0))
}

/// A fresh ratchet key pair.
pub(crate) fn new_ratchet_key<R: CryptoRng + ?Sized>(rng: &mut R) -> KeyPair {
    KeyPair::generate(rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_advances_and_message_keys_differ_per_index() {
        let ck = ChainKey::new([7u8; 32], 0);
        let next = ck.next();
        assert_eq!(next.index(), 1);
        assert_ne!(next.key(), ck.key());
        assert_ne!(ck.message_keys().cipher_key, next.message_keys().cipher_key);
        assert_eq!(ck.message_keys().counter, 0);
    }
}
