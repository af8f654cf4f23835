//! `POST /v1/enlist`: a third-party device joins the hub with a provider-signed identity
//! assertion. Checks, each refused with its own RFC 9457 problem: body, rate limits (per
//! client address and per provider), assertion syntax, issuer registered (`unknown-issuer`)
//! and active (`provider-suspended`), signature with the registered key, audience = this hub,
//! lifetime and expiry, replay by `jti` (an exact retry — same assertion, same body — gets the
//! same answer again; anything else with a seen `jti` is `replayed`), and the binding of the
//! assertion's `ik` to the request's identity key (`key-mismatch`). Then the stable internal
//! JID is assigned and the device registered under the device cap.
//!
//! The credential is HMAC-SHA256(hub secret, "cred" || jti || identity key): an exact retry
//! derives the same one, and the hub stores only its SHA-256.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use portico_interop::api::{EnlistRequest, EnlistResponse, Problem, Secret};
use portico_interop::assertion::{AssertionError, UnverifiedAssertion, VerifyPolicy};
use portico_interop::keys::{b64url_encode, decode_identity_key, decode_public_key};
use portico_interop::login::credential_hash;
use sha2::Digest;

use super::Gateway;
use super::client::unix_now;
use crate::store::StoreError;
use crate::store::interop::{Enlistment, ProviderStatus};

/// Largest enlistment body, in bytes.
const MAX_BODY: usize = 16 * 1024;

/// The enlistment route and `GET /v1/openapi.yaml`, to merge into the hub's HTTP router.
pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/enlist", post(enlist))
        .route("/v1/openapi.yaml", axum::routing::get(openapi))
        .with_state(gw)
}

/// The hub's OpenAPI document (`crates/hub/openapi.yaml`).
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML).into_response()
}

/// A refusal of `/v1/enlist`.
struct Refused(Problem);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = serde_json::to_string(&self.0).unwrap_or_default();
        (
            status,
            [(
                header::CONTENT_TYPE,
                portico_interop::api::PROBLEM_CONTENT_TYPE,
            )],
            body,
        )
            .into_response()
    }
}

fn refused(status: u16, slug: &str, title: &str, detail: impl Into<String>) -> Refused {
    Refused(Problem::new(slug, title, status, detail))
}

fn assertion_problem(e: &AssertionError) -> Refused {
    let (status, slug, title) = match e {
        AssertionError::Oversized { .. } => (413, "assertion-oversized", "Assertion too large"),
        AssertionError::Malformed { .. } => (400, "assertion-malformed", "Malformed assertion"),
        AssertionError::UnsupportedVersion => {
            (400, "unsupported-version", "Unsupported assertion version")
        }
        AssertionError::BadSignature => (401, "bad-signature", "Assertion signature invalid"),
        AssertionError::WrongAudience { .. } => {
            (401, "wrong-audience", "Assertion made for another hub")
        }
        AssertionError::Expired => (401, "expired", "Assertion expired"),
        AssertionError::NotYetValid => (401, "not-yet-valid", "Assertion not valid yet"),
        AssertionError::LifetimeTooLong { .. } => {
            (401, "lifetime-too-long", "Assertion lifetime too long")
        }
    };
    refused(status, slug, title, e.to_string())
}

/// Token buckets keyed by client address or provider.
#[derive(Default)]
pub(crate) struct Buckets {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Buckets {
    /// Takes one token from `key`'s bucket (`per_minute` sustained, `burst` at most); false
    /// when empty.
    fn take(&self, key: String, per_minute: u32, burst: u32) -> bool {
        let Ok(mut b) = self.buckets.lock() else {
            return true;
        };
        let now = Instant::now();
        if b.len() > 100_000 {
            b.clear();
        }
        let (tokens, at) = b.entry(key).or_insert((f64::from(burst), now));
        let refill = now.duration_since(*at).as_secs_f64() * f64::from(per_minute) / 60.0;
        *tokens = (*tokens + refill).min(f64::from(burst));
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn enlist(
    State(gw): State<Arc<Gateway>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Response {
    match enlist_inner(&gw, peer.map(|p| p.0.0.ip()), &body).await {
        Ok(answer) => {
            gw.metrics.interop("enlist", "ok");
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::to_string(&answer).unwrap_or_default(),
            )
                .into_response()
        }
        Err(r) => {
            let slug = r.0.slug().unwrap_or("error").to_owned();
            gw.metrics.interop("enlist", &slug);
            r.into_response()
        }
    }
}

async fn enlist_inner(
    gw: &Gateway,
    peer: Option<IpAddr>,
    body: &[u8],
) -> Result<EnlistResponse, Refused> {
    let knobs = &gw.config.interop;
    if body.len() > MAX_BODY {
        return Err(refused(
            413,
            "body-too-large",
            "Request body too large",
            format!(
                "the enlistment body is over {MAX_BODY} bytes; send only assertion, identity_key and registration_id"
            ),
        ));
    }
    if let Some(ip) = peer {
        if !gw.enlist_buckets.take(
            format!("addr:{ip}"),
            knobs.enlist_per_address_per_minute,
            knobs.enlist_burst,
        ) {
            return Err(refused(
                429,
                "rate-limited",
                "Too many enlistments",
                "too many enlistments from this address (interop.enlist_per_address_per_minute); wait a minute and retry",
            ));
        }
    }
    let req: EnlistRequest = serde_json::from_slice(body).map_err(|e| {
        refused(
            400,
            "bad-request",
            "Malformed enlistment request",
            format!("the body must be JSON {{\"assertion\", \"identity_key\", \"registration_id\"}}: {e}"),
        )
    })?;
    let unverified =
        UnverifiedAssertion::parse(&req.assertion).map_err(|e| assertion_problem(&e))?;
    let issuer = unverified.issuer().to_owned();
    let store_failed = |e: StoreError| {
        tracing::error!(error = %e, "store failure during enlistment");
        refused(
            503,
            "store-unavailable",
            "Store unavailable",
            "the hub's store failed; retry later",
        )
    };
    let provider = gw.store.provider(&issuer).await.map_err(store_failed)?;
    let Some(provider) = provider else {
        return Err(refused(
            403,
            "unknown-issuer",
            "Unknown issuer",
            format!(
                "provider {issuer:?} is not registered at this hub; its operator must onboard it first (portico admin provider add)"
            ),
        ));
    };
    if provider.status != ProviderStatus::Active {
        return Err(refused(
            403,
            "provider-suspended",
            "Provider suspended",
            format!(
                "provider {issuer:?} is suspended by this hub's operator; enlistments are refused until it is resumed"
            ),
        ));
    }
    if !gw.enlist_buckets.take(
        format!("provider:{issuer}"),
        knobs.enlist_per_provider_per_minute,
        knobs
            .enlist_burst
            .max(knobs.enlist_per_provider_per_minute / 6),
    ) {
        return Err(refused(
            429,
            "rate-limited",
            "Too many enlistments",
            format!(
                "too many enlistments for provider {issuer:?} (interop.enlist_per_provider_per_minute); retry in a minute"
            ),
        ));
    }
    let key = decode_public_key(&b64url_encode(&provider.public_key)).map_err(|e| {
        refused(
            500,
            "provider-key-invalid",
            "Registered provider key invalid",
            format!("the public key registered for {issuer:?} is unusable ({e}); the hub operator must register it again"),
        )
    })?;
    let now = unix_now();
    let policy = VerifyPolicy {
        max_lifetime: knobs.assertion_max_lifetime_secs.into(),
        clock_skew: knobs.clock_skew_secs.into(),
    };
    let claims = unverified
        .verify(&key, &gw.config.domain, now, &policy)
        .map_err(|e| assertion_problem(&e))?;
    let identity_key = decode_identity_key(&req.identity_key).map_err(|e| {
        refused(
            400,
            "bad-identity-key",
            "Invalid identity key",
            e.to_string(),
        )
    })?;
    if claims.ik != req.identity_key {
        return Err(refused(
            400,
            "key-mismatch",
            "Identity key does not match the assertion",
            "identity_key differs from the assertion's ik; ask the provider for an assertion of this device's identity key",
        ));
    }
    let digest = sha2::Sha256::digest(body).to_vec();
    let keep_until = claims.exp.saturating_add(knobs.clock_skew_secs.into());
    let seen = gw
        .store
        .remember_assertion(claims.jti.clone(), digest.clone(), keep_until, now)
        .await
        .map_err(store_failed)?;
    if seen.is_some_and(|d| d != digest) {
        return Err(refused(
            409,
            "replayed",
            "Assertion already used",
            "this assertion was already used for another request; ask the provider for a fresh assertion (an exact retry of the same request is accepted)",
        ));
    }
    let jid = super::internal_jid(&gw.keys.secret, &issuer, &claims.sub, &gw.config.domain);
    let credential = zeroize::Zeroizing::new(super::hmac(
        &gw.keys.secret,
        &[b"cred", claims.jti.as_bytes(), &identity_key],
    ));
    let device = gw
        .store
        .enlist(
            Enlistment {
                provider: issuer.clone(),
                visible_id: claims.sub.clone(),
                account: jid.clone(),
                identity_key: identity_key.to_vec(),
                registration_id: req.registration_id,
                credential_hash: credential_hash(&credential).to_vec(),
            },
            gw.config.max_devices,
        )
        .await
        .map_err(|e| match e {
            StoreError::DeviceCapReached { max } => refused(
                409,
                "device-cap-reached",
                "Too many devices",
                format!("this user has {max} devices already (max_devices); remove one before enlisting another"),
            ),
            other => store_failed(other),
        })?;
    tracing::info!(provider = %issuer, device, "third-party device enlisted");
    if let Ok(mut e) = gw.enlisted.lock() {
        e.push(jid.clone());
    }
    Ok(EnlistResponse {
        jid,
        device_id: device,
        credential: Secret::new(b64url_encode(credential.as_ref())),
        hub_domain: gw.config.domain.clone(),
    })
}
