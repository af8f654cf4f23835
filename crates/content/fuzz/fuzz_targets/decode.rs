//! Fuzzes the receiving side: any decrypted plaintext must decode or be refused, never panic,
//! and whatever decodes must re-encode to a plaintext that decodes to the same content.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_content::{Limits, decode, encode};

fuzz_target!(|plaintext: &[u8]| {
    let limits = Limits::default();
    if let Ok(content) = decode(plaintext, &limits) {
        let again = encode(&content, &limits).expect("decoded content is valid to encode");
        assert_eq!(decode(&again, &limits).expect("re-encoded content decodes"), content);
    }
});
