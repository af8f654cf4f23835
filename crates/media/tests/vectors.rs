//! Replays `tests/vectors.json` (made by `tests/make_vectors.py` from FORMAT.md with an
//! independent AES-GCM) through the encryptor and the decryptor.

use portico_media::{Decryptor, Encryptor, FileKey, Header};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    key: String,
    nonce_prefix: String,
    chunk_size: u32,
    plaintext: String,
    ciphertext: String,
    plaintext_sha256: String,
    ciphertext_sha256: String,
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("vector hex")
}

#[test]
fn every_vector_encrypts_and_decrypts_to_the_committed_bytes() {
    let file: File =
        serde_json::from_str(include_str!("vectors.json")).expect("vectors.json parses");
    assert!(file.vectors.len() >= 9);
    for v in &file.vectors {
        let key = FileKey::from_slice(&unhex(&v.key)).expect("32-byte key");
        let header = Header {
            chunk_size: v.chunk_size,
            nonce_prefix: unhex(&v.nonce_prefix).try_into().expect("7-byte prefix"),
        };
        let pt = unhex(&v.plaintext);
        let ct = unhex(&v.ciphertext);

        let mut enc = Encryptor::new(&key, header).expect("encryptor");
        let mut out = Vec::new();
        enc.update(&pt, &mut out).expect("encrypt");
        let done = enc.finish(&mut out).expect("finish");
        assert_eq!(hex::encode(&out), v.ciphertext, "{}: ciphertext", v.name);
        assert_eq!(
            hex::encode(done.plaintext_sha256.expect("digest")),
            v.plaintext_sha256,
            "{}",
            v.name
        );
        assert_eq!(
            hex::encode(done.ciphertext_sha256),
            v.ciphertext_sha256,
            "{}",
            v.name
        );
        assert_eq!(done.ciphertext_len, ct.len() as u64);

        let mut dec = Decryptor::new(&key)
            .expect_chunk_size(v.chunk_size)
            .expect_plaintext_len(pt.len() as u64);
        let mut back = Vec::new();
        // Byte by byte for the small ones: the decryptor must not care how input is cut.
        if ct.len() < 4096 {
            for b in &ct {
                dec.update(std::slice::from_ref(b), &mut back)
                    .expect("decrypt");
            }
        } else {
            dec.update(&ct, &mut back).expect("decrypt");
        }
        let done = dec.finish(&mut back).expect("finish");
        assert_eq!(back, pt, "{}: plaintext", v.name);
        assert_eq!(hex::encode(done.ciphertext_sha256), v.ciphertext_sha256);
    }
}
