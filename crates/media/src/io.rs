//! Blocking `std::io` adapters around the sans-IO [`Encryptor`] and [`Decryptor`]: constant
//! memory (one chunk plus a read buffer), whatever the file size.

use std::io::{Read, Write};

use crate::error::{DecryptError, EncryptError};
use crate::{Decrypted, Decryptor, Encrypted, Encryptor, FileKey};

/// Read-buffer size of the adapters.
const READ_BUF: usize = 64 * 1024;

/// Why a streaming encryption or decryption stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading the input or writing the output failed.
    #[error("attachment I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// Encryption failed.
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
    /// The encrypted stream is not genuine.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
}

/// Encrypts everything `reader` yields into `writer` with a fresh key; returns the key and
/// the digests.
pub fn encrypt<R: Read, W: Write, G: rand_core::CryptoRng + ?Sized>(
    mut reader: R,
    mut writer: W,
    rng: &mut G,
    chunk_size: u32,
) -> Result<(FileKey, Encrypted), StreamError> {
    let (mut enc, key) = Encryptor::random(rng, chunk_size)?;
    let mut buf = vec![0u8; READ_BUF];
    let mut out = Vec::with_capacity(READ_BUF + chunk_size as usize + 64);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        enc.update(&buf[..n], &mut out)?;
        writer.write_all(&out)?;
        out.clear();
    }
    let done = enc.finish(&mut out)?;
    writer.write_all(&out)?;
    writer.flush()?;
    Ok((key, done))
}

/// Decrypts everything `reader` yields into `writer`. On error the writer holds a prefix of
/// unverified plaintext: discard it.
pub fn decrypt<R: Read, W: Write>(
    mut reader: R,
    mut writer: W,
    mut dec: Decryptor,
) -> Result<Decrypted, StreamError> {
    let mut buf = vec![0u8; READ_BUF];
    let mut out = Vec::with_capacity(READ_BUF * 2);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        dec.update(&buf[..n], &mut out)?;
        writer.write_all(&out)?;
        out.clear();
    }
    let done = dec.finish(&mut out)?;
    writer.write_all(&out)?;
    writer.flush()?;
    Ok(done)
}
