//! The provider's settings. `portico provider serve` fills them from flags and `PORTICO_PROVIDER_*`
//! environment variables; tests build them directly with [`ProviderConfig::new`].

use std::net::SocketAddr;
use std::path::PathBuf;

use portico_interop::VerifyingKey;
use portico_interop::assertion::DEFAULT_MAX_LIFETIME;
use portico_interop::keys::validate_provider_id;

use crate::store::DEFAULT_PBKDF2_ITERATIONS;

/// Everything the provider server needs to know.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Provider id, the assertions' issuer (`[a-z0-9-]{1,32}`), e.g. `birdy`.
    pub id: String,
    /// The domain of the users' visible ids, e.g. `birdy.example` (users are `name@domain`).
    pub domain: String,
    /// Where the database, keys and certificate live.
    pub data_dir: PathBuf,
    /// HTTPS listen address (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The hub's Ed25519 public key; `/auth` and `/push` refuse every request without it.
    pub hub_key: Option<VerifyingKey>,
    /// Hub domains assertions may be issued for; empty allows any.
    pub hub_domains: Vec<String>,
    /// Whether `POST /v1/signup` creates accounts (off: operators add users on the command line).
    pub open_signup: bool,
    /// Login session lifetime, seconds.
    pub session_ttl: u64,
    /// Identity assertion lifetime, seconds (at most 600).
    pub assertion_lifetime: u64,
    /// How long the hub may cache an `/auth` answer, seconds.
    pub auth_cache_seconds: u32,
    /// Largest accepted |now − timestamp| of a signed hub request, seconds.
    pub max_request_skew: u64,
    /// Where each push is forwarded (`http://` or `https://` URL), if anywhere.
    pub webhook: Option<String>,
    /// PEM bundle trusted for an `https://` webhook (required for one).
    pub webhook_ca: Option<PathBuf>,
    /// PBKDF2 iterations for new passwords.
    pub pbkdf2_iterations: u32,
}

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The provider id is not `[a-z0-9-]{1,32}`.
    #[error("provider id {0:?} is invalid: use 1 to 32 characters from a-z, 0-9 and '-'")]
    InvalidId(String),
    /// The visible-id domain is empty or has odd characters.
    #[error(
        "domain {0:?} is invalid: give the domain of your users' visible ids, e.g. birdy.example"
    )]
    InvalidDomain(String),
    /// Assertion lifetime outside 1..=600 s.
    #[error("assertion lifetime {0} s is outside 1..=600 s (hubs refuse longer ones)")]
    AssertionLifetime(u64),
    /// The webhook URL is not http(s).
    #[error("webhook {0:?} is not an http:// or https:// URL")]
    InvalidWebhook(String),
    /// An https webhook without a CA file.
    #[error("an https:// webhook needs --webhook-ca with the PEM certificate(s) to trust")]
    WebhookCaMissing,
}

impl ProviderConfig {
    /// Defaults for provider `id` serving users `…@domain` from `data_dir` on `listen`.
    pub fn new(id: &str, domain: &str, data_dir: PathBuf, listen: SocketAddr) -> Self {
        Self {
            id: id.to_owned(),
            domain: domain.to_owned(),
            data_dir,
            listen,
            hub_key: None,
            hub_domains: Vec::new(),
            open_signup: false,
            session_ttl: 30 * 24 * 3600,
            assertion_lifetime: 300,
            auth_cache_seconds: 30,
            max_request_skew: portico_interop::http_sig::DEFAULT_MAX_SKEW,
            webhook: None,
            webhook_ca: None,
            pbkdf2_iterations: DEFAULT_PBKDF2_ITERATIONS,
        }
    }

    /// Checks that the settings can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_provider_id(&self.id).map_err(|_| ConfigError::InvalidId(self.id.clone()))?;
        let domain_ok = !self.domain.is_empty()
            && self.domain.len() <= 200
            && self
                .domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
        if !domain_ok {
            return Err(ConfigError::InvalidDomain(self.domain.clone()));
        }
        if self.assertion_lifetime == 0 || self.assertion_lifetime > DEFAULT_MAX_LIFETIME {
            return Err(ConfigError::AssertionLifetime(self.assertion_lifetime));
        }
        if let Some(url) = &self.webhook {
            let https = url.starts_with("https://");
            if !(https || url.starts_with("http://")) || url.parse::<hyper::Uri>().is_err() {
                return Err(ConfigError::InvalidWebhook(url.clone()));
            }
            if https && self.webhook_ca.is_none() {
                return Err(ConfigError::WebhookCaMissing);
            }
        }
        Ok(())
    }

    /// The visible id of user `name`.
    pub fn visible_id(&self, name: &str) -> String {
        format!("{name}@{}", self.domain)
    }

    /// The user name of a visible id of this provider's domain.
    pub fn user_of<'a>(&self, visible_id: &'a str) -> Option<&'a str> {
        let (name, domain) = visible_id.rsplit_once('@')?;
        (domain == self.domain && !name.is_empty()).then_some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ProviderConfig {
        ProviderConfig::new(
            "birdy",
            "birdy.example",
            PathBuf::from("/tmp/x"),
            "127.0.0.1:0".parse().expect("addr"),
        )
    }

    #[test]
    fn defaults_are_valid_and_bad_settings_are_named() {
        assert_eq!(config().validate(), Ok(()));
        let mut c = config();
        c.id = "Birdy".into();
        assert_eq!(c.validate(), Err(ConfigError::InvalidId("Birdy".into())));
        let mut c = config();
        c.assertion_lifetime = 601;
        assert_eq!(c.validate(), Err(ConfigError::AssertionLifetime(601)));
        let mut c = config();
        c.webhook = Some("ftp://x".into());
        assert!(matches!(c.validate(), Err(ConfigError::InvalidWebhook(_))));
        c.webhook = Some("https://127.0.0.1:9/hook".into());
        assert_eq!(c.validate(), Err(ConfigError::WebhookCaMissing));
        c.webhook = Some("http://127.0.0.1:9/hook".into());
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn visible_ids_map_to_user_names_of_this_domain_only() {
        let c = config();
        assert_eq!(c.visible_id("bob"), "bob@birdy.example");
        assert_eq!(c.user_of("bob@birdy.example"), Some("bob"));
        assert_eq!(c.user_of("bob@other.example"), None);
        assert_eq!(c.user_of("@birdy.example"), None);
    }
}
