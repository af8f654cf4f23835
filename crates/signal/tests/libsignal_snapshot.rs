//! Offline compatibility with libsignal 0.72.1: records that libsignal serialized load here
//! (and re-serialize to the same bytes), and prekey messages that libsignal's initiator sent to
//! that bundle decrypt here, in any order. The data was produced once by
//! `tests/data/gen_libsignal_prekey_session.cjs` with `@signalapp/libsignal-client` 0.72.1.

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
