//! libsignal's protobuf layouts (`wire.proto`, `storage.proto`), written as prost structs
//! with the same field numbers, so no `protoc` is needed. Field numbers are the wire contract:
//! never renumber.

#![allow(missing_docs)]

/// `signal.proto.wire.SignalMessage` (proto2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SignalMessage {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub ratchet_key: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "2")]
    pub counter: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    pub previous_counter: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub ciphertext: Option<Vec<u8>>,
}

/// `signal.proto.wire.PreKeySignalMessage` (proto2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreKeySignalMessage {
    #[prost(uint32, optional, tag = "5")]
    pub registration_id: Option<u32>,
    #[prost(uint32, optional, tag = "1")]
    pub pre_key_id: Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    pub signed_pre_key_id: Option<u32>,
    #[prost(uint32, optional, tag = "7")]
    pub kyber_pre_key_id: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "8")]
    pub kyber_ciphertext: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub base_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub identity_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub message: Option<Vec<u8>>,
}

/// `signal.proto.storage.SessionStructure.Chain.ChainKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChainKey {
    #[prost(uint32, tag = "1")]
    pub index: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
}

/// `signal.proto.storage.SessionStructure.Chain.MessageKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MessageKey {
    #[prost(uint32, tag = "1")]
    pub index: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub cipher_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub mac_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub iv: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub seed: Vec<u8>,
}

/// `signal.proto.storage.SessionStructure.Chain`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Chain {
    #[prost(bytes = "vec", tag = "1")]
    pub sender_ratchet_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub sender_ratchet_key_private: Vec<u8>,
    #[prost(message, optional, tag = "3")]
    pub chain_key: Option<ChainKey>,
    #[prost(message, repeated, tag = "4")]
    pub message_keys: Vec<MessageKey>,
}

/// `signal.proto.storage.SessionStructure.PendingPreKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PendingPreKey {
    #[prost(uint32, optional, tag = "1")]
    pub pre_key_id: Option<u32>,
    #[prost(int32, tag = "3")]
    pub signed_pre_key_id: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub base_key: Vec<u8>,
    #[prost(uint64, tag = "4")]
    pub timestamp: u64,
}

/// `signal.proto.storage.SessionStructure.PendingKyberPreKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PendingKyberPreKey {
    #[prost(uint32, tag = "1")]
    pub pre_key_id: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub ciphertext: Vec<u8>,
}

/// `signal.proto.storage.SessionStructure` (proto3).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionStructure {
    #[prost(uint32, tag = "1")]
    pub session_version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub local_identity_public: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub remote_identity_public: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub root_key: Vec<u8>,
    #[prost(uint32, tag = "5")]
    pub previous_counter: u32,
    #[prost(message, optional, tag = "6")]
    pub sender_chain: Option<Chain>,
    #[prost(message, repeated, tag = "7")]
    pub receiver_chains: Vec<Chain>,
    #[prost(message, optional, tag = "9")]
    pub pending_pre_key: Option<PendingPreKey>,
    #[prost(message, optional, tag = "14")]
    pub pending_kyber_pre_key: Option<PendingKyberPreKey>,
    #[prost(uint32, tag = "10")]
    pub remote_registration_id: u32,
    #[prost(uint32, tag = "11")]
    pub local_registration_id: u32,
    #[prost(bytes = "vec", tag = "13")]
    pub alice_base_key: Vec<u8>,
}

/// `signal.proto.storage.RecordStructure` (proto3).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordStructure {
    #[prost(message, optional, tag = "1")]
    pub current_session: Option<SessionStructure>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub previous_sessions: Vec<Vec<u8>>,
}

/// `signal.proto.storage.PreKeyRecordStructure` (proto3).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreKeyRecordStructure {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub public_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub private_key: Vec<u8>,
}

/// `signal.proto.storage.SignedPreKeyRecordStructure` (proto3); libsignal stores Kyber
/// prekey records in the same layout.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SignedPreKeyRecordStructure {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub public_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub private_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub signature: Vec<u8>,
    #[prost(fixed64, tag = "5")]
    pub timestamp: u64,
}

/// `signal.proto.storage.IdentityKeyPairStructure` (proto3).
#[derive(Clone, PartialEq, prost::Message)]
pub struct IdentityKeyPairStructure {
    #[prost(bytes = "vec", tag = "1")]
    pub public_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub private_key: Vec<u8>,
}
