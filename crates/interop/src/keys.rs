//! Keys and identifiers as they travel: URL-safe base64 without padding (`b64url`), Ed25519
//! public keys, device identity keys (libsignal's 33-byte encoding) and provider ids.

use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

/// Longest provider id, in bytes.
pub const MAX_PROVIDER_ID_LEN: usize = 32;
/// Longest visible id (`user@domain`), in bytes.
pub const MAX_VISIBLE_ID_LEN: usize = 256;
/// Length of a device identity key in libsignal's encoding (`0x05` then 32 bytes of X25519).
pub const IDENTITY_KEY_LEN: usize = 33;
/// The type byte libsignal puts before a Curve25519 public key.
pub const IDENTITY_KEY_TYPE: u8 = 0x05;

/// What was wrong with a key or identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not URL-safe base64 without padding.
    #[error(
        "{what} is not URL-safe base64 without padding; encode it with the URL-safe alphabet and no '=' padding"
    )]
    NotBase64 {
        /// Which value.
        what: &'static str,
    },
    /// Decoded to the wrong number of bytes.
    #[error("{what} must be {expected} bytes, got {got}; check that you sent the whole key")]
    WrongLength {
        /// Which value.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Length found.
        got: usize,
    },
    /// An Ed25519 public key that is not a valid curve point (or is weak).
    #[error(
        "the Ed25519 public key is not a valid point; copy it again from the signer's start-up line"
    )]
    InvalidPublicKey,
    /// An identity key whose first byte is not 0x05.
    #[error(
        "the identity key must start with the type byte 0x05 (libsignal's Curve25519 encoding)"
    )]
    WrongIdentityKeyType,
    /// A provider id outside `[a-z0-9-]{1,32}`.
    #[error("provider id {0:?} is invalid: use 1 to 32 characters from a-z, 0-9 and '-'")]
    InvalidProviderId(String),
    /// A visible id that is not `user@domain` within the length limit.
    #[error(
        "visible id is invalid: use user@domain, at most 256 bytes, without spaces or control characters"
    )]
    InvalidVisibleId,
}

/// Encodes bytes as URL-safe base64 without padding.
pub fn b64url_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes URL-safe base64 without padding; `what` names the value in the error.
pub fn b64url_decode(text: &str, what: &'static str) -> Result<Vec<u8>, KeyError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| KeyError::NotBase64 { what })
}

/// Decodes a b64url value that must be exactly `N` bytes long.
pub fn b64url_decode_array<const N: usize>(
    text: &str,
    what: &'static str,
) -> Result<[u8; N], KeyError> {
    let bytes = b64url_decode(text, what)?;
    let got = bytes.len();
    bytes.try_into().map_err(|_| KeyError::WrongLength {
        what,
        expected: N,
        got,
    })
}

/// Creates a fresh Ed25519 signing key from the caller's RNG.
pub fn generate_signing_key<R: CryptoRng + ?Sized>(rng: &mut R) -> SigningKey {
    let mut seed = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(seed.as_mut());
    SigningKey::from_bytes(&seed)
}

/// Encodes an Ed25519 signing key's 32-byte seed as b64url (for a key file).
pub fn encode_signing_key(key: &SigningKey) -> Zeroizing<String> {
    Zeroizing::new(b64url_encode(key.as_bytes()))
}

/// Decodes an Ed25519 signing key's 32-byte seed from b64url (a key file).
pub fn decode_signing_key(text: &str) -> Result<SigningKey, KeyError> {
    let seed = Zeroizing::new(b64url_decode_array::<32>(text.trim(), "signing key")?);
    Ok(SigningKey::from_bytes(&seed))
}

/// Encodes an Ed25519 public key as b64url (how operators exchange keys).
pub fn encode_public_key(key: &VerifyingKey) -> String {
    b64url_encode(key.as_bytes())
}

/// Decodes an Ed25519 public key from b64url, refusing invalid and weak (small-order) points.
pub fn decode_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let bytes = b64url_decode_array::<32>(text.trim(), "Ed25519 public key")?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::InvalidPublicKey)?;
    if key.is_weak() {
        return Err(KeyError::InvalidPublicKey);
    }
    Ok(key)
}

/// Decodes a device identity key (b64url of 33 bytes, `0x05` || X25519).
pub fn decode_identity_key(text: &str) -> Result<[u8; IDENTITY_KEY_LEN], KeyError> {
    let key = b64url_decode_array::<IDENTITY_KEY_LEN>(text, "identity key")?;
    if key[0] != IDENTITY_KEY_TYPE {
        return Err(KeyError::WrongIdentityKeyType);
    }
    Ok(key)
}

/// Checks a provider id: `[a-z0-9-]{1,32}`.
pub fn validate_provider_id(id: &str) -> Result<(), KeyError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_PROVIDER_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(KeyError::InvalidProviderId(
            id.chars().take(MAX_PROVIDER_ID_LEN + 8).collect(),
        ))
    }
}

/// Checks a visible id: `user@domain`, both parts non-empty, at most 256 bytes, no whitespace,
/// control characters, `/` or second `@`.
pub fn validate_visible_id(id: &str) -> Result<(), KeyError> {
    let Some((user, domain)) = id.split_once('@') else {
        return Err(KeyError::InvalidVisibleId);
    };
    let clean = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '@' && c != '/')
    };
    if id.len() > MAX_VISIBLE_ID_LEN || !clean(user) || !clean(domain) {
        return Err(KeyError::InvalidVisibleId);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_round_trips_and_bad_ones_are_refused() {
        let key = generate_signing_key(&mut rand::rng());
        let text = encode_public_key(&key.verifying_key());
        assert_eq!(text.len(), 43);
        assert_eq!(decode_public_key(&text), Ok(key.verifying_key()));
        assert!(matches!(
            decode_public_key("not base64!"),
            Err(KeyError::NotBase64 { .. })
        ));
        assert!(matches!(
            decode_public_key(&b64url_encode(&[1u8; 31])),
            Err(KeyError::WrongLength {
                expected: 32,
                got: 31,
                ..
            })
        ));
        // The identity point is small-order: weak.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            decode_public_key(&b64url_encode(&identity)),
            Err(KeyError::InvalidPublicKey)
        );
    }

    #[test]
    fn signing_key_round_trips() {
        let key = generate_signing_key(&mut rand::rng());
        let text = encode_signing_key(&key);
        let back = decode_signing_key(&text).expect("decodes");
        assert_eq!(back.verifying_key(), key.verifying_key());
    }

    #[test]
    fn identity_key_needs_type_byte_and_length() {
        let mut key = [7u8; 33];
        assert_eq!(
            decode_identity_key(&b64url_encode(&key)),
            Err(KeyError::WrongIdentityKeyType)
        );
        key[0] = 5;
        assert_eq!(decode_identity_key(&b64url_encode(&key)), Ok(key));
        assert!(matches!(
            decode_identity_key(&b64url_encode(&key[..32])),
            Err(KeyError::WrongLength { .. })
        ));
    }

    #[test]
    fn provider_ids() {
        assert!(validate_provider_id("birdy").is_ok());
        assert!(validate_provider_id("a-1").is_ok());
        assert!(validate_provider_id(&"a".repeat(32)).is_ok());
        for bad in ["", "Birdy", "bird_y", "bird.y", &"a".repeat(33), "hub/x"] {
            assert!(validate_provider_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn visible_ids() {
        assert!(validate_visible_id("bob@birdy.example").is_ok());
        for bad in [
            "bob",
            "@birdy.example",
            "bob@",
            "bob@@x",
            "b ob@x",
            "bob@x/y",
            "bo\u{0}b@x",
        ] {
            assert_eq!(
                validate_visible_id(bad),
                Err(KeyError::InvalidVisibleId),
                "{bad:?}"
            );
        }
        let long = format!("{}@x", "a".repeat(255));
        assert_eq!(validate_visible_id(&long), Err(KeyError::InvalidVisibleId));
    }
}
