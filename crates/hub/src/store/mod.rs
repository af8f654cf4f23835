//! Storage: the one interface through which the hub keeps accounts, devices, the key
//! directory, signed device lists and the per-device message queues.
//!
//! Callers hold an `Arc<dyn Store>` and never see SQL; [`sqlite`] is the embedded backend
//! (a PostgreSQL backend implements the same trait). Every method returns a boxed future, so
//! a backend may be natively async or run blocking work on its own threads. A write's future
//! resolves only once the write is durable: callers may acknowledge it to a client then.

use std::future::Future;
use std::pin::Pin;

pub mod interop;
pub mod policy;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod suite;

/// The future every store method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A device id: a small integer the hub assigns when a device registers.
pub type DeviceId = u32;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An account with that name exists already.
    #[error("account {0:?} exists already")]
    AccountExists(String),
    /// No account has that name.
    #[error("no account is named {0:?}")]
    UnknownAccount(String),
    /// No device with that id is registered for the account.
    #[error("device {device} is not registered for {account:?}")]
    UnknownDevice {
        /// The account.
        account: String,
        /// The device id asked for.
        device: DeviceId,
    },
    /// The account has as many devices as the configuration allows.
    #[error(
        "the account has {max} devices already, the most `max_devices` allows; remove one first"
    )]
    DeviceCapReached {
        /// The configured cap.
        max: u32,
    },
    /// The database could not be opened or created.
    #[error("cannot open the database at {path}: {message}")]
    Open {
        /// Database file.
        path: String,
        /// What SQLite said.
        message: String,
    },
    /// A database operation failed (disk full, I/O error, corruption).
    #[error("database error: {0}")]
    Database(String),
    /// The store's writer has stopped (the hub is shutting down or the writer failed).
    #[error("the store is closed")]
    Closed,
    /// A provider-registry operation was refused.
    #[error(transparent)]
    Interop(#[from] interop::InteropStoreError),
}

/// SCRAM-SHA-256 verifier data kept for an account (never the password itself).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// The random salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iteration count.
    pub iterations: u32,
    /// `H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// One row of `portico admin user list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    /// Local part of the JID.
    pub name: String,
    /// Registered devices.
    pub devices: u32,
    /// Messages waiting in the account's device queues.
    pub queued: u64,
}

/// A public key with its id (a one-time EC prekey).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKey {
    /// Key id chosen by the device.
    pub id: u32,
    /// Public key bytes.
    pub public: Vec<u8>,
}

/// A public key with its id and the identity key's signature over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedKey {
    /// Key id chosen by the device.
    pub id: u32,
    /// Public key bytes.
    pub public: Vec<u8>,
    /// Signature by the device's identity key.
    pub signature: Vec<u8>,
}

/// What a device publishes to the key directory; absent parts stay as they were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyUpload {
    /// The device's Signal registration id.
    pub registration_id: Option<u32>,
    /// The device's identity public key; a new one discards the device's one-time keys.
    pub identity_key: Option<Vec<u8>>,
    /// The current signed prekey.
    pub signed_prekey: Option<SignedKey>,
    /// The last-resort Kyber prekey, handed out when no one-time Kyber key is left.
    pub last_resort_kyber: Option<SignedKey>,
    /// One-time EC prekeys to add.
    pub one_time_ec: Vec<PreKey>,
    /// One-time Kyber prekeys to add.
    pub one_time_kyber: Vec<SignedKey>,
}

/// How many one-time prekeys a device has left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrekeyCount {
    /// One-time EC prekeys.
    pub ec: u32,
    /// One-time Kyber prekeys.
    pub kyber: u32,
}

/// One device's prekey bundle, as fetched by a peer starting a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The device.
    pub device: DeviceId,
    /// The device's Signal registration id (0 if never published).
    pub registration_id: u32,
    /// Identity public key.
    pub identity_key: Vec<u8>,
    /// Signed prekey.
    pub signed_prekey: SignedKey,
    /// A one-time EC prekey (consumed by this fetch), if any was left.
    pub one_time_ec: Option<PreKey>,
    /// A one-time Kyber prekey (consumed), or the last-resort one when none was left.
    pub kyber: SignedKey,
    /// Whether `kyber` is the last-resort key.
    pub kyber_is_last_resort: bool,
}

/// One ciphertext to queue for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Recipient account.
    pub account: String,
    /// Recipient device.
    pub device: DeviceId,
    /// Sender's full JID.
    pub sender: String,
    /// The sender's own message id.
    pub msg_id: String,
    /// Opaque payload (the device's ciphertext element); the store never looks inside.
    pub payload: Vec<u8>,
}

/// Queue settings that apply to one enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most messages a device queue may hold.
    pub max_per_device: u32,
    /// Lifetime of a queued message in milliseconds.
    pub ttl_ms: u64,
    /// Current time, milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// Result of an enqueue: the hub stanza-id assigned to the whole message, and the devices
/// whose queue was full (they did not get the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// Hub-assigned stanza-id, increasing in commit order.
    pub stanza_id: u64,
    /// Timestamp recorded, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// `(account, device)` pairs skipped because their queue was full.
    pub overflowed: Vec<(String, DeviceId)>,
}

/// A message waiting in a device queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Hub stanza-id.
    pub stanza_id: u64,
    /// Sender's full JID.
    pub sender: String,
    /// Sender's message id.
    pub msg_id: String,
    /// When the hub accepted it, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The payload as enqueued.
    pub payload: Vec<u8>,
}

/// The storage interface. See the module documentation for the durability contract.
pub trait Store: policy::PolicyStore + interop::InteropStore + Send + Sync + 'static {
    /// Creates an account; fails with [`StoreError::AccountExists`].
    fn create_account<'a>(&'a self, name: &'a str, creds: StoredCredentials)
    -> StoreFuture<'a, ()>;
    /// The account's SCRAM credentials, if it exists.
    fn credentials<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<StoredCredentials>>;
    /// Replaces the account's credentials; fails with [`StoreError::UnknownAccount`].
    fn set_credentials<'a>(
        &'a self,
        name: &'a str,
        creds: StoredCredentials,
    ) -> StoreFuture<'a, ()>;
    /// Removes the account with its devices, keys and queues.
    fn remove_account<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()>;
    /// Every account, by name.
    fn list_accounts(&self) -> StoreFuture<'_, Vec<AccountSummary>>;

    /// The account's registered devices, ascending.
    fn devices<'a>(&'a self, account: &'a str) -> StoreFuture<'a, Vec<DeviceId>>;
    /// Registers a new device under the cap and returns its id.
    fn register_device<'a>(&'a self, account: &'a str, max: u32) -> StoreFuture<'a, DeviceId>;
    /// Removes a device with its keys and queue; false if it did not exist.
    fn remove_device<'a>(&'a self, account: &'a str, device: DeviceId) -> StoreFuture<'a, bool>;

    /// Publishes keys for a registered device and returns the new one-time stock.
    fn publish_keys<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
        upload: KeyUpload,
    ) -> StoreFuture<'a, PrekeyCount>;
    /// Fetches the device's bundle, consuming one one-time key of each kind; `None` if the
    /// device has published no identity key, signed prekey and Kyber key yet.
    fn fetch_bundle<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
    ) -> StoreFuture<'a, Option<Bundle>>;
    /// The device's published identity key, if any.
    fn identity_key<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
    ) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// One-time prekeys the device has left.
    fn prekey_count<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
    ) -> StoreFuture<'a, PrekeyCount>;
    /// Stores the account's signed device list (opaque bytes signed by the client).
    fn set_device_list<'a>(&'a self, account: &'a str, signed: Vec<u8>) -> StoreFuture<'a, ()>;
    /// The account's signed device list, if one was published.
    fn device_list<'a>(&'a self, account: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;

    /// Durably queues one message (one ciphertext per device) in one transaction. The work
    /// is submitted when this is called (so calls keep their order) and the future does not
    /// borrow the store, so a session can keep several in flight.
    fn enqueue(
        &self,
        copies: Vec<NewMessage>,
        limits: QueueLimits,
    ) -> StoreFuture<'static, Enqueued>;
    /// Like [`Store::enqueue`], and also returns at once the stanza-id the message will have,
    /// if the backend assigns it at submission. Then every write submitted after this call
    /// (the delete that follows the message's delivery) runs after this one, and a
    /// [`Store::pending_ordered`] read submitted after it sees the message: the caller may
    /// push the copies to online devices before the write is durable (and acknowledge the
    /// sender only when the future resolves). A crash in between can lose a message already
    /// delivered; its sender, never acknowledged, sends it again. `None`: the backend cannot
    /// (the default); the caller pushes after the durable write.
    fn enqueue_assigned(
        &self,
        copies: Vec<NewMessage>,
        limits: QueueLimits,
    ) -> (Option<u64>, StoreFuture<'static, Enqueued>) {
        (None, self.enqueue(copies, limits))
    }
    /// Up to `limit` queued messages of a device with stanza-id above `after`, oldest first,
    /// not counting expired ones.
    fn pending<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
        after: u64,
        limit: u32,
        now_ms: u64,
    ) -> StoreFuture<'a, Vec<QueuedMessage>>;
    /// Like [`Store::pending`], but ordered after every write submitted before the call (the
    /// messages of every [`Store::enqueue_assigned`] that returned included), answering once
    /// they are durable: a device that registered for pushes before this call misses nothing
    /// between its backlog and its pushes. The default is [`Store::pending`] (enough where
    /// `enqueue_assigned` returns `None`).
    fn pending_ordered<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
        limit: u32,
        now_ms: u64,
    ) -> StoreFuture<'a, Vec<QueuedMessage>> {
        self.pending(account, device, 0, limit, now_ms)
    }
    /// Deletes delivered messages; returns how many existed.
    fn delete_delivered<'a>(
        &'a self,
        account: &'a str,
        device: DeviceId,
        stanza_ids: Vec<u64>,
    ) -> StoreFuture<'a, usize>;
    /// Like [`Store::delete_delivered`], but with nothing to wait for: submitted before it
    /// returns (so ordered after every write already submitted), done in the background, a
    /// failure logged (the messages are then delivered again on the next connection). For
    /// the device acks of the routing hot path, which would otherwise each need a task.
    fn forget_delivered(&self, account: &str, device: DeviceId, stanza_ids: Vec<u64>);
    /// Deletes messages past their expiry; returns how many. A backend may keep an expired
    /// message queued after a live one (after the ttl was lowered) until that one expires
    /// too; reads never return expired messages either way.
    fn expire(&self, now_ms: u64) -> StoreFuture<'_, usize>;
    /// Messages waiting in all queues.
    fn queue_depth(&self) -> StoreFuture<'_, u64>;
}

/// Whether `name` is acceptable as an account name (the local part of a JID): 1 to 64
/// characters of lowercase ASCII letters, digits, `.`, `_` and `-`, starting with a letter or
/// digit.
pub fn valid_account_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}
