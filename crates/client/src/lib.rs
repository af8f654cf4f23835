//! The Portico client SDK: connect to a hub over TLS (certificate pinning for a self-signed
//! hub), register a device, publish Signal keys and refill them, encrypt one ciphertext per
//! device, send with automatic retry on a device-set mismatch, receive, decrypt,
//! de-duplicate, ack, reconnect with backoff, receipts, and recovery from broken sessions —
//! with every secret and session in a local SQLite database so a restart loses nothing.
//!
//! Start with [`Client::open`], then [`Client::send_text`] and [`Client::next_event`]:
//!
//! ```no_run
//! # async fn demo() -> portico_client::Result<()> {
//! use portico_client::{Client, Config, Event, Trust};
//!
//! let pin = portico_client::fingerprint_of_pem("hub-data/tls-cert.pem".as_ref())?;
//! let config = Config::new("127.0.0.1:5223", "localhost", "alice", "secret", Trust::Pin(pin));
//! let mut alice = Client::open(config, "alice.db".as_ref()).await?;
//! let id = alice.send_text(&"bob@localhost".parse().expect("JID"), "hi").await?;
//! while let Some(event) = alice.next_event().await {
//!     if let Event::Delivered { id: delivered, .. } = event {
//!         if delivered == id {
//!             break;
//!         }
//!     }
//! }
//! alice.close().await;
//! # Ok(()) }
//! ```
//!
//! Layers, bottom up: [`conn`] (TLS, login, XEP-0198, pings), [`store`] (SQLite and the
//! Signal store traits over it), `keys` and `envelope` (what is published and what is
//! encrypted), and the engine task behind [`Client`].
//!
//! What this client puts inside encryption beyond `portico_content` (field 100: the
//! conversation of a copy for the sender's own devices, and resend requests) is described in
//! `envelope`.

mod client;
pub mod conn;
mod engine;
mod envelope;
pub mod error;
pub mod https;
mod keys;
pub mod media;
pub mod policy;
mod settings;
pub mod store;
pub mod thirdparty;
pub mod tls;

pub use client::{Client, Config, Event};
pub use conn::{ConnectOptions, Connection, Incoming, Transport};
pub use error::{ClientError, Result};
pub use media::{Downloaded, FileOptions, MediaError};
/// The attachment format (re-exported for applications that handle attachments themselves).
pub use portico_media;
pub use store::{Direction, LoggedMessage, Status};
pub use tls::{Trust, fingerprint, fingerprint_of_pem};
