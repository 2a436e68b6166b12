//! Escalation state read from the event log: which alert groups nobody
//! answered. No table of its own; the last escalation event of a group
//! says where its escalation stands.

use super::events::{EVENT_COLUMNS, EventRow};
use super::{Result, Tx, with_tx};

/// The events that move a group's escalation; the newest one decides
/// whether its policy is spent (`escalation.exhausted`, or
/// `escalation.stopped`: the config took it away) or running again
/// (re-escalated, escalated or reassigned by hand). The alert page reads
/// the same from a group's events.
pub const ESCALATION_MOVES: [&str; 6] = [
    "escalation.started",
    "escalation.notified",
    "escalation.escalated",
    "alert.reassigned",
    "escalation.exhausted",
    "escalation.stopped",
];

const UNACKNOWLEDGED_GROUPS: &str = "FROM alert_groups g
     WHERE g.id IN (SELECT group_id FROM alerts WHERE status = 'triggered')
       AND g.status = 'triggered'
       AND (SELECT e.action FROM events e
            WHERE e.subject_kind = 'alert_group' AND e.subject_id = CAST(g.id AS TEXT)
              AND e.action IN ('escalation.started', 'escalation.notified', 'escalation.escalated',
                               'alert.reassigned', 'escalation.exhausted', 'escalation.stopped')
            ORDER BY e.id DESC LIMIT 1) IN ('escalation.exhausted', 'escalation.stopped')";

impl Tx {
    /// A group's newest events that move its escalation, newest first, at
    /// most `limit`: where it stands, whatever number of delivery events
    /// came since.
    pub async fn escalation_moves(
        &mut self,
        group_id: i64,
        limit: u32,
    ) -> Result<Vec<crate::domain::event::Event>> {
        let actions: Vec<String> = ESCALATION_MOVES.iter().map(|a| format!("'{a}'")).collect();
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE subject_kind = 'alert_group' AND subject_id = $1 AND action IN ({})
             ORDER BY id DESC LIMIT $2",
            actions.join(", ")
        );
        let rows: Vec<EventRow> = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(group_id.to_string())
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await?
        });
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }

    /// Triggered alert groups whose escalation policy ran out without an
    /// acknowledgement, newest first, at most `limit`. Starts from the
    /// triggered alerts (an indexed lookup), not from every group ever.
    pub async fn unacknowledged_groups(&mut self, limit: u32) -> Result<Vec<i64>> {
        let sql = format!("SELECT g.id {UNACKNOWLEDGED_GROUPS} ORDER BY g.id DESC LIMIT $1");
        let ids: Vec<i64> = with_tx!(self, conn => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await?
        });
        Ok(ids)
    }

    /// How many alert groups are in that state, for `/metrics`.
    pub async fn count_unacknowledged_groups(&mut self) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) {UNACKNOWLEDGED_GROUPS}");
        let count: i64 = with_tx!(self, conn => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(conn).await?
        });
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_query_and_the_alert_page_read_the_same_events() {
        for action in super::ESCALATION_MOVES {
            assert!(
                super::UNACKNOWLEDGED_GROUPS.contains(&format!("'{action}'")),
                "{action}"
            );
        }
    }
}
