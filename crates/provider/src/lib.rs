//! The reference third-party provider server (`portico provider serve`): its own user accounts
//! and logins, identity assertions for its logged-in users, the `/auth` and `/push` endpoints
//! the hub calls (signed requests, verified with the hub's key), a push log and forwarding of
//! each push to a webhook.
//!
//! Wire formats come from `portico-interop`; `docs/third-party.md` is the developer guide.
//! Layout: [`config`] (settings), [`store`] (SQLite: users, sessions, pushes), [`tls`] (keys and
//! self-signed certificate in the data dir), [`routes`] (the HTTP API), [`problem`] (RFC 9457
//! errors), [`webhook`] (push forwarding), [`server`] (start and stop).

pub mod config;
pub mod media;
pub mod problem;
pub mod routes;
pub mod server;
pub mod store;
pub mod tls;
pub mod webhook;

pub use config::ProviderConfig;
pub use server::{Ready, ServeError, run};
