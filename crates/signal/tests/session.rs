//! End-to-end two-party sessions over PQXDH and X3DH, in memory.

mod common;

use common::{Party, established, rng};
use portico_signal::{CiphertextMessage, CiphertextMessageType, SessionStore};

#[test]
fn pqxdh_session_round_trips_and_switches_to_signal_messages() {
    let mut r = rng(1);
    let mut alice = Party::new("alice", &mut r);
    let mut bob = Party::new("bob", &mut r);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let bundle = bob.bundle(Some(31), true, &mut r);
    alice.process_bundle(&b, &bundle, &mut r).expect("bundle");

    let first = alice.encrypt(&b, b"one").expect("encrypt");
    let second = alice.encrypt(&b, b"two").expect("encrypt");
    assert_eq!(first.message_type(), CiphertextMessageType::PreKey);
    let CiphertextMessage::PreKeySignalMessage(pk) = &first else {
        unreachable!()
    };
    assert_eq!(pk.message_version(), 4);
    assert_eq!(pk.serialized()[0], 0x44);
    assert_eq!(bob.decrypt(&a, &second, &mut r).expect("decrypt"), b"two");
    assert_eq!(bob.decrypt(&a, &first, &mut r).expect("decrypt"), b"one");

    let reply = bob.encrypt(&a, b"three").expect("encrypt");
    assert_eq!(reply.message_type(), CiphertextMessageType::Whisper);
    assert_eq!(
        alice.decrypt(&b, &reply, &mut r).expect("decrypt"),
        b"three"
    );
    let after = alice.encrypt(&b, b"four").expect("encrypt");
    assert_eq!(after.message_type(), CiphertextMessageType::Whisper);
    assert_eq!(bob.decrypt(&a, &after, &mut r).expect("decrypt"), b"four");
    // Bob's one-time prekey was consumed.
    assert!(bob.store.pre_key_store.all_pre_key_ids().next().is_none());
}

#[test]
fn x3dh_bundle_without_kyber_gives_a_version_3_session() {
    let mut r = rng(2);
    let mut alice = Party::new("alice", &mut r);
    let mut bob = Party::new("bob", &mut r);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let bundle = bob.bundle(None, false, &mut r);
    alice.process_bundle(&b, &bundle, &mut r).expect("bundle");
    let m = alice.encrypt(&b, b"legacy").expect("encrypt");
    assert_eq!(m.serialize()[0], 0x34);
    assert_eq!(bob.decrypt(&a, &m, &mut r).expect("decrypt"), b"legacy");
}

#[test]
fn long_conversation_with_ratchet_steps_and_out_of_order_delivery() {
    let mut r = rng(3);
    let (mut alice, mut bob) = established(&mut r);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    for round in 0..20u32 {
        let msgs: Vec<_> = (0..5)
            .map(|i| {
                alice
                    .encrypt(&b, format!("a{round}-{i}").as_bytes())
                    .expect("encrypt")
            })
            .collect();
        for i in [3usize, 0, 4, 1, 2] {
            assert_eq!(
                bob.decrypt(&a, &msgs[i], &mut r).expect("decrypt"),
                format!("a{round}-{i}").as_bytes()
            );
        }
        let reply = bob.encrypt(&a, b"ack").expect("encrypt");
        assert_eq!(alice.decrypt(&b, &reply, &mut r).expect("decrypt"), b"ack");
    }
}

#[test]
fn session_record_survives_serialization() {
    let mut r = rng(4);
    let (mut alice, mut bob) = established(&mut r);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let skipped = alice.encrypt(&b, b"skipped").expect("encrypt");
    let m = alice.encrypt(&b, b"later").expect("encrypt");
    assert_eq!(bob.decrypt(&a, &m, &mut r).expect("decrypt"), b"later");

    let record = bob
        .store
        .session_store
        .load_session(&a)
        .expect("load")
        .expect("present");
    let bytes = record.serialize();
    let restored = portico_signal::SessionRecord::deserialize(&bytes).expect("deserialize");
    assert_eq!(restored.serialize().as_slice(), bytes.as_slice());
    bob.store
        .session_store
        .store_session(&a, &restored)
        .expect("store");
    assert_eq!(
        bob.decrypt(&a, &skipped, &mut r).expect("decrypt"),
        b"skipped"
    );
}

#[test]
fn simultaneous_initiation_converges() {
    let mut r = rng(5);
    let mut alice = Party::new("alice", &mut r);
    let mut bob = Party::new("bob", &mut r);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let bob_bundle = bob.bundle(Some(1), true, &mut r);
    let alice_bundle = alice.bundle(Some(2), true, &mut r);
    alice
        .process_bundle(&b, &bob_bundle, &mut r)
        .expect("bundle");
    bob.process_bundle(&a, &alice_bundle, &mut r)
        .expect("bundle");

    let from_alice = alice.encrypt(&b, b"from alice").expect("encrypt");
    let from_bob = bob.encrypt(&a, b"from bob").expect("encrypt");
    assert_eq!(
        bob.decrypt(&a, &from_alice, &mut r).expect("decrypt"),
        b"from alice"
    );
    assert_eq!(
        alice.decrypt(&b, &from_bob, &mut r).expect("decrypt"),
        b"from bob"
    );

    // Both now hold two states; whichever each side uses, the other decrypts it,
    // and after one exchange both agree on one session.
    for i in 0..3 {
        let m = alice
            .encrypt(&b, format!("a{i}").as_bytes())
            .expect("encrypt");
        assert_eq!(
            bob.decrypt(&a, &m, &mut r).expect("decrypt"),
            format!("a{i}").as_bytes()
        );
        let m = bob
            .encrypt(&a, format!("b{i}").as_bytes())
            .expect("encrypt");
        assert_eq!(
            alice.decrypt(&b, &m, &mut r).expect("decrypt"),
            format!("b{i}").as_bytes()
        );
    }
    let alice_state = alice
        .store
        .session_store
        .load_session(&b)
        .expect("load")
        .expect("present");
    let bob_state = bob
        .store
        .session_store
        .load_session(&a)
        .expect("load")
        .expect("present");
    assert_eq!(
        alice_state
            .session_state()
            .expect("current")
            .alice_base_key(),
        bob_state.session_state().expect("current").alice_base_key(),
        "both sides settled on the same session"
    );
    let last = alice.encrypt(&b, b"settled").expect("encrypt");
    assert_eq!(last.message_type(), CiphertextMessageType::Whisper);
}

#[test]
fn archived_states_are_capped() {
    use portico_signal::consts::ARCHIVED_STATES_MAX_LENGTH;
    let mut r = rng(6);
    let mut alice = Party::new("alice", &mut r);
    let mut bob = Party::new("bob", &mut r);
    let b = bob.address.clone();
    let bundle = bob.bundle(None, true, &mut r);
    for _ in 0..ARCHIVED_STATES_MAX_LENGTH + 5 {
        alice.process_bundle(&b, &bundle, &mut r).expect("bundle");
    }
    let record = alice
        .store
        .session_store
        .load_session(&b)
        .expect("load")
        .expect("present");
    assert!(record.has_current_session());
    assert_eq!(
        record.previous_session_states().count(),
        ARCHIVED_STATES_MAX_LENGTH
    );
}

#[test]
fn one_time_kyber_prekey_is_consumed_and_last_resort_kept() {
    use portico_signal::{
        KemKeyType, KyberBundleEntry, KyberPreKeyRecord, KyberPreKeyStore, SignalError,
    };
    let mut r = rng(7);
    let mut alice = Party::new("alice", &mut r);
    let mut carol = Party::new("carol", &mut r);
    let mut bob = Party::new("bob", &mut r);
    let b = bob.address.clone();
    let mut bundle = bob.bundle(None, true, &mut r);
    // Replace the last-resort key with a one-time Kyber prekey.
    let one_time = KyberPreKeyRecord::generate(KemKeyType::Kyber1024, 50, 0, &bob.identity, &mut r);
    bob.store
        .kyber_pre_key_store
        .save_kyber_pre_key(50, &one_time)
        .expect("mem");
    bundle.kyber_pre_key = Some(KyberBundleEntry {
        id: 50,
        public_key: one_time.public_key().clone(),
        signature: one_time.signature().to_vec(),
    });
    alice.process_bundle(&b, &bundle, &mut r).expect("bundle");
    carol.process_bundle(&b, &bundle, &mut r).expect("bundle");
    let m = alice.encrypt(&b, b"uses it").expect("encrypt");
    assert_eq!(
        bob.decrypt(&alice.address.clone(), &m, &mut r)
            .expect("decrypt"),
        b"uses it"
    );
    assert!(
        bob.store
            .kyber_pre_key_store
            .get_kyber_pre_key(50)
            .expect("mem")
            .is_none()
    );
    assert!(
        bob.store
            .kyber_pre_key_store
            .get_kyber_pre_key(9)
            .expect("mem")
            .is_some()
    );
    let m = carol.encrypt(&b, b"too late").expect("encrypt");
    assert_eq!(
        bob.decrypt(&carol.address.clone(), &m, &mut r),
        Err(SignalError::InvalidKyberPreKeyId(50))
    );
}
