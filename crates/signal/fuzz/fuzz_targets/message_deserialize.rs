//! Fuzzes every parser of untrusted bytes: wire messages, keys and stored records.
//! None may panic; whatever parses must re-serialize to bytes that parse to the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_signal::fingerprint::ScannableFingerprint;
use portico_signal::sender_keys::{SenderKeyDistributionMessage, SenderKeyMessage, SenderKeyRecord};
use portico_signal::{
    CiphertextMessage, CiphertextMessageType, IdentityKeyPair, KemPublicKey, KyberPreKeyRecord,
    PreKeyRecord, PreKeySignalMessage, PublicKey, SessionRecord, SignalMessage, SignedPreKeyRecord,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = SignalMessage::deserialize(data) {
        assert_eq!(m.serialized(), data);
        let _ = m.counter();
    }
    if let Ok(m) = PreKeySignalMessage::deserialize(data) {
        assert_eq!(m.serialized(), data);
        let again = PreKeySignalMessage::deserialize(m.serialized()).expect("parsed once");
        assert_eq!(again, m);
    }
    let _ = CiphertextMessage::deserialize(CiphertextMessageType::Whisper, data);
    let _ = CiphertextMessage::deserialize(CiphertextMessageType::PreKey, data);
    let _ = PublicKey::deserialize(data);
    let _ = KemPublicKey::deserialize(data);
    let _ = IdentityKeyPair::deserialize(data);
    let _ = PreKeyRecord::deserialize(data);
    let _ = SignedPreKeyRecord::deserialize(data);
    let _ = KyberPreKeyRecord::deserialize(data);
    if let Ok(record) = SessionRecord::deserialize(data) {
        let bytes = record.serialize();
        let again = SessionRecord::deserialize(&bytes).expect("own serialization parses");
        assert_eq!(again.serialize().as_slice(), bytes.as_slice());
    }
    let _ = SenderKeyMessage::deserialize(data);
    let _ = SenderKeyDistributionMessage::deserialize(data);
    if let Ok(record) = SenderKeyRecord::deserialize(data) {
        let bytes = record.serialize();
        let again = SenderKeyRecord::deserialize(&bytes).expect("own serialization parses");
        assert_eq!(again.serialize().as_slice(), bytes.as_slice());
    }
    let _ = ScannableFingerprint::from_bytes(data);
});
