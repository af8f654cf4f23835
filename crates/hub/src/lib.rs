//! The hub: the gatekeeper's server to which first-party and third-party clients connect.
//!
//! [`config`] reads the settings, [`tls`] provides the certificate, [`store`] keeps accounts,
//! devices, keys and per-device queues, [`http`] serves `/healthz` and `/metrics`.

pub mod config;
pub mod store;
pub mod tls;
