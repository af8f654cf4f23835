//! Key encapsulation for PQXDH: Kyber1024 (NIST round 3, type byte `0x08`, what libsignal
//! 0.72.1 generates) and ML-KEM-1024 (FIPS 203, type byte `0x0a`), both from `libcrux-ml-kem`.
//! Keys and ciphertexts are serialized as the type byte followed by the raw bytes.
//!
//! libsignal 0.72.1 (`@signalapp/libsignal-client`) refuses `0x0a` keys, so bundles meant for
//! libsignal peers must carry Kyber1024 keys; ML-KEM-1024 is accepted here for peers that use it.

use libcrux_ml_kem::mlkem1024::{MlKem1024Ciphertext, MlKem1024PrivateKey, MlKem1024PublicKey};
use libcrux_ml_kem::{kyber1024, mlkem1024};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Result, SignalError};

/// Raw public key length of both KEMs.
pub const KEM_PUBLIC_KEY_LENGTH: usize = 1568;
/// Raw secret key length of both KEMs.
pub const KEM_SECRET_KEY_LENGTH: usize = 3168;
/// Raw ciphertext length of both KEMs.
pub const KEM_CIPHERTEXT_LENGTH: usize = 1568;

/// Which KEM a key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KemKeyType {
    /// Kyber1024, NIST round 3 (type byte `0x08`).
    Kyber1024,
    /// ML-KEM-1024, FIPS 203 (type byte `0x0a`).
    MlKem1024,
}

impl KemKeyType {
    /// The serialization type byte.
    pub fn type_byte(self) -> u8 {
        match self {
            Self::Kyber1024 => 0x08,
            Self::MlKem1024 => 0x0A,
        }
    }

    /// The type of a type byte.
    pub fn from_type_byte(byte: u8) -> Result<Self> {
        match byte {
            0x08 => Ok(Self::Kyber1024),
            0x0A => Ok(Self::MlKem1024),
            other => Err(SignalError::InvalidKeyType(other)),
        }
    }
}

fn split_typed<const N: usize>(bytes: &[u8], kind: &'static str) -> Result<(KemKeyType, [u8; N])> {
    let (&t, rest) = bytes.split_first().ok_or(SignalError::BadKeyLength {
        kind,
        actual: 0,
        expected: N + 1,
    })?;
    let key_type = KemKeyType::from_type_byte(t)?;
    let raw: [u8; N] = rest.try_into().map_err(|_| SignalError::BadKeyLength {
        kind,
        actual: bytes.len(),
        expected: N + 1,
    })?;
    Ok((key_type, raw))
}

/// A KEM public key.
#[derive(Clone, PartialEq, Eq)]
pub struct KemPublicKey {
    key_type: KemKeyType,
    raw: Box<[u8; KEM_PUBLIC_KEY_LENGTH]>,
}

impl core::fmt::Debug for KemPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "KemPublicKey({:?}, {:02x?}…)",
            self.key_type,
            &self.raw[..4]
        )
    }
}

impl KemPublicKey {
    /// Parses `type || raw`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let (key_type, raw) = split_typed::<KEM_PUBLIC_KEY_LENGTH>(bytes, "KEM public")?;
        Ok(Self {
            key_type,
            raw: Box::new(raw),
        })
    }

    /// `type || raw`.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + KEM_PUBLIC_KEY_LENGTH);
        out.push(self.key_type.type_byte());
        out.extend_from_slice(self.raw.as_slice());
        out
    }

    /// The KEM this key belongs to.
    pub fn key_type(&self) -> KemKeyType {
        self.key_type
    }

    /// Encapsulates a fresh shared secret to this key: returns the 32-byte secret and the
    /// serialized ciphertext (`type || raw`).
    pub fn encapsulate<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> (Zeroizing<[u8; 32]>, Vec<u8>) {
        let mut randomness = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(randomness.as_mut());
        let pk = MlKem1024PublicKey::from(&*self.raw);
        let (ct, ss) = match self.key_type {
            KemKeyType::Kyber1024 => kyber1024::encapsulate(&pk, *randomness),
            KemKeyType::MlKem1024 => mlkem1024::encapsulate(&pk, *randomness),
        };
        let mut out = Vec::with_capacity(1 + KEM_CIPHERTEXT_LENGTH);
        out.push(self.key_type.type_byte());
        out.extend_from_slice(ct.as_ref());
        (Zeroizing::new(ss), out)
    }
}

/// A KEM secret key; zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KemSecretKey {
    #[zeroize(skip)]
    key_type: KemKeyType,
    raw: Box<[u8; KEM_SECRET_KEY_LENGTH]>,
}

impl core::fmt::Debug for KemSecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KemSecretKey({:?}, <secret>)", self.key_type)
    }
}

impl PartialEq for KemSecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.key_type == other.key_type
            && bool::from(self.raw.as_slice().ct_eq(other.raw.as_slice()))
    }
}
impl Eq for KemSecretKey {}

impl KemSecretKey {
    /// Parses `type || raw`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let (key_type, raw) = split_typed::<KEM_SECRET_KEY_LENGTH>(bytes, "KEM secret")?;
        let raw = Zeroizing::new(raw);
        Ok(Self {
            key_type,
            raw: Box::new(*raw),
        })
    }

    /// `type || raw`.
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(1 + KEM_SECRET_KEY_LENGTH));
        out.push(self.key_type.type_byte());
        out.extend_from_slice(self.raw.as_slice());
        out
    }

    /// The KEM this key belongs to.
    pub fn key_type(&self) -> KemKeyType {
        self.key_type
    }

    /// Decapsulates a serialized ciphertext (`type || raw`) into the 32-byte shared secret.
    pub fn decapsulate(&self, ciphertext: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let (&t, raw) = ciphertext
            .split_first()
            .ok_or(SignalError::BadKemCiphertext("empty ciphertext"))?;
        let ct_type = KemKeyType::from_type_byte(t)?;
        if ct_type != self.key_type {
            return Err(SignalError::KemKeyTypeMismatch(
                t,
                self.key_type.type_byte(),
            ));
        }
        let raw: &[u8; KEM_CIPHERTEXT_LENGTH] = raw
            .try_into()
            .map_err(|_| SignalError::BadKemCiphertext("wrong ciphertext length"))?;
        let ct = MlKem1024Ciphertext::from(raw);
        let sk = MlKem1024PrivateKey::from(&*self.raw);
        let ss = match self.key_type {
            KemKeyType::Kyber1024 => kyber1024::decapsulate(&sk, &ct),
            KemKeyType::MlKem1024 => mlkem1024::decapsulate(&sk, &ct),
        };
        // `sk` is a copy of the secret: wipe it.
        let mut sk_bytes: [u8; KEM_SECRET_KEY_LENGTH] = sk.into();
        sk_bytes.zeroize();
        Ok(Zeroizing::new(ss))
    }
}

/// A KEM key pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KemKeyPair {
    /// The public half.
    pub public_key: KemPublicKey,
    /// The secret half.
    pub secret_key: KemSecretKey,
}

impl KemKeyPair {
    /// A fresh key pair of `key_type`.
    pub fn generate<R: CryptoRng + ?Sized>(key_type: KemKeyType, rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(seed.as_mut());
        let pair = match key_type {
            KemKeyType::Kyber1024 => kyber1024::generate_key_pair(*seed),
            KemKeyType::MlKem1024 => mlkem1024::generate_key_pair(*seed),
        };
        let (sk, pk) = pair.into_parts();
        let mut sk_raw: [u8; KEM_SECRET_KEY_LENGTH] = sk.into();
        let pk_raw: [u8; KEM_PUBLIC_KEY_LENGTH] = pk.into();
        let secret_key = KemSecretKey {
            key_type,
            raw: Box::new(sk_raw),
        };
        sk_raw.zeroize();
        Self {
            public_key: KemPublicKey {
                key_type,
                raw: Box::new(pk_raw),
            },
            secret_key,
        }
    }

    /// Rebuilds a pair from serialized halves.
    pub fn from_serialized(public: &[u8], secret: &[u8]) -> Result<Self> {
        let public_key = KemPublicKey::deserialize(public)?;
        let secret_key = KemSecretKey::deserialize(secret)?;
        if public_key.key_type != secret_key.key_type {
            return Err(SignalError::KemKeyTypeMismatch(
                public_key.key_type.type_byte(),
                secret_key.key_type.type_byte(),
            ));
        }
        Ok(Self {
            public_key,
            secret_key,
        })
    }
}
