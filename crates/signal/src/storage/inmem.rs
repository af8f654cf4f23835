//! In-memory implementations of the store traits, for tests and for callers that persist
//! the serialized records themselves.

use std::collections::{HashMap, HashSet};

use crate::address::ProtocolAddress;
use crate::error::Result;
use crate::identity::{IdentityKey, IdentityKeyPair};
use crate::records::{KyberPreKeyRecord, PreKeyRecord, SignedPreKeyRecord};
use crate::sender_keys::InMemSenderKeyStore;
use crate::state::SessionRecord;
use crate::storage::{
    Direction, IdentityChange, IdentityKeyStore, KyberPreKeyStore, PreKeyStore, SessionStore,
    SignedPreKeyStore,
};

/// Identities in memory, trusting on first use: an identity is trusted when none is stored
/// for the address or it equals the stored one.
#[derive(Clone, Debug)]
pub struct InMemIdentityKeyStore {
    key_pair: IdentityKeyPair,
    registration_id: u32,
    known: HashMap<ProtocolAddress, IdentityKey>,
}

impl InMemIdentityKeyStore {
    /// A store for our `key_pair` and `registration_id`.
    pub fn new(key_pair: IdentityKeyPair, registration_id: u32) -> Self {
        Self {
            key_pair,
            registration_id,
            known: HashMap::new(),
        }
    }
}

impl IdentityKeyStore for InMemIdentityKeyStore {
    fn identity_key_pair(&self) -> Result<IdentityKeyPair> {
        Ok(self.key_pair.clone())
    }

    fn local_registration_id(&self) -> Result<u32> {
        Ok(self.registration_id)
    }

    fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> Result<IdentityChange> {
        match self.known.insert(address.clone(), *identity) {
            Some(old) if old != *identity => Ok(IdentityChange::ReplacedExisting),
            _ => Ok(IdentityChange::NewOrUnchanged),
        }
    }

    fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
        _direction: Direction,
    ) -> Result<bool> {
        Ok(self
            .known
            .get(address)
            .is_none_or(|known| known == identity))
    }

    fn get_identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>> {
        Ok(self.known.get(address).copied())
    }
}

/// One-time prekeys in memory.
#[derive(Clone, Debug, Default)]
pub struct InMemPreKeyStore {
    keys: HashMap<u32, PreKeyRecord>,
}

impl InMemPreKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ids of the prekeys still present.
    pub fn all_pre_key_ids(&self) -> impl Iterator<Item = &u32> {
        self.keys.keys()
    }
}

impl PreKeyStore for InMemPreKeyStore {
    fn get_pre_key(&self, id: u32) -> Result<Option<PreKeyRecord>> {
        Ok(self.keys.get(&id).cloned())
    }

    fn save_pre_key(&mut self, id: u32, record: &PreKeyRecord) -> Result<()> {
        self.keys.insert(id, record.clone());
        Ok(())
    }

    fn remove_pre_key(&mut self, id: u32) -> Result<()> {
        self.keys.remove(&id);
        Ok(())
    }
}

/// Signed prekeys in memory.
#[derive(Clone, Debug, Default)]
pub struct InMemSignedPreKeyStore {
    keys: HashMap<u32, SignedPreKeyRecord>,
}

impl InMemSignedPreKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SignedPreKeyStore for InMemSignedPreKeyStore {
    fn get_signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKeyRecord>> {
        Ok(self.keys.get(&id).cloned())
    }

    fn save_signed_pre_key(&mut self, id: u32, record: &SignedPreKeyRecord) -> Result<()> {
        self.keys.insert(id, record.clone());
        Ok(())
    }
}

/// Kyber prekeys in memory; keys saved with
/// [`save_last_resort_kyber_pre_key`](Self::save_last_resort_kyber_pre_key) survive use,
/// others are removed when used.
#[derive(Clone, Debug, Default)]
pub struct InMemKyberPreKeyStore {
    keys: HashMap<u32, KyberPreKeyRecord>,
    last_resort: HashSet<u32>,
}

impl InMemKyberPreKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a last-resort Kyber prekey, which is kept after use.
    pub fn save_last_resort_kyber_pre_key(&mut self, id: u32, record: &KyberPreKeyRecord) {
        self.keys.insert(id, record.clone());
        self.last_resort.insert(id);
    }
}

impl KyberPreKeyStore for InMemKyberPreKeyStore {
    fn get_kyber_pre_key(&self, id: u32) -> Result<Option<KyberPreKeyRecord>> {
        Ok(self.keys.get(&id).cloned())
    }

    fn save_kyber_pre_key(&mut self, id: u32, record: &KyberPreKeyRecord) -> Result<()> {
        self.keys.insert(id, record.clone());
        self.last_resort.remove(&id);
        Ok(())
    }

    fn mark_kyber_pre_key_used(&mut self, id: u32) -> Result<()> {
        if !self.last_resort.contains(&id) {
            self.keys.remove(&id);
        }
        Ok(())
    }
}

/// Session records in memory.
#[derive(Clone, Debug, Default)]
pub struct InMemSessionStore {
    sessions: HashMap<ProtocolAddress, SessionRecord>,
}

impl InMemSessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SessionStore for InMemSessionStore {
    fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>> {
        Ok(self.sessions.get(address).cloned())
    }

    fn store_session(&mut self, address: &ProtocolAddress, record: &SessionRecord) -> Result<()> {
        self.sessions.insert(address.clone(), record.clone());
        Ok(())
    }
}

/// Every store of one installation, as public fields so calls can borrow them separately.
#[derive(Clone, Debug)]
pub struct InMemSignalProtocolStore {
    /// Identities.
    pub identity_store: InMemIdentityKeyStore,
    /// One-time prekeys.
    pub pre_key_store: InMemPreKeyStore,
    /// Signed prekeys.
    pub signed_pre_key_store: InMemSignedPreKeyStore,
    /// Kyber prekeys.
    pub kyber_pre_key_store: InMemKyberPreKeyStore,
    /// Sessions.
    pub session_store: InMemSessionStore,
    /// Sender Keys of the groups we are in.
    pub sender_key_store: InMemSenderKeyStore,
}

impl InMemSignalProtocolStore {
    /// Empty stores for our `key_pair` and `registration_id`.
    pub fn new(key_pair: IdentityKeyPair, registration_id: u32) -> Self {
        Self {
            identity_store: InMemIdentityKeyStore::new(key_pair, registration_id),
            pre_key_store: InMemPreKeyStore::new(),
            signed_pre_key_store: InMemSignedPreKeyStore::new(),
            kyber_pre_key_store: InMemKyberPreKeyStore::new(),
            session_store: InMemSessionStore::new(),
            sender_key_store: InMemSenderKeyStore::default(),
        }
    }
}
