//! Unit tests of the Sender Key module: round trips, ordering, limits and every error.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

struct Group {
    rng: StdRng,
    alice: ProtocolAddress,
    id: DistributionId,
    sender_store: InMemSenderKeyStore,
    receiver_store: InMemSenderKeyStore,
}

fn group() -> Group {
    let mut rng = StdRng::seed_from_u64(7);
    let alice = ProtocolAddress::new("alice", 1);
    let id = DistributionId::random(&mut rng);
    let mut sender_store = InMemSenderKeyStore::new();
    let mut receiver_store = InMemSenderKeyStore::new();
    let skdm =
        create_distribution_message(&mut sender_store, &alice, id, &mut rng).expect("create");
    let wire = SenderKeyDistributionMessage::deserialize(skdm.serialized()).expect("parse skdm");
    process_distribution_message(&mut receiver_store, &alice, &wire).expect("process");
    Group {
        rng,
        alice,
        id,
        sender_store,
        receiver_store,
    }
}

impl Group {
    fn send(&mut self, text: &[u8]) -> Vec<u8> {
        group_encrypt(
            &mut self.sender_store,
            &self.alice,
            self.id,
            text,
            &mut self.rng,
        )
        .expect("encrypt")
        .serialized()
        .to_vec()
    }
    fn receive(&mut self, bytes: &[u8]) -> Result<Vec<u8>, SenderKeyError> {
        group_decrypt(&mut self.receiver_store, &self.alice, bytes)
    }
}

#[test]
fn messages_decrypt_in_and_out_of_order_once() {
    let mut g = group();
    let sent: Vec<_> = (0..10u8)
        .map(|i| g.send(&vec![i; usize::from(i) * 7]))
        .collect();
    for i in [3usize, 0, 9, 1, 2, 8, 4, 7, 5, 6] {
        assert_eq!(g.receive(&sent[i]).expect("decrypt"), vec![i as u8; i * 7]);
    }
    assert!(matches!(
        g.receive(&sent[4]),
        Err(SenderKeyError::DuplicatedMessage {
            iteration: 4,
            chain_iteration: 10
        })
    ));
}

#[test]
fn version_byte_and_signature_length_match_libsignal() {
    let mut g = group();
    let bytes = g.send(b"hello");
    assert_eq!(bytes[0], 0x33);
    let message = SenderKeyMessage::deserialize(&bytes).expect("parse");
    assert_eq!(message.iteration(), 0);
    // AES-CBC of 5 bytes is one 16-byte block.
    assert_eq!(message.ciphertext().len(), 16);
    assert!(bytes.ends_with(&bytes[bytes.len() - 64..]));
}

#[test]
fn tampered_messages_fail_the_signature() {
    let mut g = group();
    let bytes = g.send(b"hello");
    for at in [bytes.len() - 70, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 1;
        assert!(
            matches!(g.receive(&bad), Err(SenderKeyError::InvalidSignature)),
            "flip at {at}"
        );
    }
    // The untouched message still decrypts: failures do not advance the chain.
    assert_eq!(g.receive(&bytes).expect("decrypt"), b"hello");
}

#[test]
fn forward_jump_limit_is_enforced_and_configurable() {
    let mut g = group();
    let limits = SenderKeyLimits {
        max_forward_jumps: 5,
        ..SenderKeyLimits::default()
    };
    let sent: Vec<_> = (0..8).map(|_| g.send(b"x")).collect();
    let err = group_decrypt_with_limits(&mut g.receiver_store, &g.alice, &sent[6], &limits);
    assert!(matches!(
        err,
        Err(SenderKeyError::TooFarInFuture { jump: 6, limit: 5 })
    ));
    assert!(
        err.expect_err("too far")
            .to_string()
            .contains("max_forward_jumps")
    );
    assert!(group_decrypt_with_limits(&mut g.receiver_store, &g.alice, &sent[5], &limits).is_ok());
    // The default limit (25 000) lets the same jump through.
    assert!(g.receive(&sent[7]).is_ok());
}

#[test]
fn skipped_keys_are_capped_oldest_first() {
    let mut g = group();
    let limits = SenderKeyLimits {
        max_message_keys: 3,
        ..SenderKeyLimits::default()
    };
    let sent: Vec<_> = (0..6).map(|_| g.send(b"x")).collect();
    group_decrypt_with_limits(&mut g.receiver_store, &g.alice, &sent[5], &limits).expect("jump");
    // Keys 0 and 1 were dropped, 2..=4 kept.
    assert!(matches!(
        g.receive(&sent[1]),
        Err(SenderKeyError::DuplicatedMessage { .. })
    ));
    for (i, message) in sent.iter().enumerate().take(5).skip(2) {
        assert!(g.receive(message).is_ok(), "kept key {i}");
    }
}

#[test]
fn unknown_sender_group_and_chain_are_specific_errors() {
    let mut g = group();
    let bytes = g.send(b"x");
    let bob = ProtocolAddress::new("bob", 1);
    assert!(matches!(
        group_decrypt(&mut g.receiver_store, &bob, &bytes),
        Err(SenderKeyError::NoSenderKey { .. })
    ));
    // A fresh chain under the same distribution id (the sender reset its state).
    let mut other = InMemSenderKeyStore::new();
    create_distribution_message(&mut other, &g.alice, g.id, &mut g.rng).expect("create");
    let foreign = group_encrypt(&mut other, &g.alice, g.id, b"y", &mut g.rng).expect("encrypt");
    assert!(matches!(
        g.receive(foreign.serialized()),
        Err(SenderKeyError::UnknownChain { .. })
    ));
    // A receiver cannot send on a chain it was given.
    assert!(matches!(
        group_encrypt(&mut g.receiver_store, &g.alice, g.id, b"z", &mut g.rng),
        Err(SenderKeyError::NotOurSenderKey { .. })
    ));
}

#[test]
fn malformed_and_wrong_version_bytes_are_rejected() {
    let mut g = group();
    let bytes = g.send(b"x");
    assert!(matches!(
        g.receive(&[]),
        Err(SenderKeyError::Malformed { .. })
    ));
    assert!(matches!(
        g.receive(&bytes[..40]),
        Err(SenderKeyError::Malformed { .. })
    ));
    let mut legacy = bytes.clone();
    legacy[0] = 0x22;
    assert!(matches!(
        g.receive(&legacy),
        Err(SenderKeyError::LegacyVersion(2))
    ));
    let mut future = bytes.clone();
    future[0] = 0x43;
    assert!(matches!(
        g.receive(&future),
        Err(SenderKeyError::UnrecognizedVersion(4))
    ));
    assert!(matches!(
        SenderKeyDistributionMessage::deserialize(&[0x33, 0x08, 0x01]),
        Err(SenderKeyError::Malformed { .. })
    ));
}

#[test]
fn records_round_trip_through_serialization() {
    let mut g = group();
    let sent: Vec<_> = (0..4).map(|_| g.send(b"x")).collect();
    g.receive(&sent[3]).expect("jump");
    let record = g
        .receiver_store
        .load_sender_key(&g.alice, g.id)
        .expect("load")
        .expect("present");
    let back = SenderKeyRecord::deserialize(&record.serialize()).expect("parse");
    assert_eq!(back, record);
    assert_eq!(back.current_state().expect("state").skipped_keys(), 3);
    let ours = g
        .sender_store
        .load_sender_key(&g.alice, g.id)
        .expect("load")
        .expect("present");
    let back = SenderKeyRecord::deserialize(&ours.serialize()).expect("parse");
    assert!(
        back.current_state()
            .expect("state")
            .signing_private()
            .is_some()
    );
    assert!(matches!(
        SenderKeyRecord::deserialize(&[0x0a, 0x02, 0x08]),
        Err(SenderKeyError::Malformed { .. })
    ));
}

#[test]
fn states_are_capped_and_redistribution_keeps_progress() {
    let mut g = group();
    let first = g.send(b"one");
    let second = g.send(b"two");
    g.receive(&second).expect("decrypt");
    // The same distribution message again keeps the chain where it was.
    let skdm =
        create_distribution_message(&mut g.sender_store, &g.alice, g.id, &mut g.rng).expect("skdm");
    process_distribution_message(&mut g.receiver_store, &g.alice, &skdm).expect("process");
    assert_eq!(g.receive(&first).expect("skipped key kept"), b"one");
    // Six other chains push the oldest out of a five-state record.
    for _ in 0..MAX_SENDER_KEY_STATES {
        let mut other = InMemSenderKeyStore::new();
        let skdm =
            create_distribution_message(&mut other, &g.alice, g.id, &mut g.rng).expect("create");
        process_distribution_message(&mut g.receiver_store, &g.alice, &skdm).expect("process");
    }
    let record = g
        .receiver_store
        .load_sender_key(&g.alice, g.id)
        .expect("load")
        .expect("present");
    assert_eq!(record.states().count(), MAX_SENDER_KEY_STATES);
    let third = g.send(b"three");
    assert!(matches!(
        g.receive(&third),
        Err(SenderKeyError::UnknownChain { .. })
    ));
}

#[test]
fn distribution_ids_parse_and_print_as_uuids() {
    let text = "a1b2c3d4-e5f6-4789-8abc-def012345678";
    let id = DistributionId::parse(text).expect("parse");
    assert_eq!(id.to_string(), text);
    assert_eq!(DistributionId::parse(&text.to_uppercase()), Some(id));
    assert_eq!(
        DistributionId::parse("a1b2c3d4e5f6-4789-8abc-def012345678-"),
        None
    );
    assert_eq!(
        DistributionId::parse("g1b2c3d4-e5f6-4789-8abc-def012345678"),
        None
    );
}
