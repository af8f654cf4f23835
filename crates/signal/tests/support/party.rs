//! A Rust party for the conformance tests: an identity, in-memory stores, and conversions of
//! prekey bundles to and from the peer protocol's JSON (base64 bytes).

use std::time::SystemTime;

use portico_signal::{
    CiphertextMessage, CiphertextMessageType, IdentityKey, IdentityKeyPair,
    InMemSignalProtocolStore, KemKeyType, KemPublicKey, KyberBundleEntry, KyberPreKeyRecord,
    KyberPreKeyStore, PreKeyBundle, PreKeyRecord, PreKeyStore, ProtocolAddress, PublicKey,
    SignalError, SignedPreKeyRecord, SignedPreKeyStore, message_decrypt, message_encrypt,
    process_prekey_bundle,
};
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::{b64, num, unb64};

/// One Rust party.
pub struct RustParty {
    /// Its own address.
    pub address: ProtocolAddress,
    /// Its identity.
    pub identity: IdentityKeyPair,
    /// Its registration id.
    pub registration_id: u32,
    /// All its stores.
    pub store: InMemSignalProtocolStore,
}

impl RustParty {
    /// A new party with a fresh identity.
    pub fn new(name: &str, device_id: u32, registration_id: u32, rng: &mut StdRng) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        Self {
            address: ProtocolAddress::new(name, device_id),
            store: InMemSignalProtocolStore::new(identity.clone(), registration_id),
            identity,
            registration_id,
        }
    }

    /// Generates and stores a bundle's private parts; returns the bundle as peer JSON.
    pub fn bundle_json(
        &mut self,
        pre_key_id: Option<u32>,
        signed_id: u32,
        kyber_id: u32,
        rng: &mut StdRng,
    ) -> Value {
        let signed =
            SignedPreKeyRecord::generate(signed_id, 1_700_000_000_000, &self.identity, rng);
        self.store
            .signed_pre_key_store
            .save_signed_pre_key(signed_id, &signed)
            .expect("in-memory store");
        let kyber = KyberPreKeyRecord::generate(
            KemKeyType::Kyber1024,
            kyber_id,
            1_700_000_000_000,
            &self.identity,
            rng,
        );
        self.store
            .kyber_pre_key_store
            .save_kyber_pre_key(kyber_id, &kyber)
            .expect("in-memory store");
        let mut out = json!({
            "registrationId": self.registration_id,
            "deviceId": self.address.device_id(),
            "identityKey": b64(&self.identity.identity_key().serialize()),
            "signedPreKeyId": signed_id,
            "signedPreKey": b64(&signed.public_key().serialize()),
            "signedPreKeySignature": b64(signed.signature()),
            "kyberPreKeyId": kyber_id,
            "kyberPreKey": b64(&kyber.public_key().serialize()),
            "kyberPreKeySignature": b64(kyber.signature()),
        });
        if let Some(id) = pre_key_id {
            let record = PreKeyRecord::generate(id, rng);
            self.store
                .pre_key_store
                .save_pre_key(id, &record)
                .expect("in-memory store");
            out["preKeyId"] = json!(id);
            out["preKey"] = json!(b64(&record.public_key().serialize()));
        }
        out
    }

    /// Starts a session with `peer` from its bundle in peer JSON.
    pub fn process_bundle(
        &mut self,
        peer: &ProtocolAddress,
        bundle: &Value,
        rng: &mut StdRng,
    ) -> Result<(), SignalError> {
        process_prekey_bundle(
            peer,
            &mut self.store.session_store,
            &mut self.store.identity_store,
            &bundle_from_json(bundle),
            SystemTime::now(),
            rng,
        )
    }

    /// Encrypts to `peer`: (message type code, wire bytes).
    pub fn encrypt(&mut self, peer: &ProtocolAddress, plaintext: &[u8]) -> (u8, Vec<u8>) {
        let message = message_encrypt(
            plaintext,
            peer,
            &mut self.store.session_store,
            &mut self.store.identity_store,
            SystemTime::now(),
        )
        .unwrap_or_else(|e| panic!("encrypt to {peer}: {e}"));
        (message.message_type() as u8, message.serialize().to_vec())
    }

    /// Decrypts wire bytes of type `kind` (3 prekey, 2 whisper) from `peer`.
    pub fn decrypt(
        &mut self,
        peer: &ProtocolAddress,
        kind: u8,
        bytes: &[u8],
        rng: &mut StdRng,
    ) -> Result<Vec<u8>, SignalError> {
        let kind = match kind {
            2 => CiphertextMessageType::Whisper,
            3 => CiphertextMessageType::PreKey,
            other => panic!("not a 1:1 message type: {other}"),
        };
        let message = CiphertextMessage::deserialize(kind, bytes)?;
        let s = &mut self.store;
        message_decrypt(
            &message,
            peer,
            &mut s.session_store,
            &mut s.identity_store,
            &mut s.pre_key_store,
            &s.signed_pre_key_store,
            &mut s.kyber_pre_key_store,
            rng,
        )
    }
}

/// A [`PreKeyBundle`] from the peer protocol's JSON.
pub fn bundle_from_json(b: &Value) -> PreKeyBundle {
    let key = |field: &str| {
        PublicKey::deserialize(&unb64(b, field)).unwrap_or_else(|e| panic!("{field}: {e}"))
    };
    PreKeyBundle {
        registration_id: num(b, "registrationId"),
        device_id: num(b, "deviceId"),
        pre_key: b
            .get("preKeyId")
            .filter(|v| !v.is_null())
            .map(|_| (num(b, "preKeyId"), key("preKey"))),
        signed_pre_key_id: num(b, "signedPreKeyId"),
        signed_pre_key: key("signedPreKey"),
        signed_pre_key_signature: unb64(b, "signedPreKeySignature"),
        identity_key: IdentityKey::deserialize(&unb64(b, "identityKey")).expect("identity key"),
        kyber_pre_key: Some(KyberBundleEntry {
            id: num(b, "kyberPreKeyId"),
            public_key: KemPublicKey::deserialize(&unb64(b, "kyberPreKey")).expect("Kyber key"),
            signature: unb64(b, "kyberPreKeySignature"),
        }),
    }
}
