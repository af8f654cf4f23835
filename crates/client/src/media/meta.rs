//! What the SDK works out about a file it sends when the caller did not say: an image's
//! preview (`portico_media::thumbnail`), an audio or video file's duration
//! (`portico_media::duration`). Never an error: what cannot be worked out is logged
//! and left empty, and the file is sent anyway.

use std::path::Path;

use portico_media::thumbnail::{ThumbnailError, ThumbnailOptions, is_previewable, make_thumbnail};

/// A JPEG preview of the image at `path` if `content_type` is one the SDK previews, else empty;
/// why none was made is logged, never an error: the file is sent anyway.
pub(super) fn auto_thumbnail(
    path: &Path,
    content_type: &str,
    limits: &ThumbnailOptions,
) -> Vec<u8> {
    if !is_previewable(content_type) {
        return Vec::new();
    }
    let made = std::fs::File::open(path)
        .map_err(ThumbnailError::Io)
        .and_then(|f| make_thumbnail(std::io::BufReader::new(f), limits));
    match made {
        Ok(t) => t.jpeg,
        Err(e) => {
            tracing::warn!(file = %path.display(), "sending without a preview: {e}");
            Vec::new()
        }
    }
}

/// The play time in milliseconds of the audio or video file at `path` when its container
/// states it, else 0; why none was found is logged (at debug level for files that are no
/// audio or video), never an error.
pub(super) fn auto_duration_ms(path: &Path, content_type: &str) -> u32 {
    let media = content_type.starts_with("audio/") || content_type.starts_with("video/");
    let found = std::fs::File::open(path)
        .map_err(|e| portico_media::duration::DurationError::Io(e.to_string()))
        .and_then(|mut f| portico_media::duration::probe_file(&mut f));
    match found {
        Ok(Some(d)) => u32::try_from(d.as_millis()).unwrap_or(u32::MAX),
        Ok(None) => {
            if media {
                tracing::debug!(file = %path.display(), "its container states no duration");
            }
            0
        }
        Err(e) => {
            if media {
                tracing::warn!(file = %path.display(), "sending without a duration: {e}");
            }
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, w: u32, h: u32) {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 90]));
        img.save_with_format(path, image::ImageFormat::Png)
            .expect("write png");
    }

    #[test]
    fn an_image_gets_a_jpeg_preview_within_the_box() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("photo.png");
        write_png(&p, 640, 480);
        let jpeg = auto_thumbnail(&p, "image/png", &ThumbnailOptions::default());
        let t = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg)
            .expect("the preview is a JPEG");
        assert_eq!((t.width(), t.height()), (256, 192));
    }

    #[test]
    fn no_preview_for_non_images_bombs_and_over_limit_images_and_no_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let doc = dir.path().join("notes.txt");
        std::fs::write(&doc, b"hello").expect("write");
        assert!(auto_thumbnail(&doc, "text/plain", &ThumbnailOptions::default()).is_empty());
        // Claimed to be an image, but is not.
        assert!(auto_thumbnail(&doc, "image/png", &ThumbnailOptions::default()).is_empty());
        // Over the caller's limit: sent without a preview.
        let p = dir.path().join("big.png");
        write_png(&p, 640, 480);
        let tight = ThumbnailOptions {
            max_width: 320,
            ..ThumbnailOptions::default()
        };
        assert!(auto_thumbnail(&p, "image/png", &tight).is_empty());
        // A missing file.
        let gone = dir.path().join("gone.png");
        assert!(auto_thumbnail(&gone, "image/png", &ThumbnailOptions::default()).is_empty());
    }

    #[test]
    fn audio_gets_its_duration_and_other_files_zero() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wav = dir.path().join("note.wav");
        // RIFF/WAVE, fmt: PCM mono 8 kHz 8-bit (byte rate 8000), data: 12000 bytes = 1.5 s.
        let mut b = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&[1, 0, 8, 0]);
        b.extend_from_slice(b"data");
        b.extend_from_slice(&12000u32.to_le_bytes());
        b.resize(b.len() + 12000, 128);
        std::fs::write(&wav, &b).expect("write");
        assert_eq!(auto_duration_ms(&wav, "audio/wav"), 1500);
        let doc = dir.path().join("notes.txt");
        std::fs::write(&doc, b"hello").expect("write");
        assert_eq!(auto_duration_ms(&doc, "text/plain"), 0);
        // Damaged: the byte rate is 0.
        b[28..32].copy_from_slice(&0u32.to_le_bytes());
        std::fs::write(&wav, &b).expect("write");
        assert_eq!(auto_duration_ms(&wav, "audio/wav"), 0);
    }
}
