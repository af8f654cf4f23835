//! A small HTTPS/1.1 client (feature `net`) for the hub's media proxy and the SDK: the caller
//! chooses the socket address (the proxy resolves and vets it itself), the TLS trust and the
//! exact headers; nothing is added but what hyper needs. One connection per request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Why an HTTPS request failed before a response arrived.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// TCP connect failed or timed out.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
    /// The TLS handshake failed (untrusted certificate, wrong name, …).
    #[error("TLS with {addr} failed: {reason}; check the server's certificate and the trusted CA")]
    Tls {
        /// Where.
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
    /// The HTTP exchange failed.
    #[error("HTTP exchange failed: {0}")]
    Http(String),
    /// A PEM bundle held no usable certificate.
    #[error("the CA PEM holds no usable certificate: {0}")]
    BadPem(String),
    /// The host is not a valid TLS server name.
    #[error("{0:?} is not a valid TLS server name")]
    BadServerName(String),
}

/// Trusted roots from a PEM bundle (e.g. a provider's registered CA file).
pub fn tls_config_from_pem(pem: &str) -> Result<Arc<rustls::ClientConfig>, NetError> {
    let mut roots = rustls::RootCertStore::empty();
    let mut n = 0;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| NetError::BadPem(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| NetError::BadPem(e.to_string()))?;
        n += 1;
    }
    if n == 0 {
        return Err(NetError::BadPem("no CERTIFICATE block".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NetError::BadPem(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The TLS server name for `host` (a DNS name or an IP literal).
pub fn server_name(host: &str) -> Result<ServerName<'static>, NetError> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(h.to_owned()).map_err(|_| NetError::BadServerName(host.to_owned()))
}

/// Sends `req` over a fresh TLS connection to `addr`, checking the certificate for `name`,
/// and returns the response head with its streaming body.
pub async fn send<B>(
    addr: SocketAddr,
    name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
    req: Request<B>,
    connect_timeout: Duration,
) -> Result<Response<Incoming>, NetError>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| NetError::Connect {
            addr,
            reason: "timed out".into(),
        })?
        .map_err(|e| NetError::Connect {
            addr,
            reason: e.to_string(),
        })?;
    let _ = tcp.set_nodelay(true);
    let tls_stream =
        tokio::time::timeout(connect_timeout, TlsConnector::from(tls).connect(name, tcp))
            .await
            .map_err(|_| NetError::Tls {
                addr,
                reason: "handshake timed out".into(),
            })?
            .map_err(|e| NetError::Tls {
                addr,
                reason: e.to_string(),
            })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls_stream))
        .await
        .map_err(|e| NetError::Http(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| NetError::Http(e.to_string()))
}

/// A request body fed through a bounded channel: the sender side pushes chunks as they are
/// produced (constant memory), the body side goes into [`send`].
pub fn channel_body(
    buffer: usize,
) -> (
    http_body_util::channel::Sender<Bytes, std::io::Error>,
    http_body_util::channel::Channel<Bytes, std::io::Error>,
) {
    http_body_util::channel::Channel::new(buffer)
}

/// Reads the next data chunk of a response body (`None` at its end).
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>, NetError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(NetError::Http(e.to_string())),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}
