//! The two Sender Key wire messages, in libsignal's format.
//!
//! Both start with a version byte, `(message version << 4) | current version` (`0x33` today),
//! followed by a protobuf. A `SenderKeyMessage` ends with a 64-byte XEdDSA signature by the
//! sender's signing key over everything before it.
//!
//! ```text
//! SenderKeyDistributionMessage { 1: distribution_uuid bytes(16), 2: chain_id uint32,
//!                                3: iteration uint32, 4: chain_key bytes(32),
//!                                5: signing_key bytes(33: 0x05 ‖ u) }
//! SenderKeyMessage             { 1: distribution_uuid bytes(16), 2: chain_id uint32,
//!                                3: iteration uint32, 4: ciphertext bytes }
//! ```

use prost::Message as _;
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use super::{DistributionId, SenderKeyError};
use crate::keys::{PrivateKey, PublicKey};
use crate::xeddsa::SIGNATURE_LENGTH;

/// The Sender Key message version this crate writes and reads (the high and low nibble of the
/// version byte).
pub const SENDER_KEY_MESSAGE_VERSION: u8 = 3;

#[derive(Clone, PartialEq, prost::Message)]
struct DistributionProto {
    #[prost(bytes = "vec", optional, tag = "1")]
    distribution_uuid: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "2")]
    chain_id: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    iteration: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "4")]
    chain_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "5")]
    signing_key: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MessageProto {
    #[prost(bytes = "vec", optional, tag = "1")]
    distribution_uuid: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "2")]
    chain_id: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    iteration: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "4")]
    ciphertext: Option<Vec<u8>>,
}

fn version_byte(message_version: u8) -> u8 {
    (message_version << 4) | SENDER_KEY_MESSAGE_VERSION
}

/// Checks the version byte and returns the message version (its high nibble).
fn check_version(what: &'static str, bytes: &[u8]) -> Result<u8, SenderKeyError> {
    let first = *bytes.first().ok_or(SenderKeyError::Malformed {
        what,
        reason: "empty",
    })?;
    let version = first >> 4;
    if version < SENDER_KEY_MESSAGE_VERSION {
        return Err(SenderKeyError::LegacyVersion(version));
    }
    if version > SENDER_KEY_MESSAGE_VERSION {
        return Err(SenderKeyError::UnrecognizedVersion(version));
    }
    Ok(version)
}

fn distribution_id(
    what: &'static str,
    bytes: Option<Vec<u8>>,
) -> Result<DistributionId, SenderKeyError> {
    let bytes = bytes.ok_or(SenderKeyError::Malformed {
        what,
        reason: "no distribution id",
    })?;
    let raw: [u8; 16] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| SenderKeyError::Malformed {
            what,
            reason: "distribution id is not 16 bytes",
        })?;
    Ok(DistributionId::from_bytes(raw))
}

/// What a sender gives each group member (over a 1:1 session) so they can read its messages:
/// its chain id, current iteration and chain key, and its public signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct SenderKeyDistributionMessage {
    message_version: u8,
    distribution_id: DistributionId,
    chain_id: u32,
    iteration: u32,
    chain_key: Zeroizing<[u8; 32]>,
    signing_key: PublicKey,
    serialized: Vec<u8>,
}

impl core::fmt::Debug for SenderKeyDistributionMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SenderKeyDistributionMessage")
            .field("distribution_id", &self.distribution_id)
            .field("chain_id", &self.chain_id)
            .field("iteration", &self.iteration)
            .finish_non_exhaustive()
    }
}

impl Drop for SenderKeyDistributionMessage {
    fn drop(&mut self) {
        // The serialized form carries the chain key too.
        self.serialized.zeroize();
    }
}

impl SenderKeyDistributionMessage {
    /// Builds and serializes a distribution message.
    pub fn new(
        message_version: u8,
        distribution_id: DistributionId,
        chain_id: u32,
        iteration: u32,
        chain_key: [u8; 32],
        signing_key: PublicKey,
    ) -> Self {
        let mut proto = DistributionProto {
            distribution_uuid: Some(distribution_id.as_bytes().to_vec()),
            chain_id: Some(chain_id),
            iteration: Some(iteration),
            chain_key: Some(chain_key.to_vec()),
            signing_key: Some(signing_key.serialize().to_vec()),
        };
        let mut serialized = Vec::with_capacity(1 + proto.encoded_len());
        serialized.push(version_byte(message_version));
        proto
            .encode(&mut serialized)
            .expect("a Vec grows as needed");
        proto.chain_key.zeroize();
        Self {
            message_version,
            distribution_id,
            chain_id,
            iteration,
            chain_key: Zeroizing::new(chain_key),
            signing_key,
            serialized,
        }
    }

    /// Parses a distribution message, checking its version and every field.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SenderKeyError> {
        const WHAT: &str = "SenderKeyDistributionMessage";
        let message_version = check_version(WHAT, bytes)?;
        let mut proto =
            DistributionProto::decode(&bytes[1..]).map_err(|_| SenderKeyError::Malformed {
                what: WHAT,
                reason: "invalid protobuf",
            })?;
        let missing = |reason| SenderKeyError::Malformed { what: WHAT, reason };
        let chain_key = Zeroizing::new(
            <[u8; 32]>::try_from(proto.chain_key.as_deref().unwrap_or_default())
                .map_err(|_| missing("chain key is not 32 bytes"))?,
        );
        if let Some(key) = proto.chain_key.as_mut() {
            key.zeroize();
        }
        let signing_key = PublicKey::deserialize(
            proto
                .signing_key
                .as_deref()
                .ok_or(missing("no signing key"))?,
        )
        .map_err(SenderKeyError::InvalidSigningKey)?;
        Ok(Self {
            message_version,
            distribution_id: distribution_id(WHAT, proto.distribution_uuid)?,
            chain_id: proto.chain_id.ok_or(missing("no chain id"))?,
            iteration: proto.iteration.ok_or(missing("no iteration"))?,
            chain_key,
            signing_key,
            serialized: bytes.to_vec(),
        })
    }

    /// The message version (3).
    pub fn message_version(&self) -> u8 {
        self.message_version
    }
    /// The group's distribution id.
    pub fn distribution_id(&self) -> DistributionId {
        self.distribution_id
    }
    /// The sender's chain id.
    pub fn chain_id(&self) -> u32 {
        self.chain_id
    }
    /// The iteration the chain key belongs to.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }
    /// The chain key (secret).
    pub fn chain_key(&self) -> &[u8; 32] {
        &self.chain_key
    }
    /// The sender's public signing key.
    pub fn signing_key(&self) -> &PublicKey {
        &self.signing_key
    }
    /// The wire bytes (secret: they carry the chain key).
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// One encrypted group message, signed by the sender's signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderKeyMessage {
    message_version: u8,
    distribution_id: DistributionId,
    chain_id: u32,
    iteration: u32,
    ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SenderKeyMessage {
    /// Builds, signs and serializes a group message.
    pub fn new<R: CryptoRng + ?Sized>(
        message_version: u8,
        distribution_id: DistributionId,
        chain_id: u32,
        iteration: u32,
        ciphertext: Vec<u8>,
        signing_key: &PrivateKey,
        rng: &mut R,
    ) -> Self {
        let proto = MessageProto {
            distribution_uuid: Some(distribution_id.as_bytes().to_vec()),
            chain_id: Some(chain_id),
            iteration: Some(iteration),
            ciphertext: Some(ciphertext),
        };
        let mut serialized = Vec::with_capacity(1 + proto.encoded_len() + SIGNATURE_LENGTH);
        serialized.push(version_byte(message_version));
        proto
            .encode(&mut serialized)
            .expect("a Vec grows as needed");
        let signature = signing_key.calculate_signature(&serialized, rng);
        serialized.extend_from_slice(&signature);
        Self {
            message_version,
            distribution_id,
            chain_id,
            iteration,
            ciphertext: proto.ciphertext.unwrap_or_default(),
            serialized,
        }
    }

    /// Parses a group message (the signature is checked later, against the sender's state).
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SenderKeyError> {
        const WHAT: &str = "SenderKeyMessage";
        let message_version = check_version(WHAT, bytes)?;
        let body_end = bytes
            .len()
            .checked_sub(SIGNATURE_LENGTH)
            .filter(|&end| end >= 1)
            .ok_or(SenderKeyError::Malformed {
                what: WHAT,
                reason: "shorter than its signature",
            })?;
        let proto =
            MessageProto::decode(&bytes[1..body_end]).map_err(|_| SenderKeyError::Malformed {
                what: WHAT,
                reason: "invalid protobuf",
            })?;
        let missing = |reason| SenderKeyError::Malformed { what: WHAT, reason };
        Ok(Self {
            message_version,
            distribution_id: distribution_id(WHAT, proto.distribution_uuid)?,
            chain_id: proto.chain_id.ok_or(missing("no chain id"))?,
            iteration: proto.iteration.ok_or(missing("no iteration"))?,
            ciphertext: proto.ciphertext.ok_or(missing("no ciphertext"))?,
            serialized: bytes.to_vec(),
        })
    }

    /// True when the signature verifies under the sender's public signing key.
    pub fn verify_signature(&self, signing_key: &PublicKey) -> bool {
        let split = self.serialized.len() - SIGNATURE_LENGTH;
        signing_key.verify_signature(&self.serialized[..split], &self.serialized[split..])
    }

    /// The message version (3).
    pub fn message_version(&self) -> u8 {
        self.message_version
    }
    /// The group's distribution id.
    pub fn distribution_id(&self) -> DistributionId {
        self.distribution_id
    }
    /// The sender's chain id.
    pub fn chain_id(&self) -> u32 {
        self.chain_id
    }
    /// The chain iteration of this message.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }
    /// The AES-256-CBC ciphertext.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }
    /// The wire bytes, signature included.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}
