//! RFC 9457 problem responses for every error the provider's HTTP API returns.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use portico_interop::api::{PROBLEM_CONTENT_TYPE, Problem};
use portico_interop::http_sig::HttpSigError;

use crate::store::StoreError;

/// A problem ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiProblem(pub Problem);

impl ApiProblem {
    /// A problem with status, slug, title and detail.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self(Problem::new(slug, title, status.as_u16(), detail))
    }

    /// 400 for a body that is not the expected JSON.
    pub fn bad_body(what: &str, error: &serde_json::Error) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request-body",
            "The request body is not the expected JSON",
            format!("{what}: {error}; see docs/third-party.md for the fields"),
        )
    }

    /// 401 for a missing or dead bearer token.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "not-logged-in",
            "Log in first",
            detail,
        )
    }
}

impl From<StoreError> for ApiProblem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UserExists(_) => Self::new(
                StatusCode::CONFLICT,
                "user-exists",
                "User exists",
                e.to_string(),
            ),
            StoreError::InvalidUserName(_) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid-user-name",
                "Invalid user name",
                e.to_string(),
            ),
            StoreError::InvalidPassword => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid-password",
                "Invalid password",
                e.to_string(),
            ),
            StoreError::UnknownUser(_) => Self::new(
                StatusCode::NOT_FOUND,
                "unknown-user",
                "No such user",
                e.to_string(),
            ),
            StoreError::Sqlite(_) => {
                tracing::error!(error = %e, "provider database failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    "The provider's database is not available",
                    "retry later; the operator should check the provider log",
                )
            }
        }
    }
}

impl From<HttpSigError> for ApiProblem {
    fn from(e: HttpSigError) -> Self {
        let (status, slug, title) = match e {
            HttpSigError::MissingHeader(_) => (
                StatusCode::UNAUTHORIZED,
                "signature-header-missing",
                "Signature header missing",
            ),
            HttpSigError::BadHeader(_) => (
                StatusCode::UNAUTHORIZED,
                "signature-header-malformed",
                "Signature header malformed",
            ),
            HttpSigError::UnknownSigner(_) => {
                (StatusCode::UNAUTHORIZED, "unknown-signer", "Unknown signer")
            }
            HttpSigError::Stale { .. } => (
                StatusCode::UNAUTHORIZED,
                "stale-request",
                "Request timestamp out of range",
            ),
            HttpSigError::BadSignature => (
                StatusCode::UNAUTHORIZED,
                "bad-signature",
                "Request signature invalid",
            ),
            HttpSigError::Replayed => {
                (StatusCode::CONFLICT, "replayed-request", "Request replayed")
            }
            HttpSigError::NonceCacheFull { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "too-many-signed-requests",
                "Too many signed requests",
            ),
        };
        Self::new(status, slug, title, e.to_string())
    }
}

impl IntoResponse for ApiProblem {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self.0).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)], body).into_response()
    }
}
