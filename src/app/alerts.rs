//! Alert ingestion and the work on alerts: events from every source become
//! signals, signals become alerts (deduplicated, mapped, grouped, held back
//! in maintenance), and people acknowledge and resolve them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::mpsc;

use super::audit::page_limit;
use super::{App, Caller, Error, Result};
use crate::domain::alert::{
    self, Action, Alert, AlertStatus, MaintenanceWindow, Outcome, Severity, Signal,
};
use crate::domain::auth::Role;
use crate::domain::event::{Actor, NewEvent, Subject};
use crate::domain::org::{Integration, IntegrationKind, RateLimit, Service};
use crate::domain::page::{Page, decode_cursor, page_from};
use crate::store::{AlertEvent, AlertFilter, AlertGroup, ChangeEvent, StoreError};

/// A group takes new alerts this long after its last one, unless the
/// service sets its own window.
pub const DEFAULT_GROUP_WINDOW: SignedDuration = SignedDuration::from_mins(5);
/// How many times an ingest transaction is retried when a concurrent one
/// opened the same alert first (PostgreSQL only; SQLite serialises writers).
const INGEST_ATTEMPTS: usize = 3;

/// The integration a request's key picked, with its service.
#[derive(Clone, Debug)]
pub struct Target {
    pub service: Service,
    pub integration: Integration,
}

/// Messages waiting for the ingestion writer; when full, requests wait.
const INGEST_QUEUE: usize = 8192;
/// The most messages one transaction takes.
const MAX_BATCH: usize = 512;

/// A received message on its way to the ingestion writer.
pub struct Message {
    target: Target,
    format: String,
    body: String,
    signals: Vec<Signal>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Ingested>>>,
}

/// The ingestion writer: takes everything queued, commits it as one batch,
/// and answers each message only after the commit.
async fn write_messages(app: App, queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Message>>>) {
    loop {
        // Take a batch, then let go of the queue while committing, so
        // another writer (PostgreSQL) can take the next batch meanwhile.
        let batch = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(message) => batch.push(message),
                    Err(_) => break,
                }
            }
            batch
        };
        app.commit_batch(batch).await;
    }
}

/// How many batches are written at once. SQLite has one writer, so more
/// would only queue on its lock; PostgreSQL commits in parallel, and each
/// batch waits on network round trips, so a few writers keep it busy.
fn writer_count(backend: crate::store::Backend) -> usize {
    match backend {
        crate::store::Backend::Sqlite => 1,
        crate::store::Backend::Postgres => 4,
    }
}

/// What became of one signal.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Ingested {
    pub dedup_key: String,
    /// `opened`, `repeated`, `acknowledged`, `resolved`, `ignored` or `dropped`.
    pub outcome: &'static str,
    pub alert_id: Option<i64>,
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Open => "opened",
        Outcome::Repeat => "repeated",
        Outcome::Acknowledge => "acknowledged",
        Outcome::Resolve => "resolved",
        Outcome::Ignore => "ignored",
    }
}

/// Token buckets per integration key, so one runaway source cannot flood
/// the store. Kept per process.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes `count` tokens for `key`, or says how long until there are enough.
    pub fn take(&self, key: &str, count: usize, limit: RateLimit) -> Result<(), SignedDuration> {
        let capacity = f64::from(limit.events);
        let per_second = capacity / limit.per.as_secs_f64().max(0.001);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_second).min(capacity);
        *last = now;
        let wanted = count as f64;
        if *tokens >= wanted {
            *tokens -= wanted;
            Ok(())
        } else {
            let missing = wanted.min(capacity) - *tokens;
            Err(SignedDuration::from_secs_f64(
                (missing / per_second).max(1.0),
            ))
        }
    }
}

/// Which alerts to list.
#[derive(Clone, Debug, Default)]
pub struct AlertQuery {
    pub service: Option<String>,
    pub status: Option<AlertStatus>,
    pub severity: Option<Severity>,
    pub since: Option<Timestamp>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// An alert with everything its page shows.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AlertDetail {
    pub alert: Alert,
    pub group: AlertGroup,
    /// The other alerts of its group, newest first (at most 50).
    pub group_members: Vec<Alert>,
    /// The received events, oldest first (at most 200).
    pub events: Vec<AlertEvent>,
    /// What escalation did for its group: who was paged, deliveries,
    /// "nobody acknowledged"; oldest first (at most 200).
    pub escalation: Vec<crate::domain::event::Event>,
}

/// An integration as admins see it: where to send, with which key.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IntegrationView {
    pub service: String,
    pub name: String,
    pub kind: IntegrationKind,
    pub key: String,
    /// The path the source posts to.
    pub endpoint: String,
}

impl App {
    /// The integration holding `key`, refusing keys of another kind.
    pub async fn integration_for_key(&self, key: &str, kind: IntegrationKind) -> Result<Target> {
        let org = self.org_snapshot().await?;
        let Some((service, integration)) = org.integration_by_key(key) else {
            return Err(Error::Unauthenticated);
        };
        if integration.kind != kind {
            return Err(Error::Invalid {
                code: "wrong_integration_kind",
                message: format!(
                    "this key belongs to a {} integration; send its events to that endpoint",
                    integration.kind.as_str()
                ),
                field: None,
            });
        }
        Ok(Target {
            service: service.clone(),
            integration: integration.clone(),
        })
    }

    /// Records one received message and applies its signals, in one
    /// transaction: when this returns Ok, all of it is committed.
    pub async fn ingest(
        &self,
        target: &Target,
        format: &str,
        body: &str,
        signals: &[Signal],
    ) -> Result<Vec<Ingested>> {
        let key = target.integration.key.as_deref().unwrap_or_default();
        self.rate_limiter
            .take(key, signals.len().max(1), target.integration.rate_limit)
            .map_err(Error::RateLimited)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let message = Message {
            target: target.clone(),
            format: format.to_string(),
            body: body.to_string(),
            signals: signals.to_vec(),
            reply,
        };
        self.ingest_queue()
            .send(message)
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("the ingestion writer has stopped")))?;
        answer.await.map_err(|_| {
            Error::Internal(anyhow::anyhow!("the ingestion writer dropped a message"))
        })?
    }

    /// The queue of the process's ingestion writer, started on first use.
    fn ingest_queue(&self) -> &mpsc::Sender<Message> {
        self.ingest_queue.get_or_init(|| {
            let (send, receive) = mpsc::channel(INGEST_QUEUE);
            let receive = Arc::new(tokio::sync::Mutex::new(receive));
            for _ in 0..writer_count(self.store.backend()) {
                tokio::spawn(write_messages(self.clone(), receive.clone()));
            }
            send
        })
    }

    /// Applies a batch of messages in one transaction: one commit, one
    /// fsync, for everything that arrived while the previous batch was
    /// being written. Each message runs under a savepoint, so one that
    /// fails (a concurrent replica opened the same alert first) is retried
    /// or refused alone, without undoing the others.
    async fn commit_batch(&self, batch: Vec<Message>) {
        let started = std::time::Instant::now();
        let outcome = async {
            let mut tx = self.store.write().await?;
            let mut results = Vec::with_capacity(batch.len());
            let mut maintenance = HashMap::new();
            for message in &batch {
                let mut attempt = 0;
                let result = loop {
                    attempt += 1;
                    tx.savepoint("ingest").await?;
                    let now = self.clock.now();
                    match self
                        .apply_message(&mut tx, message, now, &mut maintenance)
                        .await
                    {
                        Ok(ingested) => {
                            tx.release_savepoint("ingest").await?;
                            break Ok(ingested);
                        }
                        Err(error) => {
                            tx.rollback_to_savepoint("ingest").await?;
                            if matches!(error, Error::Conflict(_)) && attempt < INGEST_ATTEMPTS {
                                continue;
                            }
                            break Err(error);
                        }
                    }
                };
                results.push(result);
            }
            tx.commit().await?;
            Ok::<_, Error>(results)
        }
        .await;
        metrics::histogram!("siaga_ingest_batch_messages").record(batch.len() as f64);
        metrics::histogram!("siaga_ingest_batch_seconds").record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(results) => {
                for (message, result) in batch.into_iter().zip(results) {
                    if result.is_ok() {
                        metrics::counter!("siaga_ingested_events_total", "kind" => message.target.integration.kind.as_str())
                            .increment(message.signals.len() as u64);
                    }
                    let _ = message.reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(
                    "an ingestion batch of {} messages failed: {error:#}",
                    batch.len()
                );
                for message in batch {
                    let _ = message.reply.send(Err(Error::Internal(anyhow::anyhow!(
                        "storing the event failed: {error}"
                    ))));
                }
            }
        }
    }

    /// Records one received message and applies its signals within `tx`.
    /// `maintenance` remembers, for the batch, which services are in a
    /// maintenance window, so each is looked up once per batch.
    async fn apply_message(
        &self,
        tx: &mut crate::store::Tx,
        message: &Message,
        now: Timestamp,
        maintenance: &mut HashMap<String, bool>,
    ) -> Result<Vec<Ingested>> {
        let (target, format, body, signals) = (
            &message.target,
            message.format.as_str(),
            message.body.as_str(),
            &message.signals,
        );
        let service = &target.service;
        let integration = &target.integration;
        let actor = Actor {
            kind: "integration".into(),
            name: format!("{}/{}", service.name, integration.name),
        };
        let in_maintenance = match maintenance.get(&service.name) {
            Some(known) => *known,
            None => {
                let org = self.org_snapshot().await?;
                let covered =
                    org.maintenance.iter().any(|m| {
                        m.service == service.name && m.starts_at <= now && now < m.ends_at
                    }) || tx
                        .maintenance_windows(Some(&service.name), now)
                        .await?
                        .iter()
                        .any(|w| w.covers(now));
                maintenance.insert(service.name.clone(), covered);
                covered
            }
        };
        let message_id = tx
            .insert_inbound_message(now, &service.name, &integration.name, format, body)
            .await?;
        let mut results = Vec::with_capacity(signals.len());
        for signal in signals {
            if integration.mapping.drops(signal) {
                tx.insert_inbound_event(
                    message_id,
                    None,
                    now,
                    signal.action.as_str(),
                    &signal.dedup_key,
                    "dropped",
                )
                .await?;
                results.push(Ingested {
                    dedup_key: signal.dedup_key.clone(),
                    outcome: "dropped",
                    alert_id: None,
                });
                continue;
            }
            let open = tx.open_alert(&service.name, &signal.dedup_key).await?;
            let outcome = alert::outcome(open.as_ref().map(|a| a.status), signal.action);
            let alert_id = match (outcome, open) {
                (Outcome::Open, _) => Some(
                    self.open_alert(tx, &actor, target, signal, now, in_maintenance)
                        .await?,
                ),
                (Outcome::Repeat, Some(mut alert)) => {
                    refresh(&mut alert, signal, integration, now);
                    tx.update_alert(&alert).await?;
                    Some(alert.id)
                }
                (Outcome::Acknowledge | Outcome::Resolve, Some(mut alert)) => {
                    let before = alert.clone();
                    let by = format!("{}/{}", service.name, integration.name);
                    apply_status(&mut alert, outcome, now, &by);
                    alert.last_seen_at = now;
                    alert.event_count += 1;
                    tx.update_alert(&alert).await?;
                    let group_status = tx.refresh_group_status(alert.group_id, now).await?;
                    self.after_group_change(tx, &service.name, alert.group_id, group_status, now)
                        .await?;
                    let action = if outcome == Outcome::Resolve {
                        "alert.resolved"
                    } else {
                        "alert.acknowledged"
                    };
                    tx.append_event(
                        now,
                        NewEvent::new(&actor, action, Subject::new("alert", alert.id))
                            .before(&before)
                            .after(&alert),
                    )
                    .await?;
                    Some(alert.id)
                }
                (_, open) => open.map(|a| a.id),
            };
            tx.insert_inbound_event(
                message_id,
                alert_id,
                now,
                signal.action.as_str(),
                &signal.dedup_key,
                outcome_name(outcome),
            )
            .await?;
            results.push(Ingested {
                dedup_key: signal.dedup_key.clone(),
                outcome: outcome_name(outcome),
                alert_id,
            });
        }
        Ok(results)
    }

    async fn open_alert(
        &self,
        tx: &mut crate::store::Tx,
        actor: &Actor,
        target: &Target,
        signal: &Signal,
        now: Timestamp,
        in_maintenance: bool,
    ) -> Result<i64> {
        let service = &target.service;
        let mapping = &target.integration.mapping;
        let severity = mapping.severity(signal);
        let urgency = mapping.urgency(signal, severity);
        let key = alert::group_key(signal, service.alert_grouping.as_ref());
        let window = service
            .alert_grouping
            .as_ref()
            .map_or(DEFAULT_GROUP_WINDOW, |g| g.window);
        let joined = match &key {
            Some(key) => tx.joinable_group(&service.name, key, now - window).await?,
            None => None,
        };
        let group_id = match joined {
            Some(id) => id,
            None => {
                let id = tx
                    .insert_group(&service.name, key.as_deref(), now, in_maintenance)
                    .await?;
                // A new group is what pages: one page per storm, none
                // during maintenance.
                tx.append_event(
                    now,
                    NewEvent::new(actor, "alert_group.opened", Subject::new("alert_group", id))
                        .after(serde_json::json!({
                            "service": service.name,
                            "group_key": key,
                            "pages": !in_maintenance,
                        })),
                )
                .await?;
                if !in_maintenance && let Some(policy) = &service.escalation_policy {
                    super::escalation::start(tx, actor, id, policy, now).await?;
                }
                id
            }
        };
        tx.add_to_group(group_id, now).await?;
        let alert = Alert {
            id: 0,
            service: service.name.clone(),
            integration: Some(target.integration.name.clone()),
            dedup_key: signal.dedup_key.clone(),
            status: AlertStatus::Triggered,
            severity,
            urgency,
            summary: signal.summary.clone(),
            source: signal.source.clone(),
            component: signal.component.clone(),
            group: signal.group.clone(),
            class: signal.class.clone(),
            labels: signal.labels.clone(),
            details: signal.details.clone(),
            links: signal.links.clone(),
            group_id,
            in_maintenance,
            first_seen_at: signal.occurred_at.filter(|at| *at <= now).unwrap_or(now),
            last_seen_at: now,
            event_count: 1,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
        };
        let alert = tx.insert_alert(&alert).await.map_err(conflict_or_store)?;
        tx.append_event(
            now,
            NewEvent::new(actor, "alert.triggered", Subject::new("alert", alert.id)).after(&alert),
        )
        .await?;
        if !in_maintenance {
            // Declaring by rule and catching regressions are a job, so
            // ingestion stays short; most alerts need neither, and cost
            // only an indexed lookup.
            let org = self.org_snapshot().await?;
            let by_rule = org
                .incidents
                .auto_declare_for(&alert, service.tier)
                .is_some();
            let since = now
                .checked_sub(org.incidents.regression.window)
                .unwrap_or(now);
            if by_rule
                || !tx
                    .recent_incidents_of_service(&service.name, since)
                    .await?
                    .is_empty()
            {
                super::incidents::alert_opened(tx, alert.id, now).await?;
            }
        }
        Ok(alert.id)
    }

    pub async fn alerts(&self, query: AlertQuery) -> Result<Page<Alert>> {
        let limit = page_limit(query.limit)?;
        let before_id = parse_id_cursor(query.cursor.as_deref())?;
        let filter = AlertFilter {
            service: query.service,
            status: query.status,
            severity: query.severity,
            since: query.since,
            group_id: None,
            before_id,
            limit,
        };
        let alerts = self.store.read().await?.list_alerts(&filter).await?;
        Ok(page_from(alerts, limit, |a| a.id.to_string()))
    }

    /// The id of the newest alert with this dedup key (on `service` when
    /// given); the open one if there is one.
    pub async fn alert_by_dedup_key(&self, dedup_key: &str, service: Option<&str>) -> Result<i64> {
        let mut tx = self.store.read().await?;
        let found = tx.alerts_by_dedup_key(dedup_key, service).await?;
        let services: BTreeSet<&str> = found.iter().map(|a| a.service.as_str()).collect();
        if services.len() > 1 {
            return Err(Error::invalid(
                "ambiguous_dedup_key",
                "service",
                format!(
                    "alerts on several services have the dedup key `{dedup_key}` ({}): name the service",
                    services.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        found
            .iter()
            .find(|a| a.status != AlertStatus::Resolved)
            .or(found.first())
            .map(|a| a.id)
            .ok_or_else(|| Error::NotFound(format!("alert with dedup key `{dedup_key}`")))
    }

    pub async fn alert_detail(&self, id: i64) -> Result<AlertDetail> {
        let mut tx = self.store.read().await?;
        let alert = tx
            .alert(id)
            .await
            .map_err(|e| super::auth::not_found(e, format!("alert {id}")))?;
        let group = tx.alert_group(alert.group_id).await?;
        let filter = AlertFilter {
            group_id: Some(alert.group_id),
            status: None,
            limit: 50,
            ..AlertFilter::default()
        };
        let mut members = tx
            .list_alerts(&AlertFilter {
                status: Some(AlertStatus::Resolved),
                ..filter.clone()
            })
            .await?;
        members.extend(tx.list_alerts(&filter).await?);
        members.retain(|m| m.id != alert.id);
        members.sort_by_key(|m| std::cmp::Reverse(m.id));
        members.truncate(50);
        let events = tx.alert_events(id, 200).await?;
        let filter = crate::store::EventFilter {
            subject_kind: Some("alert_group".into()),
            subject_id: Some(group.id.to_string()),
            limit: 200,
            ..Default::default()
        };
        let mut escalation = tx.list_events(&filter).await?;
        escalation.truncate(200);
        escalation.reverse();
        Ok(AlertDetail {
            alert,
            group,
            group_members: members,
            events,
            escalation,
        })
    }

    /// A person acknowledges an alert: it stops paging (once escalation
    /// exists) but stays open. Acknowledging twice changes nothing.
    pub async fn acknowledge_alert(&self, caller: &Caller, id: i64) -> Result<Alert> {
        self.change_alert_status(caller, id, Outcome::Acknowledge)
            .await
    }

    pub async fn resolve_alert(&self, caller: &Caller, id: i64) -> Result<Alert> {
        self.change_alert_status(caller, id, Outcome::Resolve).await
    }

    async fn change_alert_status(
        &self,
        caller: &Caller,
        id: i64,
        wanted: Outcome,
    ) -> Result<Alert> {
        caller.require(Role::Responder)?;
        self.change_alert_status_as(&caller.actor(), &caller.user.email, id, wanted)
            .await
    }

    /// Acknowledges or resolves for `by` (an email, or a person reached by
    /// an acknowledge link).
    pub(crate) async fn change_alert_status_as(
        &self,
        actor: &Actor,
        by: &str,
        id: i64,
        wanted: Outcome,
    ) -> Result<Alert> {
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let mut alert = tx
            .alert_for_update(id)
            .await
            .map_err(|e| super::auth::not_found(e, format!("alert {id}")))?;
        let action = if wanted == Outcome::Resolve {
            Action::Resolve
        } else {
            Action::Acknowledge
        };
        let outcome = alert::outcome(Some(alert.status), action);
        if outcome == Outcome::Ignore || alert.status == AlertStatus::Resolved {
            if alert.status == AlertStatus::Resolved {
                return Err(Error::Conflict(format!("alert {id} is already resolved")));
            }
            return Ok(alert);
        }
        let before = alert.clone();
        apply_status(&mut alert, outcome, now, by);
        tx.update_alert(&alert).await?;
        let group_status = tx.refresh_group_status(alert.group_id, now).await?;
        self.after_group_change(&mut tx, &alert.service, alert.group_id, group_status, now)
            .await?;
        let verb = if outcome == Outcome::Resolve {
            "alert.resolved"
        } else {
            "alert.acknowledged"
        };
        tx.append_event(
            now,
            NewEvent::new(actor, verb, Subject::new("alert", id))
                .before(&before)
                .after(&alert),
        )
        .await?;
        tx.commit().await?;
        Ok(alert)
    }

    /// When a group becomes acknowledged and its service's policy says an
    /// acknowledged alert must not sit unresolved for long, schedules the
    /// re-escalation.
    async fn after_group_change(
        &self,
        tx: &mut crate::store::Tx,
        service: &str,
        group_id: i64,
        status: AlertStatus,
        now: Timestamp,
    ) -> Result<()> {
        if status != AlertStatus::Acknowledged {
            return Ok(());
        }
        let org = self.org_snapshot().await?;
        let policy = org
            .service(service)
            .and_then(|s| s.escalation_policy.as_deref())
            .and_then(|name| org.escalation_policy(name));
        if let Some(policy) = policy
            && let Some(after) = policy.reescalate_after_ack
        {
            super::escalation::schedule_reescalation(
                tx,
                group_id,
                &policy.name,
                now.saturating_add(after).unwrap_or(now),
            )
            .await?;
        }
        Ok(())
    }

    /// Every integration with its key and endpoint (admins only).
    pub async fn integrations(&self, caller: &Caller) -> Result<Vec<IntegrationView>> {
        caller.require(Role::Admin)?;
        let org = self.org_snapshot().await?;
        Ok(org
            .services
            .iter()
            .flat_map(|service| {
                service.integrations.iter().map(|i| IntegrationView {
                    service: service.name.clone(),
                    name: i.name.clone(),
                    kind: i.kind,
                    key: i.key.clone().unwrap_or_default(),
                    endpoint: endpoint_of(i.kind).into(),
                })
            })
            .collect())
    }

    /// Starts a maintenance window for a service: now (`starts_at` absent)
    /// or ahead of time.
    pub async fn create_maintenance_window(
        &self,
        caller: &Caller,
        service: &str,
        starts_at: Option<Timestamp>,
        ends_at: Timestamp,
        reason: &str,
    ) -> Result<MaintenanceWindow> {
        caller.require(Role::Responder)?;
        let now = self.clock.now();
        let org = self.org_snapshot().await?;
        if org.service(service).is_none() {
            let suggestion =
                crate::config::closest(service, org.services.iter().map(|s| s.name.clone()));
            let hint = suggestion
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(Error::invalid(
                "unknown_service",
                "service",
                format!("there is no service `{service}`{hint}"),
            ));
        }
        let starts_at = starts_at.unwrap_or(now);
        if ends_at <= starts_at {
            return Err(Error::invalid(
                "invalid_range",
                "ends_at",
                "the window must end after it starts",
            ));
        }
        if ends_at <= now {
            return Err(Error::invalid(
                "invalid_range",
                "ends_at",
                "the window must end in the future",
            ));
        }
        if reason.trim().is_empty() {
            return Err(Error::invalid(
                "missing_reason",
                "reason",
                "say why, so people who get no page know",
            ));
        }
        let mut tx = self.store.write().await?;
        let window = tx
            .insert_maintenance_window(
                now,
                service,
                starts_at,
                ends_at,
                reason.trim(),
                &caller.user.email,
            )
            .await?;
        tx.append_event(
            now,
            NewEvent::new(
                &caller.actor(),
                "maintenance_window.created",
                Subject::new("maintenance_window", window.id),
            )
            .after(&window),
        )
        .await?;
        tx.commit().await?;
        Ok(window)
    }

    /// Windows that have not ended: those declared in config and those
    /// created at run time, by start time.
    pub async fn maintenance_windows(
        &self,
        service: Option<&str>,
    ) -> Result<Vec<MaintenanceWindow>> {
        let now = self.clock.now();
        let org = self.org_snapshot().await?;
        let mut windows: Vec<MaintenanceWindow> = org
            .maintenance
            .iter()
            .filter(|m| service.is_none_or(|s| s == m.service) && m.ends_at > now)
            .map(|m| MaintenanceWindow {
                id: m.id,
                service: m.service.clone(),
                starts_at: m.starts_at,
                ends_at: m.ends_at,
                reason: m.reason.clone(),
                created_by: "config".into(),
                origin: "config".into(),
                cancelled_at: None,
            })
            .collect();
        windows.extend(
            self.store
                .read()
                .await?
                .maintenance_windows(service, now)
                .await?,
        );
        windows.sort_by_key(|w| (w.starts_at, w.id));
        Ok(windows)
    }

    pub async fn cancel_maintenance_window(&self, caller: &Caller, id: i64) -> Result<()> {
        caller.require(Role::Responder)?;
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        if !tx.cancel_maintenance_window(id, now).await? {
            return Err(Error::NotFound(format!(
                "active maintenance window {id} (windows from the config file end when removed from it)"
            )));
        }
        tx.append_event(
            now,
            NewEvent::new(
                &caller.actor(),
                "maintenance_window.cancelled",
                Subject::new("maintenance_window", id),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a change announced by a deploy tool.
    pub async fn record_change(&self, target: &Target, change: ChangeEvent) -> Result<i64> {
        let key = target.integration.key.as_deref().unwrap_or_default();
        self.rate_limiter
            .take(key, 1, target.integration.rate_limit)
            .map_err(Error::RateLimited)?;
        let now = self.clock.now();
        let actor = Actor {
            kind: "integration".into(),
            name: format!("{}/{}", target.service.name, target.integration.name),
        };
        let mut tx = self.store.write().await?;
        let id = tx.insert_change_event(now, &change).await?;
        tx.append_event(
            now,
            NewEvent::new(&actor, "change.recorded", Subject::new("change", id)).after(&change),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn change_events(
        &self,
        service: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<ChangeEvent>> {
        let limit = page_limit(limit)?;
        Ok(self
            .store
            .read()
            .await?
            .list_change_events(service, limit)
            .await?)
    }
}

/// Where each kind of source posts.
pub fn endpoint_of(kind: IntegrationKind) -> &'static str {
    match kind {
        IntegrationKind::Pagerduty => "/v2/enqueue",
        IntegrationKind::Alertmanager => "/api/v1/integrations/alertmanager",
        IntegrationKind::Grafana => "/api/v1/integrations/grafana",
        IntegrationKind::Opsgenie => "/v2/alerts",
        IntegrationKind::Generic => "/api/v1/integrations/generic",
    }
}

/// A repeated trigger refreshes what the source says now, and counts.
fn refresh(alert: &mut Alert, signal: &Signal, integration: &Integration, now: Timestamp) {
    alert.severity = integration.mapping.severity(signal);
    alert.urgency = integration.mapping.urgency(signal, alert.severity);
    alert.summary = signal.summary.clone();
    alert.labels = signal.labels.clone();
    alert.details = signal.details.clone();
    if !signal.links.is_empty() {
        alert.links = signal.links.clone();
    }
    alert.last_seen_at = now;
    alert.event_count += 1;
}

fn apply_status(alert: &mut Alert, outcome: Outcome, now: Timestamp, by: &str) {
    match outcome {
        Outcome::Acknowledge => {
            alert.status = AlertStatus::Acknowledged;
            alert.acknowledged_at = Some(now);
            alert.acknowledged_by = Some(by.to_string());
        }
        Outcome::Resolve => {
            alert.status = AlertStatus::Resolved;
            alert.resolved_at = Some(now);
            alert.resolved_by = Some(by.to_string());
        }
        _ => {}
    }
}

fn conflict_or_store(error: StoreError) -> Error {
    error.into()
}

fn parse_id_cursor(cursor: Option<&str>) -> Result<Option<i64>> {
    cursor
        .map(|c| {
            decode_cursor(c)
                .and_then(|c| c.parse::<i64>().ok())
                .ok_or_else(|| {
                    Error::invalid(
                        "invalid_cursor",
                        "cursor",
                        "the cursor is not one this server gave out",
                    )
                })
        })
        .transpose()
}
