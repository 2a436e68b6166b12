//! All SQL, for both backends: SQLite (embedded, one process) and PostgreSQL
//! (several replicas on one database). Nothing outside this module names
//! sqlx. The SQL text is shared; backend-specific code exists only where it
//! must differ (claiming jobs).
//!
//! Reads and writes go through a [`Tx`]: begin one with [`Store::read`] or
//! [`Store::write`], call its methods, commit writes. A use case that changes
//! state, appends its events and enqueues its jobs does so in one `Tx`, so
//! either all of it happens or none.

mod alerts;
mod config;
mod dead_letters;
mod escalations;
mod events;
mod incidents;
mod jobs;
mod native;
mod schedules;
mod secrets;
mod users;
mod writes;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use jiff::Timestamp;
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous,
    SqliteTransactionManager,
};
use sqlx::{Connection, PgPool, Postgres, SqlSafeStr, Sqlite, SqlitePool, Transaction};
// Not re-exported by sqlx: it begins, commits and rolls back on a bare connection.
use sqlx_core::transaction::TransactionManager;
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

pub use alerts::{
    AlertEvent, AlertFilter, AlertGroup, ChangeEvent, InboundEvent, InboundMessage, NewAlertGroup,
    ServicesForIngest,
};
pub use config::ConfigRevision;
pub use escalations::ESCALATION_MOVES;
pub use events::EventFilter;
pub use incidents::IncidentFilter;
pub use jobs::{JobPlace, JobPlaces, JobTaker, QueueDepth};
pub use schedules::StoredOverride;
pub use users::{ApiToken, Session, User};
use writes::Value;
pub use writes::WriteSet;

/// Runs `$body` with `$conn` bound to the pool of whichever backend `$db` is.
/// The body is compiled once per backend, so it must be valid for both.
macro_rules! with_pool {
    ($db:expr, $conn:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($conn) => $body,
            $crate::store::Db::Postgres($conn) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the connection of a [`Tx`].
macro_rules! with_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match &mut $tx.inner {
            $crate::store::TxInner::Sqlite(transaction) => {
                let $conn = &mut **transaction;
                $body
            }
            $crate::store::TxInner::Postgres(transaction) => {
                let $conn = &mut **transaction;
                $body
            }
            $crate::store::TxInner::Native(_) => return Err($crate::store::native::unsupported()),
        }
    };
}
pub(crate) use with_tx;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the message names what collided.
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached (down, restarting, gone, out of
    /// connections, busy past the write turn's wait, closed for shutdown):
    /// nothing was written, and the same request may succeed in a moment,
    /// here or on another replica.
    #[error("{0:#}")]
    Unavailable(anyhow::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_string())
            }
            // PostgreSQL broke a deadlock between concurrent writers by
            // failing this statement: like a conflict, worth a retry.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("40P01") => {
                StoreError::Conflict(db.message().to_string())
            }
            _ if unavailable(&error) => StoreError::Unavailable(
                anyhow::Error::new(error).context("the database is unavailable"),
            ),
            _ => StoreError::Other(anyhow::Error::new(error)),
        }
    }
}

/// Whether `error` says the database cannot be reached, rather than that
/// it refused what was asked.
fn unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL classes 08 (connection exception) and 53 (insufficient
        // resources, e.g. too many connections); 3D000: the database does
        // not exist (dropped, or not created yet).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("53") || code == "3D000"
        }),
        _ => connection_lost(error),
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    url: Arc<str>,
    /// SQLite: the database file.
    sqlite_path: Option<Arc<std::path::Path>>,
    /// The connections write transactions begin on.
    writer: Writer,
    jobs: Arc<jobs::JobSignal>,
    /// The database's own id (see [`Store::installation`]).
    installation: Arc<str>,
}

#[derive(Clone, Debug)]
enum Writer {
    /// The one connection every write goes through, durable or not by its
    /// `BEGIN`: its page cache stays warm from one write to the next, where
    /// a connection per write would read again every page the last one
    /// changed. Its lock is the turn to write: writers of this process
    /// queue on it, in order, instead of in SQLite's busy handler, which
    /// sleeps and retries and so turns contention into latency. It is kept
    /// out of a pool, which would ping it on every release (one more
    /// hand-off to its thread per transaction) from a task the next writer
    /// waits for. `None` once the store is closed.
    Sqlite(Arc<Mutex<Option<WriterConnections>>>),
    Postgres {
        /// The store's pool.
        durable: PgPool,
        /// Connections whose commits do not wait for the disk, for
        /// [`Store::write_replayable`].
        replayable: PgPool,
    },
}

/// The connections SQLite writes go through, behind one turn: sqlx's, for
/// every use case, and the native one of the ingestion writer (see
/// `native`), which writes a batch without a hand-off per statement.
#[derive(Debug)]
pub(crate) struct WriterConnections {
    sqlx: SqliteConnection,
    native: native::Connection,
}

/// Whether a write transaction's commit waits for the disk.
#[derive(Clone, Copy)]
enum Commit {
    Durable,
    /// See [`Store::write_replayable`].
    Replayable,
}

/// Write-ahead log pages past which the sqlx writer connection checkpoints
/// in its own commit, should [`Store::checkpoint`] not be called (40 MB).
/// The native connection never does (see [`FORCED_RESTART_PAGES`]).
const BACKSTOP_CHECKPOINT_PAGES: u32 = 10_000;

/// Write-ahead log pages past which [`Store::checkpoint`] works to start
/// the log over (SQLite's own checkpoint threshold).
const RESTART_LOG_PAGES: i64 = 1_000;

/// The most log pages left to copy in the writer's turn, which holds up
/// every write meanwhile (a page takes a few microseconds to copy).
const TURN_PASS_MOST: i64 = 256;

/// Passes made outside the writer's turn in one checkpoint, each copying
/// what was committed during the one before.
const CATCH_UP_PASSES: usize = 8;

/// A log this long (400 MB) is started over in the writer's turn however
/// long that takes: a writer faster than the copy would otherwise grow it
/// without end.
const FORCED_RESTART_PAGES: i64 = 100_000;

/// How long a writer waits for its turn before giving up, as SQLite's busy
/// timeout does for writers of other processes.
const WRITE_TURN_TIMEOUT: Duration = Duration::from_secs(10);

/// A transaction on either backend.
pub struct Tx {
    pub(crate) inner: TxInner,
    /// Whom to tell at commit when the transaction enqueued jobs.
    jobs: Arc<jobs::JobSignal>,
    /// It enqueued jobs, or made some due again (a retry, a release):
    /// runners are told at commit.
    wakes_runners: bool,
    /// Jobs this process's runner took as they were enqueued.
    taken_jobs: jobs::TakenJobs,
    /// The earliest run time of the jobs it enqueued or rescheduled that no
    /// runner took.
    untaken_due: Option<Timestamp>,
    /// PostgreSQL: the pool other replicas are told of those jobs through.
    replicas: Option<PgPool>,
}

pub(crate) enum TxInner {
    Sqlite(SqliteTx),
    Postgres(Transaction<'static, Postgres>),
    /// SQLite, on the native connection (see [`Store::write_inline`]).
    Native(native::Write),
}

/// A SQLite transaction: a read on a pooled connection, or a write on the
/// writer connection, holding the turn to write until it ends.
pub(crate) enum SqliteTx {
    Read(Transaction<'static, Sqlite>),
    Write(SqliteWrite),
}

/// A write transaction on the writer connection. Dropped without commit,
/// it is rolled back the way sqlx rolls back a dropped transaction: the
/// rollback is queued on the connection's thread at once, ahead of
/// whatever the next writer sends.
pub(crate) struct SqliteWrite {
    connections: OwnedMappedMutexGuard<Option<WriterConnections>, WriterConnections>,
    open: bool,
}

impl SqliteWrite {
    async fn commit(mut self) -> Result<()> {
        SqliteTransactionManager::commit(&mut self.connections.sqlx).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for SqliteWrite {
    fn drop(&mut self) {
        if self.open {
            SqliteTransactionManager::start_rollback(&mut self.connections.sqlx);
        }
    }
}

impl std::ops::Deref for SqliteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            SqliteTx::Read(transaction) => transaction,
            SqliteTx::Write(write) => &write.connections.sqlx,
        }
    }
}

impl std::ops::DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            SqliteTx::Read(transaction) => transaction,
            SqliteTx::Write(write) => &mut write.connections.sqlx,
        }
    }
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`) and runs pending
    /// migrations. Errors name the URL with any password masked.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        let shown = mask_password(url);
        let mut sqlite_path = None;
        let writer;
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .with_context(|| format!("invalid database URL {shown}"))?;
            let pool = pool_options::<Postgres>()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.clone())
                .await
                .with_context(|| format!("cannot connect to the database at {shown}"))?;
            sqlx::migrate!("migrations/postgres")
                .run(&pool)
                .await
                .with_context(|| format!("migrating the database at {shown}"))?;
            // As many as the job runner runs jobs at once, so its
            // transactions never queue for a connection.
            writer = Writer::Postgres {
                durable: pool.clone(),
                replayable: pool_options::<Postgres>()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy_with(options.options([("synchronous_commit", "off")])),
            };
            Db::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("invalid database URL {shown}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before we answer 2xx.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // A multi-row upsert keeps a statement journal of every page
                // it changes, in case it fails halfway; past 64 KiB SQLite
                // moves that journal to a temporary file, and a batch of
                // webhooks spent a tenth of the writer's time writing it
                // (bench/README.md). In memory it costs a few MB at most.
                .pragma("temp_store", "memory");
            sqlite_path = Some(Arc::from(options.get_filename()));
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating the directory {}", parent.display()))?;
            }
            let pool = pool_options::<Sqlite>()
                .max_connections(8)
                .connect_with(options.clone())
                .await
                .with_context(|| format!("cannot open the database at {shown}"))?;
            sqlx::migrate!("migrations/sqlite")
                .run(&pool)
                .await
                .with_context(|| format!("migrating the database at {shown}"))?;
            // Checkpoints are taken off the commit path by
            // `Store::checkpoint`; the writers' own are only the backstop.
            let sqlx = SqliteConnection::connect_with(
                &options
                    .clone()
                    .pragma("wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES.to_string()),
            )
            .await
            .with_context(|| format!("cannot open the database at {shown}"))?;
            let native = native::Connection::open(options.get_filename())
                .with_context(|| format!("cannot open the database at {shown}"))?;
            writer = Writer::Sqlite(Arc::new(Mutex::new(Some(WriterConnections {
                sqlx,
                native,
            }))));
            Db::Sqlite(pool)
        } else {
            anyhow::bail!(
                "unsupported database URL {shown}: use sqlite://PATH or postgres://USER@HOST/DB"
            );
        };
        let mut store = Store {
            db,
            url: shown.as_str().into(),
            sqlite_path,
            writer,
            jobs: Arc::default(),
            installation: Arc::from(""),
        };
        store.installation = store
            .installation_id()
            .await
            .with_context(|| format!("reading the installation id of {shown}"))?
            .into();
        Ok(store)
    }

    /// The database's installation id, made now (a server secret that is
    /// never shown or rotated) if it has none.
    async fn installation_id(&self) -> Result<String> {
        use rand::Rng;
        let made: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(12)
            .map(char::from)
            .collect();
        let mut tx = self.write().await?;
        let id = tx
            .server_secret(crate::clock::Clock::system().now(), "installation", &made)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The database's own id, made at its first start and never changed:
    /// replicas of one installation share it, and no other installation
    /// has it. Delivery ids start with it, so that a receiver (or a
    /// mailbox, by Message-ID) that drops repeats does not drop a page of
    /// production's as a repeat of staging's.
    pub fn installation(&self) -> &str {
        &self.installation
    }

    /// Makes this process the only server of a SQLite database, for as long
    /// as the returned lock is held: jobs, rate limits and the write turn
    /// are kept in the process, so a second `siaga serve` on the same file
    /// is refused. `None` on PostgreSQL, where replicas share the database.
    pub fn claim_sole_server(&self) -> anyhow::Result<Option<std::fs::File>> {
        let Some(path) = &self.sqlite_path else {
            return Ok(None);
        };
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".serve-lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", std::path::Path::new(&lock_path).display()))?;
        match lock.try_lock() {
            Ok(()) => Ok(Some(lock)),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another siaga serve is using {}: a SQLite database has one server (use PostgreSQL for replicas)",
                path.display()
            ),
            Err(std::fs::TryLockError::Error(error)) => {
                Err(anyhow::Error::new(error).context(format!("locking {}", path.display())))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL this store was opened with, password masked.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many transactions [`Store::read`] can have open at once (the
    /// pool's size; on PostgreSQL writes take from the same pool). A task
    /// holding one must not wait for a second: enough such tasks at once
    /// would each hold one and wait forever for another.
    pub fn read_connections(&self) -> u32 {
        match &self.db {
            Db::Sqlite(pool) => pool.options().get_max_connections(),
            Db::Postgres(pool) => pool.options().get_max_connections(),
        }
    }

    /// A transaction for reading. Dropping it without commit is fine.
    pub async fn read(&self) -> Result<Tx> {
        let started = Instant::now();
        let inner = match &self.db {
            Db::Sqlite(pool) => TxInner::Sqlite(SqliteTx::Read(pool.begin().await?)),
            Db::Postgres(pool) => TxInner::Postgres(begin_postgres(pool).await?),
        };
        record_latency("begin_read", started);
        Ok(self.transaction(inner))
    }

    /// A transaction for writing. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`) once this process's other writers are done, so
    /// writers queue instead of failing when one upgrades a read lock.
    pub async fn write(&self) -> Result<Tx> {
        self.begin_write(Commit::Durable).await
    }

    /// A transaction for writing whose commit need not reach the disk
    /// before it returns: for the job runner, whose work a lost commit only
    /// repeats. A job completes in the transaction of its effects, so if a
    /// power failure (not a crash: the commit is in the operating system's
    /// hands by then) loses the commit, the job is still due and runs again,
    /// and a delivery it sent goes out again under the same delivery id.
    /// The next durable commit, or a checkpoint, makes it durable; ingestion
    /// and everything people do stay on [`Store::write`].
    pub async fn write_replayable(&self) -> Result<Tx> {
        self.begin_write(Commit::Replayable).await
    }

    async fn begin_write(&self, commit: Commit) -> Result<Tx> {
        let started = Instant::now();
        let inner = match &self.writer {
            Writer::Sqlite(writer) => {
                let mut connections = write_turn(writer).await?;
                // One round trip: the setting holds for this transaction's
                // commit, on the connection every write shares.
                let begin = match commit {
                    Commit::Durable => "PRAGMA synchronous = FULL; BEGIN IMMEDIATE",
                    Commit::Replayable => "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE",
                };
                SqliteTransactionManager::begin(&mut connections.sqlx, Some(begin.into_sql_str()))
                    .await?;
                TxInner::Sqlite(SqliteTx::Write(SqliteWrite {
                    connections,
                    open: true,
                }))
            }
            Writer::Postgres {
                durable,
                replayable,
            } => {
                let pool = match commit {
                    Commit::Durable => durable,
                    Commit::Replayable => replayable,
                };
                TxInner::Postgres(begin_postgres(pool).await?)
            }
        };
        record_latency("begin_write", started);
        Ok(self.transaction(inner))
    }

    /// A durable write transaction whose SQLite statements run on the
    /// calling thread, on the native connection (see `native`), blocking
    /// it until each returns, the commit's fsync included: for the
    /// ingestion writer, on a thread of its own. Only the store functions
    /// an ingestion batch uses work in it; the others answer an error. On
    /// PostgreSQL it is [`Store::write`].
    pub async fn write_inline(&self) -> Result<Tx> {
        let Writer::Sqlite(writer) = &self.writer else {
            return self.write().await;
        };
        let started = Instant::now();
        let write = native::Write::begin(write_turn(writer).await?)?;
        record_latency("begin_write", started);
        Ok(self.transaction(TxInner::Native(write)))
    }

    fn transaction(&self, inner: TxInner) -> Tx {
        Tx {
            inner,
            jobs: self.jobs.clone(),
            wakes_runners: false,
            taken_jobs: jobs::TakenJobs::new(self.jobs.clone()),
            untaken_due: None,
            replicas: match &self.db {
                Db::Postgres(pool) => Some(pool.clone()),
                Db::Sqlite(_) => None,
            },
        }
    }

    /// Copies what the SQLite write-ahead log holds into the database, so
    /// that it can start over, without waiting for writers or readers
    /// (`PASSIVE`). `siaga serve` calls this every quarter second, so that
    /// commits do not take the checkpoint themselves: one that fell on a
    /// commit (SQLite's default, every 1,000 pages) wrote and fsynced up to
    /// 4 MB of pages before that commit's request was answered. The sqlx
    /// writer connection checkpoints by itself only past
    /// [`BACKSTOP_CHECKPOINT_PAGES`], the native one never. Returns the
    /// log's frames and those checkpointed; `None` on PostgreSQL.
    ///
    /// SQLite starts the log over only when a write begins with all of it
    /// copied, which a copy made beside a writer that keeps committing never
    /// achieves. So a log longer than [`RESTART_LOG_PAGES`] is copied again,
    /// outside the writer's turn, pass after pass (each copies what was
    /// committed during the one before, and reports only what it saw when
    /// it began), until what is left is at most [`TURN_PASS_MOST`] pages:
    /// a last pass in the writer's turn copies those, and the next write
    /// starts the log over. A log that does not get there in
    /// [`CATCH_UP_PASSES`] waits for the next call, unless it passed
    /// [`FORCED_RESTART_PAGES`].
    pub async fn checkpoint(&self) -> Result<Option<(i64, i64)>> {
        let (Db::Sqlite(pool), Writer::Sqlite(writer)) = (&self.db, &self.writer) else {
            return Ok(None);
        };
        let started = Instant::now();
        let mut connection = pool.acquire().await?;
        let mut copied = passive_checkpoint(&mut connection).await?;
        for _ in 0..CATCH_UP_PASSES {
            if copied.0 <= RESTART_LOG_PAGES {
                break;
            }
            let again = passive_checkpoint(&mut connection).await?;
            // Committed during the last pass; less than nothing when the
            // log started over meanwhile.
            let left = again.0 - copied.0;
            copied = again;
            if left < 0 {
                break;
            }
            if left <= TURN_PASS_MOST || copied.0 > FORCED_RESTART_PAGES {
                // The connection is held first, so the writer's turn is
                // never held waiting for the pool.
                let _turn = write_turn(writer).await?;
                copied = passive_checkpoint(&mut connection).await?;
                break;
            }
        }
        record_latency("checkpoint", started);
        Ok(Some(copied))
    }

    /// Checks the database answers, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        let started = Instant::now();
        with_pool!(&self.db, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        record_latency("ping", started);
        Ok(())
    }

    pub async fn close(&self) {
        match &self.writer {
            Writer::Sqlite(writer) => {
                if let Some(connections) = writer.lock().await.take()
                    && let Err(error) = connections.sqlx.close().await
                {
                    tracing::warn!("closing the SQLite writer connection: {error}");
                }
            }
            Writer::Postgres { replayable, .. } => replayable.close().await,
        }
        with_pool!(&self.db, pool => pool.close().await);
    }
}

impl Tx {
    /// Runs a statement binding `values` to `$1`, `$2`, …, on whichever
    /// connection the transaction is on; returns the rows it changed.
    pub(crate) async fn execute_with(&mut self, sql: &str, values: &[Value<'_>]) -> Result<u64> {
        if let TxInner::Native(write) = &self.inner {
            return Ok(write.connection().execute(sql, values)? as u64);
        }
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        Ok(match &mut self.inner {
            TxInner::Sqlite(transaction) => {
                sqlx::query_with(sql, writes::sqlite_arguments(values)?)
                    .execute(&mut **transaction)
                    .await?
                    .rows_affected()
            }
            TxInner::Postgres(transaction) => {
                sqlx::query_with(sql, writes::postgres_arguments(values)?)
                    .execute(&mut **transaction)
                    .await?
                    .rows_affected()
            }
            TxInner::Native(_) => unreachable!("handled above"),
        })
    }

    /// The first column of each row a query returns, as integers.
    pub(crate) async fn fetch_integers(
        &mut self,
        sql: &str,
        values: &[Value<'_>],
    ) -> Result<Vec<i64>> {
        if let TxInner::Native(write) = &self.inner {
            return write.connection().query(sql, values, |row| row.get(0));
        }
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        Ok(match &mut self.inner {
            TxInner::Sqlite(transaction) => {
                sqlx::query_scalar_with(sql, writes::sqlite_arguments(values)?)
                    .fetch_all(&mut **transaction)
                    .await?
            }
            TxInner::Postgres(transaction) => {
                sqlx::query_scalar_with(sql, writes::postgres_arguments(values)?)
                    .fetch_all(&mut **transaction)
                    .await?
            }
            TxInner::Native(_) => unreachable!("handled above"),
        })
    }

    /// The rows a query returns, binding `values` to `$1`, `$2`, …: read by
    /// their sqlx `FromRow` on sqlx's connections, by `read_native` on the
    /// native one (the columns in the order the query names them).
    pub(crate) async fn fetch_all_with<T>(
        &mut self,
        sql: &str,
        values: &[Value<'_>],
        read_native: impl FnMut(&native::Row<'_>) -> native::RowResult<T>,
    ) -> Result<Vec<T>>
    where
        T: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        if let TxInner::Native(write) = &self.inner {
            return write.connection().query(sql, values, read_native);
        }
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        Ok(match &mut self.inner {
            TxInner::Sqlite(transaction) => {
                sqlx::query_as_with(sql, writes::sqlite_arguments(values)?)
                    .fetch_all(&mut **transaction)
                    .await?
            }
            TxInner::Postgres(transaction) => {
                sqlx::query_as_with(sql, writes::postgres_arguments(values)?)
                    .fetch_all(&mut **transaction)
                    .await?
            }
            TxInner::Native(_) => unreachable!("handled above"),
        })
    }

    /// Serialises this transaction with every other one taking the same
    /// lock, until commit. PostgreSQL uses a transaction-level advisory
    /// lock; SQLite write transactions are exclusive already.
    pub async fn lock(&mut self, name: &str) -> Result<()> {
        if let TxInner::Postgres(transaction) = &mut self.inner {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(advisory_lock_key(name))
                .execute(&mut **transaction)
                .await?;
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Postgres(_) => Backend::Postgres,
            TxInner::Sqlite(_) | TxInner::Native(_) => Backend::Sqlite,
        }
    }

    /// The clause that locks the rows a SELECT reads until the transaction
    /// ends. SQLite write transactions hold the whole database already.
    pub(crate) fn row_lock(&self) -> &'static str {
        match self.inner {
            TxInner::Postgres(_) => " FOR UPDATE",
            TxInner::Sqlite(_) | TxInner::Native(_) => "",
        }
    }

    /// Marks a point this transaction can roll back to without ending.
    pub async fn savepoint(&mut self, name: &'static str) -> Result<()> {
        self.execute_control(format!("SAVEPOINT {name}")).await
    }

    pub async fn release_savepoint(&mut self, name: &'static str) -> Result<()> {
        self.execute_control(format!("RELEASE SAVEPOINT {name}"))
            .await
    }

    /// Undoes everything since the savepoint; on PostgreSQL this also
    /// clears the error that aborted the transaction.
    pub async fn rollback_to_savepoint(&mut self, name: &'static str) -> Result<()> {
        self.execute_control(format!("ROLLBACK TO SAVEPOINT {name}"))
            .await
    }

    async fn execute_control(&mut self, sql: String) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(conn).await?.rows_affected()
        });
        Ok(())
    }

    pub async fn commit(self) -> Result<()> {
        let started = Instant::now();
        let Tx {
            inner,
            jobs,
            wakes_runners,
            taken_jobs,
            untaken_due,
            replicas,
        } = self;
        match inner {
            TxInner::Sqlite(SqliteTx::Read(tx)) => tx.commit().await?,
            TxInner::Sqlite(SqliteTx::Write(write)) => write.commit().await?,
            TxInner::Native(write) => write.commit()?,
            TxInner::Postgres(tx) => {
                tx.commit().await?;
                // Jobs taken here need no other replica.
                if let (Some(due), Some(pool)) = (untaken_due, replicas) {
                    jobs::notify_replicas(pool, due);
                }
            }
        }
        if wakes_runners {
            after_commit(&jobs, taken_jobs, untaken_due);
        }
        record_latency("commit", started);
        Ok(())
    }

    /// Commits, and calls `then` once the commit is on disk, or with why
    /// it did not get there. An inline write's commit returns before its
    /// fsync, which the log syncer runs for it and for every other commit
    /// waiting (see `native::LogSync`): its writer may begin the next
    /// transaction meanwhile, and `then` runs on the syncer's thread.
    /// Jobs the transaction enqueued are handed over only once it is
    /// durable. Every other transaction commits as [`Tx::commit`] does and
    /// `then` runs here.
    pub async fn commit_then(self, then: impl FnOnce(Result<()>) + Send + 'static) {
        let Tx {
            inner: TxInner::Native(write),
            jobs,
            wakes_runners,
            taken_jobs,
            untaken_due,
            replicas: _,
        } = self
        else {
            then(self.commit().await);
            return;
        };
        let started = Instant::now();
        let log = match write.commit_unsynced() {
            Ok(log) => log,
            Err(error) => return then(Err(error)),
        };
        record_latency("commit", started);
        log.sync_then(move |synced| {
            if synced.is_ok() && wakes_runners {
                after_commit(&jobs, taken_jobs, untaken_due);
            }
            then(synced);
        });
    }
}

/// Jobs a committed transaction enqueued: those taken go to the task that
/// starts them (it is woken by the hand-over); the runner is woken only
/// for jobs it must claim.
fn after_commit(
    jobs: &jobs::JobSignal,
    taken_jobs: jobs::TakenJobs,
    untaken_due: Option<Timestamp>,
) {
    taken_jobs.hand_over();
    if let Some(due) = untaken_due {
        jobs.due_at(due);
        jobs.wake();
    }
}

/// The most rows one multi-row statement carries.
pub(crate) const MAX_ROWS: usize = 1000;

/// Rows per multi-row statement of `columns` bound values each: within
/// both backends' limits on bound parameters (SQLite 32766, PostgreSQL
/// 65535).
pub(crate) fn rows_per_statement(columns: usize) -> usize {
    (30_000 / columns.max(1)).clamp(1, MAX_ROWS)
}

/// Whether a multi-row statement of `rows` rows is kept prepared: small
/// ones recur (a batch of one is the common case at low load) and are worth
/// caching; large ones vary in size and would only crowd the cache.
pub(crate) fn cache_statement(rows: usize) -> bool {
    rows <= 8
}

/// The PostgreSQL advisory lock [`Tx::lock`] takes for `name`: a stable
/// 64-bit key (FNV-1a), the same on every replica.
pub fn advisory_lock_key(name: &str) -> i64 {
    let key = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    key as i64
}

/// Tables whose ids a batch reserves before inserting, so that the rows
/// it writes can refer to each other without a round trip per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdSequence {
    InboundMessages,
    AlertGroups,
    Alerts,
}

impl IdSequence {
    fn table(self) -> &'static str {
        match self {
            IdSequence::InboundMessages => "inbound_messages",
            IdSequence::AlertGroups => "alert_groups",
            IdSequence::Alerts => "alerts",
        }
    }
}

impl Tx {
    /// Reserves new ids, `count` for each sequence asked for, in one round
    /// trip; each list is in increasing order, and no other transaction
    /// gets them. PostgreSQL draws them from the columns' sequences; SQLite,
    /// whose write transactions are exclusive, advances the tables'
    /// `AUTOINCREMENT` counters.
    pub async fn reserve_ids<const N: usize>(
        &mut self,
        wanted: [(IdSequence, usize); N],
    ) -> Result<[Vec<i64>; N]> {
        let mut reserved: [Vec<i64>; N] = std::array::from_fn(|_| Vec::new());
        let asked: Vec<(usize, IdSequence, i64)> = wanted
            .iter()
            .enumerate()
            .filter(|(_, (_, count))| *count > 0)
            .map(|(at, (sequence, count))| {
                (at, *sequence, i64::try_from(*count).unwrap_or(i64::MAX))
            })
            .collect();
        if asked.is_empty() {
            return Ok(reserved);
        }
        match &mut self.inner {
            TxInner::Postgres(transaction) => {
                let mut query = sqlx::QueryBuilder::<Postgres>::new("");
                for (n, (_, sequence, count)) in asked.iter().enumerate() {
                    if n > 0 {
                        query.push(" UNION ALL ");
                    }
                    // The sequence (PostgreSQL's name for a `BIGSERIAL`'s)
                    // is named in the text, so PostgreSQL resolves it once,
                    // when it prepares the statement: looked up by its
                    // table's name at run time, planning and running the
                    // statement took two to three times as long.
                    query
                        .push(format!(
                            "SELECT {n}::bigint, nextval('{}_id_seq') FROM generate_series(1, ",
                            sequence.table()
                        ))
                        .push_bind(*count)
                        .push(")");
                }
                let rows: Vec<(i64, i64)> =
                    query.build_query_as().fetch_all(&mut **transaction).await?;
                for (n, id) in rows {
                    let part = usize::try_from(n).ok().and_then(|n| asked.get(n));
                    if let Some((at, _, _)) = part {
                        reserved[*at].push(id);
                    }
                }
                for ids in &mut reserved {
                    ids.sort_unstable();
                }
            }
            TxInner::Sqlite(_) | TxInner::Native(_) => {
                for (at, sequence, count) in asked {
                    let table = sequence.table();
                    let advanced = self
                        .fetch_integers(
                            "UPDATE sqlite_sequence SET seq = seq + $2 WHERE name = $1 RETURNING seq",
                            &[table.into(), count.into()],
                        )
                        .await?;
                    let last = match advanced.first() {
                        Some(seq) => seq - count,
                        None => {
                            // The counter row appears with the table's
                            // first insert; before that, ids start at 1.
                            self.execute_with(
                                "INSERT INTO sqlite_sequence (name, seq) VALUES ($1, $2)",
                                &[table.into(), count.into()],
                            )
                            .await?;
                            0
                        }
                    };
                    reserved[at] = (last + 1..=last + count).collect();
                }
            }
        }
        Ok(reserved)
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: the log's frames, and those copied.
async fn passive_checkpoint(connection: &mut SqliteConnection) -> Result<(i64, i64)> {
    let (_busy, log, checkpointed): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(connection)
            .await?;
    Ok((log, checkpointed))
}

/// A pooled connection idle for longer than this is pinged before use.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Waits for this process's turn to write to SQLite: the writer
/// connection, held until the transaction ends. Both refusals are
/// [`StoreError::Unavailable`]: nothing was written, and a client that
/// tries again later (Alertmanager does on a 5xx) loses nothing.
async fn write_turn(
    writer: &Arc<Mutex<Option<WriterConnections>>>,
) -> Result<OwnedMappedMutexGuard<Option<WriterConnections>, WriterConnections>> {
    let turn = tokio::time::timeout(WRITE_TURN_TIMEOUT, writer.clone().lock_owned())
        .await
        .map_err(|_| {
            StoreError::Unavailable(anyhow::anyhow!(
                "the database stayed busy with other writes for {WRITE_TURN_TIMEOUT:?}"
            ))
        })?;
    OwnedMutexGuard::try_map(turn, Option::as_mut)
        .map_err(|_| StoreError::Unavailable(anyhow::anyhow!("the database is closed")))
}

/// Options every pool shares. A connection that sat idle is pinged before
/// it is handed out (a database restart or a network cut may have closed
/// it); one in steady use is not, because a ping is a round trip (on SQLite
/// a hand-off to the connection's thread) in front of every transaction.
fn pool_options<DB: sqlx::Database>() -> PoolOptions<DB> {
    PoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
}

/// Begins a transaction on a connection of `pool`. A connection is pinged
/// only after a second idle, so one the server closed a moment after its
/// last use (a restart, a failover, `pg_terminate_backend`) fails its
/// `BEGIN`; the transaction is begun again on another, so that no request
/// fails for it. Tried at most once more than the pool may hold connections.
async fn begin_postgres(pool: &PgPool) -> Result<Transaction<'static, Postgres>> {
    let mut attempts = 0;
    loop {
        match pool.begin().await {
            Err(error)
                if connection_lost(&error) && attempts <= pool.options().get_max_connections() =>
            {
                attempts += 1;
                tracing::debug!(
                    "a pooled connection was closed by the server ({error}); beginning on another"
                );
            }
            begun => return Ok(begun?),
        }
    }
}

/// Whether `error` says the connection is gone, rather than that the
/// statement was refused.
fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        // Class 57P: the server is shutting down or the backend was ended.
        sqlx::Error::Database(error) => error.code().is_some_and(|code| code.starts_with("57P")),
        _ => false,
    }
}

/// Store latency, by operation, for `/metrics`.
fn record_latency(operation: &'static str, started: Instant) {
    metrics::histogram!("siaga_store_seconds", "operation" => operation)
        .record(started.elapsed().as_secs_f64());
}

pub(crate) fn to_millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

pub(crate) fn from_millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Replaces the password in a database URL with `***`, for messages.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Store, StoreError, Tx, mask_password};

    #[test]
    fn an_unreachable_database_is_unavailable_not_an_internal_error() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for error in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(refused),
        ] {
            let detail = error.to_string();
            let error = StoreError::from(error);
            assert!(matches!(error, StoreError::Unavailable(_)));
            // The log line names the cause as well.
            let shown = error.to_string();
            assert!(
                shown.starts_with("the database is unavailable: ") && shown.contains(&detail),
                "{shown}"
            );
        }
        assert!(matches!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::NotFound
        ));
        assert!(matches!(
            StoreError::from(sqlx::Error::Protocol("garbled".into())),
            StoreError::Other(_)
        ));
    }

    /// A SQLite store in a directory removed when the first is dropped.
    async fn sqlite_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("siaga.db").display());
        (dir, Store::connect(&url).await.unwrap())
    }

    /// A table of rows of ~4 KB each, to fill the write-ahead log with.
    async fn create_scratch(tx: &mut Tx) {
        tx.execute_with("CREATE TABLE scratch (x TEXT)", &[])
            .await
            .unwrap();
    }

    /// Commits `rows` scratch rows on `tx`.
    async fn commit_scratch_rows(mut tx: Tx, rows: u32) {
        tx.execute_with(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
             INSERT INTO scratch SELECT hex(randomblob(2000)) FROM n",
            &[i64::from(rows).into()],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    /// The first integer a statement returns.
    async fn integer(tx: &mut Tx, sql: &str) -> i64 {
        tx.fetch_integers(sql, &[]).await.unwrap()[0]
    }

    async fn synchronous(tx: &mut Tx) -> i64 {
        integer(tx, "PRAGMA synchronous").await
    }

    /// Every SQLite write shares one connection; each transaction's `BEGIN`
    /// says whether its commit waits for the disk (FULL, 2) or not
    /// (NORMAL, 1), whatever the one before it said.
    #[tokio::test]
    async fn sqlite_writes_share_a_connection_and_set_their_own_durability() {
        let (_dir, store) = sqlite_store().await;
        for _ in 0..2 {
            let mut tx = store.write().await.unwrap();
            assert_eq!(synchronous(&mut tx).await, 2, "a write is durable");
            tx.commit().await.unwrap();
            let mut tx = store.write_replayable().await.unwrap();
            assert_eq!(synchronous(&mut tx).await, 1, "a replayable one is not");
            tx.commit().await.unwrap();
        }
    }

    /// Commits leave the write-ahead log to `Store::checkpoint`, which
    /// copies all of it while nothing else reads.
    #[tokio::test]
    async fn sqlite_checkpoints_are_taken_off_the_commit_path() {
        let (_dir, store) = sqlite_store().await;
        let mut tx = store.write().await.unwrap();
        let backstop = integer(&mut tx, "PRAGMA wal_autocheckpoint").await;
        assert_eq!(backstop, i64::from(super::BACKSTOP_CHECKPOINT_PAGES));
        let temp_store = integer(&mut tx, "PRAGMA temp_store").await;
        assert_eq!(temp_store, 2, "statement journals stay in memory");
        create_scratch(&mut tx).await;
        tx.commit().await.unwrap();
        // More than SQLite's default of 1,000 pages, in separate commits.
        for _ in 0..70 {
            commit_scratch_rows(store.write().await.unwrap(), 100).await;
        }
        let (log, checkpointed) = store.checkpoint().await.unwrap().unwrap();
        assert!(log > 5000, "the commits left the log alone: {log} frames");
        assert_eq!(checkpointed, log, "all of it was copied");
    }

    /// A writer that keeps committing never leaves the log fully copied by
    /// a checkpoint made beside it, and SQLite starts a log over only then;
    /// the last pass in the writer's turn does, so the log stays short
    /// instead of growing to the sqlx writer's backstop, or without end
    /// for the native one, which has none.
    #[tokio::test]
    async fn a_log_kept_busy_by_a_writer_still_starts_over() {
        for inline in [false, true] {
            let (_dir, store) = sqlite_store().await;
            let mut tx = store.write().await.unwrap();
            create_scratch(&mut tx).await;
            tx.commit().await.unwrap();
            // The writer commits until the checkpoints have had enough
            // looks at the log (not for a number of commits, which a slow
            // moment could fit between two looks).
            const LOOKS: usize = 40;
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let writer = tokio::spawn({
                let (store, stop) = (store.clone(), stop.clone());
                async move {
                    let mut commits = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let tx = if inline {
                            store.write_inline().await
                        } else {
                            store.write_replayable().await
                        };
                        commit_scratch_rows(tx.unwrap(), 20).await;
                        commits += 1;
                        tokio::task::yield_now().await;
                    }
                    commits
                }
            });
            let mut logs = Vec::new();
            while logs.len() < LOOKS {
                logs.push(store.checkpoint().await.unwrap().unwrap().0);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let commits = writer.await.unwrap();
            let restarts = logs.windows(2).filter(|pair| pair[1] < pair[0]).count();
            assert!(
                restarts > 0,
                "inline {inline}: the log never started over: {logs:?}"
            );
            let longest = logs.iter().max().copied().unwrap_or_default();
            assert!(
                longest < 4_000,
                "inline {inline}: the log grew to {longest} frames: {logs:?}"
            );
            let mut tx = store.read().await.unwrap();
            let rows = integer(&mut tx, "SELECT count(*) FROM scratch").await;
            assert_eq!(rows, commits * 20, "every commit is in the database");
        }
    }

    /// A SQLite write dropped without commit is rolled back before the next
    /// writer's turn, which begins on a clean connection; a closed store
    /// refuses writes.
    #[tokio::test]
    async fn a_dropped_sqlite_write_is_rolled_back_before_the_next() {
        let (_dir, store) = sqlite_store().await;
        let mut tx = store.write().await.unwrap();
        tx.execute_with("CREATE TABLE scratch (x INTEGER)", &[])
            .await
            .unwrap();
        drop(tx);
        let mut tx = store.write().await.unwrap();
        let tables = integer(
            &mut tx,
            "SELECT count(*) FROM sqlite_master WHERE name = 'scratch'",
        )
        .await;
        assert_eq!(tables, 0, "the dropped write left nothing");
        tx.commit().await.unwrap();

        store.close().await;
        let refused = store
            .write()
            .await
            .err()
            .expect("a closed store refuses writes");
        assert!(refused.to_string().contains("closed"), "{refused}");
        assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");
    }

    /// A write that waits past its turn's timeout is refused as
    /// unavailable (a 503 a client may retry), not as an internal error.
    #[tokio::test]
    async fn a_write_kept_waiting_past_its_turn_is_unavailable() {
        let (_dir, store) = sqlite_store().await;
        let held = store.write().await.unwrap();
        // Paused, the runtime jumps to the timeout once nothing else runs.
        tokio::time::pause();
        let refused = store
            .write()
            .await
            .err()
            .expect("the turn is held by another write");
        assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");
        assert!(refused.to_string().contains("busy"), "{refused}");
        tokio::time::resume();
        drop(held);
        store
            .write()
            .await
            .expect("the turn is free again")
            .commit()
            .await
            .unwrap();
    }

    /// An inline (native) write takes the same turn as sqlx's writes,
    /// commits what sqlx's connections then read, and is rolled back when
    /// dropped; store operations without a native branch refuse with an
    /// error instead of running elsewhere. Its commit leaves the fsync to
    /// the log syncer, and `commit_then` hears when it is done.
    #[tokio::test]
    async fn inline_writes_share_the_turn_and_the_database() {
        let (_dir, store) = sqlite_store().await;
        let mut tx = store.write_inline().await.unwrap();
        assert_eq!(synchronous(&mut tx).await, 1, "the log syncer syncs");
        tx.execute_with("CREATE TABLE scratch (x INTEGER)", &[])
            .await
            .unwrap();
        tx.execute_with(
            "INSERT INTO scratch (x) VALUES ($2), ($1)",
            &[1.into(), 2.into()],
        )
        .await
        .unwrap();
        // Holding the turn: a sqlx write waits for it.
        tokio::time::pause();
        let waiting = store.write().await.err().expect("the turn is held");
        assert!(matches!(waiting, StoreError::Unavailable(_)), "{waiting:?}");
        tokio::time::resume();
        let refused = tx
            .list_jobs(None, None, 10)
            .await
            .expect_err("no native branch");
        assert!(
            refused.to_string().contains("no native branch"),
            "{refused}"
        );
        let (synced, on_disk) = tokio::sync::oneshot::channel();
        tx.commit_then(move |outcome| {
            let _ = synced.send(outcome);
        })
        .await;
        on_disk.await.unwrap().expect("the commit reached the disk");

        let mut tx = store.read().await.unwrap();
        let written = tx
            .fetch_integers("SELECT x FROM scratch ORDER BY rowid", &[])
            .await
            .unwrap();
        assert_eq!(written, [2, 1], "$2 and $1 are bound by their digits");
        drop(tx);

        let mut tx = store.write_inline().await.unwrap();
        tx.execute_with("DELETE FROM scratch", &[]).await.unwrap();
        drop(tx);
        let mut tx = store.write().await.unwrap();
        assert_eq!(
            integer(&mut tx, "SELECT count(*) FROM scratch").await,
            2,
            "the dropped inline write was rolled back"
        );
        tx.commit().await.unwrap();
    }

    #[test]
    fn passwords_are_masked_in_urls() {
        assert_eq!(
            mask_password("postgres://siaga:s3cret@db:5432/siaga"),
            "postgres://siaga:***@db:5432/siaga"
        );
        assert_eq!(
            mask_password("postgres://siaga@db/siaga"),
            "postgres://siaga@db/siaga"
        );
        assert_eq!(
            mask_password("sqlite://siaga-data/siaga.db"),
            "sqlite://siaga-data/siaga.db"
        );
    }
}
