//! The hub: the gatekeeper's server to which first-party and third-party clients connect.
