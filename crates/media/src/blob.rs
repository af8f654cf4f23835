//! Where encrypted attachments are kept: the [`BlobStore`] interface (an S3-compatible
//! backend can implement it) and [`DiskBlobStore`], the embedded default under a data dir.
//!
//! Writes stream to a temporary file and are renamed into place on [`BlobWriter::commit`],
//! so a reader never sees a partial blob and no blob is ever held in memory whole.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWriteExt};

/// A boxed future, so the traits stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A readable blob: its length and a stream of its bytes.
pub type BlobReader = (u64, Box<dyn AsyncRead + Send + Unpin>);

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The blob id is not 32 lowercase hex digits.
    #[error("blob id {0:?} is malformed: expected 32 lowercase hex digits")]
    BadId(String),
    /// The disk (or object store) failed.
    #[error("blob storage I/O failed: {0}; check the data dir's disk space and permissions")]
    Io(#[from] std::io::Error),
}

/// A blob id: 32 lowercase hex digits (128 random bits), safe as a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobId(String);

impl BlobId {
    /// A fresh random id.
    pub fn random() -> Result<Self, BlobError> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?;
        Ok(Self(hex(&b)))
    }

    /// Parses an id, refusing anything but 32 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, BlobError> {
        if s.len() == 32 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(s.to_owned()))
        } else {
            Err(BlobError::BadId(s.chars().take(64).collect()))
        }
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A blob being written. Dropping it without [`BlobWriter::commit`] discards it.
pub trait BlobWriter: Send {
    /// Appends bytes.
    fn write<'a>(&'a mut self, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), BlobError>>;
    /// Makes the blob durable and visible under its id; returns its length.
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<u64, BlobError>>;
}

/// Storage of opaque blobs by id.
pub trait BlobStore: Send + Sync {
    /// Starts writing the blob `id` (replacing any blob of that id on commit).
    fn create<'a>(
        &'a self,
        id: &'a BlobId,
    ) -> BoxFuture<'a, Result<Box<dyn BlobWriter>, BlobError>>;
    /// Opens the blob `id` for reading; `None` if there is none.
    fn open<'a>(&'a self, id: &'a BlobId) -> BoxFuture<'a, Result<Option<BlobReader>, BlobError>>;
    /// Deletes the blob `id`; `false` if there was none.
    fn delete<'a>(&'a self, id: &'a BlobId) -> BoxFuture<'a, Result<bool, BlobError>>;
}

/// Blobs as files under `<root>/blobs/<first two hex digits>/<id>`, written through
/// `<root>/tmp/`.
#[derive(Debug, Clone)]
pub struct DiskBlobStore {
    root: PathBuf,
}

impl DiskBlobStore {
    /// A store under `root` (created if missing); leftover temporary files from a crash
    /// are removed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        std::fs::create_dir_all(root.join("blobs"))?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            for entry in std::fs::read_dir(&tmp)? {
                let _ = std::fs::remove_file(entry?.path());
            }
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Self { root })
    }

    fn path(&self, id: &BlobId) -> PathBuf {
        self.root.join("blobs").join(&id.0[..2]).join(&id.0)
    }

    /// The directory holding the blobs.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

struct DiskWriter {
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    tmp: PathBuf,
    dest: PathBuf,
    len: u64,
}

impl Drop for DiskWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl BlobWriter for DiskWriter {
    fn write<'a>(&'a mut self, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), BlobError>> {
        Box::pin(async move {
            let f = self
                .file
                .as_mut()
                .ok_or_else(|| std::io::Error::other("blob writer already committed"))?;
            f.write_all(bytes).await?;
            self.len += bytes.len() as u64;
            Ok(())
        })
    }

    fn commit(mut self: Box<Self>) -> BoxFuture<'static, Result<u64, BlobError>> {
        Box::pin(async move {
            let mut f = self
                .file
                .take()
                .ok_or_else(|| std::io::Error::other("blob writer already committed"))?;
            let done = async {
                f.flush().await?;
                f.get_mut().sync_all().await?;
                drop(f);
                if let Some(dir) = self.dest.parent() {
                    tokio::fs::create_dir_all(dir).await?;
                }
                tokio::fs::rename(&self.tmp, &self.dest).await
            }
            .await;
            if let Err(e) = done {
                let _ = tokio::fs::remove_file(&self.tmp).await;
                return Err(e.into());
            }
            Ok(self.len)
        })
    }
}

impl BlobStore for DiskBlobStore {
    fn create<'a>(
        &'a self,
        id: &'a BlobId,
    ) -> BoxFuture<'a, Result<Box<dyn BlobWriter>, BlobError>> {
        Box::pin(async move {
            let nonce = BlobId::random()?;
            let tmp = self.root.join("tmp").join(format!("{id}.{nonce}"));
            let file = tokio::fs::File::create(&tmp).await?;
            Ok(Box::new(DiskWriter {
                file: Some(tokio::io::BufWriter::with_capacity(64 * 1024, file)),
                tmp,
                dest: self.path(id),
                len: 0,
            }) as Box<dyn BlobWriter>)
        })
    }

    fn open<'a>(&'a self, id: &'a BlobId) -> BoxFuture<'a, Result<Option<BlobReader>, BlobError>> {
        Box::pin(async move {
            match tokio::fs::File::open(self.path(id)).await {
                Ok(f) => {
                    let len = f.metadata().await?.len();
                    Ok(Some((
                        len,
                        Box::new(f) as Box<dyn AsyncRead + Send + Unpin>,
                    )))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn delete<'a>(&'a self, id: &'a BlobId) -> BoxFuture<'a, Result<bool, BlobError>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(id)).await {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn write_commit_read_delete_and_abandoned_writes_leave_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DiskBlobStore::open(dir.path()).expect("open");
        let id = BlobId::random().expect("id");
        let mut w = store.create(&id).await.expect("create");
        w.write(b"hello ").await.expect("write");
        assert!(
            store.open(&id).await.expect("open").is_none(),
            "visible before commit"
        );
        w.write(b"world").await.expect("write");
        assert_eq!(w.commit().await.expect("commit"), 11);
        let (len, mut r) = store.open(&id).await.expect("open").expect("exists");
        let mut s = String::new();
        r.read_to_string(&mut s).await.expect("read");
        assert_eq!((len, s.as_str()), (11, "hello world"));
        let other = BlobId::random().expect("id");
        let mut w = store.create(&other).await.expect("create");
        w.write(b"partial").await.expect("write");
        drop(w);
        assert!(store.open(&other).await.expect("open").is_none());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp"))
                .expect("tmp")
                .count(),
            0
        );
        assert!(store.delete(&id).await.expect("delete"));
        assert!(!store.delete(&id).await.expect("delete"));
    }

    #[test]
    fn ids_refuse_path_tricks() {
        assert!(BlobId::parse("../../etc/passwd").is_err());
        assert!(BlobId::parse("ABCDEF0123456789abcdef0123456789").is_err());
        assert!(BlobId::parse("abcdef0123456789abcdef0123456789").is_ok());
    }
}
