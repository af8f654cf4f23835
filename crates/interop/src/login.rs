//! The `pit1:` password a third-party device logs in to the hub with (SASL PLAIN over TLS).
//!
//! authcid = the internal JID's localpart (or the full bare JID); password =
//! `pit1:` + credential (b64url of 32 bytes, from `/v1/enlist`) + `:` + provider session token.
//! The hub stores only SHA-256 of the credential ([`credential_hash`]) and compares in constant
//! time ([`credential_matches`]); it then asks the provider's `/auth` about the session token.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::keys::b64url_decode_array;

/// Prefix of every third-party password, version 1.
pub const PASSWORD_PREFIX: &str = "pit1:";
/// Length of a device credential, bytes.
pub const CREDENTIAL_LEN: usize = 32;
/// Longest provider session token accepted, bytes.
pub const MAX_SESSION_TOKEN_LEN: usize = 512;

/// Why a `pit1:` password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// The password does not start with `pit1:`.
    #[error("not a third-party password: it must start with 'pit1:'")]
    NotThirdParty,
    /// The credential part is not b64url of 32 bytes.
    #[error(
        "the device credential in the password is not b64url of 32 bytes; use the credential /v1/enlist returned"
    )]
    MalformedCredential,
    /// No session token after the credential.
    #[error(
        "the provider session token is missing; the password is 'pit1:' + credential + ':' + session token"
    )]
    MissingSessionToken,
    /// The session token is too long or has control characters.
    #[error(
        "the provider session token is invalid (at most 512 bytes, no control characters); log in to the provider again"
    )]
    BadSessionToken,
}

/// A parsed `pit1:` password.
#[derive(Debug)]
pub struct PasswordParts<'a> {
    /// The decoded 32-byte device credential.
    pub credential: Zeroizing<[u8; CREDENTIAL_LEN]>,
    /// The provider session token.
    pub session_token: &'a str,
}

/// Builds the password: `pit1:` + credential + `:` + session token.
pub fn compose_password(credential: &str, session_token: &str) -> Zeroizing<String> {
    Zeroizing::new(format!("{PASSWORD_PREFIX}{credential}:{session_token}"))
}

/// True when the password is meant for third-party login (starts with `pit1:`).
pub fn is_third_party_password(password: &str) -> bool {
    password.starts_with(PASSWORD_PREFIX)
}

/// Splits a `pit1:` password into (credential text, session token) without validating them;
/// `None` when it is not of that shape.
pub fn split_password(password: &str) -> Option<(&str, &str)> {
    let rest = password.strip_prefix(PASSWORD_PREFIX)?;
    let (credential, token) = rest.split_once(':')?;
    (!credential.is_empty() && !token.is_empty()).then_some((credential, token))
}

/// Parses and validates a `pit1:` password.
pub fn parse_password(password: &str) -> Result<PasswordParts<'_>, LoginError> {
    let rest = password
        .strip_prefix(PASSWORD_PREFIX)
        .ok_or(LoginError::NotThirdParty)?;
    let (credential_text, token) = rest
        .split_once(':')
        .ok_or(LoginError::MissingSessionToken)?;
    let credential = Zeroizing::new(
        b64url_decode_array::<CREDENTIAL_LEN>(credential_text, "credential")
            .map_err(|_| LoginError::MalformedCredential)?,
    );
    if token.is_empty() {
        return Err(LoginError::MissingSessionToken);
    }
    if token.len() > MAX_SESSION_TOKEN_LEN || token.chars().any(char::is_control) {
        return Err(LoginError::BadSessionToken);
    }
    Ok(PasswordParts {
        credential,
        session_token: token,
    })
}

/// SHA-256 of a credential: what the hub stores.
pub fn credential_hash(credential: &[u8; CREDENTIAL_LEN]) -> [u8; 32] {
    Sha256::digest(credential).into()
}

/// Constant-time check of a presented credential against a stored hash.
pub fn credential_matches(credential: &[u8; CREDENTIAL_LEN], stored_hash: &[u8; 32]) -> bool {
    credential_hash(credential).ct_eq(stored_hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::b64url_encode;
    use proptest::prelude::*;

    fn credential() -> String {
        b64url_encode(&[7u8; 32])
    }

    #[test]
    fn compose_then_parse_round_trips() {
        let pw = compose_password(&credential(), "tok:with:colons");
        assert!(is_third_party_password(&pw));
        assert_eq!(
            split_password(&pw),
            Some((credential().as_str(), "tok:with:colons"))
        );
        let parts = parse_password(&pw).expect("parses");
        assert_eq!(*parts.credential, [7u8; 32]);
        assert_eq!(parts.session_token, "tok:with:colons");
        assert!(credential_matches(
            &parts.credential,
            &credential_hash(&[7u8; 32])
        ));
        assert!(!credential_matches(
            &parts.credential,
            &credential_hash(&[8u8; 32])
        ));
    }

    #[test]
    fn each_bad_password_gets_its_own_error() {
        let c = credential();
        let cases = [
            ("hunter2".to_owned(), LoginError::NotThirdParty),
            (format!("pit1:{c}"), LoginError::MissingSessionToken),
            (format!("pit1:{c}:"), LoginError::MissingSessionToken),
            ("pit1:AAAA:tok".to_owned(), LoginError::MalformedCredential),
            ("pit1::tok".to_owned(), LoginError::MalformedCredential),
            (format!("pit1:{c}:t\u{0}k"), LoginError::BadSessionToken),
            (
                format!("pit1:{c}:{}", "t".repeat(513)),
                LoginError::BadSessionToken,
            ),
        ];
        for (pw, err) in cases {
            assert_eq!(parse_password(&pw).err(), Some(err), "{pw}");
        }
        assert_eq!(split_password("hunter2"), None);
        assert_eq!(split_password("pit1::tok"), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,700}") {
            let _ = parse_password(&s);
            let _ = split_password(&s);
        }
    }
}
