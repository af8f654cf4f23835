//! Attachment encryption for Portico: a fresh key per file and a chunked streaming AEAD
//! (AES-256-GCM in the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár), so a
//! receiver verifies a large file while it streams and detects a flipped byte, a dropped,
//! reordered or duplicated chunk, a truncated stream and data appended after the end.
//!
//! The wire format is specified in `FORMAT.md` beside this crate; `tests/vectors.json` holds
//! test vectors. The core is sans-IO: [`Encryptor`] and [`Decryptor`] take byte slices and
//! return byte vectors; [`io`] wraps them around `std::io` readers and writers.
//! [`blob`] is the blob-storage interface (with a disk backend) shared by the hub and the
//! reference provider. [`thumbnail`] (feature `thumbnail`) makes image previews under
//! decode limits; [`duration`] reads the play time of MP4, WAV and Ogg files from their
//! containers.

pub mod blob;
mod cipher;
mod decrypt;
pub mod duration;
mod encrypt;
mod error;
mod format;
pub mod io;
#[cfg(feature = "net")]
pub mod net;
#[cfg(feature = "thumbnail")]
pub mod thumbnail;
#[cfg(feature = "upload")]
pub mod upload;

pub use decrypt::{Decrypted, Decryptor};
pub use encrypt::{Encrypted, Encryptor};
pub use error::{DecryptError, EncryptError, HeaderError};
pub use format::{
    DEFAULT_CHUNK_SIZE, FileKey, HEADER_LEN, Header, KEY_LEN, MAGIC, MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE, NONCE_PREFIX_LEN, TAG_LEN, VERSION, ciphertext_len,
};
/// The RNG traits [`Encryptor::random`] takes.
pub use rand_core;
