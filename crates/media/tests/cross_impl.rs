//! The encryptor (ring's AES-256-GCM, digests fed interleaved) checked against FORMAT.md with
//! RustCrypto's `aes-gcm` and `sha2` on random files: every chunk opens under the nonce the
//! format gives, and both digests equal one-shot SHA-256 of the whole plaintext and stream.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use portico_media::{Decryptor, Encryptor, FileKey, HEADER_LEN, Header, TAG_LEN};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ring_output_is_the_formats_aes_gcm_and_the_digests_are_whole_file_sha256(
        key in any::<[u8; 32]>(),
        prefix in any::<[u8; 7]>(),
        chunk_size in prop::sample::select(vec![1024u32, 1500, 4096]),
        plaintext in proptest::collection::vec(any::<u8>(), 0..12_000),
        cut in any::<prop::sample::Index>(),
    ) {
        let header = Header { chunk_size, nonce_prefix: prefix };
        let mut enc = Encryptor::new(&FileKey::from_bytes(key), header).expect("encryptor");
        let mut ct = Vec::new();
        // Fed in two pieces, so chunks cross update() calls.
        let split = cut.index(plaintext.len() + 1);
        enc.update(&plaintext[..split], &mut ct).expect("update");
        enc.update(&plaintext[split..], &mut ct).expect("update");
        let done = enc.finish(&mut ct).expect("finish");

        prop_assert_eq!(&ct[..HEADER_LEN], &header.to_bytes()[..]);
        let cipher = Aes256Gcm::new(GenericArray::from_slice(&key));
        let frames: Vec<&[u8]> = ct[HEADER_LEN..].chunks(chunk_size as usize + TAG_LEN).collect();
        let mut opened = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            let mut nonce = [0u8; 12];
            nonce[..7].copy_from_slice(&prefix);
            nonce[7..11].copy_from_slice(&(i as u32).to_be_bytes());
            nonce[11] = u8::from(i + 1 == frames.len());
            let (body, tag) = frame.split_at(frame.len() - TAG_LEN);
            let mut buf = body.to_vec();
            cipher
                .decrypt_in_place_detached(
                    GenericArray::from_slice(&nonce),
                    &ct[..HEADER_LEN],
                    &mut buf,
                    GenericArray::from_slice(tag),
                )
                .expect("RustCrypto opens the chunk");
            opened.extend_from_slice(&buf);
        }
        prop_assert_eq!(&opened, &plaintext);
        let pt_digest: [u8; 32] = Sha256::digest(&plaintext).into();
        let ct_digest: [u8; 32] = Sha256::digest(&ct).into();
        prop_assert_eq!(done.plaintext_sha256, Some(pt_digest));
        prop_assert_eq!(done.ciphertext_sha256, ct_digest);

        // And the decryptor reports the same digests.
        let mut dec = Decryptor::new(&FileKey::from_bytes(key));
        let mut back = Vec::new();
        dec.update(&ct[..split.min(ct.len())], &mut back).expect("decrypt");
        dec.update(&ct[split.min(ct.len())..], &mut back).expect("decrypt");
        let got = dec.finish(&mut back).expect("finish");
        prop_assert_eq!(&back, &plaintext);
        prop_assert_eq!(got.plaintext_sha256, Some(pt_digest));
        prop_assert_eq!(got.ciphertext_sha256, ct_digest);
    }
}
