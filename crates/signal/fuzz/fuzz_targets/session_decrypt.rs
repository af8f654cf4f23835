//! Fuzzes decryption on an established session with genuine messages mutated by the input
//! (byte flips at chosen positions, truncation): nothing may panic, and a message that fails
//! to decrypt must leave the session exactly as it was.

#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use portico_signal::{
    CiphertextMessage, IdentityKeyPair, InMemSignalProtocolStore, KemKeyType, KyberBundleEntry,
    KyberPreKeyRecord, PreKeyBundle, PreKeyRecord, PreKeyStore, ProtocolAddress, SessionStore,
    SignedPreKeyRecord, SignedPreKeyStore, message_decrypt, message_encrypt, process_prekey_bundle,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Bob's stores after Alice's first message, and Alice's next (genuine) messages.
fn template() -> &'static (InMemSignalProtocolStore, Vec<CiphertextMessage>) {
    static BOB: OnceLock<(InMemSignalProtocolStore, Vec<CiphertextMessage>)> = OnceLock::new();
    BOB.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(1);
        let now = UNIX_EPOCH + Duration::from_secs(1_750_000_000);
        let bob_id = IdentityKeyPair::generate(&mut rng);
        let mut alice = InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 1);
        let mut bob = InMemSignalProtocolStore::new(bob_id.clone(), 2);
        let spk = SignedPreKeyRecord::generate(1, 0, &bob_id, &mut rng);
        let kpk = KyberPreKeyRecord::generate(KemKeyType::Kyber1024, 1, 0, &bob_id, &mut rng);
        let pre = PreKeyRecord::generate(1, &mut rng);
        bob.signed_pre_key_store
            .save_signed_pre_key(1, &spk)
            .expect("mem");
        bob.kyber_pre_key_store
            .save_last_resort_kyber_pre_key(1, &kpk);
        bob.pre_key_store.save_pre_key(1, &pre).expect("mem");
        let bundle = PreKeyBundle {
            registration_id: 2,
            device_id: 1,
            pre_key: Some((1, pre.public_key())),
            signed_pre_key_id: 1,
            signed_pre_key: spk.public_key(),
            signed_pre_key_signature: spk.signature().to_vec(),
            identity_key: *bob_id.identity_key(),
            kyber_pre_key: Some(KyberBundleEntry {
                id: 1,
                public_key: kpk.public_key().clone(),
                signature: kpk.signature().to_vec(),
            }),
        };
        let (a, b) = (
            ProtocolAddress::new("alice", 1),
            ProtocolAddress::new("bob", 1),
        );
        process_prekey_bundle(
            &b,
            &mut alice.session_store,
            &mut alice.identity_store,
            &bundle,
            now,
            &mut rng,
        )
        .expect("bundle");
        let m = message_encrypt(
            b"hi",
            &b,
            &mut alice.session_store,
            &mut alice.identity_store,
            now,
        )
        .expect("encrypt");
        message_decrypt(
            &m,
            &a,
            &mut bob.session_store,
            &mut bob.identity_store,
            &mut bob.pre_key_store,
            &bob.signed_pre_key_store,
            &mut bob.kyber_pre_key_store,
            &mut rng,
        )
        .expect("decrypt");
        let next = (0..3)
            .map(|i| {
                message_encrypt(
                    &[i; 40],
                    &b,
                    &mut alice.session_store,
                    &mut alice.identity_store,
                    now,
                )
                .expect("encrypt")
            })
            .collect();
        (bob, next)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, edits)) = data.split_first() else {
        return;
    };
    let (template_bob, genuine) = template();
    let original = &genuine[usize::from(choice) % genuine.len()];
    let mut bytes = original.serialize().to_vec();
    for edit in edits.chunks_exact(3) {
        let position = usize::from(u16::from_le_bytes([edit[0], edit[1]]));
        if edit[2] == 0 {
            bytes.truncate(position);
        } else if let Some(b) = bytes.get_mut(position) {
            *b ^= edit[2];
        }
    }
    let Ok(message) = CiphertextMessage::deserialize(original.message_type(), &bytes) else {
        return;
    };
    let mut bob = template_bob.clone();
    let alice = ProtocolAddress::new("alice", 1);
    let before = bob
        .session_store
        .load_session(&alice)
        .expect("mem")
        .expect("session")
        .serialize();
    let mut rng = StdRng::seed_from_u64(2);
    let result = message_decrypt(
        &message,
        &alice,
        &mut bob.session_store,
        &mut bob.identity_store,
        &mut bob.pre_key_store,
        &bob.signed_pre_key_store,
        &mut bob.kyber_pre_key_store,
        &mut rng,
    );
    match result {
        Ok(plaintext) => assert_eq!(plaintext.len(), 40, "only genuine content decrypts"),
        Err(_) => {
            let after = bob
                .session_store
                .load_session(&alice)
                .expect("mem")
                .expect("session")
                .serialize();
            assert_eq!(
                before.as_slice(),
                after.as_slice(),
                "a failed decrypt changed the session"
            );
        }
    }
});
