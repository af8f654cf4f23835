//! Keys and records: serialization round-trips and the errors of malformed input.

mod common;

use common::rng;
use portico_signal::{
    IdentityKey, IdentityKeyPair, KemKeyPair, KemKeyType, KemPublicKey, KemSecretKey,
    KyberPreKeyRecord, PreKeyRecord, PrivateKey, PublicKey, SignalError, SignedPreKeyRecord,
};

#[test]
fn public_key_serialization_is_type_byte_plus_32_bytes() {
    let mut r = rng(30);
    let key = PrivateKey::generate(&mut r).public_key();
    let bytes = key.serialize();
    assert_eq!(bytes.len(), 33);
    assert_eq!(bytes[0], 0x05);
    assert_eq!(PublicKey::deserialize(&bytes), Ok(key));
    let mut wrong_type = bytes;
    wrong_type[0] = 0x06;
    assert_eq!(
        PublicKey::deserialize(&wrong_type),
        Err(SignalError::InvalidKeyType(0x06))
    );
    assert!(matches!(
        PublicKey::deserialize(&bytes[..32]),
        Err(SignalError::BadKeyLength { actual: 32, .. })
    ));
    assert!(matches!(
        PublicKey::deserialize(&[]),
        Err(SignalError::BadKeyLength { actual: 0, .. })
    ));
}

#[test]
fn private_keys_are_clamped_and_round_trip() {
    let mut r = rng(31);
    let key = PrivateKey::generate(&mut r);
    let bytes = key.serialize();
    assert_eq!(bytes[0] & 7, 0);
    assert_eq!(bytes[31] & 0xC0, 0x40);
    assert_eq!(
        PrivateKey::deserialize(bytes.as_ref()).expect("32 bytes"),
        key
    );
    assert!(matches!(
        PrivateKey::deserialize(&bytes[..31]),
        Err(SignalError::BadKeyLength { .. })
    ));
}

#[test]
fn agreement_is_symmetric() {
    let mut r = rng(32);
    let a = PrivateKey::generate(&mut r);
    let b = PrivateKey::generate(&mut r);
    assert_eq!(
        *a.calculate_agreement(&b.public_key()),
        *b.calculate_agreement(&a.public_key())
    );
}

#[test]
fn identity_key_pair_round_trips_and_rejects_mismatched_halves() {
    let mut r = rng(33);
    let pair = IdentityKeyPair::generate(&mut r);
    let bytes = pair.serialize();
    assert_eq!(IdentityKeyPair::deserialize(&bytes).expect("parses"), pair);
    let other = IdentityKeyPair::generate(&mut r);
    let mismatched = IdentityKeyPair::new(*other.identity_key(), pair.private_key().clone());
    assert!(matches!(
        IdentityKeyPair::deserialize(&mismatched.serialize()),
        Err(SignalError::InvalidMessage { .. })
    ));
    assert_eq!(
        IdentityKey::deserialize(&pair.identity_key().serialize()),
        Ok(*pair.identity_key())
    );
}

#[test]
fn prekey_records_round_trip() {
    let mut r = rng(34);
    let identity = IdentityKeyPair::generate(&mut r);
    let pre = PreKeyRecord::generate(5, &mut r);
    assert_eq!(
        PreKeyRecord::deserialize(&pre.serialize()).expect("parses"),
        pre
    );
    let signed = SignedPreKeyRecord::generate(6, 1_700_000_000_000, &identity, &mut r);
    let back = SignedPreKeyRecord::deserialize(&signed.serialize()).expect("parses");
    assert_eq!(back, signed);
    assert!(
        identity
            .identity_key()
            .verify_signature(&back.public_key().serialize(), back.signature())
    );
    let kyber = KyberPreKeyRecord::generate(
        KemKeyType::Kyber1024,
        7,
        1_700_000_000_000,
        &identity,
        &mut r,
    );
    let back = KyberPreKeyRecord::deserialize(&kyber.serialize()).expect("parses");
    assert_eq!(back, kyber);
    assert_eq!(back.public_key().serialize()[0], 0x08);
    assert_eq!(back.public_key().serialize().len(), 1569);
    assert!(
        identity
            .identity_key()
            .verify_signature(&back.public_key().serialize(), back.signature())
    );
    assert!(matches!(
        PreKeyRecord::deserialize(&[0xFF, 0xFF]),
        Err(SignalError::InvalidMessage { .. })
    ));
}

#[test]
fn kem_round_trips_for_kyber_and_ml_kem() {
    let mut r = rng(35);
    for key_type in [KemKeyType::Kyber1024, KemKeyType::MlKem1024] {
        let pair = KemKeyPair::generate(key_type, &mut r);
        let (ss, ct) = pair.public_key.encapsulate(&mut r);
        assert_eq!(ct.len(), 1569);
        assert_eq!(ct[0], key_type.type_byte());
        assert_eq!(
            *pair.secret_key.decapsulate(&ct).expect("decapsulates"),
            *ss
        );
        let pk = KemPublicKey::deserialize(&pair.public_key.serialize()).expect("parses");
        assert_eq!(pk, pair.public_key);
        let sk = KemSecretKey::deserialize(&pair.secret_key.serialize()).expect("parses");
        assert_eq!(sk, pair.secret_key);
        assert!(matches!(
            pair.secret_key.decapsulate(&ct[..100]),
            Err(SignalError::BadKemCiphertext(_))
        ));
    }
    let kyber = KemKeyPair::generate(KemKeyType::Kyber1024, &mut r);
    let mlkem = KemKeyPair::generate(KemKeyType::MlKem1024, &mut r);
    let (_, ct) = mlkem.public_key.encapsulate(&mut r);
    assert_eq!(
        kyber.secret_key.decapsulate(&ct),
        Err(SignalError::KemKeyTypeMismatch(0x0A, 0x08))
    );
    assert_eq!(
        KemPublicKey::deserialize(&[0x07; 1569]),
        Err(SignalError::InvalidKeyType(0x07))
    );
}
