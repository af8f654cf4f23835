//! The play time of an audio or video file, where its container states it, read from a few
//! small pieces of the file (sans-IO: [`Probe`] says which bytes it wants, the caller reads
//! them and feeds them back; [`probe_file`] does the reading for a `std` file).
//!
//! - MP4, M4A, MOV (ISO base media, QuickTime): `moov/mvhd` timescale and duration, versions
//!   0 and 1; the top-level boxes are walked by their headers, so a `moov` after a large
//!   `mdat` costs a few small reads.
//! - WAV (RIFF/WAVE): the `data` chunk's size over the `fmt ` chunk's byte rate.
//! - Ogg Opus: the granule position of the stream's last page over 48 kHz, less the pre-skip.
//! - Ogg Vorbis: the last page's granule position over the identification header's sample rate.
//!
//! Anything else is "unknown" (`Ok(None)`); a file of a known kind that is malformed gets the
//! [`DurationError`] variant naming what is wrong. Nothing here panics on any input.

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

/// Bytes read from the start of the file.
pub const HEAD_LEN: usize = 64 * 1024;
/// Bytes read from the end of an Ogg file: the largest possible Ogg page (27 + 255 + 255·255).
pub const OGG_TAIL_LEN: usize = 27 + 255 + 255 * 255;
/// Most bytes of a `moov` box read to find its `mvhd` (normally its first child).
const MOOV_READ_MAX: u64 = 1024 * 1024;
/// Most top-level MP4 boxes stepped over looking for `moov`.
const MAX_BOX_STEPS: u32 = 64;

/// Why a file of a known kind has no readable duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// An MP4 box declares a size smaller than its header or beyond the end of the file.
    #[error("the MP4 box at byte {offset} has an impossible size; the file is damaged")]
    BadBoxSize {
        /// Where the box starts.
        offset: u64,
    },
    /// No `moov` box among the first top-level boxes or before the end of the file.
    #[error("the MP4 file has no moov box; it is incomplete (still being recorded?) or damaged")]
    NoMoov,
    /// The `moov` box holds no `mvhd` box within its first megabyte.
    #[error("the MP4 moov box has no mvhd (movie header) box")]
    NoMvhd,
    /// The `mvhd` box is shorter than its version requires.
    #[error("the MP4 mvhd box is cut short")]
    ShortMvhd,
    /// The `mvhd` box has a version other than 0 or 1.
    #[error("the MP4 mvhd box has unknown version {0}")]
    MvhdVersion(u8),
    /// The `mvhd` timescale is 0.
    #[error("the MP4 mvhd box has a timescale of 0")]
    ZeroTimescale,
    /// The WAV file lacks its `fmt ` or `data` chunk in its first 64 KiB.
    #[error("the WAV file has no {0} chunk in its first 64 KiB")]
    WavMissingChunk(&'static str),
    /// The WAV `fmt ` chunk is shorter than 16 bytes.
    #[error("the WAV fmt chunk is cut short")]
    ShortWavFmt,
    /// The WAV byte rate is 0.
    #[error("the WAV fmt chunk has a byte rate of 0")]
    ZeroByteRate,
    /// The first Ogg page is damaged or holds no Opus/Vorbis identification header.
    #[error("the Ogg file's first page is damaged: {0}")]
    BadOggHead(&'static str),
    /// The Ogg stream is neither Opus nor Vorbis.
    #[error("the Ogg stream is neither Opus nor Vorbis")]
    UnknownOggCodec,
    /// The identification header gives a sample rate of 0.
    #[error("the Ogg Vorbis identification header has a sample rate of 0")]
    ZeroSampleRate,
    /// No intact page of the stream with a granule position in the file's last 64 KiB.
    #[error("no intact final Ogg page with a granule position; the file is truncated or damaged")]
    NoFinalOggPage,
    /// The final granule position is before the Opus pre-skip.
    #[error("the Ogg Opus final granule position is smaller than the pre-skip")]
    GranuleBeforePreSkip,
    /// The bytes fed are not those asked for.
    #[error("the probe was fed {got} bytes where it asked for {wanted} at byte {offset}")]
    WrongFeed {
        /// Where the read was asked.
        offset: u64,
        /// How many bytes were asked (at most; fewer only at the end of the file).
        wanted: usize,
        /// How many came.
        got: usize,
    },
    /// Reading the file failed.
    #[error("reading the media file failed: {0}")]
    Io(String),
}

/// What a step of the probe came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Read `len` bytes at `offset` (fewer only where the file ends) and [`Probe::feed`] them.
    Read {
        /// Where to read.
        offset: u64,
        /// How many bytes.
        len: usize,
    },
    /// The container states this duration.
    Done(Duration),
    /// Not a container this module reads, or the container does not state a duration.
    Unknown,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Head,
    Mp4Box { offset: u64, steps: u32 },
    Mp4Moov,
    OggTail { serial: u32, codec: OggCodec },
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OggCodec {
    Opus { pre_skip: u64 },
    Vorbis { rate: u64 },
}

/// A sans-IO duration probe for one file: start with [`Probe::start`], then read what each
/// [`Step::Read`] asks and pass it to [`Probe::feed`] until a [`Step::Done`] or
/// [`Step::Unknown`].
#[derive(Debug, Clone)]
pub struct Probe {
    file_len: u64,
    state: State,
    wanted: (u64, usize),
}

impl Probe {
    /// A probe for a file of `file_len` bytes, and the first read it needs.
    pub fn start(file_len: u64) -> (Self, Step) {
        let mut p = Self {
            file_len,
            state: State::Head,
            wanted: (0, 0),
        };
        let step = p.read(0, HEAD_LEN as u64);
        (p, step)
    }

    /// Feeds the bytes read for the last [`Step::Read`]; returns the next step.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Step, DurationError> {
        let (offset, wanted) = self.wanted;
        let expected =
            wanted.min(usize::try_from(self.file_len.saturating_sub(offset)).unwrap_or(wanted));
        if bytes.len() != expected {
            self.state = State::Finished;
            return Err(DurationError::WrongFeed {
                offset,
                wanted,
                got: bytes.len(),
            });
        }
        let state = std::mem::replace(&mut self.state, State::Finished);
        match state {
            State::Head => self.head(bytes),
            State::Mp4Box { offset, steps } => self.mp4_walk(offset, bytes, steps),
            State::Mp4Moov => mp4_moov(bytes),
            State::OggTail { serial, codec } => ogg_tail(bytes, serial, codec),
            State::Finished => Ok(Step::Unknown),
        }
    }

    fn read(&mut self, offset: u64, len: u64) -> Step {
        let len = len.min(self.file_len.saturating_sub(offset));
        let len = usize::try_from(len).unwrap_or(HEAD_LEN);
        self.wanted = (offset, len);
        Step::Read { offset, len }
    }

    fn head(&mut self, head: &[u8]) -> Result<Step, DurationError> {
        if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WAVE" {
            return wav(head, self.file_len);
        }
        if head.starts_with(b"OggS") {
            let (serial, codec) = ogg_head(head)?;
            let offset = self.file_len.saturating_sub(OGG_TAIL_LEN as u64);
            self.state = State::OggTail { serial, codec };
            return Ok(self.read(offset, OGG_TAIL_LEN as u64));
        }
        if head.len() >= 8
            && matches!(
                &head[4..8],
                b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free" | b"skip"
            )
        {
            return self.mp4_walk(0, head, 0);
        }
        Ok(Step::Unknown)
    }

    /// Walks top-level boxes in `bytes` (read at `offset`) looking for `moov`.
    fn mp4_walk(
        &mut self,
        offset: u64,
        bytes: &[u8],
        mut steps: u32,
    ) -> Result<Step, DurationError> {
        let mut pos = 0usize;
        loop {
            let here = offset + pos as u64;
            if here >= self.file_len {
                return Err(DurationError::NoMoov);
            }
            steps += 1;
            if steps > MAX_BOX_STEPS {
                return Err(DurationError::NoMoov);
            }
            let Some((kind, header, size)) =
                box_header(&bytes[pos.min(bytes.len())..], self.file_len - here)
            else {
                if pos == 0 {
                    // Even a fresh read at this position holds no whole box header.
                    return Err(DurationError::BadBoxSize { offset: here });
                }
                // The header is not within what was read: read it.
                self.state = State::Mp4Box {
                    offset: here,
                    steps: steps - 1,
                };
                return Ok(self.read(here, 16));
            };
            if size < header as u64 || here.saturating_add(size) > self.file_len {
                return Err(DurationError::BadBoxSize { offset: here });
            }
            if &kind == b"moov" {
                let in_hand = bytes.len() - pos;
                if in_hand as u64 >= size.min(MOOV_READ_MAX) {
                    let end = pos + usize::try_from(size.min(MOOV_READ_MAX)).unwrap_or(in_hand);
                    return mp4_moov(&bytes[pos..end.min(bytes.len())]);
                }
                self.state = State::Mp4Moov;
                return Ok(self.read(here, size.min(MOOV_READ_MAX)));
            }
            match usize::try_from(size).ok().and_then(|s| pos.checked_add(s)) {
                Some(next) if next <= bytes.len() => pos = next,
                _ => {
                    let next = here + size;
                    if next >= self.file_len {
                        return Err(DurationError::NoMoov);
                    }
                    self.state = State::Mp4Box {
                        offset: next,
                        steps,
                    };
                    return Ok(self.read(next, 16));
                }
            }
        }
    }
}

/// An ISO box header at the start of `b`: (type, header length, box size), `None` when `b`
/// holds too few bytes. A size of 0 means "to the end": `rest` bytes.
fn box_header(b: &[u8], rest: u64) -> Option<([u8; 4], usize, u64)> {
    let size = u32::from_be_bytes(b.get(..4)?.try_into().ok()?);
    let kind: [u8; 4] = b.get(4..8)?.try_into().ok()?;
    match size {
        0 => Some((kind, 8, rest)),
        1 => Some((kind, 16, u64::from_be_bytes(b.get(8..16)?.try_into().ok()?))),
        n => Some((kind, 8, u64::from(n))),
    }
}

/// The duration in the `mvhd` child of the `moov` box that starts `moov`.
fn mp4_moov(moov: &[u8]) -> Result<Step, DurationError> {
    let Some((_, header, _)) = box_header(moov, moov.len() as u64) else {
        return Err(DurationError::NoMvhd);
    };
    let mut pos = header;
    while let Some((kind, h, size)) = box_header(
        moov.get(pos..).unwrap_or(&[]),
        (moov.len() - pos.min(moov.len())) as u64,
    ) {
        if size < h as u64 {
            return Err(DurationError::BadBoxSize { offset: pos as u64 });
        }
        if &kind == b"mvhd" {
            let end = usize::try_from(size)
                .ok()
                .and_then(|s| pos.checked_add(s))
                .unwrap_or(usize::MAX);
            let body = moov.get(pos + h..end.min(moov.len())).unwrap_or(&[]);
            return mvhd(body);
        }
        match usize::try_from(size).ok().and_then(|s| pos.checked_add(s)) {
            Some(next) => pos = next,
            None => break,
        }
    }
    Err(DurationError::NoMvhd)
}

fn be_u32(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u32::from_be_bytes(
        b.get(at..at + 4)?.try_into().ok()?,
    )))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// `mvhd` body (after the box header): version, flags, times, timescale, duration.
fn mvhd(body: &[u8]) -> Result<Step, DurationError> {
    let version = *body.first().ok_or(DurationError::ShortMvhd)?;
    let (timescale, duration, unknown) = match version {
        0 => (be_u32(body, 12), be_u32(body, 16), u64::from(u32::MAX)),
        1 => (be_u32(body, 20), be_u64(body, 24), u64::MAX),
        v => return Err(DurationError::MvhdVersion(v)),
    };
    let (Some(timescale), Some(duration)) = (timescale, duration) else {
        return Err(DurationError::ShortMvhd);
    };
    if timescale == 0 {
        return Err(DurationError::ZeroTimescale);
    }
    if duration == unknown {
        return Ok(Step::Unknown);
    }
    Ok(Step::Done(ratio(duration, timescale)))
}

/// `units / per_second` seconds, to the microsecond, saturating.
fn ratio(units: u64, per_second: u64) -> Duration {
    let micros = u128::from(units) * 1_000_000 / u128::from(per_second.max(1));
    Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
}

fn le_u16(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le_u32(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes(
        b.get(at..at + 4)?.try_into().ok()?,
    )))
}

/// WAV: walk the RIFF chunks of the head for `fmt ` and `data`.
fn wav(head: &[u8], file_len: u64) -> Result<Step, DurationError> {
    let mut pos = 12usize;
    let mut byte_rate = None;
    while let (Some(id), Some(size)) = (head.get(pos..pos + 4), le_u32(head, pos + 4)) {
        let body = pos + 8;
        match id {
            b"fmt " => {
                if size < 16 {
                    return Err(DurationError::ShortWavFmt);
                }
                let rate = le_u32(head, body + 8).ok_or(DurationError::ShortWavFmt)?;
                // The format tag is read only to be sure the chunk is there in full.
                le_u16(head, body).ok_or(DurationError::ShortWavFmt)?;
                byte_rate = Some(rate);
            }
            b"data" => {
                let rate = byte_rate.ok_or(DurationError::WavMissingChunk("fmt"))?;
                if rate == 0 {
                    return Err(DurationError::ZeroByteRate);
                }
                // A streamed WAV may leave the size at 0 or all ones: count to the end.
                let available = file_len.saturating_sub(body as u64);
                let data = if size == 0 || size == u64::from(u32::MAX) {
                    available
                } else {
                    size.min(available)
                };
                return Ok(Step::Done(ratio(data, rate)));
            }
            _ => {}
        }
        let padded = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(s & 1));
        pos = match padded.and_then(|s| body.checked_add(s)) {
            Some(next) => next,
            None => break,
        };
    }
    Err(DurationError::WavMissingChunk(if byte_rate.is_some() {
        "data"
    } else {
        "fmt"
    }))
}

/// An Ogg page at the start of `b`: (header length, body length), `None` when malformed or
/// incomplete.
fn ogg_page(b: &[u8]) -> Option<(usize, usize)> {
    if b.get(..4)? != b"OggS" || *b.get(4)? != 0 {
        return None;
    }
    let segments = usize::from(*b.get(26)?);
    let table = b.get(27..27 + segments)?;
    let body: usize = table.iter().map(|&s| usize::from(s)).sum();
    let header = 27 + segments;
    b.get(header..header + body)?;
    Some((header, body))
}

/// The first page: stream serial and codec from the identification header.
fn ogg_head(head: &[u8]) -> Result<(u32, OggCodec), DurationError> {
    let (header, body) = ogg_page(head).ok_or(DurationError::BadOggHead("not a whole Ogg page"))?;
    let serial = le_u32(head, 14).ok_or(DurationError::BadOggHead("short page header"))?;
    let packet = &head[header..header + body];
    if packet.starts_with(b"OpusHead") {
        let pre_skip = le_u16(packet, 10).ok_or(DurationError::BadOggHead("short OpusHead"))?;
        return Ok((serial as u32, OggCodec::Opus { pre_skip }));
    }
    if packet.starts_with(b"\x01vorbis") {
        let rate = le_u32(packet, 12).ok_or(DurationError::BadOggHead("short Vorbis header"))?;
        if rate == 0 {
            return Err(DurationError::ZeroSampleRate);
        }
        return Ok((serial as u32, OggCodec::Vorbis { rate }));
    }
    Err(DurationError::UnknownOggCodec)
}

/// The Ogg CRC-32 (polynomial 0x04C11DB7, no reflection, initial value and final XOR 0) of
/// a page with its CRC field taken as zero.
fn ogg_crc(page: &[u8]) -> u32 {
    let mut crc = 0u32;
    for (i, &byte) in page.iter().enumerate() {
        let byte = if (22..26).contains(&i) { 0 } else { byte };
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The last intact page of stream `serial` in `tail` with a granule position.
fn ogg_tail(tail: &[u8], serial: u32, codec: OggCodec) -> Result<Step, DurationError> {
    let mut end = tail.len();
    while let Some(start) = tail[..end].windows(4).rposition(|w| w == b"OggS") {
        end = start;
        let page = &tail[start..];
        let Some((header, body)) = ogg_page(page) else {
            continue;
        };
        let page = &page[..header + body];
        let stored = le_u32(page, 22).unwrap_or(0) as u32;
        if ogg_crc(page) != stored || le_u32(page, 14) != Some(u64::from(serial)) {
            continue;
        }
        let granule = le_u32(page, 6)
            .zip(le_u32(page, 10))
            .map(|(lo, hi)| lo | hi << 32)
            .unwrap_or(u64::MAX);
        // No granule position on this page, or the first page (the identification header).
        if granule == u64::MAX || page[5] & 0x02 != 0 {
            continue;
        }
        return match codec {
            OggCodec::Opus { pre_skip } => {
                let samples = granule
                    .checked_sub(pre_skip)
                    .ok_or(DurationError::GranuleBeforePreSkip)?;
                Ok(Step::Done(ratio(samples, 48_000)))
            }
            OggCodec::Vorbis { rate } => Ok(Step::Done(ratio(granule, rate))),
        };
    }
    Err(DurationError::NoFinalOggPage)
}

/// Runs a [`Probe`] over a seekable file: `Ok(None)` when the duration is unknown.
pub fn probe_file<F: Read + Seek>(file: &mut F) -> Result<Option<Duration>, DurationError> {
    let io = |e: std::io::Error| DurationError::Io(e.to_string());
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    let (mut probe, mut step) = Probe::start(len);
    let mut buf = Vec::new();
    loop {
        match step {
            Step::Done(d) => return Ok(Some(d)),
            Step::Unknown => return Ok(None),
            Step::Read { offset, len } => {
                buf.clear();
                buf.resize(len, 0);
                file.seek(SeekFrom::Start(offset)).map_err(io)?;
                file.read_exact(&mut buf).map_err(io)?;
                step = probe.feed(&buf)?;
            }
        }
    }
}
