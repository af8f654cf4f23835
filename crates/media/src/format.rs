//! The format's constants, the header, the file key and the per-chunk nonce (see `FORMAT.md`).

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::HeaderError;

/// The four bytes every encrypted attachment starts with.
pub const MAGIC: [u8; 4] = *b"PMED";
/// The format version this crate writes and reads.
pub const VERSION: u8 = 1;
/// Length of the header in bytes.
pub const HEADER_LEN: usize = 16;
/// Length of the random per-file nonce prefix.
pub const NONCE_PREFIX_LEN: usize = 7;
/// Length of the file key (AES-256).
pub const KEY_LEN: usize = 32;
/// Length of each chunk's GCM tag.
pub const TAG_LEN: usize = 16;
/// Plaintext bytes per chunk unless the sender chooses otherwise: 64 KiB.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// Smallest chunk size a reader accepts.
pub const MIN_CHUNK_SIZE: u32 = 1024;
/// Largest chunk size a reader accepts (bounds a reader's memory).
pub const MAX_CHUNK_SIZE: u32 = 1024 * 1024;

/// A 32-byte attachment key, fresh for every file; zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct FileKey([u8; KEY_LEN]);

impl FileKey {
    /// A fresh random key.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut k = [0u8; KEY_LEN];
        rng.fill_bytes(&mut k);
        Self(k)
    }

    /// The key from its 32 bytes (as carried in the attachment message).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key from a slice; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; KEY_LEN]>::try_from(bytes).ok().map(Self)
    }

    /// The key's bytes, to put into the attachment message.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub(crate) fn cipher(&self) -> crate::cipher::ChunkCipher {
        crate::cipher::ChunkCipher::new(self)
    }
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(..)")
    }
}

/// The 16-byte header: magic, version, chunk size, nonce prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Plaintext bytes per chunk (every chunk but the last holds exactly this many).
    pub chunk_size: u32,
    /// Random per-file prefix of every chunk nonce.
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
}

impl Header {
    /// The header's 16 bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[5..9].copy_from_slice(&self.chunk_size.to_be_bytes());
        out[9..].copy_from_slice(&self.nonce_prefix);
        out
    }

    /// Parses and checks a header.
    pub fn parse(bytes: &[u8]) -> Result<Self, HeaderError> {
        let b: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(HeaderError::TooShort(bytes.len()))?;
        if b[..4] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        if b[4] != VERSION {
            return Err(HeaderError::UnsupportedVersion(b[4]));
        }
        let chunk_size = u32::from_be_bytes([b[5], b[6], b[7], b[8]]);
        check_chunk_size(chunk_size).map_err(HeaderError::BadChunkSize)?;
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(&b[9..]);
        Ok(Self {
            chunk_size,
            nonce_prefix,
        })
    }

    /// The 12-byte GCM nonce of chunk `counter`: prefix ‖ counter (u32 BE) ‖ last flag.
    pub(crate) fn nonce(&self, counter: u32, last: bool) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..NONCE_PREFIX_LEN].copy_from_slice(&self.nonce_prefix);
        n[7..11].copy_from_slice(&counter.to_be_bytes());
        n[11] = u8::from(last);
        n
    }
}

pub(crate) fn check_chunk_size(size: u32) -> Result<(), u32> {
    if (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(size)
    }
}

/// The length of the encrypted attachment for a plaintext of `plaintext_len` bytes.
pub fn ciphertext_len(plaintext_len: u64, chunk_size: u32) -> u64 {
    let cs = u64::from(chunk_size.max(1));
    let chunks = plaintext_len.div_ceil(cs).max(1);
    HEADER_LEN as u64 + plaintext_len + chunks * TAG_LEN as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_each_defect() {
        let h = Header {
            chunk_size: 4096,
            nonce_prefix: [1, 2, 3, 4, 5, 6, 7],
        };
        let b = h.to_bytes();
        assert_eq!(Header::parse(&b), Ok(h));
        assert_eq!(Header::parse(&b[..5]), Err(HeaderError::TooShort(5)));
        let mut bad = b;
        bad[0] = b'X';
        assert_eq!(Header::parse(&bad), Err(HeaderError::BadMagic));
        let mut bad = b;
        bad[4] = 2;
        assert_eq!(Header::parse(&bad), Err(HeaderError::UnsupportedVersion(2)));
        let mut bad = b;
        bad[5..9].copy_from_slice(&100u32.to_be_bytes());
        assert_eq!(Header::parse(&bad), Err(HeaderError::BadChunkSize(100)));
    }

    #[test]
    fn nonce_layout_is_prefix_counter_flag() {
        let h = Header {
            chunk_size: 4096,
            nonce_prefix: [9; 7],
        };
        assert_eq!(
            h.nonce(0x01020304, true),
            [9, 9, 9, 9, 9, 9, 9, 1, 2, 3, 4, 1]
        );
        assert_eq!(h.nonce(5, false)[7..], [0, 0, 0, 5, 0]);
    }

    #[test]
    fn ciphertext_len_counts_one_tag_per_chunk_and_one_for_empty() {
        assert_eq!(ciphertext_len(0, 1024), 16 + 16);
        assert_eq!(ciphertext_len(1024, 1024), 16 + 1024 + 16);
        assert_eq!(ciphertext_len(1025, 1024), 16 + 1025 + 32);
    }
}
