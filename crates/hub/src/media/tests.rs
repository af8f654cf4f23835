//! The media routes over real HTTPS on loopback: the proxy's size cap (refused up front when
//! the origin announces too much, the transfer aborted when an origin without a
//! Content-Length crosses it while streaming) and the media metrics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Empty, Full};
use hyper::{Request, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::metrics::{LimitLabel, OutcomeLabel, ReasonLabel};
use super::{Media, MediaOrigin, StaticOrigins};
use crate::config::Config;

const CAP: u64 = 100_000;
const T: Duration = Duration::from_secs(10);

/// A tiny HTTPS origin on loopback: `/announced-huge` announces 10 MB, `/unsized` sends 3 ×
/// 64 KiB with no Content-Length (ending the body by closing), `/small` sends 1000 bytes.
async fn origin(dir: &std::path::Path) -> (SocketAddr, String) {
    let config = Config::load(None, Vec::new(), Some(dir)).expect("config");
    let identity = crate::tls::load_identity(&config).expect("identity");
    let tls = crate::tls::server_config(&identity, &[b"http/1.1"]).expect("tls");
    let pem = std::fs::read_to_string(&identity.cert_path).expect("pem");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut b = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (head, body): (&[u8], usize) = match path.as_str() {
                    "/announced-huge" => (
                        b"HTTP/1.1 200 OK\r\ncontent-length: 10000000\r\nconnection: close\r\n\r\n",
                        4096,
                    ),
                    "/unsized" => (b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n", 3 * 65_536),
                    "/small" => (
                        b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\nconnection: close\r\n\r\n",
                        1000,
                    ),
                    _ => (b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", 0),
                };
                let _ = s.write_all(head).await;
                let _ = s.write_all(&vec![7u8; body]).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, pem)
}

struct Hub {
    media: Arc<Media>,
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    _stop: crate::shutdown::ShutdownTrigger,
}

async fn hub(dir: &std::path::Path, origin: SocketAddr, origin_pem: String) -> Hub {
    let mut config = Config::load(None, Vec::new(), Some(dir)).expect("config");
    config.media.proxy.allow_private_addresses = true;
    config.media.proxy.max_bytes = CAP;
    config.media.quota_bytes_per_user = 10_000;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let origins = StaticOrigins(vec![MediaOrigin {
        provider: "birdy".into(),
        origin: format!("https://127.0.0.1:{}", origin.port()),
        ca_pem: origin_pem,
    }]);
    let media = Media::open(
        &config,
        addr,
        Arc::new(origins),
        super::metrics::MediaMetrics::default(),
    )
    .expect("media");
    let identity = crate::tls::load_identity(&config).expect("identity");
    let server_tls = crate::tls::server_config(&identity, &[b"http/1.1"]).expect("tls");
    let pem = std::fs::read_to_string(&identity.cert_path).expect("pem");
    let tls = portico_media::net::tls_config_from_pem(&pem).expect("client tls");
    let (stop, shutdown) = crate::shutdown::channel();
    tokio::spawn(crate::http::serve(
        listener,
        server_tls,
        super::http::router(media.clone()),
        shutdown,
    ));
    Hub {
        media,
        addr,
        tls,
        _stop: stop,
    }
}

impl Hub {
    async fn request<B>(&self, req: Request<B>) -> hyper::Response<hyper::body::Incoming>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let name = portico_media::net::server_name("localhost").expect("name");
        portico_media::net::send(self.addr, name, self.tls.clone(), req, T)
            .await
            .expect("request")
    }

    /// `GET /v1/media/proxy?src=https://127.0.0.1:<origin>/<path>` as alice.
    async fn proxy(
        &self,
        origin: SocketAddr,
        path: &str,
    ) -> hyper::Response<hyper::body::Incoming> {
        self.proxy_over(hyper::Version::HTTP_11, origin, path).await
    }

    /// [`Hub::proxy`] in HTTP `version`.
    async fn proxy_over(
        &self,
        version: hyper::Version,
        origin: SocketAddr,
        path: &str,
    ) -> hyper::Response<hyper::body::Incoming> {
        let token = self.media.proxy_token("alice").token.expect("token");
        let src = format!("https%3A%2F%2F127.0.0.1%3A{}%2F{path}", origin.port());
        let req = Request::get(format!("/v1/media/proxy?src={src}"))
            .version(version)
            .header(header::HOST, "localhost")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Empty::<Bytes>::new())
            .expect("request");
        self.request(req).await
    }
}

/// Reads a body to its end: the bytes, and whether it ended cleanly.
async fn drain(resp: hyper::Response<hyper::body::Incoming>) -> (u64, Result<(), String>) {
    let mut body = resp.into_body();
    let mut got = 0u64;
    loop {
        match tokio::time::timeout(T, portico_media::net::next_chunk(&mut body))
            .await
            .expect("the body ends or fails in time")
        {
            Ok(Some(c)) => got += c.len() as u64,
            Ok(None) => return (got, Ok(())),
            Err(e) => return (got, Err(e.to_string())),
        }
    }
}

/// Waits until `read` returns at least `want` (counters are bumped just after a stream ends).
async fn eventually(want: u64, read: impl Fn() -> u64) -> u64 {
    let deadline = tokio::time::Instant::now() + T;
    while read() < want && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    read()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_cap_refuses_up_front_or_aborts_the_transfer_never_truncates_silently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (origin_addr, origin_pem) = origin(&dir.path().join("origin")).await;
    let hub = hub(&dir.path().join("hub"), origin_addr, origin_pem).await;
    let m = &hub.media.metrics;

    // An announced length over the cap: refused before any byte, with a problem document.
    let resp = hub.proxy(origin_addr, "announced-huge").await;
    assert_eq!(resp.status(), 502);
    assert_eq!(
        resp.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("problem body")
        .to_bytes();
    let problem: serde_json::Value = serde_json::from_slice(&body).expect("problem json");
    assert_eq!(
        problem["type"], "urn:portico:problem:too-large",
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("10000000") && d.contains("100000")),
        "{problem}"
    );

    // No length, more than the cap: the transfer starts (200) and is then cut off, so the
    // client sees an incomplete body, not a short one that ends cleanly.
    let resp = hub.proxy(origin_addr, "unsized").await;
    assert_eq!(resp.status(), 200);
    let (got, end) = drain(resp).await;
    assert!(
        end.is_err(),
        "a capped transfer must not end cleanly ({got} bytes)"
    );
    assert!(got <= CAP, "no more than the cap is relayed: {got}");

    // HTTP/1.0 has no chunked encoding to show the cut: refused before streaming.
    let resp = hub
        .proxy_over(hyper::Version::HTTP_10, origin_addr, "unsized")
        .await;
    assert_eq!(resp.status(), 505);

    // Under the cap: the whole body, ending cleanly.
    let resp = hub.proxy(origin_addr, "small").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(drain(resp).await, (1000, Ok(())));

    // What /metrics shows of it.
    let reason = |r: &str| {
        m.proxy_refusals
            .get_or_create(&ReasonLabel { reason: r.into() })
            .get()
    };
    let fetched = |o: &str| {
        m.proxy_fetches
            .get_or_create(&OutcomeLabel { outcome: o.into() })
            .get()
    };
    assert_eq!(reason("too-large"), 1);
    assert_eq!(reason("http-version"), 1);
    assert_eq!(eventually(1, || fetched("too-large")).await, 1);
    assert_eq!(eventually(1, || fetched("ok")).await, 1);
    let proxied = m.proxied_bytes.get();
    assert!(
        (1000..=1000 + CAP).contains(&proxied),
        "bytes relayed: {proxied}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_refusals_and_quota_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (origin_addr, origin_pem) = origin(&dir.path().join("origin")).await;
    let hub = hub(&dir.path().join("hub"), origin_addr, origin_pem).await;
    let m = &hub.media.metrics;
    let put = |url: &str, body: Vec<u8>| {
        let path = url.split_once("/v1/").map(|(_, p)| format!("/v1/{p}"));
        Request::put(path.expect("slot path"))
            .header(header::HOST, "localhost")
            .body(Full::new(Bytes::from(body)))
            .expect("request")
    };
    let req = |size| portico_stanza::stanza::upload::UploadRequest {
        filename: "f".into(),
        size,
        content_type: None,
    };

    let slot = hub.media.grant_slot("alice", req(300)).expect("slot");
    let resp = hub.request(put(&slot.put_url, vec![1; 300])).await;
    assert_eq!(resp.status(), 201);
    let slot = hub.media.grant_slot("alice", req(300)).expect("slot");
    let resp = hub.request(put(&slot.put_url, vec![1; 200])).await;
    assert_eq!(resp.status(), 400, "a body shorter than the slot");
    let resp = hub.request(put(&slot.put_url, vec![1; 300])).await;
    assert_eq!(resp.status(), 403, "the slot was used");
    let refused = hub
        .media
        .grant_slot("alice", req(9_800))
        .expect_err("over the quota");
    assert!(
        refused
            .text
            .as_deref()
            .is_some_and(|t| t.contains("quota exceeded"))
    );

    let uploads = |o: &str| {
        m.uploads
            .get_or_create(&OutcomeLabel { outcome: o.into() })
            .get()
    };
    assert_eq!(uploads("stored"), 1);
    assert_eq!(uploads("size-mismatch"), 1);
    assert_eq!(uploads("slot-unknown"), 1);
    assert_eq!(m.uploaded_bytes.get(), 300);
    assert_eq!(m.stored_bytes.get(), 300);
    let quota = m
        .quota_refusals
        .get_or_create(&LimitLabel {
            limit: "upload-quota".into(),
        })
        .get();
    assert_eq!(quota, 1);
    assert_eq!(hub.media.expire(super::unix_now() + 40 * 86_400).await, 1);
    assert_eq!(m.stored_bytes.get(), 0, "expiry frees the stored bytes");
}
