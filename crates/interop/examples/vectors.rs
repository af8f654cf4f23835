//! Prints the test vectors of `docs/third-party.md` (checked by `tests/vectors.rs`): an identity
//! assertion and a signed request made with fixed keys, so another implementation can compare
//! its bytes with ours. Run: `cargo run -p portico-interop --example vectors`.

use portico_interop::SigningKey;
use portico_interop::assertion::{Claims, sign};
use portico_interop::http_sig::{SignatureHeaders, signing_bytes};
use portico_interop::keys::{b64url_encode, encode_public_key};
use portico_interop::login::compose_password;

fn main() {
    let provider = SigningKey::from_bytes(&[1u8; 32]);
    let mut ik = [0x42u8; 33];
    ik[0] = 0x05;
    let claims = Claims {
        iss: "birdy".into(),
        sub: "bob@birdy.example".into(),
        aud: "hub.example".into(),
        ik: b64url_encode(&ik),
        iat: 1_700_000_000,
        exp: 1_700_000_300,
        jti: "3q2-7wAAAAAAAAAAAAAAAA".into(),
    };
    println!("provider seed      : {}", b64url_encode(&[1u8; 32]));
    println!(
        "provider public key: {}",
        encode_public_key(&provider.verifying_key())
    );
    println!(
        "claims JSON        : {}",
        serde_json::to_string(&claims).unwrap_or_default()
    );
    println!("assertion          : {}", sign(&claims, &provider));

    let hub = SigningKey::from_bytes(&[2u8; 32]);
    let body = br#"{"visible_id":"bob@birdy.example","jid":"ab@birdy.interop.hub.example","device_id":1,"push_id":"p1","pending":2}"#;
    let nonce = b64url_encode(&[7u8; 16]);
    let bytes = signing_bytes("POST", "/push", 1_700_000_000, &nonce, body);
    use ed25519_dalek::Signer;
    let headers = SignatureHeaders {
        signer: "hub".into(),
        timestamp: 1_700_000_000,
        nonce,
        signature: b64url_encode(&hub.sign(&bytes).to_bytes()),
    };
    println!(
        "hub public key     : {}",
        encode_public_key(&hub.verifying_key())
    );
    println!("body               : {}", String::from_utf8_lossy(body));
    println!("signed bytes       : {:?}", String::from_utf8_lossy(&bytes));
    for (name, value) in headers.pairs() {
        println!("{name:<19}: {value}");
    }
    println!(
        "password           : {}",
        compose_password(
            &b64url_encode(&[9u8; 32]),
            "session-token-from-the-provider"
        )
        .as_str()
    );
}
