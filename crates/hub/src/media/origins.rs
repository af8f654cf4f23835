//! Where the media proxy may fetch from: the media origins of the registered, active
//! providers (the provider registry, [`crate::store::interop::InteropStore`]), each with
//! the CA the hub trusts for that provider's TLS.

use std::sync::Arc;

use portico_media::blob::BoxFuture;

/// One allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaOrigin {
    /// The provider it belongs to.
    pub provider: String,
    /// `https://host:port`, normalized by [`normalize_origin`].
    pub origin: String,
    /// PEM certificates trusted for its TLS.
    pub ca_pem: String,
}

/// The allow-list the proxy consults on every request.
pub trait MediaOrigins: Send + Sync {
    /// The registered origin equal to `origin` (normalized), if any, of an active provider.
    fn find<'a>(&'a self, origin: &'a str) -> BoxFuture<'a, Option<MediaOrigin>>;
}

/// A fixed list (tests, and hubs without providers).
#[derive(Debug, Clone, Default)]
pub struct StaticOrigins(pub Vec<MediaOrigin>);

impl MediaOrigins for StaticOrigins {
    fn find<'a>(&'a self, origin: &'a str) -> BoxFuture<'a, Option<MediaOrigin>> {
        Box::pin(async move { self.0.iter().find(|o| o.origin == origin).cloned() })
    }
}

/// The origins from the provider registry in the store.
pub struct RegistryOrigins(pub Arc<dyn crate::store::Store>);

impl MediaOrigins for RegistryOrigins {
    fn find<'a>(&'a self, origin: &'a str) -> BoxFuture<'a, Option<MediaOrigin>> {
        Box::pin(async move {
            let providers = self.0.list_providers().await.ok()?;
            providers
                .into_iter()
                .filter(|p| p.status == crate::store::interop::ProviderStatus::Active)
                .find_map(|p| {
                    p.media_origins
                        .iter()
                        .filter_map(|o| normalize_origin(o))
                        .find(|o| o == origin)
                        .map(|o| MediaOrigin {
                            provider: p.id.clone(),
                            origin: o,
                            ca_pem: p.ca_pem.clone(),
                        })
                })
        })
    }
}

/// `https://Host:port/anything` → `https://host:port` (port made explicit, 443 by default);
/// `None` for anything but an https URL with a host.
pub fn normalize_origin(url: &str) -> Option<String> {
    let uri: axum::http::Uri = url.parse().ok()?;
    if uri.scheme_str() != Some("https") {
        return None;
    }
    let host = uri.host()?.to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let port = uri.port_u16().unwrap_or(443);
    Some(format!("https://{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::normalize_origin;

    #[test]
    fn origins_normalize_case_and_default_port_and_refuse_http() {
        assert_eq!(
            normalize_origin("https://Media.Birdy.Example/x?y").as_deref(),
            Some("https://media.birdy.example:443")
        );
        assert_eq!(
            normalize_origin("https://127.0.0.1:8443").as_deref(),
            Some("https://127.0.0.1:8443")
        );
        assert_eq!(normalize_origin("http://birdy.example/"), None);
        assert_eq!(normalize_origin("not a url"), None);
    }
}
