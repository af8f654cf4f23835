//! Prekey records as the owner stores them, serialized in libsignal's `storage.proto` layouts
//! (`PreKeyRecordStructure`; `SignedPreKeyRecordStructure`, which libsignal also uses for Kyber
//! prekeys), so a client can persist them and read libsignal's.

use prost::Message as _;
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Result, malformed};
use crate::identity::IdentityKeyPair;
use crate::kem::{KemKeyPair, KemKeyType, KemPublicKey};
use crate::keys::{KeyPair, PublicKey};
use crate::proto;

/// A one-time Curve25519 prekey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyRecord {
    id: u32,
    key_pair: KeyPair,
}

impl PreKeyRecord {
    /// A record for `key_pair` under `id`.
    pub fn new(id: u32, key_pair: KeyPair) -> Self {
        Self { id, key_pair }
    }

    /// A fresh random prekey under `id`.
    pub fn generate<R: CryptoRng + ?Sized>(id: u32, rng: &mut R) -> Self {
        Self::new(id, KeyPair::generate(rng))
    }

    /// The prekey id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The key pair.
    pub fn key_pair(&self) -> &KeyPair {
        &self.key_pair
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.key_pair.public_key
    }

    /// libsignal's `PreKeyRecordStructure`.
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        let mut s = proto::PreKeyRecordStructure {
            id: self.id,
            public_key: self.key_pair.public_key.serialize().to_vec(),
            private_key: self.key_pair.private_key.serialize().to_vec(),
        };
        let out = Zeroizing::new(s.encode_to_vec());
        s.private_key.zeroize();
        out
    }

    /// Parses libsignal's `PreKeyRecordStructure`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let mut s = proto::PreKeyRecordStructure::decode(bytes)
            .map_err(|_| malformed("PreKeyRecord", "invalid protobuf"))?;
        let pair = KeyPair::from_serialized(&s.public_key, &s.private_key);
        s.private_key.zeroize();
        Ok(Self {
            id: s.id,
            key_pair: pair?,
        })
    }
}

/// A signed Curve25519 prekey (medium-term, signed by the identity key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPreKeyRecord {
    id: u32,
    timestamp: u64,
    key_pair: KeyPair,
    signature: Vec<u8>,
}

impl SignedPreKeyRecord {
    /// A record from its parts (`timestamp` in milliseconds since the Unix epoch).
    pub fn new(id: u32, timestamp: u64, key_pair: KeyPair, signature: Vec<u8>) -> Self {
        Self {
            id,
            timestamp,
            key_pair,
            signature,
        }
    }

    /// A fresh key pair under `id`, signed by `identity` over its serialized public key.
    pub fn generate<R: CryptoRng + ?Sized>(
        id: u32,
        timestamp: u64,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) -> Self {
        let key_pair = KeyPair::generate(rng);
        let signature = identity
            .sign(&key_pair.public_key.serialize(), rng)
            .to_vec();
        Self::new(id, timestamp, key_pair, signature)
    }

    /// The signed prekey id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Creation time, milliseconds since the Unix epoch.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The key pair.
    pub fn key_pair(&self) -> &KeyPair {
        &self.key_pair
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.key_pair.public_key
    }

    /// The identity's XEdDSA signature over the serialized public key.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// libsignal's `SignedPreKeyRecordStructure`.
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        let mut s = proto::SignedPreKeyRecordStructure {
            id: self.id,
            public_key: self.key_pair.public_key.serialize().to_vec(),
            private_key: self.key_pair.private_key.serialize().to_vec(),
            signature: self.signature.clone(),
            timestamp: self.timestamp,
        };
        let out = Zeroizing::new(s.encode_to_vec());
        s.private_key.zeroize();
        out
    }

    /// Parses libsignal's `SignedPreKeyRecordStructure`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let mut s = proto::SignedPreKeyRecordStructure::decode(bytes)
            .map_err(|_| malformed("SignedPreKeyRecord", "invalid protobuf"))?;
        let pair = KeyPair::from_serialized(&s.public_key, &s.private_key);
        s.private_key.zeroize();
        Ok(Self {
            id: s.id,
            timestamp: s.timestamp,
            key_pair: pair?,
            signature: s.signature,
        })
    }
}

/// A signed Kyber prekey (one-time or last-resort; the store decides which).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KyberPreKeyRecord {
    id: u32,
    timestamp: u64,
    key_pair: KemKeyPair,
    signature: Vec<u8>,
}

impl KyberPreKeyRecord {
    /// A record from its parts (`timestamp` in milliseconds since the Unix epoch).
    pub fn new(id: u32, timestamp: u64, key_pair: KemKeyPair, signature: Vec<u8>) -> Self {
        Self {
            id,
            timestamp,
            key_pair,
            signature,
        }
    }

    /// A fresh KEM key pair of `key_type` under `id`, signed by `identity` over its
    /// serialized public key.
    pub fn generate<R: CryptoRng + ?Sized>(
        key_type: KemKeyType,
        id: u32,
        timestamp: u64,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) -> Self {
        let key_pair = KemKeyPair::generate(key_type, rng);
        let signature = identity
            .sign(&key_pair.public_key.serialize(), rng)
            .to_vec();
        Self::new(id, timestamp, key_pair, signature)
    }

    /// The Kyber prekey id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Creation time, milliseconds since the Unix epoch.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The KEM key pair.
    pub fn key_pair(&self) -> &KemKeyPair {
        &self.key_pair
    }

    /// The public key.
    pub fn public_key(&self) -> &KemPublicKey {
        &self.key_pair.public_key
    }

    /// The identity's XEdDSA signature over the serialized public key.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// libsignal's layout (`SignedPreKeyRecordStructure` holding KEM keys).
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        let mut s = proto::SignedPreKeyRecordStructure {
            id: self.id,
            public_key: self.key_pair.public_key.serialize(),
            private_key: self.key_pair.secret_key.serialize().to_vec(),
            signature: self.signature.clone(),
            timestamp: self.timestamp,
        };
        let out = Zeroizing::new(s.encode_to_vec());
        s.private_key.zeroize();
        out
    }

    /// Parses libsignal's layout.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let mut s = proto::SignedPreKeyRecordStructure::decode(bytes)
            .map_err(|_| malformed("KyberPreKeyRecord", "invalid protobuf"))?;
        let pair = KemKeyPair::from_serialized(&s.public_key, &s.private_key);
        s.private_key.zeroize();
        Ok(Self {
            id: s.id,
            timestamp: s.timestamp,
            key_pair: pair?,
            signature: s.signature,
        })
    }
}
