//! Use cases: load → apply the domain rule → save, append events and enqueue
//! jobs in one transaction. Knows nothing of HTTP; the `http` and `cli`
//! layers call these functions and translate [`Error`] for their users.

pub mod alerts;
pub mod audit;
pub mod auth;
mod chat;
pub mod escalation;
pub mod incidents;
pub mod jobs;
mod org;
pub mod schedules;
pub mod secrets;
pub mod unacknowledged;

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::ConfigErrors;
use crate::store::{Store, StoreError};

pub use auth::{Caller, NewToken};
pub use org::{ConfigApplied, parse_off_runtime as parse_config};

/// The organisation as last read, with the config version it was read at.
#[derive(Clone)]
struct OrgSnapshot {
    /// When the version was last compared with the store's.
    checked: std::time::Instant,
    version: i64,
    org: Arc<crate::domain::org::Org>,
}

/// A server secret kept in memory.
struct KeptSecret {
    value: String,
    created_at: jiff::Timestamp,
    /// When it was read from the store.
    read_at: std::time::Instant,
}

/// Everything a use case needs: the store, the clock and the outbound
/// channels. Cheap to clone: one shared allocation, since the router
/// clones it several times for every request.
#[derive(Clone)]
pub struct App(Arc<Parts>);

/// What an [`App`] holds; its fields are reached through the app itself.
#[derive(Clone)]
pub struct Parts {
    pub store: Store,
    pub clock: Clock,
    /// Names this process in job leases and logs.
    pub instance: Arc<str>,
    login_throttle: Arc<auth::LoginThrottle>,
    rate_limiter: Arc<alerts::RateLimiter>,
    org_cache: Arc<std::sync::RwLock<Option<OrgSnapshot>>>,
    /// Where ingestion requests queue for the writer that group-commits them.
    ingest_queue: Arc<std::sync::OnceLock<tokio::sync::mpsc::Sender<alerts::Message>>>,
    /// Sends email contact methods; without it they are skipped.
    mailer: Option<Arc<crate::mail::Mailer>>,
    /// Server secrets as last read (see `secrets::App::secret`).
    secrets: Arc<std::sync::RwLock<std::collections::HashMap<&'static str, KeptSecret>>>,
}

impl std::ops::Deref for App {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl App {
    pub fn new(store: Store, clock: Clock) -> App {
        let instance = format!(
            "{}-{}-{}",
            hostname(),
            std::process::id(),
            &crate::app::auth::random_secret()[..6]
        );
        App(Arc::new(Parts {
            store,
            clock,
            instance: instance.into(),
            login_throttle: Arc::default(),
            rate_limiter: Arc::default(),
            org_cache: Arc::default(),
            ingest_queue: Arc::default(),
            mailer: None,
            secrets: Arc::default(),
        }))
    }

    /// The same app, sending email through `mailer`.
    pub fn with_mailer(self, mailer: crate::mail::Mailer) -> App {
        App(Arc::new(Parts {
            mailer: Some(Arc::new(mailer)),
            ..Parts::clone(&self)
        }))
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "siaga".into())
}

/// Why a use case refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input breaks a rule; `field` names the offending input.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Another writer got in the way: a deadlock the database broke, or a
    /// row another replica wrote first. Nothing was written, and the same
    /// request, reading afresh, may well succeed ([`App::retrying`]).
    #[error("{0}")]
    Contended(String),
    /// An incident was not resolved: the evidence of recovery is missing,
    /// for these reasons.
    #[error("not resolved: {}", .0.join("; "))]
    NotRecovered(Vec<String>),
    #[error("credentials are missing, wrong, expired or revoked")]
    Unauthenticated,
    #[error("this needs the {0} role")]
    Forbidden(&'static str),
    /// Too many attempts; try again after the given time.
    #[error("too many attempts; try again in {} seconds", .0.as_secs())]
    RateLimited(jiff::SignedDuration),
    #[error("the config has errors")]
    Config(ConfigErrors),
    /// The database cannot be reached; nothing was written.
    #[error("{0:#}")]
    Unavailable(anyhow::Error),
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl Error {
    pub fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> Error {
        Error::Invalid {
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            // A store NotFound reaching a caller is a lookup the use case
            // did not name; use cases map their own lookups to NotFound(what).
            StoreError::NotFound => Error::NotFound("record".into()),
            StoreError::Conflict(message) => Error::Contended(message),
            StoreError::Unavailable(error) => Error::Unavailable(error),
            StoreError::Other(error) => Error::Internal(error),
        }
    }
}

/// How many times a person's write is tried when other writers get in its
/// way.
const CONTENDED_ATTEMPTS: u32 = 3;

impl App {
    /// Runs `write` (a whole transaction) again when another writer got
    /// in its way, so a person acknowledging at the very moment a batch or
    /// a step writes the same rows is not told to try again themselves.
    pub(crate) async fn retrying<T, F, Fut>(&self, mut write: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut attempt = 1;
        loop {
            match write().await {
                Err(Error::Contended(_)) if attempt < CONTENDED_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }
}

impl From<anyhow::Error> for Error {
    /// An internal error, unless the database could not be reached on the
    /// way (a store error inside the chain): then it is `Unavailable`, a
    /// 503 the sender retries, as when a use case meets it directly.
    fn from(error: anyhow::Error) -> Self {
        if matches!(
            error.downcast_ref::<StoreError>(),
            Some(StoreError::Unavailable(_))
        ) {
            return Error::Unavailable(error);
        }
        Error::Internal(error)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn an_unreachable_database_inside_an_error_chain_is_unavailable() {
        let lost: std::result::Result<(), StoreError> =
            Err(StoreError::Unavailable(anyhow::anyhow!("connection reset")));
        let wrapped = lost.context("reading who is on call").unwrap_err();
        assert!(matches!(Error::from(wrapped), Error::Unavailable(_)));
        let broken = anyhow::anyhow!("the policy has no level 2");
        assert!(matches!(Error::from(broken), Error::Internal(_)));
    }
}
