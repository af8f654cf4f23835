//! Identity keys: the long-term Curve25519 key of an installation, and its key pair.

use prost::Message as _;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Result, malformed};
use crate::keys::{KeyPair, PrivateKey, PublicKey};
use crate::proto;

/// A long-term public identity key (serialized like any Curve25519 public key: `0x05 || u`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityKey(PublicKey);

impl IdentityKey {
    /// Wraps a public key as an identity key.
    pub fn new(public_key: PublicKey) -> Self {
        Self(public_key)
    }

    /// The underlying public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.0
    }

    /// `0x05 || u` (33 bytes).
    pub fn serialize(&self) -> [u8; 33] {
        self.0.serialize()
    }

    /// Parses `0x05 || u`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        PublicKey::deserialize(bytes).map(Self)
    }

    /// Verifies an XEdDSA signature by this identity over `message`.
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        self.0.verify_signature(message, signature)
    }
}

impl From<PublicKey> for IdentityKey {
    fn from(value: PublicKey) -> Self {
        Self(value)
    }
}

/// An identity key pair; the private half is zeroized on drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityKeyPair {
    identity_key: IdentityKey,
    private_key: PrivateKey,
}

impl IdentityKeyPair {
    /// A fresh random identity.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        KeyPair::generate(rng).into()
    }

    /// Builds a pair from its halves.
    pub fn new(identity_key: IdentityKey, private_key: PrivateKey) -> Self {
        Self {
            identity_key,
            private_key,
        }
    }

    /// The public identity key.
    pub fn identity_key(&self) -> &IdentityKey {
        &self.identity_key
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        self.identity_key.public_key()
    }

    /// The private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.private_key
    }

    /// Signs `message` with the identity key (XEdDSA).
    pub fn sign<R: CryptoRng + ?Sized>(&self, message: &[u8], rng: &mut R) -> [u8; 64] {
        self.private_key.calculate_signature(message, rng)
    }

    /// libsignal's `IdentityKeyPairStructure` protobuf.
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        let private = self.private_key.serialize();
        let structure = proto::IdentityKeyPairStructure {
            public_key: self.identity_key.serialize().to_vec(),
            private_key: private.to_vec(),
        };
        let out = Zeroizing::new(structure.encode_to_vec());
        let mut structure = structure;
        zeroize::Zeroize::zeroize(&mut structure.private_key);
        out
    }

    /// Parses libsignal's `IdentityKeyPairStructure` protobuf.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let mut structure = proto::IdentityKeyPairStructure::decode(bytes)
            .map_err(|_| malformed("IdentityKeyPair", "invalid protobuf"))?;
        let private = PrivateKey::deserialize(&structure.private_key);
        zeroize::Zeroize::zeroize(&mut structure.private_key);
        let private_key = private?;
        let identity_key = IdentityKey::deserialize(&structure.public_key)?;
        if private_key.public_key() != *identity_key.public_key() {
            return Err(malformed(
                "IdentityKeyPair",
                "public key does not match private key",
            ));
        }
        Ok(Self {
            identity_key,
            private_key,
        })
    }
}

impl From<KeyPair> for IdentityKeyPair {
    fn from(pair: KeyPair) -> Self {
        Self {
            identity_key: IdentityKey(pair.public_key),
            private_key: pair.private_key.clone(),
        }
    }
}
