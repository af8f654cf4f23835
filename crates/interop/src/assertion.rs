//! Identity assertions, version 1: a provider's signed statement that its logged-in user owns a
//! visible id and is enlisting the device with one identity key, for one hub, for a few minutes.
//!
//! Token: `pia1.` + b64url(claims JSON) + `.` + b64url(Ed25519 signature over the ASCII bytes
//! `pia1.` + b64url(claims JSON)), at most [`MAX_ASSERTION_LEN`] bytes. Claims:
//! `{"iss", "sub", "aud", "ik", "iat", "exp", "jti"}` (see [`Claims`]).
//!
//! [`UnverifiedAssertion::parse`] checks the shape; [`UnverifiedAssertion::verify`] checks the
//! signature, audience and times. The hub checks the rest itself: that the issuer is registered
//! and active, that the `jti` was not seen before (replay), and that `ik` equals the identity key
//! in the enlistment request.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::keys::{
    KeyError, b64url_decode, b64url_encode, decode_identity_key, validate_provider_id,
    validate_visible_id,
};

/// The version prefix of every v1 token.
pub const PREFIX: &str = "pia1.";
/// Longest token accepted, in bytes.
pub const MAX_ASSERTION_LEN: usize = 4096;
/// Shortest unique id (`jti`) accepted, in characters.
pub const MIN_JTI_LEN: usize = 16;
/// Longest unique id (`jti`) accepted, in characters.
pub const MAX_JTI_LEN: usize = 128;
/// Longest audience (hub domain) accepted, in bytes.
pub const MAX_AUDIENCE_LEN: usize = 255;
/// Default and largest sensible lifetime (`exp − iat`), in seconds.
pub const DEFAULT_MAX_LIFETIME: u64 = 600;
/// Default tolerance for clocks that disagree, in seconds.
pub const DEFAULT_CLOCK_SKEW: u64 = 60;

/// What an assertion states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the provider id (`[a-z0-9-]{1,32}`).
    pub iss: String,
    /// Subject: the user's visible id, e.g. `bob@birdy.example`.
    pub sub: String,
    /// Audience: the hub's domain.
    pub aud: String,
    /// The device's identity public key: b64url of 33 bytes (`0x05` || X25519).
    pub ik: String,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// Expires at, unix seconds.
    pub exp: u64,
    /// Unique id of this assertion (16 to 128 characters).
    pub jti: String,
}

impl Claims {
    /// Checks the syntax of every field (not the times against a clock).
    fn check_fields(&self) -> Result<(), AssertionError> {
        validate_provider_id(&self.iss).map_err(|_| AssertionError::Malformed {
            reason: "iss is not a provider id ([a-z0-9-]{1,32})",
        })?;
        validate_visible_id(&self.sub).map_err(|_| AssertionError::Malformed {
            reason: "sub is not a visible id (user@domain, at most 256 bytes)",
        })?;
        if self.aud.is_empty() || self.aud.len() > MAX_AUDIENCE_LEN {
            return Err(AssertionError::Malformed {
                reason: "aud must be the hub domain (1 to 255 bytes)",
            });
        }
        decode_identity_key(&self.ik).map_err(|e| AssertionError::Malformed {
            reason: match e {
                KeyError::WrongIdentityKeyType => "ik must start with the type byte 0x05",
                _ => "ik must be b64url of a 33-byte identity key",
            },
        })?;
        let jti_len = self.jti.chars().count();
        if !(MIN_JTI_LEN..=MAX_JTI_LEN).contains(&jti_len)
            || self.jti.chars().any(|c| c.is_control())
        {
            return Err(AssertionError::Malformed {
                reason: "jti must be 16 to 128 printable characters",
            });
        }
        if self.exp <= self.iat {
            return Err(AssertionError::Malformed {
                reason: "exp must be later than iat",
            });
        }
        Ok(())
    }
}

/// Why an assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    /// Longer than [`MAX_ASSERTION_LEN`].
    #[error("assertion is longer than {max} bytes; keep the claims short")]
    Oversized {
        /// The limit.
        max: usize,
    },
    /// Not a well-formed token or claims set.
    #[error("assertion is malformed ({reason}); ask the provider for a new one")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// A version this code does not speak.
    #[error("assertion version is not supported; this hub accepts only 'pia1.' tokens")]
    UnsupportedVersion,
    /// The signature does not verify with the issuer's registered key.
    #[error(
        "assertion signature does not verify with the issuer's registered key; check that the provider signs with the key registered at the hub"
    )]
    BadSignature,
    /// Made for another hub.
    #[error(
        "assertion is for audience {found:?}, not this hub ({expected:?}); request one for {expected:?}"
    )]
    WrongAudience {
        /// This hub's domain.
        expected: String,
        /// The `aud` claim.
        found: String,
    },
    /// Past its expiry.
    #[error("assertion expired; ask the provider for a fresh one and enlist at once")]
    Expired,
    /// Issued in the future (beyond the allowed clock skew).
    #[error("assertion is not valid yet (issued in the future); check the provider's clock")]
    NotYetValid,
    /// `exp − iat` longer than allowed.
    #[error(
        "assertion lifetime {lifetime} s exceeds the limit of {max} s; issue assertions valid for at most {max} s"
    )]
    LifetimeTooLong {
        /// `exp − iat`.
        lifetime: u64,
        /// The limit.
        max: u64,
    },
}

/// Limits a verifier applies to times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Largest `exp − iat`, seconds (default 600).
    pub max_lifetime: u64,
    /// Tolerated clock difference, seconds (default 60).
    pub clock_skew: u64,
}

impl Default for VerifyPolicy {
    fn default() -> Self {
        Self {
            max_lifetime: DEFAULT_MAX_LIFETIME,
            clock_skew: DEFAULT_CLOCK_SKEW,
        }
    }
}

/// Signs claims into a `pia1.` token. The caller fills the claims; nothing is checked here,
/// so a provider should build them with [`Claims`] fields it validated.
pub fn sign(claims: &Claims, key: &SigningKey) -> String {
    let json = serde_json::to_vec(claims).expect("claims are plain strings and numbers");
    let mut token = String::with_capacity(PREFIX.len() + json.len() * 4 / 3 + 90);
    token.push_str(PREFIX);
    token.push_str(&b64url_encode(&json));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&b64url_encode(&signature.to_bytes()));
    token
}

/// A token whose shape was checked but whose signature and times were not yet.
#[derive(Debug, Clone)]
pub struct UnverifiedAssertion {
    signed_part: String,
    signature: Signature,
    claims: Claims,
}

impl UnverifiedAssertion {
    /// Parses a token: size, version, structure, base64, JSON and field syntax.
    pub fn parse(token: &str) -> Result<Self, AssertionError> {
        if token.len() > MAX_ASSERTION_LEN {
            return Err(AssertionError::Oversized {
                max: MAX_ASSERTION_LEN,
            });
        }
        let Some(rest) = token.strip_prefix(PREFIX) else {
            return Err(if looks_versioned(token) {
                AssertionError::UnsupportedVersion
            } else {
                AssertionError::Malformed {
                    reason: "it does not start with 'pia1.'",
                }
            });
        };
        let Some((claims_b64, signature_b64)) = rest.split_once('.') else {
            return Err(AssertionError::Malformed {
                reason: "the signature part is missing",
            });
        };
        let json = b64url_decode(claims_b64, "claims").map_err(|_| AssertionError::Malformed {
            reason: "the claims part is not b64url",
        })?;
        let signature_bytes: [u8; 64] = b64url_decode(signature_b64, "signature")
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(AssertionError::Malformed {
                reason: "the signature part is not b64url of 64 bytes",
            })?;
        let claims: Claims =
            serde_json::from_slice(&json).map_err(|_| AssertionError::Malformed {
                reason: "the claims are not the expected JSON object",
            })?;
        claims.check_fields()?;
        let signed_len = PREFIX.len() + claims_b64.len();
        Ok(Self {
            signed_part: token[..signed_len].to_owned(),
            signature: Signature::from_bytes(&signature_bytes),
            claims,
        })
    }

    /// The claimed issuer, so the verifier can look up its key. Not yet trustworthy.
    pub fn issuer(&self) -> &str {
        &self.claims.iss
    }

    /// The claims before verification. Not yet trustworthy; use only to route or log.
    pub fn unverified_claims(&self) -> &Claims {
        &self.claims
    }

    /// Verifies signature, audience and times; returns the claims when all hold.
    ///
    /// `now` is unix seconds. Checks run in this order: signature, audience, lifetime, expiry,
    /// not-yet-valid.
    pub fn verify(
        self,
        key: &VerifyingKey,
        expected_audience: &str,
        now: u64,
        policy: &VerifyPolicy,
    ) -> Result<Claims, AssertionError> {
        key.verify_strict(self.signed_part.as_bytes(), &self.signature)
            .map_err(|_| AssertionError::BadSignature)?;
        let claims = self.claims;
        if claims.aud != expected_audience {
            return Err(AssertionError::WrongAudience {
                expected: expected_audience.to_owned(),
                found: claims.aud.chars().take(MAX_AUDIENCE_LEN).collect(),
            });
        }
        let lifetime = claims.exp - claims.iat; // exp > iat was checked at parse
        if lifetime > policy.max_lifetime {
            return Err(AssertionError::LifetimeTooLong {
                lifetime,
                max: policy.max_lifetime,
            });
        }
        if now > claims.exp.saturating_add(policy.clock_skew) {
            return Err(AssertionError::Expired);
        }
        if claims.iat > now.saturating_add(policy.clock_skew) {
            return Err(AssertionError::NotYetValid);
        }
        Ok(claims)
    }
}

/// True for `pia<digits>.` prefixes other than v1 (a future version, not garbage).
fn looks_versioned(token: &str) -> bool {
    token.strip_prefix("pia").is_some_and(|rest| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && rest.as_bytes().get(digits) == Some(&b'.')
    })
}

#[cfg(test)]
#[path = "assertion_tests.rs"]
mod tests;
