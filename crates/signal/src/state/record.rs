//! The session record: the current session with a peer device plus up to
//! [`ARCHIVED_STATES_MAX_LENGTH`](crate::consts::ARCHIVED_STATES_MAX_LENGTH) archived ones,
//! serialized as libsignal's `RecordStructure`.

use std::collections::VecDeque;

use prost::Message as _;
use zeroize::Zeroizing;

use crate::consts::ARCHIVED_STATES_MAX_LENGTH;
use crate::error::{Result, malformed};
use crate::keys::PublicKey;
use crate::proto;
use crate::state::SessionState;

/// Every session state with one peer device: the current one and archived ones (newest first).
#[derive(Clone, Debug, Default)]
pub struct SessionRecord {
    pub(crate) current: Option<SessionState>,
    pub(crate) previous: VecDeque<SessionState>,
}

impl SessionRecord {
    /// A record with no session.
    pub fn new_fresh() -> Self {
        Self::default()
    }

    /// A record holding `state` as its current session.
    pub fn new(state: SessionState) -> Self {
        Self {
            current: Some(state),
            previous: VecDeque::new(),
        }
    }

    /// The current session state, if any.
    pub fn session_state(&self) -> Option<&SessionState> {
        self.current.as_ref()
    }

    /// Archived states, newest first.
    pub fn previous_session_states(&self) -> impl Iterator<Item = &SessionState> {
        self.previous.iter()
    }

    /// True when a current session exists (it may still be unacknowledged).
    pub fn has_current_session(&self) -> bool {
        self.current.is_some()
    }

    /// True when any state (current or archived) has this version and initiator base key.
    pub fn has_session_state(&self, version: u8, alice_base_key: &PublicKey) -> bool {
        self.current
            .iter()
            .chain(self.previous.iter())
            .any(|s| s.version == version && s.alice_base_key == *alice_base_key)
    }

    /// Moves the current state (if any) to the archive.
    pub fn archive_current_state(&mut self) {
        if let Some(state) = self.current.take() {
            self.previous.push_front(state);
            self.previous.truncate(ARCHIVED_STATES_MAX_LENGTH);
        }
    }

    /// Makes `state` current, archiving the old current state.
    pub(crate) fn promote_state(&mut self, state: SessionState) {
        self.archive_current_state();
        self.current = Some(state);
    }

    /// Replaces the archived state at `index` by making `state` current.
    pub(crate) fn promote_previous(&mut self, index: usize, state: SessionState) {
        self.previous.remove(index);
        self.promote_state(state);
    }

    /// libsignal's `RecordStructure`.
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        let record = proto::RecordStructure {
            current_session: self.current.as_ref().map(SessionState::to_proto),
            previous_sessions: self
                .previous
                .iter()
                .map(|s| s.to_proto().encode_to_vec())
                .collect(),
        };
        Zeroizing::new(record.encode_to_vec())
    }

    /// Parses libsignal's `RecordStructure`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let record = proto::RecordStructure::decode(bytes)
            .map_err(|_| malformed("SessionRecord", "invalid protobuf"))?;
        let current = record
            .current_session
            .map(SessionState::from_proto)
            .transpose()?;
        let mut previous = VecDeque::with_capacity(record.previous_sessions.len());
        for bytes in record.previous_sessions {
            let bytes = Zeroizing::new(bytes);
            let s = proto::SessionStructure::decode(bytes.as_slice())
                .map_err(|_| malformed("SessionRecord", "invalid archived session"))?;
            previous.push_back(SessionState::from_proto(s)?);
        }
        Ok(Self { current, previous })
    }
}
