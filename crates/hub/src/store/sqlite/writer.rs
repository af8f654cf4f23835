//! The SQLite store's writer thread: every write runs there, in submission order, grouped
//! into transactions (group commit) that stay open for a short window
//! ([`SqliteStore::open_with_commit_wait`](super::SqliteStore::open_with_commit_wait)), so
//! many writes share one fsync.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{DeviceId, StoreError, db};

/// What the writer thread keeps between transactions.
pub(super) struct WriterState {
    /// Queue length per device, loaded on first use.
    pub(super) depth: HashMap<(String, DeviceId), u32>,
    /// Set by a job run without its own savepoint (see `SqliteStore::write_unguarded`)
    /// that failed: the whole transaction is rolled back and every job in it fails.
    pub(super) poisoned: bool,
}

/// What a job does once its transaction committed (or failed): answer its caller.
pub(super) type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A write, run on the writer thread inside the group's transaction.
pub(super) type Job = Box<dyn FnOnce(&Connection, &mut WriterState) -> Finish + Send>;

/// A job as the writer receives it: with the time it was submitted, which starts the
/// group-commit window of the group it opens.
pub(super) struct Submitted {
    at: Instant,
    job: Job,
}

/// A job without a savepoint (see `SqliteStore::write_unguarded`): a failure of `op` fails
/// the whole group; `done` gets the outcome once the group is committed or rolled back.
pub(super) fn unguarded<T: Send + 'static>(
    op: impl FnOnce(&Connection, &mut WriterState) -> Result<T, StoreError> + Send + 'static,
    done: impl FnOnce(Result<T, StoreError>) + Send + 'static,
) -> Job {
    Box::new(move |conn, state| {
        let outcome = op(conn, state);
        if outcome.is_err() {
            state.poisoned = true;
        }
        Box::new(move |committed: Result<(), StoreError>| done(committed.and(outcome)))
    })
}

/// The `done` of a job whose caller waits on `reply`.
pub(super) fn answer<T: Send + 'static>(
    reply: oneshot::Sender<Result<T, StoreError>>,
) -> impl FnOnce(Result<T, StoreError>) + Send + 'static {
    move |outcome| {
        let _ = reply.send(outcome);
    }
}

/// Runs `op` inside a savepoint: its failure undoes only its own changes, not the group's.
pub(super) fn run_in_savepoint<T>(
    conn: &Connection,
    state: &mut WriterState,
    op: impl FnOnce(&Connection, &mut WriterState) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let run = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map_err(db)
    };
    run("SAVEPOINT job")?;
    match op(conn, state) {
        Ok(v) => {
            run("RELEASE job")?;
            Ok(v)
        }
        Err(e) => {
            // The job's changes are undone; cached depths may be stale now.
            state.depth.clear();
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
                .map_err(db)?;
            Err(e)
        }
    }
}

impl Submitted {
    /// `job`, submitted now.
    pub(super) fn now(job: Job) -> Self {
        Self {
            at: Instant::now(),
            job,
        }
    }
}

/// How the writer groups writes into transactions.
#[derive(Clone, Copy)]
pub(super) struct Group {
    /// Most writes in one transaction.
    pub(super) max: usize,
    /// How long after its first write was submitted a group stays open.
    pub(super) wait: Duration,
}

/// Moves the writes waiting in `rx` into `jobs`, up to `max` in all, without blocking.
fn take_waiting(rx: &mpsc::Receiver<Submitted>, jobs: &mut Vec<Job>, max: usize) {
    while jobs.len() < max {
        match rx.try_recv() {
            Ok(s) => jobs.push(s.job),
            Err(_) => break,
        }
    }
}

/// The writer thread: takes a group (see [`Group`]), runs its jobs in one transaction,
/// commits, and answers each job with the outcome; ends when every submitter is gone.
pub(super) fn writer_loop(
    conn: Connection,
    mut state: WriterState,
    rx: mpsc::Receiver<Submitted>,
    group: Group,
) {
    while let Ok(first) = rx.recv() {
        let opened = first.at;
        let mut jobs = vec![first.job];
        take_waiting(&rx, &mut jobs, group.max);
        if jobs.len() < group.max {
            // Sleeping, not waiting on the channel: submitters wake no one meanwhile.
            let closes = opened + group.wait;
            let now = Instant::now();
            if closes > now {
                std::thread::sleep(closes - now);
                take_waiting(&rx, &mut jobs, group.max);
            }
        }
        let begun = conn.execute_batch("BEGIN IMMEDIATE").map_err(db);
        let mut finishers = Vec::with_capacity(jobs.len());
        if begun.is_ok() {
            for job in jobs {
                finishers.push(job(&conn, &mut state));
            }
        }
        let committed = begun.and_then(|()| {
            if std::mem::take(&mut state.poisoned) {
                Err(StoreError::Database(
                    "a write in the same transaction failed; nothing of it was stored".into(),
                ))
            } else {
                conn.execute_batch("COMMIT").map_err(db)
            }
        });
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
            state.depth.clear();
        }
        for finish in finishers {
            finish(
                committed
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| StoreError::Database(e.to_string())),
            );
        }
    }
}
