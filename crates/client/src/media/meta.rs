//! What the SDK works out about a file it sends when the caller did not say: an image's
//! preview (`portico_media::thumbnail`). Never an error: what cannot be worked out is logged
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
}
