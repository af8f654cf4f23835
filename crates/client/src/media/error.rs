//! [`MediaError`]: why sending or fetching a file failed, each cause its own variant.

use portico_media::DecryptError;
use portico_media::io::StreamError;

use crate::error::ClientError;

/// Why sending or fetching a file failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The hub connection or the message could not be sent.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Reading the file or writing the download failed.
    #[error("file I/O failed on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The hub's answer to a media request was not understood.
    #[error("the hub's media answer is malformed: {0}")]
    Protocol(String),
    /// A URL is not an https URL.
    #[error("{0:?} is not an https:// URL")]
    BadUrl(String),
    /// The network failed.
    #[error(transparent)]
    Net(#[from] portico_media::net::NetError),
    /// The server refused, with its problem type (e.g. `redirect-off-origin`).
    #[error("the server refused ({status} {kind}): {detail}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The problem type's slug (after `urn:portico:problem:`), or empty.
        kind: String,
        /// The problem's detail.
        detail: String,
    },
    /// The downloaded stream is not the genuine file.
    #[error("the downloaded attachment is not genuine: {0}")]
    Corrupt(#[from] DecryptError),
    /// Every chunk verified but the ciphertext digest differs from the message's.
    #[error("the downloaded file's digest differs from the one in the message; it was replaced")]
    DigestMismatch,
    /// The attachment message is incomplete.
    #[error("the attachment message lacks {0}")]
    Incomplete(&'static str),
    /// Timed out.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// The preview the caller gave is larger than an attachment message may carry; nothing
    /// was uploaded.
    #[error(
        "the thumbnail is {size} bytes, over the {limit}-byte limit of an attachment message; scale it down, or leave FileOptions::thumbnail empty for the SDK to make one"
    )]
    ThumbnailTooLarge {
        /// The thumbnail's size.
        size: usize,
        /// The limit (`portico_content::Limits::max_thumbnail_bytes`).
        limit: usize,
    },
}

impl From<StreamError> for MediaError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Decrypt(d) => MediaError::Corrupt(d),
            StreamError::Io(e) => MediaError::Io {
                path: String::new(),
                source: e,
            },
            StreamError::Encrypt(e) => MediaError::Protocol(e.to_string()),
        }
    }
}
