//! The duration probe on arbitrary files: it must never panic, never loop, and read only
//! what it asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_media::duration::probe_file;

fuzz_target!(|data: &[u8]| {
    let _ = probe_file(&mut std::io::Cursor::new(data));
});
