//! XEdDSA signatures over Curve25519 keys, from Signal's XEdDSA specification
//! (<https://signal.org/docs/specifications/xeddsa/>).
//!
//! Signing follows the specification exactly: the Edwards key pair is derived from the
//! Montgomery private key with the sign bit forced to zero, so the signature's top bit is zero.
//! Verification reads the Edwards sign bit from the top bit of `s` (which is always free,
//! since `s < 2^253`), as libsignal's signatures carry it there; a zero bit is the
//! specification's case, so both kinds of signature verify.

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRng;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Length of an XEdDSA signature.
pub const SIGNATURE_LENGTH: usize = 64;

/// `hash_1` of the specification: SHA-512 prefixed by `2^256 - 1 - 1` in 32 little-endian bytes.
fn hash1_prefix() -> [u8; 32] {
    let mut prefix = [0xFFu8; 32];
    prefix[0] = 0xFE;
    prefix
}

/// Signs `message` with the clamped Montgomery private key `k` (XEdDSA `xeddsa_sign`).
pub(crate) fn sign<R: CryptoRng + ?Sized>(
    k: &[u8; 32],
    message: &[u8],
    rng: &mut R,
) -> [u8; SIGNATURE_LENGTH] {
    let mut z = [0u8; 64];
    rng.fill_bytes(&mut z);

    // calculate_key_pair(k): E = kB; A = E with sign bit 0; a = -k if E's sign was 1.
    let mut k_scalar = Scalar::from_bytes_mod_order(*k);
    let e = EdwardsPoint::mul_base(&k_scalar).compress();
    let negate = e.as_bytes()[31] >> 7;
    let mut a = if negate == 1 { -k_scalar } else { k_scalar };
    k_scalar.zeroize();
    let mut a_bytes = e.to_bytes();
    a_bytes[31] &= 0x7F;

    // r = hash_1(a || M || Z) mod q
    let mut secret_bytes = a.to_bytes();
    let mut hasher = Sha512::new();
    hasher.update(hash1_prefix());
    hasher.update(secret_bytes);
    hasher.update(message);
    hasher.update(z);
    let mut wide: [u8; 64] = hasher.finalize().into();
    let mut r = Scalar::from_bytes_mod_order_wide(&wide);
    wide.zeroize();
    secret_bytes.zeroize();
    z.zeroize();

    let cap_r = EdwardsPoint::mul_base(&r).compress();

    // h = hash(R || A || M) mod q
    let h = challenge(cap_r.as_bytes(), &a_bytes, message);
    let s = r + h * a;
    r.zeroize();
    a.zeroize();

    let mut signature = [0u8; SIGNATURE_LENGTH];
    signature[..32].copy_from_slice(cap_r.as_bytes());
    signature[32..].copy_from_slice(s.as_bytes());
    signature
}

fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut hasher = Sha512::new();
    hasher.update(r);
    hasher.update(a);
    hasher.update(message);
    let wide: [u8; 64] = hasher.finalize().into();
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// True when `u` is the canonical encoding of a field element (`u < 2^255 - 19`).
fn is_canonical_u(u: &[u8; 32]) -> bool {
    if u[31] & 0x80 != 0 {
        return false;
    }
    let all_max = u[1..31].iter().all(|&b| b == 0xFF) && u[31] == 0x7F;
    !(all_max && u[0] >= 0xED)
}

/// Verifies an XEdDSA `signature` on `message` under the Montgomery public key `u`
/// (XEdDSA `xeddsa_verify`, with the Edwards sign bit taken from the signature's top bit).
pub(crate) fn verify(u: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(signature) = <&[u8; SIGNATURE_LENGTH]>::try_from(signature) else {
        return false;
    };
    if !is_canonical_u(u) {
        return false;
    }
    let sign_bit = signature[63] >> 7;
    let Some(a_point) = MontgomeryPoint(*u).to_edwards(sign_bit) else {
        return false;
    };
    let mut cap_r = [0u8; 32];
    cap_r.copy_from_slice(&signature[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    s_bytes[31] &= 0x7F;
    // s must be below 2^253 (the specification's `s >= 2^|q|` rejection).
    if s_bytes[31] & 0xE0 != 0 {
        return false;
    }
    let a_bytes = a_point.compress().to_bytes();
    let h = challenge(&cap_r, &a_bytes, message);
    let s = Scalar::from_bytes_mod_order(s_bytes);
    // Rcheck = sB - hA
    let r_check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &(-a_point), &s);
    r_check.compress().as_bytes().ct_eq(&cap_r).into()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use crate::keys::KeyPair;

    #[test]
    fn signatures_verify_and_reject_tampering() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..32 {
            let pair = KeyPair::generate(&mut rng);
            let sig = pair.private_key.calculate_signature(b"hello", &mut rng);
            assert!(pair.public_key.verify_signature(b"hello", &sig));
            assert!(!pair.public_key.verify_signature(b"hellp", &sig));
            let mut bad = sig;
            bad[5] ^= 1;
            assert!(!pair.public_key.verify_signature(b"hello", &bad));
            let other = KeyPair::generate(&mut rng);
            assert!(!other.public_key.verify_signature(b"hello", &sig));
            assert!(!pair.public_key.verify_signature(b"hello", &sig[..63]));
        }
    }

    #[test]
    fn signature_with_sign_bit_set_is_verified_against_the_negated_point() {
        // A signature whose top bit is flipped asks the verifier to use the other Edwards
        // point; for a spec-made signature that must fail.
        let mut rng = StdRng::seed_from_u64(2);
        let pair = KeyPair::generate(&mut rng);
        let mut sig = pair.private_key.calculate_signature(b"m", &mut rng);
        assert_eq!(sig[63] & 0x80, 0, "spec signatures have a zero top bit");
        sig[63] |= 0x80;
        assert!(!pair.public_key.verify_signature(b"m", &sig));
    }
}
