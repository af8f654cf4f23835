//! The test vectors printed in `docs/third-party.md`: our implementation must keep producing
//! and accepting exactly these bytes (Ed25519 is deterministic), so a third party can check
//! theirs against the guide.

use std::collections::HashMap;

use portico_interop::SigningKey;
use portico_interop::assertion::{Claims, UnverifiedAssertion, VerifyPolicy, sign};
use portico_interop::http_sig::{
    HEADER_NONCE, HEADER_SIGNATURE, HEADER_SIGNER, HEADER_TIMESTAMP, RequestVerifier,
};
use portico_interop::keys::{b64url_encode, decode_public_key, encode_public_key};
use portico_interop::login::{compose_password, parse_password};

const PROVIDER_PUBLIC: &str = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w";
const ASSERTION: &str = "pia1.eyJpc3MiOiJiaXJkeSIsInN1YiI6ImJvYkBiaXJkeS5leGFtcGxlIiwiYXVkIjoiaHViLmV4YW1wbGUiLCJpayI6IkJVSkNRa0pDUWtKQ1FrSkNRa0pDUWtKQ1FrSkNRa0pDUWtKQ1FrSkNRa0pDIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDAzMDAsImp0aSI6IjNxMi03d0FBQUFBQUFBQUFBQUFBQUEifQ.M2DKGsw1RmLoBg1s1MvwD7emA98SksH-sRjuZ9ms7wMqTZRRbJ6-S6flDpVUU3nJ-jESpNrTD8ySSRzZ3M35CQ";
const HUB_PUBLIC: &str = "gTl3Dqh9F19Wo1Rmw0x-zMuNipG07jeiXfYPW4_Js5Q";
const PUSH_BODY: &str = r#"{"visible_id":"bob@birdy.example","jid":"ab@birdy.interop.hub.example","device_id":1,"push_id":"p1","pending":2}"#;
const PUSH_SIGNATURE: &str =
    "ej7bzj_AidfP0mw7jSs8xC122fjTpbaAqNmGCqxKH2zLQIlVemc-Be24_GS9s0Oux7Gxt0z0wLL0jwPhMK7nAw";

fn claims() -> Claims {
    let mut ik = [0x42u8; 33];
    ik[0] = 0x05;
    Claims {
        iss: "birdy".into(),
        sub: "bob@birdy.example".into(),
        aud: "hub.example".into(),
        ik: b64url_encode(&ik),
        iat: 1_700_000_000,
        exp: 1_700_000_300,
        jti: "3q2-7wAAAAAAAAAAAAAAAA".into(),
    }
}

#[test]
fn the_documented_assertion_is_reproduced_and_verifies() {
    let key = SigningKey::from_bytes(&[1u8; 32]);
    assert_eq!(encode_public_key(&key.verifying_key()), PROVIDER_PUBLIC);
    assert_eq!(sign(&claims(), &key), ASSERTION);
    let public = decode_public_key(PROVIDER_PUBLIC).expect("key");
    let verified = UnverifiedAssertion::parse(ASSERTION)
        .expect("parses")
        .verify(
            &public,
            "hub.example",
            1_700_000_100,
            &VerifyPolicy::default(),
        )
        .expect("verifies");
    assert_eq!(verified, claims());
}

#[test]
fn the_documented_signed_request_verifies() {
    assert_eq!(
        encode_public_key(&SigningKey::from_bytes(&[2u8; 32]).verifying_key()),
        HUB_PUBLIC
    );
    let headers: HashMap<&str, &[u8]> = [
        (HEADER_SIGNER, b"hub".as_slice()),
        (HEADER_TIMESTAMP, b"1700000000".as_slice()),
        (HEADER_NONCE, b"BwcHBwcHBwcHBwcHBwcHBw".as_slice()),
        (HEADER_SIGNATURE, PUSH_SIGNATURE.as_bytes()),
    ]
    .into_iter()
    .collect();
    let hub = decode_public_key(HUB_PUBLIC).expect("key");
    let signer = RequestVerifier::default().verify(
        |n| headers.get(n).copied(),
        |s| (s == "hub").then_some(hub),
        "POST",
        "/push",
        PUSH_BODY.as_bytes(),
        1_700_000_100,
    );
    assert_eq!(signer, Ok("hub".to_owned()));
}

#[test]
fn the_documented_password_parses() {
    let text = "pit1:CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk:session-token-from-the-provider";
    assert_eq!(
        compose_password(
            &b64url_encode(&[9u8; 32]),
            "session-token-from-the-provider"
        )
        .as_str(),
        text
    );
    let parts = parse_password(text).expect("parses");
    assert_eq!(*parts.credential, [9u8; 32]);
    assert_eq!(parts.session_token, "session-token-from-the-provider");
}
