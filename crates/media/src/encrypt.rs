//! The sans-IO encryptor: plaintext slices in, header and sealed chunks out.

use sha2::{Digest, Sha256};

use crate::cipher::{ChunkCipher, hash_pair};

use crate::error::EncryptError;
use crate::format::{FileKey, HEADER_LEN, Header, NONCE_PREFIX_LEN, check_chunk_size};

/// What the encryptor reports at the end: what goes into the attachment message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// SHA-256 of the plaintext (`None` when skipped with `skip_plaintext_digest`).
    pub plaintext_sha256: Option<[u8; 32]>,
    /// SHA-256 of the whole encrypted attachment (header included), as uploaded.
    pub ciphertext_sha256: [u8; 32],
    /// Plaintext bytes.
    pub plaintext_len: u64,
    /// Encrypted bytes (header and tags included).
    pub ciphertext_len: u64,
}

/// Encrypts one file, chunk by chunk. Feed it with [`Encryptor::update`], end with
/// [`Encryptor::finish`]; the output is the exact byte stream to upload.
pub struct Encryptor {
    cipher: ChunkCipher,
    header: Header,
    header_bytes: [u8; HEADER_LEN],
    header_emitted: bool,
    pending: Vec<u8>,
    counter: u32,
    plaintext_hash: Option<Sha256>,
    ciphertext_hash: Sha256,
    plaintext_len: u64,
    ciphertext_len: u64,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("chunk_size", &self.header.chunk_size)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl Encryptor {
    /// An encryptor with a fresh random key and nonce prefix; returns the key to share.
    pub fn random<R: rand_core::CryptoRng + ?Sized>(
        rng: &mut R,
        chunk_size: u32,
    ) -> Result<(Self, FileKey), EncryptError> {
        let key = FileKey::generate(rng);
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        rng.fill_bytes(&mut nonce_prefix);
        let enc = Self::new(
            &key,
            Header {
                chunk_size,
                nonce_prefix,
            },
        )?;
        Ok((enc, key))
    }

    /// An encryptor with the given key and header (for test vectors; use [`Encryptor::random`]).
    pub fn new(key: &FileKey, header: Header) -> Result<Self, EncryptError> {
        check_chunk_size(header.chunk_size).map_err(EncryptError::BadChunkSize)?;
        Ok(Self {
            cipher: key.cipher(),
            header,
            header_bytes: header.to_bytes(),
            header_emitted: false,
            pending: Vec::with_capacity(header.chunk_size as usize),
            counter: 0,
            plaintext_hash: Some(Sha256::new()),
            ciphertext_hash: Sha256::new(),
            plaintext_len: 0,
            ciphertext_len: 0,
        })
    }

    /// Skips the plaintext SHA-256 (about a third of the cost): the ciphertext digest and
    /// the AEAD already fix the plaintext for a receiver who has the key.
    pub fn skip_plaintext_digest(mut self) -> Self {
        self.plaintext_hash = None;
        self
    }

    /// The header this encryptor writes.
    pub fn header(&self) -> Header {
        self.header
    }

    /// Encrypts `input`, appending whatever is ready to `out`. A full chunk is held back until
    /// more input (or `finish`) tells whether it is the last one.
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), EncryptError> {
        self.emit_header(out);
        let cs = self.header.chunk_size as usize;
        loop {
            if self.pending.is_empty() && input.len() > cs {
                let (chunk, rest) = input.split_at(cs);
                self.seal(chunk, false, out)?;
                input = rest;
                continue;
            }
            let take = (cs - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if input.is_empty() {
                return Ok(());
            }
            let chunk = std::mem::take(&mut self.pending);
            let sealed = self.seal(&chunk, false, out);
            self.pending = chunk;
            self.pending.clear();
            sealed?;
        }
    }

    /// Seals the final chunk and returns the digests and lengths.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<Encrypted, EncryptError> {
        self.emit_header(out);
        let chunk = std::mem::take(&mut self.pending);
        self.seal(&chunk, true, out)?;
        Ok(Encrypted {
            plaintext_sha256: self.plaintext_hash.map(|h| h.finalize().into()),
            ciphertext_sha256: self.ciphertext_hash.finalize().into(),
            plaintext_len: self.plaintext_len,
            ciphertext_len: self.ciphertext_len,
        })
    }

    fn emit_header(&mut self, out: &mut Vec<u8>) {
        if !self.header_emitted {
            self.header_emitted = true;
            out.extend_from_slice(&self.header_bytes);
            self.ciphertext_hash.update(self.header_bytes);
            self.ciphertext_len += HEADER_LEN as u64;
        }
    }

    fn seal(&mut self, chunk: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), EncryptError> {
        if self.counter == u32::MAX && !last {
            return Err(EncryptError::TooManyChunks);
        }
        let start = out.len();
        out.extend_from_slice(chunk);
        let nonce = self.header.nonce(self.counter, last);
        let tag = self
            .cipher
            .seal(nonce, &self.header_bytes, &mut out[start..]);
        // Both digests now, while the chunk is in cache, in one interleaved pass.
        hash_pair(
            self.plaintext_hash.as_mut(),
            chunk,
            &mut self.ciphertext_hash,
            &out[start..],
        );
        self.ciphertext_hash.update(tag);
        out.extend_from_slice(&tag);
        self.plaintext_len += chunk.len() as u64;
        self.ciphertext_len += (out.len() - start) as u64;
        self.counter = self.counter.wrapping_add(1);
        Ok(())
    }
}
