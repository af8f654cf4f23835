//! Prekey bundles: what a device publishes so others can start a session with it.

use crate::identity::IdentityKey;
use crate::kem::KemPublicKey;
use crate::keys::PublicKey;

/// A device's published prekeys. The Kyber prekey is optional only for interoperating with
/// X3DH-era peers; with it the session is PQXDH (version 4), without it X3DH (version 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The device's registration id.
    pub registration_id: u32,
    /// The device id.
    pub device_id: u32,
    /// One-time Curve25519 prekey `(id, key)`, if the server had one left.
    pub pre_key: Option<(u32, PublicKey)>,
    /// Signed prekey id.
    pub signed_pre_key_id: u32,
    /// Signed prekey.
    pub signed_pre_key: PublicKey,
    /// XEdDSA signature by the identity key over `signed_pre_key.serialize()`.
    pub signed_pre_key_signature: Vec<u8>,
    /// The device's identity key.
    pub identity_key: IdentityKey,
    /// Signed Kyber prekey: `(id, key, signature over key.serialize())`.
    pub kyber_pre_key: Option<KyberBundleEntry>,
}

/// The Kyber part of a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KyberBundleEntry {
    /// Kyber prekey id.
    pub id: u32,
    /// The KEM public key.
    pub public_key: KemPublicKey,
    /// XEdDSA signature by the identity key over `public_key.serialize()`.
    pub signature: Vec<u8>,
}
