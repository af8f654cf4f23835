//! The hub's own secrets for the provider gateway, kept in the data dir and created on first
//! start (mode 0600): `hub-signing.key`, the Ed25519 key that signs the hub's requests to
//! providers (its public half is what `portico admin hub-key` prints), and `hub-secret.key`,
//! the HMAC key that derives internal JIDs and device credentials. Both hold the URL-safe
//! base64 of 32 bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// File name of the hub's Ed25519 signing key in the data dir.
pub const SIGNING_KEY_FILE: &str = "hub-signing.key";
/// File name of the hub's HMAC secret in the data dir.
pub const SECRET_FILE: &str = "hub-secret.key";

/// Why the hub's keys could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing the file failed.
    #[error("cannot use the key file {path}: {source}; check the data dir's permissions")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not hold the base64 of 32 bytes.
    #[error(
        "the key file {path} is damaged (it must hold the URL-safe base64 of 32 bytes); restore it from a backup (deleting it changes the hub's identity and every third-party JID)"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
    },
    /// No randomness was available.
    #[error("no randomness available to create {0}")]
    NoRandomness(PathBuf),
}

/// The hub's signing key and HMAC secret.
pub struct HubKeys {
    /// Signs the hub's requests to providers.
    pub signing: SigningKey,
    /// Derives internal JIDs and device credentials.
    pub secret: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for HubKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubKeys")
            .field("public", &self.public_b64())
            .finish_non_exhaustive()
    }
}

impl HubKeys {
    /// Loads the keys from `data_dir`, creating any that is missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyFileError> {
        let seed = load_or_create_32(&data_dir.join(SIGNING_KEY_FILE))?;
        let secret = load_or_create_32(&data_dir.join(SECRET_FILE))?;
        Ok(Self {
            signing: SigningKey::from_bytes(&seed),
            secret,
        })
    }

    /// The public verifying key.
    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key as URL-safe base64 without padding (what providers configure).
    pub fn public_b64(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.public().as_bytes())
    }
}

fn load_or_create_32(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => decode(&text).ok_or_else(|| KeyFileError::Damaged {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = Zeroizing::new([0u8; 32]);
            getrandom::fill(bytes.as_mut())
                .map_err(|_| KeyFileError::NoRandomness(path.to_owned()))?;
            let text = Zeroizing::new(
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()),
            );
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            // Written to a private temporary file, then linked into place: two processes
            // starting at once agree on the first one written.
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            {
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create(true).truncate(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(&tmp).map_err(io)?;
                file.write_all(text.as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
            }
            let linked = std::fs::hard_link(&tmp, path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => Ok(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_32(path),
                Err(e) => Err(io(e)),
            }
        }
        Err(e) => Err(io(e)),
    }
}

fn decode(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return None;
    }
    out.copy_from_slice(&bytes);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_private_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = HubKeys::load_or_create(dir.path()).expect("create");
        let again = HubKeys::load_or_create(dir.path()).expect("load");
        assert_eq!(first.public_b64(), again.public_b64());
        assert_eq!(*first.secret, *again.secret);
        assert_ne!(first.signing.to_bytes(), *first.secret);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [SIGNING_KEY_FILE, SECRET_FILE] {
                let mode = std::fs::metadata(dir.path().join(f))
                    .expect("exists")
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        std::fs::write(dir.path().join(SECRET_FILE), "short").expect("write");
        let err = HubKeys::load_or_create(dir.path()).expect_err("damaged");
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
