//! Forwarding of each push to the operator's webhook (`--webhook URL`): one task, a bounded
//! queue, a few retries with backoff, then the push stays in the log marked not forwarded.
//!
//! The webhook receives `POST` with JSON `{"provider", "push_id", "visible_id", "jid",
//! "device_id", "pending", "received_at"}`: still no content and no sender.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Uri, header};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::store::{ProviderStore, PushRecord};

/// Pushes waiting to be forwarded, at most.
pub const QUEUE_LEN: usize = 1024;
/// Attempts per push.
pub const ATTEMPTS: u32 = 4;
/// Time limit of one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why one webhook attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL has no host or port to connect to.
    #[error("webhook URL {0} has no host; give http(s)://host:port/path")]
    BadUrl(String),
    /// TCP, TLS or HTTP failed.
    #[error("webhook unreachable: {0}")]
    Io(#[from] std::io::Error),
    /// HTTP failed.
    #[error("webhook HTTP error: {0}")]
    Http(#[from] hyper::Error),
    /// The webhook answered with a non-2xx status.
    #[error("webhook answered {0}")]
    Status(u16),
    /// The attempt took too long.
    #[error("webhook did not answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    provider: &'a str,
    #[serde(flatten)]
    push: &'a PushRecord,
}

/// POSTs `body` as JSON to `uri` over HTTP/1.1 (TLS with `tls` for https); Ok for a 2xx.
pub async fn post_json(
    uri: &Uri,
    tls: Option<Arc<rustls::ClientConfig>>,
    body: Vec<u8>,
) -> Result<u16, WebhookError> {
    let (status, _) = request(
        "POST",
        uri,
        tls,
        &[("content-type", "application/json")],
        body,
    )
    .await?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(WebhookError::Status(status))
    }
}

/// Sends one HTTP/1.1 request (TLS with `tls` for `https://`) and returns status and body.
pub async fn request(
    method: &str,
    uri: &Uri,
    tls: Option<Arc<rustls::ClientConfig>>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>), WebhookError> {
    let bad_url = || WebhookError::BadUrl(uri.to_string());
    let host = uri.host().ok_or_else(bad_url)?;
    let bare_host = host.trim_matches(['[', ']']);
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, format!("{host}:{port}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| bad_url())?;
    let tcp = TcpStream::connect((bare_host, port)).await?;
    match (https, tls) {
        (true, Some(tls)) => {
            let name = rustls::pki_types::ServerName::try_from(bare_host.to_owned())
                .map_err(|_| bad_url())?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await?;
            send(TokioIo::new(stream), request).await
        }
        (true, None) => Err(bad_url()),
        (false, _) => send(TokioIo::new(tcp), request).await,
    }
}

async fn send<T>(io: T, request: Request<Full<Bytes>>) -> Result<(u16, Vec<u8>), WebhookError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, body))
}

/// Starts the forwarding task; returns the queue to feed it.
pub fn spawn(
    provider: String,
    uri: Uri,
    tls: Option<Arc<rustls::ClientConfig>>,
    store: Arc<ProviderStore>,
) -> mpsc::Sender<PushRecord> {
    let (tx, mut rx) = mpsc::channel::<PushRecord>(QUEUE_LEN);
    tokio::spawn(async move {
        while let Some(push) = rx.recv().await {
            let body = serde_json::to_vec(&WebhookBody {
                provider: &provider,
                push: &push,
            })
            .unwrap_or_default();
            let mut delay = Duration::from_millis(250);
            for attempt in 1..=ATTEMPTS {
                let result = tokio::time::timeout(
                    ATTEMPT_TIMEOUT,
                    post_json(&uri, tls.clone(), body.clone()),
                )
                .await
                .unwrap_or(Err(WebhookError::Timeout(ATTEMPT_TIMEOUT)));
                match result {
                    Ok(_) => {
                        let store = store.clone();
                        let id = push.push_id.clone();
                        let marked =
                            tokio::task::spawn_blocking(move || store.mark_forwarded(&id)).await;
                        if let Ok(Err(e)) = marked {
                            tracing::warn!(error = %e, "cannot mark push forwarded");
                        }
                        break;
                    }
                    Err(e) if attempt == ATTEMPTS => {
                        tracing::warn!(error = %e, "push not forwarded to the webhook; kept in the log");
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, attempt, "webhook attempt failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                }
            }
        }
    });
    tx
}
