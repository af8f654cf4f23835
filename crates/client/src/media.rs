//! Attachments: [`Client::send_file`] encrypts a file while it streams (format: the
//! `portico-media` crate's `FORMAT.md`, a fresh key per file), asks the hub for an upload slot
//! over the authenticated stream, PUTs the ciphertext to the slot and sends an
//! [`Attachment`] message (url, key, digests, size, type, name, thumbnail) end-to-end
//! encrypted like a text. When the caller gives no thumbnail for a PNG, JPEG, GIF or WebP
//! image, the SDK makes one (a JPEG fitting 256 x 256, decoded under
//! [`FileOptions::thumbnail_limits`]); a preview that cannot be made is logged and the file is
//! sent without one. [`Client::download`] streams an attachment to a file, verifying
//! every chunk, the size and the ciphertext digest, and keeps the file only if all hold;
//! media on a third-party origin is fetched through the hub's media proxy, so the provider
//! never sees the downloader's address. Memory stays constant whatever the file size.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::{Request, Uri, header};
use portico_content::{Attachment, Body, Content};
use portico_media::thumbnail::ThumbnailOptions;
use portico_media::{DEFAULT_CHUNK_SIZE, Decryptor, Encryptor, ciphertext_len};
use portico_stanza::stanza::upload::{MediaToken, UploadRequest, UploadSlot};
use portico_stanza::{Element, Jid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{Client, Cmd};
use crate::tls::{Trust, client_config};
pub use error::MediaError;
use meta::{auto_duration_ms, auto_thumbnail};

mod error;
mod meta;

/// What the client needs for HTTPS to the hub.
#[derive(Debug, Clone)]
pub(crate) struct MediaCtx {
    pub(crate) domain: String,
    pub(crate) trust: Trust,
    pub(crate) timeout: Duration,
}

/// Extra facts about a file to send.
#[derive(Debug, Clone, Default)]
pub struct FileOptions {
    /// MIME type (default: guessed from the extension, else `application/octet-stream`).
    pub content_type: Option<String>,
    /// A small JPEG/PNG preview the application made (at most 64 KiB), or empty: then the SDK
    /// makes one for a PNG, JPEG, GIF or WebP image unless `no_auto_thumbnail` is set.
    pub thumbnail: Vec<u8>,
    /// Do not make a preview when `thumbnail` is empty.
    pub no_auto_thumbnail: bool,
    /// Limits for decoding the image the SDK makes a preview of (largest width and height,
    /// memory) and the preview's box and size; an image over them is sent without a preview.
    pub thumbnail_limits: ThumbnailOptions,
    /// Pixels, for images and video (0 if unknown; read from an image's header when left 0).
    pub width: u32,
    /// Pixels, for images and video (0 if unknown).
    pub height: u32,
    /// Milliseconds, for audio and video (0 if unknown; read from an MP4/MOV/M4A, WAV or Ogg
    /// Opus/Vorbis container when left 0).
    pub duration_ms: u32,
    /// A caption.
    pub caption: String,
}

/// A verified download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Where the file is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MediaError + '_ {
    move |source| MediaError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A MIME type from a file name's extension (common types only).
pub fn guess_content_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "m4a" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "ogg" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Url {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Url, MediaError> {
    let bad = || MediaError::BadUrl(url.to_owned());
    let uri: Uri = url.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("https") {
        return Err(bad());
    }
    Ok(Url {
        host: uri.host().ok_or_else(bad)?.to_owned(),
        port: uri.port_u16().unwrap_or(443),
        path: uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
    })
}

impl MediaCtx {
    /// Sends `req` to the host of `url` with the hub's trust.
    async fn send<B>(
        &self,
        url: &Url,
        req: Request<B>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, MediaError>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        send_with(&self.trust, self.timeout, url, req).await
    }
}

/// Sends `req` to the host of `url`, trusting its certificate per `trust`.
async fn send_with<B>(
    trust: &Trust,
    timeout: Duration,
    url: &Url,
    req: Request<B>,
) -> Result<hyper::Response<hyper::body::Incoming>, MediaError>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    {
        let addrs: Vec<std::net::SocketAddr> =
            tokio::net::lookup_host((url.host.trim_matches(['[', ']']), url.port))
                .await
                .map_err(|e| MediaError::Io {
                    path: url.host.clone(),
                    source: e,
                })?
                .collect();
        // `localhost` may resolve to ::1 and 127.0.0.1: take the first that accepts.
        let mut addr = *addrs
            .first()
            .ok_or_else(|| MediaError::BadUrl(url.host.clone()))?;
        for a in &addrs {
            if let Ok(Ok(_)) =
                tokio::time::timeout(timeout, tokio::net::TcpStream::connect(a)).await
            {
                addr = *a;
                break;
            }
        }
        let name = portico_media::net::server_name(&url.host)?;
        let mut cfg = (*client_config(trust)?).clone();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(portico_media::net::send(addr, name, Arc::new(cfg), req, timeout).await?)
    }
}

async fn refusal(resp: hyper::Response<hyper::body::Incoming>) -> MediaError {
    use http_body_util::BodyExt;
    let status = resp.status().as_u16();
    let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    MediaError::Refused {
        status,
        kind: v["type"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("urn:portico:problem:")
            .to_owned(),
        detail: v["detail"].as_str().unwrap_or("").to_owned(),
    }
}

/// The line the message log keeps for an attachment.
pub(crate) fn log_line(a: &Attachment) -> String {
    format!("[file] {} ({} bytes)", a.file_name, a.size)
}

impl FileOptions {
    /// Refuses, before anything is uploaded, what would make an attachment message its
    /// recipients refuse.
    fn check(&self) -> Result<(), MediaError> {
        let limit = portico_content::Limits::default().max_thumbnail_bytes;
        if self.thumbnail.len() > limit {
            return Err(MediaError::ThumbnailTooLarge {
                size: self.thumbnail.len(),
                limit,
            });
        }
        Ok(())
    }
}

impl Client {
    async fn media_iq(&self, payload: Element) -> Result<Element, MediaError> {
        self.call(|reply| Cmd::MediaIq { payload, reply })
            .await?
            .ok_or_else(|| MediaError::Protocol("an empty answer".into()))
    }

    /// Encrypts the file at `path` while uploading it to a hub upload slot; returns the
    /// attachment to send (nothing is sent yet).
    pub async fn upload_file(
        &self,
        path: &Path,
        opts: FileOptions,
    ) -> Result<Attachment, MediaError> {
        opts.check()?;
        let file = tokio::fs::File::open(path).await.map_err(io_err(path))?;
        let plain_len = file.metadata().await.map_err(io_err(path))?.len();
        let size = ciphertext_len(plain_len, DEFAULT_CHUNK_SIZE);
        let slot = self
            .media_iq(
                UploadRequest {
                    filename: "attachment.bin".into(),
                    size,
                    content_type: Some("application/octet-stream".into()),
                }
                .into(),
            )
            .await?;
        let slot = UploadSlot::try_from(slot).map_err(|e| MediaError::Protocol(e.to_string()))?;
        let trust = self.media.trust.clone();
        self.put_encrypted(file, path, plain_len, &slot, &trust, opts)
            .await
    }

    /// Like [`Client::upload_file`] for a third-party user: the file goes to the user's own
    /// provider (`POST {provider_url}/v1/media/slot` with the provider session token), which
    /// hosts it; first-party recipients fetch it through the hub's media proxy.
    pub async fn upload_file_to_provider(
        &self,
        provider_url: &str,
        provider_trust: &Trust,
        session_token: &str,
        path: &Path,
        opts: FileOptions,
    ) -> Result<Attachment, MediaError> {
        opts.check()?;
        let file = tokio::fs::File::open(path).await.map_err(io_err(path))?;
        let plain_len = file.metadata().await.map_err(io_err(path))?.len();
        let size = ciphertext_len(plain_len, DEFAULT_CHUNK_SIZE);
        let url = format!("{}/v1/media/slot", provider_url.trim_end_matches('/'));
        let body = serde_json::json!({"size": size, "content_type": "application/octet-stream"});
        let auth = format!("Bearer {session_token}");
        let (status, answer) = crate::https::call(
            "POST",
            &url,
            provider_trust,
            &[("authorization", auth.as_str())],
            body.to_string().into_bytes(),
            self.media.timeout,
        )
        .await
        .map_err(|e| MediaError::Protocol(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(MediaError::Refused {
                status,
                kind: v["type"]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches("urn:portico:problem:")
                    .to_owned(),
                detail: v["detail"].as_str().unwrap_or("").to_owned(),
            });
        }
        let (Some(put_url), Some(get_url)) = (v["put_url"].as_str(), v["get_url"].as_str()) else {
            return Err(MediaError::Protocol(
                "the provider's slot lacks put_url or get_url".into(),
            ));
        };
        let slot = UploadSlot {
            put_url: put_url.into(),
            put_headers: Vec::new(),
            get_url: get_url.into(),
        };
        self.put_encrypted(file, path, plain_len, &slot, provider_trust, opts)
            .await
    }

    /// Encrypts `file` while PUTting it to `slot`; returns the attachment.
    async fn put_encrypted(
        &self,
        file: tokio::fs::File,
        path: &Path,
        plain_len: u64,
        slot: &UploadSlot,
        trust: &Trust,
        opts: FileOptions,
    ) -> Result<Attachment, MediaError> {
        let size = ciphertext_len(plain_len, DEFAULT_CHUNK_SIZE);
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let put = parse_url(&slot.put_url)?;
        let content_type = opts
            .content_type
            .clone()
            .unwrap_or_else(|| guess_content_type(&file_name).to_owned());
        // The preview is made on a blocking thread while the file uploads.
        let preview = (opts.thumbnail.is_empty() && !opts.no_auto_thumbnail).then(|| {
            let (p, ct, limits) = (path.to_owned(), content_type.clone(), opts.thumbnail_limits);
            tokio::task::spawn_blocking(move || auto_thumbnail(&p, &ct, &limits))
        });
        let duration = (opts.duration_ms == 0).then(|| {
            let (p, ct) = (path.to_owned(), content_type.clone());
            tokio::task::spawn_blocking(move || auto_duration_ms(&p, &ct))
        });
        let (mut enc, key) = Encryptor::random(
            &mut <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng(),
            DEFAULT_CHUNK_SIZE,
        )
        .map_err(|e| MediaError::Protocol(e.to_string()))?;
        let (mut tx, body) = portico_media::net::channel_body(4);
        let feeder = tokio::spawn(async move {
            let mut file = file;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                let mut out = Vec::with_capacity(n + 64);
                enc.update(&buf[..n], &mut out)
                    .map_err(std::io::Error::other)?;
                if tx.send_data(Bytes::from(out)).await.is_err() {
                    return Err(std::io::Error::other("the upload connection closed"));
                }
            }
            let mut out = Vec::new();
            let done = enc.finish(&mut out).map_err(std::io::Error::other)?;
            if tx.send_data(Bytes::from(out)).await.is_err() {
                return Err(std::io::Error::other("the upload connection closed"));
            }
            Ok(done)
        });
        let mut req = Request::put(put.path.as_str())
            .header(header::HOST, format!("{}:{}", put.host, put.port))
            .header(header::CONTENT_LENGTH, size)
            .header(header::CONTENT_TYPE, "application/octet-stream");
        for (name, value) in &slot.put_headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let req = req
            .body(body)
            .map_err(|e| MediaError::Protocol(e.to_string()))?;
        let resp = send_with(trust, self.media.timeout, &put, req).await?;
        if !resp.status().is_success() {
            feeder.abort();
            return Err(refusal(resp).await);
        }
        let done = feeder
            .await
            .map_err(|e| MediaError::Protocol(e.to_string()))?
            .map_err(io_err(path))?;
        let thumbnail = match preview {
            Some(task) => task.await.unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), "no preview: its task failed: {e}");
                Vec::new()
            }),
            None => opts.thumbnail,
        };
        let duration_ms = match duration {
            Some(task) => task.await.unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), "no duration: its task failed: {e}");
                0
            }),
            None => opts.duration_ms,
        };
        // An image's dimensions from its header when the caller gave none.
        let (mut width, mut height) = (opts.width, opts.height);
        if content_type.starts_with("image/") && width == 0 && height == 0 {
            let p = path.to_owned();
            if let Ok(Ok(dim)) = tokio::task::spawn_blocking(move || imagesize::size(p)).await {
                width = u32::try_from(dim.width).unwrap_or(0);
                height = u32::try_from(dim.height).unwrap_or(0);
            }
        }
        Ok(Attachment {
            url: slot.get_url.to_string(),
            key: key.as_bytes().to_vec(),
            ciphertext_sha256: done.ciphertext_sha256.to_vec(),
            plaintext_sha256: done
                .plaintext_sha256
                .map(|d| d.to_vec())
                .unwrap_or_default(),
            size: plain_len,
            content_type,
            file_name,
            thumbnail,
            width,
            height,
            duration_ms,
            chunk_size: DEFAULT_CHUNK_SIZE,
            caption: opts.caption,
        })
    }

    /// Sends an attachment message (from [`Client::upload_file`]) to `to`; returns its id.
    pub async fn send_attachment(&self, to: &Jid, a: Attachment) -> Result<String, MediaError> {
        let log_body = log_line(&a);
        let content = Box::new(Content {
            body: Some(Body::Attachment(a)),
            sent_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            group: None,
        });
        let to = to.to_bare();
        Ok(self
            .call(|reply| Cmd::SendContent {
                to,
                content,
                log_body,
                reply,
            })
            .await?)
    }

    /// Uploads the file at `path` and sends it to `to`; returns the message id.
    pub async fn send_file(
        &self,
        to: &Jid,
        path: &Path,
        opts: FileOptions,
    ) -> Result<String, MediaError> {
        let a = self.upload_file(path, opts).await?;
        self.send_attachment(to, a).await
    }

    /// Downloads `a` into `dest`, verifying it while it streams; `dest` is written only when
    /// every check passed (a `.part` file is used meanwhile and removed on failure). Media
    /// not hosted by this hub goes through the hub's media proxy.
    pub async fn download(&self, a: &Attachment, dest: &Path) -> Result<Downloaded, MediaError> {
        let key = portico_media::FileKey::from_slice(&a.key)
            .ok_or(MediaError::Incomplete("a 32-byte key"))?;
        let url = parse_url(&a.url)?;
        let (target, auth) = if url.host.eq_ignore_ascii_case(&self.media.domain) {
            (url, None)
        } else {
            let token = MediaToken::try_from(self.media_iq(MediaToken::default().into()).await?)
                .map_err(|e| MediaError::Protocol(e.to_string()))?;
            let (Some(token), Some(proxy)) = (token.token, token.proxy) else {
                return Err(MediaError::Protocol("no proxy token".into()));
            };
            let proxy = parse_url(&format!("{proxy}?src={}", percent_encode(&a.url)))?;
            (proxy, Some(format!("Bearer {token}")))
        };
        let mut req = Request::get(target.path.as_str())
            .header(header::HOST, format!("{}:{}", target.host, target.port));
        if let Some(auth) = auth {
            req = req.header(header::AUTHORIZATION, auth);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| MediaError::Protocol(e.to_string()))?;
        let resp = self.media.send(&target, req).await?;
        if !resp.status().is_success() {
            return Err(refusal(resp).await);
        }
        let mut body = resp.into_body();
        let mut dec = Decryptor::new(&key)
            .expect_plaintext_len(a.size)
            .skip_plaintext_digest();
        if a.chunk_size != 0 {
            dec = dec.expect_chunk_size(a.chunk_size);
        }
        let part = dest.with_extension("part");
        let result = async {
            let mut out_file = tokio::fs::File::create(&part)
                .await
                .map_err(io_err(&part))?;
            let mut out = Vec::with_capacity(2 * 64 * 1024);
            let idle = self.media.timeout;
            loop {
                let chunk = tokio::time::timeout(idle, portico_media::net::next_chunk(&mut body))
                    .await
                    .map_err(|_| MediaError::Timeout("the download"))?;
                let chunk = match chunk {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    // A cut connection: let the decryptor say what is missing.
                    Err(_) => break,
                };
                dec.update(&chunk, &mut out)?;
                out_file.write_all(&out).await.map_err(io_err(&part))?;
                out.clear();
            }
            let done = dec.finish(&mut out)?;
            out_file.write_all(&out).await.map_err(io_err(&part))?;
            out_file.sync_all().await.map_err(io_err(&part))?;
            if !a.ciphertext_sha256.is_empty()
                && a.ciphertext_sha256[..] != done.ciphertext_sha256[..]
            {
                return Err(MediaError::DigestMismatch);
            }
            Ok(done.plaintext_len)
        }
        .await;
        match result {
            Ok(size) => {
                tokio::fs::rename(&part, dest).await.map_err(io_err(dest))?;
                Ok(Downloaded {
                    path: dest.to_owned(),
                    size,
                })
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                Err(e)
            }
        }
    }
}
