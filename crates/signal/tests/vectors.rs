//! Compatibility with libsignal without Node: the vectors in `tests/vectors/` were produced
//! once by libsignal 0.72.1 (`conformance/gen-vectors.mjs`); this crate must read, verify and
//! decrypt them, and reproduce every deterministic output byte for byte.

mod support;

use portico_signal::fingerprint::{Fingerprint, FingerprintError, ScannableFingerprint};
use portico_signal::sender_keys::{
    self, DistributionId, InMemSenderKeyStore, SenderKeyDistributionMessage, SenderKeyError,
    SenderKeyMessage, SenderKeyRecord, SenderKeyStore,
};
use portico_signal::{IdentityKey, PrivateKey, ProtocolAddress, PublicKey};
use rand::SeedableRng;
use rand::rngs::StdRng;
use support::{num, unb64, vector};

#[test]
fn xeddsa_signatures_from_libsignal_verify() {
    let v = vector("xeddsa.json");
    let cases = v["signatures"].as_array().expect("signatures");
    assert!(cases.len() >= 4);
    let mut rng = StdRng::seed_from_u64(1);
    for case in cases {
        let public = PublicKey::deserialize(&unb64(case, "publicKey")).expect("public key");
        let private = PrivateKey::deserialize(&unb64(case, "privateKey")).expect("private key");
        assert_eq!(private.public_key(), public, "public key derivation");
        let message = unb64(case, "message");
        let signature = unb64(case, "signature");
        assert!(
            public.verify_signature(&message, &signature),
            "libsignal signature verifies"
        );
        let mut other = message.clone();
        other.push(0);
        assert!(
            !public.verify_signature(&other, &signature),
            "other message rejected"
        );
        let mut bad = signature.clone();
        bad[5] ^= 0x40;
        assert!(
            !public.verify_signature(&message, &bad),
            "altered signature rejected"
        );
        // Our own signature by the same key verifies too.
        let ours = private.calculate_signature(&message, &mut rng);
        assert!(public.verify_signature(&message, &ours));
    }
}

#[test]
fn x25519_agreements_match_libsignal() {
    let v = vector("xeddsa.json");
    for case in v["agreements"].as_array().expect("agreements") {
        let private = PrivateKey::deserialize(&unb64(case, "privateKey")).expect("private key");
        let theirs = PublicKey::deserialize(&unb64(case, "theirPublicKey")).expect("public key");
        assert_eq!(
            private.calculate_agreement(&theirs).as_slice(),
            unb64(case, "sharedSecret").as_slice()
        );
    }
}

#[test]
fn safety_numbers_equal_libsignal() {
    let v = vector("fingerprints.json");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 9);
    for case in cases {
        let local_key = IdentityKey::deserialize(&unb64(case, "localKey")).expect("key");
        let remote_key = IdentityKey::deserialize(&unb64(case, "remoteKey")).expect("key");
        let fp = Fingerprint::new(
            num(case, "version"),
            num(case, "iterations"),
            &unb64(case, "localId"),
            &local_key,
            &unb64(case, "remoteId"),
            &remote_key,
        )
        .expect("fingerprint");
        assert_eq!(
            fp.displayable.to_string(),
            case["displayable"].as_str().expect("digits")
        );
        assert_eq!(fp.scannable.to_bytes(), unb64(case, "scannable"));
        assert_eq!(
            fp.scannable.compare(&unb64(case, "theirScannable")),
            Ok(true)
        );
        // Our own scannable bytes are not the other side's view.
        assert_eq!(fp.scannable.compare(&unb64(case, "scannable")), Ok(false));
        let parsed = ScannableFingerprint::from_bytes(&unb64(case, "scannable")).expect("parse");
        assert_eq!(parsed, fp.scannable);
    }
    // A version 1 fingerprint compared with a version 2 one: a specific error.
    let v1 = ScannableFingerprint::from_bytes(&unb64(&cases[0], "scannable")).expect("v1");
    let v2 = unb64(&cases[3], "theirScannable");
    assert_eq!(
        v1.compare(&v2),
        Err(FingerprintError::VersionMismatch { theirs: 2, ours: 1 })
    );
}

#[test]
fn sender_key_messages_from_libsignal_decrypt() {
    let v = vector("sender_keys.json");
    let alice = ProtocolAddress::new(
        v["sender"]["name"].as_str().expect("name"),
        num(&v["sender"], "deviceId"),
    );
    let id = DistributionId::parse(v["distributionId"].as_str().expect("id")).expect("uuid");
    let skdm_bytes = unb64(&v, "distributionMessage");
    let skdm = SenderKeyDistributionMessage::deserialize(&skdm_bytes).expect("skdm");
    assert_eq!(skdm.distribution_id(), id);
    assert_eq!(skdm.chain_id(), num(&v, "chainId"));
    assert_eq!(skdm.iteration(), num(&v, "iteration"));
    assert_eq!(
        skdm.chain_key().as_slice(),
        unb64(&v, "chainKey").as_slice()
    );
    // Re-encoding the parsed fields gives libsignal's bytes exactly.
    let again = SenderKeyDistributionMessage::new(
        skdm.message_version(),
        id,
        skdm.chain_id(),
        skdm.iteration(),
        *skdm.chain_key(),
        *skdm.signing_key(),
    );
    assert_eq!(again.serialized(), skdm_bytes.as_slice());

    let mut bob = InMemSenderKeyStore::new();
    sender_keys::process_distribution_message(&mut bob, &alice, &skdm).expect("process");
    let messages = v["messages"].as_array().expect("messages");
    for i in [5usize, 0, 3, 1, 4, 2] {
        let body = unb64(&messages[i], "body");
        assert_eq!(
            SenderKeyMessage::deserialize(&body)
                .expect("parse")
                .iteration(),
            num(&messages[i], "iteration")
        );
        let plaintext = sender_keys::group_decrypt(&mut bob, &alice, &body).expect("decrypt");
        assert_eq!(
            plaintext,
            messages[i]["plaintext"].as_str().expect("text").as_bytes()
        );
    }
    assert!(matches!(
        sender_keys::group_decrypt(&mut bob, &alice, &unb64(&messages[2], "body")),
        Err(SenderKeyError::DuplicatedMessage { iteration: 2, .. })
    ));
}

#[test]
fn sender_key_records_from_libsignal_load_and_continue() {
    let v = vector("sender_keys.json");
    let alice = ProtocolAddress::new("alice", 1);
    let id = DistributionId::parse(v["distributionId"].as_str().expect("id")).expect("uuid");
    for field in ["senderRecord", "receiverRecordAfterAll"] {
        let bytes = unb64(&v, field);
        let record = SenderKeyRecord::deserialize(&bytes).expect("libsignal record loads");
        assert_eq!(
            record.serialize().as_slice(),
            bytes.as_slice(),
            "{field} re-serializes"
        );
    }
    // Alice's own record: our next message matches libsignal's except the random signature.
    let record = SenderKeyRecord::deserialize(&unb64(&v, "senderRecord")).expect("record");
    let mut store = InMemSenderKeyStore::new();
    store.store_sender_key(&alice, id, &record).expect("store");
    let next = &v["nextMessage"];
    let theirs = unb64(next, "body");
    let mut rng = StdRng::seed_from_u64(2);
    let plaintext = next["plaintext"].as_str().expect("text").as_bytes();
    let ours =
        sender_keys::group_encrypt(&mut store, &alice, id, plaintext, &mut rng).expect("encrypt");
    let body_len = theirs.len() - 64;
    assert_eq!(&ours.serialized()[..body_len], &theirs[..body_len]);
    // Bob's record after all six messages decrypts both libsignal's and our next message.
    let mut bob = InMemSenderKeyStore::new();
    let receiver =
        SenderKeyRecord::deserialize(&unb64(&v, "receiverRecordAfterAll")).expect("record");
    bob.store_sender_key(&alice, id, &receiver).expect("store");
    let mut bob2 = bob.clone();
    assert_eq!(
        sender_keys::group_decrypt(&mut bob, &alice, &theirs).expect("decrypt"),
        plaintext
    );
    assert_eq!(
        sender_keys::group_decrypt(&mut bob2, &alice, ours.serialized()).expect("decrypt"),
        plaintext
    );
}
