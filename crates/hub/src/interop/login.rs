//! Third-party login (SASL PLAIN, `pit1:` passwords): the device credential is checked
//! against its stored hash, the provider must be registered and active, then the provider's
//! `POST /auth` decides (answer cached per jid, device and token for the provider's
//! `cache_seconds`, capped by `interop.auth_cache_max_secs`). When the provider cannot be
//! reached the login is refused unless `interop.auth_fail_open` is set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_interop::api::{AuthRequest, AuthResponse, Secret};
use portico_interop::login::{credential_matches, is_third_party_password, parse_password};
use portico_stanza::stanza::SaslCondition;
use sha2::Digest;
use zeroize::Zeroizing;

use super::client::CallError;
use super::{Gateway, ThirdParty};
use crate::store::DeviceId;
use crate::store::interop::{Provider, ProviderStatus};

/// A failed login: the SASL condition and the text the client sees.
pub type Refusal = (SaslCondition, String);

/// What the provider said about a session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed.
    Allowed,
    /// Refused, with the provider's reason.
    Denied(String),
}

/// One cached `/auth` answer.
pub(crate) struct CachedAuth {
    verdict: Verdict,
    until: Instant,
}

/// A connected (or recently connected) third-party device, re-checked on an interval.
pub(crate) struct Live {
    pub(crate) provider: String,
    pub(crate) visible_id: String,
    pub(crate) token: Zeroizing<String>,
    pub(crate) checked: Instant,
}

/// Whether a PLAIN login is a third-party one (by its user name or password form).
pub fn is_third_party(user: &str, password: &str) -> bool {
    super::is_third_party(user) || is_third_party_password(password)
}

fn refuse(text: impl Into<String>) -> Refusal {
    (SaslCondition::NotAuthorized, text.into())
}

/// Checks a third-party PLAIN login of `user` (the internal bare JID) with `password`.
pub async fn check(
    gw: &Arc<Gateway>,
    user: &str,
    password: &str,
) -> Result<(Arc<ThirdParty>, DeviceId), Refusal> {
    let parts = parse_password(password).map_err(|e| {
        gw.metrics.interop("login", "malformed");
        (SaslCondition::MalformedRequest, e.to_string())
    })?;
    if !super::is_third_party(user) {
        gw.metrics.interop("login", "malformed");
        return Err(refuse(
            "third-party devices log in with their whole internal JID (the `jid` that /v1/enlist returned) as user name",
        ));
    }
    let store_failed = |_| {
        (
            SaslCondition::TemporaryAuthFailure,
            "the hub's store failed; retry later".to_owned(),
        )
    };
    let devices = gw
        .store
        .third_party_devices(user)
        .await
        .map_err(store_failed)?;
    let found = devices.into_iter().find(|(_, d)| {
        <[u8; 32]>::try_from(d.credential_hash.as_slice())
            .is_ok_and(|h| credential_matches(&parts.credential, &h))
    });
    let Some((device, enlisted)) = found else {
        gw.metrics.interop("login", "bad-credential");
        return Err(refuse(
            "unknown third-party device or outdated credential; enlist again (POST /v1/enlist) for a new one",
        ));
    };
    let provider = gw
        .store
        .provider(&enlisted.user.provider)
        .await
        .map_err(store_failed)?;
    let Some(provider) = provider else {
        gw.metrics.interop("login", "unknown-provider");
        return Err(refuse(format!(
            "provider {:?} is no longer registered at this hub",
            enlisted.user.provider
        )));
    };
    if provider.status == ProviderStatus::Suspended {
        gw.metrics.interop("login", "provider-suspended");
        return Err((
            SaslCondition::AccountDisabled,
            format!(
                "provider {:?} is suspended by this hub's operator; its users cannot log in",
                provider.id
            ),
        ));
    }
    let who = ThirdParty {
        provider: provider.id.clone(),
        visible_id: enlisted.user.visible_id.clone(),
    };
    match ask(
        gw,
        &provider,
        user,
        device,
        &who.visible_id,
        parts.session_token,
        true,
    )
    .await
    {
        Ok(Verdict::Allowed) => {}
        Ok(Verdict::Denied(reason)) => {
            gw.metrics.interop("login", "provider-denied");
            return Err(refuse(format!("provider says: {reason}")));
        }
        Err(e) if gw.config.interop.auth_fail_open => {
            tracing::warn!(provider = %provider.id, error = %e, "provider unreachable; login allowed (interop.auth_fail_open)");
        }
        Err(e) => {
            gw.metrics.interop("login", "provider-unreachable");
            return Err((
                SaslCondition::TemporaryAuthFailure,
                format!("provider unreachable: {e}"),
            ));
        }
    }
    gw.metrics.interop("login", "ok");
    if let Ok(mut live) = gw.live.lock() {
        live.insert(
            (user.to_owned(), device),
            Live {
                provider: provider.id.clone(),
                visible_id: who.visible_id.clone(),
                token: Zeroizing::new(parts.session_token.to_owned()),
                checked: Instant::now(),
            },
        );
    }
    gw.device_online(user, device);
    Ok((Arc::new(who), device))
}

/// An `/auth` cache key: jid, device and the token's SHA-256.
pub(crate) type CacheKey = (String, DeviceId, [u8; 32]);

fn cache_key(jid: &str, device: DeviceId, token: &str) -> CacheKey {
    (
        jid.to_owned(),
        device,
        sha2::Sha256::digest(token.as_bytes()).into(),
    )
}

/// Asks the provider's `/auth` about a session token (from the cache when `use_cache` and a
/// fresh answer is there).
pub async fn ask(
    gw: &Gateway,
    provider: &Provider,
    jid: &str,
    device: DeviceId,
    visible_id: &str,
    token: &str,
    use_cache: bool,
) -> Result<Verdict, CallError> {
    let key = cache_key(jid, device, token);
    if use_cache {
        let cached = gw.auth_cache.lock().ok().and_then(|c| {
            c.get(&key)
                .filter(|a| a.until > Instant::now())
                .map(|a| a.verdict.clone())
        });
        if let Some(v) = cached {
            gw.metrics.interop("auth", "cached");
            return Ok(v);
        }
    }
    let body = serde_json::to_vec(&AuthRequest {
        visible_id: visible_id.to_owned(),
        jid: jid.to_owned(),
        device_id: device,
        session_token: Secret::new(token),
    })
    .map_err(|e| CallError::BadAnswer(e.to_string()))?;
    let (status, answer) = match gw.call(provider, "/auth", body).await {
        Ok(x) => x,
        Err(e) => {
            gw.metrics.interop("auth", "unreachable");
            return Err(e);
        }
    };
    if !(200..300).contains(&status) {
        gw.metrics.interop("auth", "error-status");
        return Err(CallError::Status {
            status,
            detail: super::client::answer_detail(&answer),
        });
    }
    let answer: AuthResponse = serde_json::from_slice(&answer).map_err(|e| {
        gw.metrics.interop("auth", "bad-answer");
        CallError::BadAnswer(e.to_string())
    })?;
    let verdict = if answer.allowed {
        gw.metrics.interop("auth", "allowed");
        Verdict::Allowed
    } else {
        gw.metrics.interop("auth", "denied");
        Verdict::Denied(
            answer
                .reason
                .unwrap_or_else(|| "this user may not log in".to_owned()),
        )
    };
    let secs = answer
        .cache_seconds
        .min(gw.config.interop.auth_cache_max_secs);
    if let Ok(mut c) = gw.auth_cache.lock() {
        let now = Instant::now();
        if c.len() > 100_000 {
            c.retain(|_, a| a.until > now);
        }
        if secs > 0 {
            c.insert(
                key,
                CachedAuth {
                    verdict: verdict.clone(),
                    until: now + Duration::from_secs(secs.into()),
                },
            );
        } else {
            c.remove(&key);
        }
    }
    Ok(verdict)
}
