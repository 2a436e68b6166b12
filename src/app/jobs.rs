//! Looking after the job queue: listing, dead letters (with what they
//! belonged to and when they gave up), retries, depth.

use super::audit::page_limit;
use super::{App, Error, Result};
use crate::domain::event::{Actor, NewEvent, Subject};
use crate::domain::job::{Job, JobState};
use crate::domain::page::{Page, decode_cursor, page_from};
use crate::store::{AlertFilter, EventFilter, QueueDepth, Tx};

/// A dead job as people read it: what it was for, and when it gave up.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    pub job: Job,
    /// When its last attempt failed (its `job.dead` event).
    pub died_at: Option<jiff::Timestamp>,
    pub belongs_to: Option<Belonging>,
}

/// What a job worked for, read from its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Belonging {
    /// An alert group's escalation or notification; `alert` is one of its
    /// alerts, for a link (groups have no page of their own).
    AlertGroup {
        group: i64,
        alert: Option<i64>,
    },
    Incident(i64),
}

impl Belonging {
    /// From a job's payload: deliveries name their incident or alert group,
    /// escalation timers their group.
    pub fn of(job: &Job) -> Option<Belonging> {
        let payload = &job.payload;
        match (
            payload["incident_id"].as_i64(),
            payload["group_id"].as_i64(),
        ) {
            (Some(incident), _) => Some(Belonging::Incident(incident)),
            (None, Some(group)) => Some(Belonging::AlertGroup {
                group,
                alert: payload["alert_id"].as_i64(),
            }),
            (None, None) => None,
        }
    }
}

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
            // Replacing a timer cancels it while it runs: the rollback that
            // follows is the point, not a fault.
            let cancelled = tx
                .job(job.id)
                .await
                .is_ok_and(|now| now.state == crate::domain::job::JobState::Cancelled);
            if cancelled {
                tracing::debug!(job = job.id, kind = %job.kind, "job cancelled while it ran; its effects roll back");
            } else {
                tracing::warn!(job = job.id, kind = %job.kind, "job finished after its lease ran out; another worker has it");
            }
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
        // Not the payload: a delivery's holds the receiver's address (a
        // Slack webhook's is its secret) and a signed acknowledge link,
        // which the append-only log would keep for good.
        tx.append_event(
            now,
            NewEvent::new(actor, "job.retried", Subject::new("job", id)).after(
                serde_json::json!({ "kind": job.kind, "max_attempts": job.max_attempts, "run_at": job.run_at }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(job)
    }

    /// A page of dead letters, newest first, each with when it gave up and
    /// what it belonged to.
    pub async fn dead_letters(
        &self,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<DeadLetter>> {
        let page = self.jobs(Some(JobState::Dead), cursor, limit).await?;
        let mut tx = self.store.read().await?;
        let mut items = Vec::with_capacity(page.items.len());
        for job in page.items {
            let died_at = tx
                .list_events(&EventFilter {
                    subject_kind: Some("job".into()),
                    subject_id: Some(job.id.to_string()),
                    before_id: None,
                    limit: 20,
                })
                .await?
                .into_iter()
                .find(|e| e.action == "job.dead")
                .map(|e| e.at);
            let belongs_to = match Belonging::of(&job) {
                Some(Belonging::AlertGroup { group, alert: None }) => Some(Belonging::AlertGroup {
                    group,
                    alert: an_alert_of(&mut tx, group).await?,
                }),
                other => other,
            };
            items.push(DeadLetter {
                job,
                died_at,
                belongs_to,
            });
        }
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// The dead escalation timers of an alert group (a step, the final
    /// "nobody acknowledged" check, a re-escalation): while one is dead,
    /// the group's escalation has stopped.
    pub async fn dead_escalation_jobs(&self, group_id: i64) -> Result<Vec<Job>> {
        let keys = [
            super::escalation::escalation_timer(group_id),
            super::escalation::reescalation_timer(group_id),
        ];
        let jobs = self.store.read().await?.dead_jobs_with_keys(&keys).await?;
        Ok(jobs
            .into_iter()
            .filter(|j| j.payload["group_id"].as_i64() == Some(group_id))
            .collect())
    }

    pub async fn queue_depth(&self) -> Result<QueueDepth> {
        let now = self.clock.now();
        Ok(self.store.read().await?.queue_depth(now).await?)
    }
}

/// The newest alert of a group, open or not.
async fn an_alert_of(tx: &mut Tx, group: i64) -> Result<Option<i64>> {
    for status in [None, Some(crate::domain::alert::AlertStatus::Resolved)] {
        let filter = AlertFilter {
            group_id: Some(group),
            status,
            limit: 1,
            ..AlertFilter::default()
        };
        if let Some(alert) = tx.list_alerts(&filter).await?.into_iter().next() {
            return Ok(Some(alert.id));
        }
    }
    Ok(None)
}
