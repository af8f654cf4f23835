//! The preview maker on arbitrary bytes under tight limits: it must never panic, and must
//! refuse (not attempt) anything over the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_media::thumbnail::{ThumbnailOptions, make_thumbnail};

fuzz_target!(|data: &[u8]| {
    let opts = ThumbnailOptions {
        max_width: 1024,
        max_height: 1024,
        max_alloc: 8 * 1024 * 1024,
        ..ThumbnailOptions::default()
    };
    if let Ok(t) = make_thumbnail(std::io::Cursor::new(data), &opts) {
        assert!(t.width <= opts.max_side && t.height <= opts.max_side);
        assert!(t.jpeg.len() <= opts.max_bytes);
    }
});
