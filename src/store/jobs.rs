//! The durable job queue. A job is claimed under a lease: if its worker dies,
//! the lease runs out and another worker claims it again. On PostgreSQL the
//! claim skips rows other replicas are claiming (`FOR UPDATE SKIP LOCKED`);
//! SQLite has one writer at a time, so its claims cannot overlap.
//!
//! A transaction that enqueues jobs wakes the job runners when it commits:
//! this process's at once, other replicas' through PostgreSQL's
//! `LISTEN`/`NOTIFY`, so a page waits for no polling interval.

use jiff::{SignedDuration, Timestamp};

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::Duration;

use super::WriteSet;
use super::writes::Value;
use super::{Db, Result, Store, Tx, TxInner, from_millis, native, to_millis, with_tx};
use crate::domain::job::{Job, JobState, NewJob};

#[derive(sqlx::FromRow)]
pub(super) struct JobRow {
    id: i64,
    kind: String,
    payload: String,
    state: String,
    run_at: i64,
    attempts: i64,
    max_attempts: i64,
    locked_by: Option<String>,
    locked_until: Option<i64>,
    last_error: Option<String>,
    unique_key: Option<String>,
    created_at: i64,
}

impl JobRow {
    /// A row of [`JOB_COLUMNS`] read natively.
    pub(super) fn read(row: &native::Row<'_>) -> native::RowResult<JobRow> {
        Ok(JobRow {
            id: row.get(0)?,
            kind: row.get(1)?,
            payload: row.get(2)?,
            state: row.get(3)?,
            run_at: row.get(4)?,
            attempts: row.get(5)?,
            max_attempts: row.get(6)?,
            locked_by: row.get(7)?,
            locked_until: row.get(8)?,
            last_error: row.get(9)?,
            unique_key: row.get(10)?,
            created_at: row.get(11)?,
        })
    }

    fn into_job(self) -> Job {
        Job {
            id: self.id,
            kind: self.kind,
            payload: serde_json::from_str(&self.payload).unwrap_or(serde_json::Value::Null),
            state: JobState::parse(&self.state).unwrap_or(JobState::Pending),
            run_at: from_millis(self.run_at),
            attempts: self.attempts.try_into().unwrap_or(u32::MAX),
            max_attempts: self.max_attempts.try_into().unwrap_or(u32::MAX),
            locked_by: self.locked_by,
            locked_until: self.locked_until.map(from_millis),
            last_error: self.last_error,
            unique_key: self.unique_key,
            created_at: from_millis(self.created_at),
        }
    }
}

const JOB_COLUMNS: &str = "id, kind, payload, state, run_at, attempts, max_attempts, locked_by, locked_until, last_error, unique_key, created_at";

/// The columns a job is inserted with (see [`Tx::write_jobs`]).
const JOB_INSERT_COLUMNS: &str = "kind, payload, state, run_at, attempts, max_attempts, unique_key, created_at, updated_at, locked_by, locked_until";
const JOB_INSERT_WIDTH: usize = 11;

/// How many jobs are in each state, for `/metrics` and the admin pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct QueueDepth {
    /// Pending and already due.
    pub due: i64,
    /// Pending for later.
    pub scheduled: i64,
    pub running: i64,
    pub dead: i64,
}

/// The PostgreSQL channel that tells replicas jobs were enqueued.
const JOBS_CHANNEL: &str = "siaga_jobs";

/// Tells the job runners of this process that jobs were enqueued, and hands
/// them the jobs taken at enqueue (see [`Store::take_jobs_as`]).
#[derive(Debug)]
pub(super) struct JobSignal {
    enqueued: tokio::sync::Notify,
    /// Jobs were handed over (see [`Store::wait_for_handed_jobs`]).
    handed_ready: tokio::sync::Notify,
    /// PostgreSQL: the task relaying other replicas' notifications, started
    /// by the first runner that waits.
    relay: OnceLock<()>,
    taking: Mutex<Taking>,
    /// The earliest run time (Unix ms) of jobs committed in this process, or
    /// announced by another replica, and not taken, since the runner last
    /// asked: whether it must look at the queue.
    untaken_due: AtomicI64,
}

/// Jobs taken as they are enqueued, and the places they hold.
#[derive(Debug, Default)]
struct Taking {
    /// The runner taking due jobs as they are enqueued, if one runs here.
    taker: Option<Taker>,
    /// Places held among the runner's concurrency: by transactions still
    /// open, by jobs handed over and not finished, and by jobs the runner
    /// claimed and has not finished (see [`JobPlace`]).
    in_flight: usize,
    /// Of those, held by transactions still open.
    open: usize,
    /// Committed, for the runner to start.
    handed: Vec<Job>,
}

#[derive(Debug)]
struct Taker {
    worker: String,
    lease: SignedDuration,
    /// How many taken jobs may be unfinished at once.
    capacity: usize,
}

impl Default for JobSignal {
    fn default() -> Self {
        JobSignal {
            enqueued: tokio::sync::Notify::new(),
            handed_ready: tokio::sync::Notify::new(),
            relay: OnceLock::new(),
            taking: Mutex::default(),
            untaken_due: AtomicI64::new(i64::MAX),
        }
    }
}

impl JobSignal {
    fn taking(&self) -> std::sync::MutexGuard<'_, Taking> {
        self.taking.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Jobs not taken at enqueue fall due at `at` (called after commit).
    pub(super) fn due_at(&self, at: Timestamp) {
        self.untaken_due.fetch_min(to_millis(at), Ordering::Relaxed);
    }

    pub(super) fn wake(&self) {
        // Keeps a permit when no runner is waiting right now, so a wake-up
        // between a runner's last claim and its wait is not lost.
        self.enqueued.notify_one();
    }

    /// Reserves a place for a job taken at enqueue: the taker's worker and
    /// the end of the lease, or `None` (no taker, or it is busy enough).
    fn reserve(&self, now: Timestamp) -> Option<(String, Timestamp)> {
        let mut taking = self.taking();
        let taker = taking.taker.as_ref()?;
        if taking.in_flight >= taker.capacity {
            return None;
        }
        let reserved = (
            taker.worker.clone(),
            now.saturating_add(taker.lease).unwrap_or(now),
        );
        taking.in_flight += 1;
        taking.open += 1;
        Some(reserved)
    }

    /// Places a transaction reserved and will not use (it rolled back, or a
    /// unique key kept the job out).
    fn release(&self, count: usize) {
        if count > 0 {
            let mut taking = self.taking();
            taking.in_flight = taking.in_flight.saturating_sub(count);
            taking.open = taking.open.saturating_sub(count);
        }
    }

    /// A transaction committed the jobs it took: the runner starts them,
    /// even if it is stopping (it waits for open transactions to settle).
    fn hand_over(&self, jobs: Vec<Job>) {
        if !jobs.is_empty() {
            let mut taking = self.taking();
            taking.open = taking.open.saturating_sub(jobs.len());
            taking.handed.extend(jobs);
            self.handed_ready.notify_one();
        }
    }
}

/// Jobs a transaction took at enqueue, and the places it holds for them.
/// Handed to the runner at commit; a transaction that does not commit gives
/// the places back.
pub(super) struct TakenJobs {
    signal: std::sync::Arc<JobSignal>,
    /// Places held, one per job taken (and, while an insert is under way,
    /// per job it may take).
    reserved: usize,
    jobs: Vec<Job>,
}

impl TakenJobs {
    pub(super) fn new(signal: std::sync::Arc<JobSignal>) -> TakenJobs {
        TakenJobs {
            signal,
            reserved: 0,
            jobs: Vec::new(),
        }
    }

    /// At commit: the runner gets them.
    pub(super) fn hand_over(mut self) {
        self.reserved = 0;
        let jobs = std::mem::take(&mut self.jobs);
        self.signal.hand_over(jobs);
    }
}

impl Drop for TakenJobs {
    fn drop(&mut self) {
        self.signal.release(self.reserved);
    }
}

/// While held, the runner of this process takes due jobs as they are
/// enqueued; dropping it stops that (jobs taken by transactions still open
/// are handed over all the same: see [`Store::taking_settled`]).
pub struct JobTaker {
    signal: std::sync::Arc<JobSignal>,
}

impl Drop for JobTaker {
    fn drop(&mut self) {
        self.signal.taking().taker = None;
    }
}

/// A place among the jobs this process's runner runs at once (its
/// concurrency), held by a job's task and given back when the task ends,
/// however it ends (a panic included). Jobs taken at enqueue and jobs the
/// runner claims hold places from the same count, so neither kind of job
/// can push the other past the runner's concurrency.
pub struct JobPlace {
    signal: std::sync::Arc<JobSignal>,
}

impl Drop for JobPlace {
    fn drop(&mut self) {
        {
            let mut taking = self.signal.taking();
            taking.in_flight = taking.in_flight.saturating_sub(1);
        }
        // With a place free, the runner may claim a due job it had no room
        // for.
        self.signal.wake();
    }
}

/// Places reserved for jobs the runner is about to claim (see
/// [`Store::free_job_places`]): each claimed job takes one, and those left
/// over are given back when this is dropped.
pub struct JobPlaces {
    signal: std::sync::Arc<JobSignal>,
    count: usize,
}

impl JobPlaces {
    pub fn count(&self) -> usize {
        self.count
    }

    /// One of the places, for a job claimed.
    pub fn take(&mut self) -> Option<JobPlace> {
        self.count = self.count.checked_sub(1)?;
        Some(JobPlace {
            signal: self.signal.clone(),
        })
    }
}

impl Drop for JobPlaces {
    fn drop(&mut self) {
        // Never used, so nobody waits for them: no wake-up.
        let mut taking = self.signal.taking();
        taking.in_flight = taking.in_flight.saturating_sub(self.count);
    }
}

/// Tells the job runners of every replica listening (see
/// `Store::wait_for_jobs`) that a job committed just now falls due at
/// `due` (Unix ms in the payload), so that a timer for later does not make
/// them read the queue now. Sent after the commit, from a task of its own, so the request
/// that committed waits for one round trip fewer; a replica that misses it
/// (this process died first) finds the job at its next look anyway.
pub(super) fn notify_replicas(pool: sqlx::PgPool, due: Timestamp) {
    tokio::spawn(async move {
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(JOBS_CHANNEL)
            .bind(to_millis(due).to_string())
            .execute(&pool)
            .await;
        if let Err(error) = sent {
            tracing::warn!("telling other replicas of a job due failed: {error}");
        }
    });
}

impl Store {
    /// Makes `worker` take jobs that fall due at once straight from the
    /// transactions enqueueing them (in this process), up to `capacity`
    /// unfinished at a time: they are inserted already claimed under
    /// `lease` and handed over at commit ([`Store::handed_jobs`]), so a page
    /// waits for no claim round trip. Jobs beyond that are enqueued as
    /// usual.
    pub fn take_jobs_as(&self, worker: &str, lease: SignedDuration, capacity: usize) -> JobTaker {
        self.jobs.taking().taker = Some(Taker {
            worker: worker.to_string(),
            lease,
            capacity,
        });
        JobTaker {
            signal: self.jobs.clone(),
        }
    }

    /// The jobs taken at enqueue and committed since the last call, claimed
    /// for the taker already, each with the place it holds: drop that when
    /// the job's task ends.
    pub fn handed_jobs(&self) -> Vec<(Job, JobPlace)> {
        let handed = std::mem::take(&mut self.jobs.taking().handed);
        handed
            .into_iter()
            .map(|job| {
                let place = JobPlace {
                    signal: self.jobs.clone(),
                };
                (job, place)
            })
            .collect()
    }

    /// Waits until jobs are handed over: committed since the last
    /// [`Store::handed_jobs`] (a hand-over while nobody waits is kept for
    /// the next wait).
    pub async fn wait_for_handed_jobs(&self) {
        self.jobs.handed_ready.notified().await;
    }

    /// Places held among the runner's concurrent jobs: by jobs it claimed
    /// and by jobs taken at enqueue (running, handed over and not started
    /// yet, or reserved by transactions still open).
    pub fn jobs_in_flight(&self) -> usize {
        self.jobs.taking().in_flight
    }

    /// Reserves the places free among `concurrency`, for jobs the runner
    /// claims: until they are given back, jobs enqueued are not taken into
    /// them.
    pub fn free_job_places(&self, concurrency: usize) -> JobPlaces {
        let mut taking = self.jobs.taking();
        let count = concurrency.saturating_sub(taking.in_flight);
        taking.in_flight += count;
        JobPlaces {
            signal: self.jobs.clone(),
            count,
        }
    }

    /// No transaction holds places for jobs it takes: once the taker is
    /// gone, nothing more will be handed over.
    pub fn taking_settled(&self) -> bool {
        self.jobs.taking().open == 0
    }

    /// The earliest run time of jobs the queue gained since the last call
    /// that no runner took (enqueued or rescheduled here, or announced by
    /// another replica): when the runner must look at the queue again.
    pub fn untaken_jobs_due(&self) -> Option<Timestamp> {
        match self.jobs.untaken_due.swap(i64::MAX, Ordering::Relaxed) {
            i64::MAX => None,
            at => Some(from_millis(at)),
        }
    }

    /// Waits until jobs may be due: some were enqueued (here, or on
    /// PostgreSQL by any replica), or `timeout` passed.
    pub async fn wait_for_jobs(&self, timeout: Duration) {
        if let Db::Postgres(pool) = &self.db {
            self.jobs.relay.get_or_init(|| {
                tokio::spawn(relay_notifications(pool.clone(), self.jobs.clone()));
            });
        }
        let _ = tokio::time::timeout(timeout, self.jobs.enqueued.notified()).await;
    }
}

/// Turns other replicas' `NOTIFY`s into wake-ups of this process's runner.
/// A lost connection is retried; what was missed meanwhile the runner finds
/// on its next regular look.
async fn relay_notifications(pool: sqlx::PgPool, signal: std::sync::Arc<JobSignal>) {
    loop {
        let listening = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(JOBS_CHANNEL).await?;
            loop {
                // `None`: the connection was lost (the next call reconnects)
                // and what was announced meanwhile is unknown: look now.
                let due = listener
                    .try_recv()
                    .await?
                    .and_then(|n| n.payload().parse::<i64>().ok())
                    .unwrap_or(i64::MIN);
                signal.untaken_due.fetch_min(due, Ordering::Relaxed);
                signal.wake();
            }
        };
        let result: Result<(), sqlx::Error> = listening.await;
        if let Err(error) = result {
            if pool.is_closed() {
                return;
            }
            tracing::warn!("listening for jobs of other replicas: {error}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

impl Tx {
    /// A job this transaction writes, not taken at enqueue, falls due at
    /// `at`: the runners hear of it at commit.
    fn due_at(&mut self, at: Timestamp) {
        self.wakes_runners = true;
        self.untaken_due = Some(self.untaken_due.map_or(at, |due| due.min(at)));
    }

    /// Adds a job. Returns `None` when its unique key is already held by a
    /// live job, which is then left as it is.
    pub async fn enqueue_job(&mut self, now: Timestamp, job: &NewJob) -> Result<Option<i64>> {
        Ok(self
            .enqueue_jobs(now, std::slice::from_ref(job))
            .await?
            .first()
            .copied())
    }

    /// Adds jobs and returns the ids of those added; one whose unique key a
    /// live job holds already is left out. Jobs due now may be taken by
    /// this process's runner at once (see [`Store::take_jobs_as`]).
    pub async fn enqueue_jobs(&mut self, now: Timestamp, jobs: &[NewJob]) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(super::rows_per_statement(JOB_INSERT_WIDTH)) {
            let mut writes = WriteSet::default();
            let reserved = self.write_jobs(&mut writes, now, chunk);
            let inserted = self.send_returning_jobs(writes).await?;
            ids.extend(self.record_enqueued(inserted, reserved));
        }
        Ok(ids)
    }

    /// Writes `writes` and enqueues `jobs` as [`Tx::enqueue_jobs`] does; on
    /// PostgreSQL in the same statement, one round trip for both.
    pub async fn apply_and_enqueue(
        &mut self,
        mut writes: WriteSet<'_>,
        now: Timestamp,
        jobs: &[NewJob],
    ) -> Result<Vec<i64>> {
        let together = matches!(self.inner, TxInner::Postgres(_))
            && !jobs.is_empty()
            && jobs.len() <= super::rows_per_statement(JOB_INSERT_WIDTH);
        if !together {
            self.apply(writes).await?;
            return self.enqueue_jobs(now, jobs).await;
        }
        let reserved = self.write_jobs(&mut writes, now, jobs);
        let inserted = self.send_returning_jobs(writes).await?;
        Ok(self.record_enqueued(inserted, reserved))
    }

    /// Adds the insert of `jobs` to `writes`, last, returning the rows
    /// inserted. Jobs due now are taken by this process's runner while it
    /// has room: their places are reserved here, and the number reserved
    /// is returned for [`Tx::record_enqueued`].
    fn write_jobs(&mut self, writes: &mut WriteSet<'_>, now: Timestamp, jobs: &[NewJob]) -> usize {
        self.wakes_runners = true;
        let mut reserved = 0;
        let mut values = Vec::with_capacity(jobs.len() * JOB_INSERT_WIDTH);
        for job in jobs {
            let taker = if job.run_at <= now {
                self.jobs.reserve(now)
            } else {
                None
            };
            reserved += usize::from(taker.is_some());
            let (locked_by, locked_until) = match taker {
                Some((worker, until)) => (Some(worker), Some(to_millis(until))),
                None => (None, None),
            };
            values.extend([
                Value::from(job.kind.clone()),
                job.payload.to_string().into(),
                (if locked_by.is_some() {
                    "running"
                } else {
                    "pending"
                })
                .into(),
                to_millis(job.run_at).into(),
                i64::from(locked_by.is_some()).into(),
                i64::from(job.max_attempts.max(1)).into(),
                job.unique_key.clone().into(),
                to_millis(now).into(),
                to_millis(now).into(),
                locked_by.into(),
                locked_until.into(),
            ]);
        }
        // Recorded before the insert: if the transaction is dropped while
        // it waits, it gives the places back.
        self.taken_jobs.reserved += reserved;
        static RETURNING: LazyLock<String> =
            LazyLock::new(|| format!(" ON CONFLICT DO NOTHING RETURNING {JOB_COLUMNS}"));
        writes.insert_values("jobs", JOB_INSERT_COLUMNS, RETURNING.as_str(), values);
        reserved
    }

    /// Records the jobs inserted: those taken go to this process's runner
    /// at commit, the others' run times to the runners' wake-ups; places
    /// reserved for jobs a unique key kept out are given back.
    fn record_enqueued(&mut self, inserted: Vec<JobRow>, reserved: usize) -> Vec<i64> {
        let mut taken = 0;
        let mut ids = Vec::with_capacity(inserted.len());
        for row in inserted {
            let job = row.into_job();
            ids.push(job.id);
            if job.state == JobState::Running {
                taken += 1;
                self.taken_jobs.jobs.push(job);
            } else {
                self.due_at(job.run_at);
            }
        }
        self.taken_jobs.reserved -= reserved - taken;
        self.jobs.release(reserved - taken);
        ids
    }

    /// Claims up to `limit` jobs that are due, or whose lease ran out, for
    /// `worker` until `now + lease`. Each claim counts as an attempt.
    /// `running` are the jobs `worker` is running right now: their leases
    /// may lapse while it cannot reach the database, and they must not run
    /// twice. Any other lapsed claim of `worker` is one it lost track of
    /// (recording its outcome failed) and is taken again.
    pub async fn claim_jobs(
        &mut self,
        now: Timestamp,
        worker: &str,
        lease: SignedDuration,
        limit: u32,
        running: &[i64],
    ) -> Result<Vec<Job>> {
        let lock_clause = match self.inner {
            TxInner::Postgres(_) => "FOR UPDATE SKIP LOCKED",
            TxInner::Sqlite(_) | TxInner::Native(_) => "",
        };
        // Ids of our own jobs, written as numbers: no text from outside.
        let not_running = if running.is_empty() {
            String::new()
        } else {
            let ids: Vec<String> = running.iter().map(i64::to_string).collect();
            format!(" AND (locked_by <> $1 OR id NOT IN ({}))", ids.join(", "))
        };
        let sql = format!(
            "UPDATE jobs
             SET state = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2, updated_at = $3
             WHERE id IN (
                 SELECT id FROM jobs
                 WHERE (state = 'pending' AND run_at <= $3) OR (state = 'running' AND locked_until <= $3{not_running})
                 ORDER BY run_at, id
                 LIMIT $4
                 {lock_clause}
             )
             RETURNING {JOB_COLUMNS}"
        );
        let until = now.saturating_add(lease).unwrap_or(now);
        let rows: Vec<JobRow> = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(worker)
                .bind(to_millis(until))
                .bind(to_millis(now))
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await?
        });
        let mut jobs: Vec<Job> = rows.into_iter().map(JobRow::into_job).collect();
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    /// Extends the lease of a claimed job just before it runs. False when
    /// `worker` no longer holds this claim (identified by its attempt
    /// number): the lease ran out and the job is someone else's now.
    pub async fn renew_job_lease(
        &mut self,
        claim: &Job,
        worker: &str,
        until: Timestamp,
    ) -> Result<bool> {
        let affected = with_tx!(self, conn => {
            sqlx::query(
                "UPDATE jobs SET locked_until = $4
                 WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND state = 'running'",
            )
            .bind(claim.id)
            .bind(worker)
            .bind(i64::from(claim.attempts))
            .bind(to_millis(until))
            .execute(conn)
            .await?
            .rows_affected()
        });
        Ok(affected == 1)
    }

    /// Marks a claimed job done. False when `worker` no longer holds this
    /// claim (its lease ran out and another worker claimed it).
    pub async fn complete_job(
        &mut self,
        claim: &Job,
        worker: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let result = with_tx!(self, conn => {
            sqlx::query(
                "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, updated_at = $3
                 WHERE id = $1 AND locked_by = $2 AND attempts = $4 AND state = 'running'",
            )
            .bind(claim.id)
            .bind(worker)
            .bind(to_millis(now))
            .bind(i64::from(claim.attempts))
            .execute(conn)
            .await?
            .rows_affected()
        });
        Ok(result == 1)
    }

    /// Records a failed attempt: the job is retried at `retry_at`, or goes
    /// to the dead letters when it has used all its attempts or has no
    /// `retry_at` (it must not be retried). Returns the new
    /// state, or `None` when `worker` no longer holds the job.
    pub async fn fail_job(
        &mut self,
        claim: &Job,
        worker: &str,
        now: Timestamp,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<Option<JobState>> {
        // Without a retry time the job is dead at once, whatever attempts
        // it has left.
        let state: Option<String> = with_tx!(self, conn => {
            sqlx::query_scalar(
                "UPDATE jobs
                 SET state = CASE WHEN attempts >= max_attempts OR $7 THEN 'dead' ELSE 'pending' END,
                     run_at = CASE WHEN attempts >= max_attempts OR $7 THEN run_at ELSE $4 END,
                     last_error = $5, locked_by = NULL, locked_until = NULL, updated_at = $3
                 WHERE id = $1 AND locked_by = $2 AND attempts = $6 AND state = 'running'
                 RETURNING state",
            )
            .bind(claim.id)
            .bind(worker)
            .bind(to_millis(now))
            .bind(to_millis(retry_at.unwrap_or(now)))
            .bind(error)
            .bind(i64::from(claim.attempts))
            .bind(retry_at.is_none())
            .fetch_optional(conn)
            .await?
        });
        let state = state.as_deref().and_then(JobState::parse);
        // A job out of attempts is dead: nothing falls due.
        if state == Some(JobState::Pending)
            && let Some(retry_at) = retry_at
        {
            self.due_at(retry_at);
        }
        Ok(state)
    }

    /// Cancels the live job holding `unique_key`, if any, and frees the key
    /// for its successor. A pending one never runs; a running one can no
    /// longer complete, and since its handler completes it in the
    /// transaction that writes its effects, those roll back. True when a
    /// job was cancelled.
    ///
    /// Locks come in one order, so PostgreSQL does not deadlock: an alert
    /// group's alerts, the group, then its jobs (an incident, then its
    /// jobs). A handler locks its subject before completing itself; the
    /// caller here has locked it before cancelling. One path breaks the
    /// order: an ingestion batch locks the groups its new alerts join (on
    /// PostgreSQL, to check them against the plan, and to wake a quiet
    /// one) before the alerts its write updates, so a responder resolving one
    /// of those alerts at that very moment deadlocks with it; PostgreSQL
    /// ends that within a second, and whichever lost is tried again (the
    /// batch, or the person's write: `App::retrying`).
    pub async fn cancel_job(&mut self, unique_key: &str, now: Timestamp) -> Result<bool> {
        let affected = self
            .execute_with(
                "UPDATE jobs SET state = 'cancelled', updated_at = $2
                 WHERE unique_key = $1 AND state IN ('pending', 'running')",
                &[unique_key.into(), to_millis(now).into()],
            )
            .await?;
        Ok(affected > 0)
    }

    /// Gives a dead job a fresh set of attempts, due now.
    pub async fn retry_dead_job(&mut self, id: i64, now: Timestamp) -> Result<Option<Job>> {
        let sql = format!(
            "UPDATE jobs SET state = 'pending', attempts = 0, run_at = $2, updated_at = $2
             WHERE id = $1 AND state = 'dead'
             RETURNING {JOB_COLUMNS}"
        );
        let row: Option<JobRow> = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(to_millis(now))
                .fetch_optional(conn)
                .await?
        });
        if row.is_some() {
            self.due_at(now);
        }
        Ok(row.map(JobRow::into_job))
    }

    pub async fn job(&mut self, id: i64) -> Result<Job> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row: JobRow = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(conn).await?
        });
        Ok(row.into_job())
    }

    /// Jobs in `state` (all states when `None`), newest first, at most
    /// `limit + 1`, older than `before_id` when given.
    pub async fn list_jobs(
        &mut self,
        state: Option<JobState>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Job>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs
             WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<JobRow> = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(state.map(JobState::as_str))
                .bind(before_id)
                .bind(i64::from(limit) + 1)
                .fetch_all(conn)
                .await?
        });
        Ok(rows.into_iter().map(JobRow::into_job).collect())
    }

    /// When the next job falls due: the earliest pending run time, or the
    /// earliest lease to run out. `None` when nothing is waiting.
    pub async fn next_job_at(&mut self) -> Result<Option<Timestamp>> {
        let (pending, leased): (Option<i64>, Option<i64>) = with_tx!(self, conn => {
            sqlx::query_as(
                "SELECT (SELECT MIN(run_at) FROM jobs WHERE state = 'pending'),
                        (SELECT MIN(locked_until) FROM jobs WHERE state = 'running')",
            )
            .fetch_one(conn)
            .await?
        });
        Ok(pending.into_iter().chain(leased).min().map(from_millis))
    }

    /// Deletes up to `limit` jobs that finished (done or cancelled) before
    /// `before`, oldest first; dead jobs stay for an admin to look at.
    /// Returns how many went.
    pub async fn purge_finished_jobs(&mut self, before: Timestamp, limit: u32) -> Result<u64> {
        let purged = with_tx!(self, conn => {
            sqlx::query(
                "DELETE FROM jobs WHERE id IN (
                     SELECT id FROM jobs
                     WHERE state IN ('done', 'cancelled') AND updated_at < $1
                     ORDER BY id LIMIT $2)",
            )
            .bind(to_millis(before))
            .bind(i64::from(limit))
            .execute(conn)
            .await?
            .rows_affected()
        });
        Ok(purged)
    }

    /// Hands every claimed job back to the queue, due at once. Only for a
    /// SQLite store at start-up: one process serves it, so any claim left
    /// is from a process that stopped without finishing (a crash).
    pub async fn release_all_claims(&mut self, now: Timestamp) -> Result<u64> {
        let released = with_tx!(self, conn => {
            sqlx::query(
                "UPDATE jobs SET state = 'pending', locked_by = NULL, locked_until = NULL, updated_at = $1
                 WHERE state = 'running'",
            )
            .bind(to_millis(now))
            .execute(conn)
            .await?
            .rows_affected()
        });
        if released > 0 {
            self.due_at(now);
        }
        Ok(released)
    }

    pub async fn queue_depth(&mut self, now: Timestamp) -> Result<QueueDepth> {
        let (due, scheduled, running, dead): (i64, i64, i64, i64) = with_tx!(self, conn => {
            sqlx::query_as(
                "SELECT
                   COALESCE(SUM(CASE WHEN state = 'pending' AND run_at <= $1 THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN state = 'pending' AND run_at > $1 THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0)
                 FROM jobs WHERE state IN ('pending', 'running', 'dead')",
            )
            .bind(to_millis(now))
            .fetch_one(conn)
            .await?
        });
        Ok(QueueDepth {
            due,
            scheduled,
            running,
            dead,
        })
    }
}
