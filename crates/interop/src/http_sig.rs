//! Signed HTTP requests between hub and provider (both ways), version 1.
//!
//! Four headers travel with every request: [`HEADER_SIGNER`] (a provider id, or `hub`),
//! [`HEADER_TIMESTAMP`] (unix seconds), [`HEADER_NONCE`] (b64url of 16 random bytes) and
//! [`HEADER_SIGNATURE`] (b64url of the Ed25519 signature over [`signing_bytes`]):
//!
//! ```text
//! portico-http-v1\n{METHOD}\n{path?query}\n{timestamp}\n{nonce}\n{hex sha256(body)}
//! ```
//!
//! The receiver runs a [`RequestVerifier`]: timestamp within ±300 s (a knob), signature valid
//! for the signer's key, nonce not seen before in that window (a bounded [`NonceCache`]).

use std::collections::{BTreeSet, HashMap};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};

use crate::keys::{b64url_decode_array, b64url_encode, validate_provider_id};

/// Header naming who signed: a provider id, or [`HUB_SIGNER`].
pub const HEADER_SIGNER: &str = "portico-signer";
/// Header carrying the signing time, unix seconds in decimal.
pub const HEADER_TIMESTAMP: &str = "portico-timestamp";
/// Header carrying b64url of 16 random bytes.
pub const HEADER_NONCE: &str = "portico-nonce";
/// Header carrying b64url of the 64-byte Ed25519 signature.
pub const HEADER_SIGNATURE: &str = "portico-signature";
/// The signer name the hub uses.
pub const HUB_SIGNER: &str = "hub";
/// First line of the signed bytes.
pub const SIGNING_DOMAIN: &str = "portico-http-v1";
/// Default largest |now − timestamp|, seconds.
pub const DEFAULT_MAX_SKEW: u64 = 300;
/// Default number of nonces a [`NonceCache`] holds.
pub const DEFAULT_NONCE_CAPACITY: usize = 100_000;

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpSigError {
    /// A required header is absent.
    #[error("header {0} is missing; sign every request with the four Portico-* headers")]
    MissingHeader(&'static str),
    /// A header is present but not in its format.
    #[error("header {0} is malformed; see docs/third-party.md for its format")]
    BadHeader(&'static str),
    /// The signer is not one this receiver knows.
    #[error("signer {0:?} is not known here; register its public key first")]
    UnknownSigner(String),
    /// The timestamp is too far from the receiver's clock.
    #[error(
        "request timestamp is {skew} s away from this server's clock (limit {max} s); sync the clock (NTP) and sign just before sending"
    )]
    Stale {
        /// |now − timestamp|.
        skew: u64,
        /// The limit.
        max: u64,
    },
    /// The signature does not verify.
    #[error(
        "request signature does not verify; sign METHOD, path?query, timestamp, nonce and the body's SHA-256 exactly as sent, with the registered key"
    )]
    BadSignature,
    /// The nonce was already used within the window.
    #[error("request nonce was already used; use 16 fresh random bytes for every request")]
    Replayed,
    /// The nonce cache is full of unexpired nonces.
    #[error(
        "too many signed requests within the replay window ({capacity} remembered); retry later"
    )]
    NonceCacheFull {
        /// The cache's capacity.
        capacity: usize,
    },
}

/// The four header values of one signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// `Portico-Signer`.
    pub signer: String,
    /// `Portico-Timestamp`.
    pub timestamp: u64,
    /// `Portico-Nonce` (b64url).
    pub nonce: String,
    /// `Portico-Signature` (b64url).
    pub signature: String,
}

impl SignatureHeaders {
    /// The headers as (lowercase name, value) pairs, ready to add to a request.
    pub fn pairs(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_SIGNER, self.signer.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_NONCE, self.nonce.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
        ]
    }
}

/// The exact bytes that are signed.
pub fn signing_bytes(
    method: &str,
    path_and_query: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let digest = Sha256::digest(body);
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push_str(&format!("{byte:02x}"));
    }
    format!(
        "{SIGNING_DOMAIN}\n{}\n{path_and_query}\n{timestamp}\n{nonce}\n{hex}",
        method.to_ascii_uppercase()
    )
    .into_bytes()
}

/// Signs one request. `path_and_query` is the request target as sent (e.g. `/auth` or
/// `/v1/push?x=1`), `now` unix seconds; the nonce is drawn from `rng`.
pub fn sign_request<R: CryptoRng + ?Sized>(
    signer: &str,
    key: &SigningKey,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now: u64,
    rng: &mut R,
) -> SignatureHeaders {
    let mut nonce_bytes = [0u8; 16];
    rng.fill_bytes(&mut nonce_bytes);
    let nonce = b64url_encode(&nonce_bytes);
    let bytes = signing_bytes(method, path_and_query, now, &nonce, body);
    SignatureHeaders {
        signer: signer.to_owned(),
        timestamp: now,
        nonce,
        signature: b64url_encode(&key.sign(&bytes).to_bytes()),
    }
}

/// Remembers (signer, nonce) pairs until their window ends; bounded.
#[derive(Debug)]
pub struct NonceCache {
    capacity: usize,
    seen: HashMap<(String, [u8; 16]), u64>,
    by_expiry: BTreeSet<(u64, String, [u8; 16])>,
}

impl NonceCache {
    /// A cache that holds at most `capacity` unexpired nonces.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// Number of nonces held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True when no nonce is held.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Records a nonce that must not be seen again until `expires` (unix seconds).
    /// Returns [`HttpSigError::Replayed`] when it is still remembered.
    pub fn insert(
        &mut self,
        signer: &str,
        nonce: [u8; 16],
        expires: u64,
        now: u64,
    ) -> Result<(), HttpSigError> {
        self.prune(now);
        let key = (signer.to_owned(), nonce);
        if self.seen.contains_key(&key) {
            return Err(HttpSigError::Replayed);
        }
        if self.seen.len() >= self.capacity {
            return Err(HttpSigError::NonceCacheFull {
                capacity: self.capacity,
            });
        }
        self.by_expiry.insert((expires, key.0.clone(), nonce));
        self.seen.insert(key, expires);
        Ok(())
    }

    /// Forgets every nonce whose window ended before `now`.
    pub fn prune(&mut self, now: u64) {
        while let Some(first) = self.by_expiry.first() {
            if first.0 >= now {
                break;
            }
            if let Some((_, signer, nonce)) = self.by_expiry.pop_first() {
                self.seen.remove(&(signer, nonce));
            }
        }
    }
}

/// Verifies signed requests and remembers their nonces.
#[derive(Debug)]
pub struct RequestVerifier {
    max_skew: u64,
    nonces: NonceCache,
}

impl Default for RequestVerifier {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SKEW, DEFAULT_NONCE_CAPACITY)
    }
}

impl RequestVerifier {
    /// A verifier that accepts timestamps within `max_skew` seconds and remembers up to
    /// `nonce_capacity` nonces.
    pub fn new(max_skew: u64, nonce_capacity: usize) -> Self {
        Self {
            max_skew,
            nonces: NonceCache::new(nonce_capacity),
        }
    }

    /// Verifies one request and returns its signer.
    ///
    /// `header` returns a header's raw value by lowercase name (e.g.
    /// `|n| headers.get(n).map(|v| v.as_bytes())`); `key_of` returns the public key of a
    /// signer, or `None` when unknown. The nonce is remembered only after the signature holds,
    /// so forged requests cannot fill the cache.
    pub fn verify<'h>(
        &mut self,
        header: impl Fn(&'static str) -> Option<&'h [u8]>,
        key_of: impl FnOnce(&str) -> Option<VerifyingKey>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: u64,
    ) -> Result<String, HttpSigError> {
        let text = |name: &'static str| -> Result<&'h str, HttpSigError> {
            let raw = header(name).ok_or(HttpSigError::MissingHeader(name))?;
            std::str::from_utf8(raw).map_err(|_| HttpSigError::BadHeader(name))
        };
        let signer = text(HEADER_SIGNER)?.trim();
        let timestamp_text = text(HEADER_TIMESTAMP)?.trim();
        let nonce_text = text(HEADER_NONCE)?.trim();
        let signature_text = text(HEADER_SIGNATURE)?.trim();
        if signer != HUB_SIGNER && validate_provider_id(signer).is_err() {
            return Err(HttpSigError::BadHeader(HEADER_SIGNER));
        }
        if timestamp_text.is_empty() || !timestamp_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HttpSigError::BadHeader(HEADER_TIMESTAMP));
        }
        let timestamp: u64 = timestamp_text
            .parse()
            .map_err(|_| HttpSigError::BadHeader(HEADER_TIMESTAMP))?;
        let nonce = b64url_decode_array::<16>(nonce_text, "nonce")
            .map_err(|_| HttpSigError::BadHeader(HEADER_NONCE))?;
        let signature = b64url_decode_array::<64>(signature_text, "signature")
            .map_err(|_| HttpSigError::BadHeader(HEADER_SIGNATURE))?;
        let key = key_of(signer).ok_or_else(|| HttpSigError::UnknownSigner(signer.to_owned()))?;
        let skew = now.abs_diff(timestamp);
        if skew > self.max_skew {
            return Err(HttpSigError::Stale {
                skew,
                max: self.max_skew,
            });
        }
        let bytes = signing_bytes(method, path_and_query, timestamp, nonce_text, body);
        key.verify_strict(&bytes, &Signature::from_bytes(&signature))
            .map_err(|_| HttpSigError::BadSignature)?;
        // A nonce is dangerous only while its timestamp is acceptable.
        let expires = timestamp.saturating_add(self.max_skew);
        self.nonces.insert(signer, nonce, expires, now)?;
        Ok(signer.to_owned())
    }
}

#[cfg(test)]
#[path = "http_sig_tests.rs"]
mod tests;
