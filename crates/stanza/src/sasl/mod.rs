//! SASL mechanisms for XMPP authentication, sans-IO: SCRAM-SHA-256 (RFC 5802, RFC 7677) and
//! PLAIN (RFC 4616), both roles.
//!
//! Hashing, HMAC and PBKDF2 come from RustCrypto (`sha2`, `hmac`, `pbkdf2`); proofs are
//! compared in constant time (`subtle`); keys and passwords are wiped on drop (`zeroize`).
//! Randomness (nonces) comes from the caller's RNG. Passwords are used as given (UTF-8
//! bytes): SASLprep normalisation is not applied, so clients must send the same bytes the
//! account was created with.
//!
//! The server looks nothing up itself: it hands the caller the username and takes the
//! stored [`ScramCredentials`] back.
//!
//! ```
//! use portico_stanza::sasl::{ScramClient, ScramCredentials, ScramServerStart};
//! let creds = ScramCredentials::derive(b"pencil", b"salt-from-the-db", 4096);
//! let (client, first) = ScramClient::with_nonce("user", b"pencil", "clientnonce");
//! let start = ScramServerStart::parse(&first).expect("client-first");
//! assert_eq!(start.username(), "user");
//! let (server, server_first) = start.respond_with_nonce(creds, "servernonce").expect("nonce");
//! let (client, client_final) = client.handle_server_first(&server_first).expect("server-first");
//! let server_final = server.finish(&client_final).expect("right password");
//! client.verify(&server_final).expect("server knows the password");
//! ```

mod plain;
mod scram;

pub use plain::{PlainCredentials, parse_plain, plain_message};
pub use scram::{
    MAX_ITERATIONS, MIN_ITERATIONS, ScramClient, ScramClientFinal, ScramCredentials,
    ScramServerFinal, ScramServerStart,
};

use crate::stanza::SaslCondition;

/// The mechanisms this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// SCRAM-SHA-256 (RFC 7677), without channel binding.
    ScramSha256,
    /// PLAIN (RFC 4616): only over TLS.
    Plain,
}

impl Mechanism {
    /// The IANA mechanism name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::Plain => "PLAIN",
        }
    }

    /// Parses an IANA mechanism name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            "PLAIN" => Some(Mechanism::Plain),
            _ => None,
        }
    }
}

/// Why a SASL exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// A message does not follow the mechanism's syntax.
    #[error("SASL message is malformed: {what}")]
    Malformed {
        /// Which rule was broken.
        what: &'static str,
    },
    /// The client insists on channel binding (`p=`), which is not offered.
    #[error(
        "the client requires channel binding (SCRAM-SHA-256-PLUS), which is not offered; use SCRAM-SHA-256"
    )]
    ChannelBindingUnsupported,
    /// The nonce in a later message does not continue the exchange's nonce.
    #[error("SCRAM nonce mismatch: the message does not belong to this exchange")]
    NonceMismatch,
    /// The channel-binding data in client-final differs from the GS2 header sent first.
    #[error("SCRAM channel binding data does not match the first message")]
    ChannelBindingMismatch,
    /// The client's proof is wrong: wrong username or password.
    #[error("authentication failed: wrong username or password")]
    InvalidProof,
    /// The server's signature is wrong: it does not know the password.
    #[error(
        "the server's SCRAM signature is wrong: it does not hold this account's credentials (possible impersonation)"
    )]
    InvalidServerSignature,
    /// The server ended SCRAM with `e=…`.
    #[error("the server refused the SCRAM exchange: {0}")]
    ServerRefused(String),
    /// The server asked for an iteration count outside the accepted range.
    #[error(
        "SCRAM iteration count {iterations} is outside the accepted range {MIN_ITERATIONS}..={MAX_ITERATIONS}"
    )]
    IterationsOutOfRange {
        /// The count asked for.
        iterations: u32,
    },
}

impl SaslError {
    /// The RFC 6120 SASL failure condition to report to the peer.
    pub fn condition(&self) -> SaslCondition {
        match self {
            SaslError::Malformed { .. }
            | SaslError::NonceMismatch
            | SaslError::ChannelBindingMismatch => SaslCondition::MalformedRequest,
            SaslError::ChannelBindingUnsupported => SaslCondition::InvalidMechanism,
            _ => SaslCondition::NotAuthorized,
        }
    }
}
