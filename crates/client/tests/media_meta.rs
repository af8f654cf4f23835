//! What the SDK adds to an attachment the caller described only by its path, end to end
//! through a real hub: an image's preview (and none, without failing, for a decompression
//! bomb), a voice note's duration; the receiver sees them in the attachment message.

mod common;

use common::{TestHub, wait_for};
use portico_client::{Event, FileOptions};
use portico_content::{Attachment, Body};
use portico_stanza::Jid;

fn bob_jid() -> Jid {
    Jid::parse("bob@localhost").expect("jid")
}

async fn next_attachment(client: &mut portico_client::Client) -> Attachment {
    let ev = wait_for(client, "an attachment", |e| {
        matches!(e, Event::Message { content, .. } if matches!(content.body, Some(Body::Attachment(_))))
    })
    .await;
    match ev {
        Event::Message { content, .. } => match content.body {
            Some(Body::Attachment(a)) => a,
            _ => unreachable!(),
        },
        _ => unreachable!(),
    }
}

/// A 1200 x 900 PNG.
fn photo_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(1200, 900, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// 2 s of 8 kHz 8-bit mono PCM in a WAV file.
fn voice_wav() -> Vec<u8> {
    let mut b = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&[1, 0, 8, 0]);
    b.extend_from_slice(b"data");
    b.extend_from_slice(&16_000u32.to_le_bytes());
    b.resize(b.len() + 16_000, 128);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_gets_a_preview_a_bomb_none_and_a_voice_note_its_duration() {
    let hub = TestHub::start(&["alice", "bob"], &[]).await;
    let alice = hub.open("alice", "alice").await;
    let mut bob = hub.open("bob", "bob").await;
    let dir = tempfile::tempdir().expect("tempdir");

    let photo = dir.path().join("photo.png");
    std::fs::write(&photo, photo_png()).expect("write");
    alice
        .send_file(&bob_jid(), &photo, FileOptions::default())
        .await
        .expect("send the photo");
    let a = next_attachment(&mut bob).await;
    assert_eq!(
        (a.content_type.as_str(), a.width, a.height),
        ("image/png", 1200, 900)
    );
    let preview = image::load_from_memory_with_format(&a.thumbnail, image::ImageFormat::Jpeg)
        .expect("the thumbnail is a JPEG");
    assert_eq!((preview.width(), preview.height()), (256, 192));
    assert_eq!(a.duration_ms, 0);

    // The same PNG declaring 100000 x 100000 pixels: sent, without a preview.
    let mut bomb = photo_png();
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let bomb_path = dir.path().join("bomb.png");
    std::fs::write(&bomb_path, &bomb).expect("write");
    alice
        .send_file(&bob_jid(), &bomb_path, FileOptions::default())
        .await
        .expect("a bomb is still sent");
    let a = next_attachment(&mut bob).await;
    assert!(a.thumbnail.is_empty(), "no preview of a bomb");
    assert_eq!(a.size, bomb.len() as u64);
    let got = bob
        .download(&a, &dir.path().join("bomb-received.png"))
        .await
        .expect("download");
    assert_eq!(std::fs::read(&got.path).expect("read"), bomb);

    // A caller's own thumbnail wins; a voice note gets its duration.
    let voice = dir.path().join("voice.wav");
    std::fs::write(&voice, voice_wav()).expect("write");
    alice
        .send_file(
            &bob_jid(),
            &voice,
            FileOptions {
                thumbnail: b"mine".to_vec(),
                ..FileOptions::default()
            },
        )
        .await
        .expect("send the voice note");
    let a = next_attachment(&mut bob).await;
    assert_eq!(
        (a.content_type.as_str(), a.duration_ms),
        ("audio/wav", 2000)
    );
    assert_eq!(a.thumbnail, b"mine");

    // A duration the caller gave is kept.
    alice
        .send_file(
            &bob_jid(),
            &voice,
            FileOptions {
                duration_ms: 1234,
                ..FileOptions::default()
            },
        )
        .await
        .expect("send again");
    assert_eq!(next_attachment(&mut bob).await.duration_ms, 1234);

    // A caller's thumbnail over the attachment message's 64 KiB is refused before the upload.
    let err = alice
        .send_file(
            &bob_jid(),
            &voice,
            FileOptions {
                thumbnail: vec![0; 64 * 1024 + 1],
                ..FileOptions::default()
            },
        )
        .await
        .expect_err("an oversized thumbnail");
    assert!(
        matches!(
            err,
            portico_client::MediaError::ThumbnailTooLarge {
                size: 65537,
                limit: 65536
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("scale it down"), "{err}");
}

/// CRC-32 (IEEE, as PNG chunks use).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
