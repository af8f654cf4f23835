//! The interoperability wire contract shared by the Portico hub, third-party providers and
//! their clients (the SDK's third-party mode), version 1.
//!
//! Sans-IO: nothing here opens a socket, reads a clock or draws randomness of its own. Time comes
//! in as unix seconds, randomness as a `rand_core` RNG argument.
//!
//! - [`assertion`]: the provider-signed identity assertion (`pia1.` tokens) that proves a
//!   third-party user owns a visible id and binds it to one device identity key.
//! - [`http_sig`]: signed, replay-protected HTTP requests between hub and provider, both ways.
//! - [`api`]: the JSON bodies of every endpoint and the RFC 9457 [`api::Problem`].
//! - [`login`]: the `pit1:` SASL PLAIN password a third-party device logs in to the hub with.
//! - [`keys`]: Ed25519 keys as they travel (URL-safe base64) and identifier syntax.
//!
//! The developer guide `docs/third-party.md` describes the same format in prose.

pub mod api;
pub mod assertion;
pub mod http_sig;
pub mod keys;
pub mod login;

pub use ed25519_dalek::{SigningKey, VerifyingKey};
