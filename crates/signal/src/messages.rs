//! libsignal's wire messages: [`SignalMessage`] (`version || protobuf || mac[8]`) and
//! [`PreKeySignalMessage`] (`version || protobuf`, wrapping a `SignalMessage`).
//!
//! The version byte is `(session_version << 4) | CIPHERTEXT_MESSAGE_CURRENT_VERSION`: `0x44`
//! for PQXDH sessions, `0x34` for X3DH ones. The MAC is HMAC-SHA256 keyed with the message's
//! MAC key over `sender_identity || receiver_identity || version || protobuf` (identities in
//! their 33-byte serialization), truncated to 8 bytes and compared in constant time.

use prost::Message as _;
use subtle::ConstantTimeEq;

use crate::consts::{CIPHERTEXT_MESSAGE_CURRENT_VERSION, SESSION_VERSION_X3DH};
use crate::error::{Result, SignalError, malformed};
use crate::identity::IdentityKey;
use crate::keys::PublicKey;
use crate::proto;
use crate::ratchet::hmac_sha256;

/// Length of the truncated MAC that ends a [`SignalMessage`].
pub const MAC_LENGTH: usize = 8;

/// The kind of a ciphertext, with libsignal's numeric codes (what envelopes carry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CiphertextMessageType {
    /// A [`SignalMessage`] (code 2).
    Whisper = 2,
    /// A [`PreKeySignalMessage`] (code 3).
    PreKey = 3,
    /// A sender-key group message (code 7).
    SenderKey = 7,
    /// An unencrypted decryption-error message (code 8).
    Plaintext = 8,
}

fn version_byte(session_version: u8) -> u8 {
    (session_version << 4) | CIPHERTEXT_MESSAGE_CURRENT_VERSION
}

fn check_version(byte: u8) -> Result<u8> {
    let version = byte >> 4;
    if version < SESSION_VERSION_X3DH {
        return Err(SignalError::LegacyCiphertextVersion(version));
    }
    if version > CIPHERTEXT_MESSAGE_CURRENT_VERSION {
        return Err(SignalError::UnrecognizedMessageVersion(version));
    }
    Ok(version)
}

/// A Double Ratchet message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalMessage {
    message_version: u8,
    ratchet_key: PublicKey,
    counter: u32,
    previous_counter: u32,
    ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SignalMessage {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        message_version: u8,
        mac_key: &[u8; 32],
        ratchet_key: PublicKey,
        counter: u32,
        previous_counter: u32,
        ciphertext: Vec<u8>,
        sender_identity: &IdentityKey,
        receiver_identity: &IdentityKey,
    ) -> Self {
        let body = proto::SignalMessage {
            ratchet_key: Some(ratchet_key.serialize().to_vec()),
            counter: Some(counter),
            previous_counter: Some(previous_counter),
            ciphertext: Some(ciphertext),
        };
        let mut serialized = Vec::with_capacity(1 + body.encoded_len() + MAC_LENGTH);
        serialized.push(version_byte(message_version));
        body.encode(&mut serialized)
            .expect("a Vec grows to hold any protobuf");
        let mac = compute_mac(sender_identity, receiver_identity, mac_key, &serialized);
        serialized.extend_from_slice(&mac);
        Self {
            message_version,
            ratchet_key,
            counter,
            previous_counter,
            ciphertext: body.ciphertext.unwrap_or_default(),
            serialized,
        }
    }

    /// Parses `version || protobuf || mac[8]`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "SignalMessage";
        if bytes.len() < 1 + MAC_LENGTH {
            return Err(malformed(WHAT, "shorter than version byte plus MAC"));
        }
        let message_version = check_version(bytes[0])?;
        let body = proto::SignalMessage::decode(&bytes[1..bytes.len() - MAC_LENGTH])
            .map_err(|_| malformed(WHAT, "invalid protobuf"))?;
        let ratchet_key = body
            .ratchet_key
            .ok_or(malformed(WHAT, "missing ratchet key"))?;
        let ratchet_key = PublicKey::deserialize(&ratchet_key)?;
        let counter = body.counter.ok_or(malformed(WHAT, "missing counter"))?;
        let ciphertext = body
            .ciphertext
            .ok_or(malformed(WHAT, "missing ciphertext"))?;
        Ok(Self {
            message_version,
            ratchet_key,
            counter,
            previous_counter: body.previous_counter.unwrap_or(0),
            ciphertext,
            serialized: bytes.to_vec(),
        })
    }

    /// The session version this message was made for (3 or 4).
    pub fn message_version(&self) -> u8 {
        self.message_version
    }

    /// The sender's current ratchet public key.
    pub fn sender_ratchet_key(&self) -> &PublicKey {
        &self.ratchet_key
    }

    /// The message's index in its sending chain.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// The length of the sender's previous sending chain.
    pub fn previous_counter(&self) -> u32 {
        self.previous_counter
    }

    /// The AES-256-CBC ciphertext.
    pub fn body(&self) -> &[u8] {
        &self.ciphertext
    }

    /// The full wire bytes.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    /// Checks the truncated MAC in constant time.
    pub(crate) fn verify_mac(
        &self,
        sender_identity: &IdentityKey,
        receiver_identity: &IdentityKey,
        mac_key: &[u8; 32],
    ) -> bool {
        let split = self.serialized.len() - MAC_LENGTH;
        let expected = compute_mac(
            sender_identity,
            receiver_identity,
            mac_key,
            &self.serialized[..split],
        );
        expected.ct_eq(&self.serialized[split..]).into()
    }
}

fn compute_mac(
    sender_identity: &IdentityKey,
    receiver_identity: &IdentityKey,
    mac_key: &[u8; 32],
    message: &[u8],
) -> [u8; MAC_LENGTH] {
    let full = hmac_sha256(
        mac_key,
        &[
            &sender_identity.serialize(),
            &receiver_identity.serialize(),
            message,
        ],
    );
    let mut out = [0u8; MAC_LENGTH];
    out.copy_from_slice(&full[..MAC_LENGTH]);
    out
}

/// The Kyber part of a prekey message: which Kyber prekey was used and the KEM ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KyberPayload {
    /// The responder's Kyber prekey id.
    pub pre_key_id: u32,
    /// The KEM ciphertext (`type || raw`).
    pub ciphertext: Vec<u8>,
}

/// The first messages of a session: the PQXDH/X3DH handshake plus a [`SignalMessage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeySignalMessage {
    message_version: u8,
    registration_id: u32,
    pre_key_id: Option<u32>,
    signed_pre_key_id: u32,
    kyber: Option<KyberPayload>,
    base_key: PublicKey,
    identity_key: IdentityKey,
    message: SignalMessage,
    serialized: Vec<u8>,
}

impl PreKeySignalMessage {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        message_version: u8,
        registration_id: u32,
        pre_key_id: Option<u32>,
        signed_pre_key_id: u32,
        kyber: Option<KyberPayload>,
        base_key: PublicKey,
        identity_key: IdentityKey,
        message: SignalMessage,
    ) -> Self {
        let body = proto::PreKeySignalMessage {
            registration_id: Some(registration_id),
            pre_key_id,
            signed_pre_key_id: Some(signed_pre_key_id),
            kyber_pre_key_id: kyber.as_ref().map(|k| k.pre_key_id),
            kyber_ciphertext: kyber.as_ref().map(|k| k.ciphertext.clone()),
            base_key: Some(base_key.serialize().to_vec()),
            identity_key: Some(identity_key.serialize().to_vec()),
            message: Some(message.serialized().to_vec()),
        };
        let mut serialized = Vec::with_capacity(1 + body.encoded_len());
        serialized.push(version_byte(message_version));
        body.encode(&mut serialized)
            .expect("a Vec grows to hold any protobuf");
        Self {
            message_version,
            registration_id,
            pre_key_id,
            signed_pre_key_id,
            kyber,
            base_key,
            identity_key,
            message,
            serialized,
        }
    }

    /// Parses `version || protobuf`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "PreKeySignalMessage";
        let (&first, rest) = bytes.split_first().ok_or(malformed(WHAT, "empty"))?;
        let message_version = check_version(first)?;
        let body = proto::PreKeySignalMessage::decode(rest)
            .map_err(|_| malformed(WHAT, "invalid protobuf"))?;
        let base_key = PublicKey::deserialize(
            body.base_key
                .as_deref()
                .ok_or(malformed(WHAT, "missing base key"))?,
        )?;
        let identity_key = IdentityKey::deserialize(
            body.identity_key
                .as_deref()
                .ok_or(malformed(WHAT, "missing identity key"))?,
        )?;
        let message = SignalMessage::deserialize(
            body.message
                .as_deref()
                .ok_or(malformed(WHAT, "missing inner message"))?,
        )?;
        if message.message_version() != message_version {
            return Err(malformed(WHAT, "inner message version differs"));
        }
        let signed_pre_key_id = body
            .signed_pre_key_id
            .ok_or(malformed(WHAT, "missing signed prekey id"))?;
        let kyber = match (body.kyber_pre_key_id, body.kyber_ciphertext) {
            (Some(pre_key_id), Some(ciphertext)) => Some(KyberPayload {
                pre_key_id,
                ciphertext,
            }),
            (None, None) if message_version <= SESSION_VERSION_X3DH => None,
            (None, None) => return Err(SignalError::MissingKyberPreKey),
            _ => {
                return Err(malformed(
                    WHAT,
                    "Kyber prekey id and ciphertext must come together",
                ));
            }
        };
        if kyber.is_some() && message_version <= SESSION_VERSION_X3DH {
            return Err(malformed(WHAT, "Kyber fields in a version 3 message"));
        }
        Ok(Self {
            message_version,
            registration_id: body.registration_id.unwrap_or(0),
            pre_key_id: body.pre_key_id,
            signed_pre_key_id,
            kyber,
            base_key,
            identity_key,
            message,
            serialized: bytes.to_vec(),
        })
    }

    /// The session version (3 or 4).
    pub fn message_version(&self) -> u8 {
        self.message_version
    }

    /// The sender's registration id.
    pub fn registration_id(&self) -> u32 {
        self.registration_id
    }

    /// The one-time prekey used, if any.
    pub fn pre_key_id(&self) -> Option<u32> {
        self.pre_key_id
    }

    /// The signed prekey used.
    pub fn signed_pre_key_id(&self) -> u32 {
        self.signed_pre_key_id
    }

    /// The Kyber prekey id and ciphertext (PQXDH only).
    pub fn kyber_payload(&self) -> Option<&KyberPayload> {
        self.kyber.as_ref()
    }

    /// The initiator's base key.
    pub fn base_key(&self) -> &PublicKey {
        &self.base_key
    }

    /// The initiator's identity key.
    pub fn identity_key(&self) -> &IdentityKey {
        &self.identity_key
    }

    /// The wrapped message.
    pub fn message(&self) -> &SignalMessage {
        &self.message
    }

    /// The full wire bytes.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// Either kind of one-to-one ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CiphertextMessage {
    /// A plain ratchet message.
    SignalMessage(SignalMessage),
    /// A session-opening message.
    PreKeySignalMessage(PreKeySignalMessage),
}

impl CiphertextMessage {
    /// The message's type code.
    pub fn message_type(&self) -> CiphertextMessageType {
        match self {
            Self::SignalMessage(_) => CiphertextMessageType::Whisper,
            Self::PreKeySignalMessage(_) => CiphertextMessageType::PreKey,
        }
    }

    /// The wire bytes.
    pub fn serialize(&self) -> &[u8] {
        match self {
            Self::SignalMessage(m) => m.serialized(),
            Self::PreKeySignalMessage(m) => m.serialized(),
        }
    }

    /// Parses wire bytes of the given type (2 = Whisper, 3 = PreKey).
    pub fn deserialize(message_type: CiphertextMessageType, bytes: &[u8]) -> Result<Self> {
        match message_type {
            CiphertextMessageType::Whisper => {
                SignalMessage::deserialize(bytes).map(Self::SignalMessage)
            }
            CiphertextMessageType::PreKey => {
                PreKeySignalMessage::deserialize(bytes).map(Self::PreKeySignalMessage)
            }
            CiphertextMessageType::SenderKey | CiphertextMessageType::Plaintext => Err(malformed(
                "CiphertextMessage",
                "not a one-to-one message type",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::keys::PublicKey;

    fn identity(byte: u8) -> IdentityKey {
        IdentityKey::new(PublicKey::from_djb_bytes([byte; 32]))
    }

    proptest! {
        #[test]
        fn signal_message_round_trips_and_authenticates(
            version in 3u8..=4,
            counter: u32,
            previous_counter: u32,
            ratchet: [u8; 32],
            mac_key: [u8; 32],
            ciphertext in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let (alice, bob) = (identity(1), identity(2));
            let m = SignalMessage::new(
                version, &mac_key, PublicKey::from_djb_bytes(ratchet), counter,
                previous_counter, ciphertext.clone(), &alice, &bob,
            );
            prop_assert_eq!(m.serialized()[0], (version << 4) | 4);
            let back = SignalMessage::deserialize(m.serialized()).expect("own message parses");
            prop_assert_eq!(&back, &m);
            prop_assert_eq!(back.body(), ciphertext.as_slice());
            prop_assert!(back.verify_mac(&alice, &bob, &mac_key));
            prop_assert!(!back.verify_mac(&bob, &alice, &mac_key));
        }

        #[test]
        fn prekey_message_round_trips(
            registration_id: u32,
            pre_key_id: Option<u32>,
            signed_pre_key_id: u32,
            kyber_id: u32,
        ) {
            let (alice, bob) = (identity(1), identity(2));
            let inner = SignalMessage::new(4, &[9; 32], PublicKey::from_djb_bytes([3; 32]), 0, 0,
                vec![0; 16], &alice, &bob);
            let m = PreKeySignalMessage::new(
                4, registration_id, pre_key_id, signed_pre_key_id,
                Some(KyberPayload { pre_key_id: kyber_id, ciphertext: vec![8; 1569] }),
                PublicKey::from_djb_bytes([4; 32]), alice, inner,
            );
            let back = PreKeySignalMessage::deserialize(m.serialized()).expect("own message parses");
            prop_assert_eq!(back, m);
        }
    }

    #[test]
    fn version_4_prekey_message_without_kyber_is_refused() {
        let (alice, bob) = (identity(1), identity(2));
        let inner = SignalMessage::new(
            4,
            &[9; 32],
            PublicKey::from_djb_bytes([3; 32]),
            0,
            0,
            vec![0; 16],
            &alice,
            &bob,
        );
        let m = PreKeySignalMessage::new(
            4,
            1,
            None,
            2,
            None,
            PublicKey::from_djb_bytes([4; 32]),
            alice,
            inner,
        );
        assert_eq!(
            PreKeySignalMessage::deserialize(m.serialized()),
            Err(SignalError::MissingKyberPreKey)
        );
    }
}
