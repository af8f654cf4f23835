//! Tests for identity assertions: every accept and every reject path.

use super::*;
use crate::keys::generate_signing_key;
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;
const HUB: &str = "hub.example";

fn identity_key() -> String {
    let mut ik = [9u8; 33];
    ik[0] = 5;
    b64url_encode(&ik)
}

fn claims() -> Claims {
    Claims {
        iss: "birdy".into(),
        sub: "bob@birdy.example".into(),
        aud: HUB.into(),
        ik: identity_key(),
        iat: NOW,
        exp: NOW + 300,
        jti: "0123456789abcdef".into(),
    }
}

fn key() -> SigningKey {
    generate_signing_key(&mut rand::rng())
}

fn verify(token: &str, key: &SigningKey, now: u64) -> Result<Claims, AssertionError> {
    UnverifiedAssertion::parse(token)?.verify(
        &key.verifying_key(),
        HUB,
        now,
        &VerifyPolicy::default(),
    )
}

#[test]
fn a_fresh_assertion_verifies_and_yields_its_claims() {
    let key = key();
    let token = sign(&claims(), &key);
    assert!(token.starts_with("pia1."));
    let parsed = UnverifiedAssertion::parse(&token).expect("parses");
    assert_eq!(parsed.issuer(), "birdy");
    assert_eq!(verify(&token, &key, NOW + 10), Ok(claims()));
}

#[test]
fn clock_skew_is_tolerated_both_ways() {
    let key = key();
    let token = sign(&claims(), &key);
    assert!(verify(&token, &key, NOW - 60).is_ok(), "issued 60 s ahead");
    assert!(
        verify(&token, &key, NOW + 300 + 60).is_ok(),
        "60 s after exp"
    );
}

#[test]
fn a_forged_signature_is_refused() {
    let token = sign(&claims(), &key());
    assert_eq!(
        verify(&token, &key(), NOW),
        Err(AssertionError::BadSignature)
    );
}

#[test]
fn altered_claims_break_the_signature() {
    let key = key();
    let token = sign(&claims(), &key);
    let mut other = claims();
    other.sub = "mallory@birdy.example".into();
    let forged_claims = sign(&other, &key);
    // Splice the other claims with the first token's signature.
    let sig = token.rsplit_once('.').expect("has a signature").1;
    let body = forged_claims.rsplit_once('.').expect("has a signature").0;
    let spliced = format!("{body}.{sig}");
    assert_eq!(
        verify(&spliced, &key, NOW),
        Err(AssertionError::BadSignature)
    );
}

#[test]
fn the_wrong_audience_is_refused() {
    let key = key();
    let mut c = claims();
    c.aud = "other.example".into();
    let token = sign(&c, &key);
    assert_eq!(
        verify(&token, &key, NOW),
        Err(AssertionError::WrongAudience {
            expected: HUB.into(),
            found: "other.example".into()
        })
    );
}

#[test]
fn an_expired_assertion_is_refused() {
    let key = key();
    let token = sign(&claims(), &key);
    assert_eq!(
        verify(&token, &key, NOW + 300 + 61),
        Err(AssertionError::Expired)
    );
}

#[test]
fn an_assertion_from_the_future_is_refused() {
    let key = key();
    let token = sign(&claims(), &key);
    assert_eq!(
        verify(&token, &key, NOW - 61),
        Err(AssertionError::NotYetValid)
    );
}

#[test]
fn a_lifetime_over_ten_minutes_is_refused() {
    let key = key();
    let mut c = claims();
    c.exp = c.iat + 601;
    let token = sign(&c, &key);
    assert_eq!(
        verify(&token, &key, NOW),
        Err(AssertionError::LifetimeTooLong {
            lifetime: 601,
            max: 600
        })
    );
    c.exp = c.iat + 600;
    assert!(
        verify(&sign(&c, &key), &key, NOW).is_ok(),
        "exactly 600 s is fine"
    );
}

#[test]
fn an_oversized_token_is_refused_before_parsing() {
    let token = format!("pia1.{}", "A".repeat(MAX_ASSERTION_LEN));
    assert_eq!(
        UnverifiedAssertion::parse(&token).err(),
        Some(AssertionError::Oversized {
            max: MAX_ASSERTION_LEN
        })
    );
}

#[test]
fn other_versions_are_unsupported_and_garbage_is_malformed() {
    let token = sign(&claims(), &key());
    let v2 = token.replacen("pia1.", "pia2.", 1);
    assert_eq!(
        UnverifiedAssertion::parse(&v2).err(),
        Some(AssertionError::UnsupportedVersion)
    );
    assert_eq!(
        UnverifiedAssertion::parse("pia17.x.y").err(),
        Some(AssertionError::UnsupportedVersion)
    );
    for bad in ["", "pia", "pia.", "eyJhbGciOi.x.y", "pia1x.y"] {
        assert!(
            matches!(
                UnverifiedAssertion::parse(bad),
                Err(AssertionError::Malformed { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn malformed_structure_is_named() {
    let token = sign(&claims(), &key());
    let (body, _sig) = token.rsplit_once('.').expect("has a signature");
    let cases = [
        (body.to_owned(), "the signature part is missing"),
        (
            format!("{body}.AAAA"),
            "the signature part is not b64url of 64 bytes",
        ),
        (
            format!("pia1.!!!.{}", "A".repeat(86)),
            "the claims part is not b64url",
        ),
        (
            format!("pia1.{}.{}", b64url_encode(b"[1,2]"), "A".repeat(86)),
            "the claims are not the expected JSON object",
        ),
    ];
    for (token, reason) in cases {
        assert_eq!(
            UnverifiedAssertion::parse(&token).err(),
            Some(AssertionError::Malformed { reason }),
            "{token}"
        );
    }
}

#[test]
fn bad_claim_fields_are_malformed() {
    let key = key();
    type Mutation = (fn(&mut Claims), &'static str);
    let mutations: [Mutation; 8] = [
        (|c| c.iss = "Birdy".into(), "iss"),
        (|c| c.sub = "bob".into(), "sub"),
        (|c| c.aud = String::new(), "aud"),
        (|c| c.ik = b64url_encode(&[5u8; 32]), "ik must be b64url"),
        (|c| c.ik = b64url_encode(&[6u8; 33]), "ik must start"),
        (|c| c.jti = "short".into(), "jti"),
        (|c| c.jti = "x".repeat(129), "jti"),
        (|c| c.exp = c.iat, "exp must be later"),
    ];
    for (mutate, starts) in mutations {
        let mut c = claims();
        mutate(&mut c);
        match UnverifiedAssertion::parse(&sign(&c, &key)) {
            Err(AssertionError::Malformed { reason }) => {
                assert!(reason.starts_with(starts), "{reason} for {starts}")
            }
            other => panic!("{starts}: expected Malformed, got {other:?}"),
        }
    }
}

#[test]
fn error_messages_tell_the_user_what_to_do() {
    let e = AssertionError::Expired.to_string();
    assert!(e.contains("fresh one"), "{e}");
    let e = AssertionError::LifetimeTooLong {
        lifetime: 900,
        max: 600,
    }
    .to_string();
    assert!(e.contains("900") && e.contains("600"), "{e}");
}

proptest! {
    #[test]
    fn parse_never_panics(s in ".{0,600}") {
        let _ = UnverifiedAssertion::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_prefixed_input(s in "[A-Za-z0-9_.-]{0,600}") {
        let _ = UnverifiedAssertion::parse(&format!("pia1.{s}"));
    }

    #[test]
    fn sign_then_verify_round_trips(
        seed in any::<[u8; 32]>(),
        user in "[a-z0-9._-]{1,40}",
        jti in "[A-Za-z0-9_-]{16,64}",
        lifetime in 1u64..=600,
        offset in 0u64..=600,
    ) {
        let key = SigningKey::from_bytes(&seed);
        let mut c = claims();
        c.sub = format!("{user}@birdy.example");
        c.jti = jti;
        c.exp = c.iat + lifetime;
        let token = sign(&c, &key);
        let now = NOW + offset.min(lifetime);
        prop_assert_eq!(verify(&token, &key, now), Ok(c));
    }
}
