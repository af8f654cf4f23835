//! Length-hiding padding applied to serialized content before encryption.
//!
//! `padded = content || 0x80 || 0x00 * k`, where `k` is the smallest count that makes the total
//! a multiple of [`PADDING_BLOCK`]. The marker byte makes the padding unambiguous, so a receiver
//! strips trailing zeros and requires the `0x80` marker before them.

use crate::ContentError;

/// Padded plaintexts are a multiple of this many bytes.
pub const PADDING_BLOCK: usize = 160;

/// The byte that separates content from its zero padding.
const MARKER: u8 = 0x80;

/// Appends the marker and zero padding to `content`, in place.
pub fn pad(content: &mut Vec<u8>) {
    content.push(MARKER);
    let padded_len = content.len().div_ceil(PADDING_BLOCK) * PADDING_BLOCK;
    content.resize(padded_len, 0);
}

/// Returns `padded` without its padding.
///
/// # Errors
/// [`ContentError::MissingPaddingMarker`] when the last non-zero byte is not `0x80` (or there
/// is none): the plaintext was not padded by a Portico sender.
pub fn unpad(padded: &[u8]) -> Result<&[u8], ContentError> {
    let marker_at = padded
        .iter()
        .rposition(|&byte| byte != 0)
        .ok_or(ContentError::MissingPaddingMarker)?;
    if padded[marker_at] != MARKER {
        return Err(ContentError::MissingPaddingMarker);
    }
    Ok(&padded[..marker_at])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pads_to_block_multiples() {
        for len in [0, 1, 158, 159, 160, 161, 319, 320] {
            let mut bytes = vec![7u8; len];
            pad(&mut bytes);
            assert_eq!(bytes.len() % PADDING_BLOCK, 0, "len {len}");
            assert!(bytes.len() > len, "len {len}: the marker always fits");
            assert_eq!(unpad(&bytes).map(<[u8]>::len), Ok(len));
        }
    }

    #[test]
    fn refuses_missing_marker() {
        assert_eq!(unpad(&[]), Err(ContentError::MissingPaddingMarker));
        assert_eq!(unpad(&[0; 160]), Err(ContentError::MissingPaddingMarker));
        assert_eq!(
            unpad(&[1, 2, 3, 0, 0]),
            Err(ContentError::MissingPaddingMarker)
        );
    }

    proptest! {
        #[test]
        fn unpad_inverts_pad(content in proptest::collection::vec(any::<u8>(), 0..1000)) {
            let mut padded = content.clone();
            pad(&mut padded);
            prop_assert_eq!(unpad(&padded), Ok(&content[..]));
        }

        #[test]
        fn unpad_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = unpad(&bytes);
        }
    }
}
