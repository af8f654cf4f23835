//! Curve25519 keys in libsignal's serialization: a public key is the type byte `0x05`
//! followed by the 32-byte Montgomery `u` coordinate; a private key is its 32 clamped bytes.

use curve25519_dalek::montgomery::MontgomeryPoint;
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Result, SignalError};
use crate::xeddsa;

/// The type byte of a Curve25519 ("DJB") key.
pub const DJB_TYPE: u8 = 0x05;
/// Length of a serialized Curve25519 public key (type byte + 32 bytes).
pub const PUBLIC_KEY_SERIALIZED_LENGTH: usize = 33;

/// A Curve25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PublicKey(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

impl PublicKey {
    /// The key from its raw 32-byte `u` coordinate.
    pub fn from_djb_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses libsignal's serialization: `0x05 || u` (exactly 33 bytes).
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let (&kind, rest) = bytes.split_first().ok_or(SignalError::BadKeyLength {
            kind: "Curve25519 public",
            actual: 0,
            expected: PUBLIC_KEY_SERIALIZED_LENGTH,
        })?;
        if kind != DJB_TYPE {
            return Err(SignalError::InvalidKeyType(kind));
        }
        let raw: [u8; 32] = rest.try_into().map_err(|_| SignalError::BadKeyLength {
            kind: "Curve25519 public",
            actual: bytes.len(),
            expected: PUBLIC_KEY_SERIALIZED_LENGTH,
        })?;
        Ok(Self(raw))
    }

    /// libsignal's serialization: `0x05 || u`.
    pub fn serialize(&self) -> [u8; PUBLIC_KEY_SERIALIZED_LENGTH] {
        let mut out = [0u8; PUBLIC_KEY_SERIALIZED_LENGTH];
        out[0] = DJB_TYPE;
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// The raw 32-byte `u` coordinate.
    pub fn djb_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Verifies an XEdDSA signature made by the matching private key over `message`.
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        xeddsa::verify(&self.0, message, signature)
    }
}

/// A Curve25519 private key (clamped scalar); zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrivateKey([u8; 32]);

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PrivateKey(<secret>)")
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for PrivateKey {}

fn clamp(mut k: [u8; 32]) -> [u8; 32] {
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    k
}

impl PrivateKey {
    /// A fresh random private key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut raw = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(raw.as_mut());
        Self(clamp(*raw))
    }

    /// Parses a 32-byte private key (clamping it, as libsignal does).
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let raw: [u8; 32] = bytes.try_into().map_err(|_| SignalError::BadKeyLength {
            kind: "Curve25519 private",
            actual: bytes.len(),
            expected: 32,
        })?;
        let raw = Zeroizing::new(raw);
        Ok(Self(clamp(*raw)))
    }

    /// The 32 private key bytes.
    pub fn serialize(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0)
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(MontgomeryPoint::mul_base_clamped(self.0).to_bytes())
    }

    /// X25519 agreement with `their_key`.
    pub fn calculate_agreement(&self, their_key: &PublicKey) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(MontgomeryPoint(their_key.0).mul_clamped(self.0).to_bytes())
    }

    /// An XEdDSA signature over `message`.
    pub fn calculate_signature<R: CryptoRng + ?Sized>(
        &self,
        message: &[u8],
        rng: &mut R,
    ) -> [u8; xeddsa::SIGNATURE_LENGTH] {
        xeddsa::sign(&self.0, message, rng)
    }
}

/// A Curve25519 key pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPair {
    /// The public half.
    pub public_key: PublicKey,
    /// The private half.
    pub private_key: PrivateKey,
}

impl KeyPair {
    /// A fresh random key pair.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let private_key = PrivateKey::generate(rng);
        Self {
            public_key: private_key.public_key(),
            private_key,
        }
    }

    /// The pair of a private key.
    pub fn from_private(private_key: PrivateKey) -> Self {
        Self {
            public_key: private_key.public_key(),
            private_key,
        }
    }

    /// Rebuilds a pair from serialized halves (public `0x05 || u`, private 32 bytes).
    pub fn from_serialized(public: &[u8], private: &[u8]) -> Result<Self> {
        Ok(Self {
            public_key: PublicKey::deserialize(public)?,
            private_key: PrivateKey::deserialize(private)?,
        })
    }
}
