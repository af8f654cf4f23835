//! Criterion benches of the one-to-one hot paths, comparable with libsignal's own
//! `benches/session.rs` figures: encrypt and decrypt on an established chain, decrypt of the
//! first message on a new chain (a DH ratchet step), bundle processing and the first
//! prekey-message decrypt.

#![allow(missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use portico_signal::{
    CiphertextMessage, IdentityKeyPair, InMemSignalProtocolStore, KemKeyType, KyberBundleEntry,
    KyberPreKeyRecord, PreKeyBundle, PreKeyRecord, PreKeyStore, ProtocolAddress,
    SignedPreKeyRecord, SignedPreKeyStore, message_decrypt, message_encrypt, process_prekey_bundle,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

fn store(rng: &mut StdRng, registration_id: u32) -> InMemSignalProtocolStore {
    InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), registration_id)
}

fn bundle_for(store: &mut InMemSignalProtocolStore, rng: &mut StdRng) -> PreKeyBundle {
    let identity = store.identity_store_key_pair();
    let signed = SignedPreKeyRecord::generate(1, 0, &identity, rng);
    let kyber = KyberPreKeyRecord::generate(KemKeyType::Kyber1024, 1, 0, &identity, rng);
    let pre = PreKeyRecord::generate(1, rng);
    store
        .signed_pre_key_store
        .save_signed_pre_key(1, &signed)
        .expect("mem");
    store
        .kyber_pre_key_store
        .save_last_resort_kyber_pre_key(1, &kyber);
    store.pre_key_store.save_pre_key(1, &pre).expect("mem");
    PreKeyBundle {
        registration_id: 2,
        device_id: 1,
        pre_key: Some((1, pre.public_key())),
        signed_pre_key_id: 1,
        signed_pre_key: signed.public_key(),
        signed_pre_key_signature: signed.signature().to_vec(),
        identity_key: *identity.identity_key(),
        kyber_pre_key: Some(KyberBundleEntry {
            id: 1,
            public_key: kyber.public_key().clone(),
            signature: kyber.signature().to_vec(),
        }),
    }
}

trait IdentityOf {
    fn identity_store_key_pair(&self) -> IdentityKeyPair;
}
impl IdentityOf for InMemSignalProtocolStore {
    fn identity_store_key_pair(&self) -> IdentityKeyPair {
        portico_signal::IdentityKeyStore::identity_key_pair(&self.identity_store).expect("mem")
    }
}

fn encrypt(s: &mut InMemSignalProtocolStore, to: &ProtocolAddress, pt: &[u8]) -> CiphertextMessage {
    message_encrypt(pt, to, &mut s.session_store, &mut s.identity_store, now()).expect("encrypt")
}

fn decrypt(
    s: &mut InMemSignalProtocolStore,
    from: &ProtocolAddress,
    m: &CiphertextMessage,
    rng: &mut StdRng,
) -> Vec<u8> {
    message_decrypt(
        m,
        from,
        &mut s.session_store,
        &mut s.identity_store,
        &mut s.pre_key_store,
        &s.signed_pre_key_store,
        &mut s.kyber_pre_key_store,
        rng,
    )
    .expect("decrypt")
}

fn benches(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(42);
    let (a, b) = (
        ProtocolAddress::new("alice", 1),
        ProtocolAddress::new("bob", 1),
    );
    let mut alice = store(&mut rng, 1);
    let mut bob = store(&mut rng, 2);
    let bundle = bundle_for(&mut bob, &mut rng);
    let bob_fresh = bob.clone();
    let alice_fresh = alice.clone();

    c.bench_function("bundle processing (PQXDH initiator)", |bench| {
        bench.iter_batched(
            || alice_fresh.clone(),
            |mut s| {
                process_prekey_bundle(
                    &b,
                    &mut s.session_store,
                    &mut s.identity_store,
                    &bundle,
                    now(),
                    &mut rng,
                )
                .expect("bundle")
            },
            BatchSize::SmallInput,
        )
    });

    let mut rng2 = StdRng::seed_from_u64(43);
    process_prekey_bundle(
        &b,
        &mut alice.session_store,
        &mut alice.identity_store,
        &bundle,
        now(),
        &mut rng2,
    )
    .expect("bundle");
    let first = encrypt(&mut alice, &b, b"first message");
    c.bench_function("prekey message decrypt (PQXDH responder)", |bench| {
        bench.iter_batched(
            || bob_fresh.clone(),
            |mut s| decrypt(&mut s, &a, &first, &mut rng2),
            BatchSize::SmallInput,
        )
    });

    decrypt(&mut bob, &a, &first, &mut rng2);
    let reply = encrypt(&mut bob, &a, b"reply");
    decrypt(&mut alice, &b, &reply, &mut rng2);

    let payload = [0x42u8; 100];
    // The encrypt bench runs Alice's chain far ahead; the later benches start from here.
    let mut alice_before = alice.clone();
    c.bench_function("encrypt (established chain)", |bench| {
        bench.iter(|| encrypt(&mut alice_before, &b, &payload))
    });
    c.bench_function("decrypt (established chain)", |bench| {
        bench.iter_batched(
            || encrypt(&mut alice, &b, &payload),
            |m| decrypt(&mut bob, &a, &m, &mut rng2),
            BatchSize::SmallInput,
        )
    });

    let alice = std::cell::RefCell::new(alice);
    c.bench_function(
        "decrypt first message of a new chain (DH ratchet step)",
        |bench| {
            bench.iter_batched(
                || {
                    let m = encrypt(&mut alice.borrow_mut(), &b, &payload);
                    decrypt(&mut bob, &a, &m, &mut rng);
                    encrypt(&mut bob, &a, &payload)
                },
                |m| decrypt(&mut alice.borrow_mut(), &b, &m, &mut rng2),
                BatchSize::PerIteration,
            )
        },
    );
}

fn primitives(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let a = portico_signal::PrivateKey::generate(&mut rng);
    let b = portico_signal::PrivateKey::generate(&mut rng).public_key();
    c.bench_function("primitive: X25519 agreement", |bench| {
        bench.iter(|| a.calculate_agreement(&b))
    });
    c.bench_function("primitive: X25519 key generation", |bench| {
        bench.iter(|| portico_signal::KeyPair::generate(&mut rng))
    });
    let sig = a.calculate_signature(&b.serialize(), &mut rng);
    let pub_a = a.public_key();
    c.bench_function("primitive: XEdDSA sign", |bench| {
        bench.iter(|| a.calculate_signature(&b.serialize(), &mut rng))
    });
    c.bench_function("primitive: XEdDSA verify", |bench| {
        bench.iter(|| pub_a.verify_signature(&b.serialize(), &sig))
    });
    let kem = portico_signal::KemKeyPair::generate(KemKeyType::Kyber1024, &mut rng);
    let (_, ct) = kem.public_key.encapsulate(&mut rng);
    c.bench_function("primitive: Kyber1024 encapsulate", |bench| {
        bench.iter(|| kem.public_key.encapsulate(&mut rng))
    });
    c.bench_function("primitive: Kyber1024 decapsulate", |bench| {
        bench.iter(|| kem.secret_key.decapsulate(&ct).expect("own ciphertext"))
    });
}

criterion_group!(session, benches, primitives);
criterion_main!(session);
