//! Shared helpers of the integration tests: the committed libsignal vectors and the Node
//! libsignal peer driver.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod party;
pub mod peer;

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::Value;

/// Standard base64, as the vectors and the peer protocol use.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a base64 JSON string field, naming the field when it is not one.
pub fn unb64(value: &Value, field: &str) -> Vec<u8> {
    let text = value[field]
        .as_str()
        .unwrap_or_else(|| panic!("field {field} is not a string in {value}"));
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("field {field} is not base64: {e}"))
}

/// A number field as u32.
pub fn num(value: &Value, field: &str) -> u32 {
    value[field]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or_else(|| panic!("field {field} is not a u32 in {value}"))
}

/// Loads `tests/vectors/<name>`.
pub fn vector(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}
