//! One Double Ratchet session state, convertible to and from libsignal's `SessionStructure`.

use std::collections::VecDeque;

use zeroize::Zeroize;

use crate::consts::MAX_RECEIVER_CHAINS;
use crate::error::{Result, malformed};
use crate::identity::IdentityKey;
use crate::keys::{KeyPair, PublicKey};
use crate::proto;
use crate::ratchet::{ChainKey, MessageKeys, RootKey};

/// The sending half of a ratchet: our current ratchet key pair and chain key.
#[derive(Clone)]
pub(crate) struct SenderChain {
    pub(crate) ratchet_key: KeyPair,
    pub(crate) chain_key: ChainKey,
}

/// One receiving chain: the peer's ratchet key, the chain key, and keys of skipped messages.
#[derive(Clone)]
pub(crate) struct ReceiverChain {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) chain_key: ChainKey,
    pub(crate) message_keys: VecDeque<MessageKeys>,
}

/// What the initiator repeats in every message until the responder answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingPreKey {
    pub(crate) pre_key_id: Option<u32>,
    pub(crate) signed_pre_key_id: u32,
    pub(crate) base_key: PublicKey,
    /// Seconds since the Unix epoch when the session was created.
    pub(crate) timestamp: u64,
    pub(crate) kyber: Option<(u32, Vec<u8>)>,
}

/// One session's Double Ratchet state.
#[derive(Clone)]
pub struct SessionState {
    pub(crate) version: u8,
    pub(crate) local_identity: IdentityKey,
    pub(crate) remote_identity: IdentityKey,
    pub(crate) root_key: RootKey,
    pub(crate) previous_counter: u32,
    pub(crate) sender_chain: SenderChain,
    /// Oldest first.
    pub(crate) receiver_chains: Vec<ReceiverChain>,
    pub(crate) pending_pre_key: Option<PendingPreKey>,
    pub(crate) remote_registration_id: u32,
    pub(crate) local_registration_id: u32,
    pub(crate) alice_base_key: PublicKey,
}

impl core::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionState")
            .field("version", &self.version)
            .field("remote_identity", &self.remote_identity)
            .field("receiver_chains", &self.receiver_chains.len())
            .finish_non_exhaustive()
    }
}

impl SessionState {
    /// The session version: 3 for X3DH, 4 for PQXDH.
    pub fn session_version(&self) -> u8 {
        self.version
    }

    /// The peer's identity key as recorded when the session was set up.
    pub fn remote_identity_key(&self) -> &IdentityKey {
        &self.remote_identity
    }

    /// Our identity key.
    pub fn local_identity_key(&self) -> &IdentityKey {
        &self.local_identity
    }

    /// The peer's registration id.
    pub fn remote_registration_id(&self) -> u32 {
        self.remote_registration_id
    }

    /// The initiator's base key, which names the session.
    pub fn alice_base_key(&self) -> &PublicKey {
        &self.alice_base_key
    }

    /// True while we initiated and have not yet heard back (messages go out as prekey messages).
    pub fn has_unacknowledged_pre_key_message(&self) -> bool {
        self.pending_pre_key.is_some()
    }

    pub(crate) fn receiver_chain_index(&self, their: &PublicKey) -> Option<usize> {
        self.receiver_chains
            .iter()
            .position(|c| c.ratchet_key == *their)
    }

    pub(crate) fn add_receiver_chain(&mut self, ratchet_key: PublicKey, chain_key: ChainKey) {
        self.receiver_chains.push(ReceiverChain {
            ratchet_key,
            chain_key,
            message_keys: VecDeque::new(),
        });
        while self.receiver_chains.len() > MAX_RECEIVER_CHAINS {
            self.receiver_chains.remove(0);
        }
    }

    pub(crate) fn store_message_keys(chain: &mut ReceiverChain, keys: MessageKeys, max: usize) {
        chain.message_keys.push_back(keys);
        while chain.message_keys.len() > max {
            chain.message_keys.pop_front();
        }
    }

    pub(crate) fn to_proto(&self) -> proto::SessionStructure {
        let chain_to_proto =
            |pubkey: &PublicKey,
             private: Option<Vec<u8>>,
             ck: &ChainKey,
             keys: &VecDeque<MessageKeys>| proto::Chain {
                sender_ratchet_key: pubkey.serialize().to_vec(),
                sender_ratchet_key_private: private.unwrap_or_default(),
                chain_key: Some(proto::ChainKey {
                    index: ck.index(),
                    key: ck.key().to_vec(),
                }),
                message_keys: keys
                    .iter()
                    .map(|k| proto::MessageKey {
                        index: k.counter,
                        cipher_key: k.cipher_key.to_vec(),
                        mac_key: k.mac_key.to_vec(),
                        iv: k.iv.to_vec(),
                        seed: Vec::new(),
                    })
                    .collect(),
            };
        let empty = VecDeque::new();
        proto::SessionStructure {
            session_version: u32::from(self.version),
            local_identity_public: self.local_identity.serialize().to_vec(),
            remote_identity_public: self.remote_identity.serialize().to_vec(),
            root_key: self.root_key.key().to_vec(),
            previous_counter: self.previous_counter,
            sender_chain: Some(chain_to_proto(
                &self.sender_chain.ratchet_key.public_key,
                Some(
                    self.sender_chain
                        .ratchet_key
                        .private_key
                        .serialize()
                        .to_vec(),
                ),
                &self.sender_chain.chain_key,
                &empty,
            )),
            // Oldest first, as libsignal 0.72.1 stores them.
            receiver_chains: self
                .receiver_chains
                .iter()
                .map(|c| chain_to_proto(&c.ratchet_key, None, &c.chain_key, &c.message_keys))
                .collect(),
            pending_pre_key: self.pending_pre_key.as_ref().map(|p| proto::PendingPreKey {
                pre_key_id: p.pre_key_id,
                signed_pre_key_id: p.signed_pre_key_id as i32,
                base_key: p.base_key.serialize().to_vec(),
                timestamp: p.timestamp,
            }),
            pending_kyber_pre_key: self
                .pending_pre_key
                .as_ref()
                .and_then(|p| p.kyber.as_ref())
                .map(|(id, ct)| proto::PendingKyberPreKey {
                    pre_key_id: *id,
                    ciphertext: ct.clone(),
                }),
            remote_registration_id: self.remote_registration_id,
            local_registration_id: self.local_registration_id,
            alice_base_key: self.alice_base_key.serialize().to_vec(),
        }
    }

    pub(crate) fn from_proto(mut s: proto::SessionStructure) -> Result<Self> {
        const WHAT: &str = "SessionRecord";
        let key32 = |v: &[u8], reason: &'static str| -> Result<[u8; 32]> {
            v.try_into().map_err(|_| malformed(WHAT, reason))
        };
        let chain_key = |c: &proto::Chain| -> Result<ChainKey> {
            let ck = c
                .chain_key
                .as_ref()
                .ok_or(malformed(WHAT, "chain without chain key"))?;
            Ok(ChainKey::new(
                key32(&ck.key, "chain key not 32 bytes")?,
                ck.index,
            ))
        };
        let version = u8::try_from(s.session_version)
            .ok()
            .filter(|v| (3..=4).contains(v))
            .ok_or(malformed(WHAT, "unknown session version"))?;
        let sender = s
            .sender_chain
            .as_mut()
            .ok_or(malformed(WHAT, "no sender chain"))?;
        let sender_pair = KeyPair::from_serialized(
            &sender.sender_ratchet_key,
            &sender.sender_ratchet_key_private,
        );
        sender.sender_ratchet_key_private.zeroize();
        let sender_chain = SenderChain {
            ratchet_key: sender_pair?,
            chain_key: chain_key(sender)?,
        };
        let mut receiver_chains = Vec::with_capacity(s.receiver_chains.len());
        for c in s.receiver_chains.iter() {
            let mut message_keys = VecDeque::with_capacity(c.message_keys.len());
            for k in &c.message_keys {
                let keys = if !k.seed.is_empty() {
                    MessageKeys::derive(&k.seed, k.index)
                } else {
                    MessageKeys {
                        cipher_key: key32(&k.cipher_key, "message cipher key not 32 bytes")?,
                        mac_key: key32(&k.mac_key, "message MAC key not 32 bytes")?,
                        iv: k
                            .iv
                            .as_slice()
                            .try_into()
                            .map_err(|_| malformed(WHAT, "message IV not 16 bytes"))?,
                        counter: k.index,
                    }
                };
                message_keys.push_back(keys);
            }
            receiver_chains.push(ReceiverChain {
                ratchet_key: PublicKey::deserialize(&c.sender_ratchet_key)?,
                chain_key: chain_key(c)?,
                message_keys,
            });
        }
        let pending_pre_key = match &s.pending_pre_key {
            None => None,
            Some(p) => Some(PendingPreKey {
                pre_key_id: p.pre_key_id,
                signed_pre_key_id: p.signed_pre_key_id as u32,
                base_key: PublicKey::deserialize(&p.base_key)?,
                timestamp: p.timestamp,
                kyber: s
                    .pending_kyber_pre_key
                    .as_ref()
                    .map(|k| (k.pre_key_id, k.ciphertext.clone())),
            }),
        };
        let mut root = key32(&s.root_key, "root key not 32 bytes")?;
        s.root_key.zeroize();
        let root_key = RootKey::new(root);
        root.zeroize();
        Ok(Self {
            version,
            local_identity: IdentityKey::deserialize(&s.local_identity_public)?,
            remote_identity: IdentityKey::deserialize(&s.remote_identity_public)?,
            root_key,
            previous_counter: s.previous_counter,
            sender_chain,
            receiver_chains,
            pending_pre_key,
            remote_registration_id: s.remote_registration_id,
            local_registration_id: s.local_registration_id,
            alice_base_key: PublicKey::deserialize(&s.alice_base_key)?,
        })
    }
}
