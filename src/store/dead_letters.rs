//! Dead letters looked up by what they belonged to: an alert page asks
//! whether its group's escalation timers died. Kept apart from `jobs`, the
//! queue itself; rows are read through [`Tx::job`] so the mapping of a job
//! row lives in one place.

use super::{Result, Tx, with_tx};
use crate::domain::job::Job;

impl Tx {
    /// Dead jobs that held one of these unique keys, oldest first.
    pub async fn dead_jobs_with_keys(&mut self, keys: &[String]) -> Result<Vec<Job>> {
        let mut jobs = Vec::new();
        for key in keys {
            let ids: Vec<i64> = with_tx!(self, conn => {
                sqlx::query_scalar("SELECT id FROM jobs WHERE state = 'dead' AND unique_key = $1 ORDER BY id")
                    .bind(key)
                    .fetch_all(conn)
                    .await?
            });
            for id in ids {
                jobs.push(self.job(id).await?);
            }
        }
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }
}
