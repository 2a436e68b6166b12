//! A SQLite connection driven from the calling thread, for the ingestion
//! writer, which writes on the order of a hundred rows per transaction.
//!
//! sqlx runs each SQLite connection on a thread of its own, so every
//! statement it executes is a hand-off to that thread and back (70–150 µs
//! on a virtual machine under load), and a multi-row statement is parsed
//! again whenever its row count changes. Ingestion ran at a fraction of
//! what SQLite can do for that alone (bench/README.md). This connection
//! is opened with rusqlite on the same database file and runs each
//! statement where it is called, prepared once and kept: a transaction
//! ([`Store::write_inline`](super::Store::write_inline)) blocks its thread
//! while it runs, so the ingestion writer has a thread of its own.
//!
//! Its commits do not wait for the disk themselves (`synchronous =
//! NORMAL`): the [`LogSync`] makes them durable by syncing the
//! write-ahead log file from a thread of its own, so the next batch is
//! written while the last one's fsync runs, and one fsync serves every
//! commit made before it began. Nothing is answered before its commit is
//! on disk.
//!
//! It shares the turn to write with the sqlx writer connection: while it
//! writes, no other writer of the process does. Store functions an
//! ingestion batch calls have a branch for it (the statements it repeats
//! per row are single-row, prepared once; everything else keeps the SQL
//! text of the sqlx branch); any other is refused with an error. Only this
//! module names rusqlite.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::OwnedMappedMutexGuard;

use super::writes::Value;
use super::{Result, StoreError, WriterConnections};

/// Prepared statements a connection keeps: enough for every distinct
/// statement ingestion runs.
const KEPT_STATEMENTS: usize = 64;

/// The native connection to a SQLite database.
pub(crate) struct Connection {
    connection: rusqlite::Connection,
    log: Arc<LogSync>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("native::Connection")
    }
}

impl Connection {
    /// Opens `path`, set up as the sqlx connections are (the log, foreign
    /// keys, statement journals in memory), but with commits that leave
    /// their fsync to the [`LogSync`] and checkpoints all left to
    /// `Store::checkpoint` (its own, inside a commit, would hold up the
    /// batch that crossed the threshold).
    pub(crate) fn open(path: &Path) -> anyhow::Result<Connection> {
        let connection = rusqlite::Connection::open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        connection.busy_timeout(Duration::from_secs(10))?;
        connection.set_prepared_statement_cache_capacity(KEPT_STATEMENTS);
        connection.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
             PRAGMA temp_store = memory; PRAGMA wal_autocheckpoint = 0;
             BEGIN IMMEDIATE; COMMIT;",
        )?;
        // The write above made sure the log file exists; it stays while any
        // connection is open, and this one is open as long as the store.
        let log = LogSync::open(path)?;
        Ok(Connection {
            connection,
            log: Arc::new(log),
        })
    }

    /// Runs a statement that returns no rows, binding `values` to `$1`,
    /// `$2`, …; the statement stays prepared.
    pub(crate) fn execute(&self, sql: &str, values: &[Value<'_>]) -> Result<usize> {
        let mut statement = self.prepare(sql)?;
        bind(&mut statement, values)?;
        statement.raw_execute().map_err(native_error)
    }

    /// Runs a query, reading each row with `read`.
    pub(crate) fn query<T>(
        &self,
        sql: &str,
        values: &[Value<'_>],
        mut read: impl FnMut(&Row<'_>) -> RowResult<T>,
    ) -> Result<Vec<T>> {
        let mut statement = self.prepare(sql)?;
        bind(&mut statement, values)?;
        let mut rows = statement.raw_query();
        let mut found = Vec::new();
        while let Some(row) = rows.next().map_err(native_error)? {
            found.push(read(row).map_err(native_error)?);
        }
        Ok(found)
    }

    /// `sql`, prepared once and kept. SQLite numbers a parameter named
    /// `$2` by where it first appears, and `?2` by its digits: each `$N` is
    /// prepared as `?N`, so that values bind by position. (The store's SQL
    /// has no `$` but in placeholders.)
    fn prepare(&self, sql: &str) -> Result<rusqlite::CachedStatement<'_>> {
        let sql = if sql.contains('$') {
            std::borrow::Cow::Owned(sql.replace('$', "?"))
        } else {
            std::borrow::Cow::Borrowed(sql)
        };
        self.connection.prepare_cached(&sql).map_err(native_error)
    }
}

/// A row as a native query reads it.
pub(crate) type Row<'r> = rusqlite::Row<'r>;
pub(crate) type RowResult<T> = rusqlite::Result<T>;

/// A write transaction on the native connection, holding the turn to
/// write. Dropped without commit, it is rolled back.
pub(crate) struct Write {
    connections: OwnedMappedMutexGuard<Option<WriterConnections>, WriterConnections>,
    open: bool,
}

impl Write {
    /// Begins a transaction that takes the write lock up front.
    pub(crate) fn begin(
        connections: OwnedMappedMutexGuard<Option<WriterConnections>, WriterConnections>,
    ) -> Result<Write> {
        connections.native.log.check()?;
        connections.native.execute("BEGIN IMMEDIATE", &[])?;
        Ok(Write {
            connections,
            open: true,
        })
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.connections.native
    }

    /// Commits, and returns once the commit is on disk.
    pub(crate) fn commit(self) -> Result<()> {
        self.commit_unsynced()?.sync()
    }

    /// Commits without waiting for the disk (the turn to write is free
    /// again when this returns); the returned log makes it durable.
    pub(crate) fn commit_unsynced(mut self) -> Result<Arc<LogSync>> {
        self.connections.native.execute("COMMIT", &[])?;
        self.open = false;
        Ok(self.connections.native.log.clone())
    }
}

impl Drop for Write {
    fn drop(&mut self) {
        if self.open
            && let Err(error) = self.connections.native.execute("ROLLBACK", &[])
        {
            tracing::warn!("rolling back a native SQLite transaction failed: {error}");
        }
    }
}

/// What to do once commits are on disk, or the sync failed.
type AfterSync = Box<dyn FnOnce(Result<()>) + Send>;

/// Makes the native connection's commits durable: an fsync of the
/// write-ahead log file covers every frame written to it before the fsync
/// began (Linux syncs a file's pages whichever descriptor wrote them).
/// Commits that wait go to a thread of its own, which syncs once for all
/// of them queued and then runs what each waits for.
pub(crate) struct LogSync {
    file: Arc<std::fs::File>,
    waiting: std::sync::Mutex<std::sync::mpsc::Sender<AfterSync>>,
    /// A sync failed: what the log holds may not reach the disk, and the
    /// kernel may have dropped the pages it could not write, so later
    /// syncs would not tell. Writes are refused until a restart, when
    /// SQLite reads back what the log truly holds.
    failed: Arc<AtomicBool>,
}

impl LogSync {
    fn open(database: &Path) -> anyhow::Result<LogSync> {
        let mut path = database.as_os_str().to_owned();
        path.push("-wal");
        let file = Arc::new(
            std::fs::File::open(&path)
                .with_context(|| format!("opening {}", Path::new(&path).display()))?,
        );
        let failed = Arc::new(AtomicBool::new(false));
        let (waiting, queue) = std::sync::mpsc::channel::<AfterSync>();
        {
            let file = file.clone();
            let failed = failed.clone();
            std::thread::Builder::new()
                .name("siaga-log-sync".into())
                .spawn(move || sync_queued(&file, &failed, &queue))
                .context("starting the log syncer")?;
        }
        Ok(LogSync {
            file,
            waiting: std::sync::Mutex::new(waiting),
            failed,
        })
    }

    /// Refuses when an earlier sync failed.
    fn check(&self) -> Result<()> {
        if self.failed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(anyhow::anyhow!(
                "syncing the SQLite write-ahead log failed earlier; restart siaga"
            )));
        }
        Ok(())
    }

    /// Syncs on this thread, for everything committed so far.
    pub(crate) fn sync(&self) -> Result<()> {
        sync_file(&self.file, &self.failed)
    }

    /// Runs `then` on the syncer's thread once everything committed so far
    /// is on disk, or with the error if the sync failed.
    pub(crate) fn sync_then(&self, then: impl FnOnce(Result<()>) + Send + 'static) {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(unsent) = waiting.send(Box::new(then)) {
            // The syncer is gone (it never stops while the log is open):
            // sync here instead.
            (unsent.0)(self.sync());
        }
    }
}

/// The syncer's loop: takes every commit waiting, syncs once, answers all.
/// Ends when the log is dropped with the store.
fn sync_queued(
    file: &std::fs::File,
    failed: &AtomicBool,
    queue: &std::sync::mpsc::Receiver<AfterSync>,
) {
    while let Ok(first) = queue.recv() {
        let mut waiting = vec![first];
        waiting.extend(queue.try_iter());
        let started = Instant::now();
        let synced = sync_file(file, failed);
        metrics::histogram!("siaga_store_seconds", "operation" => "log_sync")
            .record(started.elapsed().as_secs_f64());
        for then in waiting {
            then(match &synced {
                Ok(()) => Ok(()),
                Err(error) => Err(StoreError::Unavailable(anyhow::anyhow!("{error}"))),
            });
        }
    }
}

fn sync_file(file: &std::fs::File, failed: &AtomicBool) -> Result<()> {
    if failed.load(Ordering::Acquire) {
        return Err(StoreError::Unavailable(anyhow::anyhow!(
            "syncing the SQLite write-ahead log failed earlier; restart siaga"
        )));
    }
    file.sync_data().map_err(|error| {
        failed.store(true, Ordering::Release);
        tracing::error!(
            "syncing the SQLite write-ahead log failed ({error}); refusing writes until a restart"
        );
        StoreError::Unavailable(
            anyhow::Error::new(error).context("syncing the SQLite write-ahead log"),
        )
    })
}

/// Binds `values` to the statement's `?1`, `?2`, ….
fn bind(statement: &mut rusqlite::CachedStatement<'_>, values: &[Value<'_>]) -> Result<()> {
    let wanted = statement.parameter_count();
    if wanted > values.len() {
        return Err(StoreError::Other(anyhow::anyhow!(
            "a native statement binds {wanted} values, and {} were given",
            values.len()
        )));
    }
    for (at, value) in values.iter().take(wanted).enumerate() {
        let result = match value {
            Value::Int(v) => statement.raw_bind_parameter(at + 1, v),
            Value::Text(v) => statement.raw_bind_parameter(at + 1, v.as_deref()),
        };
        result.map_err(native_error)?;
    }
    Ok(())
}

/// A native failure as the store reports sqlx's: a broken uniqueness rule
/// is a conflict, a database kept busy past the timeout is unavailable,
/// anything else unexpected.
fn native_error(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, message)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict(
                message
                    .clone()
                    .unwrap_or_else(|| "a uniqueness rule was broken".to_string()),
            )
        }
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.code == rusqlite::ErrorCode::DatabaseBusy =>
        {
            StoreError::Unavailable(anyhow::Error::new(error).context("the database is busy"))
        }
        _ => StoreError::Other(anyhow::Error::new(error)),
    }
}

/// What a store function without a native branch answers when called in a
/// native transaction: a bug in the caller, which must use `Store::write`.
pub(crate) fn unsupported() -> StoreError {
    StoreError::Other(anyhow::anyhow!(
        "this store operation has no native branch; use Store::write for it"
    ))
}
