//! The HTTP side of blob hosting shared by the hub's upload slots and the reference
//! provider's (feature `upload`): [`receive`] streams an upload's body into a [`BlobStore`]
//! holding it to the slot's exact size, and [`reader_body`] streams a stored blob back. Each
//! server keeps its own slots, authentication, quotas and problem documents; an
//! [`UploadError`] carries the status, problem type and detail both answer with.
//!
//! Memory stays constant: the body is written piece by piece to the store's temporary blob,
//! which becomes visible only once every byte arrived ([`crate::blob::BlobWriter::commit`]);
//! a refused or cut upload leaves nothing behind.

use std::fmt::Display;

use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::blob::{BlobError, BlobId, BlobStore};

/// Why an upload into a slot failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The request's Content-Length differs from the slot's size.
    #[error(
        "the slot is for {expected} bytes; the request declares {declared}; \
         ask for a slot of the file's exact size"
    )]
    DeclaredSize {
        /// The slot's size.
        expected: u64,
        /// The request's Content-Length.
        declared: u64,
    },
    /// More bytes arrived than the slot is for.
    #[error(
        "the slot is for {expected} bytes; more arrived; ask for a slot of the file's exact size"
    )]
    TooLarge {
        /// The slot's size.
        expected: u64,
    },
    /// The body ended before the slot's size.
    #[error(
        "the slot is for {expected} bytes; only {got} arrived; ask for a new slot and upload again"
    )]
    Short {
        /// The slot's size.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// Reading the body failed (the client went away, a broken chunk, …).
    #[error("reading the body failed ({0}); ask for a new slot and upload again")]
    Interrupted(String),
    /// The blob store failed.
    #[error("the upload could not be stored ({0}); try again later")]
    Storage(#[from] BlobError),
}

impl UploadError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            UploadError::DeclaredSize { expected, declared } if declared > expected => 413,
            UploadError::TooLarge { .. } => 413,
            UploadError::DeclaredSize { .. }
            | UploadError::Short { .. }
            | UploadError::Interrupted(_) => 400,
            UploadError::Storage(_) => 507,
        }
    }

    /// The problem type's slug (RFC 9457 `type` after the server's prefix).
    pub fn slug(&self) -> &'static str {
        match self {
            UploadError::DeclaredSize { expected, declared } if declared > expected => "too-large",
            UploadError::TooLarge { .. } => "too-large",
            UploadError::DeclaredSize { .. } | UploadError::Short { .. } => "size-mismatch",
            UploadError::Interrupted(_) => "upload-interrupted",
            UploadError::Storage(_) => "storage-failed",
        }
    }

    /// The problem's title.
    pub fn title(&self) -> &'static str {
        match self {
            UploadError::DeclaredSize { .. } => "Body size differs from the slot",
            UploadError::TooLarge { .. } => "Body larger than the slot",
            UploadError::Short { .. } => "Body shorter than the slot",
            UploadError::Interrupted(_) => "The upload was interrupted",
            UploadError::Storage(_) => "The upload could not be stored",
        }
    }

    /// The problem's detail for the client: the message, except that a storage failure says
    /// nothing of the server's disks (log the error itself).
    pub fn detail(&self) -> String {
        match self {
            UploadError::Storage(_) => {
                "the server could not store the upload; try again later".to_owned()
            }
            other => other.to_string(),
        }
    }
}

/// Streams `body` into the blob `id` of `blobs`, which must come to exactly `expected` bytes
/// (a body whose exact size is known ahead, as hyper knows it from Content-Length, and differs
/// is refused before anything is read); the blob is committed only then. Returns the bytes
/// stored.
pub async fn receive<B>(
    blobs: &dyn BlobStore,
    id: &BlobId,
    expected: u64,
    mut body: B,
) -> Result<u64, UploadError>
where
    B: BodyExt<Data = Bytes> + Unpin,
    B::Error: Display,
{
    let declared = body.size_hint().exact();
    if let Some(declared) = declared.filter(|d| *d != expected) {
        return Err(UploadError::DeclaredSize { expected, declared });
    }
    let mut writer = blobs.create(id).await?;
    let mut got: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| UploadError::Interrupted(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        got += data.len() as u64;
        if got > expected {
            return Err(UploadError::TooLarge { expected });
        }
        writer.write(&data).await?;
    }
    if got != expected {
        return Err(UploadError::Short { expected, got });
    }
    writer.commit().await?;
    Ok(got)
}

/// A response body fed from `reader` in 64 KiB pieces by a spawned task (constant memory);
/// a read error aborts the body, so the client sees an incomplete transfer.
pub fn reader_body(
    mut reader: Box<dyn AsyncRead + Send + Unpin>,
) -> http_body_util::channel::Channel<Bytes, std::io::Error> {
    let (mut tx, body) = http_body_util::channel::Channel::new(4);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .send_data(Bytes::copy_from_slice(&buf[..n]))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    tx.abort(e);
                    break;
                }
            }
        }
    });
    body
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full};

    use super::*;
    use crate::blob::DiskBlobStore;

    fn store() -> (tempfile::TempDir, DiskBlobStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DiskBlobStore::open(dir.path()).expect("store");
        (dir, store)
    }

    async fn stored(store: &DiskBlobStore, id: &BlobId) -> Option<Vec<u8>> {
        let (_, mut r) = store.open(id).await.expect("open")?;
        let mut v = Vec::new();
        r.read_to_end(&mut v).await.expect("read");
        Some(v)
    }

    #[tokio::test]
    async fn an_exact_body_is_stored_and_served_back() {
        let (_dir, store) = store();
        let id = BlobId::random().expect("id");
        let body = Full::new(Bytes::from(vec![9u8; 200_000]));
        let n = receive(&store, &id, 200_000, body).await.expect("stored");
        assert_eq!(n, 200_000);
        let (len, reader) = store.open(&id).await.expect("open").expect("blob");
        assert_eq!(len, 200_000);
        let served = reader_body(reader)
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(served, vec![9u8; 200_000]);
    }

    #[tokio::test]
    async fn wrong_sizes_are_refused_each_with_its_problem_and_leave_nothing() {
        let (_dir, store) = store();
        let id = BlobId::random().expect("id");
        let full = |n| Full::new(Bytes::from(vec![1u8; n]));
        let e = receive(&store, &id, 10, full(11))
            .await
            .expect_err("declared too large");
        assert_eq!((e.status(), e.slug()), (413, "too-large"));
        let e = receive(&store, &id, 10, full(9))
            .await
            .expect_err("declared too small");
        assert_eq!((e.status(), e.slug()), (400, "size-mismatch"));
        // Bodies of unknown length, checked while they stream.
        let unsized_body = |n| async move {
            let (mut tx, body) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(4);
            tx.send_data(Bytes::from(vec![1u8; n])).await.expect("send");
            body
        };
        let e = receive(&store, &id, 10, unsized_body(11).await)
            .await
            .expect_err("more than the slot");
        assert!(matches!(e, UploadError::TooLarge { expected: 10 }), "{e}");
        assert_eq!(e.status(), 413);
        let e = receive(&store, &id, 10, unsized_body(9).await)
            .await
            .expect_err("short");
        assert!(
            matches!(
                e,
                UploadError::Short {
                    expected: 10,
                    got: 9
                }
            ),
            "{e}"
        );
        assert_eq!(e.slug(), "size-mismatch");
        let (mut tx, broken) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(4);
        tx.send_data(Bytes::from_static(b"abc"))
            .await
            .expect("send");
        tx.abort(std::io::Error::other("connection reset"));
        let e = receive(&store, &id, 10, broken).await.expect_err("cut");
        assert_eq!((e.status(), e.slug()), (400, "upload-interrupted"));
        assert!(e.detail().contains("connection reset"), "{}", e.detail());
        assert_eq!(stored(&store, &id).await, None, "nothing kept");
    }
}
