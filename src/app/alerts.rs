//! Alert ingestion and the work on alerts: events from every source become
//! signals, signals become alerts (deduplicated, mapped, grouped, held back
//! in maintenance), and people acknowledge and resolve them.
//!
//! Ingestion group-commits: requests queue for a writer that takes
//! everything queued, plans it at once (`domain::ingest`), writes it with a
//! few multi-row statements and one commit, and only then answers each
//! request. Throughput comes from sharing statements and fsyncs among
//! requests, not from cutting corners on durability.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::mpsc;

use super::audit::page_limit;
use super::{App, Caller, Error, Result};
use crate::domain::alert::{
    self, Action, Alert, AlertStatus, MaintenanceWindow, Outcome, Severity, Signal,
};
use crate::domain::auth::Role;
use crate::domain::event::{Actor, NewEvent, Subject};
use crate::domain::ingest::{self, Effect, GroupRef, Source};
use crate::domain::job::NewJob;
use crate::domain::org::{Integration, IntegrationKind, Org, RateLimit, Service};
use crate::domain::page::{Page, decode_cursor, page_from};
use crate::store::{
    AlertEvent, AlertFilter, AlertGroup, ChangeEvent, IdSequence, InboundEvent, InboundMessage,
    NewAlertGroup, Tx,
};

/// How many times an ingest transaction is retried when a concurrent one
/// opened the same alert first (PostgreSQL only; SQLite serialises writers).
const INGEST_ATTEMPTS: usize = 3;

/// The integration a request's key picked, in the organisation it belongs to.
#[derive(Clone, Debug)]
pub struct Target {
    org: Arc<Org>,
    service: usize,
    integration: usize,
}

impl Target {
    pub fn service(&self) -> &Service {
        &self.org.services[self.service]
    }

    pub fn integration(&self) -> &Integration {
        &self.service().integrations[self.integration]
    }

    /// Who the source is, in the event log.
    fn actor(&self) -> Actor {
        Actor {
            kind: "integration".into(),
            name: format!("{}/{}", self.service().name, self.integration().name),
        }
    }
}

/// Messages waiting for the ingestion writer; when full, requests wait.
const INGEST_QUEUE: usize = 8192;
/// The most messages one transaction takes.
const MAX_BATCH: usize = 512;
/// The most signals one transaction takes (a message may carry hundreds).
const MAX_BATCH_SIGNALS: usize = 8192;

/// A received message on its way to the ingestion writer.
pub struct Message {
    target: Target,
    format: &'static str,
    body: String,
    signals: Vec<Signal>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Ingested>>>,
}

/// Below this many signals a batch is one transaction; above it, PostgreSQL
/// writes it as several in parallel.
const SPLIT_SIGNALS: usize = 256;

/// A batch slower than this is logged with where its time went.
const SLOW_BATCH: Duration = Duration::from_millis(100);

/// Where an ingestion batch spent its time, stage by stage: recorded in
/// `siaga_ingest_stage_seconds`, and logged when the whole batch was slow,
/// so a latency spike can be explained after the fact (the database
/// waiting for the disk shows as a slow commit).
struct Stages {
    last: Instant,
    taken: Vec<(&'static str, Duration)>,
}

impl Stages {
    fn start() -> Stages {
        Stages {
            last: Instant::now(),
            taken: Vec::with_capacity(7),
        }
    }

    /// Ends `stage`, which began when the last one ended.
    fn done(&mut self, stage: &'static str) {
        let now = Instant::now();
        let took = now - self.last;
        metrics::histogram!("siaga_ingest_stage_seconds", "stage" => stage)
            .record(took.as_secs_f64());
        self.taken.push((stage, took));
        self.last = now;
    }

    /// Logs a slow batch with its stages.
    fn finish(&self, batch: &[Message]) {
        // The stages follow one another from the start.
        let total: Duration = self.taken.iter().map(|(_, took)| *took).sum();
        if total < SLOW_BATCH {
            return;
        }
        let signals: usize = batch.iter().map(|m| m.signals.len()).sum();
        tracing::warn!(
            "a slow ingestion batch took {:.1} ms for {}, {}: {}",
            total.as_secs_f64() * 1e3,
            crate::domain::counted(batch.len(), "message"),
            crate::domain::counted(signals, "signal"),
            describe_stages(&self.taken)
        );
    }
}

/// `begin 0.4 ms, read 1.2 ms, …`
fn describe_stages(taken: &[(&'static str, Duration)]) -> String {
    taken
        .iter()
        .map(|(stage, took)| format!("{stage} {:.1} ms", took.as_secs_f64() * 1e3))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ingestion writer: takes everything queued, commits it, and answers
/// each message only after the commit. The next batch is taken when this
/// one is done, so that under load batches grow and one fsync serves many
/// events.
async fn write_messages(
    app: App,
    mut queue: mpsc::Receiver<Message>,
    stop: impl std::future::Future<Output = ()>,
) {
    let parts = parallel_parts(app.store.backend());
    let mut stop = std::pin::pin!(stop);
    loop {
        let first = tokio::select! {
            biased;
            () = &mut stop => return,
            first = queue.recv() => match first {
                Some(first) => first,
                None => return,
            },
        };
        let mut signals = first.signals.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && signals < MAX_BATCH_SIGNALS {
            match queue.try_recv() {
                Ok(message) => {
                    signals += message.signals.len();
                    batch.push(message);
                }
                Err(_) => break,
            }
        }
        let mut split = split_batch(batch, parts);
        let last = split.pop().unwrap_or_default();
        let mut others = tokio::task::JoinSet::new();
        for part in split {
            let app = app.clone();
            others.spawn(async move { app.commit_batch(part, true).await });
        }
        // Nothing queued behind this batch: the writer has no better use
        // for the time its commit's fsync takes than waiting for it.
        let more_waiting = !queue.is_empty();
        app.commit_batch(last, more_waiting).await;
        others.join_all().await;
    }
}

/// Runs [`write_messages`] on a thread of its own, until the runtime that
/// called this shuts down (a task held there tells it so by ending).
fn spawn_writer_thread(app: App, queue: mpsc::Receiver<Message>) {
    let (held, released) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _held = held;
        std::future::pending::<()>().await
    });
    let started = std::thread::Builder::new()
        .name("siaga-ingest".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!("the ingestion writer could not start its runtime: {error}");
                    return;
                }
            };
            runtime.block_on(write_messages(app, queue, async {
                let _ = released.await;
            }));
        });
    if let Err(error) = started {
        tracing::error!("the ingestion writer's thread could not start: {error}");
    }
}

/// How many transactions a large batch is written in at once. SQLite has
/// one writer, so more would only queue on its lock. PostgreSQL spreads a
/// large batch's work over its cores; small batches stay whole, because
/// parallel small commits only cost fsyncs (one writer gave 7.5 single
/// events per fsync where four gave 2.3, at the same rate).
fn parallel_parts(backend: crate::store::Backend) -> usize {
    match backend {
        crate::store::Backend::Sqlite => 1,
        crate::store::Backend::Postgres => 4,
    }
}

/// Cuts `batch` into at most `parts` runs of whole messages, in order, of
/// about equal signals and none below [`SPLIT_SIGNALS`] but the last.
fn split_batch(batch: Vec<Message>, parts: usize) -> Vec<Vec<Message>> {
    split_by_weight(batch, parts, SPLIT_SIGNALS, |m| m.signals.len())
}

fn split_by_weight<T>(
    items: Vec<T>,
    parts: usize,
    smallest: usize,
    weight: impl Fn(&T) -> usize,
) -> Vec<Vec<T>> {
    let total: usize = items.iter().map(&weight).sum();
    let per_part = total.div_ceil(parts.max(1)).max(smallest);
    let mut split = vec![Vec::new()];
    let mut in_part = 0;
    for item in items {
        if in_part >= per_part && split.len() < parts {
            split.push(Vec::new());
            in_part = 0;
        }
        in_part += weight(&item);
        split
            .last_mut()
            .expect("split starts with a part")
            .push(item);
    }
    split
}

/// A batch written in a transaction not yet committed.
struct Written {
    results: Vec<Vec<Ingested>>,
    tx: Tx,
    stages: Stages,
}

/// Answers each message of a batch with its result.
fn answer(batch: Vec<Message>, results: Vec<Result<Vec<Ingested>>>, started: Instant) {
    metrics::histogram!("siaga_ingest_batch_messages").record(batch.len() as f64);
    metrics::histogram!("siaga_ingest_batch_seconds").record(started.elapsed().as_secs_f64());
    for (message, result) in batch.into_iter().zip(results) {
        match &result {
            Ok(_) => metrics::counter!("siaga_ingested_events_total", "kind" => message.target.integration().kind.as_str())
                .increment(message.signals.len() as u64),
            Err(error) => tracing::error!("storing an ingested message failed: {error}"),
        }
        let _ = message.reply.send(result);
    }
}

/// What each message of a batch whose commit did not reach the disk is
/// told: nothing of it counts as received, so its source sends it again.
fn failed_commit(error: &crate::store::StoreError) -> Error {
    Error::Unavailable(anyhow::anyhow!(
        "the batch could not be committed: {error:#}"
    ))
}

/// What became of one signal.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Ingested {
    pub dedup_key: String,
    /// `opened`, `repeated`, `acknowledged`, `resolved`, `ignored` or `dropped`.
    pub outcome: &'static str,
    pub alert_id: Option<i64>,
}

/// Token buckets per integration key, so one runaway source cannot flood
/// the store. Kept per process.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes `count` tokens for `key`, or says how long until there are
    /// enough. A message of more events than the bucket holds goes through
    /// when the bucket is full and leaves it in debt (the rate over time
    /// still holds): refusing it would refuse it forever.
    pub fn take(&self, key: &str, count: usize, limit: RateLimit) -> Result<(), SignedDuration> {
        let capacity = f64::from(limit.events);
        let per_second = capacity / limit.per.as_secs_f64().max(0.001);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(key) {
            buckets.insert(key.to_string(), (capacity, now));
        }
        let Some((tokens, last)) = buckets.get_mut(key) else {
            unreachable!("inserted above");
        };
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_second).min(capacity);
        *last = now;
        let wanted = count as f64;
        let needed = wanted.min(capacity);
        if *tokens >= needed {
            *tokens -= wanted;
            Ok(())
        } else {
            let missing = needed - *tokens;
            Err(
                SignedDuration::try_from_secs_f64((missing / per_second).max(1.0))
                    .unwrap_or(SignedDuration::MAX),
            )
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
    /// The received events, oldest first (at most 200), of the messages
    /// still kept (`siaga serve --keep-received-messages`).
    pub events: Vec<AlertEvent>,
    /// What escalation did for its group: who was paged, deliveries,
    /// "nobody acknowledged"; oldest first (at most 200).
    pub escalation: Vec<crate::domain::event::Event>,
    /// The escalation policy its group escalates along: the one last
    /// started or reassigned to, else its service's.
    pub policy: Option<String>,
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

/// The rows and follow-ups a planned batch writes, with ids assigned.
#[derive(Default)]
struct BatchWrites<'a> {
    messages: Vec<InboundMessage<'a>>,
    groups: Vec<NewAlertGroup>,
    /// Stored groups new alerts joined, sorted by id.
    joined: Vec<(i64, ingest::JoinedGroup)>,
    /// Alerts opened, or whose status changed.
    alerts: Vec<Alert>,
    /// Stored alerts only refreshed by repeated triggers.
    refreshed: Vec<Alert>,
    inbound_events: Vec<InboundEvent<'a>>,
    events: Vec<NewEvent>,
    jobs: Vec<NewJob>,
    /// Groups whose alerts the sources acknowledged or resolved, with their
    /// service: their status follows once the alerts are written.
    changed_groups: BTreeMap<i64, &'a str>,
    /// Opened alerts outside maintenance, for the incident checks.
    opened: Vec<(Alert, Option<u8>)>,
    /// Groups that page, new ones and quiet ones new alerts joined, by
    /// id: their first escalation step is taken with the batch.
    paging: BTreeMap<i64, Paging>,
    results: Vec<Vec<Ingested>>,
}

/// A group whose escalation starts with the batch.
struct Paging {
    org: Arc<Org>,
    policy: String,
    group: AlertGroup,
    /// The message whose alert opened or woke the group.
    message_id: i64,
}

impl BatchWrites<'_> {
    /// A new group: recorded, and paged for unless in maintenance (one page
    /// per storm; its first step is taken once the batch is planned).
    fn open_group(&mut self, actor: &Actor, group: &ingest::NewGroup, id: i64) {
        self.events.push(
            NewEvent::new(actor, "alert_group.opened", Subject::new("alert_group", id)).after(
                serde_json::json!({
                    "service": group.service,
                    "group_key": group.key,
                    "pages": !group.in_maintenance,
                }),
            ),
        );
        if let Some(policy) = &group.pages_with {
            self.events
                .push(super::escalation::escalation_started(actor, id, policy));
        }
    }
}

impl App {
    /// The integration holding `key`, refusing keys of another kind.
    pub async fn integration_for_key(&self, key: &str, kind: IntegrationKind) -> Result<Target> {
        let org = self.org_snapshot().await?;
        let Some((service, integration)) = org.integration_position(key) else {
            return Err(Error::Unauthenticated);
        };
        let found = &org.services[service].integrations[integration];
        if found.kind != kind {
            return Err(Error::Invalid {
                code: "wrong_integration_kind",
                message: format!(
                    "this key belongs to a {} integration; send its events to that endpoint",
                    found.kind.as_str()
                ),
                field: None,
            });
        }
        Ok(Target {
            org,
            service,
            integration,
        })
    }

    /// Records one received message and applies its signals: when this
    /// returns Ok, all of it is committed.
    pub async fn ingest(
        &self,
        target: &Target,
        format: &'static str,
        mut body: String,
        mut signals: Vec<Signal>,
    ) -> Result<Vec<Ingested>> {
        // Only a body siaga does not parse (an Opsgenie close) can hold a
        // raw NUL; parsed text can hold an escaped one.
        alert::replace_nul(&mut body);
        signals.iter_mut().for_each(Signal::replace_nul);
        let integration = target.integration();
        let key = integration.key.as_deref().unwrap_or_default();
        self.rate_limiter
            .take(key, signals.len().max(1), integration.rate_limit)
            .map_err(Error::RateLimited)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let message = Message {
            target: target.clone(),
            format,
            body,
            signals,
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

    /// The queue of the process's ingestion writer, started on first use:
    /// on SQLite on a thread of its own, since its transactions block the
    /// thread they run on (see `Store::write_inline`); on PostgreSQL as a
    /// task. Either stops with the runtime that started it.
    fn ingest_queue(&self) -> &mpsc::Sender<Message> {
        self.ingest_queue.get_or_init(|| {
            let (send, receive) = mpsc::channel(INGEST_QUEUE);
            let app = self.clone();
            match self.store.backend() {
                crate::store::Backend::Sqlite => spawn_writer_thread(app, receive),
                crate::store::Backend::Postgres => {
                    tokio::spawn(write_messages(app, receive, std::future::pending()));
                }
            }
            send
        })
    }

    /// Writes a batch of messages in one transaction (one commit, one
    /// fsync) and answers each once the commit is on disk. With
    /// `more_waiting`, the writer goes on with the next batch meanwhile
    /// when the store lets it (see `Tx::commit_then`); otherwise it waits
    /// for the fsync itself, sparing the answers a hand-off between
    /// threads. When writing the batch fails, each message is written
    /// alone, so one the database refuses fails by itself instead of
    /// taking everything queued with it.
    async fn commit_batch(&self, batch: Vec<Message>, more_waiting: bool) {
        let started = Instant::now();
        match self.write_batch(&batch).await {
            Ok(Written {
                results,
                tx,
                mut stages,
            }) if !more_waiting => {
                let committed = tx.commit().await;
                stages.done("commit");
                stages.finish(&batch);
                let results = match committed {
                    Ok(()) => results.into_iter().map(Ok).collect(),
                    Err(error) => batch.iter().map(|_| Err(failed_commit(&error))).collect(),
                };
                answer(batch, results, started);
            }
            Ok(Written {
                results,
                tx,
                mut stages,
            }) => {
                tx.commit_then(move |synced| {
                    stages.done("commit");
                    stages.finish(&batch);
                    let results = match synced {
                        Ok(()) => results.into_iter().map(Ok).collect(),
                        Err(error) => batch.iter().map(|_| Err(failed_commit(&error))).collect(),
                    };
                    answer(batch, results, started);
                })
                .await;
            }
            Err(error) if batch.len() > 1 => {
                tracing::warn!(
                    "an ingestion batch of {} messages failed ({error}); writing them one by one",
                    batch.len()
                );
                let mut results = Vec::with_capacity(batch.len());
                for message in &batch {
                    let result = match self.write_batch(std::slice::from_ref(message)).await {
                        Ok(mut written) => written
                            .tx
                            .commit()
                            .await
                            .map(|()| written.results.remove(0))
                            .map_err(Error::from),
                        Err(error) => Err(error),
                    };
                    results.push(result);
                }
                answer(batch, results, started);
            }
            Err(error) => answer(batch, vec![Err(error)], started),
        }
    }

    /// One transaction for `batch`, written and not yet committed, retried
    /// when a concurrent replica opened one of its alerts first.
    async fn write_batch(&self, batch: &[Message]) -> Result<Written> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_write_batch(batch).await {
                Err(Error::Contended(_)) if attempt < INGEST_ATTEMPTS => continue,
                // Replicas kept racing: a server's state, not the client's
                // mistake (a 409 would make the source drop the event).
                Err(Error::Contended(conflict)) => {
                    return Err(Error::Unavailable(anyhow::anyhow!(
                        "the batch kept colliding with other writers: {conflict}"
                    )));
                }
                other => return other,
            }
        }
    }

    async fn try_write_batch(&self, batch: &[Message]) -> Result<Written> {
        // A new group may page with the batch, signing acknowledge links:
        // the secret is read (made, the first time) before the write.
        let ack_secret = if batch
            .iter()
            .any(|m| m.target.service().escalation_policy.is_some())
        {
            Some(self.ack_secret().await?)
        } else {
            None
        };
        let mut stages = Stages::start();
        let now = self.clock.now();
        let mut tx = self.store.write_inline().await?;
        stages.done("begin");
        // The org as the batch's messages saw it: reading it again could
        // take a second connection while this transaction holds one.
        let org = &batch[0].target.org;
        let services: BTreeSet<&str> = batch
            .iter()
            .map(|m| m.target.service().name.as_str())
            .collect();
        let services: Vec<&str> = services.into_iter().collect();
        let regressions_since = now
            .checked_sub(org.incidents.regression.window)
            .unwrap_or(now);
        let states = tx
            .services_for_ingest(&services, now, regressions_since)
            .await?;
        let mut maintenance: HashMap<&str, bool> = HashMap::new();
        for message in batch {
            let service = message.target.service();
            maintenance.entry(&service.name).or_insert_with(|| {
                configured_maintenance(&message.target.org, &service.name, now)
                    || states
                        .maintenance
                        .iter()
                        .any(|w| w.service == service.name && w.covers(now))
            });
        }
        let sources: Vec<(Source<'_>, &[Signal])> = batch
            .iter()
            .map(|message| {
                let service = message.target.service();
                let source = Source {
                    service,
                    integration: message.target.integration(),
                    in_maintenance: maintenance[service.name.as_str()],
                };
                (source, message.signals.as_slice())
            })
            .collect();
        let mut open = Vec::new();
        let mut joinable = HashMap::new();
        for (service, lookups) in ingest::lookups(&sources) {
            let keys: Vec<&str> = lookups.dedup_keys.into_iter().collect();
            open.extend(tx.open_alerts_with_keys(service, &keys).await?);
            if !lookups.group_keys.is_empty() {
                let window = batch
                    .iter()
                    .map(|m| m.target.service())
                    .find(|s| s.name == service)
                    .map_or(ingest::DEFAULT_GROUP_WINDOW, ingest::group_window);
                let keys: Vec<&str> = lookups.group_keys.iter().map(String::as_str).collect();
                let since = now.checked_sub(window).unwrap_or(now);
                for (key, group) in tx.joinable_groups(service, &keys, since).await? {
                    joinable.insert((service.to_string(), key), group);
                }
            }
        }
        stages.done("read");
        let plan = ingest::plan(now, &sources, open, &joinable);
        if tx.backend() == crate::store::Backend::Postgres && !plan.joined.is_empty() {
            // The plan chose from the groups as read; another replica may
            // have acknowledged or resolved one since (and ended its
            // escalation). Holding them now, a change means planning again.
            let ids: Vec<i64> = plan.joined.keys().copied().collect();
            let read: HashMap<i64, (AlertStatus, bool)> = joinable
                .values()
                .map(|g| (g.id, (g.status, g.in_maintenance)))
                .collect();
            for (id, status, in_maintenance) in tx.lock_groups(&ids).await? {
                if read.get(&id) != Some(&(status, in_maintenance)) {
                    return Err(Error::Contended(format!(
                        "group {id} changed while a batch joined it"
                    )));
                }
            }
        }
        let mut writes = self.batch_writes(&mut tx, batch, plan, now).await?;
        stages.done("plan");
        // A group pages with the commit that opens it (or joins it while
        // quiet): its first step is part of the batch, so the first page
        // waits for no job.
        for paging in std::mem::take(&mut writes.paging).into_values() {
            // Its newest alert still triggered after the batch: one the
            // same batch acknowledged or resolved pages nobody.
            let Some(alert) = writes
                .alerts
                .iter()
                .filter(|a| a.group_id == paging.group.id && a.status == AlertStatus::Triggered)
                .max_by_key(|a| a.id)
            else {
                continue;
            };
            let Some(policy) = paging.org.escalation_policy(&paging.policy) else {
                writes.events.push(
                    NewEvent::new(
                        &Actor::system("escalation"),
                        super::escalation::ESCALATION_STOPPED,
                        Subject::new("alert_group", paging.group.id),
                    )
                    .after(serde_json::json!({
                        "reason": format!("the policy {} does not exist", paging.policy)
                    })),
                );
                continue;
            };
            // Read above for any batch whose services page.
            let ack_secret = ack_secret.as_deref().ok_or_else(|| {
                Error::Internal(anyhow::anyhow!(
                    "a new group pages but the acknowledge secret was not read"
                ))
            })?;
            let step = self
                .take_step(
                    &mut tx,
                    &super::escalation::StepAt {
                        org: &paging.org,
                        group: &paging.group,
                        alert,
                        ack_secret,
                        now,
                        taken_by: &format!("m{}", paging.message_id),
                    },
                    policy,
                    policy.first_step(),
                )
                .await?;
            writes.jobs.extend(step.jobs);
            writes.events.extend(step.events);
        }
        stages.done("page");
        // The rows of six tables and the jobs, sent to the database at once.
        let mut rows = tx.writes();
        rows.inbound_messages(&writes.messages);
        rows.new_groups(&writes.groups);
        rows.add_to_groups(&writes.joined, now);
        rows.alerts(&writes.alerts);
        rows.refreshed_alerts(&writes.refreshed);
        rows.inbound_events(&writes.inbound_events);
        rows.events(now, &writes.events);
        writes.jobs.extend(incident_checks(
            org,
            &writes.opened,
            &states.with_recent_incidents,
            now,
        ));
        tx.apply_and_enqueue(rows, now, &writes.jobs).await?;
        stages.done("write");
        for (&group_id, service) in &writes.changed_groups {
            let status = tx.refresh_group_status(group_id, now).await?;
            after_group_change(&mut tx, org, service, group_id, status, now).await?;
        }

        stages.done("follow-up");
        Ok(Written {
            results: writes.results,
            tx,
            stages,
        })
    }

    /// Turns a plan into rows: reserves the ids of new messages, groups and
    /// alerts, and builds the events, jobs and answers that name them.
    async fn batch_writes<'a>(
        &self,
        tx: &mut Tx,
        batch: &'a [Message],
        plan: ingest::Plan,
        now: Timestamp,
    ) -> Result<BatchWrites<'a>> {
        let [message_ids, group_ids, new_alert_ids] = tx
            .reserve_ids([
                (IdSequence::InboundMessages, batch.len()),
                (IdSequence::AlertGroups, plan.new_groups.len()),
                (IdSequence::Alerts, plan.new_alert_count()),
            ])
            .await?;
        let mut new_alert_ids = new_alert_ids.into_iter();
        let group_id = |group: GroupRef| match group {
            GroupRef::Stored(id) => id,
            GroupRef::New(index) => group_ids[index],
        };
        // The final id and group of every planned alert, by plan index.
        let mut placed: Vec<(i64, i64)> = Vec::with_capacity(plan.alerts.len());
        let refs: Vec<GroupRef> = plan.alerts.iter().map(|a| a.group).collect();
        let mut writes = BatchWrites::default();
        for planned in plan.alerts {
            let id = if planned.is_new() {
                new_alert_ids.next().ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!("fewer alert ids reserved than planned"))
                })?
            } else {
                planned.alert.id
            };
            let group = group_id(planned.group);
            placed.push((id, group));
            if planned.changed {
                let status_changed = planned.status_changed();
                let alert = Alert {
                    id,
                    group_id: group,
                    ..planned.alert
                };
                if status_changed {
                    writes.alerts.push(alert);
                } else {
                    writes.refreshed.push(alert);
                }
            }
        }
        let place = |index: usize, alert: &Alert| Alert {
            id: placed[index].0,
            group_id: placed[index].1,
            ..alert.clone()
        };
        writes.groups = plan
            .new_groups
            .iter()
            .zip(&group_ids)
            .map(|(group, &id)| NewAlertGroup {
                id,
                service: group.service.clone(),
                group_key: group.key.clone(),
                opened_at: now,
                alert_count: group.members,
                in_maintenance: group.in_maintenance,
            })
            .collect();
        writes.joined = plan.joined.into_iter().collect();
        for ((message, effects), &message_id) in batch.iter().zip(plan.effects).zip(&message_ids) {
            let actor = message.target.actor();
            writes.messages.push(InboundMessage {
                id: message_id,
                received_at: now,
                service: &message.target.service().name,
                integration: &message.target.integration().name,
                format: message.format,
                body: &message.body,
            });
            let mut results = Vec::with_capacity(effects.len());
            for (signal, effect) in message.signals.iter().zip(effects) {
                let alert_id = effect.alert().map(|index| placed[index].0);
                writes.inbound_events.push(InboundEvent {
                    message_id,
                    alert_id,
                    received_at: now,
                    action: signal.action.as_str(),
                    dedup_key: &signal.dedup_key,
                    outcome: effect.name(),
                });
                results.push(Ingested {
                    dedup_key: signal.dedup_key.clone(),
                    outcome: effect.name(),
                    alert_id,
                });
                match effect {
                    Effect::Opened {
                        alert,
                        opened,
                        new_group,
                    } => {
                        let opened = place(alert, &opened);
                        if let GroupRef::Stored(id) = refs[alert]
                            && !writes.paging.contains_key(&id)
                            && let Ok(at) = writes.joined.binary_search_by_key(&id, |(g, _)| *g)
                            && let Some(policy) = writes.joined[at].1.pages_with.clone()
                        {
                            let joined = &writes.joined[at].1;
                            if let Some(group) =
                                restart_escalation(tx, &actor, id, joined, &policy, now).await?
                            {
                                writes.events.extend(group.events);
                                writes.paging.insert(
                                    id,
                                    Paging {
                                        org: message.target.org.clone(),
                                        policy,
                                        group: group.group,
                                        message_id,
                                    },
                                );
                            }
                        }
                        if let GroupRef::New(index) = refs[alert] {
                            let group = &plan.new_groups[index];
                            if new_group {
                                writes.open_group(&actor, group, opened.group_id);
                            }
                            if let Some(policy) = &group.pages_with {
                                writes.paging.insert(
                                    opened.group_id,
                                    Paging {
                                        org: message.target.org.clone(),
                                        policy: policy.clone(),
                                        group: AlertGroup {
                                            id: opened.group_id,
                                            service: group.service.clone(),
                                            group_key: group.key.clone(),
                                            status: AlertStatus::Triggered,
                                            opened_at: now,
                                            last_alert_at: now,
                                            alert_count: group.members,
                                            in_maintenance: group.in_maintenance,
                                        },
                                        message_id,
                                    },
                                );
                            }
                        }
                        writes.events.push(
                            NewEvent::new(
                                &actor,
                                "alert.triggered",
                                Subject::new("alert", opened.id),
                            )
                            .after(&opened),
                        );
                        if !opened.in_maintenance {
                            let tier = message.target.service().tier;
                            writes.opened.push((opened, tier));
                        }
                    }
                    Effect::Changed {
                        alert,
                        outcome,
                        before,
                        after,
                    } => {
                        let (before, after) = (place(alert, &before), place(alert, &after));
                        writes
                            .changed_groups
                            .insert(after.group_id, &message.target.service().name);
                        let verb = if outcome == Outcome::Resolve {
                            "alert.resolved"
                        } else {
                            "alert.acknowledged"
                        };
                        writes.events.push(
                            NewEvent::new(&actor, verb, Subject::new("alert", after.id))
                                .before(&before)
                                .after(&after),
                        );
                    }
                    Effect::Dropped | Effect::Ignored { .. } | Effect::Repeated { .. } => {}
                }
            }
            writes.results.push(results);
        }
        Ok(writes)
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
        let org = self.org_snapshot().await?;
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
        let mut events = tx.alert_events(id, 200).await?;
        // Viewers read these: PagerDuty's carry the integration key.
        for event in events.iter_mut().filter(|e| e.format == "pagerduty") {
            event.body = crate::formats::pagerduty::without_routing_key(&event.body);
        }
        let filter = crate::store::EventFilter {
            subject_kind: Some("alert_group".into()),
            subject_id: Some(group.id.to_string()),
            limit: 200,
            ..Default::default()
        };
        let mut escalation = tx.list_events(&filter).await?;
        escalation.truncate(200);
        let moves = tx
            .escalation_moves(group.id, super::escalation::PROGRESS_MOVES)
            .await?;
        let policy = super::escalation::Progress::from_events(&moves, &group, &org).policy;
        escalation.reverse();
        Ok(AlertDetail {
            alert,
            group,
            group_members: members,
            events,
            escalation,
            policy,
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
        self.retrying(|| self.change_alert_status_once(actor, by, id, wanted))
            .await
    }

    async fn change_alert_status_once(
        &self,
        actor: &Actor,
        by: &str,
        id: i64,
        wanted: Outcome,
    ) -> Result<Alert> {
        let now = self.clock.now();
        let org = self.org_snapshot().await?;
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
        if alert.status == AlertStatus::Resolved {
            return Err(Error::Conflict(format!("alert {id} is already resolved")));
        }
        if outcome == Outcome::Ignore {
            if wanted == Outcome::Acknowledge {
                // Acknowledged already (its source can say so): the page
                // was about its group, which may still escalate for others.
                acknowledge_group(&mut tx, &org, actor, by, &alert, false, now).await?;
                tx.commit().await?;
            }
            return Ok(alert);
        }
        let before = alert.clone();
        alert.apply(outcome, now, by);
        tx.update_alert(&alert).await?;
        if outcome == Outcome::Acknowledge {
            acknowledge_group(&mut tx, &org, actor, by, &alert, true, now).await?;
        } else {
            let group_status = tx.refresh_group_status(alert.group_id, now).await?;
            after_group_change(
                &mut tx,
                &org,
                &alert.service,
                alert.group_id,
                group_status,
                now,
            )
            .await?;
        }
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

    /// Acknowledges the group of a resolved alert for `by`, as an
    /// acknowledge link sent for that alert asks: the page was about the
    /// group, which still escalates if another of its alerts is triggered.
    pub(crate) async fn acknowledge_group_of(
        &self,
        actor: &Actor,
        by: &str,
        id: i64,
    ) -> Result<()> {
        self.retrying(|| async {
            let now = self.clock.now();
            let org = self.org_snapshot().await?;
            let mut tx = self.store.write().await?;
            let alert = tx.alert(id).await?;
            acknowledge_group(&mut tx, &org, actor, by, &alert, false, now).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
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
        // A window that ends at this moment releases the service's groups
        // only if none holds it: see `App::maintenance_ended`.
        tx.lock(&maintenance_lock(service)).await?;
        tx.enqueue_job(
            now,
            &super::escalation::maintenance_end_job(service, ends_at),
        )
        .await?;
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
                Subject::new("maintenance_window", window.id.unwrap_or_default()),
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
                id: None,
                service: m.service.clone(),
                starts_at: m.starts_at,
                ends_at: m.ends_at,
                reason: m.reason.clone(),
                created_by: "config".into(),
                origin: "config".into(),
                cancelled_at: None,
            })
            .collect();
        // Ended early is ended.
        windows.extend(
            self.store
                .read()
                .await?
                .maintenance_windows(service, now)
                .await?
                .into_iter()
                .filter(|w| w.cancelled_at.is_none()),
        );
        windows.sort_by_key(|w| (w.starts_at, w.id));
        Ok(windows)
    }

    pub async fn cancel_maintenance_window(&self, caller: &Caller, id: i64) -> Result<()> {
        caller.require(Role::Responder)?;
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let Some(service) = tx.cancel_maintenance_window(id, now).await? else {
            return Err(Error::NotFound(format!(
                "active maintenance window {id} (windows from the config file end when removed from it)"
            )));
        };
        tx.enqueue_job(now, &super::escalation::maintenance_end_job(&service, now))
            .await?;
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
    pub async fn record_change(&self, target: &Target, mut change: ChangeEvent) -> Result<i64> {
        alert::replace_nul(&mut change.summary);
        if let Some(source) = &mut change.source {
            alert::replace_nul(source);
        }
        let integration = target.integration();
        let key = integration.key.as_deref().unwrap_or_default();
        self.rate_limiter
            .take(key, 1, integration.rate_limit)
            .map_err(Error::RateLimited)?;
        let now = self.clock.now();
        let actor = target.actor();
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

/// The lock under which a service's maintenance windows are added and
/// checked for one still holding it.
pub(crate) fn maintenance_lock(service: &str) -> String {
    format!("maintenance:{service}")
}

/// Whether a maintenance window declared in config covers `service` at
/// `now` (those created at run time are in the store).
pub(crate) fn configured_maintenance(org: &Org, service: &str, now: Timestamp) -> bool {
    org.maintenance
        .iter()
        .any(|m| m.service == service && m.starts_at <= now && now < m.ends_at)
}

/// The incident checks the opened alerts need: one for an alert that a
/// rule declares an incident for, or whose service had an incident open or
/// resolved lately (a regression, maybe). Declaring by rule and catching
/// regressions are a job, so ingestion stays short; most alerts need
/// neither, and cost only a lookup per service and batch.
fn incident_checks(
    org: &Org,
    opened: &[(Alert, Option<u8>)],
    with_recent_incidents: &BTreeSet<String>,
    now: Timestamp,
) -> Vec<NewJob> {
    opened
        .iter()
        .filter(|(alert, tier)| {
            org.incidents.auto_declare_for(alert, *tier).is_some()
                || with_recent_incidents.contains(&alert.service)
        })
        .map(|(alert, _)| super::incidents::alert_opened(alert.id, now))
        .collect()
}

/// When a group becomes acknowledged and its service's policy says an
/// acknowledged alert must not sit unresolved for long, schedules the
/// re-escalation.
/// A person answers the group's page, which escalates for all of its
/// alerts: they acknowledge every triggered one, or escalation would go on
/// over the others. (Resolving stays one alert at a time.) `alert` is the
/// one they answered; when it had not just changed and none of the others
/// did either, nothing happens (a repeated acknowledgement does not push
/// the re-escalation back).
async fn acknowledge_group(
    tx: &mut crate::store::Tx,
    org: &Org,
    actor: &Actor,
    by: &str,
    alert: &Alert,
    alert_changed: bool,
    now: Timestamp,
) -> Result<()> {
    let others = change_group_alerts(
        tx,
        actor,
        alert.group_id,
        AlertStatus::Triggered,
        "alert.acknowledged",
        |other| other.apply(Outcome::Acknowledge, now, by),
        now,
    )
    .await?;
    if !alert_changed && others == 0 {
        return Ok(());
    }
    let group_status = tx.refresh_group_status(alert.group_id, now).await?;
    after_group_change(tx, org, &alert.service, alert.group_id, group_status, now).await
}

async fn after_group_change(
    tx: &mut crate::store::Tx,
    org: &Org,
    service: &str,
    group_id: i64,
    status: AlertStatus,
    now: Timestamp,
) -> Result<()> {
    if status != AlertStatus::Acknowledged {
        return Ok(());
    }
    // Acknowledged: the escalation ends, and its timer with it (a step
    // being taken right now included), so that a re-escalation or a new
    // alert can start it again. The caller has written the group's row,
    // which locks it before the job.
    tx.cancel_job(&super::escalation::escalation_timer(group_id), now)
        .await?;
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

/// Changes every alert of a group that is in status `from` with `change`,
/// each recorded as an `action` event, a page of them at a time until none
/// is left; `change` must take an alert out of `from`. Returns how many.
pub(crate) async fn change_group_alerts(
    tx: &mut crate::store::Tx,
    actor: &Actor,
    group_id: i64,
    from: AlertStatus,
    action: &str,
    change: impl Fn(&mut Alert),
    now: Timestamp,
) -> crate::store::Result<usize> {
    let mut changed = 0;
    loop {
        let found = tx.group_alerts_for_update(group_id, from, 500).await?;
        if found.is_empty() {
            return Ok(changed);
        }
        changed += found.len();
        for mut alert in found {
            let before = alert.clone();
            change(&mut alert);
            tx.update_alert(&alert).await?;
            tx.append_event(
                now,
                NewEvent::new(actor, action, Subject::new("alert", alert.id))
                    .before(&before)
                    .after(&alert),
            )
            .await?;
        }
    }
}

/// A quiet group a new alert joined, ready to page again, and the events
/// that say so.
struct Restarted {
    group: AlertGroup,
    events: Vec<NewEvent>,
}

/// Starts a quiet group's escalation over (it had resolved, someone had
/// acknowledged it, or it opened in maintenance): its stale timers go,
/// even one being taken right now, so the step the batch takes sets the
/// next one. `None` when, by the time its row is locked, the group is
/// escalating already: another replica's batch (or a responder) woke it
/// since this batch read it, and it must not page twice.
async fn restart_escalation(
    tx: &mut crate::store::Tx,
    actor: &Actor,
    group_id: i64,
    joined: &ingest::JoinedGroup,
    policy: &str,
    now: Timestamp,
) -> Result<Option<Restarted>> {
    let stored = tx.alert_group_for_update(group_id).await?;
    if stored.status == AlertStatus::Triggered && !stored.in_maintenance {
        return Ok(None);
    }
    tx.cancel_job(&super::escalation::escalation_timer(group_id), now)
        .await?;
    tx.cancel_job(&super::escalation::reescalation_timer(group_id), now)
        .await?;
    let mut events = Vec::new();
    if joined.reopened {
        events.push(
            NewEvent::new(
                actor,
                "alert_group.reopened",
                Subject::new("alert_group", group_id),
            )
            .after(serde_json::json!({ "service": stored.service, "group_key": stored.group_key })),
        );
    }
    events.push(super::escalation::escalation_started(
        actor, group_id, policy,
    ));
    Ok(Some(Restarted {
        group: AlertGroup {
            status: AlertStatus::Triggered,
            last_alert_at: now,
            alert_count: stored.alert_count + joined.members,
            in_maintenance: false,
            ..stored
        },
        events,
    }))
}

/// When a maintenance window that starts at `starts_at` and lasts
/// `duration` (`2h`, `90m`, `1h30m`) ends.
pub fn window_end(starts_at: Timestamp, duration: &str) -> Result<Timestamp> {
    let invalid = |message: String| Error::invalid("invalid_duration", "duration", message);
    let parsed: jiff::SignedDuration = duration.trim().parse().map_err(|_| {
        invalid(format!(
            "`{duration}` is not a duration such as `2h` or `90m`"
        ))
    })?;
    if !parsed.is_positive() {
        return Err(invalid(format!("`{duration}` is not a positive duration")));
    }
    starts_at
        .checked_add(parsed)
        .map_err(|_| invalid("the duration is too long".into()))
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

#[cfg(test)]
mod tests {
    use super::{RateLimit, RateLimiter, describe_stages, split_by_weight};
    use proptest::prelude::*;
    use std::time::Duration;

    fn split(weights: &[usize], parts: usize, smallest: usize) -> Vec<Vec<usize>> {
        split_by_weight(weights.to_vec(), parts, smallest, |w| *w)
    }

    #[test]
    fn a_message_larger_than_the_bucket_passes_when_it_is_full_and_leaves_a_debt() {
        let limiter = RateLimiter::default();
        let limit = RateLimit {
            events: 3,
            per: jiff::SignedDuration::from_hours(1),
        };
        assert_eq!(
            limiter.take("k", 4, limit),
            Ok(()),
            "a full bucket takes it"
        );
        let wait = limiter.take("k", 1, limit).unwrap_err();
        // One token of debt and one wanted: two of three per hour, 40 min.
        assert!(
            (wait.as_secs_f64() - 2400.0).abs() < 5.0,
            "waits for the debt too: {wait:?}"
        );
        assert_eq!(limiter.take("other", 2, limit), Ok(()));
        assert!(
            limiter.take("other", 4, limit).is_err(),
            "a bucket not full refuses"
        );
    }

    #[test]
    fn a_debt_longer_than_time_itself_waits_the_longest_wait() {
        let limiter = RateLimiter::default();
        let limit = RateLimit {
            events: 1,
            per: jiff::SignedDuration::from_hours(200_000_000_000),
        };
        assert_eq!(limiter.take("k", 20_000, limit), Ok(()));
        assert_eq!(limiter.take("k", 1, limit), Err(jiff::SignedDuration::MAX));
    }

    #[test]
    fn a_maintenance_window_lasts_a_positive_duration_that_fits_the_calendar() {
        let start: jiff::Timestamp = "2026-11-02T09:00:00Z".parse().unwrap();
        assert_eq!(
            super::window_end(start, " 90m").unwrap(),
            "2026-11-02T10:30:00Z".parse::<jiff::Timestamp>().unwrap()
        );
        for bad in ["soon", "0s", "-2h", "900000000h", ""] {
            match super::window_end(start, bad) {
                Err(crate::app::Error::Invalid { field, .. }) => {
                    assert_eq!(field.as_deref(), Some("duration"), "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_slow_batch_names_its_stages_in_order() {
        let taken = [
            ("begin", Duration::from_micros(400)),
            ("commit", Duration::from_millis(120)),
        ];
        assert_eq!(describe_stages(&taken), "begin 0.4 ms, commit 120.0 ms");
    }

    #[test]
    fn a_small_batch_stays_one_transaction() {
        assert_eq!(split(&[1; 16], 4, 256), vec![vec![1; 16]]);
    }

    #[test]
    fn a_large_batch_is_cut_into_equal_runs_of_whole_messages() {
        assert_eq!(split(&[64; 16], 4, 256), vec![vec![64; 4]; 4]);
        assert_eq!(split(&[64; 16], 1, 256), vec![vec![64; 16]]);
        // Just over two parts' worth: the rest goes to a third.
        assert_eq!(split(&[300, 300, 10], 4, 256).len(), 3);
    }

    proptest! {
        #[test]
        fn splitting_keeps_every_message_in_order_within_the_part_count(
            weights in proptest::collection::vec(0usize..100, 1..60),
            parts in 1usize..6,
            smallest in 0usize..300,
        ) {
            let split = split(&weights, parts, smallest);
            prop_assert!(split.len() <= parts);
            prop_assert!(split.iter().all(|part| !part.is_empty()));
            prop_assert_eq!(split.concat(), weights.clone());
            let total: usize = weights.iter().sum();
            if total <= smallest {
                prop_assert_eq!(split.len(), 1);
            }
        }
    }
}
