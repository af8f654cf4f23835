//! Conformance against libsignal 0.72.1 in Node for everything outside 1:1 sessions:
//! Sender Keys group messages both ways, safety numbers and XEdDSA signatures.
//! Needs `bash scripts/test` (npm ci) first; fails, never skips, without it.

mod support;

use portico_signal::fingerprint::{DEFAULT_ITERATIONS, Fingerprint};
use portico_signal::sender_keys::{
    self, DistributionId, InMemSenderKeyStore, SenderKeyDistributionMessage, SenderKeyError,
};
use portico_signal::{IdentityKey, KeyPair, ProtocolAddress};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use support::peer::Peer;
use support::{b64, unb64};

const MESSAGES: usize = 1000;

#[test]
fn rust_group_messages_decrypt_in_libsignal() {
    let mut rng = StdRng::seed_from_u64(0x5e4d);
    let (mut bob, _) = Peer::start("bob", 2, 2002);
    let alice = ProtocolAddress::new("alice", 1);
    let id = DistributionId::random(&mut rng);
    let mut store = InMemSenderKeyStore::new();
    let skdm =
        sender_keys::create_distribution_message(&mut store, &alice, id, &mut rng).expect("skdm");
    bob.sender_key_process("alice", 1, skdm.serialized())
        .expect("libsignal takes our SKDM");
    // Send in batches, deliver each batch shuffled with about one in ten dropped.
    let mut delivered = 0;
    let mut sent = 0;
    while sent < MESSAGES {
        let batch: Vec<(Vec<u8>, Vec<u8>)> = (0..rng.random_range(1..40))
            .map(|_| {
                sent += 1;
                let text: Vec<u8> = (0..rng.random_range(0..300))
                    .map(|_| rng.random())
                    .collect();
                let m = sender_keys::group_encrypt(&mut store, &alice, id, &text, &mut rng)
                    .expect("encrypt");
                (text, m.serialized().to_vec())
            })
            .collect();
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.shuffle(&mut rng);
        for i in order {
            if rng.random_ratio(1, 10) {
                continue;
            }
            let got = bob
                .group_decrypt("alice", 1, &batch[i].1)
                .expect("libsignal decrypts ours");
            assert_eq!(got, batch[i].0);
            delivered += 1;
        }
    }
    assert!(delivered > MESSAGES * 8 / 10, "{delivered} delivered");
    // libsignal refuses a replay and an altered message of ours.
    let m = sender_keys::group_encrypt(&mut store, &alice, id, b"once", &mut rng).expect("encrypt");
    assert_eq!(
        bob.group_decrypt("alice", 1, m.serialized())
            .expect("decrypt"),
        b"once"
    );
    assert!(
        bob.group_decrypt("alice", 1, m.serialized()).is_err(),
        "replay accepted"
    );
    let mut bad = sender_keys::group_encrypt(&mut store, &alice, id, b"x", &mut rng)
        .expect("encrypt")
        .serialized()
        .to_vec();
    bad[30] ^= 4;
    assert!(
        bob.group_decrypt("alice", 1, &bad).is_err(),
        "tampered message accepted"
    );
}

#[test]
fn libsignal_group_messages_decrypt_here() {
    let mut rng = StdRng::seed_from_u64(0xb0b);
    let (mut bob, _) = Peer::start("bob", 2, 2002);
    let bob_address = ProtocolAddress::new("bob", 2);
    let id = DistributionId::random(&mut rng);
    let skdm = bob.sender_key_create(&id.to_string());
    let skdm = SenderKeyDistributionMessage::deserialize(&skdm).expect("libsignal SKDM parses");
    assert_eq!(skdm.distribution_id(), id);
    let mut store = InMemSenderKeyStore::new();
    sender_keys::process_distribution_message(&mut store, &bob_address, &skdm).expect("process");
    let mut pending: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut delivered = 0;
    for n in 0..MESSAGES {
        let text = format!("libsignal group message {n}").into_bytes();
        let body = bob.group_encrypt(&id.to_string(), &text);
        pending.push((text, body));
        // Deliver a random pending message now and then; drop a few.
        while !pending.is_empty() && rng.random_ratio(2, 3) {
            let (text, body) = pending.swap_remove(rng.random_range(0..pending.len()));
            if rng.random_ratio(1, 20) {
                continue;
            }
            let got = sender_keys::group_decrypt(&mut store, &bob_address, &body).expect("decrypt");
            assert_eq!(got, text);
            delivered += 1;
            let replay = sender_keys::group_decrypt(&mut store, &bob_address, &body);
            assert!(matches!(
                replay,
                Err(SenderKeyError::DuplicatedMessage { .. })
            ));
        }
    }
    for (text, body) in pending {
        assert_eq!(
            sender_keys::group_decrypt(&mut store, &bob_address, &body).expect("decrypt"),
            text
        );
        delivered += 1;
    }
    assert!(delivered > MESSAGES * 9 / 10, "{delivered} delivered");
}

#[test]
fn both_directions_in_one_group_interleaved() {
    let mut rng = StdRng::seed_from_u64(42);
    let (mut bob, _) = Peer::start("bob", 2, 2002);
    let alice = ProtocolAddress::new("alice", 1);
    let bob_address = ProtocolAddress::new("bob", 2);
    let id = DistributionId::random(&mut rng);
    let mut store = InMemSenderKeyStore::new();
    let ours =
        sender_keys::create_distribution_message(&mut store, &alice, id, &mut rng).expect("skdm");
    bob.sender_key_process("alice", 1, ours.serialized())
        .expect("process");
    let theirs = SenderKeyDistributionMessage::deserialize(&bob.sender_key_create(&id.to_string()))
        .expect("skdm");
    sender_keys::process_distribution_message(&mut store, &bob_address, &theirs).expect("process");
    for n in 0..200 {
        let text = format!("message {n}").into_bytes();
        if rng.random_bool(0.5) {
            let m = sender_keys::group_encrypt(&mut store, &alice, id, &text, &mut rng)
                .expect("encrypt");
            assert_eq!(
                bob.group_decrypt("alice", 1, m.serialized())
                    .expect("decrypt"),
                text
            );
        } else {
            let body = bob.group_encrypt(&id.to_string(), &text);
            assert_eq!(
                sender_keys::group_decrypt(&mut store, &bob_address, &body).expect("decrypt"),
                text
            );
        }
    }
}

#[test]
fn safety_numbers_equal_libsignal_live() {
    let mut rng = StdRng::seed_from_u64(9);
    let (mut peer, _) = Peer::start("carol", 1, 3003);
    for n in 0..20u32 {
        let local = IdentityKey::new(KeyPair::generate(&mut rng).public_key);
        let remote = IdentityKey::new(KeyPair::generate(&mut rng).public_key);
        let local_id: Vec<u8> = (0..rng.random_range(0..40)).map(|_| rng.random()).collect();
        let remote_id: Vec<u8> = (0..rng.random_range(0..40)).map(|_| rng.random()).collect();
        let (version, iterations) = if n % 2 == 0 {
            (2, DEFAULT_ITERATIONS)
        } else {
            (1, 2 + n * 100)
        };
        let ours = Fingerprint::new(version, iterations, &local_id, &local, &remote_id, &remote)
            .expect("fp");
        let node = peer.ok(
            "fingerprint",
            json!({"iterations": iterations, "version": version,
                   "localId": b64(&local_id), "localKey": b64(&local.serialize()),
                   "remoteId": b64(&remote_id), "remoteKey": b64(&remote.serialize())}),
        );
        assert_eq!(
            ours.displayable.to_string(),
            node["displayable"].as_str().expect("digits")
        );
        assert_eq!(ours.scannable.to_bytes(), unb64(&node, "scannable"));
        // The other side's view, computed here, matches libsignal's fingerprint in libsignal.
        let other = Fingerprint::new(version, iterations, &remote_id, &remote, &local_id, &local)
            .expect("fp");
        let cmp = peer.ok(
            "compareScannable",
            json!({"ours": b64(&unb64(&node, "scannable")), "theirs": b64(&other.scannable.to_bytes())}),
        );
        assert_eq!(cmp["matches"], json!(true));
        assert_eq!(
            ours.scannable.compare(&other.scannable.to_bytes()),
            Ok(true)
        );
    }
}

#[test]
fn xeddsa_signatures_cross_verify() {
    let mut rng = StdRng::seed_from_u64(3);
    let (mut peer, identity) = Peer::start("dave", 1, 4004);
    let identity = IdentityKey::deserialize(&identity).expect("libsignal identity key");
    for len in [0usize, 1, 33, 64, 1000] {
        let message: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let theirs = unb64(
            &peer.ok("sign", json!({"message": b64(&message)})),
            "signature",
        );
        assert!(
            identity.verify_signature(&message, &theirs),
            "libsignal signature, {len} bytes"
        );
        let pair = KeyPair::generate(&mut rng);
        let ours = pair.private_key.calculate_signature(&message, &mut rng);
        let check = |peer: &mut Peer, msg: &[u8], sig: &[u8]| {
            peer.ok(
                "verify",
                json!({"publicKey": b64(&pair.public_key.serialize()), "message": b64(msg), "signature": b64(sig)}),
            )["valid"]
                .clone()
        };
        assert_eq!(
            check(&mut peer, &message, &ours),
            json!(true),
            "ours in libsignal, {len} bytes"
        );
        let mut bad = ours;
        bad[40] ^= 1;
        assert_eq!(check(&mut peer, &message, &bad), json!(false));
    }
}
