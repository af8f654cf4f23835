//! Store traits: the protocol reads and writes state only through these, and the caller
//! decides where it lives. [`InMemSignalProtocolStore`] implements them all in memory.
//!
//! The traits are synchronous (the crate is sans-IO); a client with an asynchronous database
//! loads what a call needs first or runs the call on a blocking thread.

mod inmem;

pub use inmem::{
    InMemIdentityKeyStore, InMemKyberPreKeyStore, InMemPreKeyStore, InMemSessionStore,
    InMemSignalProtocolStore, InMemSignedPreKeyStore,
};

use crate::address::ProtocolAddress;
use crate::error::Result;
use crate::identity::{IdentityKey, IdentityKeyPair};
use crate::records::{KyberPreKeyRecord, PreKeyRecord, SignedPreKeyRecord};
use crate::state::SessionRecord;

/// Whether an identity is being checked to send to it or to accept a message from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// About to encrypt to the identity.
    Sending,
    /// Accepting a message from the identity.
    Receiving,
}

/// What [`IdentityKeyStore::save_identity`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdentityChange {
    /// The identity was new, or the same as the stored one.
    NewOrUnchanged,
    /// The identity replaced a different stored one (the safety number changed).
    ReplacedExisting,
}

/// Our identity, our registration id, and the identities we have seen for others.
pub trait IdentityKeyStore {
    /// Our identity key pair.
    fn identity_key_pair(&self) -> Result<IdentityKeyPair>;
    /// Our registration id.
    fn local_registration_id(&self) -> Result<u32>;
    /// Records `identity` as `address`'s identity.
    fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> Result<IdentityChange>;
    /// Whether `identity` is trusted for `address` in `direction`.
    fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
        direction: Direction,
    ) -> Result<bool>;
    /// The stored identity of `address`, if any.
    fn get_identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>>;
}

/// One-time Curve25519 prekeys.
pub trait PreKeyStore {
    /// The prekey with `id`, if still present.
    fn get_pre_key(&self, id: u32) -> Result<Option<PreKeyRecord>>;
    /// Stores a prekey.
    fn save_pre_key(&mut self, id: u32, record: &PreKeyRecord) -> Result<()>;
    /// Removes a used prekey.
    fn remove_pre_key(&mut self, id: u32) -> Result<()>;
}

/// Signed Curve25519 prekeys.
pub trait SignedPreKeyStore {
    /// The signed prekey with `id`, if present.
    fn get_signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKeyRecord>>;
    /// Stores a signed prekey.
    fn save_signed_pre_key(&mut self, id: u32, record: &SignedPreKeyRecord) -> Result<()>;
}

/// Signed Kyber prekeys (one-time or last-resort).
pub trait KyberPreKeyStore {
    /// The Kyber prekey with `id`, if present.
    fn get_kyber_pre_key(&self, id: u32) -> Result<Option<KyberPreKeyRecord>>;
    /// Stores a Kyber prekey.
    fn save_kyber_pre_key(&mut self, id: u32, record: &KyberPreKeyRecord) -> Result<()>;
    /// Called after a Kyber prekey was used: a store removes one-time keys and keeps
    /// last-resort ones.
    fn mark_kyber_pre_key_used(&mut self, id: u32) -> Result<()>;
}

/// Session records, one per peer device.
pub trait SessionStore {
    /// The record for `address`, if any.
    fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>>;
    /// Stores the record for `address`.
    fn store_session(&mut self, address: &ProtocolAddress, record: &SessionRecord) -> Result<()>;
}
