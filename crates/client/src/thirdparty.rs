//! Third-party mode: the SDK as a third-party provider's app embeds it. The user logs in to
//! their provider (not to the hub), the provider vouches for this device's identity key with a
//! signed assertion, the hub enlists the device (`POST /v1/enlist`) and returns its internal
//! JID, device id and credential, and the device then logs in to the hub with SASL PLAIN and
//! the `pit1:` password — after that it chats exactly like a first-party client.
//!
//! ```no_run
//! # async fn demo() -> Result<(), portico_client::thirdparty::ThirdPartyError> {
//! use portico_client::thirdparty::{self, ThirdPartyConfig};
//! use portico_client::{Config, Trust};
//!
//! let hub = Config::new("127.0.0.1:5223", "localhost", "", "", Trust::Pin("3f…".into()));
//! let config = ThirdPartyConfig::new(
//!     "https://127.0.0.1:8444",                       // the provider
//!     Trust::CaBundle("provider-cert.pem".into()),
//!     "bob",
//!     "bob's password at the provider",
//!     "https://127.0.0.1:8443",                       // the hub's HTTPS port
//!     hub,
//! );
//! let (bob, enlisted) = thirdparty::open(config, "bob.db".as_ref()).await?;
//! println!("{} is {} on the hub", enlisted.visible_id, bob.jid());
//! # Ok(()) }
//! ```
//!
//! The database remembers the enlistment (internal JID, device id, credential); later starts
//! only log in to the provider again for a fresh session token. A credential the hub no longer
//! accepts is replaced by enlisting again (same JID and device id).

use std::path::Path;

use portico_interop::api::{
    AssertionRequest, AssertionResponse, EnlistRequest, EnlistResponse, LoginRequest,
    LoginResponse, Problem, Secret,
};
use portico_interop::keys::b64url_encode;
use portico_interop::login::compose_password;
use rand::SeedableRng as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::client::{Client, Config};
use crate::error::ClientError;
use crate::https::{self, HttpsError};
use crate::store::Store;
use crate::tls::Trust;

/// How to reach the provider and the hub, and who the user is at the provider.
#[derive(Clone, Debug)]
pub struct ThirdPartyConfig {
    /// The provider's base URL, `https://host:port`.
    pub provider_url: String,
    /// How the provider's certificate is checked.
    pub provider_trust: Trust,
    /// The user name at the provider.
    pub user: String,
    /// The password at the provider.
    pub password: Zeroizing<String>,
    /// The hub's HTTPS base URL (its `/v1/enlist`), `https://host:port`.
    pub hub_url: String,
    /// The hub connection: address, domain, trust and knobs (`user` and `password` are
    /// filled in from the enlistment).
    pub hub: Config,
}

impl ThirdPartyConfig {
    /// A configuration from where and who; `hub` carries the XMPP address, domain and trust.
    pub fn new(
        provider_url: &str,
        provider_trust: Trust,
        user: &str,
        password: &str,
        hub_url: &str,
        hub: Config,
    ) -> Self {
        Self {
            provider_url: provider_url.trim_end_matches('/').to_owned(),
            provider_trust,
            user: user.to_owned(),
            password: Zeroizing::new(password.to_owned()),
            hub_url: hub_url.trim_end_matches('/').to_owned(),
            hub,
        }
    }
}

/// Who this device is on the hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enlistment {
    /// The internal bare JID others address this user by.
    pub jid: String,
    /// This device's id.
    pub device_id: u32,
    /// The user's visible id at the provider, e.g. `bob@birdy.example`.
    pub visible_id: String,
    /// The provider id.
    pub provider: String,
}

/// Who a third-party sender is, from the hub's stamp on their message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThirdPartyOrigin {
    /// The provider id, e.g. `birdy`.
    pub provider: String,
    /// The sender's visible id at the provider, e.g. `bob@birdy.example`.
    pub visible_id: String,
}

impl ThirdPartyOrigin {
    /// The origin from a delivered message's `<interop/>` stamp, believed only when the sender's
    /// JID is indeed an internal JID of that provider on this hub.
    pub(crate) fn from_stamp(
        stamp: Option<portico_stanza::stanza::Interop>,
        from: &portico_stanza::Jid,
        hub_domain: &str,
    ) -> Option<Self> {
        let stamp = stamp?;
        (provider_of(from, hub_domain) == Some(stamp.provider.as_str())).then(|| Self {
            provider: stamp.provider.to_string(),
            visible_id: stamp.visible.to_string(),
        })
    }
}

/// The provider of a third-party user's internal JID (`…@<provider>.interop.<hub domain>`);
/// `None` for the hub's own users.
pub fn provider_of<'a>(jid: &'a portico_stanza::Jid, hub_domain: &str) -> Option<&'a str> {
    let provider = jid
        .domain()
        .strip_suffix(hub_domain)?
        .strip_suffix(".interop.")?;
    (!provider.is_empty() && !provider.contains('.')).then_some(provider)
}

/// Why third-party start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum ThirdPartyError {
    /// The provider or the hub could not be reached.
    #[error(transparent)]
    Https(#[from] HttpsError),
    /// The provider refused the user name or password.
    #[error("the provider refused the login: {0}")]
    ProviderLogin(Problem),
    /// The provider refused to vouch for this device.
    #[error("the provider refused to issue an identity assertion: {0}")]
    AssertionRefused(Problem),
    /// The hub refused the enlistment.
    #[error("the hub refused the enlistment: {0}")]
    EnlistRefused(Problem),
    /// An answer that is neither the expected JSON nor a problem document.
    #[error("{what} answered HTTP {status} with an unexpected body; check the URL points at it")]
    UnexpectedAnswer {
        /// Which call.
        what: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// This database belongs to another user.
    #[error("this database belongs to {stored}, not {wanted}; use another database file")]
    OtherUser {
        /// Who the database belongs to.
        stored: String,
        /// Who logged in.
        wanted: String,
    },
    /// The local database or the hub login failed.
    #[error(transparent)]
    Client(#[from] ClientError),
}

const META_VISIBLE_ID: &str = "tp_visible_id";
const META_PROVIDER: &str = "tp_provider";
const META_CREDENTIAL: &str = "tp_credential";

async fn post<T: DeserializeOwned>(
    what: &'static str,
    url: &str,
    trust: &Trust,
    bearer: Option<&str>,
    body: &impl Serialize,
    timeout: std::time::Duration,
    refused: fn(Problem) -> ThirdPartyError,
) -> Result<T, ThirdPartyError> {
    let json = serde_json::to_vec(body)
        .map_err(|_| ThirdPartyError::UnexpectedAnswer { what, status: 0 })?;
    let auth = bearer.map(|t| Zeroizing::new(format!("Bearer {t}")));
    let headers: Vec<(&str, &str)> = auth
        .as_ref()
        .map(|a| vec![("authorization", a.as_str())])
        .unwrap_or_default();
    let (status, answer) = https::call("POST", url, trust, &headers, json, timeout).await?;
    if (200..300).contains(&status) {
        return serde_json::from_slice(&answer)
            .map_err(|_| ThirdPartyError::UnexpectedAnswer { what, status });
    }
    match serde_json::from_slice::<Problem>(&answer) {
        Ok(problem) => Err(refused(problem)),
        Err(_) => Err(ThirdPartyError::UnexpectedAnswer { what, status }),
    }
}

/// Logs in to the provider and returns its session.
pub async fn provider_login(config: &ThirdPartyConfig) -> Result<LoginResponse, ThirdPartyError> {
    post(
        "the provider's /v1/login",
        &format!("{}/v1/login", config.provider_url),
        &config.provider_trust,
        None,
        &LoginRequest {
            user: config.user.clone(),
            password: Secret::new(config.password.as_str()),
        },
        config.hub.timeout,
        ThirdPartyError::ProviderLogin,
    )
    .await
}

/// Asks the provider for an assertion of `identity_key` and enlists it at the hub.
async fn enlist(
    config: &ThirdPartyConfig,
    session: &LoginResponse,
    identity_key: &[u8; 33],
    registration_id: u32,
) -> Result<EnlistResponse, ThirdPartyError> {
    let ik = b64url_encode(identity_key);
    let issued: AssertionResponse = post(
        "the provider's /v1/assertion",
        &format!("{}/v1/assertion", config.provider_url),
        &config.provider_trust,
        Some(session.session_token.expose()),
        &AssertionRequest {
            identity_key: ik.clone(),
            audience: config.hub.domain.clone(),
        },
        config.hub.timeout,
        ThirdPartyError::AssertionRefused,
    )
    .await?;
    post(
        "the hub's /v1/enlist",
        &format!("{}/v1/enlist", config.hub_url),
        &config.hub.trust,
        None,
        &EnlistRequest {
            assertion: issued.assertion,
            identity_key: ik,
            registration_id,
        },
        config.hub.timeout,
        ThirdPartyError::EnlistRefused,
    )
    .await
}

/// Logs in to the provider, enlists this device at the hub on first start (or when its
/// credential is outdated), then opens the client as the internal JID.
pub async fn open(
    config: ThirdPartyConfig,
    db_path: &Path,
) -> Result<(Client, Enlistment), ThirdPartyError> {
    let session = provider_login(&config).await?;
    let mut refreshed = false;
    loop {
        let enlisted = prepare(&config, &session, db_path, refreshed).await?;
        let credential = {
            let store = Store::open(db_path)?;
            Zeroizing::new(store.meta_text(META_CREDENTIAL)?.unwrap_or_default())
        };
        let mut hub = config.hub.clone();
        hub.user = enlisted.jid.clone();
        hub.password = compose_password(&credential, session.session_token.expose());
        match Client::open(hub, db_path).await {
            Ok(client) => return Ok((client, enlisted)),
            // The hub forgot this credential (e.g. a newer enlistment replaced it): enlist once
            // more, which keeps the JID and device id.
            Err(ClientError::WrongPassword(text))
                if !refreshed && text.contains("enlist again") =>
            {
                refreshed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Makes sure the database holds an enlistment for the logged-in user; returns it.
async fn prepare(
    config: &ThirdPartyConfig,
    session: &LoginResponse,
    db_path: &Path,
    force: bool,
) -> Result<Enlistment, ThirdPartyError> {
    let (identity_key, registration_id, stored) = {
        let store = Store::open(db_path)?;
        let mut rng = rand::rngs::StdRng::from_os_rng();
        let identity = crate::keys::ensure_identity(&store, &mut rng)?;
        let registration_id = store.meta_u32("registration_id")?.unwrap_or(1);
        let stored = match (
            store.meta_text(META_VISIBLE_ID)?,
            store.meta_text(META_PROVIDER)?,
            store.meta_text("account")?,
            store.device_id()?,
            store.meta_text(META_CREDENTIAL)?,
        ) {
            (Some(visible_id), Some(provider), Some(jid), Some(device_id), Some(_)) => {
                Some(Enlistment {
                    jid,
                    device_id,
                    visible_id,
                    provider,
                })
            }
            (Some(visible_id), ..) if visible_id != session.visible_id => {
                return Err(ThirdPartyError::OtherUser {
                    stored: visible_id,
                    wanted: session.visible_id.clone(),
                });
            }
            (None, _, Some(account), ..) => {
                return Err(ThirdPartyError::OtherUser {
                    stored: account,
                    wanted: session.visible_id.clone(),
                });
            }
            _ => None,
        };
        (identity.identity_key().serialize(), registration_id, stored)
    };
    if let Some(e) = stored {
        if e.visible_id != session.visible_id {
            return Err(ThirdPartyError::OtherUser {
                stored: e.visible_id,
                wanted: session.visible_id.clone(),
            });
        }
        if !force {
            return Ok(e);
        }
    }
    let answer = enlist(config, session, &identity_key, registration_id).await?;
    let store = Store::open(db_path)?;
    if let Some(device) = store.device_id()?
        && device != answer.device_id
    {
        return Err(ThirdPartyError::Client(ClientError::CorruptDatabase(
            format!(
                "the hub enlisted this identity as device {}, but this database is device {device}",
                answer.device_id
            ),
        )));
    }
    store.set_meta(META_VISIBLE_ID, session.visible_id.as_bytes())?;
    store.set_meta(META_PROVIDER, session.provider.as_bytes())?;
    store.set_meta("account", answer.jid.as_bytes())?;
    store.set_meta_u32("device_id", answer.device_id)?;
    store.set_meta(META_CREDENTIAL, answer.credential.expose().as_bytes())?;
    Ok(Enlistment {
        jid: answer.jid,
        device_id: answer.device_id,
        visible_id: session.visible_id.clone(),
        provider: session.provider.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_stanza::Jid;
    use portico_stanza::stanza::Interop;

    fn jid(s: &str) -> Jid {
        Jid::parse(s).expect("jid")
    }

    #[test]
    fn only_internal_jids_of_this_hub_have_a_provider() {
        let bob = jid("k7f3@birdy.interop.hub.example/2");
        assert_eq!(provider_of(&bob, "hub.example"), Some("birdy"));
        assert_eq!(provider_of(&jid("alice@hub.example"), "hub.example"), None);
        assert_eq!(provider_of(&bob, "other.example"), None);
        assert_eq!(
            provider_of(&jid("x@a.b.interop.hub.example"), "hub.example"),
            None
        );
    }

    #[test]
    fn a_stamp_is_believed_only_for_its_own_provider() {
        let stamp = |p: &str| {
            Some(Interop {
                provider: p.into(),
                visible: "bob@birdy.example".into(),
            })
        };
        let bob = jid("k7f3@birdy.interop.hub.example/2");
        let origin = ThirdPartyOrigin::from_stamp(stamp("birdy"), &bob, "hub.example");
        assert_eq!(
            origin.map(|o| o.visible_id),
            Some("bob@birdy.example".to_owned())
        );
        assert_eq!(
            ThirdPartyOrigin::from_stamp(stamp("other"), &bob, "hub.example"),
            None
        );
        let alice = jid("alice@hub.example/1");
        assert_eq!(
            ThirdPartyOrigin::from_stamp(stamp("birdy"), &alice, "hub.example"),
            None
        );
    }
}
