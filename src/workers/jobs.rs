//! Runs due jobs from the durable queue. A job is claimed under a lease and
//! performed outside any transaction; success completes it (and may schedule
//! a follow-up in the same transaction), failure schedules a retry with
//! backoff or moves it to the dead letters after its last attempt.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use tokio::sync::watch;

use crate::app::{App, escalation, incidents};
use crate::domain::job::{Backoff, Job, JobState, NewJob};

/// Removes expired web sessions, hourly.
pub const PURGE_SESSIONS: &str = "sessions.purge";
const PURGE_SESSIONS_EVERY: SignedDuration = SignedDuration::from_hours(1);

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
    /// Jobs claimed per round.
    pub batch: u32,
    pub backoff: Backoff,
    /// How long to wait before looking again when the queue is empty.
    pub idle_wait: Duration,
}

impl Default for JobRunner {
    fn default() -> Self {
        Self {
            lease: SignedDuration::from_secs(60),
            batch: 16,
            backoff: Backoff::default(),
            idle_wait: Duration::from_millis(250),
        }
    }
}

impl JobRunner {
    /// Claims the jobs due at `now` and performs them. Returns how many were
    /// performed (successfully or not).
    pub async fn run_once(&self, app: &App, now: Timestamp) -> anyhow::Result<usize> {
        let worker = &*app.instance;
        let mut tx = app.store.write().await?;
        let jobs = tx.claim_jobs(now, worker, self.lease, self.batch).await?;
        tx.commit().await?;
        // Both are polled together: on SQLite a renewal waiting for the
        // write lock must not stop the job that holds it.
        let unfinished = AtomicUsize::new(0);
        tokio::select! {
            done = self.run_batch(app, now, &jobs, &unfinished) => done?,
            never = self.keep_leases(app, &jobs, &unfinished) => match never {},
        }
        Ok(jobs.len())
    }

    /// Performs claimed jobs in order; `unfinished` is the index of the
    /// first job not finished yet.
    async fn run_batch(
        &self,
        app: &App,
        now: Timestamp,
        jobs: &[Job],
        unfinished: &AtomicUsize,
    ) -> anyhow::Result<()> {
        let worker = &*app.instance;
        for (index, job) in jobs.iter().enumerate() {
            unfinished.store(index, Ordering::Relaxed);
            // Earlier jobs of the batch may have used up this one's lease;
            // take it afresh, or leave the job to whoever holds it now.
            let until = app.clock.now().saturating_add(self.lease).unwrap_or(now);
            let mut tx = app.store.write().await?;
            let still_ours = tx.renew_job_lease(job, worker, until).await?;
            tx.commit().await?;
            if !still_ours {
                tracing::warn!(job = job.id, kind = %job.kind, "lost the lease before running; skipped");
                continue;
            }
            let result = if job.attempts > job.max_attempts {
                // The lease ran out on the final attempt (its worker died).
                Err(anyhow::anyhow!(
                    "the worker running the last attempt stopped before finishing"
                ))
            } else {
                perform(app, job).await
            };
            self.finish(app, job, result).await?;
        }
        Ok(())
    }

    /// Renews the claims of a batch's unfinished jobs every third of the
    /// lease, for as long as the batch runs: a job may take longer than the
    /// lease (a delivery waits up to 10 s for its receiver) without another
    /// replica taking it over. Only a worker that stops renewing (it died,
    /// or cannot reach the database) loses its claims.
    async fn keep_leases(
        &self,
        app: &App,
        jobs: &[Job],
        unfinished: &AtomicUsize,
    ) -> std::convert::Infallible {
        let every = Duration::try_from(self.lease / 3).unwrap_or(Duration::from_secs(1));
        loop {
            tokio::time::sleep(every).await;
            let from = unfinished.load(Ordering::Relaxed).min(jobs.len());
            if let Err(error) = self.renew_leases(app, &jobs[from..]).await {
                tracing::warn!("renewing job leases: {error:#}");
            }
        }
    }

    async fn renew_leases(&self, app: &App, jobs: &[Job]) -> anyhow::Result<()> {
        let worker = &*app.instance;
        let now = app.clock.now();
        let until = now.saturating_add(self.lease).unwrap_or(now);
        let mut tx = app.store.write().await?;
        for job in jobs {
            // A claim that is no longer ours is reported when its job
            // finishes (or, if it just did, is no loss at all).
            tx.renew_job_lease(job, worker, until).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn finish(
        &self,
        app: &App,
        job: &Job,
        result: anyhow::Result<Outcome>,
    ) -> anyhow::Result<()> {
        let worker = &*app.instance;
        let now = app.clock.now();
        let mut tx = app.store.write().await?;
        match result {
            Ok(Outcome::Completed) => {
                metrics::counter!("siaga_jobs_total", "kind" => job.kind.clone(), "result" => "done").increment(1);
            }
            Ok(outcome) => {
                if !tx.complete_job(job, worker, now).await? {
                    tracing::warn!(job = job.id, kind = %job.kind, "job finished after its lease ran out; another worker has it");
                    return Ok(());
                }
                if let Outcome::DoneThen(next) = outcome {
                    tx.enqueue_job(now, &next).await?;
                }
                metrics::counter!("siaga_jobs_total", "kind" => job.kind.clone(), "result" => "done").increment(1);
            }
            Err(error) => {
                let message = format!("{error:#}");
                let delay = self
                    .backoff
                    .delay(job.attempts, rand::rng().random::<f64>());
                let retry_at = now.saturating_add(delay).unwrap_or(now);
                let state = tx.fail_job(job, worker, now, &message, retry_at).await?;
                if state == Some(JobState::Dead) {
                    let event = crate::domain::event::NewEvent::new(
                        &crate::domain::event::Actor::system("jobs"),
                        "job.dead",
                        crate::domain::event::Subject::new("job", job.id),
                    )
                    .after(serde_json::json!({ "kind": job.kind, "attempts": job.attempts, "error": message }));
                    tx.append_event(now, event).await?;
                    if job.kind == escalation::DELIVER {
                        // Shown where the delivery belongs: the alert's
                        // escalation, the incident's timeline.
                        let payload = &job.payload;
                        let subject = match (
                            payload["incident_id"].as_i64(),
                            payload["group_id"].as_i64(),
                        ) {
                            (Some(incident), _) => {
                                Some(crate::domain::event::Subject::new("incident", incident))
                            }
                            (None, Some(group)) => {
                                Some(crate::domain::event::Subject::new("alert_group", group))
                            }
                            _ => None,
                        };
                        if let Some(subject) = subject {
                            let failed = crate::domain::event::NewEvent::new(
                                &crate::domain::event::Actor::system("notifications"),
                                "notification.failed",
                                subject,
                            )
                            .after(serde_json::json!({
                                "delivery": payload["id"], "person": payload["person"],
                                "channel": payload["channel"], "error": message,
                            }));
                            tx.append_event(now, failed).await?;
                        }
                    }
                    tracing::error!(job = job.id, kind = %job.kind, attempts = job.attempts, error = %message, "job moved to the dead letters");
                } else {
                    tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, error = %message, %retry_at, "job failed; will retry");
                }
                metrics::counter!("siaga_jobs_total", "kind" => job.kind.clone(), "result" => "failed").increment(1);
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Runs until `shutdown` turns true, finishing the round in progress.
    pub async fn run(&self, app: App, mut shutdown: watch::Receiver<bool>) {
        if let Err(error) = schedule_periodic_jobs(&app).await {
            tracing::error!("scheduling periodic jobs: {error:#}");
        }
        while !*shutdown.borrow() {
            let now = app.clock.now();
            let idle = match self.run_once(&app, now).await {
                Ok(done) => done == 0,
                Err(error) => {
                    tracing::error!("job runner: {error:#}");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(self.idle_wait) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

/// Makes sure each periodic job is scheduled; a no-op when it already is,
/// on this replica or another.
pub async fn schedule_periodic_jobs(app: &App) -> anyhow::Result<()> {
    let now = app.clock.now();
    let mut tx = app.store.write().await?;
    tx.enqueue_job(now, &purge_sessions_job(now)).await?;
    tx.commit().await?;
    Ok(())
}

fn purge_sessions_job(run_at: Timestamp) -> NewJob {
    NewJob {
        unique_key: Some(PURGE_SESSIONS.into()),
        ..NewJob::new(PURGE_SESSIONS, serde_json::Value::Null, run_at)
    }
}

/// Performs one job by its kind.
async fn perform(app: &App, job: &Job) -> anyhow::Result<Outcome> {
    match job.kind.as_str() {
        PURGE_SESSIONS => {
            let now = app.clock.now();
            let mut tx = app.store.write().await?;
            let purged = tx
                .purge_expired_sessions(now)
                .await
                .context("purging sessions")?;
            tx.commit().await?;
            tracing::debug!(purged, "expired sessions purged");
            let next = now.saturating_add(PURGE_SESSIONS_EVERY).unwrap_or(now);
            Ok(Outcome::DoneThen(purge_sessions_job(next)))
        }
        // These complete the job in the transaction that commits their
        // effects, so a crash cannot make them run twice.
        escalation::ESCALATION_STEP => {
            app.escalation_step(job).await?;
            Ok(Outcome::Completed)
        }
        escalation::ESCALATION_EXHAUSTED => {
            app.escalation_exhausted(job).await?;
            Ok(Outcome::Completed)
        }
        escalation::REESCALATE => {
            app.reescalate(job).await?;
            Ok(Outcome::Completed)
        }
        escalation::DELIVER => {
            app.deliver(job).await?;
            Ok(Outcome::Completed)
        }
        incidents::UPDATE_DUE => {
            app.incident_update_due(job).await?;
            Ok(Outcome::Completed)
        }
        incidents::ALERT_OPENED => {
            app.incident_alert_opened(job).await?;
            Ok(Outcome::Completed)
        }
        other => bail!("no handler for job kind `{other}`"),
    }
}
