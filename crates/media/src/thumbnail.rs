//! Image previews for attachments (feature `thumbnail`): decode a PNG, JPEG, GIF or WebP
//! under decode limits, scale it to fit a small box keeping its aspect ratio, and encode a
//! small JPEG for the `thumbnail` field of the attachment message.
//!
//! The limits matter because the image comes from wherever the user got it: a "decompression
//! bomb" of a few kilobytes can declare 100 000 x 100 000 pixels. The declared size is checked
//! against [`ThumbnailOptions::max_width`], [`ThumbnailOptions::max_height`] and the memory
//! the decoded image needs against [`ThumbnailOptions::max_alloc`] before any pixel is
//! decoded; the decoder itself runs under the same limits.

use std::io::{BufRead, Seek};

use image::codecs::jpeg::JpegEncoder;
use image::error::LimitErrorKind;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};

/// Where the limits of a thumbnail come from; every field has a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThumbnailOptions {
    /// Widest source image decoded, in pixels (default 16384).
    pub max_width: u32,
    /// Tallest source image decoded, in pixels (default 16384).
    pub max_height: u32,
    /// Most memory the decoder may use, in bytes, the decoded image included (default 256 MiB;
    /// a 12-megapixel RGB photo needs 36 MB).
    pub max_alloc: u64,
    /// The preview fits in `max_side` x `max_side` pixels (default 256); smaller images are
    /// not enlarged.
    pub max_side: u32,
    /// Most bytes of the encoded preview (default 64 KiB, the attachment message's limit);
    /// the JPEG quality is lowered until it fits.
    pub max_bytes: usize,
}

impl Default for ThumbnailOptions {
    fn default() -> Self {
        Self {
            max_width: 16_384,
            max_height: 16_384,
            max_alloc: 256 * 1024 * 1024,
            max_side: 256,
            max_bytes: 64 * 1024,
        }
    }
}

/// A preview made by [`make_thumbnail`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// The preview, a baseline JPEG.
    pub jpeg: Vec<u8>,
    /// The preview's width in pixels.
    pub width: u32,
    /// The preview's height in pixels.
    pub height: u32,
}

/// Why no preview was made (the file itself can still be sent).
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    /// The bytes are not a PNG, JPEG, GIF or WebP image.
    #[error("no preview: the file is not a PNG, JPEG, GIF or WebP image ({0})")]
    UnsupportedFormat(String),
    /// The image declares more pixels than the limits allow.
    #[error(
        "no preview: the image declares {width}x{height} pixels, above the {max_width}x{max_height} limit (raise ThumbnailOptions::max_width/max_height to allow it)"
    )]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The width limit.
        max_width: u32,
        /// The height limit.
        max_height: u32,
    },
    /// The decoder refused the image's dimensions before reporting them.
    #[error(
        "no preview: the image is larger than the {max_width}x{max_height} limit (raise ThumbnailOptions::max_width/max_height to allow it)"
    )]
    DimensionLimit {
        /// The width limit.
        max_width: u32,
        /// The height limit.
        max_height: u32,
    },
    /// Decoding would need more memory than allowed.
    #[error(
        "no preview: decoding the image needs more than the {max_alloc}-byte memory limit (raise ThumbnailOptions::max_alloc to allow it)"
    )]
    MemoryLimit {
        /// The memory limit.
        max_alloc: u64,
    },
    /// The image is damaged or uses a feature the decoder does not support.
    #[error("no preview: the image could not be decoded: {0}")]
    Decode(String),
    /// JPEG encoding failed.
    #[error("no preview: encoding the JPEG preview failed: {0}")]
    Encode(String),
    /// Even at the lowest quality the preview exceeds the size limit.
    #[error(
        "no preview: the smallest JPEG preview is {bytes} bytes, above the {max_bytes}-byte limit"
    )]
    PreviewTooBig {
        /// The smallest encoding's size.
        bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// Reading the image failed.
    #[error("no preview: reading the image failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether a MIME type is one [`make_thumbnail`] can preview.
pub fn is_previewable(content_type: &str) -> bool {
    let t = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        t.as_str(),
        "image/png" | "image/jpeg" | "image/jpg" | "image/gif" | "image/webp"
    )
}

/// JPEG qualities tried in turn until the preview fits `max_bytes`.
const QUALITIES: [u8; 4] = [75, 60, 45, 30];

/// Decodes the image `reader` yields (the format is told from its bytes) under the limits of
/// `opts` and returns a JPEG preview fitting `opts.max_side` x `opts.max_side`, upright
/// (JPEG/EXIF orientation applied), transparent areas on white.
pub fn make_thumbnail<R: BufRead + Seek>(
    reader: R,
    opts: &ThumbnailOptions,
) -> Result<Thumbnail, ThumbnailError> {
    let mut reader = ImageReader::new(reader).with_guessed_format()?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP) => {}
        Some(other) => return Err(ThumbnailError::UnsupportedFormat(format!("{other:?}"))),
        None => return Err(ThumbnailError::UnsupportedFormat("unknown format".into())),
    }
    // The header is read under the memory limit only, so that a too large image is refused
    // with its declared size; the decoder then runs under all the limits.
    let mut limits = Limits::default();
    limits.max_alloc = Some(opts.max_alloc);
    reader.limits(limits.clone());
    let mut decoder = reader.into_decoder().map_err(|e| map_err(e, opts))?;
    let (width, height) = decoder.dimensions();
    if width > opts.max_width || height > opts.max_height {
        return Err(ThumbnailError::TooLarge {
            width,
            height,
            max_width: opts.max_width,
            max_height: opts.max_height,
        });
    }
    if decoder.total_bytes() > opts.max_alloc {
        return Err(ThumbnailError::MemoryLimit {
            max_alloc: opts.max_alloc,
        });
    }
    limits.max_image_width = Some(opts.max_width);
    limits.max_image_height = Some(opts.max_height);
    decoder.set_limits(limits).map_err(|e| map_err(e, opts))?;
    let orientation = decoder.orientation().map_err(|e| map_err(e, opts))?;
    let image = DynamicImage::from_decoder(decoder).map_err(|e| map_err(e, opts))?;
    let side = opts.max_side.max(1);
    let mut small = if image.width() > side || image.height() > side {
        image.thumbnail(side, side)
    } else {
        image
    };
    small.apply_orientation(orientation);
    let rgb = on_white(&small);
    let mut smallest = usize::MAX;
    for quality in QUALITIES {
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, quality)
            .encode_image(&rgb)
            .map_err(|e| ThumbnailError::Encode(e.to_string()))?;
        if jpeg.len() <= opts.max_bytes {
            return Ok(Thumbnail {
                jpeg,
                width: rgb.width(),
                height: rgb.height(),
            });
        }
        smallest = smallest.min(jpeg.len());
    }
    Err(ThumbnailError::PreviewTooBig {
        bytes: smallest,
        max_bytes: opts.max_bytes,
    })
}

/// The image as RGB, transparent pixels blended onto white (JPEG has no alpha).
fn on_white(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend = |c: u8| -> u8 {
            let v = (u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255;
            u8::try_from(v).unwrap_or(u8::MAX)
        };
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

fn map_err(e: ImageError, opts: &ThumbnailOptions) -> ThumbnailError {
    match e {
        ImageError::Limits(l) => match l.kind() {
            LimitErrorKind::DimensionError => ThumbnailError::DimensionLimit {
                max_width: opts.max_width,
                max_height: opts.max_height,
            },
            LimitErrorKind::InsufficientMemory => ThumbnailError::MemoryLimit {
                max_alloc: opts.max_alloc,
            },
            _ => ThumbnailError::Decode(l.to_string()),
        },
        ImageError::Unsupported(u) => ThumbnailError::UnsupportedFormat(u.to_string()),
        ImageError::IoError(io) => ThumbnailError::Io(io),
        other => ThumbnailError::Decode(other.to_string()),
    }
}
