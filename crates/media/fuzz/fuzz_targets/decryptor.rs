//! The decryptor on arbitrary input, cut into arbitrary pieces: it must never panic and
//! must accept nothing that was not encrypted under its key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_media::{Decryptor, FileKey};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let key = FileKey::from_bytes([0x42; 32]);
    let mut dec = Decryptor::new(&key);
    if cut & 1 == 1 {
        dec = dec.expect_plaintext_len(u64::from(cut) * 97);
    }
    let step = usize::from(cut).max(1);
    let mut out = Vec::new();
    for piece in rest.chunks(step) {
        if dec.update(piece, &mut out).is_err() {
            return;
        }
    }
    let _ = dec.finish(&mut out);
});
