//! XEP-0198 stream management: `<r/>`/`<a/>` counting and stream resumption.
//!
//! Portico's delivery guarantee does not depend on XEP-0198: every e2ee message stays in the
//! device's durable queue until the device's `<received/>`, and a resumed (or new) session gets
//! the queue again from the start. Resumption keeps the bound device and the inbound stanza
//! count for [`RESUME_SECS`] after a connection drops, so a client on a flaky network skips
//! authentication-to-bind round trips and learns how many of its stanzas the hub handled.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use portico_stanza::stanza::Sm;

use super::session::LoopState;
use crate::store::DeviceId;

/// Seconds a dropped session stays resumable.
pub const RESUME_SECS: u32 = 300;

struct Parked {
    account: String,
    device: DeviceId,
    handled: u32,
    expires: Instant,
}

/// Sessions that dropped and may be resumed, by stream-management id.
#[derive(Default)]
pub struct Resumable {
    parked: Mutex<HashMap<String, Parked>>,
}

impl Resumable {
    /// Keeps a dropped session resumable.
    pub fn park(&self, id: String, account: &str, device: DeviceId, handled: u32) {
        if let Ok(mut p) = self.parked.lock() {
            let now = Instant::now();
            p.retain(|_, v| v.expires > now);
            p.insert(
                id,
                Parked {
                    account: account.to_owned(),
                    device,
                    handled,
                    expires: now + Duration::from_secs(RESUME_SECS.into()),
                },
            );
        }
    }

    /// Takes a parked session of `account`: its device and inbound count.
    pub fn take(&self, id: &str, account: &str) -> Option<(DeviceId, u32)> {
        let mut p = self.parked.lock().ok()?;
        let entry = p.remove(id)?;
        if entry.account != account || entry.expires < Instant::now() {
            return None;
        }
        Some((entry.device, entry.handled))
    }
}

fn new_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Answers `<enable/>` and `<r/>`; other stream-management nonzas need no answer.
pub fn handle_sm(state: &mut LoopState, sm: Sm) -> Option<Sm> {
    match sm {
        Sm::Enable { resume, .. } => {
            state.sm_handled = Some(0);
            let id = resume.then(new_id);
            state.sm_id = id.clone();
            Some(Sm::Enabled {
                id: id.map(Into::into),
                resume,
                max: resume.then_some(RESUME_SECS),
                location: None,
            })
        }
        Sm::Request => Some(Sm::Answer {
            h: state.sm_handled.unwrap_or(0),
        }),
        _ => None,
    }
}
