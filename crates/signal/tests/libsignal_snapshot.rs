//! Offline compatibility with libsignal 0.72.1: prekey and session records that libsignal
//! serialized load here (and re-serialize to the same bytes), prekey messages that libsignal's
//! initiator sent decrypt here in any order, and libsignal's sessions carry on here. The data
//! was produced once by `tests/data/gen_libsignal_prekey_session.cjs` with
//! `@signalapp/libsignal-client` 0.72.1.

mod common;

use common::rng;
use portico_signal::{
    CiphertextMessage, CiphertextMessageType, IdentityKey, IdentityKeyPair,
    InMemSignalProtocolStore, KyberPreKeyRecord, KyberPreKeyStore, PreKeyRecord, PreKeyStore,
    ProtocolAddress, SignalError, SignedPreKeyRecord, SignedPreKeyStore, message_decrypt,
};

const DATA: &str = include_str!("data/libsignal_0.72.1_prekey_session.txt");

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex data"))
        .collect()
}

fn field(name: &str) -> Vec<u8> {
    DATA.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map(unhex)
        .unwrap_or_else(|| panic!("{name} in the data file"))
}

fn messages() -> Vec<(CiphertextMessage, Vec<u8>)> {
    DATA.lines()
        .filter_map(|l| l.strip_prefix("message "))
        .map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            let kind = match parts[0] {
                "3" => CiphertextMessageType::PreKey,
                _ => CiphertextMessageType::Whisper,
            };
            let m = CiphertextMessage::deserialize(kind, &unhex(parts[2]))
                .expect("libsignal message parses");
            (m, unhex(parts[1]))
        })
        .collect()
}

#[test]
fn libsignal_records_load_and_reserialize_identically() {
    let identity = field("bob_identity_key_pair");
    assert_eq!(
        IdentityKeyPair::deserialize(&identity)
            .expect("parses")
            .serialize()
            .as_slice(),
        identity
    );
    let spk = field("bob_signed_pre_key_record");
    assert_eq!(
        SignedPreKeyRecord::deserialize(&spk)
            .expect("parses")
            .serialize()
            .as_slice(),
        spk
    );
    let kpk = field("bob_kyber_pre_key_record");
    assert_eq!(
        KyberPreKeyRecord::deserialize(&kpk)
            .expect("parses")
            .serialize()
            .as_slice(),
        kpk
    );
    let opk = field("bob_pre_key_record");
    assert_eq!(
        PreKeyRecord::deserialize(&opk)
            .expect("parses")
            .serialize()
            .as_slice(),
        opk
    );
}

#[test]
fn libsignal_prekey_messages_decrypt_out_of_order() {
    let mut r = rng(60);
    let identity = IdentityKeyPair::deserialize(&field("bob_identity_key_pair")).expect("parses");
    let spk = SignedPreKeyRecord::deserialize(&field("bob_signed_pre_key_record")).expect("parses");
    let kpk = KyberPreKeyRecord::deserialize(&field("bob_kyber_pre_key_record")).expect("parses");
    let opk = PreKeyRecord::deserialize(&field("bob_pre_key_record")).expect("parses");
    assert!(
        identity
            .identity_key()
            .verify_signature(&spk.public_key().serialize(), spk.signature())
    );
    assert!(
        identity
            .identity_key()
            .verify_signature(&kpk.public_key().serialize(), kpk.signature())
    );

    let mut bob = InMemSignalProtocolStore::new(identity, 2002);
    bob.signed_pre_key_store
        .save_signed_pre_key(spk.id(), &spk)
        .expect("mem");
    bob.kyber_pre_key_store
        .save_kyber_pre_key(kpk.id(), &kpk)
        .expect("mem");
    bob.pre_key_store.save_pre_key(opk.id(), &opk).expect("mem");
    let alice = ProtocolAddress::new("alice", 1);
    let msgs = messages();
    assert_eq!(msgs.len(), 3);
    for (m, _) in &msgs {
        let CiphertextMessage::PreKeySignalMessage(p) = m else {
            panic!("libsignal's first messages are prekey messages")
        };
        assert_eq!(p.message_version(), 4);
        assert_eq!(
            p.identity_key(),
            &IdentityKey::deserialize(&field("alice_identity_key")).expect("parses")
        );
    }
    let mut decrypt = |m: &CiphertextMessage| {
        message_decrypt(
            m,
            &alice,
            &mut bob.session_store,
            &mut bob.identity_store,
            &mut bob.pre_key_store,
            &bob.signed_pre_key_store,
            &mut bob.kyber_pre_key_store,
            &mut r,
        )
    };
    for i in [2usize, 0, 1] {
        assert_eq!(decrypt(&msgs[i].0).expect("decrypts"), msgs[i].1);
    }
    assert!(matches!(
        decrypt(&msgs[0].0),
        Err(SignalError::DuplicatedMessage { .. })
    ));
}

fn typed_message(name: &str) -> (CiphertextMessage, Vec<u8>) {
    let line = DATA
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} in the data file"));
    let parts: Vec<&str> = line.split(' ').collect();
    assert_eq!(
        parts[0], "2",
        "after the answer, libsignal sends SignalMessages"
    );
    let m = CiphertextMessage::deserialize(CiphertextMessageType::Whisper, &unhex(parts[2]))
        .expect("libsignal message parses");
    (m, unhex(parts[1]))
}

#[test]
fn libsignal_session_records_continue_here() {
    use portico_signal::{SessionRecord, SessionStore, message_encrypt};
    let mut r = rng(61);
    let alice_addr = ProtocolAddress::new("alice", 1);
    let bob_addr = ProtocolAddress::new("bob", 1);
    let mut alice = InMemSignalProtocolStore::new(
        IdentityKeyPair::deserialize(&field("alice_identity_key_pair")).expect("parses"),
        1001,
    );
    let mut bob = InMemSignalProtocolStore::new(
        IdentityKeyPair::deserialize(&field("bob_identity_key_pair")).expect("parses"),
        2002,
    );
    let alice_record = field("alice_session_record");
    let bob_record = field("bob_session_record");
    let parsed = SessionRecord::deserialize(&alice_record).expect("libsignal record parses");
    assert_eq!(
        parsed.session_state().expect("current").session_version(),
        4
    );
    alice
        .session_store
        .store_session(&bob_addr, &parsed)
        .expect("mem");
    bob.session_store
        .store_session(
            &alice_addr,
            &SessionRecord::deserialize(&bob_record).expect("parses"),
        )
        .expect("mem");

    let decrypt = |s: &mut InMemSignalProtocolStore,
                   from: &ProtocolAddress,
                   m: &CiphertextMessage,
                   r: &mut rand::rngs::StdRng| {
        message_decrypt(
            m,
            from,
            &mut s.session_store,
            &mut s.identity_store,
            &mut s.pre_key_store,
            &s.signed_pre_key_store,
            &mut s.kyber_pre_key_store,
            r,
        )
    };
    // Messages libsignal sent after the records were taken decrypt with those records.
    let (m, pt) = typed_message("after_from_alice");
    assert_eq!(
        decrypt(&mut bob, &alice_addr, &m, &mut r).expect("decrypts"),
        pt
    );
    let (m, pt) = typed_message("after_from_bob");
    assert_eq!(
        decrypt(&mut alice, &bob_addr, &m, &mut r).expect("decrypts"),
        pt
    );
    // And both sides carry on here.
    for i in 0..3u8 {
        let m = message_encrypt(
            &[i],
            &bob_addr,
            &mut alice.session_store,
            &mut alice.identity_store,
            common::now(),
        )
        .expect("encrypt");
        assert_eq!(
            decrypt(&mut bob, &alice_addr, &m, &mut r).expect("decrypts"),
            [i]
        );
        let m = message_encrypt(
            &[i, i],
            &alice_addr,
            &mut bob.session_store,
            &mut bob.identity_store,
            common::now(),
        )
        .expect("encrypt");
        assert_eq!(
            decrypt(&mut alice, &bob_addr, &m, &mut r).expect("decrypts"),
            [i, i]
        );
    }
}
