//! The sans-IO decryptor: encrypted bytes in, verified plaintext out, and on failure an error
//! that says what happened to the stream (see `FORMAT.md`, "Diagnosing failures").
//!
//! Plaintext is released chunk by chunk as each chunk verifies; the whole file is genuine only
//! when [`Decryptor::finish`] succeeds, so a caller writes to a temporary file and keeps it
//! only then.

use sha2::{Digest, Sha256};

use crate::cipher::{ChunkCipher, hash_pair};

use crate::error::{DecryptError, HeaderError};
use crate::format::{FileKey, HEADER_LEN, Header, TAG_LEN, ciphertext_len};

/// How many positions either side of the expected one a failed chunk is tried at, and how
/// many further chunks are read looking for a chunk that went missing, to tell a dropped
/// chunk from a reordered one. Only spent on a stream that has already failed.
const DIAGNOSIS_WINDOW: u32 = 32;

/// What the decryptor reports when the whole stream verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// SHA-256 of the plaintext (`None` when skipped with `skip_plaintext_digest`).
    pub plaintext_sha256: Option<[u8; 32]>,
    /// SHA-256 of the whole encrypted stream (header included).
    pub ciphertext_sha256: [u8; 32],
    /// Plaintext bytes.
    pub plaintext_len: u64,
    /// Encrypted bytes.
    pub ciphertext_len: u64,
}

enum State {
    Running,
    /// Chunk `missing` was not where it belonged; chunk `found` was. Reading on to see
    /// whether `missing` turns up later (reordered) or never (dropped).
    Diagnosing {
        missing: u32,
        found: u32,
        read: u32,
    },
    Failed,
}

/// Decrypts one encrypted attachment stream.
pub struct Decryptor {
    cipher: ChunkCipher,
    header: Option<Header>,
    header_bytes: Vec<u8>,
    expected_chunk_size: Option<u32>,
    expected_plaintext_len: Option<u64>,
    pending: Vec<u8>,
    position: u32,
    state: State,
    plaintext_hash: Option<Sha256>,
    ciphertext_hash: Sha256,
    plaintext_len: u64,
    ciphertext_len: u64,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("header", &self.header)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl Decryptor {
    /// A decryptor for a stream encrypted under `key`.
    pub fn new(key: &FileKey) -> Self {
        Self {
            cipher: key.cipher(),
            header: None,
            header_bytes: Vec::with_capacity(HEADER_LEN),
            expected_chunk_size: None,
            expected_plaintext_len: None,
            pending: Vec::new(),
            position: 0,
            state: State::Running,
            plaintext_hash: Some(Sha256::new()),
            ciphertext_hash: Sha256::new(),
            plaintext_len: 0,
            ciphertext_len: 0,
        }
    }

    /// Skips the plaintext SHA-256 (about a third of the cost): a receiver who checks the
    /// ciphertext digest from the message already knows the plaintext is the sender's.
    pub fn skip_plaintext_digest(mut self) -> Self {
        self.plaintext_hash = None;
        self
    }

    /// Requires the header's chunk size to be `chunk_size` (from the attachment message).
    pub fn expect_chunk_size(mut self, chunk_size: u32) -> Self {
        self.expected_chunk_size = Some(chunk_size);
        self
    }

    /// Requires the plaintext to be `len` bytes (from the attachment message); also lets a
    /// stream cut inside a chunk be reported as truncated rather than corrupted.
    pub fn expect_plaintext_len(mut self, len: u64) -> Self {
        self.expected_plaintext_len = Some(len);
        self
    }

    /// Feeds encrypted bytes; appends the plaintext of every chunk that verified to `out`.
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), DecryptError> {
        if matches!(self.state, State::Failed) {
            return Err(DecryptError::Finished);
        }
        // The ciphertext digest is fed frame by frame as each verifies (with the header
        // first), so it covers the whole stream exactly when the stream is accepted.
        self.ciphertext_len += input.len() as u64;
        let header = match self.header {
            Some(h) => h,
            None => {
                let take = (HEADER_LEN - self.header_bytes.len()).min(input.len());
                self.header_bytes.extend_from_slice(&input[..take]);
                input = &input[take..];
                if self.header_bytes.len() < HEADER_LEN {
                    return Ok(());
                }
                let h = self.fail_on(Header::parse(&self.header_bytes))?;
                if let Some(expected) = self.expected_chunk_size {
                    if expected != h.chunk_size {
                        self.state = State::Failed;
                        return Err(HeaderError::ChunkSizeMismatch {
                            expected,
                            found: h.chunk_size,
                        }
                        .into());
                    }
                }
                self.ciphertext_hash.update(&self.header_bytes);
                self.header = Some(h);
                self.pending.reserve(h.chunk_size as usize + TAG_LEN);
                h
            }
        };
        let full = header.chunk_size as usize + TAG_LEN;
        loop {
            if self.pending.is_empty() && input.len() > full {
                let (chunk, rest) = input.split_at(full);
                let r = self.open(header, chunk, false, out);
                self.fail_on(r)?;
                input = rest;
                continue;
            }
            let take = (full - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if input.is_empty() {
                return Ok(());
            }
            let chunk = std::mem::take(&mut self.pending);
            let r = self.open(header, &chunk, false, out);
            self.pending = chunk;
            self.pending.clear();
            self.fail_on(r)?;
        }
    }

    /// Ends the stream: verifies the final chunk, the announced size, and returns the digests.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<Decrypted, DecryptError> {
        if matches!(self.state, State::Failed) {
            return Err(DecryptError::Finished);
        }
        let Some(header) = self.header else {
            return Err(HeaderError::TooShort(self.header_bytes.len()).into());
        };
        let chunk = std::mem::take(&mut self.pending);
        if let State::Diagnosing { missing, found, .. } = self.state {
            if !chunk.is_empty() && self.try_open(header, &chunk, missing).is_some() {
                return Err(DecryptError::ChunkReordered {
                    position: self.position,
                    found: missing,
                });
            }
            return Err(DecryptError::ChunkMissing {
                index: missing,
                found,
            });
        }
        if chunk.len() < TAG_LEN {
            return Err(DecryptError::Truncated {
                chunks: self.position,
            });
        }
        self.open(header, &chunk, true, out)?;
        if let Some(expected) = self.expected_plaintext_len {
            if expected != self.plaintext_len {
                return Err(DecryptError::SizeMismatch {
                    expected,
                    found: self.plaintext_len,
                });
            }
        }
        Ok(Decrypted {
            plaintext_sha256: self.plaintext_hash.map(|h| h.finalize().into()),
            ciphertext_sha256: self.ciphertext_hash.finalize().into(),
            plaintext_len: self.plaintext_len,
            ciphertext_len: self.ciphertext_len,
        })
    }

    fn fail_on<T, E: Into<DecryptError>>(&mut self, r: Result<T, E>) -> Result<T, DecryptError> {
        r.map_err(|e| {
            self.state = State::Failed;
            e.into()
        })
    }

    /// Opens the chunk at the current position, or works out what went wrong.
    fn open(
        &mut self,
        header: Header,
        chunk: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), DecryptError> {
        let position = self.position;
        if let State::Diagnosing {
            missing,
            found,
            read,
        } = self.state
        {
            if self.try_open(header, chunk, missing).is_some() {
                return Err(DecryptError::ChunkReordered {
                    position,
                    found: missing,
                });
            }
            if read + 1 >= DIAGNOSIS_WINDOW {
                return Err(DecryptError::ChunkMissing {
                    index: missing,
                    found,
                });
            }
            self.state = State::Diagnosing {
                missing,
                found,
                read: read + 1,
            };
            self.position = position.saturating_add(1);
            return Ok(());
        }
        if !last && position == u32::MAX {
            return Err(DecryptError::TooManyChunks);
        }
        let start = out.len();
        let (body, tag) = chunk.split_at(chunk.len() - TAG_LEN);
        out.extend_from_slice(body);
        let nonce = header.nonce(position, last);
        if self
            .cipher
            .open(nonce, &self.header_bytes, &mut out[start..], tag)
        {
            // Both digests now, while the chunk is in cache, in one interleaved pass.
            hash_pair(
                self.plaintext_hash.as_mut(),
                &out[start..],
                &mut self.ciphertext_hash,
                body,
            );
            self.ciphertext_hash.update(tag);
            self.plaintext_len += (out.len() - start) as u64;
            self.position = position.wrapping_add(1);
            return Ok(());
        }
        out.truncate(start);
        self.diagnose(header, chunk, last)
    }

    /// The chunk at `position` failed to open as (`position`, `last`): find out why.
    fn diagnose(&mut self, header: Header, chunk: &[u8], last: bool) -> Result<(), DecryptError> {
        let position = self.position;
        if self.open_as(header, chunk, position, !last) {
            return Err(if last {
                DecryptError::Truncated {
                    chunks: position.saturating_add(1),
                }
            } else {
                DecryptError::Extended {
                    final_index: position,
                }
            });
        }
        for distance in 1..=DIAGNOSIS_WINDOW {
            if let Some(before) = position.checked_sub(distance) {
                if self.try_open(header, chunk, before).is_some() {
                    return Err(DecryptError::ChunkReordered {
                        position,
                        found: before,
                    });
                }
            }
            if let Some(after) = position.checked_add(distance) {
                if let Some(found_last) = self.try_open(header, chunk, after) {
                    if last || found_last {
                        return Err(DecryptError::ChunkMissing {
                            index: position,
                            found: after,
                        });
                    }
                    self.state = State::Diagnosing {
                        missing: position,
                        found: after,
                        read: 0,
                    };
                    self.position = position.saturating_add(1);
                    return Ok(());
                }
            }
        }
        if let Some(expected) = self.expected_plaintext_len {
            // Bytes appended after a short final chunk land in its frame: cut the frame where
            // the announced size says the stream ends and try again.
            let cs = u64::from(header.chunk_size);
            let chunks = expected.div_ceil(cs).max(1);
            let frame = (expected - (chunks - 1) * cs) as usize + TAG_LEN;
            if u64::from(position) + 1 == chunks
                && (chunk.len() > frame || (!last && chunk.len() == frame))
                && self.open_as(header, &chunk[..frame], position, true)
            {
                return Err(DecryptError::Extended {
                    final_index: position,
                });
            }
        }
        if let (true, Some(expected)) = (last, self.expected_plaintext_len) {
            let expected_ct = ciphertext_len(expected, header.chunk_size);
            if self.ciphertext_len < expected_ct {
                return Err(DecryptError::Truncated { chunks: position });
            }
        }
        Err(DecryptError::ChunkCorrupted { index: position })
    }

    /// Whether `chunk` is chunk `index` (final or not); `Some(is_final)` when it is.
    fn try_open(&self, header: Header, chunk: &[u8], index: u32) -> Option<bool> {
        [false, true]
            .into_iter()
            .find(|&last| self.open_as(header, chunk, index, last))
    }

    fn open_as(&self, header: Header, chunk: &[u8], index: u32, last: bool) -> bool {
        if chunk.len() < TAG_LEN {
            return false;
        }
        let (body, tag) = chunk.split_at(chunk.len() - TAG_LEN);
        let mut scratch = body.to_vec();
        self.cipher.open(
            header.nonce(index, last),
            &self.header_bytes,
            &mut scratch,
            tag,
        )
    }
}
