//! `[media]` settings: upload slots, quotas, expiry, and `[media.proxy]`.

use serde::{Deserialize, Serialize};

/// Media settings (`[media]` in the hub's TOML, `PORTICO_MEDIA_…` in the environment).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Base URL of the HTTPS listener as clients reach it (e.g. `https://hub.example:8443`);
    /// empty means `https://<domain>:<bound HTTPS port>`.
    pub public_url: String,
    /// Largest file one upload slot accepts, in bytes.
    pub max_file_bytes: u64,
    /// Bytes of stored and reserved uploads one user may hold.
    pub quota_bytes_per_user: u64,
    /// Seconds an upload slot stays usable.
    pub slot_ttl_secs: u64,
    /// Days an uploaded blob is kept before it is deleted.
    pub blob_ttl_days: u64,
    /// Upload slots one user may ask for per hour.
    pub slots_per_hour: u32,
    /// Media proxy settings.
    pub proxy: ProxyConfig,
}

/// `[media.proxy]`: the media proxy for third-party media.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Whether the proxy may connect to private, loopback and link-local addresses
    /// (for tests and closed networks only).
    pub allow_private_addresses: bool,
    /// Largest body it relays, in bytes.
    pub max_bytes: u64,
    /// Seconds one proxied download may take in total.
    pub total_timeout_secs: u64,
    /// Seconds to wait for the origin's response head.
    pub first_byte_timeout_secs: u64,
    /// Proxied requests one user may start per minute.
    pub requests_per_minute: u32,
    /// Proxied downloads one user may run at once.
    pub max_concurrent_per_user: u32,
    /// Same-origin redirects followed before giving up.
    pub max_redirects: u32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            public_url: String::new(),
            max_file_bytes: 512 * 1024 * 1024,
            quota_bytes_per_user: 2 * 1024 * 1024 * 1024,
            slot_ttl_secs: 600,
            blob_ttl_days: 30,
            slots_per_hour: 600,
            proxy: ProxyConfig::default(),
        }
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            allow_private_addresses: false,
            max_bytes: 512 * 1024 * 1024,
            total_timeout_secs: 600,
            first_byte_timeout_secs: 15,
            requests_per_minute: 120,
            max_concurrent_per_user: 4,
            max_redirects: 3,
        }
    }
}

impl MediaConfig {
    /// Checks ranges; the error names the key under `[media]`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let positive = [
            ("max_file_bytes", self.max_file_bytes),
            ("slot_ttl_secs", self.slot_ttl_secs),
            ("blob_ttl_days", self.blob_ttl_days),
            ("proxy.max_bytes", self.proxy.max_bytes),
            ("proxy.total_timeout_secs", self.proxy.total_timeout_secs),
            (
                "proxy.first_byte_timeout_secs",
                self.proxy.first_byte_timeout_secs,
            ),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        if !self.public_url.is_empty() && !self.public_url.starts_with("https://") {
            return Err(("public_url", "must start with https://".into()));
        }
        Ok(())
    }
}
