//! The Signal Protocol, sans-IO: identity keys, XEdDSA, PQXDH, the Double Ratchet,
//! Sender Keys and safety numbers, wire-compatible with Signal's libsignal.
//!
//! Architecture invariant: this crate does no I/O and knows nothing of XMPP; state
//! lives behind the store traits the caller implements.

pub mod fingerprint;
pub mod sender_keys;
