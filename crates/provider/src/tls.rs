//! The provider's TLS identity and signing key, both kept in its data dir and created on first
//! start: a self-signed certificate (`provider-cert.pem`, whose path the ready line prints so
//! the hub and clients can trust it) and the Ed25519 assertion/request key
//! (`provider-signing.key`, b64url of the 32-byte seed, mode 0600).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use portico_interop::SigningKey;
use portico_interop::keys::{decode_signing_key, encode_signing_key, generate_signing_key};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Certificate file name inside the data dir.
pub const CERT_FILE: &str = "provider-cert.pem";
/// Certificate key file name inside the data dir.
pub const CERT_KEY_FILE: &str = "provider-cert-key.pem";
/// Signing key file name inside the data dir.
pub const SIGNING_KEY_FILE: &str = "provider-signing.key";

/// What went wrong with the provider's keys or certificate.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}; check the data dir's permissions")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file holds something unusable.
    #[error("{path} is not a valid {what}; delete it to have a new one created")]
    Bad {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
    },
    /// The certificate could not be generated.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate and key.
    #[error("the TLS certificate and key do not work together: {0}")]
    Rustls(#[from] rustls::Error),
}

fn file_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::File {
        path: path.to_owned(),
        source,
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(file_err(path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(file_err(path))
}

/// Loads the signing key from the data dir, creating it on first start.
pub fn load_or_create_signing_key(data_dir: &Path) -> Result<SigningKey, KeyFileError> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    if !path.exists() {
        let key = generate_signing_key(&mut rand::rng());
        write_private(&path, encode_signing_key(&key).as_bytes())?;
        return Ok(key);
    }
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(file_err(&path))?);
    decode_signing_key(&text).map_err(|_| KeyFileError::Bad {
        path,
        what: "signing key (b64url of 32 bytes)",
    })
}

/// The rustls server configuration for the data dir's certificate (created on first start for
/// `names`, plus `localhost` and loopback addresses); returns it with the certificate's path.
pub fn server_config(
    data_dir: &Path,
    names: &[String],
) -> Result<(Arc<rustls::ServerConfig>, PathBuf), KeyFileError> {
    let cert_path = data_dir.join(CERT_FILE);
    let key_path = data_dir.join(CERT_KEY_FILE);
    if !cert_path.exists() || !key_path.exists() {
        let mut all: Vec<String> = names.to_vec();
        for extra in ["localhost", "127.0.0.1", "::1"] {
            if !all.iter().any(|n| n == extra) {
                all.push(extra.to_owned());
            }
        }
        let certified = rcgen::generate_simple_self_signed(all)?;
        let _ = std::fs::remove_file(&key_path);
        write_private(&key_path, certified.key_pair.serialize_pem().as_bytes())?;
        std::fs::write(&cert_path, certified.cert.pem()).map_err(file_err(&cert_path))?;
    }
    let bad_cert = || KeyFileError::Bad {
        path: cert_path.clone(),
        what: "PEM certificate",
    };
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|_| bad_cert())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad_cert())?;
    if chain.is_empty() {
        return Err(bad_cert());
    }
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|_| KeyFileError::Bad {
        path: key_path.clone(),
        what: "PEM private key",
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(crypto())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), cert_path))
}

/// The rustls crypto provider (ring).
pub fn crypto() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting exactly the certificates in the PEM file `ca`.
pub fn client_config_trusting(ca: &Path) -> Result<Arc<rustls::ClientConfig>, KeyFileError> {
    let bad = || KeyFileError::Bad {
        path: ca.to_owned(),
        what: "PEM certificate bundle",
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|_| bad())? {
        roots.add(cert.map_err(|_| bad())?)?;
    }
    if roots.is_empty() {
        return Err(bad());
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(crypto())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_certificate_are_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create_signing_key(dir.path()).expect("created");
        let second = load_or_create_signing_key(dir.path()).expect("reused");
        assert_eq!(first.verifying_key(), second.verifying_key());
        let (_, cert) = server_config(dir.path(), &["birdy.example".into()]).expect("created");
        let pem = std::fs::read(&cert).expect("cert");
        server_config(dir.path(), &[]).expect("reused");
        assert_eq!(std::fs::read(&cert).expect("cert"), pem);
        client_config_trusting(&cert).expect("trustable");
    }

    #[test]
    fn a_damaged_key_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(SIGNING_KEY_FILE), "junk").expect("write");
        let err = load_or_create_signing_key(dir.path()).expect_err("junk");
        assert!(err.to_string().contains("delete it"), "{err}");
    }
}
