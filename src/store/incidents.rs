//! Incidents: one JSON document per incident under its row's lock, with the
//! columns lists need and reverse indexes of linked alerts and services.

use std::collections::BTreeMap;

use anyhow::Context;
use jiff::Timestamp;

use super::events::{EVENT_COLUMNS, EventRow};
use super::{Result, StoreError, Tx, from_millis, to_millis, with_tx};
use crate::domain::event::Event;
use crate::domain::incident::{Incident, IncidentStatus};

/// Which incidents to list.
#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    /// Only these statuses; all when empty.
    pub statuses: Vec<IncidentStatus>,
    pub severity: Option<String>,
    /// Only incidents naming this service as impacted.
    pub service: Option<String>,
    /// Older than this id (the cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

fn parse_state(id: i64, version: i64, state: &str) -> Result<Incident> {
    let mut incident: Incident = serde_json::from_str(state)
        .with_context(|| format!("incident {id} is stored in a form this version cannot read"))?;
    incident.id = id;
    incident.version = version;
    Ok(incident)
}

impl Tx {
    /// Stores a new incident; returns it with its id.
    pub async fn insert_incident(
        &mut self,
        incident: &Incident,
        now: Timestamp,
    ) -> Result<Incident> {
        let state = serde_json::to_string(incident).context("serialising the incident")?;
        let id: i64 = with_tx!(self, conn => {
            sqlx::query_scalar(
                "INSERT INTO incidents (title, severity, status, declared_at, resolved_at, next_update_due_at, merged_into, version, state, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9)
                 RETURNING id",
            )
            .bind(&incident.title)
            .bind(&incident.severity)
            .bind(incident.status.as_str())
            .bind(to_millis(incident.milestones.declared_at.unwrap_or(now)))
            .bind(incident.milestones.resolved_at.map(to_millis))
            .bind(incident.next_update_due_at.map(to_millis))
            .bind(incident.merged_into)
            .bind(&state)
            .bind(to_millis(now))
            .fetch_one(conn)
            .await?
        });
        let stored = Incident {
            id,
            version: 1,
            ..incident.clone()
        };
        self.index_incident(&stored).await?;
        Ok(stored)
    }

    /// An incident, locked until the transaction ends, for changing it.
    pub async fn incident_for_update(&mut self, id: i64) -> Result<Incident> {
        let sql = format!(
            "SELECT id, version, state FROM incidents WHERE id = $1{}",
            self.row_lock()
        );
        let (id, version, state): (i64, i64, String) = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(conn).await?
        });
        parse_state(id, version, &state)
    }

    pub async fn incident(&mut self, id: i64) -> Result<Incident> {
        let (id, version, state): (i64, i64, String) = with_tx!(self, conn => {
            sqlx::query_as("SELECT id, version, state FROM incidents WHERE id = $1")
                .bind(id)
                .fetch_one(conn)
                .await?
        });
        parse_state(id, version, &state)
    }

    /// Saves a changed incident loaded with [`Tx::incident_for_update`];
    /// returns it with its new version.
    pub async fn save_incident(&mut self, incident: &Incident, now: Timestamp) -> Result<Incident> {
        let version = incident.version + 1;
        let saved = Incident {
            version,
            ..incident.clone()
        };
        let state = serde_json::to_string(&saved).context("serialising the incident")?;
        let affected = with_tx!(self, conn => {
            sqlx::query(
                "UPDATE incidents
                 SET title = $2, severity = $3, status = $4, resolved_at = $5, next_update_due_at = $6,
                     merged_into = $7, version = $8, state = $9, updated_at = $10
                 WHERE id = $1 AND version = $11",
            )
            .bind(incident.id)
            .bind(&incident.title)
            .bind(&incident.severity)
            .bind(incident.status.as_str())
            .bind(incident.milestones.resolved_at.map(to_millis))
            .bind(incident.next_update_due_at.map(to_millis))
            .bind(incident.merged_into)
            .bind(version)
            .bind(&state)
            .bind(to_millis(now))
            .bind(incident.version)
            .execute(conn)
            .await?
            .rows_affected()
        });
        if affected != 1 {
            // The row lock makes this unreachable unless a caller saved an
            // incident it did not load for update.
            return Err(StoreError::Conflict(format!(
                "incident {} changed meanwhile",
                incident.id
            )));
        }
        self.index_incident(&saved).await?;
        Ok(saved)
    }

    /// Brings the reverse indexes (alerts and services to incidents) in
    /// line with `incident`, writing only what changed: an incident that
    /// takes an alert at a time in a storm must not rewrite them all.
    async fn index_incident(&mut self, incident: &Incident) -> Result<()> {
        let stored_alerts = self
            .fetch_integers(
                "SELECT alert_id FROM incident_alerts WHERE incident_id = $1",
                &[incident.id.into()],
            )
            .await?;
        let stored_services: Vec<String> = with_tx!(self, conn => {
            sqlx::query_scalar("SELECT service FROM incident_services WHERE incident_id = $1")
                .bind(incident.id)
                .fetch_all(&mut *conn)
                .await?
        });
        use std::collections::HashSet;
        let (alerts, services): (HashSet<&i64>, HashSet<&String>) = (
            incident.alerts.iter().collect(),
            incident.services.iter().collect(),
        );
        let (stored_alerts, stored_services): (HashSet<i64>, HashSet<String>) = (
            stored_alerts.into_iter().collect(),
            stored_services.into_iter().collect(),
        );
        with_tx!(self, conn => {
            for alert in stored_alerts.iter().filter(|a| !alerts.contains(a)) {
                sqlx::query("DELETE FROM incident_alerts WHERE incident_id = $1 AND alert_id = $2")
                    .bind(incident.id)
                    .bind(alert)
                    .execute(&mut *conn)
                    .await?;
            }
            for alert in incident.alerts.iter().filter(|a| !stored_alerts.contains(a)) {
                sqlx::query("INSERT INTO incident_alerts (incident_id, alert_id) VALUES ($1, $2)")
                    .bind(incident.id)
                    .bind(alert)
                    .execute(&mut *conn)
                    .await?;
            }
            for service in stored_services.iter().filter(|s| !services.contains(s)) {
                sqlx::query("DELETE FROM incident_services WHERE incident_id = $1 AND service = $2")
                    .bind(incident.id)
                    .bind(service)
                    .execute(&mut *conn)
                    .await?;
            }
            for service in incident.services.iter().filter(|s| !stored_services.contains(s.as_str())) {
                sqlx::query("INSERT INTO incident_services (incident_id, service) VALUES ($1, $2)")
                    .bind(incident.id)
                    .bind(service)
                    .execute(&mut *conn)
                    .await?;
            }
        });
        Ok(())
    }

    /// Incidents, newest first; at most `limit + 1` so the caller can tell
    /// there are more.
    pub async fn list_incidents(&mut self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let all = statuses.is_empty();
        // One slot per status there is, so the SQL text stays the same.
        let pad = |i: usize| statuses.get(i).copied().unwrap_or("");
        let rows: Vec<(i64, i64, String)> = with_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, version, state FROM incidents
                 WHERE ($1 OR status IN ($2, $3, $4, $5, $6))
                   AND ($7 IS NULL OR severity = $7)
                   AND ($8 IS NULL OR id IN (SELECT incident_id FROM incident_services WHERE service = $8))
                   AND ($9 IS NULL OR id < $9)
                 ORDER BY id DESC
                 LIMIT $10",
            )
            .bind(all)
            .bind(pad(0))
            .bind(pad(1))
            .bind(pad(2))
            .bind(pad(3))
            .bind(pad(4))
            .bind(filter.severity.as_deref())
            .bind(filter.service.as_deref())
            .bind(filter.before_id)
            .bind(i64::from(filter.limit) + 1)
            .fetch_all(conn)
            .await?
        });
        rows.iter()
            .map(|(id, version, state)| parse_state(*id, *version, state))
            .collect()
    }

    /// Ids of incidents linking this alert, that are not merged away.
    pub async fn incidents_of_alert(&mut self, alert_id: i64) -> Result<Vec<i64>> {
        let ids: Vec<i64> = with_tx!(self, conn => {
            sqlx::query_scalar(
                "SELECT l.incident_id FROM incident_alerts l JOIN incidents i ON i.id = l.incident_id
                 WHERE l.alert_id = $1 AND i.merged_into IS NULL ORDER BY l.incident_id",
            )
            .bind(alert_id)
            .fetch_all(conn)
            .await?
        });
        Ok(ids)
    }

    /// Ids of incidents naming `service` as impacted that are open, or
    /// were resolved at or after `resolved_since`: the resolved ones first,
    /// so the last is the newest open one if there is one.
    pub async fn recent_incidents_of_service(
        &mut self,
        service: &str,
        resolved_since: Timestamp,
    ) -> Result<Vec<i64>> {
        self.fetch_integers(
            "SELECT i.id FROM incidents i JOIN incident_services s ON s.incident_id = i.id
             WHERE s.service = $1 AND i.merged_into IS NULL
               AND (i.status <> 'resolved' OR i.resolved_at >= $2)
             ORDER BY CASE WHEN i.status = 'resolved' THEN 0 ELSE 1 END, i.id",
            &[service.into(), to_millis(resolved_since).into()],
        )
        .await
    }

    /// Per service: how many alerts are open, and when any alert last
    /// changed (seen, or resolved) — the evidence for recovery.
    pub async fn alert_activity(
        &mut self,
        services: &[String],
    ) -> Result<(BTreeMap<String, i64>, BTreeMap<String, Timestamp>)> {
        let mut open = BTreeMap::new();
        let mut last = BTreeMap::new();
        for service in services {
            let (count, latest): (i64, Option<i64>) = with_tx!(self, conn => {
                sqlx::query_as(
                    "SELECT COALESCE(SUM(CASE WHEN status <> 'resolved' THEN 1 ELSE 0 END), 0),
                            MAX(CASE WHEN resolved_at IS NOT NULL AND resolved_at > last_seen_at THEN resolved_at ELSE last_seen_at END)
                     FROM alerts WHERE service = $1",
                )
                .bind(service)
                .fetch_one(conn)
                .await?
            });
            open.insert(service.clone(), count);
            if let Some(latest) = latest {
                last.insert(service.clone(), from_millis(latest));
            }
        }
        Ok((open, last))
    }

    /// The incident's own events, those of `alerts`, and those of any alert
    /// on `services` seen since `since` (the health of the impacted
    /// services), oldest first, after event `after_id`.
    pub async fn incident_events(
        &mut self,
        incident_id: i64,
        alerts: &[i64],
        services: &[String],
        since: Timestamp,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<Event>> {
        // Ids and service names come from the incident itself, but service
        // names are text: they are bound, ids inlined.
        let alert_list = if alerts.is_empty() {
            "''".to_string()
        } else {
            alerts
                .iter()
                .map(|id| format!("'{id}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let service_params = (0..services.len().max(1))
            .map(|i| format!("${}", i + 5))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE id > $1 AND ((subject_kind = 'incident' AND subject_id = $2)
                OR (subject_kind = 'alert' AND subject_id IN ({alert_list}))
                OR (subject_kind = 'alert' AND at >= $4 AND subject_id IN (
                    SELECT CAST(id AS TEXT) FROM alerts WHERE last_seen_at >= $4 AND service IN ({service_params}))))
             ORDER BY id LIMIT $3"
        );
        let rows: Vec<EventRow> = with_tx!(self, conn => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(after_id)
                .bind(incident_id.to_string())
                .bind(i64::from(limit))
                .bind(to_millis(since));
            if services.is_empty() {
                query = query.bind("");
            }
            for service in services {
                query = query.bind(service);
            }
            query.fetch_all(conn).await?
        });
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }
}
