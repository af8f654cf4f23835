//! Protocol addresses: who a session is with (a name plus a device id).

use core::fmt;

/// A remote party's address: an account name and one of its device ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolAddress {
    name: String,
    device_id: u32,
}

impl ProtocolAddress {
    /// An address for `name`'s device `device_id`.
    pub fn new(name: impl Into<String>, device_id: u32) -> Self {
        Self {
            name: name.into(),
            device_id,
        }
    }

    /// The account name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device id.
    pub fn device_id(&self) -> u32 {
        self.device_id
    }
}

impl fmt::Display for ProtocolAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.name, self.device_id)
    }
}
