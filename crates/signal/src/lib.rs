//! The Signal Protocol, sans-IO: identity keys, XEdDSA, PQXDH, the Double Ratchet,
//! Sender Keys and safety numbers, wire-compatible with Signal's libsignal 0.72.1.
//!
//! Architecture invariant: this crate does no I/O and knows nothing of XMPP; state
//! lives behind the store traits the caller implements. Randomness comes in as a
//! `rand_core` 0.9 [`CryptoRng`](rand_core::CryptoRng) argument and time as a
//! [`SystemTime`](std::time::SystemTime) value.
//!
//! # Using it
//! - Keys: [`IdentityKeyPair::generate`], [`KeyPair`], [`PublicKey::serialize`] (`0x05 || u`),
//!   XEdDSA via [`PrivateKey::calculate_signature`] / [`PublicKey::verify_signature`].
//! - Prekeys: [`PreKeyRecord`], [`SignedPreKeyRecord::generate`],
//!   [`KyberPreKeyRecord::generate`] (with [`KemKeyType::Kyber1024`]); each serializes in
//!   libsignal's `storage.proto` layout. Publish them as a [`PreKeyBundle`].
//! - Stores: implement [`IdentityKeyStore`], [`PreKeyStore`], [`SignedPreKeyStore`],
//!   [`KyberPreKeyStore`], [`SessionStore`], or use [`InMemSignalProtocolStore`].
//! - Sessions: [`process_prekey_bundle`] (initiator), then [`message_encrypt`] and
//!   [`message_decrypt`] (or [`message_decrypt_signal`] / [`message_decrypt_prekey`]).
//!   Wire bytes: [`CiphertextMessage::serialize`] and [`CiphertextMessage::deserialize`]
//!   with the [`CiphertextMessageType`] (2 = Whisper, 3 = PreKey).
//! - Errors: [`SignalError`], one variant per cause; limits live in [`consts`] and can be
//!   changed per call with [`Limits`] ([`message_encrypt_with_limits`],
//!   [`message_decrypt_with_limits`]).
//! - Records: [`SessionRecord`], the prekey records and [`IdentityKeyPair`] serialize in
//!   libsignal 0.72.1's `storage.proto` layouts, byte for byte (see
//!   `tests/libsignal_snapshot.rs`), so stores written by libsignal load here.
//! - Policy note: a bundle without a Kyber prekey gives an X3DH (version 3) session, as in
//!   libsignal 0.72.1; callers that require post-quantum sessions check
//!   [`PreKeyBundle::kyber_pre_key`] before [`process_prekey_bundle`].
//!
//! ```
//! use std::time::SystemTime;
//! use portico_signal::*;
//! # fn main() -> portico_signal::Result<()> {
//! let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
//! let alice_id = IdentityKeyPair::generate(&mut rng);
//! let bob_id = IdentityKeyPair::generate(&mut rng);
//! let mut alice = InMemSignalProtocolStore::new(alice_id, 1);
//! let mut bob = InMemSignalProtocolStore::new(bob_id.clone(), 2);
//! let (alice_addr, bob_addr) = (ProtocolAddress::new("alice", 1), ProtocolAddress::new("bob", 1));
//!
//! let spk = SignedPreKeyRecord::generate(1, 0, &bob_id, &mut rng);
//! let kpk = KyberPreKeyRecord::generate(KemKeyType::Kyber1024, 1, 0, &bob_id, &mut rng);
//! bob.signed_pre_key_store.save_signed_pre_key(1, &spk)?;
//! bob.kyber_pre_key_store.save_kyber_pre_key(1, &kpk)?;
//! let bundle = PreKeyBundle {
//!     registration_id: 2, device_id: 1, pre_key: None,
//!     signed_pre_key_id: 1, signed_pre_key: spk.public_key(),
//!     signed_pre_key_signature: spk.signature().to_vec(),
//!     identity_key: *bob_id.identity_key(),
//!     kyber_pre_key: Some(KyberBundleEntry {
//!         id: 1, public_key: kpk.public_key().clone(), signature: kpk.signature().to_vec(),
//!     }),
//! };
//! let now = SystemTime::now();
//! process_prekey_bundle(&bob_addr, &mut alice.session_store, &mut alice.identity_store,
//!     &bundle, now, &mut rng)?;
//! let msg = message_encrypt(b"hello", &bob_addr, &mut alice.session_store,
//!     &mut alice.identity_store, now)?;
//! let wire = msg.serialize().to_vec();
//! let received = CiphertextMessage::deserialize(msg.message_type(), &wire)?;
//! let plaintext = message_decrypt(&received, &alice_addr, &mut bob.session_store,
//!     &mut bob.identity_store, &mut bob.pre_key_store, &bob.signed_pre_key_store,
//!     &mut bob.kyber_pre_key_store, &mut rng)?;
//! assert_eq!(plaintext, b"hello");
//! # Ok(()) }
//! ```

pub mod address;
pub mod bundle;
pub mod consts;
pub mod error;
pub mod fingerprint;
pub mod identity;
pub mod kem;
pub mod keys;
pub mod messages;
mod pqxdh;
pub mod proto;
mod ratchet;
pub mod records;
pub mod sender_keys;
pub mod session_builder;
pub mod session_cipher;
pub mod state;
pub mod storage;
mod xeddsa;

pub use address::ProtocolAddress;
pub use bundle::{KyberBundleEntry, PreKeyBundle};
pub use consts::Limits;
pub use error::{Result, SignalError};
pub use identity::{IdentityKey, IdentityKeyPair};
pub use kem::{KemKeyPair, KemKeyType, KemPublicKey, KemSecretKey};
pub use keys::{KeyPair, PrivateKey, PublicKey};
pub use messages::{
    CiphertextMessage, CiphertextMessageType, KyberPayload, PreKeySignalMessage, SignalMessage,
};
pub use records::{KyberPreKeyRecord, PreKeyRecord, SignedPreKeyRecord};
pub use session_builder::process_prekey_bundle;
pub use session_cipher::{
    message_decrypt, message_decrypt_prekey, message_decrypt_signal, message_decrypt_with_limits,
    message_encrypt, message_encrypt_with_limits,
};
pub use state::{SessionRecord, SessionState};
pub use storage::{
    Direction, IdentityChange, IdentityKeyStore, InMemIdentityKeyStore, InMemKyberPreKeyStore,
    InMemPreKeyStore, InMemSessionStore, InMemSignalProtocolStore, InMemSignedPreKeyStore,
    KyberPreKeyStore, PreKeyStore, SessionStore, SignedPreKeyStore,
};
pub use xeddsa::SIGNATURE_LENGTH;
