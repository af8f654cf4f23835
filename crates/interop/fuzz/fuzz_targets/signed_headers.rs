//! Fuzz target: signed-request header parsing and verification must never panic, whatever the
//! header bytes, method, path and body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_interop::{SigningKey, http_sig};

fuzz_target!(|data: &[u8]| {
    // Split the input at 0xff bytes into header values, method, path and body.
    let mut parts = data.split(|b| *b == 0xff);
    let signer = parts.next().unwrap_or_default();
    let timestamp = parts.next().unwrap_or_default();
    let nonce = parts.next().unwrap_or_default();
    let signature = parts.next().unwrap_or_default();
    let method = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();
    let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
    let mut verifier = http_sig::RequestVerifier::new(300, 16);
    let _ = verifier.verify(
        |name| match name {
            http_sig::HEADER_SIGNER => Some(signer),
            http_sig::HEADER_TIMESTAMP => Some(timestamp),
            http_sig::HEADER_NONCE => Some(nonce),
            http_sig::HEADER_SIGNATURE => Some(signature),
            _ => None,
        },
        |_| Some(key),
        &method,
        &path,
        body,
        1_800_000_000,
    );
});
