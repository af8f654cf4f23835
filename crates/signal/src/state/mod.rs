//! Persistent session state: one Double Ratchet state per session ([`SessionState`]) and the
//! record that holds the current state plus archived ones ([`SessionRecord`]).

mod record;
mod session;

pub use record::SessionRecord;
pub use session::SessionState;
pub(crate) use session::{PendingPreKey, SenderChain};
