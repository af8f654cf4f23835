//! Where Sender Key records live: a trait the caller implements, and an in-memory store.

use std::collections::HashMap;

use super::{DistributionId, SenderKeyError, SenderKeyRecord};
use crate::address::ProtocolAddress;

/// The failure of a caller's store (a database error, say), carried through the protocol code.
pub type StoreFailure = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Persistent storage of Sender Key records, one per (sender, distribution id).
///
/// Our own sending chain for a group is stored under our own address.
pub trait SenderKeyStore {
    /// Saves the record of `sender` in group `distribution_id`, replacing any earlier one.
    fn store_sender_key(
        &mut self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreFailure>;

    /// Loads the record of `sender` in group `distribution_id`, if there is one.
    fn load_sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Result<Option<SenderKeyRecord>, StoreFailure>;
}

/// A [`SenderKeyStore`] in memory, for tests and for clients that persist it themselves
/// (through [`SenderKeyRecord::serialize`]).
#[derive(Debug, Default, Clone)]
pub struct InMemSenderKeyStore {
    records: HashMap<(ProtocolAddress, DistributionId), SenderKeyRecord>,
}

impl InMemSenderKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SenderKeyStore for InMemSenderKeyStore {
    fn store_sender_key(
        &mut self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreFailure> {
        self.records
            .insert((sender.clone(), distribution_id), record.clone());
        Ok(())
    }

    fn load_sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Result<Option<SenderKeyRecord>, StoreFailure> {
        Ok(self
            .records
            .get(&(sender.clone(), distribution_id))
            .cloned())
    }
}

pub(crate) fn load<S: SenderKeyStore + ?Sized>(
    store: &S,
    sender: &ProtocolAddress,
    distribution_id: DistributionId,
) -> Result<Option<SenderKeyRecord>, SenderKeyError> {
    store
        .load_sender_key(sender, distribution_id)
        .map_err(SenderKeyError::Store)
}

pub(crate) fn save<S: SenderKeyStore + ?Sized>(
    store: &mut S,
    sender: &ProtocolAddress,
    distribution_id: DistributionId,
    record: &SenderKeyRecord,
) -> Result<(), SenderKeyError> {
    store
        .store_sender_key(sender, distribution_id, record)
        .map_err(SenderKeyError::Store)
}
