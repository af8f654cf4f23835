//! The demo's media steps: a photo each way across the provider boundary, each checked byte
//! for byte (SHA-256 of what was sent against SHA-256 of what the other side decrypted).
//!
//! - alice (first party) → carol (Birdy): alice's phone encrypts the image while uploading it
//!   into a hub upload slot; carol fetches the ciphertext straight from the hub with the signed
//!   GET URL inside the end-to-end encrypted message (DESIGN.md §7: the hub hosts first-party
//!   media; the URL is the capability) and decrypts it.
//! - carol → alice: carol's app uploads to her own provider (third parties host their users'
//!   media); alice's phone fetches it through the hub's media proxy
//!   (`GET /v1/media/proxy?src=URL`), so Birdy never learns who downloads it.

use std::path::Path;
use std::time::Instant;

use portico_client::{Client, FileOptions, Trust};
use portico_content::{Attachment, Body};
use portico_provider::Ready;
use portico_stanza::Jid;
use sha2::{Digest, Sha256};

use super::{DemoError, Step, say};

/// Who is who in the media steps.
pub(super) struct Parties<'a> {
    /// alice's phone (first party).
    pub alice: &'a mut Client,
    /// carol's app (Birdy's user).
    pub carol: &'a mut Client,
    /// carol's enlisted JID at the hub.
    pub carol_jid: &'a Jid,
    /// The running provider.
    pub birdy: &'a Ready,
    /// carol's Birdy session token (for `POST /v1/media/slot`).
    pub carol_session: &'a str,
    /// The hub (its `/metrics` show which way each photo went).
    pub hub: &'a super::DemoHub,
}

/// Runs the two media steps.
pub(super) async fn steps(step: &mut Step, dir: &Path, p: Parties<'_>) -> Result<(), DemoError> {
    let alice_jid = p.alice.jid().clone();

    step.next("alice sends carol a photo: hosted by the hub, fetched by carol with its signed URL");
    let photo = dir.join("sunrise.png");
    let bytes = png(256, 192, 0);
    std::fs::write(&photo, &bytes)?;
    let sent = Figures::of(&bytes);
    say(
        "alice phone",
        &format!("sends sunrise.png (256×192 PNG, {sent}), encrypted while it uploads"),
    );
    let a = p
        .alice
        .upload_file(&photo, FileOptions::default())
        .await
        .map_err(|e| step.check(e.to_string()))?;
    let url = a.url.clone();
    p.alice
        .send_attachment(p.carol_jid, a)
        .await
        .map_err(|e| step.check(e.to_string()))?;
    say(
        "hub",
        &format!("stores the ciphertext at {}", shorten(&url)),
    );
    let a = attachment(step, p.carol, "carol receiving the photo").await?;
    if !a.url.starts_with("https://localhost:") || a.url.contains("/v1/media/proxy") {
        return Err(step.check(format!("the photo is not hub-hosted: {}", a.url)));
    }
    say(
        "carol@birdy",
        &format!(
            "receives {} ({}, {}×{}, {} bytes) from {alice_jid}",
            a.file_name, a.content_type, a.width, a.height, a.size
        ),
    );
    let started = Instant::now();
    let got = download(step, p.carol, &a, &dir.join("carol-got.png")).await?;
    say(
        "carol@birdy",
        &format!(
            "fetches it from the hub with the signed URL, decrypts it in {} ms: {got}",
            started.elapsed().as_millis()
        ),
    );
    same(step, "carol@birdy", &sent, &got)?;

    step.next("carol sends a photo back: hosted by Birdy, fetched through the hub's media proxy");
    let photo = dir.join("harbour.png");
    let bytes = png(320, 240, 1);
    std::fs::write(&photo, &bytes)?;
    let sent = Figures::of(&bytes);
    say(
        "carol@birdy",
        &format!("sends harbour.png (320×240 PNG, {sent}), uploaded to Birdy, not to the hub"),
    );
    let a = p
        .carol
        .upload_file_to_provider(
            &p.birdy.url,
            &Trust::CaBundle(p.birdy.cert_path.clone()),
            p.carol_session,
            &photo,
            FileOptions::default(),
        )
        .await
        .map_err(|e| step.check(e.to_string()))?;
    if !a.url.starts_with(&p.birdy.url) {
        return Err(step.check(format!("the photo is not hosted by Birdy: {}", a.url)));
    }
    say(
        "birdy",
        &format!("stores the ciphertext at {}", shorten(&a.url)),
    );
    p.carol
        .send_attachment(&alice_jid, a)
        .await
        .map_err(|e| step.check(e.to_string()))?;
    let a = attachment(step, p.alice, "alice receiving carol's photo").await?;
    say(
        "alice phone",
        &format!(
            "receives {} ({}, {}×{}, {} bytes) from carol",
            a.file_name, a.content_type, a.width, a.height, a.size
        ),
    );
    let started = Instant::now();
    let got = download(step, p.alice, &a, &dir.join("alice-got.png")).await?;
    say(
        "alice phone",
        &format!(
            "fetches it through the hub's proxy (GET /v1/media/proxy?src=…), decrypts it in {} ms: {got}",
            started.elapsed().as_millis()
        ),
    );
    same(step, "alice phone", &sent, &got)?;
    proxy_figures(step, p.hub, sent.size).await
}

/// Reads the hub's `/metrics` and checks the media went the way the steps say: one upload
/// into a hub slot (alice's), and exactly one proxied fetch (alice's of carol's photo, its
/// whole ciphertext relayed); carol fetched alice's photo directly, not through the proxy.
async fn proxy_figures(step: &Step, hub: &super::DemoHub, plain: usize) -> Result<(), DemoError> {
    use portico_client::portico_media::{DEFAULT_CHUNK_SIZE, ciphertext_len};
    let expected = ciphertext_len(plain as u64, DEFAULT_CHUNK_SIZE);
    let deadline = tokio::time::Instant::now() + super::STEP_TIMEOUT;
    let (fetches, relayed, stored) = loop {
        let text = metrics(hub)
            .await
            .map_err(|e| step.check(format!("cannot read the hub's /metrics: {e}")))?;
        let value = |series: &str| {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(series)?
                        .strip_prefix(' ')?
                        .parse::<u64>()
                        .ok()
                })
                .unwrap_or(0)
        };
        let figures = (
            value("portico_media_proxy_fetches_total{outcome=\"ok\"}"),
            value("portico_media_proxied_bytes_total"),
            value("portico_media_uploads_total{outcome=\"stored\"}"),
        );
        // The fetch is counted just after its last byte left; give it a moment.
        if figures.0 >= 1 || tokio::time::Instant::now() > deadline {
            break figures;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    if (fetches, relayed, stored) != (1, expected, 1) {
        return Err(step.check(format!(
            "the hub counted {stored} uploads, {fetches} proxied fetches and {relayed} bytes \
             relayed; expected 1 upload (alice's), 1 fetch (alice's of carol's photo) and its \
             {expected} bytes of ciphertext"
        )));
    }
    say(
        "hub",
        &format!(
            "/metrics: 1 upload stored (alice's), 1 proxied fetch (alice's), {relayed} bytes of \
             ciphertext relayed; carol's fetch never touched the proxy"
        ),
    );
    Ok(())
}

/// `GET /metrics` on the hub's HTTPS port, trusting its self-signed certificate.
async fn metrics(hub: &super::DemoHub) -> Result<String, Box<dyn std::error::Error>> {
    use portico_client::portico_media::net;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pem = std::fs::read_to_string(hub.config.data_dir.join("tls-cert.pem"))?;
    let tls = net::tls_config_from_pem(&pem)?;
    let tcp = tokio::net::TcpStream::connect(hub.http).await?;
    let mut s = tokio_rustls::TlsConnector::from(tls)
        .connect(net::server_name("localhost")?, tcp)
        .await?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut out = Vec::new();
    // The hub may close without a TLS close_notify; what arrived is the answer.
    let _ = tokio::time::timeout(super::STEP_TIMEOUT, s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => Err(format!("unexpected answer: {}", text.lines().next().unwrap_or("")).into()),
    }
}

/// Size and SHA-256 of some bytes, as the demo prints them.
#[derive(Debug, PartialEq, Eq)]
struct Figures {
    size: usize,
    sha256: String,
}

impl Figures {
    fn of(bytes: &[u8]) -> Figures {
        Figures {
            size: bytes.len(),
            sha256: portico_client::portico_media::blob::hex(&Sha256::digest(bytes)),
        }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes, SHA-256 {}", self.size, self.sha256)
    }
}

/// A URL with its long tail (ids, signatures) cut, for narration.
fn shorten(url: &str) -> String {
    match url.char_indices().nth(72) {
        Some((i, _)) => format!("{}…", &url[..i]),
        None => url.to_owned(),
    }
}

/// Waits for an attachment message on `client`.
async fn attachment(
    step: &Step,
    client: &mut Client,
    waited: &str,
) -> Result<Attachment, DemoError> {
    step.wait(client, waited, |ev| match ev {
        portico_client::Event::Message { content, .. } => match &content.body {
            Some(Body::Attachment(a)) => Some(a.clone()),
            _ => None,
        },
        _ => None,
    })
    .await
}

/// Downloads and verifies `a` into `dest`; the figures of the decrypted file.
async fn download(
    step: &Step,
    client: &Client,
    a: &Attachment,
    dest: &Path,
) -> Result<Figures, DemoError> {
    let done = tokio::time::timeout(super::STEP_TIMEOUT, client.download(a, dest))
        .await
        .map_err(|_| step.check("the download did not finish in time".into()))?
        .map_err(|e| step.check(format!("the download failed: {e}")))?;
    let bytes = std::fs::read(&done.path)?;
    Ok(Figures::of(&bytes))
}

/// Checks the received figures equal the sent ones and says so.
fn same(step: &Step, who: &str, sent: &Figures, got: &Figures) -> Result<(), DemoError> {
    if sent != got {
        return Err(step.check(format!(
            "the decrypted photo differs from the sent one: sent {sent}, got {got}"
        )));
    }
    say(
        who,
        &format!("same bytes as sent ✓ ({} bytes, SHA-256 matches)", got.size),
    );
    Ok(())
}

/// A `width`×`height` RGB PNG of a gradient (style `variant`), made on the fly: zlib with
/// stored (uncompressed) deflate blocks, so no encoder is needed.
pub(super) fn png(width: u32, height: u32, variant: u8) -> Vec<u8> {
    let mut raw = Vec::with_capacity((height * (1 + 3 * width)) as usize);
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            let (r, g, b) = (
                (x * 255 / width.max(1)) as u8,
                (y * 255 / height.max(1)) as u8,
                ((x + y) as u8).wrapping_mul(3) ^ variant.wrapping_mul(0x5a),
            );
            raw.extend_from_slice(&[r, g, b]);
        }
    }
    let mut z = vec![0x78, 0x01];
    let mut blocks = raw.chunks(65_535).peekable();
    while let Some(block) = blocks.next() {
        z.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter variants, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &z[..]), (b"IEND", &[][..])] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

/// CRC-32 (ISO-HDLC, as PNG chunks use it), bitwise.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Adler-32 (RFC 1950), as zlib streams end with it.
fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::{adler32, crc32, png};

    #[test]
    fn checksums_match_their_published_check_values() {
        // The CRC catalogue's check value for CRC-32/ISO-HDLC, and RFC 1950's Adler-32 example.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn the_png_has_its_header_size_and_ends_with_iend() {
        let p = png(256, 192, 0);
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&p[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes([p[16], p[17], p[18], p[19]]), 256);
        assert_eq!(u32::from_be_bytes([p[20], p[21], p[22], p[23]]), 192);
        assert_eq!(&p[p.len() - 8..p.len() - 4], b"IEND");
        assert!(p.len() > 192 * (1 + 3 * 256), "stored, not compressed");
        assert_ne!(png(256, 192, 0), png(256, 192, 1), "variants differ");
    }
}
