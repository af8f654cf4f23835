//! The hub's HTTPS client for provider endpoints: one signed `POST` per call
//! (`portico_interop::http_sig`, signer `hub`), over TLS that trusts only the CA PEM
//! registered for the provider, with a time limit on the whole call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Request, Uri, header};
use bytes::Bytes;
use ed25519_dalek::Signer;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use portico_interop::http_sig;
use portico_interop::keys::b64url_encode;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::store::interop::Provider;

/// Largest provider answer read, in bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why a call to a provider failed (the SASL and log texts show these).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The registered endpoint is not an `https://host[:port][/path]` URL.
    #[error(
        "its registered endpoint {0:?} is not an https:// URL; fix it with `portico admin provider`"
    )]
    BadEndpoint(String),
    /// The registered CA PEM holds no usable certificate.
    #[error("its registered CA certificate is unusable ({0}); register its certificate PEM again")]
    BadCa(String),
    /// TCP or TLS failed.
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// What failed.
        reason: String,
    },
    /// No answer within the time limit.
    #[error("no answer within {0} ms (interop.provider_timeout_ms)")]
    Timeout(u32),
    /// An answer with an unexpected status.
    #[error("it answered HTTP {status}: {detail}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The problem detail or body start.
        detail: String,
    },
    /// The answer could not be read or parsed.
    #[error("its answer is not what the contract says: {0}")]
    BadAnswer(String),
    /// The circuit breaker is open after repeated failures.
    #[error("calls are paused for a while after {0} failures in a row (interop.breaker_failures)")]
    CircuitOpen(u32),
}

/// TLS configurations per provider, rebuilt when the registered PEM changes.
#[derive(Default)]
pub struct TlsCache {
    configs: Mutex<HashMap<String, (String, Arc<rustls::ClientConfig>)>>,
}

impl TlsCache {
    fn config_for(&self, p: &Provider) -> Result<Arc<rustls::ClientConfig>, CallError> {
        if let Some((pem, cfg)) = self.configs.lock().ok().and_then(|c| c.get(&p.id).cloned()) {
            if pem == p.ca_pem {
                return Ok(cfg);
            }
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(p.ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| CallError::BadCa(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| CallError::BadCa(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(CallError::BadCa("no certificate in it".into()));
        }
        let cfg = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| CallError::BadCa(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let cfg = Arc::new(cfg);
        if let Ok(mut c) = self.configs.lock() {
            c.insert(p.id.clone(), (p.ca_pem.clone(), cfg.clone()));
        }
        Ok(cfg)
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs and sends `POST {endpoint}{path}` with a JSON `body`; returns the status and body.
pub async fn post(
    tls: &TlsCache,
    key: &ed25519_dalek::SigningKey,
    provider: &Provider,
    path: &str,
    body: Vec<u8>,
    timeout_ms: u32,
) -> Result<(u16, Bytes), CallError> {
    let call = post_inner(tls, key, provider, path, body);
    match tokio::time::timeout(Duration::from_millis(timeout_ms.into()), call).await {
        Ok(r) => r,
        Err(_) => Err(CallError::Timeout(timeout_ms)),
    }
}

async fn post_inner(
    tls: &TlsCache,
    key: &ed25519_dalek::SigningKey,
    provider: &Provider,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Bytes), CallError> {
    let bad = || CallError::BadEndpoint(provider.endpoint.clone());
    let uri: Uri = provider.endpoint.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("https") {
        return Err(bad());
    }
    let host = uri.host().ok_or_else(bad)?;
    let port = uri.port_u16().unwrap_or(443);
    let authority = uri.authority().ok_or_else(bad)?.as_str().to_owned();
    let target = format!("{}{path}", uri.path().trim_end_matches('/'));
    let connect_err = |reason: String| CallError::Connect {
        endpoint: provider.endpoint.clone(),
        reason,
    };
    let config = tls.config_for(provider)?;
    let host_name = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let name = ServerName::try_from(host_name.clone()).map_err(|_| bad())?;
    let tcp = TcpStream::connect((host_name.as_str(), port))
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let stream = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| connect_err(format!("TLS: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut request = Request::post(target.as_str())
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, application/problem+json");
    for (name, value) in sign(key, "POST", &target, &body) {
        request = request.header(name, value);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| bad())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let status = response.status().as_u16();
    let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| CallError::BadAnswer(e.to_string()))?
        .to_bytes();
    Ok((status, bytes))
}

/// The four `Portico-*` headers of a hub request.
fn sign(
    key: &ed25519_dalek::SigningKey,
    method: &str,
    target: &str,
    body: &[u8],
) -> [(&'static str, String); 4] {
    let mut nonce = [0u8; 16];
    let _ = getrandom::fill(&mut nonce);
    let nonce = b64url_encode(&nonce);
    let now = unix_now();
    let bytes = http_sig::signing_bytes(method, target, now, &nonce, body);
    http_sig::SignatureHeaders {
        signer: http_sig::HUB_SIGNER.to_owned(),
        timestamp: now,
        nonce,
        signature: b64url_encode(&key.sign(&bytes).to_bytes()),
    }
    .pairs()
}

/// The detail of a problem+json answer, or the start of the body.
pub fn answer_detail(body: &[u8]) -> String {
    if let Ok(p) = serde_json::from_slice::<portico_interop::api::Problem>(body) {
        return p.detail;
    }
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}
