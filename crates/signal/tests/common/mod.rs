//! Shared helpers for the end-to-end tests: two parties with in-memory stores.

#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portico_signal::{
    CiphertextMessage, IdentityKeyPair, InMemSignalProtocolStore, KemKeyType, KyberBundleEntry,
    KyberPreKeyRecord, PreKeyBundle, PreKeyRecord, PreKeyStore, ProtocolAddress, Result,
    SignedPreKeyRecord, SignedPreKeyStore, message_decrypt, message_encrypt,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A fixed clock for tests.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

/// A deterministic RNG.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// One party: its address, stores and the keys it published.
pub struct Party {
    pub address: ProtocolAddress,
    pub store: InMemSignalProtocolStore,
    pub identity: IdentityKeyPair,
    pub registration_id: u32,
}

impl Party {
    pub fn new(name: &str, rng: &mut StdRng) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        let registration_id = 1000 + name.len() as u32;
        Self {
            address: ProtocolAddress::new(name, 1),
            store: InMemSignalProtocolStore::new(identity.clone(), registration_id),
            identity,
            registration_id,
        }
    }

    /// Publishes a bundle with a one-time prekey `pre_key_id` (if any) and Kyber prekey.
    pub fn bundle(
        &mut self,
        pre_key_id: Option<u32>,
        with_kyber: bool,
        rng: &mut StdRng,
    ) -> PreKeyBundle {
        let signed = SignedPreKeyRecord::generate(7, 1_750_000_000_000, &self.identity, rng);
        self.store
            .signed_pre_key_store
            .save_signed_pre_key(7, &signed)
            .expect("in-memory store");
        let pre_key = pre_key_id.map(|id| {
            let record = PreKeyRecord::generate(id, rng);
            self.store
                .pre_key_store
                .save_pre_key(id, &record)
                .expect("in-memory store");
            (id, record.public_key())
        });
        let kyber_pre_key = with_kyber.then(|| {
            let record = KyberPreKeyRecord::generate(
                KemKeyType::Kyber1024,
                9,
                1_750_000_000_000,
                &self.identity,
                rng,
            );
            // Last resort: the Kyber prekey survives use, as the last-resort key of a real bundle.
            self.store
                .kyber_pre_key_store
                .save_last_resort_kyber_pre_key(9, &record);
            KyberBundleEntry {
                id: 9,
                public_key: record.public_key().clone(),
                signature: record.signature().to_vec(),
            }
        });
        PreKeyBundle {
            registration_id: self.registration_id,
            device_id: 1,
            pre_key,
            signed_pre_key_id: 7,
            signed_pre_key: signed.public_key(),
            signed_pre_key_signature: signed.signature().to_vec(),
            identity_key: *self.identity.identity_key(),
            kyber_pre_key,
        }
    }

    pub fn process_bundle(
        &mut self,
        peer: &ProtocolAddress,
        bundle: &PreKeyBundle,
        rng: &mut StdRng,
    ) -> Result<()> {
        portico_signal::process_prekey_bundle(
            peer,
            &mut self.store.session_store,
            &mut self.store.identity_store,
            bundle,
            now(),
            rng,
        )
    }

    pub fn encrypt(
        &mut self,
        peer: &ProtocolAddress,
        plaintext: &[u8],
    ) -> Result<CiphertextMessage> {
        message_encrypt(
            plaintext,
            peer,
            &mut self.store.session_store,
            &mut self.store.identity_store,
            now(),
        )
    }

    pub fn decrypt(
        &mut self,
        peer: &ProtocolAddress,
        message: &CiphertextMessage,
        rng: &mut StdRng,
    ) -> Result<Vec<u8>> {
        message_decrypt(
            message,
            peer,
            &mut self.store.session_store,
            &mut self.store.identity_store,
            &mut self.store.pre_key_store,
            &self.store.signed_pre_key_store,
            &mut self.store.kyber_pre_key_store,
            rng,
        )
    }
}

/// Alice and Bob with a PQXDH session that Bob has answered.
pub fn established(rng: &mut StdRng) -> (Party, Party) {
    let mut alice = Party::new("alice", rng);
    let mut bob = Party::new("bob", rng);
    let bundle = bob.bundle(Some(31), true, rng);
    alice
        .process_bundle(&bob.address.clone(), &bundle, rng)
        .expect("bundle");
    let m = alice
        .encrypt(&bob.address.clone(), b"hi bob")
        .expect("encrypt");
    assert_eq!(
        bob.decrypt(&alice.address.clone(), &m, rng)
            .expect("decrypt"),
        b"hi bob"
    );
    let r = bob
        .encrypt(&alice.address.clone(), b"hi alice")
        .expect("encrypt");
    assert_eq!(
        alice
            .decrypt(&bob.address.clone(), &r, rng)
            .expect("decrypt"),
        b"hi alice"
    );
    (alice, bob)
}
