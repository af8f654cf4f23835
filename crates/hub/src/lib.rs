//! The hub: the gatekeeper's server to which first-party and third-party clients connect.
//!
//! [`config`] reads the settings, [`tls`] provides the certificate, [`store`] keeps accounts,
//! devices, keys and per-device queues, [`http`] serves `/healthz` and `/metrics`,
//! [`metrics`] counts, [`server`] starts the listeners and runs until shutdown.

pub mod accounts;
pub mod c2s;
pub mod config;
pub mod http;
pub mod interop;
pub mod media;
pub mod metrics;
pub mod policy;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod tls;
