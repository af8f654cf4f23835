//! Negative tests: each malformed, tampered or refused input gives its specific error, and a
//! failed decrypt leaves the session able to decrypt the genuine message.

mod common;

use common::{Party, established, rng};
use portico_signal::consts::{MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS};
use portico_signal::{
    CiphertextMessage, CiphertextMessageType, IdentityKeyPair, PreKeySignalMessage, SignalError,
    SignalMessage, proto,
};
use prost::Message as _;

fn signal_message(m: &CiphertextMessage) -> SignalMessage {
    match m {
        CiphertextMessage::SignalMessage(s) => s.clone(),
        CiphertextMessage::PreKeySignalMessage(p) => p.message().clone(),
    }
}

/// Rebuilds `m` with `edit` applied to its protobuf body, keeping the old MAC bytes.
fn forge(m: &SignalMessage, edit: impl FnOnce(&mut proto::SignalMessage)) -> Vec<u8> {
    let bytes = m.serialized();
    let mut body = proto::SignalMessage::decode(&bytes[1..bytes.len() - 8]).expect("own message");
    edit(&mut body);
    let mut out = vec![bytes[0]];
    out.extend(body.encode_to_vec());
    out.extend_from_slice(&bytes[bytes.len() - 8..]);
    out
}

#[test]
fn tampered_mac_is_invalid_mac_and_changes_nothing() {
    let mut r = rng(10);
    let (mut alice, mut bob) = established(&mut r);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let m = alice.encrypt(&b, b"genuine").expect("encrypt");
    let mut bytes = m.serialize().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let tampered =
        CiphertextMessage::deserialize(CiphertextMessageType::Whisper, &bytes).expect("parses");
    assert_eq!(
        bob.decrypt(&a, &tampered, &mut r),
        Err(SignalError::InvalidMac)
    );
    assert_eq!(
        bob.decrypt(&a, &m, &mut r).expect("genuine still decrypts"),
        b"genuine"
    );
}

#[test]
fn tampered_ciphertext_is_invalid_mac() {
    let mut r = rng(11);
    let (mut alice, mut bob) = established(&mut r);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let m = alice.encrypt(&b, b"genuine").expect("encrypt");
    let forged = forge(&signal_message(&m), |body| {
        if let Some(ct) = body.ciphertext.as_mut() {
            ct[0] ^= 0x80;
        }
    });
    let tampered =
        CiphertextMessage::deserialize(CiphertextMessageType::Whisper, &forged).expect("parses");
    assert_eq!(
        bob.decrypt(&a, &tampered, &mut r),
        Err(SignalError::InvalidMac)
    );
    assert_eq!(
        bob.decrypt(&a, &m, &mut r).expect("genuine still decrypts"),
        b"genuine"
    );
}

#[test]
fn changed_identity_key_is_refused_for_a_new_bundle() {
    let mut r = rng(12);
    let (mut alice, mut bob) = established(&mut r);
    let b = bob.address.clone();
    // Bob's bundle now claims another identity (reinstall or attacker): Alice's store refuses it.
    bob.identity = IdentityKeyPair::generate(&mut r);
    let bundle = bob.bundle(Some(40), true, &mut r);
    assert_eq!(
        alice.process_bundle(&b, &bundle, &mut r),
        Err(SignalError::UntrustedIdentity(b.clone()))
    );
}

#[test]
fn prekey_message_from_a_changed_identity_is_refused() {
    let mut r = rng(13);
    let (alice, mut bob) = established(&mut r);
    let a = alice.address.clone();
    let b = bob.address.clone();
    // Mallory claims Alice's address with her own identity.
    let mut mallory = Party::new("alice", &mut r);
    assert_ne!(mallory.identity, alice.identity);
    let bundle = bob.bundle(Some(41), true, &mut r);
    mallory
        .process_bundle(&b, &bundle, &mut r)
        .expect("mallory trusts on first use");
    let m = mallory.encrypt(&b, b"i am alice").expect("encrypt");
    assert_eq!(
        bob.decrypt(&a, &m, &mut r),
        Err(SignalError::UntrustedIdentity(a.clone()))
    );
}

#[test]
fn bad_signed_prekey_signature_is_refused() {
    let mut r = rng(14);
    let mut alice = Party::new("alice", &mut r);
    let mut bob = Party::new("bob", &mut r);
    let b = bob.address.clone();
    let mut bundle = bob.bundle(Some(1), true, &mut r);
    bundle.signed_pre_key_signature[10] ^= 1;
    assert_eq!(
        alice.process_bundle(&b, &bundle, &mut r),
        Err(SignalError::InvalidSignedPreKeySignature)
    );
}

#[test]
fn bad_kyber_prekey_signature_is_refused() {
    let mut r = rng(15);
    let mut alice = Party::new("alice", &mut r);
    let mut bob = Party::new("bob", &mut r);
    let b = bob.address.clone();
    let mut bundle = bob.bundle(Some(1), true, &mut r);
    if let Some(k) = bundle.kyber_pre_key.as_mut() {
        k.signature[3] ^= 1;
    }
    assert_eq!(
        alice.process_bundle(&b, &bundle, &mut r),
        Err(SignalError::InvalidKyberPreKeySignature)
    );
}

#[test]
fn reused_one_time_prekey_is_refused() {
    let mut r = rng(16);
    let mut alice = Party::new("alice", &mut r);
    let mut carol = Party::new("carol", &mut r);
    let mut bob = Party::new("bob", &mut r);
    let b = bob.address.clone();
    let bundle = bob.bundle(Some(77), true, &mut r);
    alice.process_bundle(&b, &bundle, &mut r).expect("bundle");
    carol.process_bundle(&b, &bundle, &mut r).expect("bundle");
    let from_alice = alice.encrypt(&b, b"first").expect("encrypt");
    let from_carol = carol.encrypt(&b, b"second").expect("encrypt");
    assert_eq!(
        bob.decrypt(&alice.address.clone(), &from_alice, &mut r)
            .expect("decrypt"),
        b"first"
    );
    assert_eq!(
        bob.decrypt(&carol.address.clone(), &from_carol, &mut r),
        Err(SignalError::InvalidPreKeyId(77))
    );
}

#[test]
fn replayed_messages_are_duplicates() {
    let mut r = rng(17);
    let mut alice = Party::new("alice", &mut r);
    let mut bob = Party::new("bob", &mut r);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let bundle = bob.bundle(Some(5), true, &mut r);
    alice.process_bundle(&b, &bundle, &mut r).expect("bundle");
    let first = alice.encrypt(&b, b"prekey").expect("encrypt");
    assert_eq!(bob.decrypt(&a, &first, &mut r).expect("decrypt"), b"prekey");
    assert!(matches!(
        bob.decrypt(&a, &first, &mut r),
        Err(SignalError::DuplicatedMessage { counter: 0, .. })
    ));
    let reply = bob.encrypt(&a, b"r").expect("encrypt");
    alice.decrypt(&b, &reply, &mut r).expect("decrypt");
    let m = alice.encrypt(&b, b"whisper").expect("encrypt");
    assert_eq!(bob.decrypt(&a, &m, &mut r).expect("decrypt"), b"whisper");
    assert!(matches!(
        bob.decrypt(&a, &m, &mut r),
        Err(SignalError::DuplicatedMessage { .. })
    ));
}

#[test]
fn counter_beyond_forward_jump_limit_is_refused() {
    let mut r = rng(18);
    let (mut alice, mut bob) = established(&mut r);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let m = signal_message(&alice.encrypt(&b, b"x").expect("encrypt"));
    let base = m.counter();
    // At the limit the keys are derived, so only the (forged) MAC fails.
    let at_limit = forge(&m, |body| body.counter = Some(base + MAX_FORWARD_JUMPS));
    let at_limit =
        CiphertextMessage::deserialize(CiphertextMessageType::Whisper, &at_limit).expect("parses");
    assert_eq!(
        bob.decrypt(&a, &at_limit, &mut r),
        Err(SignalError::InvalidMac)
    );
    let beyond = forge(&m, |body| body.counter = Some(base + MAX_FORWARD_JUMPS + 1));
    let beyond =
        CiphertextMessage::deserialize(CiphertextMessageType::Whisper, &beyond).expect("parses");
    assert_eq!(
        bob.decrypt(&a, &beyond, &mut r),
        Err(SignalError::TooFarInFuture {
            jump: MAX_FORWARD_JUMPS + 1,
            limit: MAX_FORWARD_JUMPS
        })
    );
    assert_eq!(
        bob.decrypt(&a, &CiphertextMessage::SignalMessage(m), &mut r)
            .expect("decrypt"),
        b"x"
    );
}

#[test]
fn skipped_keys_beyond_the_cap_are_dropped_oldest_first() {
    let mut r = rng(19);
    let (mut alice, mut bob) = established(&mut r);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let sent: Vec<_> = (0..MAX_MESSAGE_KEYS + 2)
        .map(|i| {
            alice
                .encrypt(&b, &(i as u32).to_be_bytes())
                .expect("encrypt")
        })
        .collect();
    let last = sent.last().expect("non-empty");
    bob.decrypt(&a, last, &mut r).expect("decrypt newest");
    // 2001 keys were skipped; the cap keeps 2000, so the very first is gone...
    assert!(matches!(
        bob.decrypt(&a, &sent[0], &mut r),
        Err(SignalError::DuplicatedMessage { .. })
    ));
    // ...and the second is still there.
    assert_eq!(
        bob.decrypt(&a, &sent[1], &mut r).expect("decrypt"),
        1u32.to_be_bytes()
    );
}

#[test]
fn truncated_and_malformed_messages_are_invalid_message() {
    let mut r = rng(20);
    let (mut alice, _bob) = established(&mut r);
    let b = portico_signal::ProtocolAddress::new("bob", 1);
    let m = alice.encrypt(&b, b"x").expect("encrypt");
    let bytes = m.serialize();
    for len in [0, 1, 5, 8] {
        assert!(
            matches!(
                SignalMessage::deserialize(&bytes[..len]),
                Err(SignalError::InvalidMessage { .. })
            ),
            "truncated to {len}"
        );
    }
    // Cutting into the protobuf body breaks its framing.
    let cut = &bytes[..bytes.len() - 12];
    assert!(matches!(
        SignalMessage::deserialize(cut),
        Err(SignalError::InvalidMessage { .. })
    ));
    let mut garbage = vec![0x44];
    garbage.extend_from_slice(&[0xFF; 20]);
    assert!(matches!(
        SignalMessage::deserialize(&garbage),
        Err(SignalError::InvalidMessage { .. })
    ));
    assert!(matches!(
        PreKeySignalMessage::deserialize(&garbage),
        Err(SignalError::InvalidMessage { .. })
    ));
    assert!(matches!(
        PreKeySignalMessage::deserialize(&[]),
        Err(SignalError::InvalidMessage { .. })
    ));
    assert_eq!(
        SignalMessage::deserialize(&[0x22; 20]),
        Err(SignalError::LegacyCiphertextVersion(2))
    );
    assert_eq!(
        SignalMessage::deserialize(&[0x55; 20]),
        Err(SignalError::UnrecognizedMessageVersion(5))
    );
}

#[test]
fn unacknowledged_session_older_than_the_limit_is_stale() {
    use portico_signal::consts::MAX_UNACKNOWLEDGED_SESSION_AGE_SECS;
    use std::time::Duration;
    let mut r = rng(21);
    let mut alice = Party::new("alice", &mut r);
    let mut bob = Party::new("bob", &mut r);
    let b = bob.address.clone();
    let bundle = bob.bundle(Some(1), true, &mut r);
    alice.process_bundle(&b, &bundle, &mut r).expect("bundle");
    let encrypt_at = |alice: &mut Party, secs: u64| {
        portico_signal::message_encrypt(
            b"late",
            &b,
            &mut alice.store.session_store,
            &mut alice.store.identity_store,
            common::now() + Duration::from_secs(secs),
        )
    };
    assert!(encrypt_at(&mut alice, MAX_UNACKNOWLEDGED_SESSION_AGE_SECS).is_ok());
    assert_eq!(
        encrypt_at(&mut alice, MAX_UNACKNOWLEDGED_SESSION_AGE_SECS + 1).map(|_| ()),
        Err(SignalError::StaleUnacknowledgedSession(b.clone()))
    );
}

#[test]
fn encrypting_without_a_session_names_the_address() {
    let mut r = rng(22);
    let mut alice = Party::new("alice", &mut r);
    let nobody = portico_signal::ProtocolAddress::new("nobody", 3);
    assert_eq!(
        alice.encrypt(&nobody, b"x").map(|_| ()),
        Err(SignalError::SessionNotFound(nobody.clone()))
    );
}

#[test]
fn limits_are_knobs() {
    use portico_signal::{Limits, message_decrypt_with_limits};
    let mut r = rng(23);
    let (mut alice, mut bob) = established(&mut r);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let limits = Limits {
        max_forward_jumps: 10,
        max_message_keys: 3,
        ..Limits::default()
    };
    let sent: Vec<_> = (0..12u8)
        .map(|i| alice.encrypt(&b, &[i]).expect("encrypt"))
        .collect();
    let mut decrypt = |bob: &mut Party, m: &CiphertextMessage| {
        message_decrypt_with_limits(
            m,
            &a,
            &mut bob.store.session_store,
            &mut bob.store.identity_store,
            &mut bob.store.pre_key_store,
            &bob.store.signed_pre_key_store,
            &mut bob.store.kyber_pre_key_store,
            &mut r,
            &limits,
        )
    };
    assert_eq!(
        decrypt(&mut bob, &sent[11]),
        Err(SignalError::TooFarInFuture {
            jump: 11,
            limit: 10
        })
    );
    assert_eq!(decrypt(&mut bob, &sent[10]).expect("jump of 10"), [10]);
    // Only the 3 newest of the 10 skipped keys were kept.
    assert!(matches!(
        decrypt(&mut bob, &sent[6]),
        Err(SignalError::DuplicatedMessage { .. })
    ));
    assert_eq!(decrypt(&mut bob, &sent[7]).expect("kept"), [7]);
    assert_eq!(
        Limits::default().max_forward_jumps,
        portico_signal::consts::MAX_FORWARD_JUMPS
    );
}
