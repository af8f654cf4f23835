//! A full PQXDH session produced by libsignal 0.72.1 (`tests/vectors/pqxdh_session.json`),
//! checked without Node: a Rust responder built from bob's exported private keys decrypts
//! alice's PreKeySignalMessages out of order, libsignal's own records load, and a session
//! continued from libsignal's record reproduces bob's replies byte for byte.

mod support;

use portico_signal::{
    CiphertextMessage, CiphertextMessageType, IdentityKey, IdentityKeyPair,
    InMemSignalProtocolStore, KemKeyPair, KeyPair, KyberPreKeyRecord, KyberPreKeyStore,
    PreKeyRecord, PreKeyStore, PrivateKey, ProtocolAddress, SessionRecord, SessionStore,
    SignalError, SignedPreKeyRecord, SignedPreKeyStore, message_decrypt, message_encrypt,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use support::{num, unb64, vector};

fn identity(private: &[u8]) -> IdentityKeyPair {
    KeyPair::from_private(PrivateKey::deserialize(private).expect("private key")).into()
}

/// Bob's stores from the exported raw private keys (not from libsignal's records).
fn bob_from_raw_keys(v: &Value) -> InMemSignalProtocolStore {
    let bob = &v["bob"];
    let (bundle, secrets) = (&bob["bundle"], &bob["secrets"]);
    let mut store = InMemSignalProtocolStore::new(
        identity(&unb64(secrets, "identityPrivate")),
        num(bob, "registrationId"),
    );
    let pre_key =
        KeyPair::from_serialized(&unb64(bundle, "preKey"), &unb64(secrets, "preKeyPrivate"))
            .expect("prekey");
    let id = num(bundle, "preKeyId");
    store
        .pre_key_store
        .save_pre_key(id, &PreKeyRecord::new(id, pre_key))
        .expect("store");
    let signed = KeyPair::from_serialized(
        &unb64(bundle, "signedPreKey"),
        &unb64(secrets, "signedPreKeyPrivate"),
    )
    .expect("spk");
    let id = num(bundle, "signedPreKeyId");
    let record = SignedPreKeyRecord::new(
        id,
        1_700_000_000_000,
        signed,
        unb64(bundle, "signedPreKeySignature"),
    );
    store
        .signed_pre_key_store
        .save_signed_pre_key(id, &record)
        .expect("store");
    let kyber = KemKeyPair::from_serialized(
        &unb64(bundle, "kyberPreKey"),
        &unb64(secrets, "kyberPreKeySecret"),
    )
    .expect("libsignal's Kyber1024 secret key loads");
    let id = num(bundle, "kyberPreKeyId");
    let record = KyberPreKeyRecord::new(
        id,
        1_700_000_000_000,
        kyber,
        unb64(bundle, "kyberPreKeySignature"),
    );
    store
        .kyber_pre_key_store
        .save_kyber_pre_key(id, &record)
        .expect("store");
    store
}

fn decrypt(
    store: &mut InMemSignalProtocolStore,
    from: &ProtocolAddress,
    event: &Value,
) -> Result<Vec<u8>, SignalError> {
    let kind = match num(event, "type") {
        3 => CiphertextMessageType::PreKey,
        _ => CiphertextMessageType::Whisper,
    };
    let message = CiphertextMessage::deserialize(kind, &unb64(event, "body"))?;
    let mut rng = StdRng::seed_from_u64(0);
    message_decrypt(
        &message,
        from,
        &mut store.session_store,
        &mut store.identity_store,
        &mut store.pre_key_store,
        &store.signed_pre_key_store,
        &mut store.kyber_pre_key_store,
        &mut rng,
    )
}

fn plaintext(event: &Value) -> &[u8] {
    event["plaintext"].as_str().expect("plaintext").as_bytes()
}

#[test]
fn rust_responder_decrypts_libsignal_prekey_messages_from_raw_keys() {
    let v = vector("pqxdh_session.json");
    let alice = ProtocolAddress::new("alice", 1);
    let mut bob = bob_from_raw_keys(&v);
    let events = v["events"].as_array().expect("events");
    let first: Vec<&Value> = events
        .iter()
        .filter(|e| e["from"] == "alice" && e["type"] == 3)
        .collect();
    assert_eq!(first.len(), 5);
    // Delivered in libsignal's order (2, 0, 4, 1, 3): out of order, all on one handshake.
    for event in &first {
        assert_eq!(
            decrypt(&mut bob, &alice, event).expect("decrypt"),
            plaintext(event)
        );
    }
    // Each is single-use.
    assert!(
        decrypt(&mut bob, &alice, first[0]).is_err(),
        "replayed prekey message accepted"
    );
    let session = bob
        .session_store
        .load_session(&alice)
        .expect("store")
        .expect("session");
    let state = session.session_state().expect("current state");
    assert_eq!(
        state.remote_identity_key().serialize().to_vec(),
        unb64(&v["alice"], "identityKey")
    );
    assert_eq!(state.session_version(), 4, "a PQXDH session");
    assert_eq!(state.remote_registration_id(), 1111);
}

#[test]
fn libsignal_prekey_records_load() {
    let v = vector("pqxdh_session.json");
    let (bundle, secrets) = (&v["bob"]["bundle"], &v["bob"]["secrets"]);
    let pre_key = PreKeyRecord::deserialize(&unb64(secrets, "preKeyRecord")).expect("PreKeyRecord");
    assert_eq!(pre_key.id(), num(bundle, "preKeyId"));
    assert_eq!(
        pre_key.public_key().serialize().to_vec(),
        unb64(bundle, "preKey")
    );
    let signed = SignedPreKeyRecord::deserialize(&unb64(secrets, "signedPreKeyRecord"))
        .expect("SignedPreKeyRecord");
    assert_eq!(signed.id(), num(bundle, "signedPreKeyId"));
    assert_eq!(
        signed.signature(),
        unb64(bundle, "signedPreKeySignature").as_slice()
    );
    let kyber = KyberPreKeyRecord::deserialize(&unb64(secrets, "kyberPreKeyRecord"))
        .expect("KyberPreKeyRecord");
    assert_eq!(kyber.public_key().serialize(), unb64(bundle, "kyberPreKey"));
    let identity = IdentityKey::deserialize(&unb64(bundle, "identityKey")).expect("identity");
    assert!(identity.verify_signature(&kyber.public_key().serialize(), kyber.signature()));
    // Re-serializing gives libsignal's bytes back.
    assert_eq!(
        pre_key.serialize().as_slice(),
        unb64(secrets, "preKeyRecord").as_slice()
    );
    assert_eq!(
        signed.serialize().as_slice(),
        unb64(secrets, "signedPreKeyRecord").as_slice()
    );
    assert_eq!(
        kyber.serialize().as_slice(),
        unb64(secrets, "kyberPreKeyRecord").as_slice()
    );
}

#[test]
fn libsignal_session_records_continue_byte_for_byte() {
    let v = vector("pqxdh_session.json");
    let alice_addr = ProtocolAddress::new("alice", 1);
    let bob_addr = ProtocolAddress::new("bob", 2);
    let events = v["events"].as_array().expect("events");
    // Bob, continued from libsignal's record after the five prekey messages.
    let mut bob = bob_from_raw_keys(&v);
    let record = SessionRecord::deserialize(&unb64(&v["bob"], "sessionRecordAfterPreKeyMessages"))
        .expect("bob record");
    bob.session_store
        .store_session(&alice_addr, &record)
        .expect("store");
    let mut replies: Vec<&Value> = events.iter().filter(|e| e["from"] == "bob").collect();
    replies.sort_by_key(|e| e["plaintext"].as_str().map(str::to_owned));
    for reply in &replies {
        let ours = message_encrypt(
            plaintext(reply),
            &alice_addr,
            &mut bob.session_store,
            &mut bob.identity_store,
            std::time::SystemTime::now(),
        )
        .expect("encrypt");
        assert_eq!(ours.message_type() as u8, 2);
        assert_eq!(
            ours.serialize(),
            unb64(reply, "body").as_slice(),
            "reply {}",
            reply["plaintext"]
        );
    }
    for event in events
        .iter()
        .filter(|e| e["from"] == "alice" && e["type"] == 2)
    {
        assert_eq!(
            decrypt(&mut bob, &alice_addr, event).expect("follow-up"),
            plaintext(event)
        );
    }
    // Alice, continued from libsignal's record after sending, reads bob's replies.
    let mut alice =
        InMemSignalProtocolStore::new(identity(&unb64(&v["alice"], "identityPrivate")), 1111);
    let record = SessionRecord::deserialize(&unb64(&v["alice"], "sessionRecordAfterSend"))
        .expect("alice record");
    alice
        .session_store
        .store_session(&bob_addr, &record)
        .expect("store");
    for reply in events.iter().filter(|e| e["from"] == "bob") {
        assert_eq!(
            decrypt(&mut alice, &bob_addr, reply).expect("reply"),
            plaintext(reply)
        );
    }
}
