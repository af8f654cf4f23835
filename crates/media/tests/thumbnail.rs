//! Previews of real images made in the test (PNG, JPEG, GIF, WebP), and refusals: a
//! decompression bomb declaring a huge size, an image over the memory limit, a damaged image,
//! a file that is no image.
#![cfg(feature = "thumbnail")]

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use portico_media::thumbnail::{ThumbnailError, ThumbnailOptions, is_previewable, make_thumbnail};

fn gradient(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    }))
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode test image");
    out.into_inner()
}

fn thumb(bytes: &[u8]) -> Result<portico_media::thumbnail::Thumbnail, ThumbnailError> {
    make_thumbnail(Cursor::new(bytes), &ThumbnailOptions::default())
}

/// The preview decodes as a JPEG of the size it claims.
fn decoded(t: &portico_media::thumbnail::Thumbnail) -> DynamicImage {
    assert_eq!(&t.jpeg[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
    let img = image::load_from_memory_with_format(&t.jpeg, ImageFormat::Jpeg).expect("jpeg");
    assert_eq!((img.width(), img.height()), (t.width, t.height));
    img
}

/// Sets a PNG's IHDR width and height and fixes the chunk's CRC.
fn png_declaring(png: &mut [u8], width: u32, height: u32) {
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn png_and_jpeg_previews_fit_256_keeping_aspect() {
    let png = encode(&gradient(800, 600), ImageFormat::Png);
    let t = thumb(&png).expect("png preview");
    assert_eq!((t.width, t.height), (256, 192));
    decoded(&t);
    assert!(t.jpeg.len() <= 64 * 1024);

    let jpeg = encode(&gradient(300, 1200), ImageFormat::Jpeg);
    let t = thumb(&jpeg).expect("jpeg preview");
    assert_eq!((t.width, t.height), (64, 256));
    decoded(&t);
}

#[test]
fn gif_and_webp_previews_too() {
    let img = DynamicImage::ImageRgba8(gradient(512, 256).to_rgba8());
    for format in [ImageFormat::Gif, ImageFormat::WebP] {
        let t = thumb(&encode(&img, format)).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!((t.width, t.height), (256, 128), "{format:?}");
        decoded(&t);
    }
}

#[test]
fn a_small_image_is_not_enlarged_and_transparency_becomes_white() {
    let mut img = RgbaImage::from_pixel(100, 50, Rgba([0, 0, 255, 255]));
    for x in 0..50 {
        for y in 0..50 {
            img.put_pixel(x, y, Rgba([0, 0, 0, 0]));
        }
    }
    let png = encode(&DynamicImage::ImageRgba8(img), ImageFormat::Png);
    let t = thumb(&png).expect("preview");
    assert_eq!((t.width, t.height), (100, 50));
    let rgb = decoded(&t).to_rgb8();
    let Rgb([r, g, b]) = *rgb.get_pixel(10, 25);
    assert!(
        r > 240 && g > 240 && b > 240,
        "transparent area is white: {r},{g},{b}"
    );
    let Rgb([r, g, b]) = *rgb.get_pixel(90, 25);
    assert!(
        r < 30 && g < 30 && b > 220,
        "opaque area keeps its blue: {r},{g},{b}"
    );
}

#[test]
fn a_png_declaring_100000_by_100000_pixels_is_refused_before_decoding() {
    let mut png = encode(&gradient(8, 8), ImageFormat::Png);
    png_declaring(&mut png, 100_000, 100_000);
    match thumb(&png) {
        Err(ThumbnailError::TooLarge {
            width: 100_000,
            height: 100_000,
            ..
        }) => {}
        other => panic!("expected a dimension refusal, got {other:?}"),
    }
}

#[test]
fn a_jpeg_declaring_60000_by_60000_pixels_is_refused_with_its_size() {
    let mut jpeg = encode(&gradient(16, 16), ImageFormat::Jpeg);
    // The baseline frame header (SOF0): FF C0, length (2), precision (1), height, width.
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0");
    jpeg[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&60_000u16.to_be_bytes());
    match thumb(&jpeg) {
        Err(ThumbnailError::TooLarge {
            width: 60_000,
            height: 60_000,
            max_width: 16_384,
            max_height: 16_384,
        }) => {}
        other => panic!("expected a dimension refusal, got {other:?}"),
    }
}

#[test]
fn the_memory_limit_refuses_what_fits_the_dimensions_and_is_a_knob() {
    let mut png = encode(&gradient(8, 8), ImageFormat::Png);
    // 4000 x 4000 RGB: 48 MB decoded.
    png_declaring(&mut png, 4000, 4000);
    let opts = ThumbnailOptions {
        max_alloc: 8 * 1024 * 1024,
        ..ThumbnailOptions::default()
    };
    match make_thumbnail(Cursor::new(&png), &opts) {
        Err(ThumbnailError::MemoryLimit { max_alloc }) => assert_eq!(max_alloc, 8 << 20),
        other => panic!("expected the memory limit, got {other:?}"),
    }
}

#[test]
fn the_dimension_limits_are_knobs() {
    // A real 20000 x 2 image: over the default 16384 width, accepted once the limit is raised.
    let png = encode(&gradient(20_000, 2), ImageFormat::Png);
    assert!(matches!(
        thumb(&png),
        Err(ThumbnailError::TooLarge {
            width: 20_000,
            height: 2,
            ..
        })
    ));
    let opts = ThumbnailOptions {
        max_width: 32_768,
        ..ThumbnailOptions::default()
    };
    let t = make_thumbnail(Cursor::new(&png), &opts).expect("allowed");
    assert_eq!(t.width, 256);
}

#[test]
fn damaged_and_non_images_get_their_own_errors() {
    let png = encode(&gradient(64, 64), ImageFormat::Png);
    assert!(
        matches!(
            thumb(&png[..png.len() / 2]),
            Err(ThumbnailError::Decode(_) | ThumbnailError::Io(_))
        ),
        "a cut PNG"
    );
    assert!(matches!(
        thumb(b"%PDF-1.7\n%...not an image"),
        Err(ThumbnailError::UnsupportedFormat(_))
    ));
    // A BMP (known to the image crate, not decoded here).
    let mut bmp = b"BM".to_vec();
    bmp.resize(64, 0);
    assert!(matches!(
        thumb(&bmp),
        Err(ThumbnailError::UnsupportedFormat(_))
    ));
}

#[test]
fn previewable_types() {
    assert!(is_previewable("image/png"));
    assert!(is_previewable("IMAGE/JPEG; charset=binary"));
    assert!(is_previewable("image/webp"));
    assert!(!is_previewable("image/heic"));
    assert!(!is_previewable("application/pdf"));
}
