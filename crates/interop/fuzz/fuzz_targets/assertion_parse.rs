//! Fuzz target: identity assertion parsing and verification, and `pit1:` password parsing,
//! must never panic on arbitrary input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_interop::{SigningKey, assertion, login};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = login::parse_password(text);
    let _ = login::split_password(text);
    if let Ok(parsed) = assertion::UnverifiedAssertion::parse(text) {
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        let _ = parsed.verify(
            &key,
            "hub.example",
            1_800_000_000,
            &assertion::VerifyPolicy::default(),
        );
    }
});
