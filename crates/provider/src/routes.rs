//! The provider's HTTP API.
//!
//! For its own users (bearer session tokens): `POST /v1/signup` (when open), `POST /v1/login`,
//! `POST /v1/logout`, `POST /v1/assertion`, `GET /v1/pushes`. For the hub (signed requests,
//! see `portico_interop::http_sig`): `POST /auth`, `POST /push`. For anyone: `GET /healthz`,
//! `GET /v1/info`. Every error is problem+json.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use portico_interop::api::{
    AssertionRequest, AssertionResponse, AuthRequest, AuthResponse, LoginRequest, LoginResponse,
    PushRequest,
};
use portico_interop::assertion::{self, Claims};
use portico_interop::http_sig::{HUB_SIGNER, RequestVerifier};
use portico_interop::keys::{b64url_encode, decode_identity_key, encode_public_key};
use portico_interop::{SigningKey, VerifyingKey};
use rand::RngCore;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::config::ProviderConfig;
use crate::problem::ApiProblem;
use crate::store::{PasswordCheck, ProviderStore, PushRecord, SessionState};

/// Largest request body, bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// Pushes `GET /v1/pushes` returns at most.
pub const PUSH_LOG_LIMIT: u32 = 200;

/// What every handler shares; also handed to the media module's router.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: ProviderConfig,
    store: Arc<ProviderStore>,
    key: SigningKey,
    verifier: Mutex<RequestVerifier>,
    webhook: Option<mpsc::Sender<PushRecord>>,
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl AppState {
    /// State for a provider with this configuration, database, signing key and webhook queue.
    pub fn new(
        config: ProviderConfig,
        store: Arc<ProviderStore>,
        key: SigningKey,
        webhook: Option<mpsc::Sender<PushRecord>>,
    ) -> Self {
        let verifier = RequestVerifier::new(
            config.max_request_skew,
            portico_interop::http_sig::DEFAULT_NONCE_CAPACITY,
        );
        Self {
            inner: Arc::new(Inner {
                config,
                store,
                key,
                verifier: Mutex::new(verifier),
                webhook,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ProviderConfig {
        &self.inner.config
    }

    /// The database.
    pub fn store(&self) -> &Arc<ProviderStore> {
        &self.inner.store
    }

    /// The provider's public key.
    pub fn public_key(&self) -> VerifyingKey {
        self.inner.key.verifying_key()
    }

    /// Runs a database call off the async threads.
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ProviderStore) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Result<T, ApiProblem> {
        let store = self.inner.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(result) => result.map_err(ApiProblem::from),
            Err(_) => Err(ApiProblem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "a database task failed; retry",
            )),
        }
    }

    /// The user name behind the request's `Authorization: Bearer <session token>`.
    pub async fn bearer_user(&self, headers: &HeaderMap) -> Result<String, ApiProblem> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned())
            .ok_or_else(|| {
                ApiProblem::unauthenticated(
                    "send Authorization: Bearer <session token> from POST /v1/login",
                )
            })?;
        let now = now_unix();
        match self.db(move |s| s.session(&token, now)).await? {
            SessionState::Valid(user) => Ok(user),
            SessionState::Expired => Err(ApiProblem::unauthenticated(
                "the session expired; log in again",
            )),
            SessionState::Revoked => Err(ApiProblem::new(
                StatusCode::FORBIDDEN,
                "user-revoked",
                "Account revoked",
                "this account was revoked by the provider's operator",
            )),
            SessionState::Unknown => Err(ApiProblem::unauthenticated(
                "the session token is unknown or logged out; log in again",
            )),
        }
    }

    /// Verifies a request signed by the hub.
    fn verify_hub(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), ApiProblem> {
        let hub_key = self.inner.config.hub_key;
        let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        let mut verifier = self
            .inner
            .verifier
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        verifier.verify(
            |name| headers.get(name).map(|v| v.as_bytes()),
            |signer| if signer == HUB_SIGNER { hub_key } else { None },
            method.as_str(),
            path,
            body,
            now_unix(),
        )?;
        Ok(())
    }
}

fn parse<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, ApiProblem> {
    serde_json::from_slice(body).map_err(|e| ApiProblem::bad_body(what, &e))
}

/// The provider's routes (without media).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/info", get(info))
        .route("/v1/signup", post(signup))
        .route("/v1/login", post(login))
        .route("/v1/logout", post(logout))
        .route("/v1/assertion", post(issue_assertion))
        .route("/v1/pushes", get(pushes))
        .route("/auth", post(auth))
        .route("/push", post(push))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// 404 for every other path.
pub async fn not_found(uri: Uri) -> ApiProblem {
    ApiProblem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "No such endpoint",
        format!("{} is not served here; see docs/third-party.md", uri.path()),
    )
}

async fn healthz() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

async fn info(State(state): State<AppState>) -> Response {
    let c = state.config();
    Json(serde_json::json!({
        "provider": c.id,
        "domain": c.domain,
        "public_key": encode_public_key(&state.public_key()),
        "open_signup": c.open_signup,
    }))
    .into_response()
}

async fn start_session(state: &AppState, user: String) -> Result<LoginResponse, ApiProblem> {
    let ttl = state.config().session_ttl;
    let name = user.clone();
    let token = state
        .db(move |s| s.create_session(&name, now_unix(), ttl))
        .await?;
    Ok(LoginResponse {
        session_token: token,
        visible_id: state.config().visible_id(&user),
        provider: state.config().id.clone(),
    })
}

async fn signup(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiProblem> {
    if !state.config().open_signup {
        return Err(ApiProblem::new(
            StatusCode::FORBIDDEN,
            "signup-closed",
            "Sign-up is closed",
            "this provider creates accounts only through its operator (portico provider user add)",
        ));
    }
    let req: LoginRequest = parse("signup", &body)?;
    let user = req.user.clone();
    state
        .db(move |s| s.add_user(&req.user, req.password.expose(), now_unix()))
        .await?;
    let response = start_session(&state, user).await?;
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

async fn login(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiProblem> {
    let req: LoginRequest = parse("login", &body)?;
    let user = req.user.clone();
    match state
        .db(move |s| s.check_password(&req.user, req.password.expose()))
        .await?
    {
        PasswordCheck::Ok => Ok(Json(start_session(&state, user).await?).into_response()),
        PasswordCheck::Wrong => Err(ApiProblem::new(
            StatusCode::UNAUTHORIZED,
            "wrong-credentials",
            "Wrong user name or password",
            "check the user name and password",
        )),
        PasswordCheck::Revoked => Err(ApiProblem::new(
            StatusCode::FORBIDDEN,
            "user-revoked",
            "Account revoked",
            "this account was revoked by the provider's operator",
        )),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiProblem> {
    state.bearer_user(&headers).await?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    state.db(move |s| s.end_session(&token)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn issue_assertion(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiProblem> {
    let user = state.bearer_user(&headers).await?;
    let req: AssertionRequest = parse("assertion request", &body)?;
    decode_identity_key(&req.identity_key).map_err(|e| {
        ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "bad-identity-key",
            "Invalid identity key",
            e.to_string(),
        )
    })?;
    let config = state.config();
    let audience_ok = !req.audience.is_empty()
        && req.audience.len() <= assertion::MAX_AUDIENCE_LEN
        && (config.hub_domains.is_empty() || config.hub_domains.contains(&req.audience));
    if !audience_ok {
        return Err(ApiProblem::new(
            StatusCode::FORBIDDEN,
            "audience-not-allowed",
            "Hub not allowed",
            format!(
                "this provider issues assertions only for {:?}",
                config.hub_domains
            ),
        ));
    }
    let mut jti = [0u8; 18];
    rand::rng().fill_bytes(&mut jti);
    let now = now_unix();
    let claims = Claims {
        iss: config.id.clone(),
        sub: config.visible_id(&user),
        aud: req.audience,
        ik: req.identity_key,
        iat: now,
        exp: now + config.assertion_lifetime,
        jti: b64url_encode(&jti),
    };
    let token = assertion::sign(&claims, &state.inner.key);
    Ok(Json(AssertionResponse {
        assertion: token,
        expires_at: claims.exp,
    })
    .into_response())
}

async fn pushes(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiProblem> {
    let user = state.bearer_user(&headers).await?;
    let log = state
        .db(move |s| s.pushes(Some(&user), PUSH_LOG_LIMIT))
        .await?;
    Ok(Json(log).into_response())
}

async fn auth(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiProblem> {
    state.verify_hub(&method, &uri, &headers, &body)?;
    let req: AuthRequest = parse("auth request", &body)?;
    let config = state.config();
    let cache_seconds = config.auth_cache_seconds;
    let id = config.id.clone();
    let deny = |reason: String| {
        Json(AuthResponse {
            allowed: false,
            reason: Some(reason),
            cache_seconds,
        })
        .into_response()
    };
    let Some(user) = config.user_of(&req.visible_id).map(str::to_owned) else {
        return Ok(deny(format!("{} is not a user of {id}", req.visible_id)));
    };
    let name = user.clone();
    let revoked = state.db(move |s| s.user_revoked(&name)).await?;
    match revoked {
        None => return Ok(deny(format!("{} is not a user of {id}", req.visible_id))),
        Some(true) => {
            return Ok(deny(format!(
                "the account {} was revoked by {id}",
                req.visible_id
            )));
        }
        Some(false) => {}
    }
    let token = req.session_token.clone();
    let now = now_unix();
    let verdict = state.db(move |s| s.session(token.expose(), now)).await?;
    Ok(match verdict {
        SessionState::Valid(owner) if owner == user => Json(AuthResponse {
            allowed: true,
            reason: None,
            cache_seconds,
        })
        .into_response(),
        SessionState::Valid(_) => deny(format!(
            "the session token belongs to another {id} user; log in as {}",
            req.visible_id
        )),
        SessionState::Expired => deny(format!("the {id} session expired; log in to {id} again")),
        SessionState::Unknown => deny(format!(
            "the {id} session is unknown or logged out; log in to {id} again"
        )),
        SessionState::Revoked => deny(format!(
            "the account {} was revoked by {id}",
            req.visible_id
        )),
    })
}

async fn push(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiProblem> {
    state.verify_hub(&method, &uri, &headers, &body)?;
    let req: PushRequest = parse("push request", &body)?;
    let Some(user) = state.config().user_of(&req.visible_id).map(str::to_owned) else {
        return Err(ApiProblem::new(
            StatusCode::NOT_FOUND,
            "unknown-user",
            "No such user",
            format!("{} is not a user of {}", req.visible_id, state.config().id),
        ));
    };
    let now = now_unix();
    let record = PushRecord {
        push_id: req.push_id.clone(),
        visible_id: req.visible_id.clone(),
        jid: req.jid.clone(),
        device_id: req.device_id,
        pending: req.pending,
        received_at: now,
        forwarded: false,
    };
    let fresh = state.db(move |s| s.record_push(&user, &req, now)).await?;
    tracing::info!(
        device = record.device_id,
        pending = record.pending,
        fresh,
        "push from the hub"
    );
    if fresh
        && let Some(webhook) = &state.inner.webhook
        && webhook.try_send(record).is_err()
    {
        tracing::warn!("webhook queue full; push kept in the log only");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
