//! Safety numbers: displayable and scannable fingerprints of two identities, equal to libsignal's.
//!
//! Each side's fingerprint is an iterated SHA-512 over a two-byte format version (0), its
//! serialized identity key (`0x05` ‖ X25519) and its stable identifier, rehashed with the key
//! `iterations` times in all (Signal clients use [`DEFAULT_ITERATIONS`]). The **displayable**
//! form is 60 digits: each side's first 30 hash bytes read as six 5-byte big-endian numbers,
//! each taken modulo 100 000 and printed as five digits; the two 30-digit halves are put in
//! ascending order, so both parties see the same string. The **scannable** form is the
//! `CombinedFingerprints` protobuf (`version`, `local_fingerprint`, `remote_fingerprint`, each
//! fingerprint holding the first 32 hash bytes) that a QR code carries; comparing it with the
//! other party's swaps local and remote.

use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::identity::IdentityKey;

/// The iteration count Signal clients use for safety numbers.
pub const DEFAULT_ITERATIONS: u32 = 5200;
/// The fewest iterations accepted (libsignal rejects fewer).
pub const MIN_ITERATIONS: u32 = 2;
/// The most iterations accepted (libsignal rejects more).
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// The hash-input format version: always 0 (independent of the scannable version).
const FORMAT_VERSION: [u8; 2] = [0, 0];
/// Bytes of each side's hash that the displayable form uses.
const DISPLAY_BYTES: usize = 30;
/// Bytes of each side's hash that the scannable form carries.
const SCANNABLE_BYTES: usize = 32;

/// What went wrong computing or comparing safety numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    /// The iteration count is outside what libsignal accepts.
    #[error(
        "fingerprint iterations {iterations} out of range: use {MIN_ITERATIONS}..={MAX_ITERATIONS} (Signal uses {DEFAULT_ITERATIONS})"
    )]
    IterationsOutOfRange {
        /// The iteration count asked for.
        iterations: u32,
    },
    /// The other party's scannable fingerprint has a different version than ours.
    #[error(
        "scannable fingerprint version mismatch: theirs is {theirs}, ours is {ours}; both sides must use the same safety-number version (one of you should update)"
    )]
    VersionMismatch {
        /// The version in the scanned fingerprint.
        theirs: u32,
        /// The version of our fingerprint.
        ours: u32,
    },
    /// The scanned bytes are not a CombinedFingerprints protobuf with both fingerprints.
    #[error("scanned fingerprint is malformed ({0}); scan the other party's code again")]
    MalformedScannable(&'static str),
}

/// Both forms of the safety number of a pair of identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The 60-digit number users read aloud.
    pub displayable: DisplayableFingerprint,
    /// The bytes a QR code carries.
    pub scannable: ScannableFingerprint,
}

impl Fingerprint {
    /// Computes the safety number of `local` (our stable identifier and identity key) with
    /// `remote`; `version` goes into the scannable form (Signal clients use 1 for phone-number
    /// identifiers and 2 for service ids).
    pub fn new(
        version: u32,
        iterations: u32,
        local_id: &[u8],
        local_key: &IdentityKey,
        remote_id: &[u8],
        remote_key: &IdentityKey,
    ) -> Result<Self, FingerprintError> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(FingerprintError::IterationsOutOfRange { iterations });
        }
        let local = side_hash(iterations, local_id, &local_key.serialize());
        let remote = side_hash(iterations, remote_id, &remote_key.serialize());
        Ok(Self {
            displayable: DisplayableFingerprint {
                local: digits(&local),
                remote: digits(&remote),
            },
            scannable: ScannableFingerprint {
                version,
                local: prefix(&local),
                remote: prefix(&remote),
            },
        })
    }
}

/// `SHA-512` iterated: `h = H(version ‖ key ‖ id ‖ key)`, then `h = H(h ‖ key)` until
/// `iterations` hashes have been taken.
fn side_hash(iterations: u32, id: &[u8], key: &[u8]) -> [u8; 64] {
    let mut hash: [u8; 64] = Sha512::new()
        .chain_update(FORMAT_VERSION)
        .chain_update(key)
        .chain_update(id)
        .chain_update(key)
        .finalize()
        .into();
    for _ in 1..iterations {
        hash = Sha512::new()
            .chain_update(hash)
            .chain_update(key)
            .finalize()
            .into();
    }
    hash
}

fn digits(hash: &[u8; 64]) -> String {
    hash[..DISPLAY_BYTES]
        .chunks_exact(5)
        .map(|chunk| {
            let n = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", n % 100_000)
        })
        .collect()
}

fn prefix(hash: &[u8; 64]) -> [u8; SCANNABLE_BYTES] {
    let mut out = [0u8; SCANNABLE_BYTES];
    out.copy_from_slice(&hash[..SCANNABLE_BYTES]);
    out
}

/// The 60-digit safety number; both parties compute the same string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayableFingerprint {
    local: String,
    remote: String,
}

impl std::fmt::Display for DisplayableFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.local <= self.remote {
            write!(f, "{}{}", self.local, self.remote)
        } else {
            write!(f, "{}{}", self.remote, self.local)
        }
    }
}

/// The scannable safety number: our and their 32-byte fingerprints under a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannableFingerprint {
    version: u32,
    local: [u8; SCANNABLE_BYTES],
    remote: [u8; SCANNABLE_BYTES],
}

#[derive(Clone, PartialEq, prost::Message)]
struct CombinedFingerprints {
    #[prost(uint32, optional, tag = "1")]
    version: Option<u32>,
    #[prost(message, optional, tag = "2")]
    local_fingerprint: Option<LogicalFingerprint>,
    #[prost(message, optional, tag = "3")]
    remote_fingerprint: Option<LogicalFingerprint>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct LogicalFingerprint {
    #[prost(bytes = "vec", optional, tag = "1")]
    content: Option<Vec<u8>>,
}

impl ScannableFingerprint {
    /// The scannable version this fingerprint was made with.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The `CombinedFingerprints` protobuf bytes to put in a QR code.
    pub fn to_bytes(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(&CombinedFingerprints {
            version: Some(self.version),
            local_fingerprint: Some(LogicalFingerprint {
                content: Some(self.local.to_vec()),
            }),
            remote_fingerprint: Some(LogicalFingerprint {
                content: Some(self.remote.to_vec()),
            }),
        })
    }

    /// Parses scanned `CombinedFingerprints` bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FingerprintError> {
        let combined: CombinedFingerprints = prost::Message::decode(bytes).map_err(|_| {
            FingerprintError::MalformedScannable("not a CombinedFingerprints protobuf")
        })?;
        let version = combined
            .version
            .ok_or(FingerprintError::MalformedScannable("no version"))?;
        let content = |f: Option<LogicalFingerprint>, what| {
            f.and_then(|f| f.content)
                .and_then(|c| <[u8; SCANNABLE_BYTES]>::try_from(c.as_slice()).ok())
                .ok_or(FingerprintError::MalformedScannable(what))
        };
        Ok(Self {
            version,
            local: content(combined.local_fingerprint, "no 32-byte local fingerprint")?,
            remote: content(combined.remote_fingerprint, "no 32-byte remote fingerprint")?,
        })
    }

    /// Compares with the other party's scanned bytes: `Ok(true)` when their local is our
    /// remote and their remote is our local (in constant time), `Ok(false)` when they differ,
    /// and an error when the versions differ or the bytes are malformed.
    pub fn compare(&self, scanned: &[u8]) -> Result<bool, FingerprintError> {
        let theirs = Self::from_bytes(scanned)?;
        if theirs.version != self.version {
            return Err(FingerprintError::VersionMismatch {
                theirs: theirs.version,
                ours: self.version,
            });
        }
        let same = theirs.local.ct_eq(&self.remote) & theirs.remote.ct_eq(&self.local);
        Ok(same.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displayable_digits_are_five_per_five_bytes() {
        let mut hash = [0u8; 64];
        hash[..5].copy_from_slice(&[0, 0, 0, 0x01, 0x00]); // 256
        hash[5..10].copy_from_slice(&[0xff; 5]); // 1099511627775 % 100000 = 27775
        let d = digits(&hash);
        assert_eq!(d.len(), 30);
        assert_eq!(&d[..10], "0025627775");
    }

    #[test]
    fn malformed_scans_are_rejected() {
        assert_eq!(
            ScannableFingerprint::from_bytes(&[8, 1]),
            Err(FingerprintError::MalformedScannable(
                "no 32-byte local fingerprint"
            ))
        );
        assert!(matches!(
            ScannableFingerprint::from_bytes(&[0xff, 0xff]),
            Err(FingerprintError::MalformedScannable(_))
        ));
    }
}
