//! A small HTTPS/1.1 client for the third-party calls (the provider's login and assertion
//! endpoints, the hub's `/v1/enlist`), trusting certificates the same way the hub connection
//! does ([`Trust`]: a pin or a CA bundle). One connection per call; bodies are small JSON.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, Uri, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::tls::{Trust, client_config};

/// Largest response body read, bytes.
pub const MAX_RESPONSE: usize = 256 * 1024;

/// Why an HTTPS call failed before any answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    /// Not an `https://host:port/…` URL.
    #[error("{0:?} is not an https:// URL; give https://host:port")]
    BadUrl(String),
    /// TCP or TLS failed.
    #[error("cannot reach {url}: {reason}; check the address, that it runs, and its certificate")]
    Unreachable {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// No answer in time.
    #[error("{url} did not answer within {secs} s")]
    Timeout {
        /// The URL.
        url: String,
        /// The limit.
        secs: u64,
    },
    /// The trust settings are unusable.
    #[error(transparent)]
    Trust(#[from] crate::error::ClientError),
}

/// Sends one request and returns (status, body).
pub(crate) async fn call(
    method: &str,
    url: &str,
    trust: &Trust,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), HttpsError> {
    let exchange = exchange(method, url, trust, headers, body);
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpsError::Timeout {
            url: url.to_owned(),
            secs: timeout.as_secs(),
        })?
}

async fn exchange(
    method: &str,
    url: &str,
    trust: &Trust,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>), HttpsError> {
    let bad_url = || HttpsError::BadUrl(url.to_owned());
    let uri: Uri = url.parse().map_err(|_| bad_url())?;
    if uri.scheme_str() != Some("https") {
        return Err(bad_url());
    }
    let host = uri.host().ok_or_else(bad_url)?.trim_matches(['[', ']']);
    let port = uri.port_u16().unwrap_or(443);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let unreachable = |reason: String| HttpsError::Unreachable {
        url: url.to_owned(),
        reason,
    };
    // Same trust as the hub connection, but speaking HTTP/1.1 instead of XMPP.
    let mut tls = (*client_config(trust)?).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tls = std::sync::Arc::new(tls);
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|_| bad_url())?;
    let stream = TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| unreachable(format!("TLS: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(conn);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, format!("{host}:{port}"))
        .header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| bad_url())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| unreachable(format!("reading the answer: {e}")))?
        .to_bytes()
        .to_vec();
    Ok((status, body))
}
