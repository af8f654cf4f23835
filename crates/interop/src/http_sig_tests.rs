//! Tests for signed HTTP: every accept and every reject path.

use std::collections::HashMap;

use super::*;
use crate::keys::generate_signing_key;
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;

struct Request {
    headers: HashMap<&'static str, Vec<u8>>,
    method: &'static str,
    path: &'static str,
    body: Vec<u8>,
}

fn signed(key: &SigningKey, signer: &str, now: u64) -> Request {
    let body = br#"{"visible_id":"bob@birdy.example"}"#.to_vec();
    let h = sign_request(signer, key, "POST", "/auth", &body, now, &mut rand::rng());
    Request {
        headers: h
            .pairs()
            .into_iter()
            .map(|(n, v)| (n, v.into_bytes()))
            .collect(),
        method: "POST",
        path: "/auth",
        body,
    }
}

fn check(v: &mut RequestVerifier, r: &Request, key: &SigningKey) -> Result<String, HttpSigError> {
    let known = key.verifying_key();
    v.verify(
        |n| r.headers.get(n).map(Vec::as_slice),
        |signer| (signer == "hub").then_some(known),
        r.method,
        r.path,
        &r.body,
        NOW,
    )
}

#[test]
fn a_signed_request_verifies_once_and_its_replay_is_refused() {
    let key = generate_signing_key(&mut rand::rng());
    let mut v = RequestVerifier::default();
    let r = signed(&key, "hub", NOW);
    assert_eq!(check(&mut v, &r, &key), Ok("hub".to_owned()));
    assert_eq!(check(&mut v, &r, &key), Err(HttpSigError::Replayed));
}

#[test]
fn stale_requests_are_refused_both_ways_and_the_edge_is_accepted() {
    let key = generate_signing_key(&mut rand::rng());
    let mut v = RequestVerifier::default();
    for (ts, skew) in [(NOW - 301, 301), (NOW + 301, 301)] {
        assert_eq!(
            check(&mut v, &signed(&key, "hub", ts), &key),
            Err(HttpSigError::Stale { skew, max: 300 })
        );
    }
    assert!(check(&mut v, &signed(&key, "hub", NOW - 300), &key).is_ok());
    assert!(check(&mut v, &signed(&key, "hub", NOW + 300), &key).is_ok());
}

#[test]
fn each_missing_header_is_named() {
    let key = generate_signing_key(&mut rand::rng());
    for name in [
        HEADER_SIGNER,
        HEADER_TIMESTAMP,
        HEADER_NONCE,
        HEADER_SIGNATURE,
    ] {
        let mut r = signed(&key, "hub", NOW);
        r.headers.remove(name);
        assert_eq!(
            check(&mut RequestVerifier::default(), &r, &key),
            Err(HttpSigError::MissingHeader(name))
        );
    }
}

#[test]
fn each_malformed_header_is_named() {
    let key = generate_signing_key(&mut rand::rng());
    let cases: [(&'static str, &[u8]); 8] = [
        (HEADER_SIGNER, b"Hub"),
        (HEADER_SIGNER, b"\xff"),
        (HEADER_TIMESTAMP, b"-5"),
        (HEADER_TIMESTAMP, b"99999999999999999999999"),
        (HEADER_NONCE, b"AAAA"),
        (HEADER_NONCE, b"not base64!"),
        (HEADER_SIGNATURE, b"AAAA"),
        (HEADER_SIGNATURE, b""),
    ];
    for (name, value) in cases {
        let mut r = signed(&key, "hub", NOW);
        r.headers.insert(name, value.to_vec());
        assert_eq!(
            check(&mut RequestVerifier::default(), &r, &key),
            Err(HttpSigError::BadHeader(name)),
            "{name}: {value:?}"
        );
    }
}

#[test]
fn an_unknown_signer_is_refused() {
    let key = generate_signing_key(&mut rand::rng());
    let r = signed(&key, "birdy", NOW);
    assert_eq!(
        check(&mut RequestVerifier::default(), &r, &key),
        Err(HttpSigError::UnknownSigner("birdy".into()))
    );
}

#[test]
fn a_wrong_key_or_any_changed_part_breaks_the_signature() {
    let key = generate_signing_key(&mut rand::rng());
    let other = generate_signing_key(&mut rand::rng());
    let mut v = RequestVerifier::default();
    assert_eq!(
        check(&mut v, &signed(&other, "hub", NOW), &key),
        Err(HttpSigError::BadSignature)
    );
    let mut r = signed(&key, "hub", NOW);
    r.body.push(b' ');
    assert_eq!(check(&mut v, &r, &key), Err(HttpSigError::BadSignature));
    let mut r = signed(&key, "hub", NOW);
    r.path = "/push";
    assert_eq!(check(&mut v, &r, &key), Err(HttpSigError::BadSignature));
    let mut r = signed(&key, "hub", NOW);
    r.method = "PUT";
    assert_eq!(check(&mut v, &r, &key), Err(HttpSigError::BadSignature));
    let mut r = signed(&key, "hub", NOW);
    r.headers
        .insert(HEADER_TIMESTAMP, (NOW + 1).to_string().into_bytes());
    assert_eq!(check(&mut v, &r, &key), Err(HttpSigError::BadSignature));
    // None of the forged requests consumed a nonce.
    assert!(v.nonces.is_empty());
}

#[test]
fn the_signed_bytes_follow_the_documented_layout() {
    let bytes = signing_bytes("post", "/auth?x=1", 42, "bm9uY2U", b"");
    assert_eq!(
        String::from_utf8(bytes).expect("ascii"),
        "portico-http-v1\nPOST\n/auth?x=1\n42\nbm9uY2U\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn nonce_cache_forgets_after_the_window_and_is_bounded() {
    let mut cache = NonceCache::new(2);
    cache.insert("hub", [1; 16], NOW + 10, NOW).expect("fresh");
    assert_eq!(
        cache.insert("hub", [1; 16], NOW + 10, NOW),
        Err(HttpSigError::Replayed)
    );
    // The same nonce from another signer is a different request.
    cache
        .insert("birdy", [1; 16], NOW + 10, NOW)
        .expect("fresh");
    assert_eq!(
        cache.insert("hub", [2; 16], NOW + 10, NOW),
        Err(HttpSigError::NonceCacheFull { capacity: 2 })
    );
    cache
        .insert("hub", [2; 16], NOW + 20, NOW + 11)
        .expect("window over");
    assert_eq!(cache.len(), 1);
    cache
        .insert("hub", [1; 16], NOW + 30, NOW + 12)
        .expect("forgotten");
}

proptest! {
    #[test]
    fn verify_never_panics_on_arbitrary_headers(
        signer in proptest::collection::vec(any::<u8>(), 0..40),
        ts in proptest::collection::vec(any::<u8>(), 0..30),
        nonce in proptest::collection::vec(any::<u8>(), 0..40),
        sig in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let key = generate_signing_key(&mut rand::rng());
        let mut r = signed(&key, "hub", NOW);
        r.headers.insert(HEADER_SIGNER, signer);
        r.headers.insert(HEADER_TIMESTAMP, ts);
        r.headers.insert(HEADER_NONCE, nonce);
        r.headers.insert(HEADER_SIGNATURE, sig);
        let _ = check(&mut RequestVerifier::default(), &r, &key);
    }

    #[test]
    fn sign_then_verify_round_trips(
        seed in any::<[u8; 32]>(),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        offset in 0u64..=600,
    ) {
        let key = SigningKey::from_bytes(&seed);
        let ts = NOW - 300 + offset;
        let h = sign_request("birdy", &key, "POST", "/v1/push", &body, ts, &mut rand::rng());
        let headers: HashMap<&'static str, Vec<u8>> =
            h.pairs().into_iter().map(|(n, v)| (n, v.into_bytes())).collect();
        let known = key.verifying_key();
        let got = RequestVerifier::default().verify(
            |n| headers.get(n).map(Vec::as_slice),
            |s| (s == "birdy").then_some(known),
            "POST",
            "/v1/push",
            &body,
            NOW,
        );
        prop_assert_eq!(got, Ok("birdy".to_owned()));
    }
}
