//! TLS trust for the hub: either a pinned SHA-256 fingerprint of the hub's leaf certificate
//! (for a hub with a self-signed certificate) or a CA bundle (PEM). rustls with the `ring`
//! provider does the handshake; a pin replaces chain validation but the handshake
//! signatures are still verified.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ClientError, Result};

/// How the client decides the hub is the real one.
#[derive(Clone, Debug)]
pub enum Trust {
    /// SHA-256 of the hub's leaf certificate (DER), as 64 hex digits (colons allowed).
    Pin(String),
    /// A PEM file of CA certificates; the hub's name must match its certificate.
    CaBundle(PathBuf),
}

/// The SHA-256 fingerprint of a DER certificate as lowercase hex.
pub fn fingerprint(cert_der: &[u8]) -> String {
    hex(&Sha256::digest(cert_der))
}

/// The fingerprint of the first certificate in a PEM file (e.g. the hub's `tls-cert.pem`).
pub fn fingerprint_of_pem(path: &std::path::Path) -> Result<String> {
    let cert = CertificateDer::from_pem_file(path).map_err(|e| ClientError::CaBundle {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(fingerprint(&cert))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_pin(pin: &str) -> Result<[u8; 32]> {
    let digits: Vec<u8> = pin.bytes().filter(|b| *b != b':').collect();
    if digits.len() != 64 {
        return Err(ClientError::BadPin);
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).map_err(|_| ClientError::BadPin)?;
        out[i] = u8::from_str_radix(text, 16).map_err(|_| ClientError::BadPin)?;
    }
    Ok(out)
}

/// Builds the rustls client configuration for `trust`.
pub(crate) fn client_config(trust: &Trust) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(std::io::Error::other(e)))?;
    let mut config = match trust {
        Trust::Pin(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier {
                pin: parse_pin(pin)?,
                provider,
            }))
            .with_no_client_auth(),
        Trust::CaBundle(path) => {
            let bad = |reason: String| ClientError::CaBundle {
                path: path.display().to_string(),
                reason,
            };
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
                roots
                    .add(cert.map_err(|e| bad(e.to_string()))?)
                    .map_err(|e| bad(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(bad("no certificate in the file".into()));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts exactly the leaf certificate whose SHA-256 is the pin.
#[derive(Debug)]
struct PinVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

/// The message rustls carries when the pin does not match; mapped to
/// [`ClientError::PinMismatch`] by the connection layer.
pub(crate) const PIN_MISMATCH: &str = "portico-pin-mismatch:";

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let actual: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if bool::from(actual.ct_eq(&self.pin)) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "{PIN_MISMATCH}{}",
                hex(&actual)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_with_or_without_colons_and_bad_ones_are_refused() {
        let hexpin = "ab".repeat(32);
        assert_eq!(parse_pin(&hexpin).ok(), Some([0xab; 32]));
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_pin(&colons).ok(), Some([0xab; 32]));
        assert!(matches!(parse_pin("abcd"), Err(ClientError::BadPin)));
        assert!(matches!(
            parse_pin(&"zz".repeat(32)),
            Err(ClientError::BadPin)
        ));
    }
}
