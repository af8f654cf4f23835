//! Every way a stream can be damaged gives its own error; plus round-trip properties.

use portico_media::{
    DecryptError, Decryptor, Encryptor, FileKey, HEADER_LEN, HeaderError, TAG_LEN,
};
use proptest::prelude::*;
use rand::SeedableRng;

const CS: usize = 1024;
const FULL: usize = CS + TAG_LEN;

fn encrypt(pt: &[u8], chunk_size: u32) -> (FileKey, Vec<u8>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (mut enc, key) = Encryptor::random(&mut rng, chunk_size).expect("encryptor");
    let mut out = Vec::new();
    enc.update(pt, &mut out).expect("encrypt");
    enc.finish(&mut out).expect("finish");
    (key, out)
}

fn decrypt(key: &FileKey, ct: &[u8], expected_len: Option<u64>) -> Result<Vec<u8>, DecryptError> {
    let mut dec = Decryptor::new(key);
    if let Some(n) = expected_len {
        dec = dec.expect_plaintext_len(n);
    }
    let mut out = Vec::new();
    dec.update(ct, &mut out)?;
    dec.finish(&mut out)?;
    Ok(out)
}

/// Ten full chunks and a 100-byte final one.
fn sample() -> (Vec<u8>, FileKey, Vec<u8>) {
    let pt: Vec<u8> = (0..10 * CS + 100).map(|i| (i % 253) as u8).collect();
    let (key, ct) = encrypt(&pt, CS as u32);
    (pt, key, ct)
}

fn chunk(ct: &[u8], i: usize) -> std::ops::Range<usize> {
    let start = HEADER_LEN + i * FULL;
    start..(start + FULL).min(ct.len())
}

#[test]
fn intact_stream_decrypts() {
    let (pt, key, ct) = sample();
    assert_eq!(decrypt(&key, &ct, Some(pt.len() as u64)), Ok(pt));
}

#[test]
fn flipped_byte_is_reported_as_corruption_of_that_chunk() {
    let (_, key, mut ct) = sample();
    let at = chunk(&ct, 3).start + 10;
    ct[at] ^= 1;
    assert_eq!(
        decrypt(&key, &ct, None),
        Err(DecryptError::ChunkCorrupted { index: 3 })
    );
    let (_, key, mut ct) = sample();
    let last = ct.len() - 1;
    ct[last] ^= 0x80;
    assert_eq!(
        decrypt(&key, &ct, None),
        Err(DecryptError::ChunkCorrupted { index: 10 })
    );
}

#[test]
fn wrong_key_is_corruption_of_chunk_zero() {
    let (_, _, ct) = sample();
    let other = FileKey::from_bytes([9; 32]);
    assert_eq!(
        decrypt(&other, &ct, None),
        Err(DecryptError::ChunkCorrupted { index: 0 })
    );
}

#[test]
fn dropped_chunk_is_reported_missing() {
    let (_, key, mut ct) = sample();
    let r = chunk(&ct, 4);
    ct.drain(r);
    assert_eq!(
        decrypt(&key, &ct, None),
        Err(DecryptError::ChunkMissing { index: 4, found: 5 })
    );
    // The chunk before the final one: the final one turns up in its place.
    let (_, key, mut ct) = sample();
    let r = chunk(&ct, 9);
    ct.drain(r);
    assert_eq!(
        decrypt(&key, &ct, None),
        Err(DecryptError::ChunkMissing {
            index: 9,
            found: 10
        })
    );
}

#[test]
fn swapped_or_repeated_chunks_are_reported_reordered() {
    let (_, key, mut ct) = sample();
    let (a, b) = (chunk(&ct, 2), chunk(&ct, 3));
    let second: Vec<u8> = ct[b.clone()].to_vec();
    let first: Vec<u8> = ct[a.clone()].to_vec();
    ct[a].copy_from_slice(&second);
    ct[b].copy_from_slice(&first);
    assert_eq!(
        decrypt(&key, &ct, None),
        Err(DecryptError::ChunkReordered {
            position: 3,
            found: 2
        })
    );
    let (_, key, mut ct) = sample();
    let dup: Vec<u8> = ct[chunk(&ct, 1)].to_vec();
    let at = chunk(&ct, 2).start;
    ct.splice(at..at, dup);
    assert_eq!(
        decrypt(&key, &ct, None),
        Err(DecryptError::ChunkReordered {
            position: 2,
            found: 1
        })
    );
}

#[test]
fn truncation_at_a_chunk_boundary_or_inside_a_chunk_is_reported_truncated() {
    let (pt, key, ct) = sample();
    let cut = chunk(&ct, 6).start;
    assert_eq!(
        decrypt(&key, &ct[..cut], None),
        Err(DecryptError::Truncated { chunks: 6 })
    );
    // Cut inside a chunk: the announced size tells a cut from a corruption.
    let cut = chunk(&ct, 6).start + 500;
    assert_eq!(
        decrypt(&key, &ct[..cut], Some(pt.len() as u64)),
        Err(DecryptError::Truncated { chunks: 6 })
    );
    assert_eq!(
        decrypt(&key, &ct[..HEADER_LEN], None),
        Err(DecryptError::Truncated { chunks: 0 })
    );
    assert_eq!(
        decrypt(&key, &ct[..HEADER_LEN + 7], None),
        Err(DecryptError::Truncated { chunks: 0 })
    );
}

#[test]
fn data_after_the_final_chunk_is_reported_extended() {
    // Bytes appended to a short final chunk fall inside its frame: the announced size
    // tells an extension from a corruption.
    let (pt, key, mut ct) = sample();
    ct.extend_from_slice(&[0u8; 40]);
    assert_eq!(
        decrypt(&key, &ct, Some(pt.len() as u64)),
        Err(DecryptError::Extended { final_index: 10 })
    );
    assert_eq!(
        decrypt(&key, &ct, None),
        Err(DecryptError::ChunkCorrupted { index: 10 })
    );
    let (pt, key, mut ct) = sample();
    ct.extend_from_slice(&[0u8; 2 * FULL]);
    assert_eq!(
        decrypt(&key, &ct, Some(pt.len() as u64)),
        Err(DecryptError::Extended { final_index: 10 })
    );
    // An exact-multiple file whose final chunk is full, then one more byte.
    let pt = vec![1u8; 2 * CS];
    let (key, mut ct) = encrypt(&pt, CS as u32);
    ct.push(0);
    assert_eq!(
        decrypt(&key, &ct, None),
        Err(DecryptError::Extended { final_index: 1 })
    );
}

#[test]
fn bad_headers_are_reported_as_such() {
    let (_, key, ct) = sample();
    let mut bad = ct.clone();
    bad[1] = b'X';
    assert_eq!(
        decrypt(&key, &bad, None),
        Err(DecryptError::BadHeader(HeaderError::BadMagic))
    );
    let mut bad = ct.clone();
    bad[4] = 9;
    assert_eq!(
        decrypt(&key, &bad, None),
        Err(DecryptError::BadHeader(HeaderError::UnsupportedVersion(9)))
    );
    assert_eq!(
        decrypt(&key, &ct[..3], None),
        Err(DecryptError::BadHeader(HeaderError::TooShort(3)))
    );
    // A header altered in its nonce prefix fails every chunk (the header is the AAD).
    let mut bad = ct.clone();
    bad[12] ^= 1;
    assert_eq!(
        decrypt(&key, &bad, None),
        Err(DecryptError::ChunkCorrupted { index: 0 })
    );
    let mut dec = Decryptor::new(&key).expect_chunk_size(65536);
    assert_eq!(
        dec.update(&ct, &mut Vec::new()),
        Err(DecryptError::BadHeader(HeaderError::ChunkSizeMismatch {
            expected: 65536,
            found: 1024
        }))
    );
}

#[test]
fn announced_size_must_match() {
    let (pt, key, ct) = sample();
    assert_eq!(
        decrypt(&key, &ct, Some(pt.len() as u64 + 1)),
        Err(DecryptError::SizeMismatch {
            expected: pt.len() as u64 + 1,
            found: pt.len() as u64
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trips_over_any_size_and_any_read_chunking(
        len in 0usize..9000,
        cuts in proptest::collection::vec(1usize..3000, 1..20),
        chunk_size in prop_oneof![Just(1024u32), Just(1500u32), Just(4096u32)],
    ) {
        let pt: Vec<u8> = (0..len).map(|i| (i * 31 % 256) as u8).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(len as u64);
        let (mut enc, key) = Encryptor::random(&mut rng, chunk_size).expect("encryptor");
        let mut ct = Vec::new();
        let mut rest = &pt[..];
        for c in cuts.iter().cycle() {
            if rest.is_empty() { break; }
            let n = (*c).min(rest.len());
            enc.update(&rest[..n], &mut ct).expect("encrypt");
            rest = &rest[n..];
        }
        let e = enc.finish(&mut ct).expect("finish");
        prop_assert_eq!(ct.len() as u64, portico_media::ciphertext_len(len as u64, chunk_size));
        prop_assert_eq!(e.ciphertext_len, ct.len() as u64);

        let mut dec = Decryptor::new(&key).expect_plaintext_len(len as u64);
        let mut out = Vec::new();
        let mut rest = &ct[..];
        for c in cuts.iter().rev().cycle() {
            if rest.is_empty() { break; }
            let n = (*c).min(rest.len());
            dec.update(&rest[..n], &mut out).expect("decrypt");
            rest = &rest[n..];
        }
        let d = dec.finish(&mut out).expect("finish");
        prop_assert_eq!(&out, &pt);
        prop_assert_eq!(d.plaintext_sha256, e.plaintext_sha256);
        prop_assert_eq!(d.ciphertext_sha256, e.ciphertext_sha256);
    }

    #[test]
    fn any_single_byte_change_is_refused(pos in 0usize..3200, bit in 0u8..8) {
        let pt = vec![5u8; 3000];
        let (key, mut ct) = encrypt(&pt, 1024);
        let pos = pos % ct.len();
        ct[pos] ^= 1 << bit;
        prop_assert!(decrypt(&key, &ct, Some(3000)).is_err());
    }
}
