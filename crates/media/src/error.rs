//! What can go wrong when encrypting or decrypting an attachment.

/// The 16-byte header at the start of an encrypted attachment is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer than 16 bytes arrived before the stream ended.
    #[error(
        "the attachment ends inside its 16-byte header ({0} bytes); the file is cut short or is not a Portico attachment"
    )]
    TooShort(usize),
    /// The first four bytes are not `PMED`.
    #[error(
        "the attachment does not start with the bytes \"PMED\"; it is not a Portico encrypted attachment"
    )]
    BadMagic,
    /// A format version this code does not implement.
    #[error("attachment format version {0} is not supported (only version 1); update the client")]
    UnsupportedVersion(u8),
    /// The chunk size is outside 1 KiB..=1 MiB.
    #[error("attachment chunk size {0} is outside the allowed 1024..=1048576 bytes")]
    BadChunkSize(u32),
    /// The header's chunk size differs from the one the attachment message announced.
    #[error("attachment chunk size {found} differs from the {expected} the message announced")]
    ChunkSizeMismatch {
        /// What the message said.
        expected: u32,
        /// What the header says.
        found: u32,
    },
}

/// Why an encrypted attachment was refused. Every variant means: discard what was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The header is malformed.
    #[error("bad attachment header: {0}")]
    BadHeader(#[from] HeaderError),
    /// A chunk failed authentication and is no chunk of this file in any nearby position:
    /// bytes were changed (or the key is wrong).
    #[error(
        "chunk {index} of the attachment failed authentication: its bytes were altered in transit or storage, or the key is wrong"
    )]
    ChunkCorrupted {
        /// Zero-based position of the chunk in the stream.
        index: u32,
    },
    /// The chunk at `index` is missing: the next one found belongs further on.
    #[error(
        "chunk {index} of the attachment is missing (the chunk in its place is chunk {found}); the download dropped data"
    )]
    ChunkMissing {
        /// The chunk that should have come.
        index: u32,
        /// The chunk that came instead.
        found: u32,
    },
    /// A chunk of this file arrived in the wrong position.
    #[error(
        "chunk {found} of the attachment arrived at position {position}; the chunks were reordered or repeated"
    )]
    ChunkReordered {
        /// Where it arrived.
        position: u32,
        /// Which chunk it is.
        found: u32,
    },
    /// The stream ended before its final chunk.
    #[error(
        "the attachment stream ended after {chunks} complete chunks without its final chunk; the file is truncated, download it again"
    )]
    Truncated {
        /// How many chunks were received and verified before the end.
        chunks: u32,
    },
    /// Bytes follow the final chunk.
    #[error(
        "data follows the final chunk ({final_index}) of the attachment; the stream was extended"
    )]
    Extended {
        /// Position of the final chunk.
        final_index: u32,
    },
    /// The stream has more chunks than the format allows (2^32).
    #[error("the attachment has more than 2^32 chunks, which the format does not allow")]
    TooManyChunks,
    /// The decrypted size differs from the size the attachment message announced.
    #[error(
        "the attachment decrypted to {found} bytes, not the {expected} bytes the message announced"
    )]
    SizeMismatch {
        /// Announced plaintext size.
        expected: u64,
        /// Actual plaintext size.
        found: u64,
    },
    /// The decryptor was used after it reported an error or finished.
    #[error("the attachment decryptor was used after it failed or finished")]
    Finished,
}

/// Why encryption stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncryptError {
    /// The chunk size is outside 1 KiB..=1 MiB.
    #[error("attachment chunk size {0} is outside the allowed 1024..=1048576 bytes")]
    BadChunkSize(u32),
    /// The file needs more chunks than the format allows.
    #[error("the file is too large: it needs more than 2^32 chunks; use a larger chunk size")]
    TooManyChunks,
    /// The encryptor was used after `finish`.
    #[error("the attachment encryptor was used after finish")]
    Finished,
}
