//! Alerts, their groups, the messages and events they came from,
//! maintenance windows and change events.

use std::sync::LazyLock;

use jiff::Timestamp;

use super::writes::{RowValues, Value};
use super::{MAX_ROWS, Result, Tx, TxInner, WriteSet, from_millis, native, to_millis, with_tx};
use crate::domain::alert::{Alert, AlertStatus, Link, MaintenanceWindow, Severity, Urgency};
use crate::domain::ingest::{JoinableGroup, JoinedGroup};

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: i64,
    service: String,
    integration: Option<String>,
    dedup_key: String,
    status: String,
    severity: String,
    urgency: String,
    summary: String,
    source: Option<String>,
    component: Option<String>,
    alert_group: Option<String>,
    alert_class: Option<String>,
    labels: String,
    details: String,
    links: String,
    group_id: i64,
    in_maintenance: i64,
    first_seen_at: i64,
    last_seen_at: i64,
    event_count: i64,
    acknowledged_at: Option<i64>,
    acknowledged_by: Option<String>,
    resolved_at: Option<i64>,
    resolved_by: Option<String>,
}

impl AlertRow {
    /// A row of [`ALERT_COLUMNS`] read natively.
    fn read(row: &native::Row<'_>) -> native::RowResult<AlertRow> {
        Ok(AlertRow {
            id: row.get(0)?,
            service: row.get(1)?,
            integration: row.get(2)?,
            dedup_key: row.get(3)?,
            status: row.get(4)?,
            severity: row.get(5)?,
            urgency: row.get(6)?,
            summary: row.get(7)?,
            source: row.get(8)?,
            component: row.get(9)?,
            alert_group: row.get(10)?,
            alert_class: row.get(11)?,
            labels: row.get(12)?,
            details: row.get(13)?,
            links: row.get(14)?,
            group_id: row.get(15)?,
            in_maintenance: row.get(16)?,
            first_seen_at: row.get(17)?,
            last_seen_at: row.get(18)?,
            event_count: row.get(19)?,
            acknowledged_at: row.get(20)?,
            acknowledged_by: row.get(21)?,
            resolved_at: row.get(22)?,
            resolved_by: row.get(23)?,
        })
    }

    fn into_alert(self) -> Alert {
        Alert {
            id: self.id,
            service: self.service,
            integration: self.integration,
            dedup_key: self.dedup_key,
            status: AlertStatus::parse(&self.status).unwrap_or(AlertStatus::Triggered),
            severity: Severity::parse(&self.severity).unwrap_or(Severity::Warning),
            urgency: Urgency::parse(&self.urgency).unwrap_or(Urgency::High),
            summary: self.summary,
            source: self.source,
            component: self.component,
            group: self.alert_group,
            class: self.alert_class,
            labels: serde_json::from_str(&self.labels).unwrap_or_default(),
            details: serde_json::from_str(&self.details).unwrap_or_default(),
            links: serde_json::from_str(&self.links).unwrap_or_default(),
            group_id: self.group_id,
            in_maintenance: self.in_maintenance != 0,
            first_seen_at: from_millis(self.first_seen_at),
            last_seen_at: from_millis(self.last_seen_at),
            event_count: self.event_count,
            acknowledged_at: self.acknowledged_at.map(from_millis),
            acknowledged_by: self.acknowledged_by,
            resolved_at: self.resolved_at.map(from_millis),
            resolved_by: self.resolved_by,
        }
    }
}

const ALERT_COLUMNS: &str = "id, service, integration, dedup_key, status, severity, urgency, summary, source, component, alert_group, alert_class, labels, details, links, group_id, in_maintenance, first_seen_at, last_seen_at, event_count, acknowledged_at, acknowledged_by, resolved_at, resolved_by";

#[derive(sqlx::FromRow)]
struct MaintenanceRow {
    id: i64,
    service: String,
    starts_at: i64,
    ends_at: i64,
    reason: String,
    created_by: String,
    cancelled_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    id: i64,
    service: String,
    integration: String,
    summary: String,
    source: Option<String>,
    occurred_at: i64,
    details: String,
    links: String,
}

/// Which alerts to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct AlertFilter {
    pub service: Option<String>,
    /// `None`: open alerts (triggered or acknowledged).
    pub status: Option<AlertStatus>,
    pub severity: Option<Severity>,
    /// Only alerts last seen at or after this.
    pub since: Option<Timestamp>,
    pub group_id: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// One received event as the alert page shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AlertEvent {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: Timestamp,
    pub action: String,
    /// `opened`, `repeated`, `acknowledged`, `resolved`, `ignored`, `dropped`.
    pub outcome: String,
    pub format: String,
    pub message_id: i64,
    /// The request as received.
    pub body: String,
}

/// A group of alerts that escalates as one.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AlertGroup {
    pub id: i64,
    pub service: String,
    pub group_key: Option<String>,
    pub status: AlertStatus,
    #[schema(value_type = String, format = DateTime)]
    pub opened_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_alert_at: Timestamp,
    pub alert_count: i64,
    pub in_maintenance: bool,
}

/// A change announced by a deploy tool.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ChangeEvent {
    pub id: i64,
    pub service: String,
    pub integration: String,
    pub summary: String,
    pub source: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub links: Vec<Link>,
}

/// See [`Tx::services_for_ingest`].
#[derive(Clone, Debug, Default)]
pub struct ServicesForIngest {
    pub maintenance: Vec<MaintenanceWindow>,
    pub with_recent_incidents: std::collections::BTreeSet<String>,
}

/// A received request, as stored (its id reserved with [`Tx::reserve_ids`]).
#[derive(Clone, Debug)]
pub struct InboundMessage<'a> {
    pub id: i64,
    pub received_at: Timestamp,
    pub service: &'a str,
    pub integration: &'a str,
    pub format: &'a str,
    pub body: &'a str,
}

/// What one signal of a received message did to which alert.
#[derive(Clone, Debug)]
pub struct InboundEvent<'a> {
    pub message_id: i64,
    pub alert_id: Option<i64>,
    pub received_at: Timestamp,
    pub action: &'static str,
    pub dedup_key: &'a str,
    /// `opened`, `repeated`, `acknowledged`, `resolved`, `ignored`, `dropped`.
    pub outcome: &'static str,
}

/// A group a batch opens, with its id reserved and its first members counted.
#[derive(Clone, Debug)]
pub struct NewAlertGroup {
    pub id: i64,
    pub service: String,
    pub group_key: Option<String>,
    pub opened_at: Timestamp,
    pub alert_count: i64,
    pub in_maintenance: bool,
}

impl Tx {
    /// The open (triggered or acknowledged) alerts of `service` with these
    /// keys, by id, locked until the transaction ends: on PostgreSQL a
    /// concurrent replica waits here instead of overwriting their counts,
    /// and locking in id order keeps two such batches from deadlocking.
    pub async fn open_alerts_with_keys(
        &mut self,
        service: &str,
        dedup_keys: &[&str],
    ) -> Result<Vec<Alert>> {
        if let TxInner::Native(write) = &self.inner {
            // A point lookup per key on the index of open keys: one
            // prepared statement, where an `IN` list would be parsed again
            // for every length.
            static BY_KEY: LazyLock<String> = LazyLock::new(|| {
                format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE status <> 'resolved' AND service = $1 AND dedup_key = $2"
                )
            });
            let mut rows = Vec::with_capacity(dedup_keys.len());
            for key in dedup_keys {
                rows.extend(write.connection().query(
                    &BY_KEY,
                    &[service.into(), (*key).into()],
                    AlertRow::read,
                )?);
            }
            rows.sort_by_key(|row| row.id);
            return Ok(rows.into_iter().map(AlertRow::into_alert).collect());
        }
        let mut alerts = Vec::new();
        for chunk in dedup_keys.chunks(MAX_ROWS) {
            let lock = self.row_lock();
            let rows: Vec<AlertRow> = with_tx!(self, conn => {
                let mut query = sqlx::QueryBuilder::new(format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE status <> 'resolved' AND service = "
                ));
                query.push_bind(service).push(" AND dedup_key IN (");
                let mut keys = query.separated(", ");
                for key in chunk {
                    keys.push_bind(*key);
                }
                query.push(") ORDER BY id").push(lock);
                query.build_query_as().persistent(super::cache_statement(chunk.len())).fetch_all(conn).await?
            });
            alerts.extend(rows.into_iter().map(AlertRow::into_alert));
        }
        Ok(alerts)
    }

    /// Alerts with this dedup key, newest first (at most 50).
    pub async fn alerts_by_dedup_key(
        &mut self,
        dedup_key: &str,
        service: Option<&str>,
    ) -> Result<Vec<Alert>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE dedup_key = $1 AND ($2 IS NULL OR service = $2) ORDER BY id DESC LIMIT 50"
        );
        let rows: Vec<AlertRow> = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(dedup_key).bind(service).fetch_all(conn).await?
        });
        Ok(rows.into_iter().map(AlertRow::into_alert).collect())
    }

    /// An alert, locked until the transaction ends, for changing it.
    pub async fn alert_for_update(&mut self, id: i64) -> Result<Alert> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1{}",
            self.row_lock()
        );
        let row: AlertRow = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(conn).await?
        });
        Ok(row.into_alert())
    }

    /// Up to `limit` of a group's alerts in `status`, oldest first, locked
    /// until the transaction ends: a change written back whole must not
    /// overwrite what another replica committed since they were read (a
    /// resolve, a repeat's count).
    pub async fn group_alerts_for_update(
        &mut self,
        group_id: i64,
        status: AlertStatus,
        limit: u32,
    ) -> Result<Vec<Alert>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE group_id = $1 AND status = $2 ORDER BY id LIMIT $3{}",
            self.row_lock()
        );
        let rows: Vec<AlertRow> = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(group_id)
                .bind(status.as_str())
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await?
        });
        Ok(rows.into_iter().map(AlertRow::into_alert).collect())
    }

    /// Writes back an alert's mutable fields after an action.
    pub async fn update_alert(&mut self, alert: &Alert) -> Result<()> {
        let mut writes = self.writes();
        writes.alerts(std::slice::from_ref(alert));
        self.apply(writes).await
    }

    /// The newest open alert of a group, which its pages are about.
    pub async fn newest_open_alert(&mut self, group_id: i64) -> Result<Option<Alert>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE group_id = $1 AND status <> 'resolved' ORDER BY id DESC LIMIT 1"
        );
        let row: Option<AlertRow> = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(group_id).fetch_optional(conn).await?
        });
        Ok(row.map(AlertRow::into_alert))
    }

    pub async fn alert(&mut self, id: i64) -> Result<Alert> {
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1");
        let row: AlertRow = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(conn).await?
        });
        Ok(row.into_alert())
    }

    /// Alerts matching the filter, newest first, at most `limit + 1`.
    pub async fn list_alerts(&mut self, filter: &AlertFilter) -> Result<Vec<Alert>> {
        let (open_only, status) = match filter.status {
            None => (1i64, None),
            Some(status) => (0, Some(status.as_str())),
        };
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts
             WHERE ($1 IS NULL OR service = $1)
               AND ($2 = 0 OR status <> 'resolved')
               AND ($3 IS NULL OR status = $3)
               AND ($4 IS NULL OR severity = $4)
               AND ($5 IS NULL OR last_seen_at >= $5)
               AND ($6 IS NULL OR group_id = $6)
               AND ($7 IS NULL OR id < $7)
             ORDER BY id DESC LIMIT $8"
        );
        let rows: Vec<AlertRow> = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(filter.service.as_deref())
                .bind(open_only)
                .bind(status)
                .bind(filter.severity.map(Severity::as_str))
                .bind(filter.since.map(to_millis))
                .bind(filter.group_id)
                .bind(filter.before_id)
                .bind(i64::from(filter.limit) + 1)
                .fetch_all(conn)
                .await?
        });
        Ok(rows.into_iter().map(AlertRow::into_alert).collect())
    }

    /// Deletes up to `limit` of the received messages from before `before`,
    /// oldest first, with the received events that came in them. Alerts
    /// keep their state, counts and times, and the event log is untouched.
    /// Returns how many messages went.
    pub async fn purge_received_messages(&mut self, before: Timestamp, limit: u32) -> Result<u64> {
        // Ids follow arrival, so the messages to go are the ones below the
        // first one kept: found by reading from the oldest, which earlier
        // purges have removed, rather than by a scan of every message's
        // time. (Two PostgreSQL replicas can interleave ids by a batch; a
        // message kept that way goes at the next purge.)
        let last: Option<i64> = with_tx!(self, conn => {
            sqlx::query_scalar(
                "SELECT MAX(id) FROM (
                     SELECT id FROM inbound_messages
                     WHERE id < COALESCE(
                         (SELECT id FROM inbound_messages WHERE received_at >= $1 ORDER BY id LIMIT 1), $2)
                     ORDER BY id LIMIT $3) AS oldest",
            )
            .bind(to_millis(before))
            .bind(i64::MAX)
            .bind(i64::from(limit))
            .fetch_one(conn)
            .await?
        });
        let Some(last) = last else {
            return Ok(0);
        };
        let purged = with_tx!(self, conn => {
            sqlx::query("DELETE FROM inbound_events WHERE message_id <= $1")
                .bind(last)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM inbound_messages WHERE id <= $1")
                .bind(last)
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(purged)
    }

    /// The newest `limit` received events of one alert, oldest first: of
    /// an alert that flapped thousands of times, the latest (the one that
    /// resolved it) are the ones worth reading.
    pub async fn alert_events(&mut self, alert_id: i64, limit: u32) -> Result<Vec<AlertEvent>> {
        let mut rows: Vec<(i64, i64, String, String, String, i64, String)> = with_tx!(self, conn => {
            sqlx::query_as(
                "SELECT e.id, e.received_at, e.action, e.outcome, m.format, m.id, m.body
                 FROM inbound_events e JOIN inbound_messages m ON m.id = e.message_id
                 WHERE e.alert_id = $1 ORDER BY e.id DESC LIMIT $2",
            )
            .bind(alert_id)
            .bind(i64::from(limit))
            .fetch_all(conn)
            .await?
        });
        rows.reverse();
        Ok(rows
            .into_iter()
            .map(
                |(id, received_at, action, outcome, format, message_id, body)| AlertEvent {
                    id,
                    received_at: from_millis(received_at),
                    action,
                    outcome,
                    format,
                    message_id,
                    body,
                },
            )
            .collect())
    }

    /// Per group key of `service`: the newest group with it that is still
    /// open or took an alert at or after `since`.
    pub async fn joinable_groups(
        &mut self,
        service: &str,
        group_keys: &[&str],
        since: Timestamp,
    ) -> Result<Vec<(String, JoinableGroup)>> {
        type Row = (String, i64, String, i64);
        let joinable = |(key, id, status, in_maintenance): Row| {
            let group = JoinableGroup {
                id,
                status: AlertStatus::parse(&status).unwrap_or(AlertStatus::Triggered),
                in_maintenance: in_maintenance != 0,
            };
            (key, group)
        };
        let mut rows: Vec<Row> = Vec::new();
        if let TxInner::Native(write) = &self.inner {
            for key in group_keys {
                rows.extend(write.connection().query(
                    "SELECT group_key, id, status, in_maintenance FROM alert_groups WHERE service = $1 AND (status <> 'resolved' OR last_alert_at >= $2) AND group_key = $3 ORDER BY id DESC LIMIT 1",
                    &[service.into(), to_millis(since).into(), (*key).into()],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )?);
            }
            return Ok(rows.into_iter().map(joinable).collect());
        }
        for chunk in group_keys.chunks(MAX_ROWS) {
            let found: Vec<Row> = with_tx!(self, conn => {
                let mut query = sqlx::QueryBuilder::new(
                    "SELECT group_key, id, status, in_maintenance FROM alert_groups WHERE id IN (SELECT MAX(id) FROM alert_groups WHERE service = ",
                );
                query
                    .push_bind(service)
                    .push(" AND (status <> 'resolved' OR last_alert_at >= ")
                    .push_bind(to_millis(since))
                    .push(") AND group_key IN (");
                let mut keys = query.separated(", ");
                for key in chunk {
                    keys.push_bind(*key);
                }
                query.push(") GROUP BY group_key)");
                query.build_query_as().persistent(super::cache_statement(chunk.len())).fetch_all(conn).await?
            });
            rows.extend(found);
        }
        Ok(rows.into_iter().map(joinable).collect())
    }

    /// Recomputes a group's status from its members: resolved when none is
    /// open, acknowledged when every open one is, triggered otherwise.
    /// Returns the new status.
    pub async fn refresh_group_status(
        &mut self,
        group_id: i64,
        now: Timestamp,
    ) -> Result<AlertStatus> {
        // Counted under the group's lock, so that two writers changing two
        // of its alerts at once cannot each count the other's as unchanged.
        if self.backend() == super::Backend::Postgres {
            self.lock_groups(&[group_id]).await?;
        }
        let counts: Vec<(i64, i64)> = self
            .fetch_all_with(
                "SELECT COALESCE(SUM(CASE WHEN status = 'triggered' THEN 1 ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN status = 'acknowledged' THEN 1 ELSE 0 END), 0)
                 FROM alerts WHERE group_id = $1",
                &[group_id.into()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .await?;
        let (triggered, acknowledged) = counts.first().copied().unwrap_or_default();
        let status = if triggered > 0 {
            AlertStatus::Triggered
        } else if acknowledged > 0 {
            AlertStatus::Acknowledged
        } else {
            AlertStatus::Resolved
        };
        let resolved_at = (status == AlertStatus::Resolved).then(|| to_millis(now));
        self.execute_with(
            "UPDATE alert_groups SET status = $2, resolved_at = $3 WHERE id = $1",
            &[group_id.into(), status.as_str().into(), resolved_at.into()],
        )
        .await?;
        Ok(status)
    }

    /// Locks groups' rows until the transaction ends, in id order, and
    /// answers their status and whether maintenance holds them. For
    /// PostgreSQL: SQLite's write transactions hold the whole database
    /// already (and the native connection does not take this).
    pub async fn lock_groups(&mut self, ids: &[i64]) -> Result<Vec<(i64, AlertStatus, bool)>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut found = Vec::with_capacity(ids.len());
        let lock = self.row_lock();
        for chunk in ids.chunks(MAX_ROWS) {
            let rows: Vec<(i64, String, i64)> = with_tx!(self, conn => {
                let mut query = sqlx::QueryBuilder::new(
                    "SELECT id, status, in_maintenance FROM alert_groups WHERE id IN (",
                );
                let mut list = query.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                query.push(") ORDER BY id");
                query.push(lock);
                query.build_query_as().persistent(super::cache_statement(chunk.len())).fetch_all(conn).await?
            });
            found.extend(rows.into_iter().map(|(id, status, in_maintenance)| {
                (
                    id,
                    AlertStatus::parse(&status).unwrap_or(AlertStatus::Triggered),
                    in_maintenance != 0,
                )
            }));
        }
        Ok(found)
    }

    pub async fn alert_group(&mut self, id: i64) -> Result<AlertGroup> {
        self.read_alert_group(id, "").await
    }

    /// The group, locked until this transaction ends: an acknowledgement
    /// (which updates the group) waits for the step that read it, or the
    /// step reads the acknowledgement. SQLite's writers take turns anyway.
    pub async fn alert_group_for_update(&mut self, id: i64) -> Result<AlertGroup> {
        let lock = match self.inner {
            TxInner::Postgres(_) => " FOR UPDATE",
            TxInner::Sqlite(_) | TxInner::Native(_) => "",
        };
        self.read_alert_group(id, lock).await
    }

    async fn read_alert_group(&mut self, id: i64, lock: &str) -> Result<AlertGroup> {
        type Row = (i64, String, Option<String>, String, i64, i64, i64, i64);
        let sql = format!(
            "SELECT id, service, group_key, status, opened_at, last_alert_at, alert_count, in_maintenance FROM alert_groups WHERE id = $1{lock}"
        );
        let rows: Vec<Row> = self
            .fetch_all_with(&sql, &[id.into()], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                ))
            })
            .await?;
        let Some((
            id,
            service,
            group_key,
            status,
            opened_at,
            last_alert_at,
            alert_count,
            in_maintenance,
        )) = rows.into_iter().next()
        else {
            return Err(super::StoreError::NotFound);
        };
        Ok(AlertGroup {
            id,
            service,
            group_key,
            status: AlertStatus::parse(&status).unwrap_or(AlertStatus::Triggered),
            opened_at: from_millis(opened_at),
            last_alert_at: from_millis(last_alert_at),
            alert_count,
            in_maintenance: in_maintenance != 0,
        })
    }

    pub async fn insert_maintenance_window(
        &mut self,
        now: Timestamp,
        service: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
        reason: &str,
        created_by: &str,
    ) -> Result<MaintenanceWindow> {
        let id: i64 = with_tx!(self, conn => {
            sqlx::query_scalar(
                "INSERT INTO maintenance_windows (service, starts_at, ends_at, reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(service)
            .bind(to_millis(starts_at))
            .bind(to_millis(ends_at))
            .bind(reason)
            .bind(created_by)
            .bind(to_millis(now))
            .fetch_one(conn)
            .await?
        });
        Ok(MaintenanceWindow {
            id: Some(id),
            service: service.into(),
            starts_at,
            ends_at,
            reason: reason.into(),
            created_by: created_by.into(),
            origin: "api".into(),
            cancelled_at: None,
        })
    }

    /// What ingestion reads of the services of a batch before planning it,
    /// in one round trip: their run-time maintenance windows that have not
    /// ended by `now` (cancelled ones included), and which of them had an
    /// incident open, or resolved at or after `resolved_since`.
    pub async fn services_for_ingest(
        &mut self,
        services: &[&str],
        now: Timestamp,
        resolved_since: Timestamp,
    ) -> Result<ServicesForIngest> {
        let list: Vec<String> = (0..services.len()).map(|n| format!("${}", n + 3)).collect();
        let list = list.join(", ");
        let sql = format!(
            "SELECT 'window', id, service, starts_at, ends_at, reason, created_by, cancelled_at
               FROM maintenance_windows WHERE service IN ({list}) AND ends_at > $1
             UNION ALL
             SELECT DISTINCT 'incident', CAST(NULL AS BIGINT), s.service, CAST(NULL AS BIGINT),
                    CAST(NULL AS BIGINT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS BIGINT)
               FROM incidents i JOIN incident_services s ON s.incident_id = i.id
              WHERE s.service IN ({list}) AND i.merged_into IS NULL
                AND (i.status <> 'resolved' OR i.resolved_at >= $2)"
        );
        let mut values: Vec<Value<'_>> =
            vec![to_millis(now).into(), to_millis(resolved_since).into()];
        values.extend(services.iter().map(|service| Value::from(*service)));
        type StateRow = (
            String,
            Option<i64>,
            String,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let rows: Vec<StateRow> = if services.is_empty() {
            Vec::new()
        } else {
            self.fetch_all_with(&sql, &values, |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                ))
            })
            .await?
        };
        let mut found = ServicesForIngest::default();
        for (kind, id, service, starts_at, ends_at, reason, created_by, cancelled_at) in rows {
            if kind == "incident" {
                found.with_recent_incidents.insert(service);
                continue;
            }
            found.maintenance.push(MaintenanceWindow {
                id,
                service,
                starts_at: from_millis(starts_at.unwrap_or_default()),
                ends_at: from_millis(ends_at.unwrap_or_default()),
                reason: reason.unwrap_or_default(),
                created_by: created_by.unwrap_or_default(),
                origin: "api".into(),
                cancelled_at: cancelled_at.map(from_millis),
            });
        }
        Ok(found)
    }

    /// Windows created at run time that have not ended by `ending_after`,
    /// for one service or all; cancelled ones included.
    pub async fn maintenance_windows(
        &mut self,
        service: Option<&str>,
        ending_after: Timestamp,
    ) -> Result<Vec<MaintenanceWindow>> {
        let rows: Vec<MaintenanceRow> = self
            .fetch_all_with(
                "SELECT id, service, starts_at, ends_at, reason, created_by, cancelled_at FROM maintenance_windows
                 WHERE ($1 IS NULL OR service = $1) AND ends_at > $2 ORDER BY starts_at, id",
                &[service.into(), to_millis(ending_after).into()],
                |row| {
                    Ok(MaintenanceRow {
                        id: row.get(0)?,
                        service: row.get(1)?,
                        starts_at: row.get(2)?,
                        ends_at: row.get(3)?,
                        reason: row.get(4)?,
                        created_by: row.get(5)?,
                        cancelled_at: row.get(6)?,
                    })
                },
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| MaintenanceWindow {
                id: Some(row.id),
                service: row.service,
                starts_at: from_millis(row.starts_at),
                ends_at: from_millis(row.ends_at),
                reason: row.reason,
                created_by: row.created_by,
                origin: "api".into(),
                cancelled_at: row.cancelled_at.map(from_millis),
            })
            .collect())
    }

    /// Ends a window that has not ended (at `now`); its service, or `None`
    /// when there is none with this id, it was already cancelled, or its
    /// time is over.
    pub async fn cancel_maintenance_window(
        &mut self,
        id: i64,
        now: Timestamp,
    ) -> Result<Option<String>> {
        let service: Option<String> = with_tx!(self, conn => {
            sqlx::query_scalar("UPDATE maintenance_windows SET cancelled_at = $2 WHERE id = $1 AND cancelled_at IS NULL AND ends_at > $2 RETURNING service")
                .bind(id)
                .bind(to_millis(now))
                .fetch_optional(conn)
                .await?
        });
        Ok(service)
    }

    /// The triggered groups of `service` that opened (or woke) during its
    /// maintenance and have paged nobody since.
    pub async fn groups_held_by_maintenance(&mut self, service: &str) -> Result<Vec<i64>> {
        let ids: Vec<i64> = with_tx!(self, conn => {
            sqlx::query_scalar(
                "SELECT id FROM alert_groups WHERE service = $1 AND status = 'triggered' AND in_maintenance = 1 ORDER BY id",
            )
            .bind(service)
            .fetch_all(conn)
            .await?
        });
        Ok(ids)
    }

    /// Lets a group page again: its maintenance is over.
    pub async fn release_group_from_maintenance(&mut self, group_id: i64) -> Result<()> {
        self.execute_with(
            "UPDATE alert_groups SET in_maintenance = 0 WHERE id = $1",
            &[group_id.into()],
        )
        .await?;
        Ok(())
    }

    pub async fn insert_change_event(
        &mut self,
        now: Timestamp,
        change: &ChangeEvent,
    ) -> Result<i64> {
        let id: i64 = with_tx!(self, conn => {
            sqlx::query_scalar(
                "INSERT INTO change_events (service, integration, summary, source, occurred_at, received_at, details, links)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(&change.service)
            .bind(&change.integration)
            .bind(&change.summary)
            .bind(change.source.as_deref())
            .bind(to_millis(change.occurred_at))
            .bind(to_millis(now))
            .bind(change.details.to_string())
            .bind(serde_json::to_string(&change.links).unwrap_or_default())
            .fetch_one(conn)
            .await?
        });
        Ok(id)
    }

    pub async fn list_change_events(
        &mut self,
        service: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ChangeEvent>> {
        let rows: Vec<ChangeRow> = with_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, service, integration, summary, source, occurred_at, details, links FROM change_events
                 WHERE ($1 IS NULL OR service = $1) ORDER BY occurred_at DESC, id DESC LIMIT $2",
            )
            .bind(service)
            .bind(i64::from(limit))
            .fetch_all(conn)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|row| ChangeEvent {
                id: row.id,
                service: row.service,
                integration: row.integration,
                summary: row.summary,
                source: row.source,
                occurred_at: from_millis(row.occurred_at),
                details: serde_json::from_str(&row.details).unwrap_or_default(),
                links: serde_json::from_str(&row.links).unwrap_or_default(),
            })
            .collect())
    }
}

impl<'a> WriteSet<'a> {
    pub fn inbound_messages(&mut self, messages: &'a [InboundMessage<'_>]) {
        self.insert(
            "inbound_messages",
            "id, received_at, service, integration, format, body",
            messages,
            "",
            |row, m| {
                row.column(m.id)
                    .column(to_millis(m.received_at))
                    .column(m.service)
                    .column(m.integration)
                    .column(m.format)
                    .column(m.body);
            },
        );
    }

    pub fn inbound_events(&mut self, events: &'a [InboundEvent<'_>]) {
        self.insert(
            "inbound_events",
            "message_id, alert_id, received_at, action, dedup_key, outcome",
            events,
            "",
            |row, e| {
                row.column(e.message_id)
                    .column(e.alert_id)
                    .column(to_millis(e.received_at))
                    .column(e.action)
                    .column(e.dedup_key)
                    .column(e.outcome);
            },
        );
    }

    /// Writes alerts: new ones (with ids from [`Tx::reserve_ids`]) are
    /// inserted, stored ones get their mutable fields written back. Rows
    /// are written in order, so an alert resolved here may be followed by
    /// the new alert of its key.
    /// Alerts as they stand, new ones inserted and stored ones written
    /// back whole.
    pub fn alerts(&mut self, alerts: &'a [Alert]) {
        self.insert(
            "alerts",
            ALERT_COLUMNS,
            alerts,
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status, severity = excluded.severity,
               urgency = excluded.urgency, summary = excluded.summary, source = excluded.source,
               component = excluded.component, alert_group = excluded.alert_group,
               alert_class = excluded.alert_class, labels = excluded.labels, details = excluded.details,
               links = excluded.links, last_seen_at = excluded.last_seen_at,
               event_count = excluded.event_count, acknowledged_at = excluded.acknowledged_at,
               acknowledged_by = excluded.acknowledged_by, resolved_at = excluded.resolved_at,
               resolved_by = excluded.resolved_by",
            bind_alert,
        );
    }

    /// Stored alerts whose status is as stored, refreshed by repeated
    /// triggers: only what [`Alert::refresh`] changes is written. SQLite
    /// rewrites an index's entries whenever an update sets one of its
    /// columns, equal or not; leaving `status` out spares the two indexes
    /// on it a page each per alert, the most of a batch of repeats.
    pub fn refreshed_alerts(&mut self, alerts: &'a [Alert]) {
        // Built once: every ingestion batch with repeats sends it.
        static REFRESH: LazyLock<String> = LazyLock::new(|| {
            let set: Vec<String> = Alert::REFRESHED
                .iter()
                .enumerate()
                .map(|(n, column)| format!("{column} = {{{}}}", n + 2))
                .collect();
            set.join(", ")
        });
        // Disjoint from the batch's other alerts, and no key or status
        // changes: no order to keep with them.
        self.update_by_id(
            "alerts",
            None,
            REFRESH.as_str(),
            1 + Alert::REFRESHED.len(),
            alerts,
            |row, alert| {
                row.column(alert.id);
                for column in Alert::REFRESHED {
                    row.column(refreshed_value(alert, column).unwrap_or(Value::Text(None)));
                }
            },
        );
    }

    pub fn new_groups(&mut self, groups: &'a [NewAlertGroup]) {
        self.insert(
            "alert_groups",
            "id, service, group_key, status, opened_at, last_alert_at, alert_count, in_maintenance",
            groups,
            "",
            |row, g| {
                row.column(g.id)
                    .column(g.service.as_str())
                    .column(g.group_key.as_deref())
                    .column("triggered")
                    .column(to_millis(g.opened_at))
                    .column(to_millis(g.opened_at))
                    .column(g.alert_count)
                    .column(i64::from(g.in_maintenance));
            },
        );
    }

    /// Counts new members into stored groups (by id), triggers those that
    /// had been acknowledged or resolved, and holds them in maintenance or
    /// lets them out as the batch planned.
    pub fn add_to_groups(&mut self, joined: &'a [(i64, JoinedGroup)], now: Timestamp) {
        self.update_by_id(
            "alert_groups",
            Some("alert_groups"),
            "alert_count = alert_count + {2}, last_alert_at = {3}, status = 'triggered', resolved_at = NULL, in_maintenance = {4}",
            4,
            joined,
            move |row, (id, group)| {
                row.column(*id)
                    .column(group.members)
                    .column(to_millis(now))
                    .column(i64::from(group.in_maintenance));
            },
        );
    }
}

/// The value of one of [`Alert::REFRESHED`]'s columns; `None` for any
/// other column (a unit test checks there is none).
fn refreshed_value<'a>(alert: &'a Alert, column: &str) -> Option<Value<'a>> {
    Some(match column {
        "severity" => alert.severity.as_str().into(),
        "urgency" => alert.urgency.as_str().into(),
        "summary" => alert.summary.as_str().into(),
        "labels" => serde_json::to_string(&alert.labels)
            .unwrap_or_default()
            .into(),
        "details" => alert.details.to_string().into(),
        "links" => serde_json::to_string(&alert.links)
            .unwrap_or_default()
            .into(),
        "last_seen_at" => to_millis(alert.last_seen_at).into(),
        "event_count" => alert.event_count.into(),
        _ => return None,
    })
}

/// The values of [`ALERT_COLUMNS`] for one alert.
fn bind_alert<'a>(row: &mut RowValues<'_, 'a>, alert: &'a Alert) {
    row.column(alert.id)
        .column(alert.service.as_str())
        .column(alert.integration.as_deref())
        .column(alert.dedup_key.as_str())
        .column(alert.status.as_str())
        .column(alert.severity.as_str())
        .column(alert.urgency.as_str())
        .column(alert.summary.as_str())
        .column(alert.source.as_deref())
        .column(alert.component.as_deref())
        .column(alert.group.as_deref())
        .column(alert.class.as_deref())
        .column(serde_json::to_string(&alert.labels).unwrap_or_default())
        .column(alert.details.to_string())
        .column(serde_json::to_string(&alert.links).unwrap_or_default())
        .column(alert.group_id)
        .column(i64::from(alert.in_maintenance))
        .column(to_millis(alert.first_seen_at))
        .column(to_millis(alert.last_seen_at))
        .column(alert.event_count)
        .column(alert.acknowledged_at.map(to_millis))
        .column(alert.acknowledged_by.as_deref())
        .column(alert.resolved_at.map(to_millis))
        .column(alert.resolved_by.as_deref());
}

#[cfg(test)]
mod tests {
    use super::refreshed_value;
    use crate::domain::alert::Alert;

    #[test]
    fn every_refreshed_column_has_its_value() {
        let alert: Alert = serde_json::from_value(serde_json::json!({
            "id": 1, "service": "s", "integration": null, "dedup_key": "k",
            "status": "triggered", "severity": "error", "urgency": "high", "summary": "x",
            "source": null, "component": null, "group": null, "class": null,
            "labels": {}, "details": {}, "links": [], "group_id": 1, "in_maintenance": false,
            "first_seen_at": "2026-01-01T00:00:00Z", "last_seen_at": "2026-01-01T00:00:00Z",
            "event_count": 1, "acknowledged_at": null, "acknowledged_by": null,
            "resolved_at": null, "resolved_by": null
        }))
        .unwrap();
        for column in Alert::REFRESHED {
            assert!(refreshed_value(&alert, column).is_some(), "{column}");
        }
        assert!(refreshed_value(&alert, "status").is_none());
    }
}
