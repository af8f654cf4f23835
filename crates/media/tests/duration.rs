//! Durations of real files (made once with ffmpeg and Python's `wave`, committed under
//! `tests/fixtures`; their durations per ffprobe in the comments), of edited copies (a `moov`
//! behind a large `mdat`, a version-1 `mvhd`), and the refusals of damaged files; proptests
//! that no input panics.

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::time::Duration;

use portico_media::duration::{DurationError, HEAD_LEN, Probe, Step, probe_file};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn probe(bytes: &[u8]) -> Result<Option<Duration>, DurationError> {
    probe_file(&mut Cursor::new(bytes))
}

fn ms(bytes: &[u8]) -> u128 {
    probe(bytes)
        .expect("a duration")
        .expect("a known duration")
        .as_millis()
}

#[test]
fn real_files_give_the_duration_ffprobe_reports() {
    // (file, ffprobe's duration in ms, tolerance in ms).
    let cases = [
        ("tone.wav", 1250, 0),           // 8 kHz 8-bit mono, 10000 frames
        ("tone.opus", 2500, 0),          // Opus: 2.5 s of sine
        ("tone.ogg", 1500, 0),           // Vorbis, 22.05 kHz
        ("tone-faststart.m4a", 2000, 0), // AAC, moov before mdat
        ("tone-moov-end.m4a", 2000, 0),  // AAC, moov after mdat
        ("clip.mp4", 3000, 0),           // MPEG-4 video, 5 fps
        ("clip.mov", 1200, 0),           // QuickTime
    ];
    for (name, expected, tolerance) in cases {
        let got = ms(&fixture(name));
        assert!(
            got.abs_diff(expected) <= tolerance,
            "{name}: {got} ms, expected {expected} ± {tolerance}"
        );
    }
}

/// A `Read + Seek` over a buffer that records every read's size.
struct Counting {
    inner: Cursor<Vec<u8>>,
    read: usize,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n;
        Ok(n)
    }
}

impl Seek for Counting {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Top-level boxes of an MP4 file.
fn boxes(b: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut p = 0;
    while p + 8 <= b.len() {
        let size = u32::from_be_bytes(b[p..p + 4].try_into().expect("4")) as usize;
        out.push((
            String::from_utf8_lossy(&b[p + 4..p + 8]).into_owned(),
            b[p..p + size].to_vec(),
        ));
        p += size;
    }
    out
}

#[test]
fn a_moov_behind_a_large_mdat_is_found_with_small_reads() {
    let original = fixture("tone-moov-end.m4a");
    let mut file = Vec::new();
    for (kind, bytes) in boxes(&original) {
        if kind == "mdat" {
            // An 8 MiB mdat.
            let size = 8 * 1024 * 1024 + 8;
            file.extend_from_slice(&(size as u32).to_be_bytes());
            file.extend_from_slice(b"mdat");
            file.resize(file.len() + size - 8, 0);
        } else {
            file.extend_from_slice(&bytes);
        }
    }
    let mut f = Counting {
        inner: Cursor::new(file),
        read: 0,
    };
    let d = probe_file(&mut f).expect("probe").expect("duration");
    assert_eq!(d.as_millis(), 2000);
    assert!(f.read <= HEAD_LEN + 2048, "read {} bytes", f.read);
}

/// A minimal MP4: ftyp, then moov holding one mvhd.
fn mp4_with_mvhd(mvhd_body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&16u32.to_be_bytes());
    out.extend_from_slice(b"ftypisom\0\0\0\x01");
    let mvhd_len = 8 + mvhd_body.len();
    out.extend_from_slice(&((8 + mvhd_len) as u32).to_be_bytes());
    out.extend_from_slice(b"moov");
    out.extend_from_slice(&(mvhd_len as u32).to_be_bytes());
    out.extend_from_slice(b"mvhd");
    out.extend_from_slice(mvhd_body);
    out
}

#[test]
fn mvhd_versions_0_and_1_and_their_defects() {
    let mut v0 = vec![0u8; 100];
    v0[12..16].copy_from_slice(&600u32.to_be_bytes());
    v0[16..20].copy_from_slice(&4500u32.to_be_bytes());
    assert_eq!(ms(&mp4_with_mvhd(&v0)), 7500);

    let mut v1 = vec![0u8; 112];
    v1[0] = 1;
    v1[20..24].copy_from_slice(&90_000u32.to_be_bytes());
    v1[24..32].copy_from_slice(&(90_000u64 * 3600 * 30).to_be_bytes());
    assert_eq!(ms(&mp4_with_mvhd(&v1)), 30 * 3600 * 1000);

    let mut unknown = v0.clone();
    unknown[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(probe(&mp4_with_mvhd(&unknown)), Ok(None));

    let mut zero = v0.clone();
    zero[12..16].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(
        probe(&mp4_with_mvhd(&zero)),
        Err(DurationError::ZeroTimescale)
    );
    let mut v2 = v0.clone();
    v2[0] = 2;
    assert_eq!(
        probe(&mp4_with_mvhd(&v2)),
        Err(DurationError::MvhdVersion(2))
    );
    assert_eq!(
        probe(&mp4_with_mvhd(&v0[..14])),
        Err(DurationError::ShortMvhd)
    );
}

#[test]
fn damaged_files_get_specific_errors() {
    // MP4 cut before its moov (a recording that never finished).
    let m4a = fixture("tone-moov-end.m4a");
    let moov_at = m4a.len() - 895;
    assert_eq!(probe(&m4a[..moov_at]), Err(DurationError::NoMoov));
    // A box size beyond the end of the file.
    let mut bad = fixture("clip.mp4");
    bad[36..40].copy_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
    assert_eq!(probe(&bad), Err(DurationError::BadBoxSize { offset: 36 }));
    // A box size smaller than its header.
    bad[36..40].copy_from_slice(&3u32.to_be_bytes());
    assert_eq!(probe(&bad), Err(DurationError::BadBoxSize { offset: 36 }));

    // WAV without its data chunk, and with a zero byte rate.
    let wav = fixture("tone.wav");
    assert_eq!(
        probe(&wav[..40]),
        Err(DurationError::WavMissingChunk("data"))
    );
    let mut zero = wav.clone();
    zero[28..32].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(probe(&zero), Err(DurationError::ZeroByteRate));

    // Ogg cut in its last page: the previous intact page counts (a shorter duration);
    // cut inside its first page: refused.
    let opus = fixture("tone.opus");
    let cut = probe(&opus[..opus.len() - 10])
        .expect("earlier page")
        .expect("duration");
    assert!(cut < Duration::from_millis(2500));
    assert!(matches!(
        probe(&opus[..40]),
        Err(DurationError::BadOggHead(_))
    ));
    // Damage every page's CRC but the first two (the headers, granule position 0): the
    // headers' granule position is before the pre-skip.
    let mut broken = opus.clone();
    let starts: Vec<usize> = broken
        .windows(4)
        .enumerate()
        .filter(|(_, w)| w == b"OggS")
        .map(|(i, _)| i)
        .collect();
    for &s in &starts[2..] {
        broken[s + 22] ^= 0xFF;
    }
    assert_eq!(probe(&broken), Err(DurationError::GranuleBeforePreSkip));
    // Damage them all but the first: no intact final page.
    broken[starts[1] + 22] ^= 0xFF;
    assert_eq!(probe(&broken), Err(DurationError::NoFinalOggPage));
}

#[test]
fn other_files_are_unknown() {
    assert_eq!(probe(b""), Ok(None));
    assert_eq!(probe(b"just some text, not media"), Ok(None));
    assert_eq!(probe(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Ok(None));
}

#[test]
fn the_probe_refuses_a_wrong_feed() {
    let (mut p, step) = Probe::start(1000);
    assert_eq!(
        step,
        Step::Read {
            offset: 0,
            len: 1000
        }
    );
    assert_eq!(
        p.feed(&[0u8; 10]),
        Err(DurationError::WrongFeed {
            offset: 0,
            wanted: 1000,
            got: 10
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = probe(&bytes);
    }

    #[test]
    fn damaged_fixtures_never_panic(
        which in 0usize..7,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
    ) {
        let names = ["tone.wav", "tone.opus", "tone.ogg", "tone-faststart.m4a",
            "tone-moov-end.m4a", "clip.mp4", "clip.mov"];
        let mut f = fixture(names[which]);
        for (at, byte) in edits {
            let i = at.index(f.len());
            f[i] = byte;
        }
        let keep = cut.index(f.len() + 1);
        let _ = probe(&f[..keep]);
    }
}
