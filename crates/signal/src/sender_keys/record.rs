//! Sender Key records: the states of one sender in one group, serialized as libsignal's
//! `SenderKeyRecordStructure` protobuf so a client can persist them (and load libsignal's).
//!
//! ```text
//! SenderKeyRecordStructure { repeated SenderKeyStateStructure sender_key_states = 1; }
//! SenderKeyStateStructure  { chain_id = 1; SenderChainKey sender_chain_key = 2;
//!                            SenderSigningKey sender_signing_key = 3;
//!                            repeated SenderMessageKey sender_message_keys = 4;
//!                            message_version = 5; }
//! SenderChainKey / SenderMessageKey { iteration = 1; seed = 2; }
//! SenderSigningKey { public = 1; private = 2; }
//! ```

use std::collections::VecDeque;

use prost::Message as _;
use zeroize::{Zeroize, Zeroizing};

use super::SenderKeyError;
use super::chain::{SenderChainKey, SenderMessageKey};
use crate::keys::{PrivateKey, PublicKey};

#[derive(Clone, PartialEq, prost::Message)]
struct RecordProto {
    #[prost(message, repeated, tag = "1")]
    states: Vec<StateProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StateProto {
    #[prost(uint32, tag = "1")]
    chain_id: u32,
    #[prost(message, optional, tag = "2")]
    chain_key: Option<KeyProto>,
    #[prost(message, optional, tag = "3")]
    signing_key: Option<SigningKeyProto>,
    #[prost(message, repeated, tag = "4")]
    message_keys: Vec<KeyProto>,
    #[prost(uint32, tag = "5")]
    message_version: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct KeyProto {
    #[prost(uint32, tag = "1")]
    iteration: u32,
    #[prost(bytes = "vec", tag = "2")]
    seed: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SigningKeyProto {
    #[prost(bytes = "vec", tag = "1")]
    public: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    private: Vec<u8>,
}

/// One sender chain: its id, position, signing key and the keys of skipped messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderKeyState {
    message_version: u8,
    chain_id: u32,
    chain_key: SenderChainKey,
    signing_public: PublicKey,
    signing_private: Option<PrivateKey>,
    message_keys: VecDeque<SenderMessageKey>,
}

impl SenderKeyState {
    /// A state at `chain_key`; `signing_private` is present only on the sender's own state.
    pub fn new(
        message_version: u8,
        chain_id: u32,
        chain_key: SenderChainKey,
        signing_public: PublicKey,
        signing_private: Option<PrivateKey>,
    ) -> Self {
        Self {
            message_version,
            chain_id,
            chain_key,
            signing_public,
            signing_private,
            message_keys: VecDeque::new(),
        }
    }

    /// The message version of this chain (3).
    pub fn message_version(&self) -> u8 {
        self.message_version
    }
    /// The chain id.
    pub fn chain_id(&self) -> u32 {
        self.chain_id
    }
    /// The current chain key: the next iteration to send or receive.
    pub fn chain_key(&self) -> &SenderChainKey {
        &self.chain_key
    }
    /// The sender's public signing key.
    pub fn signing_public(&self) -> &PublicKey {
        &self.signing_public
    }
    /// The sender's private signing key, if this is our own chain.
    pub fn signing_private(&self) -> Option<&PrivateKey> {
        self.signing_private.as_ref()
    }
    /// How many skipped-message keys are kept.
    pub fn skipped_keys(&self) -> usize {
        self.message_keys.len()
    }

    pub(crate) fn set_chain_key(&mut self, chain_key: SenderChainKey) {
        self.chain_key = chain_key;
    }

    /// Keeps a skipped message's key, dropping the oldest beyond `max_keys`.
    pub(crate) fn add_message_key(&mut self, key: SenderMessageKey, max_keys: usize) {
        self.message_keys.push_back(key);
        while self.message_keys.len() > max_keys {
            self.message_keys.pop_front();
        }
    }

    /// Takes the kept key of `iteration`, if any (each key is used once).
    pub(crate) fn take_message_key(&mut self, iteration: u32) -> Option<SenderMessageKey> {
        let at = self
            .message_keys
            .iter()
            .position(|k| k.iteration() == iteration)?;
        self.message_keys.remove(at)
    }

    fn to_proto(&self) -> StateProto {
        StateProto {
            chain_id: self.chain_id,
            chain_key: Some(KeyProto {
                iteration: self.chain_key.iteration(),
                seed: self.chain_key.seed().to_vec(),
            }),
            signing_key: Some(SigningKeyProto {
                public: self.signing_public.serialize().to_vec(),
                private: self
                    .signing_private
                    .as_ref()
                    .map(|k| k.serialize().to_vec())
                    .unwrap_or_default(),
            }),
            message_keys: self
                .message_keys
                .iter()
                .map(|k| KeyProto {
                    iteration: k.iteration(),
                    seed: k.seed().to_vec(),
                })
                .collect(),
            message_version: u32::from(self.message_version),
        }
    }

    fn from_proto(proto: &StateProto) -> Result<Self, SenderKeyError> {
        let bad = |reason| SenderKeyError::Malformed {
            what: "SenderKeyRecord",
            reason,
        };
        let seed = |key: &KeyProto| -> Result<[u8; 32], SenderKeyError> {
            key.seed
                .as_slice()
                .try_into()
                .map_err(|_| bad("seed is not 32 bytes"))
        };
        let chain = proto
            .chain_key
            .as_ref()
            .ok_or(bad("state without chain key"))?;
        let signing = proto
            .signing_key
            .as_ref()
            .ok_or(bad("state without signing key"))?;
        let signing_public =
            PublicKey::deserialize(&signing.public).map_err(SenderKeyError::InvalidSigningKey)?;
        let signing_private = if signing.private.is_empty() {
            None
        } else {
            Some(
                PrivateKey::deserialize(&signing.private)
                    .map_err(SenderKeyError::InvalidSigningKey)?,
            )
        };
        // libsignal wrote no version in its oldest records; those are version 3.
        let message_version = match proto.message_version {
            0 => super::message::SENDER_KEY_MESSAGE_VERSION,
            v => u8::try_from(v).map_err(|_| bad("message version out of range"))?,
        };
        Ok(Self {
            message_version,
            chain_id: proto.chain_id,
            chain_key: SenderChainKey::new(chain.iteration, seed(chain)?),
            signing_public,
            signing_private,
            message_keys: proto
                .message_keys
                .iter()
                .map(|k| Ok(SenderMessageKey::new(k.iteration, seed(k)?)))
                .collect::<Result<_, SenderKeyError>>()?,
        })
    }
}

fn zeroize_proto(proto: &mut RecordProto) {
    for state in &mut proto.states {
        if let Some(key) = state.chain_key.as_mut() {
            key.seed.zeroize();
        }
        if let Some(key) = state.signing_key.as_mut() {
            key.private.zeroize();
        }
        for key in &mut state.message_keys {
            key.seed.zeroize();
        }
    }
}

/// All the chains we know for one sender in one group, newest first (at most
/// [`SenderKeyLimits::max_states`](super::SenderKeyLimits::max_states)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SenderKeyRecord {
    states: VecDeque<SenderKeyState>,
}

impl SenderKeyRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// The states, newest first.
    pub fn states(&self) -> impl Iterator<Item = &SenderKeyState> {
        self.states.iter()
    }

    /// The newest state (the one we send with, for our own record).
    pub fn current_state(&self) -> Option<&SenderKeyState> {
        self.states.front()
    }

    pub(crate) fn current_state_mut(&mut self) -> Option<&mut SenderKeyState> {
        self.states.front_mut()
    }

    pub(crate) fn state_for_chain_mut(&mut self, chain_id: u32) -> Option<&mut SenderKeyState> {
        self.states.iter_mut().find(|s| s.chain_id == chain_id)
    }

    /// Adds a state as the newest. A state with the same chain id and signing key is kept
    /// (with its progress) and moved to the front; one with the same chain id but another
    /// signing key is replaced; the oldest states go beyond `max_states`.
    pub fn add_state(&mut self, state: SenderKeyState, max_states: usize) {
        let existing = self
            .states
            .iter()
            .position(|s| s.chain_id == state.chain_id && s.signing_public == state.signing_public)
            .and_then(|at| self.states.remove(at));
        self.states.retain(|s| s.chain_id != state.chain_id);
        self.states.push_front(existing.unwrap_or(state));
        self.states.truncate(max_states.max(1));
    }

    /// libsignal's `SenderKeyRecordStructure` protobuf (secret: it holds the chain keys).
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        let mut proto = RecordProto {
            states: self.states.iter().map(SenderKeyState::to_proto).collect(),
        };
        let out = Zeroizing::new(proto.encode_to_vec());
        zeroize_proto(&mut proto);
        out
    }

    /// Parses libsignal's `SenderKeyRecordStructure` protobuf.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, SenderKeyError> {
        let mut proto = RecordProto::decode(bytes).map_err(|_| SenderKeyError::Malformed {
            what: "SenderKeyRecord",
            reason: "invalid protobuf",
        })?;
        let states: Result<VecDeque<_>, _> = proto
            .states
            .iter()
            .map(SenderKeyState::from_proto)
            .collect();
        zeroize_proto(&mut proto);
        Ok(Self { states: states? })
    }
}
