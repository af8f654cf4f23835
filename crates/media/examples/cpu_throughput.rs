//! Attachment encryption and decryption throughput per CPU-second of the measuring thread
//! (from `/proc/thread-self/schedstat`, so other load on the machine does not count),
//! beside its components over the same buffer, interleaved round by round: raw AES-256-GCM
//! through RustCrypto (`aes-gcm`, the yardstick) and through ring (the cipher this
//! crate uses), and SHA-256 through `sha2` (this crate's) and ring.
//!
//! `cargo run --release -p portico-media --example cpu_throughput` (Linux only).

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use portico_media::{DEFAULT_CHUNK_SIZE, Decryptor, Encryptor};
use rand::SeedableRng;
use sha2::Digest;

const LEN: usize = 16 * 1024 * 1024;
const ROUNDS: usize = 15;

/// Nanoseconds this thread has run on a CPU.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .expect("/proc/thread-self/schedstat (Linux)")
}

/// Repetitions per measurement: the thread CPU clock of a VM may tick only every few
/// milliseconds, so each measurement runs long enough (about 0.1 s) for that not to matter.
const REPEAT: usize = 8;

fn measure(f: &mut dyn FnMut()) -> f64 {
    let start = cpu_ns();
    for _ in 0..REPEAT {
        f();
    }
    let ns = (cpu_ns() - start).max(1);
    (REPEAT * LEN) as f64 / (1024.0 * 1024.0) / (ns as f64 / 1e9)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let pt: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let rc = Aes256Gcm::new(GenericArray::from_slice(&[7u8; 32]));
    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[7u8; 32]).expect("ring key"),
    );
    let mut raw = pt.clone();
    let mut out = Vec::with_capacity(LEN + LEN / 1000 + 64);
    let (mut enc, key) = Encryptor::random(&mut rng, DEFAULT_CHUNK_SIZE).expect("encryptor");
    let mut ct = Vec::new();
    enc.update(&pt, &mut ct).expect("encrypt");
    enc.finish(&mut ct).expect("finish");
    let mut back = Vec::with_capacity(LEN + 64);

    let names = [
        "raw AES-256-GCM seal, RustCrypto",
        "raw AES-256-GCM seal, ring",
        "raw SHA-256, sha2",
        "raw SHA-256, ring",
        "encrypt (both digests)",
        "encrypt (ciphertext digest only)",
        "decrypt (both digests)",
        "decrypt (ciphertext digest only)",
    ];
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..ROUNDS {
        results[0].push(measure(&mut || {
            let _ =
                rc.encrypt_in_place_detached(GenericArray::from_slice(&[0u8; 12]), b"", &mut raw);
        }));
        results[1].push(measure(&mut || {
            let _ = ring_key.seal_in_place_separate_tag(
                ring::aead::Nonce::assume_unique_for_key([0u8; 12]),
                ring::aead::Aad::empty(),
                &mut raw,
            );
        }));
        results[2].push(measure(&mut || {
            std::hint::black_box(sha2::Sha256::digest(&pt));
        }));
        results[3].push(measure(&mut || {
            std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, &pt));
        }));
        for (i, skip) in [(4, false), (5, true)] {
            results[i].push(measure(&mut || {
                out.clear();
                let (e, _k) = Encryptor::random(&mut rng, DEFAULT_CHUNK_SIZE).expect("enc");
                let mut e = if skip { e.skip_plaintext_digest() } else { e };
                e.update(&pt, &mut out).expect("encrypt");
                std::hint::black_box(e.finish(&mut out).expect("finish"));
            }));
        }
        for (i, skip) in [(6, false), (7, true)] {
            results[i].push(measure(&mut || {
                back.clear();
                let d = Decryptor::new(&key);
                let mut d = if skip { d.skip_plaintext_digest() } else { d };
                d.update(&ct, &mut back).expect("decrypt");
                std::hint::black_box(d.finish(&mut back).expect("finish"));
            }));
        }
    }
    let rustcrypto = median(results[0].clone());
    let ring_gcm = median(results[1].clone());
    println!(
        "MiB per CPU-second, median of {ROUNDS} rounds of {REPEAT} x {} MiB:",
        LEN >> 20
    );
    println!(
        "  {:34} {:>8}  {:>14}  {:>10}",
        "", "MiB/s", "vs RustCrypto", "vs ring"
    );
    for (name, r) in names.iter().zip(results) {
        let m = median(r);
        println!(
            "  {name:34} {m:8.0}  {:12.1} %  {:8.1} %",
            100.0 * m / rustcrypto,
            100.0 * m / ring_gcm
        );
    }
}
