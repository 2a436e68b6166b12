//! Looking after the job queue: listing, dead letters, depth.

use super::audit::page_limit;
use super::{App, Error, Result};
use crate::domain::event::{Actor, NewEvent, Subject};
use crate::domain::job::{Job, JobState};
use crate::domain::page::{Page, decode_cursor, page_from};
use crate::store::{QueueDepth, Tx};

impl App {
    /// Marks a claimed job done inside `tx`, so that the job's effects and
    /// its completion commit together: a crash between the two would run
    /// the job, and repeat its effects, again. False when this process no
    /// longer holds the claim; the caller then drops `tx` and its effects.
    pub(crate) async fn complete_job_in(&self, tx: &mut Tx, job: &Job) -> anyhow::Result<bool> {
        let completed = tx
            .complete_job(job, &self.instance, self.clock.now())
            .await?;
        if !completed {
            tracing::warn!(job = job.id, kind = %job.kind, "job finished after its lease ran out; another worker has it");
        }
        Ok(completed)
    }

    /// Completes a claimed job that found nothing to do.
    pub(crate) async fn complete_job_alone(&self, job: &Job) -> anyhow::Result<()> {
        let mut tx = self.store.write().await?;
        if self.complete_job_in(&mut tx, job).await? {
            tx.commit().await?;
        }
        Ok(())
    }

    pub async fn jobs(
        &self,
        state: Option<JobState>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Job>> {
        let limit = page_limit(limit)?;
        let before_id = match cursor {
            Some(cursor) => Some(
                decode_cursor(cursor)
                    .and_then(|c| c.parse::<i64>().ok())
                    .ok_or_else(|| {
                        Error::invalid(
                            "invalid_cursor",
                            "cursor",
                            "the cursor is not one this server gave out",
                        )
                    })?,
            ),
            None => None,
        };
        let jobs = self
            .store
            .read()
            .await?
            .list_jobs(state, before_id, limit)
            .await?;
        Ok(page_from(jobs, limit, |j| j.id.to_string()))
    }

    /// Puts a dead job back in the queue with a fresh set of attempts.
    pub async fn retry_dead_job(&self, actor: &Actor, id: i64) -> Result<Job> {
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let Some(job) = tx.retry_dead_job(id, now).await? else {
            let exists = tx.job(id).await.is_ok();
            return Err(if exists {
                Error::Conflict(format!(
                    "job {id} is not dead; only dead jobs can be retried"
                ))
            } else {
                Error::NotFound(format!("job {id}"))
            });
        };
        tx.append_event(
            now,
            NewEvent::new(actor, "job.retried", Subject::new("job", id)).after(&job),
        )
        .await?;
        tx.commit().await?;
        Ok(job)
    }

    pub async fn queue_depth(&self) -> Result<QueueDepth> {
        let now = self.clock.now();
        Ok(self.store.read().await?.queue_depth(now).await?)
    }
}
