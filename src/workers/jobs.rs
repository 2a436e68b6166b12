//! Runs due jobs from the durable queue. A job is claimed under a lease and
//! performed outside any transaction; success completes it (and may schedule
//! a follow-up in the same transaction), failure schedules a retry with
//! backoff or moves it to the dead letters after its last attempt.
//!
//! The runner sleeps until the next job falls due or one is enqueued
//! (`Store::wait_for_jobs`), never on a polling interval, and runs up to
//! `concurrency` jobs at once, so one slow webhook receiver does not hold
//! up the pages behind it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::app::{App, escalation, incidents};
use crate::domain::event::{Actor, NewEvent, Subject};
use crate::domain::job::{Backoff, Job, JobState, NewJob, Refusal};
use crate::store::{JobPlace, JobPlaces, JobTaker, Tx};

/// Removes expired web sessions, hourly.
pub const PURGE_SESSIONS: &str = "sessions.purge";
const PURGE_SESSIONS_EVERY: SignedDuration = SignedDuration::from_hours(1);

/// Removes finished jobs older than the runner's `keep_finished`, hourly.
pub const PURGE_JOBS: &str = "jobs.purge";
const PURGE_JOBS_EVERY: SignedDuration = SignedDuration::from_hours(1);
/// Jobs deleted per transaction, so that a first purge of a large queue
/// never holds the database for long.
const PURGE_JOBS_CHUNK: u32 = 1000;

/// Removes received messages older than the runner's `keep_received`
/// (with the received events that came in them), hourly.
pub const PURGE_MESSAGES: &str = "messages.purge";
const PURGE_MESSAGES_EVERY: SignedDuration = SignedDuration::from_hours(1);
/// Messages deleted per transaction; one may carry hundreds of events.
const PURGE_MESSAGES_CHUNK: u32 = 500;

/// What a job's handler asks for when it succeeds.
pub enum Outcome {
    Done,
    /// Done, and this job is to run next (a periodic job rescheduling itself).
    DoneThen(NewJob),
    /// The job marked itself done in the transaction of its effects.
    Completed,
}

#[derive(Clone, Debug)]
pub struct JobRunner {
    /// How long a claimed job is reserved for its worker. The worker renews
    /// it while the job runs; if the worker dies, another claims the job
    /// after this.
    pub lease: SignedDuration,
    /// Jobs run at once; also the most claimed at a time.
    pub concurrency: u32,
    pub backoff: Backoff,
    /// The longest the runner sleeps without looking at the queue. Jobs
    /// enqueued here or (PostgreSQL) by another replica wake it at once;
    /// this bounds the wait when such a wake-up was lost.
    pub max_idle: Duration,
    /// How long finished (done or cancelled) jobs stay in the queue, for
    /// `GET /api/v1/jobs`, before `jobs.purge` deletes them. Dead jobs stay
    /// until an admin retries them.
    pub keep_finished: SignedDuration,
    /// How long the messages received from alert sources stay, each as it
    /// was received and listed on its alert's page, before
    /// `messages.purge` deletes them.
    pub keep_received: SignedDuration,
}

impl Default for JobRunner {
    fn default() -> Self {
        Self {
            lease: SignedDuration::from_secs(60),
            concurrency: 16,
            backoff: Backoff::default(),
            max_idle: Duration::from_secs(5),
            keep_finished: SignedDuration::from_hours(7 * 24),
            keep_received: SignedDuration::from_hours(30 * 24),
        }
    }
}

/// The jobs a runner holds claims on, for renewing their leases.
type Claims = Arc<Mutex<HashMap<i64, Job>>>;

/// Takes a job out of the runner's claims when its task ends.
struct ForgetClaim {
    claims: Claims,
    id: i64,
}

impl Drop for ForgetClaim {
    fn drop(&mut self) {
        self.claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl JobRunner {
    /// Claims the jobs due at `now` (at most `concurrency`), performs them
    /// at once and waits for all. Returns how many were performed
    /// (successfully or not).
    pub async fn run_once(&self, app: &App, now: Timestamp) -> anyhow::Result<usize> {
        let claims = Claims::default();
        let mut running = JoinSet::new();
        let jobs = self.claim(app, now, self.concurrency, &claims).await?;
        let count = jobs.len();
        for job in jobs {
            running.spawn(
                self.clone()
                    .perform_claimed(app.clone(), job, claims.clone()),
            );
        }
        let mut renewal = tokio::time::interval_at(
            tokio::time::Instant::now() + self.renew_every(),
            self.renew_every(),
        );
        loop {
            tokio::select! {
                finished = running.join_next() => match finished {
                    Some(finished) => report_finished(finished),
                    None => break,
                },
                _ = renewal.tick() => self.renew_leases(app, &claims).await,
            }
        }
        Ok(count)
    }

    /// Runs until `shutdown` turns true, then lets the running jobs finish.
    pub async fn run(&self, app: App, mut shutdown: watch::Receiver<bool>) {
        if let Err(error) = schedule_periodic_jobs(&app).await {
            tracing::error!("scheduling periodic jobs: {error:#}");
        }
        let claims = Claims::default();
        let mut running = JoinSet::new();
        let mut renewal = tokio::time::interval_at(
            tokio::time::Instant::now() + self.renew_every(),
            self.renew_every(),
        );
        let taker = app
            .store
            .take_jobs_as(&app.instance, self.lease, self.concurrency as usize);
        // Jobs handed over at commit start on a task of their own: this
        // loop may be in the middle of a claim or a lease renewal, each a
        // wait for the database, and a page must not wait for that.
        let starter = tokio::spawn(self.clone().start_handed_jobs(
            app.clone(),
            claims.clone(),
            taker,
            shutdown.clone(),
        ));
        // When the queue next needs a look. Jobs enqueued here are mostly
        // taken as they are enqueued; the queue is read again only when one
        // was not, when the next known job falls due, or at most every
        // `max_idle`.
        let mut look_at = Timestamp::MIN;
        while !*shutdown.borrow() {
            if let Some(due) = app.store.untaken_jobs_due() {
                look_at = look_at.min(due);
            }
            let now = app.clock.now();
            if look_at <= now {
                // Held while the claim runs: a page enqueued meanwhile is
                // left to the queue rather than taken past the concurrency.
                let places = app.store.free_job_places(self.concurrency as usize);
                let free = places.count();
                if free > 0 {
                    let limit = u32::try_from(free).unwrap_or(u32::MAX);
                    match self.claim(&app, now, limit, &claims).await {
                        Ok(jobs) => {
                            let claimed = jobs.len();
                            self.start_claimed(&app, &claims, &mut running, jobs, places);
                            if claimed == free {
                                // More may be due: claim again once a slot frees.
                                continue;
                            }
                            look_at = self.next_look(&app, claimed > 0).await;
                        }
                        Err(error) => {
                            tracing::error!("claiming jobs: {error:#}");
                            look_at = now
                                .saturating_add(SignedDuration::from_secs(1))
                                .unwrap_or(now);
                        }
                    }
                }
            }
            // With every slot busy, no claim until a job finishes; jobs
            // handed over still start as soon as they come.
            let full = app.store.jobs_in_flight() >= self.concurrency as usize;
            let wait = if !full {
                Duration::try_from(look_at.duration_since(app.clock.now()))
                    .unwrap_or(Duration::ZERO)
                    .min(self.max_idle)
            } else {
                self.max_idle
            };
            tokio::select! {
                () = app.store.wait_for_jobs(wait) => {}
                Some(finished) = running.join_next(), if !running.is_empty() => report_finished(finished),
                _ = renewal.tick() => self.renew_leases(&app, &claims).await,
                _ = shutdown.changed() => {}
            }
        }
        // Shutting down: no more claims, but the jobs still running keep
        // their leases renewed until they finish (an email can take half a
        // minute), or another replica would send them again.
        let mut starter = std::pin::pin!(starter);
        let mut starter_done = false;
        loop {
            tokio::select! {
                started = &mut starter, if !starter_done => {
                    starter_done = true;
                    if let Err(error) = started {
                        tracing::error!("the task starting handed-over jobs failed: {error}");
                    }
                }
                Some(finished) = running.join_next(), if !running.is_empty() => report_finished(finished),
                _ = renewal.tick() => self.renew_leases(&app, &claims).await,
            }
            if starter_done && running.is_empty() {
                return;
            }
        }
    }

    /// Starts jobs as they are handed over, until `shutdown` turns true;
    /// then stops taking (drops `taker`), starts what transactions still
    /// open take all the same (it is claimed already), and waits for its
    /// jobs to finish.
    async fn start_handed_jobs(
        self,
        app: App,
        claims: Claims,
        taker: JobTaker,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut running = JoinSet::new();
        while !*shutdown.borrow() {
            self.start_handed(&app, &claims, &mut running);
            tokio::select! {
                () = app.store.wait_for_handed_jobs() => {}
                Some(finished) = running.join_next(), if !running.is_empty() => report_finished(finished),
                _ = shutdown.changed() => {}
            }
        }
        drop(taker);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            self.start_handed(&app, &claims, &mut running);
            if app.store.taking_settled() || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.start_handed(&app, &claims, &mut running);
        while let Some(finished) = running.join_next().await {
            report_finished(finished);
        }
    }

    /// Starts the jobs taken as they were enqueued: claimed already, due now.
    fn start_handed(&self, app: &App, claims: &Claims, running: &mut JoinSet<()>) {
        for (job, place) in app.store.handed_jobs() {
            self.start(app, claims, running, job, place);
        }
    }

    /// Starts the jobs the runner claimed, each in one of `places`.
    fn start_claimed(
        &self,
        app: &App,
        claims: &Claims,
        running: &mut JoinSet<()>,
        jobs: Vec<Job>,
        mut places: JobPlaces,
    ) {
        for job in jobs {
            let Some(place) = places.take() else {
                tracing::error!("job {} was claimed without a place to run in", job.id);
                continue;
            };
            self.start(app, claims, running, job, place);
        }
    }

    /// Starts a claimed job on a task of its own, in `place`.
    fn start(
        &self,
        app: &App,
        claims: &Claims,
        running: &mut JoinSet<()>,
        job: Job,
        place: JobPlace,
    ) {
        claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(job.id, job.clone());
        let (runner, app, claims) = (self.clone(), app.clone(), claims.clone());
        running.spawn(async move {
            // Its place is free when the task ends, however it ends.
            let _place = place;
            runner.perform_claimed(app, job, claims).await;
        });
    }

    fn renew_every(&self) -> Duration {
        Duration::try_from(self.lease / 3).unwrap_or(Duration::from_secs(1))
    }

    /// Claims up to `limit` due jobs and records them in `claims`.
    async fn claim(
        &self,
        app: &App,
        now: Timestamp,
        limit: u32,
        claims: &Claims,
    ) -> anyhow::Result<Vec<Job>> {
        let running: Vec<i64> = claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect();
        let mut tx = app.store.write_replayable().await?;
        let jobs = tx
            .claim_jobs(now, &app.instance, self.lease, limit, &running)
            .await?;
        tx.commit().await?;
        if !jobs.is_empty() {
            let mut claims = claims.lock().unwrap_or_else(|e| e.into_inner());
            claims.extend(jobs.iter().map(|job| (job.id, job.clone())));
        }
        Ok(jobs)
    }

    /// When to look at the queue again: when the next job falls due, at the
    /// latest `max_idle` from now. A claim that came back short although a
    /// job is due (another replica holds it) waits a moment instead of
    /// spinning.
    async fn next_look(&self, app: &App, claimed_some: bool) -> Timestamp {
        let now = app.clock.now();
        let later = |wait: Duration| {
            now.saturating_add(SignedDuration::try_from(wait).unwrap_or(SignedDuration::ZERO))
                .unwrap_or(now)
        };
        let next = async {
            let mut tx = app.store.read().await?;
            tx.next_job_at().await
        };
        match next.await {
            Ok(Some(at)) => {
                let floor = if claimed_some {
                    now
                } else {
                    later(Duration::from_millis(5))
                };
                at.max(floor).min(later(self.max_idle))
            }
            Ok(None) => later(self.max_idle),
            Err(error) => {
                tracing::warn!("looking for the next job: {error:#}");
                later(Duration::from_secs(1))
            }
        }
    }

    /// Performs a claimed job and records how it went.
    async fn perform_claimed(self, app: App, job: Job, claims: Claims) {
        // Forgotten however the task ends, a panic included: a claim left
        // in `claims` would be renewed for as long as the process lives.
        let _claim = ForgetClaim { claims, id: job.id };
        let result = if job.attempts > job.max_attempts {
            // The lease ran out on the final attempt (its worker died).
            Err(anyhow::anyhow!(
                "the worker running the last attempt stopped before finishing"
            ))
        } else {
            self.perform(&app, &job).await
        };
        if let Err(error) = self.finish(&app, &job, result).await {
            // The claim stays; the job runs again when its lease runs out
            // (here or on another replica).
            tracing::error!(job = job.id, kind = %job.kind, "recording a finished job: {error:#}");
        }
    }

    /// Renews the claims of the jobs still running: a job may take longer
    /// than the lease (a delivery waits up to 10 s for its receiver)
    /// without another replica taking it over. Only a worker that stops
    /// renewing (it died, or cannot reach the database) loses its claims.
    async fn renew_leases(&self, app: &App, claims: &Claims) {
        let jobs: Vec<Job> = claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        if jobs.is_empty() {
            return;
        }
        let renewed = async {
            let now = app.clock.now();
            let until = now.saturating_add(self.lease).unwrap_or(now);
            let mut tx = app.store.write_replayable().await?;
            for job in &jobs {
                // A claim that is no longer ours is reported when its job
                // finishes (or, if it just did, is no loss at all).
                tx.renew_job_lease(job, &app.instance, until).await?;
            }
            tx.commit().await?;
            Ok::<_, anyhow::Error>(())
        };
        if let Err(error) = renewed.await {
            tracing::warn!("renewing job leases: {error:#}");
        }
    }

    async fn finish(
        &self,
        app: &App,
        job: &Job,
        result: anyhow::Result<Outcome>,
    ) -> anyhow::Result<()> {
        // Done: what runs next, if anything.
        let done = match result {
            // Completed in the transaction of its effects: nothing to write,
            // and a write here would only keep ingestion from its turn.
            Ok(Outcome::Completed) => {
                metrics::counter!("siaga_jobs_total", "kind" => job.kind.clone(), "result" => "done").increment(1);
                return Ok(());
            }
            Ok(Outcome::Done) => Ok(None),
            Ok(Outcome::DoneThen(next)) => Ok(Some(next)),
            Err(error) => Err(error),
        };
        let worker = &*app.instance;
        let now = app.clock.now();
        let mut tx = app.store.write_replayable().await?;
        match done {
            Ok(next) => {
                if !tx.complete_job(job, worker, now).await? {
                    tracing::warn!(job = job.id, kind = %job.kind, "job finished after its lease ran out; another worker has it");
                    return Ok(());
                }
                if let Some(next) = next {
                    tx.enqueue_job(now, &next).await?;
                }
                metrics::counter!("siaga_jobs_total", "kind" => job.kind.clone(), "result" => "done").increment(1);
            }
            Err(error) => {
                let message = format!("{error:#}");
                let advice = error.downcast_ref::<Refusal>().map(|refusal| refusal.retry);
                let retry_at = self
                    .backoff
                    .wait(job.attempts, rand::rng().random::<f64>(), advice)
                    .map(|wait| now.saturating_add(wait).unwrap_or(now));
                let state = tx.fail_job(job, worker, now, &message, retry_at).await?;
                if state.is_none() {
                    // Cancelled while it ran, or its lease lapsed and
                    // another worker has it: not this worker's to record.
                    tracing::info!(job = job.id, kind = %job.kind, error = %message, "job failed after it stopped being this worker's");
                    return Ok(());
                }
                let dead = state == Some(JobState::Dead);
                if dead {
                    let event = NewEvent::new(&Actor::system("jobs"), "job.dead", Subject::new("job", job.id))
                        .after(serde_json::json!({ "kind": job.kind, "attempts": job.attempts, "error": message }));
                    tx.append_event(now, event).await?;
                    tracing::error!(job = job.id, kind = %job.kind, attempts = job.attempts, error = %message, "job moved to the dead letters");
                } else {
                    tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, error = %message, ?retry_at, "job failed; will retry");
                }
                if job.kind == escalation::DELIVER
                    && let Some(failed) = failed_delivery(job, &message, dead, retry_at)
                {
                    tx.append_event(now, failed).await?;
                }
                metrics::counter!("siaga_jobs_total", "kind" => job.kind.clone(), "result" => "failed").increment(1);
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A failed attempt of a delivery, recorded where the delivery belongs
/// (the alert's escalation, the incident's timeline): every attempt, and
/// whether it was the last.
fn failed_delivery(
    job: &Job,
    error: &str,
    last: bool,
    retry_at: Option<Timestamp>,
) -> Option<NewEvent> {
    let payload = &job.payload;
    let subject = match (
        payload["incident_id"].as_i64(),
        payload["group_id"].as_i64(),
    ) {
        (Some(incident), _) => Subject::new("incident", incident),
        (None, Some(group)) => Subject::new("alert_group", group),
        _ => return None,
    };
    Some(
        NewEvent::new(
            &Actor::system("notifications"),
            "notification.failed",
            subject,
        )
        .after(serde_json::json!({
            "delivery": payload["id"], "person": payload["person"],
            "channel": payload["channel"], "error": error,
            "attempt": job.attempts, "final": last,
            "retry_at": if last { None } else { retry_at },
        })),
    )
}

/// A job task that panicked leaves its claim; the job runs again when the
/// lease runs out. A task cancelled (its runtime shutting down) leaves it
/// the same way, and is no fault of the job.
fn report_finished(finished: Result<(), tokio::task::JoinError>) {
    match finished {
        Err(error) if error.is_panic() => tracing::error!("a job panicked: {error}"),
        Err(error) => tracing::warn!("a job's task was cancelled: {error}"),
        Ok(()) => {}
    }
}

/// Makes sure each periodic job is scheduled; a no-op when it already is,
/// on this replica or another.
pub async fn schedule_periodic_jobs(app: &App) -> anyhow::Result<()> {
    let now = app.clock.now();
    let mut tx = app.store.write_replayable().await?;
    tx.enqueue_job(now, &periodic_job(PURGE_SESSIONS, now))
        .await?;
    tx.enqueue_job(now, &periodic_job(PURGE_JOBS, now)).await?;
    tx.enqueue_job(now, &periodic_job(PURGE_MESSAGES, now))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// One chunk of a purge, deleting on the transaction it is given.
type PurgeChunk<'t> =
    std::pin::Pin<Box<dyn Future<Output = crate::store::Result<u64>> + Send + 't>>;

/// Runs `purge`, which deletes at most `chunk` rows, in transactions of
/// its own until one deletes fewer, so that a first purge of a large table
/// never holds the database for long. Returns how many rows went.
async fn purge_in_chunks(
    app: &App,
    chunk: u32,
    purge: impl for<'t> Fn(&'t mut Tx, u32) -> PurgeChunk<'t>,
) -> anyhow::Result<u64> {
    let mut purged = 0;
    loop {
        let mut tx = app.store.write_replayable().await?;
        let deleted = purge(&mut tx, chunk).await?;
        tx.commit().await?;
        purged += deleted;
        if deleted < u64::from(chunk) {
            return Ok(purged);
        }
    }
}

/// A periodic job's next run: one of its kind is live at a time. It never
/// goes dead (only start-up makes it again): it retries, at most half an
/// hour apart, until the database lets it through.
fn periodic_job(kind: &str, run_at: Timestamp) -> NewJob {
    NewJob {
        unique_key: Some(kind.into()),
        max_attempts: u32::MAX,
        ..NewJob::new(kind, serde_json::Value::Null, run_at)
    }
}

impl JobRunner {
    /// Performs one job by its kind.
    async fn perform(&self, app: &App, job: &Job) -> anyhow::Result<Outcome> {
        match job.kind.as_str() {
            PURGE_SESSIONS => {
                let now = app.clock.now();
                let mut tx = app.store.write_replayable().await?;
                let purged = tx
                    .purge_expired_sessions(now)
                    .await
                    .context("purging sessions")?;
                tx.commit().await?;
                tracing::debug!(purged, "expired sessions purged");
                let next = now.saturating_add(PURGE_SESSIONS_EVERY).unwrap_or(now);
                Ok(Outcome::DoneThen(periodic_job(PURGE_SESSIONS, next)))
            }
            PURGE_JOBS => {
                let now = app.clock.now();
                let before = now.saturating_sub(self.keep_finished).unwrap_or(now);
                let purged = purge_in_chunks(app, PURGE_JOBS_CHUNK, |tx, limit| {
                    Box::pin(tx.purge_finished_jobs(before, limit))
                })
                .await
                .context("purging finished jobs")?;
                tracing::debug!(purged, "finished jobs purged");
                let next = now.saturating_add(PURGE_JOBS_EVERY).unwrap_or(now);
                Ok(Outcome::DoneThen(periodic_job(PURGE_JOBS, next)))
            }
            PURGE_MESSAGES => {
                let now = app.clock.now();
                let before = now.saturating_sub(self.keep_received).unwrap_or(now);
                let purged = purge_in_chunks(app, PURGE_MESSAGES_CHUNK, |tx, limit| {
                    Box::pin(tx.purge_received_messages(before, limit))
                })
                .await
                .context("purging received messages")?;
                tracing::debug!(purged, "received messages purged");
                let next = now.saturating_add(PURGE_MESSAGES_EVERY).unwrap_or(now);
                Ok(Outcome::DoneThen(periodic_job(PURGE_MESSAGES, next)))
            }
            // These complete the job in the transaction that commits their
            // effects, so a crash cannot make them run twice.
            kind => {
                match kind {
                    escalation::ESCALATION_STEP => app.escalation_step(job).await?,
                    escalation::ESCALATION_EXHAUSTED => app.escalation_exhausted(job).await?,
                    escalation::MAINTENANCE_ENDED => app.maintenance_ended(job).await?,
                    escalation::REESCALATE => app.reescalate(job).await?,
                    escalation::DELIVER => app.deliver(job).await?,
                    incidents::UPDATE_DUE => app.incident_update_due(job).await?,
                    incidents::ALERT_OPENED => app.incident_alert_opened(job).await?,
                    other => bail!("no handler for job kind `{other}`"),
                }
                Ok(Outcome::Completed)
            }
        }
    }
}
