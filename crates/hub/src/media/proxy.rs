//! `GET /v1/media/proxy?src=URL`: first-party clients fetch third-party media through the
//! hub, so the provider never learns who downloads what.
//!
//! The hub fetches only from the registered providers' media origins (see [`super::origins`]),
//! follows redirects only within the same origin, resolves the host itself and connects only
//! to an address it vetted (no private, loopback or link-local address unless
//! `media.proxy.allow_private_addresses`), trusts the origin's TLS only through the CA the
//! provider registered, sends no client address, cookie or header (a fixed `User-Agent` only),
//! caps the size, the wait for the first byte and the total time, streams without buffering,
//! and limits each user's requests per minute and concurrent downloads. Each refusal is its
//! own problem+json type.
//!
//! The size cap never yields a short body that looks whole: an origin announcing more than
//! `media.proxy.max_bytes` is refused up front (`too-large`); an origin that announces no
//! length is relayed chunked and, once it crosses the cap (or stalls, or fails), the transfer
//! is aborted so the client sees an incomplete response; an HTTP/1.0 client, which has no
//! chunked encoding to show that, is refused such a file (`http-version`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri, Version, header};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::Empty;

use super::http::ProblemSlug;
use super::{Media, WindowCounter, unix_now};

/// The only header the proxy sends besides `Host`.
pub const USER_AGENT: &str = "Portico-Media-Proxy/1";

/// Per-user proxy counters.
#[derive(Debug, Default)]
pub struct Usage {
    active: HashMap<String, u32>,
    per_minute: WindowCounter,
}

/// Releases a user's concurrent-download slot when dropped.
struct Active {
    media: Arc<Media>,
    user: String,
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Ok(mut u) = self.media.proxy_users.lock() {
            if let Some(n) = u.active.get_mut(&self.user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    u.active.remove(&self.user);
                }
            }
        }
    }
}

fn refuse(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Response {
    super::http::problem(status, slug, title, detail)
}

/// Whether the proxy refuses `ip` unless private addresses are allowed.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || a.to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
                || (s[0] == 0x64 && s[1] == 0xff9b)
        }
    }
}

struct Target {
    origin: String,
    host: String,
    port: u16,
    path: String,
}

fn parse_target(url: &str) -> Option<Target> {
    let uri: Uri = url.parse().ok()?;
    let origin = super::origins::normalize_origin(url)?;
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(443);
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".into());
    Some(Target {
        origin,
        host,
        port,
        path,
    })
}

/// The handler: [`fetch`], with its refusals counted by type.
pub(crate) async fn proxy(
    State(media): State<Arc<Media>>,
    version: Version,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let resp = fetch(media.clone(), version, &headers, &q).await;
    if let Some(ProblemSlug(slug)) = resp.extensions().get::<ProblemSlug>() {
        media.metrics.proxy_refusal(slug);
    }
    resp
}

/// Checks the request, fetches `src` from its registered origin and streams it back.
async fn fetch(
    media: Arc<Media>,
    version: Version,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Response {
    let cfg = media.cfg.proxy.clone();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(user) = token.and_then(|t| media.check_proxy_token(t)) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A media token is required",
            "send `Authorization: Bearer <token>` with a token from the <token xmlns='urn:portico:media:1'/> IQ",
        );
    };
    let active = {
        let Ok(mut u) = media.proxy_users.lock() else {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "try again",
            );
        };
        if !u
            .per_minute
            .allow(&user, unix_now(), 60, cfg.requests_per_minute)
        {
            media.metrics.quota_refusal("proxy-rate");
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "quota-exceeded",
                "Too many proxied downloads",
                format!(
                    "more than {} proxied requests this minute (media.proxy.requests_per_minute); wait and retry",
                    cfg.requests_per_minute
                ),
            );
        }
        let n = u.active.entry(user.clone()).or_default();
        if *n >= cfg.max_concurrent_per_user {
            media.metrics.quota_refusal("proxy-concurrency");
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "quota-exceeded",
                "Too many proxied downloads at once",
                format!(
                    "{} proxied downloads are running (media.proxy.max_concurrent_per_user); wait for one to finish",
                    cfg.max_concurrent_per_user
                ),
            );
        }
        *n += 1;
        Active {
            media: media.clone(),
            user: user.clone(),
        }
    };
    let Some(src) = q.get("src") else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad-src",
            "Missing src",
            "add ?src=<https URL of the media>",
        );
    };
    let Some(first) = parse_target(src) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad-src",
            "Unusable src",
            "src must be an absolute https URL",
        );
    };
    let Some(allowed) = media.origins.find(&first.origin).await else {
        return refuse(
            StatusCode::FORBIDDEN,
            "origin-not-registered",
            "Origin not registered",
            format!(
                "{} is not a media origin of any active provider",
                first.origin
            ),
        );
    };
    let tls = match portico_media::net::tls_config_from_pem(&allowed.ca_pem) {
        Ok(t) => t,
        Err(e) => {
            return refuse(
                StatusCode::BAD_GATEWAY,
                "origin-tls",
                "Provider TLS not configured",
                format!(
                    "the provider's registered CA is unusable ({e}); the operator must fix the registry"
                ),
            );
        }
    };
    let started = Instant::now();
    let total = Duration::from_secs(cfg.total_timeout_secs);
    let first_byte = Duration::from_secs(cfg.first_byte_timeout_secs);
    let mut target = first;
    let mut hops = 0;
    let response = loop {
        let addr = match resolve(&target, cfg.allow_private_addresses, first_byte).await {
            Ok(a) => a,
            Err(r) => return r,
        };
        let name = match portico_media::net::server_name(&target.host) {
            Ok(n) => n,
            Err(e) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "bad-src",
                    "Unusable src",
                    e.to_string(),
                );
            }
        };
        let host_header = if target.port == 443 {
            target.host.clone()
        } else {
            format!("{}:{}", target.host, target.port)
        };
        let Ok(req) = Request::get(target.path.as_str())
            .header(header::HOST, host_header)
            .header(header::USER_AGENT, USER_AGENT)
            .header(header::ACCEPT, "*/*")
            .body(Empty::<Bytes>::new())
        else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad-src",
                "Unusable src",
                "the path is not valid",
            );
        };
        let wait = first_byte.min(total.saturating_sub(started.elapsed()));
        let sent = tokio::time::timeout(
            wait,
            portico_media::net::send(addr, name, tls.clone(), req, wait),
        )
        .await;
        let resp = match sent {
            Err(_) => {
                return refuse(
                    StatusCode::GATEWAY_TIMEOUT,
                    "origin-timeout",
                    "The origin did not answer in time",
                    format!(
                        "no response head within {} s (media.proxy.first_byte_timeout_secs)",
                        wait.as_secs()
                    ),
                );
            }
            Ok(Err(e)) => {
                return refuse(
                    StatusCode::BAD_GATEWAY,
                    "origin-unreachable",
                    "The origin could not be reached",
                    e.to_string(),
                );
            }
            Ok(Ok(r)) => r,
        };
        if resp.status().is_redirection() {
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let next = if location.starts_with('/') && !location.starts_with("//") {
                parse_target(&format!("{}{location}", target.origin))
            } else {
                parse_target(&location)
            };
            match next {
                Some(n) if n.origin == target.origin && hops < cfg.max_redirects => {
                    hops += 1;
                    target = n;
                    continue;
                }
                Some(n) if n.origin == target.origin => {
                    return refuse(
                        StatusCode::BAD_GATEWAY,
                        "too-many-redirects",
                        "Too many redirects",
                        format!(
                            "more than {} redirects (media.proxy.max_redirects)",
                            cfg.max_redirects
                        ),
                    );
                }
                _ => {
                    return refuse(
                        StatusCode::BAD_GATEWAY,
                        "redirect-off-origin",
                        "Redirect off the registered origin",
                        format!(
                            "the origin redirected away from {}; not followed",
                            target.origin
                        ),
                    );
                }
            }
        }
        break resp;
    };
    if !response.status().is_success() {
        return refuse(
            StatusCode::BAD_GATEWAY,
            "origin-status",
            "The origin refused",
            format!("the origin answered {}", response.status().as_u16()),
        );
    }
    let length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > cfg.max_bytes) {
        return refuse(
            StatusCode::BAD_GATEWAY,
            "too-large",
            "Media too large",
            format!(
                "the origin's file is {} bytes; the proxy relays at most {} (media.proxy.max_bytes)",
                length.unwrap_or(0),
                cfg.max_bytes
            ),
        );
    }
    if length.is_none() && version < Version::HTTP_11 {
        // Without chunked encoding, a transfer cut at the cap would end like a whole one.
        return refuse(
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "http-version",
            "HTTP/1.1 required for this file",
            "the origin did not say the file's size, so the proxy streams it chunked and can \
             signal a cut transfer only over HTTP/1.1; retry with HTTP/1.1",
        );
    }
    let body = response.into_body();
    let (tx, out) = portico_media::net::channel_body(4);
    let relay = Relay {
        deadline: started + total,
        idle: first_byte,
        max: cfg.max_bytes,
        metrics: media.metrics.clone(),
    };
    tokio::spawn(async move {
        let _active = active;
        let outcome = relay.run(body, tx).await;
        relay.metrics.proxy_fetch(outcome);
    });
    let mut resp = Response::new(Body::new(out));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    if let Some(n) = length {
        h.insert(header::CONTENT_LENGTH, header::HeaderValue::from(n));
    }
    resp
}

/// Streams an origin's body to the client within the time and size caps.
struct Relay {
    deadline: Instant,
    idle: Duration,
    max: u64,
    metrics: super::metrics::MediaMetrics,
}

impl Relay {
    /// Relays `body` into `tx` until it ends; returns the outcome to count. On any failure
    /// the client's body is aborted, never ended cleanly: the connection closes without the
    /// final chunk (or short of the announced Content-Length), so the HTTP client sees an
    /// incomplete transfer instead of a truncated body that looks whole.
    async fn run(
        &self,
        mut body: hyper::body::Incoming,
        mut tx: http_body_util::channel::Sender<Bytes, std::io::Error>,
    ) -> &'static str {
        let mut sent: u64 = 0;
        loop {
            let left = self
                .deadline
                .saturating_duration_since(Instant::now())
                .min(self.idle);
            let next = tokio::time::timeout(left, portico_media::net::next_chunk(&mut body)).await;
            let chunk = match next {
                Err(_) => {
                    tx.abort(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "origin-timeout: the origin stalled (media.proxy.first_byte_timeout_secs \
                         or total_timeout_secs)",
                    ));
                    return "origin-timeout";
                }
                Ok(Err(e)) => {
                    tx.abort(std::io::Error::other(format!("origin-error: {e}")));
                    return "origin-error";
                }
                Ok(Ok(None)) => return "ok",
                Ok(Ok(Some(c))) => c,
            };
            sent += chunk.len() as u64;
            if sent > self.max {
                tx.abort(std::io::Error::other(format!(
                    "too-large: the origin sent more than {} bytes (media.proxy.max_bytes)",
                    self.max
                )));
                return "too-large";
            }
            let n = chunk.len() as u64;
            if tx.send_data(chunk).await.is_err() {
                return "client-gone";
            }
            self.metrics.proxied_bytes.inc_by(n);
        }
    }
}

async fn resolve(
    target: &Target,
    allow_private: bool,
    wait: Duration,
) -> Result<SocketAddr, Response> {
    let looked = tokio::time::timeout(
        wait,
        tokio::net::lookup_host((target.host.as_str(), target.port)),
    )
    .await;
    let addrs: Vec<SocketAddr> = match looked {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            return Err(refuse(
                StatusCode::BAD_GATEWAY,
                "origin-unreachable",
                "The origin's name does not resolve",
                e.to_string(),
            ));
        }
        Err(_) => {
            return Err(refuse(
                StatusCode::GATEWAY_TIMEOUT,
                "origin-timeout",
                "Resolving the origin timed out",
                "DNS did not answer in time",
            ));
        }
    };
    addrs
        .iter()
        .copied()
        .find(|a| allow_private || !is_private(a.ip()))
        .ok_or_else(|| {
            refuse(
                StatusCode::FORBIDDEN,
                "private-address",
                "The origin resolves to a private address",
                format!(
                    "{} resolves only to private, loopback or link-local addresses, which the proxy \
                     refuses (media.proxy.allow_private_addresses)",
                    target.host
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::is_private;

    #[test]
    fn private_loopback_link_local_and_special_addresses_are_refused() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(is_private(a.parse().expect("ip")), "{a}");
        }
        for a in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            assert!(!is_private(a.parse().expect("ip")), "{a}");
        }
    }
}
