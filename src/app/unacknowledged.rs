//! "Nobody acknowledged": alert groups still triggered after every level
//! and repeat of their escalation policy was paged. Loud on the alerts
//! page and in `/metrics`; read from the database when asked, so every
//! replica reports the same.

use jiff::Timestamp;

use super::{App, Result};
use crate::domain::alert::{AlertStatus, Severity};
use crate::store::AlertFilter;

/// How many such groups the alerts page lists (the count has no limit).
const LISTED: u32 = 100;

/// An alert group nobody acknowledged, by its newest triggered alert.
#[derive(Clone, Debug, PartialEq)]
pub struct UnacknowledgedGroup {
    pub group_id: i64,
    pub service: String,
    pub alert_id: i64,
    pub summary: String,
    pub severity: Severity,
    pub opened_at: Timestamp,
}

impl App {
    /// Alert groups nobody acknowledged, newest first.
    pub async fn unacknowledged_groups(&self) -> Result<Vec<UnacknowledgedGroup>> {
        let mut tx = self.store.read().await?;
        let mut groups = Vec::new();
        for group_id in tx.unacknowledged_groups(LISTED).await? {
            let group = tx.alert_group(group_id).await?;
            let filter = AlertFilter {
                group_id: Some(group_id),
                status: Some(AlertStatus::Triggered),
                limit: 1,
                ..AlertFilter::default()
            };
            let Some(alert) = tx.list_alerts(&filter).await?.into_iter().next() else {
                continue;
            };
            groups.push(UnacknowledgedGroup {
                group_id,
                service: group.service,
                alert_id: alert.id,
                summary: alert.summary,
                severity: alert.severity,
                opened_at: group.opened_at,
            });
        }
        Ok(groups)
    }

    /// How many alert groups nobody acknowledged, for `/metrics`.
    pub async fn unacknowledged_group_count(&self) -> Result<i64> {
        Ok(self
            .store
            .read()
            .await?
            .count_unacknowledged_groups()
            .await?)
    }
}
