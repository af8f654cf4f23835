//! Attachment encryption and decryption throughput (MB/s on one core) beside raw AES-256-GCM
//! (RustCrypto's `aes-gcm`, the yardstick, and ring's, which the crate uses) and
//! SHA-256 over the same 16 MiB buffer in the same run, so the ratios read side by side.
//!
//! `cargo bench -p portico-media --bench attachment`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use portico_media::{DEFAULT_CHUNK_SIZE, Decryptor, Encryptor};
use rand::SeedableRng;
use sha2::Digest;

const LEN: usize = 16 * 1024 * 1024;

fn bench(c: &mut Criterion) {
    let pt: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut g = c.benchmark_group("attachment_16MiB");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.sample_size(20);

    let cipher = Aes256Gcm::new(GenericArray::from_slice(&[7u8; 32]));
    let mut raw = pt.clone();
    g.bench_function("raw_aes256gcm_seal_rustcrypto", |b| {
        b.iter(|| {
            cipher
                .encrypt_in_place_detached(GenericArray::from_slice(&[0u8; 12]), b"", &mut raw)
                .expect("seal")
        })
    });
    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[7u8; 32]).expect("ring key"),
    );
    g.bench_function("raw_aes256gcm_seal_ring", |b| {
        b.iter(|| {
            ring_key
                .seal_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key([0u8; 12]),
                    ring::aead::Aad::empty(),
                    &mut raw,
                )
                .expect("seal")
        })
    });
    g.bench_function("raw_sha256", |b| b.iter(|| sha2::Sha256::digest(&pt)));

    let mut out = Vec::with_capacity(LEN + LEN / 1000 + 64);
    g.bench_function("encrypt", |b| {
        b.iter(|| {
            out.clear();
            let (mut enc, _key) =
                Encryptor::random(&mut rng, DEFAULT_CHUNK_SIZE).expect("encryptor");
            enc.update(&pt, &mut out).expect("encrypt");
            enc.finish(&mut out).expect("finish")
        })
    });

    g.bench_function("encrypt_ciphertext_digest_only", |b| {
        b.iter(|| {
            out.clear();
            let (enc, _key) = Encryptor::random(&mut rng, DEFAULT_CHUNK_SIZE).expect("encryptor");
            let mut enc = enc.skip_plaintext_digest();
            enc.update(&pt, &mut out).expect("encrypt");
            enc.finish(&mut out).expect("finish")
        })
    });

    let (mut enc, key) = Encryptor::random(&mut rng, DEFAULT_CHUNK_SIZE).expect("encryptor");
    let mut ct = Vec::new();
    enc.update(&pt, &mut ct).expect("encrypt");
    enc.finish(&mut ct).expect("finish");
    let mut back = Vec::with_capacity(LEN + 64);
    g.bench_function("decrypt", |b| {
        b.iter(|| {
            back.clear();
            let mut dec = Decryptor::new(&key);
            dec.update(&ct, &mut back).expect("decrypt");
            dec.finish(&mut back).expect("finish")
        })
    });
    g.bench_function("decrypt_ciphertext_digest_only", |b| {
        b.iter(|| {
            back.clear();
            let mut dec = Decryptor::new(&key).skip_plaintext_digest();
            dec.update(&ct, &mut back).expect("decrypt");
            dec.finish(&mut back).expect("finish")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
