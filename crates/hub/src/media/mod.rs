//! Media (DESIGN.md §7): first-party upload slots (XEP-0363 style) backed by a
//! [`BlobStore`] under the data dir, signed download URLs, per-user quotas, expiry, and the
//! media proxy through which first-party clients fetch third-party (provider-hosted) media.
//!
//! - [`slots`]: the upload-slot and media-token IQs, the quota, the blob index and expiry.
//! - [`http`]: `PUT /v1/media/upload/{token}` and `GET /v1/media/blob/{id}`.
//! - [`proxy`]: `GET /v1/media/proxy?src=URL`.
//! - [`origins`]: the proxy's allow-list, from the provider registry.
//!
//! Authentication: a PUT carries the slot's unguessable token in its path (one use, expires
//! with the slot); a GET URL is signed (HMAC-SHA256 under the hub's media key over the blob
//! id and the blob's expiry), so anyone the sender gives the URL to (inside the E2EE
//! message) can fetch the ciphertext until it expires, and nobody can guess one; the proxy
//! takes a bearer token a first-party user obtains over its authenticated XMPP stream
//! (`<token xmlns='urn:portico:media:1'/>`), so no password travels over HTTP.

pub mod config;
pub mod http;
pub mod metrics;
pub mod origins;
pub mod proxy;
pub mod slots;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine;
use hmac::{Hmac, Mac};
use portico_media::blob::{BlobError, DiskBlobStore};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::config::Config;
pub use config::{MediaConfig, ProxyConfig};
pub use origins::{MediaOrigin, MediaOrigins, RegistryOrigins, StaticOrigins};

/// Why the media service could not start.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The media directory or key could not be created or read.
    #[error(
        "media storage under {path}: {source}; check the data dir's permissions and disk space"
    )]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// The hub's media service, shared by the IQ hook, the HTTP routes and the expiry task.
pub struct Media {
    pub(crate) cfg: MediaConfig,
    pub(crate) base_url: String,
    pub(crate) blobs: DiskBlobStore,
    pub(crate) meta_dir: PathBuf,
    key: Zeroizing<[u8; 32]>,
    pub(crate) state: Mutex<slots::State>,
    pub(crate) origins: Arc<dyn MediaOrigins>,
    pub(crate) proxy_users: Mutex<proxy::Usage>,
    pub(crate) metrics: metrics::MediaMetrics,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Media {
    /// Opens the media store under `<data_dir>/media` (key in `<data_dir>/media.key`,
    /// created on first start), loads the blob index and registers the service; it counts
    /// into `metrics` (the hub's [`crate::metrics::Metrics::media`]).
    pub fn open(
        config: &Config,
        https: std::net::SocketAddr,
        origins: Arc<dyn MediaOrigins>,
        metrics: metrics::MediaMetrics,
    ) -> Result<Arc<Self>, MediaError> {
        let root = config.data_dir.join("media");
        let io = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| MediaError::Io { path, source }
        };
        let blobs = DiskBlobStore::open(root.join("store"))?;
        let meta_dir = root.join("meta");
        std::fs::create_dir_all(&meta_dir).map_err(io(&meta_dir))?;
        let key_path = config.data_dir.join("media.key");
        let key = load_or_create_key(&key_path).map_err(io(&key_path))?;
        let base_url = if config.media.public_url.is_empty() {
            format!("https://{}:{}", config.domain, https.port())
        } else {
            config.media.public_url.trim_end_matches('/').to_owned()
        };
        let state = slots::State::load(&meta_dir);
        metrics
            .stored_bytes
            .set(i64::try_from(state.used.values().sum::<u64>()).unwrap_or(i64::MAX));
        let media = Arc::new(Self {
            cfg: config.media.clone(),
            base_url,
            blobs,
            meta_dir,
            key,
            state: Mutex::new(state),
            origins,
            proxy_users: Mutex::new(proxy::Usage::default()),
            metrics,
        });
        Ok(media)
    }

    /// HMAC-SHA256 under the media key over `label ‖ 0 ‖ parts joined by 0`, base64url.
    pub(crate) fn sign(&self, label: &str, parts: &[&str]) -> String {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.key[..])
            .expect("HMAC takes any key");
        mac.update(label.as_bytes());
        for p in parts {
            mac.update(&[0]);
            mac.update(p.as_bytes());
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether `sig` is [`Self::sign`] of the same input (constant time).
    pub(crate) fn verify(&self, label: &str, parts: &[&str], sig: &str) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.sign(label, parts);
        expected.len() == sig.len() && bool::from(expected.as_bytes().ct_eq(sig.as_bytes()))
    }
}

fn load_or_create_key(path: &std::path::Path) -> std::io::Result<Zeroizing<[u8; 32]>> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() == 32 => {
            let mut k = Zeroizing::new([0u8; 32]);
            k.copy_from_slice(&bytes);
            Ok(k)
        }
        Ok(_) => Err(std::io::Error::other(
            "media.key is not 32 bytes; delete it to create a new one (old download URLs stop working)",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut k = Zeroizing::new([0u8; 32]);
            getrandom::fill(&mut k[..]).map_err(|e| std::io::Error::other(e.to_string()))?;
            let tmp = path.with_extension("tmp");
            {
                use std::io::Write;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create(true).truncate(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts.open(&tmp)?;
                f.write_all(&k[..])?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, path)?;
            Ok(k)
        }
        Err(e) => Err(e),
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Per-key sliding counters (requests per window).
#[derive(Debug, Default)]
pub(crate) struct WindowCounter {
    counts: HashMap<String, (u64, u32)>,
}

impl WindowCounter {
    /// Counts one event for `key` in the window of `window` seconds starting at a multiple of
    /// it; false when that would exceed `max`.
    pub(crate) fn allow(&mut self, key: &str, now: u64, window: u64, max: u32) -> bool {
        let slot = now / window.max(1);
        if self.counts.len() > 100_000 {
            self.counts.retain(|_, (s, _)| *s == slot);
        }
        let e = self.counts.entry(key.to_owned()).or_insert((slot, 0));
        if e.0 != slot {
            *e = (slot, 0);
        }
        if e.1 >= max {
            return false;
        }
        e.1 += 1;
        true
    }
}
