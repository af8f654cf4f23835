//! TLS for every listener: rustls with the ring provider, and a self-signed certificate
//! created on first start and kept in the data dir (reused on restart), unless the
//! configuration names a certificate and key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

/// File name of the self-signed certificate inside the data dir.
pub const SELF_SIGNED_CERT: &str = "tls-cert.pem";
/// File name of the self-signed certificate's key inside the data dir.
pub const SELF_SIGNED_KEY: &str = "tls-key.pem";

/// What went wrong while preparing TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or written.
    #[error("cannot access {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{path} holds no valid PEM {what}: check `tls.cert` and `tls.key`")]
    BadPem {
        /// The file.
        path: PathBuf,
        /// "certificate" or "private key".
        what: &'static str,
    },
    /// The self-signed certificate could not be generated.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate and key (they may not match).
    #[error("the TLS certificate and key do not work together: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The certificate chain and key the hub serves.
#[derive(Debug)]
pub struct Identity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
    /// Where the leaf certificate was read from (clients of a self-signed hub may pin it).
    pub cert_path: PathBuf,
}

/// The rustls crypto provider the whole hub uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads the configured certificate, or the data dir's self-signed one, creating it on
/// first start for the hub domain (plus `localhost` and loopback addresses).
pub fn load_identity(config: &Config) -> Result<Identity, TlsError> {
    let (cert_path, key_path) = match (&config.tls.cert, &config.tls.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => {
            let c = config.data_dir.join(SELF_SIGNED_CERT);
            let k = config.data_dir.join(SELF_SIGNED_KEY);
            if !c.exists() || !k.exists() {
                create_self_signed(&config.domain, &c, &k)?;
            }
            (c, k)
        }
    };
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|_| TlsError::BadPem {
            path: cert_path.clone(),
            what: "certificate",
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TlsError::BadPem {
            path: cert_path.clone(),
            what: "certificate",
        })?;
    if chain.is_empty() {
        return Err(TlsError::BadPem {
            path: cert_path,
            what: "certificate",
        });
    }
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|_| TlsError::BadPem {
        path: key_path.clone(),
        what: "private key",
    })?;
    Ok(Identity {
        chain,
        key,
        cert_path,
    })
}

fn create_self_signed(domain: &str, cert: &Path, key: &Path) -> Result<(), TlsError> {
    let mut names = vec![domain.to_owned()];
    for extra in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == extra) {
            names.push(extra.to_owned());
        }
    }
    let certified = rcgen::generate_simple_self_signed(names)?;
    if let Some(dir) = cert.parent() {
        std::fs::create_dir_all(dir).map_err(|source| TlsError::File {
            path: dir.to_owned(),
            source,
        })?;
    }
    write_private(key, certified.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(cert, certified.cert.pem()).map_err(|source| TlsError::File {
        path: cert.to_owned(),
        source,
    })?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| TlsError::File {
        path: path.to_owned(),
        source,
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| TlsError::File {
            path: path.to_owned(),
            source,
        })
}

/// A rustls server configuration for `identity`, offering the given ALPN protocols.
pub fn server_config(
    identity: &Identity,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A rustls client configuration that trusts exactly the certificates in `cert_pem`
/// (for tools and tests that talk to a hub with a self-signed certificate).
pub fn client_config_trusting(cert_pem: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_pem).map_err(|_| TlsError::BadPem {
        path: cert_pem.to_owned(),
        what: "certificate",
    })? {
        let cert = cert.map_err(|_| TlsError::BadPem {
            path: cert_pem.to_owned(),
            what: "certificate",
        })?;
        roots.add(cert)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let first = load_identity(&config).expect("created");
        let second = load_identity(&config).expect("reused");
        assert_eq!(
            first.chain, second.chain,
            "restart must keep the certificate"
        );
        server_config(&first, &[b"http/1.1"]).expect("usable by rustls");
        client_config_trusting(&first.cert_path).expect("pinnable");
    }

    #[test]
    fn configured_files_must_hold_pem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "not pem").expect("write");
        let config = Config {
            tls: crate::config::TlsConfig {
                cert: Some(cert.clone()),
                key: Some(cert),
            },
            ..Config::default()
        };
        let err = load_identity(&config).expect_err("garbage");
        assert!(
            err.to_string().contains("no valid PEM certificate"),
            "{err}"
        );
    }
}
