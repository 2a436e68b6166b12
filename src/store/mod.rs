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
mod schedules;
mod secrets;
mod users;

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use jiff::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

pub use alerts::{AlertEvent, AlertFilter, AlertGroup, ChangeEvent};
pub use config::ConfigRevision;
pub use events::EventFilter;
pub use incidents::IncidentFilter;
pub use jobs::QueueDepth;
pub use schedules::StoredOverride;
pub use users::{ApiToken, Session, User};

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
            _ => StoreError::Other(anyhow::Error::new(error)),
        }
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
    url: String,
}

/// A transaction on either backend.
pub struct Tx {
    pub(crate) inner: TxInner,
}

pub(crate) enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`) and runs pending
    /// migrations. Errors name the URL with any password masked.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        let shown = mask_password(url);
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .with_context(|| format!("invalid database URL {shown}"))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .with_context(|| format!("cannot connect to the database at {shown}"))?;
            sqlx::migrate!("migrations/postgres")
                .run(&pool)
                .await
                .with_context(|| format!("migrating the database at {shown}"))?;
            Db::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("invalid database URL {shown}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before we answer 2xx.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating the directory {}", parent.display()))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .with_context(|| format!("cannot open the database at {shown}"))?;
            sqlx::migrate!("migrations/sqlite")
                .run(&pool)
                .await
                .with_context(|| format!("migrating the database at {shown}"))?;
            Db::Sqlite(pool)
        } else {
            anyhow::bail!(
                "unsupported database URL {shown}: use sqlite://PATH or postgres://USER@HOST/DB"
            );
        };
        Ok(Store { db, url: shown })
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

    /// A transaction for reading. Dropping it without commit is fine.
    pub async fn read(&self) -> Result<Tx> {
        let started = Instant::now();
        let inner = match &self.db {
            Db::Sqlite(pool) => TxInner::Sqlite(pool.begin().await?),
            Db::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
        };
        record_latency("begin_read", started);
        Ok(Tx { inner })
    }

    /// A transaction for writing. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead
    /// of failing when one upgrades a read lock.
    pub async fn write(&self) -> Result<Tx> {
        let started = Instant::now();
        let inner = match &self.db {
            Db::Sqlite(pool) => TxInner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
        };
        record_latency("begin_write", started);
        Ok(Tx { inner })
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
        with_pool!(&self.db, pool => pool.close().await);
    }
}

impl Tx {
    /// Serialises this transaction with every other one taking the same
    /// lock, until commit. PostgreSQL uses a transaction-level advisory
    /// lock; SQLite write transactions are exclusive already.
    pub async fn lock(&mut self, name: &str) -> Result<()> {
        if let TxInner::Postgres(transaction) = &mut self.inner {
            // A stable 64-bit key from the name (FNV-1a), the same on every replica.
            let key = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key as i64)
                .execute(&mut **transaction)
                .await?;
        }
        Ok(())
    }

    /// The clause that locks the rows a SELECT reads until the transaction
    /// ends. SQLite write transactions hold the whole database already.
    pub(crate) fn row_lock(&self) -> &'static str {
        match self.inner {
            TxInner::Postgres(_) => " FOR UPDATE",
            TxInner::Sqlite(_) => "",
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
        match self.inner {
            TxInner::Sqlite(tx) => tx.commit().await?,
            TxInner::Postgres(tx) => tx.commit().await?,
        }
        record_latency("commit", started);
        Ok(())
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
    use super::mask_password;

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
