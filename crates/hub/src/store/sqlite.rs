//! The SQLite backend: WAL journal with `synchronous = FULL` (a commit is on disk when it
//! returns) and one writer thread that batches concurrent writes into one transaction
//! (group commit), so many senders share one fsync. Writes run in the order they were
//! submitted, and a queued message's stanza-id is assigned at submission (see
//! [`Store::enqueue_assigned`]), so its recipients can be pushed their copies before it is
//! durable. Reads run on a small pool of reader connections on tokio's blocking threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::{
    AccountSummary, Bundle, DeviceId, Enqueued, KeyUpload, NewMessage, PreKey, PrekeyCount,
    QueueLimits, QueuedMessage, SignedKey, Store, StoreError, StoreFuture, StoredCredentials,
};

/// The schema. `queued` has no index on `expires`: rows are appended in arrival order and
/// take the configured ttl, so the expired ones are the oldest, found from the start of the
/// table (see `expire`); one index fewer to update per insert and delete is worth 6–14 %
/// of saturated throughput. Databases made with that index lose it here.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY, salt BLOB NOT NULL, iterations INTEGER NOT NULL,
    stored_key BLOB NOT NULL, server_key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    account TEXT NOT NULL, device INTEGER NOT NULL, PRIMARY KEY (account, device)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS device_keys (
    account TEXT NOT NULL, device INTEGER NOT NULL, identity_key BLOB, registration_id INTEGER,
    spk_id INTEGER, spk BLOB, spk_sig BLOB, kyber_id INTEGER, kyber BLOB, kyber_sig BLOB,
    PRIMARY KEY (account, device)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS one_time_keys (
    account TEXT NOT NULL, device INTEGER NOT NULL, kind INTEGER NOT NULL, key_id INTEGER NOT NULL,
    public BLOB NOT NULL, signature BLOB NOT NULL,
    PRIMARY KEY (account, device, kind, key_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS device_lists (account TEXT PRIMARY KEY, signed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS queued (
    seq INTEGER PRIMARY KEY, account TEXT NOT NULL, device INTEGER NOT NULL,
    stanza_id INTEGER NOT NULL, sender TEXT NOT NULL, msg_id TEXT NOT NULL, ts INTEGER NOT NULL,
    expires INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS queued_by_device ON queued (account, device, stanza_id);
DROP INDEX IF EXISTS queued_by_expiry;
";

/// Moves the messages of the first schema's `queue` table (clustered by device, which made
/// every group commit rewrite one page per device) into `queued` (rows appended in arrival
/// order, so a commit writes few pages; found by device through a small index).
const MIGRATE_QUEUE: &str = "
INSERT INTO queued (account, device, stanza_id, sender, msg_id, ts, expires, payload)
    SELECT account, device, stanza_id, sender, msg_id, ts, expires, payload FROM queue
    ORDER BY stanza_id;
DROP TABLE queue;
";

const EC: i64 = 0;
const KYBER: i64 = 1;

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The SQLite store. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    path: PathBuf,
    /// The writer's queue. A queued message's stanza-id is taken from `next_stanza_id` while
    /// this lock is held, so ids increase in the order the writer runs (and commits) them.
    jobs: Mutex<Option<mpsc::Sender<Submitted>>>,
    /// Next hub stanza-id to assign.
    next_stanza_id: AtomicU64,
    readers: Arc<Mutex<Vec<Connection>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |e: rusqlite::Error| StoreError::Open {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(open_err)?;
    // WAL + synchronous=FULL: a commit is on disk (WAL fsynced) before it returns. A larger
    // page cache and checkpoint interval keep the insert-then-delete churn of queues in memory.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF;
         PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 4000; PRAGMA temp_store = MEMORY;",
    )
    .map_err(open_err)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`; `group_commit_max` bounds how many
    /// writes share one transaction. Each group is committed as soon as the writer is free
    /// (see [`SqliteStore::open_with_commit_wait`] for a commit window).
    pub fn open(path: &Path, group_commit_max: u32) -> Result<Self, StoreError> {
        Self::open_with_commit_wait(path, group_commit_max, Duration::ZERO)
    }

    /// Like [`SqliteStore::open`], and a group stays open until `commit_wait` after its
    /// first write was submitted, gathering the writes submitted meanwhile (unless it holds
    /// `group_commit_max` already). Fewer, larger commits cost less CPU and fewer fsyncs per
    /// write, and a message queued and acknowledged by its device within the window is
    /// inserted and deleted in the same transaction; each write's answer (the sender's
    /// ack) waits up to `commit_wait` longer. A writer that is behind does not wait: its
    /// oldest write is older than the window already.
    pub fn open_with_commit_wait(
        path: &Path,
        group_commit_max: u32,
        commit_wait: Duration,
    ) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let conn = open_connection(path)?;
        conn.execute_batch(&format!("{SCHEMA}{}{}", policy::SCHEMA, interop::SCHEMA))
            .map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        let old_queue: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'queue'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(db)?
            > 0;
        if old_queue {
            conn.execute_batch(&format!("BEGIN IMMEDIATE; {MIGRATE_QUEUE} COMMIT;"))
                .map_err(|e| StoreError::Open {
                    path: path.display().to_string(),
                    message: format!("moving queued messages to the new table failed: {e}"),
                })?;
        }
        let max_id: i64 = conn
            .query_row("SELECT COALESCE(MAX(stanza_id), 0) FROM queued", [], |r| {
                r.get(0)
            })
            .map_err(db)?;
        // Stanza-ids also count time so that they keep increasing after the queue empties
        // and the hub restarts.
        let now = now_ms();
        let next_stanza_id = (max_id as u64 + 1).max(now.saturating_mul(1000));
        let state = WriterState {
            depth: HashMap::new(),
            poisoned: false,
        };
        let (tx, rx) = mpsc::channel::<Submitted>();
        let group = Group {
            max: group_commit_max.max(1) as usize,
            wait: commit_wait,
        };
        let writer = std::thread::Builder::new()
            .name("portico-store-writer".into())
            .spawn(move || writer_loop(conn, state, rx, group))
            .map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(Self {
            path: path.to_owned(),
            jobs: Mutex::new(Some(tx)),
            next_stanza_id: AtomicU64::new(next_stanza_id),
            readers: Arc::new(Mutex::new(Vec::new())),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Stops the writer after the writes already submitted are committed.
    pub fn close(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection, &mut WriterState) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let (reply, answer) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn, state| {
            let outcome = run_in_savepoint(conn, state, op);
            Box::new(move |committed: Result<(), StoreError>| {
                let _ = reply.send(committed.and(outcome));
            })
        });
        self.submit(job, answer)
    }

    /// Hands `job` to the writer thread and resolves with the reply it sends on `answer`
    /// once its group is committed (or `Closed` if the writer is gone).
    fn submit<T: Send + 'static>(
        &self,
        job: Job,
        answer: oneshot::Receiver<Result<T, StoreError>>,
    ) -> StoreFuture<'static, T> {
        Self::answered(self.send_job(job), answer)
    }

    /// Hands `job` to the writer thread; false if the writer is gone.
    fn send_job(&self, job: Job) -> bool {
        self.jobs
            .lock()
            .ok()
            .and_then(|j| j.as_ref().map(|tx| tx.send(Submitted::now(job)).is_ok()))
            .unwrap_or(false)
    }

    /// Submits a queue insert under a fresh stanza-id, taken while the writer's queue is
    /// locked (so ids increase in the writer's order); returns the id and the answer.
    fn submit_enqueue(
        &self,
        op: impl FnOnce(&Connection, &mut WriterState, u64) -> Result<Enqueued, StoreError>
        + Send
        + 'static,
    ) -> (Option<u64>, StoreFuture<'static, Enqueued>) {
        let (reply, answer_rx) = oneshot::channel::<Result<Enqueued, StoreError>>();
        let Ok(jobs) = self.jobs.lock() else {
            return (None, Self::answered(false, answer_rx));
        };
        let Some(tx) = jobs.as_ref() else {
            return (None, Self::answered(false, answer_rx));
        };
        let id = self.next_stanza_id.fetch_add(1, Ordering::Relaxed);
        let job = unguarded(move |conn, state| op(conn, state, id), answer(reply));
        let sent = tx.send(Submitted::now(job)).is_ok();
        drop(jobs);
        (sent.then_some(id), Self::answered(sent, answer_rx))
    }

    /// The future of a submitted job: its answer, or `Closed` if it was not submitted.
    fn answered<T: Send + 'static>(
        sent: bool,
        answer: oneshot::Receiver<Result<T, StoreError>>,
    ) -> StoreFuture<'static, T> {
        Box::pin(async move {
            if !sent {
                return Err(StoreError::Closed);
            }
            answer.await.map_err(|_| StoreError::Closed)?
        })
    }

    /// Like `write`, but without a savepoint around the job: for the hot queue writes, whose
    /// only failures are database errors. A failure rolls back the whole group's transaction
    /// and fails every job in it, so nothing is reported durable that is not.
    fn write_unguarded<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection, &mut WriterState) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let (reply, answer_rx) = oneshot::channel::<Result<T, StoreError>>();
        self.submit(unguarded(op, answer(reply)), answer_rx)
    }

    /// Like `write_unguarded`, with no answer: a failure is logged (and, as there, fails
    /// the whole group's transaction).
    fn write_detached<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection, &mut WriterState) -> Result<T, StoreError> + Send + 'static,
    ) {
        let job = unguarded(op, |outcome| {
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "a background write failed; delivered messages will be delivered again");
            }
        });
        if !self.send_job(job) {
            tracing::warn!("the store is closed; delivered messages will be delivered again");
        }
    }

    fn read<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let pooled = readers.lock().ok().and_then(|mut r| r.pop());
                let conn = match pooled {
                    Some(c) => c,
                    None => open_connection(&path)?,
                };
                let out = op(&conn);
                if let Ok(mut r) = readers.lock() {
                    if r.len() < 8 {
                        r.push(conn);
                    }
                }
                out
            })
            .await
            .map_err(|_| StoreError::Closed)?
        })
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn account_exists(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    conn.query_row("SELECT 1 FROM accounts WHERE name = ?1", [name], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
        .map_err(db)
}

fn device_exists(conn: &Connection, account: &str, device: DeviceId) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT 1 FROM devices WHERE account = ?1 AND device = ?2",
        params![account, device],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
    .map_err(db)
}

fn count_keys(
    conn: &Connection,
    account: &str,
    device: DeviceId,
) -> Result<PrekeyCount, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT kind, COUNT(*) FROM one_time_keys WHERE account = ?1 AND device = ?2 GROUP BY kind")
        .map_err(db)?;
    let mut count = PrekeyCount::default();
    let rows = stmt
        .query_map(params![account, device], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?))
        })
        .map_err(db)?;
    for row in rows {
        match row.map_err(db)? {
            (EC, n) => count.ec = n,
            (_, n) => count.kyber = n,
        }
    }
    Ok(count)
}

fn queue_len(
    conn: &Connection,
    state: &mut WriterState,
    account: &str,
    device: DeviceId,
) -> Result<u32, StoreError> {
    if let Some(n) = state.depth.get(&(account.to_owned(), device)) {
        return Ok(*n);
    }
    let n: u32 = conn
        .query_row(
            "SELECT COUNT(*) FROM queued WHERE account = ?1 AND device = ?2",
            params![account, device],
            |r| r.get(0),
        )
        .map_err(db)?;
    state.depth.insert((account.to_owned(), device), n);
    Ok(n)
}

fn signed(id: Option<u32>, public: Option<Vec<u8>>, sig: Option<Vec<u8>>) -> Option<SignedKey> {
    Some(SignedKey {
        id: id?,
        public: public?,
        signature: sig?,
    })
}

mod interop;
mod policy;
mod store_impl;
mod writer;

use writer::{
    Group, Job, Submitted, WriterState, answer, run_in_savepoint, unguarded, writer_loop,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::suite;

    /// A copy for device 1 of account "a", with message id `id`.
    fn copy(id: &str) -> NewMessage {
        NewMessage {
            account: "a".into(),
            device: 1,
            sender: "b@x/1".into(),
            msg_id: id.into(),
            payload: vec![1],
        }
    }

    fn fresh() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("db.sqlite3"), 64).expect("open");
        (dir, store)
    }

    #[tokio::test]
    async fn accounts() {
        suite::accounts(&fresh().1).await;
    }

    #[tokio::test]
    async fn devices() {
        suite::devices(&fresh().1).await;
    }

    #[tokio::test]
    async fn keys() {
        suite::keys(&fresh().1).await;
    }

    #[tokio::test]
    async fn queues() {
        suite::queues(&fresh().1).await;
    }

    #[tokio::test]
    async fn enqueue_assigned() {
        suite::enqueue_assigned(&fresh().1).await;
    }

    #[tokio::test]
    async fn data_survives_reopen_and_ids_keep_increasing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite3");
        let lim = QueueLimits {
            max_per_device: 10,
            ttl_ms: u64::MAX / 4,
            now_ms: 1,
        };
        let first = {
            let store = SqliteStore::open(&path, 8).expect("open");
            store.enqueue(vec![copy("1")], lim).await.expect("enqueue")
        };
        let store = SqliteStore::open(&path, 8).expect("reopen");
        let second = store.enqueue(vec![copy("1")], lim).await.expect("enqueue");
        assert!(second.stanza_id > first.stanza_id);
        assert_eq!(
            store
                .pending("a", 1, 0, 10, 2)
                .await
                .expect("pending")
                .len(),
            2
        );
    }

    #[tokio::test]
    async fn messages_queued_under_the_first_schema_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite3");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(
                "CREATE TABLE queue (
                    account TEXT NOT NULL, device INTEGER NOT NULL, stanza_id INTEGER NOT NULL,
                    sender TEXT NOT NULL, msg_id TEXT NOT NULL, ts INTEGER NOT NULL,
                    expires INTEGER NOT NULL, payload BLOB NOT NULL,
                    PRIMARY KEY (account, device, stanza_id)) WITHOUT ROWID;
                 INSERT INTO queue VALUES ('a', 1, 7, 'b@x/1', 'm1', 5, 9999999999999, x'0102');",
            )
            .expect("old schema");
        }
        let store = SqliteStore::open(&path, 8).expect("open migrates");
        let pending = store.pending("a", 1, 0, 10, 6).await.expect("pending");
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (pending[0].stanza_id, pending[0].msg_id.as_str()),
            (7, "m1")
        );
        assert_eq!(pending[0].payload, vec![1, 2]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_transactions() {
        let (_dir, store) = fresh();
        let store = Arc::new(store);
        let lim = QueueLimits {
            max_per_device: 100_000,
            ttl_ms: 1 << 40,
            now_ms: 1,
        };
        let mut tasks = Vec::new();
        for i in 0..2000u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let copy = NewMessage {
                    account: "a".into(),
                    device: i % 4,
                    sender: "b@x/1".into(),
                    msg_id: i.to_string(),
                    payload: vec![0; 64],
                };
                store.enqueue(vec![copy], lim).await
            }));
        }
        for t in tasks {
            t.await.expect("join").expect("enqueue");
        }
        assert_eq!(store.queue_depth().await.expect("depth"), 2000);
    }

    /// A group stays open for its window: a lone write is answered no sooner than the window
    /// after it was submitted, and a write submitted inside the window joins its group (it
    /// is answered with the first, not a window after its own submission).
    #[tokio::test]
    async fn a_group_gathers_writes_for_its_window() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wait = std::time::Duration::from_millis(200);
        let store = SqliteStore::open_with_commit_wait(&dir.path().join("db.sqlite3"), 64, wait)
            .expect("open");
        let lim = QueueLimits {
            max_per_device: 10,
            ttl_ms: 1 << 40,
            now_ms: 1,
        };
        let started = std::time::Instant::now();
        let first = store.enqueue(vec![copy("1")], lim);
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        let second = store.enqueue(vec![copy("2")], lim);
        let answered = |write: StoreFuture<'static, Enqueued>| async move {
            let done = write.await.expect("enqueue");
            (done, std::time::Instant::now())
        };
        let ((_, first_at), (_, second_at)) = tokio::join!(answered(first), answered(second));
        assert!(
            first_at - started >= wait,
            "the first write was answered {:?} after submission, before its window closed",
            first_at - started
        );
        assert!(
            second_at.saturating_duration_since(first_at) < std::time::Duration::from_millis(30),
            "the second write got a group of its own ({:?} after the first)",
            second_at.saturating_duration_since(first_at)
        );
    }

    /// Expiry without an index on `expires`: the expired prefix (in arrival order) goes, a
    /// live message stops it, and an expired one queued after a live one (a lowered ttl)
    /// stays on disk until the live one expires, never delivered meanwhile.
    #[tokio::test]
    async fn expiry_removes_the_expired_prefix() {
        let (_dir, store) = fresh();
        let at = |now_ms, ttl_ms| QueueLimits {
            max_per_device: 100,
            ttl_ms,
            now_ms,
        };
        for (id, ttl) in [("old1", 10), ("old2", 10), ("live", 1000), ("short", 10)] {
            store
                .enqueue(vec![copy(id)], at(100, ttl))
                .await
                .expect("enqueue");
        }
        assert_eq!(
            store.expire(50).await.expect("expire"),
            0,
            "none expired yet"
        );
        assert_eq!(store.expire(200).await.expect("expire"), 2, "old1, old2");
        let ids = |v: Vec<QueuedMessage>| v.into_iter().map(|m| m.msg_id).collect::<Vec<_>>();
        let pending = store.pending("a", 1, 0, 10, 200).await.expect("pending");
        assert_eq!(
            ids(pending),
            ["live"],
            "the expired one behind it is not delivered"
        );
        assert_eq!(store.queue_depth().await.expect("depth"), 2, "live, short");
        assert_eq!(store.expire(2000).await.expect("expire"), 2, "live, short");
        assert_eq!(store.queue_depth().await.expect("depth"), 0);
    }
}
