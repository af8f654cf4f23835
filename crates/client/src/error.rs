//! The errors the SDK reports, one variant per thing that went wrong, each telling the user
//! what to do about it.

use portico_stanza::negotiation::ClientFailure;

/// What went wrong in the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The hub could not be reached.
    #[error("cannot reach the hub at {addr}: {source}; check the address and that the hub runs")]
    Unreachable {
        /// The address tried.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The hub's certificate is not the pinned one.
    #[error(
        "the hub's certificate does not match the pinned SHA-256 fingerprint (got {actual}); \
         someone may be intercepting the connection, or the hub's certificate changed: \
         check the fingerprint with the hub's operator"
    )]
    PinMismatch {
        /// The fingerprint the hub presented, hex.
        actual: String,
    },
    /// The pinned fingerprint in the configuration is not 64 hex digits.
    #[error("the certificate pin must be 64 hex digits (SHA-256 of the hub's certificate)")]
    BadPin,
    /// The CA bundle could not be read.
    #[error("cannot read the CA bundle {path}: {reason}")]
    CaBundle {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The TLS handshake failed for another reason.
    #[error("TLS with the hub failed: {0}")]
    Tls(std::io::Error),
    /// The hub refused the user name or password.
    #[error("the hub refused the user name or password ({0}); check them")]
    WrongPassword(String),
    /// The device id this client registered is unknown to the hub (removed, or another hub).
    #[error(
        "the hub does not know device {device} of this account (it was removed, or this \
         database belongs to another hub): start with a new database to register a new device"
    )]
    UnknownDevice {
        /// The device id the client tried to bind.
        device: u32,
    },
    /// The hub refused to register one more device.
    #[error("the hub refused to register a new device: {0}")]
    DeviceRefused(String),
    /// Stream negotiation failed.
    #[error("logging in to the hub failed: {0}")]
    Negotiation(Box<ClientFailure>),
    /// The connection to the hub was lost.
    #[error("the connection to the hub was lost: {0}; the client reconnects")]
    ConnectionLost(String),
    /// The hub did not answer in time.
    #[error("the hub did not answer {what} within {secs} s")]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// The limit.
        secs: u64,
    },
    /// The hub answered something the client cannot use.
    #[error("the hub sent an unexpected answer to {what}: {detail}")]
    Protocol {
        /// The request.
        what: &'static str,
        /// What came back.
        detail: String,
    },
    /// The local database failed.
    #[error("the local database failed: {0}; check the disk and the file's permissions")]
    Database(#[from] rusqlite::Error),
    /// The local database holds something this version cannot read.
    #[error("the local database is corrupt or from another version: {0}")]
    CorruptDatabase(String),
    /// The Signal Protocol refused an operation.
    #[error("encryption failed: {0}")]
    Signal(#[from] portico_signal::SignalError),
    /// The content could not be encoded.
    #[error("the message cannot be sent: {0}")]
    Content(#[from] portico_content::ContentError),
    /// An address is not a valid JID.
    #[error("{0:?} is not a valid address (user@domain)")]
    BadAddress(String),
    /// The hub keeps refusing the device set of a message.
    #[error("the hub refused the device set of message {id} {tries} times; try again later")]
    DeviceSetUnsettled {
        /// The message id.
        id: String,
        /// How many times it was tried.
        tries: u32,
    },
    /// The hub refused a message.
    #[error("the hub refused message {id}: {reason}")]
    Refused {
        /// The message id.
        id: String,
        /// The hub's text.
        reason: String,
    },
    /// The hub's policy refused to hand out a contact's keys: the same refusal a message to
    /// them gets (the contact does not accept chats from your network, or you have not
    /// enabled chats with theirs, or you blocked them). `reason` is the hub's explanation.
    #[error("{reason}")]
    PolicyRefused {
        /// The hub's condition and text, as [`crate::Event::SendFailed`] reports a refused message.
        reason: String,
        /// The refusal, for apps that show it their own way.
        refusal: portico_stanza::stanza::policy::Refusal,
    },
    /// The client's background task has stopped.
    #[error("the client has stopped; open it again")]
    Stopped,
}

/// Shorthand for results in this crate.
pub type Result<T> = std::result::Result<T, ClientError>;
