//! JSON bodies of the interoperability endpoints, and RFC 9457 problems.
//!
//! Hub endpoint (called by the third-party client): `POST /v1/enlist` ([`EnlistRequest`] →
//! [`EnlistResponse`]). Provider endpoints called by the hub, signed with
//! [`crate::http_sig`]: `POST {endpoint}/auth` ([`AuthRequest`] → [`AuthResponse`]) and
//! `POST {endpoint}/push` ([`PushRequest`] → 204). The reference provider's own client API:
//! `POST /v1/login` ([`LoginRequest`] → [`LoginResponse`]), `POST /v1/assertion`
//! ([`AssertionRequest`] → [`AssertionResponse`]), `POST /v1/logout`.
//! Every error is a [`Problem`] sent as `application/problem+json`.

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// Media type of a [`Problem`] body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
/// Prefix of every problem `type`.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:portico:problem:";

/// A secret string (credential, session token, password): zeroized on drop, never printed by
/// `Debug`. Serialized as a plain JSON string.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret's text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// `POST /v1/enlist` on the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnlistRequest {
    /// A `pia1.` identity assertion from the user's provider.
    pub assertion: String,
    /// The device's identity public key, b64url of 33 bytes; must equal the assertion's `ik`.
    pub identity_key: String,
    /// The device's Signal registration id.
    pub registration_id: u32,
}

/// Answer to `POST /v1/enlist`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnlistResponse {
    /// The internal bare JID, `<opaque>@<provider>.interop.<hub-domain>`.
    pub jid: String,
    /// The device id to bind as resource.
    pub device_id: u32,
    /// The device credential, b64url of 32 bytes; goes into the `pit1:` password.
    pub credential: Secret,
    /// The hub's domain.
    pub hub_domain: String,
}

/// `POST {endpoint}/auth` on the provider (signed by the hub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    /// The user's visible id.
    pub visible_id: String,
    /// The user's internal bare JID.
    pub jid: String,
    /// The device logging in.
    pub device_id: u32,
    /// The provider session token the device presented.
    pub session_token: Secret,
}

/// Answer to `POST {endpoint}/auth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResponse {
    /// Whether the user may log in.
    pub allowed: bool,
    /// Why not, in words the user can act on (shown in the SASL failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long the hub may reuse this answer, seconds.
    pub cache_seconds: u32,
}

/// `POST {endpoint}/push` on the provider (signed by the hub): wake this device. Carries no
/// content and no sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    /// The user's visible id.
    pub visible_id: String,
    /// The user's internal bare JID.
    pub jid: String,
    /// The device to wake.
    pub device_id: u32,
    /// Unique id of this push (for de-duplication of retries).
    pub push_id: String,
    /// Messages waiting for the device.
    pub pending: u32,
}

/// `POST /v1/login` on the reference provider (also the body of `POST /v1/signup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The user name at the provider (the visible id's local part).
    pub user: String,
    /// The user's password at the provider.
    pub password: Secret,
}

/// Answer to `POST /v1/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    /// Bearer token for the provider's API; also goes into the hub `pit1:` password.
    pub session_token: Secret,
    /// The user's visible id, e.g. `bob@birdy.example`.
    pub visible_id: String,
    /// The provider id (the assertions' issuer).
    pub provider: String,
}

/// `POST /v1/assertion` on the reference provider (with `Authorization: Bearer <token>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionRequest {
    /// The device's identity public key, b64url of 33 bytes.
    pub identity_key: String,
    /// The hub's domain the assertion is for.
    pub audience: String,
}

/// Answer to `POST /v1/assertion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionResponse {
    /// The `pia1.` token.
    pub assertion: String,
    /// Its expiry, unix seconds.
    pub expires_at: u64,
}

/// An RFC 9457 problem detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// `urn:portico:problem:<slug>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened this time and what to do.
    pub detail: String,
}

impl Problem {
    /// A problem of type `urn:portico:problem:<slug>`.
    pub fn new(slug: &str, title: &str, status: u16, detail: impl Into<String>) -> Self {
        Self {
            problem_type: format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
        }
    }

    /// The slug after `urn:portico:problem:`, if the type has that prefix.
    pub fn slug(&self) -> Option<&str> {
        self.problem_type.strip_prefix(PROBLEM_TYPE_PREFIX)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.title, self.status, self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_uses_the_rfc_9457_field_names() {
        let p = Problem::new("expired", "Assertion expired", 401, "ask again");
        let json = serde_json::to_value(&p).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "type": "urn:portico:problem:expired",
                "title": "Assertion expired",
                "status": 401,
                "detail": "ask again"
            })
        );
        let back: Problem = serde_json::from_value(json).expect("parses");
        assert_eq!(back.slug(), Some("expired"));
    }

    #[test]
    fn secrets_travel_as_strings_but_never_print() {
        let r = AuthRequest {
            visible_id: "bob@birdy.example".into(),
            jid: "abc@birdy.interop.hub.example".into(),
            device_id: 1,
            session_token: Secret::new("tok-123"),
        };
        let json = serde_json::to_string(&r).expect("serializes");
        assert!(json.contains(r#""session_token":"tok-123""#), "{json}");
        assert!(!format!("{r:?}").contains("tok-123"));
        let back: AuthRequest = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, r);
    }

    #[test]
    fn auth_response_reason_is_optional() {
        let r: AuthResponse =
            serde_json::from_str(r#"{"allowed":true,"cache_seconds":30}"#).expect("parses");
        assert_eq!(r.reason, None);
        assert!(r.allowed);
        assert!(serde_json::from_str::<AuthResponse>(r#"{"allowed":true}"#).is_err());
    }
}
