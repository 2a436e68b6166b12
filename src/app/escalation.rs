//! Escalation and notification on the job queue. A new alert group of a
//! service with a policy starts an escalation: each step notifies the
//! level's recipients through the outbox (one delivery job per person and
//! channel) and schedules the next step after the level's wait. An
//! acknowledged or resolved group stops it; a spent policy is recorded
//! loudly. Deliveries retry with backoff and land in the dead letters when
//! the receiver keeps failing.

use std::collections::BTreeMap;

use anyhow::Context;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::App;
use crate::domain::alert::Alert;
use crate::domain::alert::{AlertStatus, Severity};
use crate::domain::escalation::{Step, Target};
use crate::domain::event::{Actor, NewEvent, Subject};
use crate::domain::job::{Job, NewJob, Refusal, Retry};
use crate::domain::org::{ContactKind, Org, url_origin};
use crate::store::{AlertGroup, Tx};

pub const ESCALATION_STEP: &str = "escalation.step";
pub const DELIVER: &str = "notification.deliver";
/// The name of the secret that signs outgoing webhooks.
pub(crate) const WEBHOOK_SECRET: &str = "webhook_signing";
/// The name of the secret that signs acknowledge links.
const ACK_SECRET: &str = "ack_links";
/// How long an acknowledge link works.
pub const ACK_LINK_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// Why an acknowledge link does not work.
#[derive(Debug, PartialEq, Eq)]
pub enum AckLinkError {
    Malformed,
    Tampered,
    Expired,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StepPayload {
    group_id: i64,
    policy: String,
    round: u32,
    level: usize,
}

/// One message to one person on one channel.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// Stable across retries, so a receiver can drop a repeat; it starts
    /// with the installation's id ([`crate::store::Store::installation`]),
    /// so no other siaga's deliveries share it.
    pub id: String,
    /// What the message is about, for webhook receivers:
    /// `alert.escalated`, `incident.declared`, `incident.update_due`, …
    #[serde(default = "alert_topic")]
    pub topic: String,
    /// The paged alert group, for alert notifications: a page about a group
    /// someone acknowledged meanwhile is dropped.
    pub group_id: Option<i64>,
    pub alert_id: Option<i64>,
    #[serde(default)]
    pub incident_id: Option<i64>,
    pub person: String,
    pub channel: ContactKind,
    /// Where it goes, as planned; sent to the person's contact method as
    /// the config has it when it is sent (see [`current_address`]).
    pub address: String,
    /// Which of the person's contact methods it is (an index into them);
    /// `None` for a chat channel, which is no person's.
    #[serde(default)]
    pub method: Option<usize>,
    /// How many contact methods the person had when it was planned.
    #[serde(default)]
    pub methods: Option<usize>,
    pub title: String,
    pub text: String,
    pub severity: Option<Severity>,
    pub service: Option<String>,
    pub alert_url: Option<String>,
    pub runbook_url: Option<String>,
    /// A signed, expiring link that acknowledges without logging in.
    #[serde(default)]
    pub acknowledge_url: Option<String>,
    #[serde(default)]
    pub incident_url: Option<String>,
}

fn alert_topic() -> String {
    "alert.escalated".into()
}

impl Delivery {
    /// Where its outcome belongs in the event log.
    fn subject(&self) -> Subject {
        match (self.incident_id, self.group_id) {
            (Some(incident), _) => Subject::new("incident", incident),
            (None, Some(group)) => Subject::new("alert_group", group),
            (None, None) => Subject::new("person", &self.person),
        }
    }
}

fn step_job(payload: &StepPayload, run_at: Timestamp) -> NewJob {
    NewJob {
        unique_key: Some(escalation_timer(payload.group_id)),
        max_attempts: 20,
        ..NewJob::new(
            ESCALATION_STEP,
            serde_json::to_value(payload).unwrap_or_default(),
            run_at,
        )
    }
}

/// The unique key of a group's one escalation timer: its next step, or
/// the check that nobody acknowledged after the last.
pub(crate) fn escalation_timer(group_id: i64) -> String {
    format!("escalation:{group_id}")
}

/// The unique key of the timer that escalates an acknowledged group again.
pub(crate) fn reescalation_timer(group_id: i64) -> String {
    format!("reescalate:{group_id}")
}

/// The check, at `due`, that nobody acknowledged after the last level.
fn exhausted_job(group_id: i64, policy: &str, due: Timestamp) -> NewJob {
    NewJob {
        unique_key: Some(escalation_timer(group_id)),
        ..NewJob::new(
            ESCALATION_EXHAUSTED,
            json!({ "group_id": group_id, "policy": policy }),
            due,
        )
    }
}

/// The event that says a group's escalation started.
pub fn escalation_started(actor: &Actor, group_id: i64, policy: &str) -> NewEvent {
    NewEvent::new(
        actor,
        "escalation.started",
        Subject::new("alert_group", group_id),
    )
    .after(json!({ "policy": policy }))
}

/// Starts the escalation of a group from its first level, as a job due
/// now, inside its transaction, in place of any timer of it (a step being
/// taken right now included). The caller has locked the group.
pub async fn start(
    tx: &mut Tx,
    actor: &Actor,
    group_id: i64,
    policy: &str,
    now: Timestamp,
) -> super::Result<()> {
    let payload = StepPayload {
        group_id,
        policy: policy.to_string(),
        round: 0,
        level: 0,
    };
    replace_escalation_job(tx, group_id, &step_job(&payload, now), now).await?;
    tx.append_event(now, escalation_started(actor, group_id, policy))
        .await?;
    Ok(())
}

/// Where an escalation step is taken: the group, its newest open alert,
/// and what signing its acknowledge links needs.
#[derive(Clone, Copy)]
pub(crate) struct StepAt<'a> {
    pub org: &'a Org,
    pub group: &'a AlertGroup,
    pub alert: &'a Alert,
    pub ack_secret: &'a str,
    pub now: Timestamp,
    /// What takes the step, stable if it runs again after a lost commit
    /// and different for every new page of the group: `j` and the step
    /// job's id, or `m` and the id of the message that opened (or woke)
    /// the group. Part of the deliveries' ids.
    pub taken_by: &'a str,
}

/// What taking an escalation step writes (besides completing its job):
/// the deliveries, the timer of what comes next, and the event saying who
/// was notified.
pub(crate) struct StepWrites {
    pub jobs: Vec<NewJob>,
    pub events: Vec<NewEvent>,
}

/// The path of an acknowledge link, signed with `secret`, good for
/// [`ACK_LINK_LIFETIME`] from `sent_at`.
fn signed_ack_path(secret: &str, alert_id: i64, person: &str, sent_at: Timestamp) -> String {
    let expires = sent_at
        .saturating_add(ACK_LINK_LIFETIME)
        .unwrap_or_default()
        .as_second();
    let claims = format!("{alert_id}.{person}.{expires}");
    let signature = crate::domain::auth::hmac_hex(secret, &[format!("ack:{claims}").as_bytes()]);
    format!("/ack/{claims}.{signature}")
}

/// What a round of notifications is about, and how to name its deliveries.
struct Notify<'a> {
    org: &'a Org,
    group: &'a AlertGroup,
    alert: &'a Alert,
    ack_secret: &'a str,
    /// Distinguishes this round's delivery ids from every other round's of
    /// the group: the step (`round-level-` and what took it) or a manual
    /// action.
    label: &'a str,
    now: Timestamp,
}

/// The deliveries enqueued and the contact methods left out, for the event.
struct Planned {
    deliveries: Vec<serde_json::Value>,
    skipped: Vec<serde_json::Value>,
}

/// Title and text of a notification about `alert`, informative to someone
/// woken at night: what, where, how bad, since when, how often, what to do.
fn message(org: &Org, group: &AlertGroup, alert: &Alert) -> (String, String) {
    // Subject lines and chat titles stay short (a mail line may not pass
    // 998 octets); the summary comes whole in the text.
    let title = crate::domain::shortened(
        &format!(
            "[{}] {}: {}",
            alert.severity.as_str().to_uppercase(),
            alert.service,
            alert.summary
        ),
        crate::domain::incident::MAX_TITLE_CHARS,
    );
    let mut text = format!(
        "{}\nService: {} · severity {} · urgency {}\nSince {} · {} · {} in this group",
        alert.summary,
        alert.service,
        alert.severity.as_str(),
        alert.urgency.as_str(),
        alert.first_seen_at.strftime("%Y-%m-%d %H:%M UTC"),
        crate::domain::counted(alert.event_count, "event"),
        crate::domain::counted(group.alert_count, "alert")
    );
    if let Some(url) = runbook_url(org, alert) {
        text.push_str(&format!("\nRunbook: {url}"));
    }
    if let Some(url) = alert_url(org, alert) {
        text.push_str(&format!("\nAlert: {url}"));
    }
    (title, text)
}

/// The alert's own runbook (Alertmanager's and Grafana's `runbook_url`
/// annotation: the most specific), else its service's; a service whose
/// runbook is written in siaga has it on the service's page.
fn runbook_url(org: &Org, alert: &Alert) -> Option<String> {
    if let Some(own) = alert
        .links
        .iter()
        .find(|link| link.text.as_deref() == Some(crate::formats::RUNBOOK_LINK))
    {
        return Some(own.href.clone());
    }
    let runbook = org.service(&alert.service)?.runbook.as_ref()?;
    if let Some(url) = &runbook.url {
        return Some(url.clone());
    }
    org.settings
        .base_url
        .as_deref()
        .map(|base| format!("{}/services/{}", base.trim_end_matches('/'), alert.service))
}

fn alert_url(org: &Org, alert: &Alert) -> Option<String> {
    org.settings
        .base_url
        .as_deref()
        .map(|base| format!("{}/alerts/{}", base.trim_end_matches('/'), alert.id))
}

impl App {
    /// Whether deliveries on this channel can be sent from this server.
    pub(crate) fn can_deliver(&self, kind: ContactKind) -> bool {
        // SMS and phone calls need a provider siaga does not speak yet.
        matches!(
            kind,
            ContactKind::Webhook | ContactKind::Slack | ContactKind::Teams
        ) || (kind == ContactKind::Email && self.mailer.is_some())
    }

    /// Enqueues the deliveries that `recipients`' notification rules ask
    /// for, each at its delay, inside `tx`.
    async fn enqueue_notifications(
        &self,
        tx: &mut Tx,
        notify: &Notify<'_>,
        recipients: &[String],
    ) -> anyhow::Result<Planned> {
        let (jobs, planned) = self.plan_notifications(notify, recipients)?;
        tx.enqueue_jobs(notify.now, &jobs).await?;
        Ok(planned)
    }

    /// The deliveries that `recipients`' notification rules ask for, each
    /// at its delay, as jobs.
    fn plan_notifications(
        &self,
        notify: &Notify<'_>,
        recipients: &[String],
    ) -> anyhow::Result<(Vec<NewJob>, Planned)> {
        let Notify {
            org,
            group,
            alert,
            now,
            ..
        } = *notify;
        let (title, text) = message(org, group, alert);
        let mut planned = Planned {
            deliveries: Vec::new(),
            skipped: Vec::new(),
        };
        let mut jobs = Vec::new();
        for handle in recipients {
            let Some(person) = org.person(handle) else {
                planned.skipped.push(json!({
                    "person": handle, "channel": "",
                    "reason": "they are not in the config any more",
                }));
                continue;
            };
            for plan in person.planned_notifications(alert.urgency) {
                let channel = plan.method.kind;
                if !self.can_deliver(channel) {
                    planned.skipped.push(json!({
                        "person": handle, "channel": channel.as_str(),
                        "reason": format!("{} notifications are not set up on this server", channel.as_str()),
                    }));
                    continue;
                }
                let id = format!(
                    "{}-{}-{}-{handle}-{}-{}{}",
                    self.store.installation(),
                    group.id,
                    notify.label,
                    plan.rule,
                    channel.as_str(),
                    plan.method_index
                );
                let due = now.saturating_add(plan.after).unwrap_or(now);
                // Good for a day from when it is sent, not from the step: a
                // rule may wait up to a day.
                let ack_path = signed_ack_path(notify.ack_secret, alert.id, handle, due);
                let ack_url = match &org.settings.base_url {
                    Some(base) => format!("{}{ack_path}", base.trim_end_matches('/')),
                    None => ack_path,
                };
                let delivery = Delivery {
                    id: id.clone(),
                    topic: alert_topic(),
                    group_id: Some(group.id),
                    alert_id: Some(alert.id),
                    incident_id: None,
                    person: handle.clone(),
                    channel,
                    address: plan.method.address.clone(),
                    method: Some(plan.method_index),
                    methods: Some(person.contact_methods.len()),
                    title: title.clone(),
                    text: format!("{text}\nAcknowledge: {ack_url}"),
                    severity: Some(alert.severity),
                    service: Some(alert.service.clone()),
                    alert_url: alert_url(org, alert),
                    runbook_url: runbook_url(org, alert),
                    acknowledge_url: Some(ack_url),
                    incident_url: None,
                };
                jobs.push(delivery_job(&delivery, due)?);
                planned.deliveries.push(json!({
                    "person": handle, "channel": channel.as_str(), "delivery": id,
                    "due_at": due,
                }));
            }
        }
        Ok((jobs, planned))
    }

    /// Runs one escalation step and schedules the next, completing `job`
    /// in the same transaction.
    pub async fn escalation_step(&self, job: &Job) -> anyhow::Result<()> {
        let payload: StepPayload =
            serde_json::from_value(job.payload.clone()).context("reading the escalation step")?;
        let now = self.clock.now();
        let actor = Actor::system("escalation");
        let subject = Subject::new("alert_group", payload.group_id);
        let org = self.org_snapshot().await?;
        let step = Step {
            round: payload.round,
            level: payload.level,
        };
        // Before the write: making the secret the first time is a write of
        // its own, and on SQLite a second writer waits for this one.
        let ack_secret = self.ack_secret().await?;
        let mut tx = self.store.write_replayable().await?;
        let group = tx
            .alert_group_for_update(payload.group_id)
            .await
            .context("loading the alert group")?;
        let newest = match group.status {
            AlertStatus::Triggered => tx.newest_open_alert(group.id).await?,
            // Acknowledged or resolved: escalation ends here.
            AlertStatus::Acknowledged | AlertStatus::Resolved => None,
        };
        let Some(alert) = newest else {
            if self.complete_job_in(&mut tx, job).await? {
                tx.commit().await?;
            }
            return Ok(());
        };
        let mut events = Vec::new();
        if org.service(&group.service).is_none() {
            // The config took the service away: its sources can no longer
            // resolve (their keys went with it), so paging would run
            // through every level for nothing. Someone resolves by hand.
            tx.append_event(
                now,
                NewEvent::new(&actor, ESCALATION_STOPPED, subject).after(json!({
                    "reason": format!("the service {} is no longer in the config", group.service)
                })),
            )
            .await?;
            if self.complete_job_in(&mut tx, job).await? {
                tx.commit().await?;
            }
            return Ok(());
        }
        let (policy, step) = match org
            .escalation_policy(&payload.policy)
            .filter(|policy| policy.level(step).is_some())
        {
            Some(policy) => (policy, step),
            None => {
                // The config changed under a running escalation. A policy
                // that lost this level has run out as it stands now; one
                // that went is replaced by the service's policy as it is
                // now, from its first level. With neither, it stops, as
                // loudly as a policy that ran out, and says why.
                let (reason, current) = match org.escalation_policy(&payload.policy) {
                    Some(_) => (
                        format!(
                            "the policy {} has no level {} any more",
                            payload.policy,
                            payload.level + 1
                        ),
                        None,
                    ),
                    None => (
                        format!("the policy {} no longer exists", payload.policy),
                        org.service(&group.service)
                            .and_then(|service| service.escalation_policy.as_deref())
                            .and_then(|name| org.escalation_policy(name)),
                    ),
                };
                let Some(current) = current else {
                    tx.append_event(
                        now,
                        NewEvent::new(&actor, ESCALATION_STOPPED, subject)
                            .after(json!({ "reason": reason })),
                    )
                    .await?;
                    if self.complete_job_in(&mut tx, job).await? {
                        tx.commit().await?;
                    }
                    return Ok(());
                };
                events.push(
                    NewEvent::new(&actor, "escalation.started", subject.clone()).after(
                        json!({ "policy": current.name, "reason": format!("{reason}: starting over") }),
                    ),
                );
                (current, current.first_step())
            }
        };
        let writes = self
            .take_step(
                &mut tx,
                &StepAt {
                    org: &org,
                    group: &group,
                    alert: &alert,
                    ack_secret: &ack_secret,
                    now,
                    taken_by: &format!("j{}", job.id),
                },
                policy,
                step,
            )
            .await?;
        if !self.complete_job_in(&mut tx, job).await? {
            return Ok(());
        }
        events.extend(writes.events);
        tx.enqueue_jobs(now, &writes.jobs).await?;
        tx.append_events(now, &events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes `step` of `policy` for `group`, whose newest open alert is
    /// `alert`: reads who is on call for the level's schedules and returns
    /// the deliveries, the timer of what comes next and the event, for the
    /// caller to write with the rest of its transaction (the step's job, or
    /// the ingestion batch that opened the group).
    pub(crate) async fn take_step(
        &self,
        tx: &mut Tx,
        at: &StepAt<'_>,
        policy: &crate::domain::escalation::EscalationPolicy,
        step: Step,
    ) -> anyhow::Result<StepWrites> {
        let StepAt {
            org,
            group,
            alert,
            ack_secret,
            now,
            taken_by,
        } = *at;
        let level = policy
            .level(step)
            .context("the step points past the policy's levels")?;
        let mut on_call: BTreeMap<String, Option<String>> = BTreeMap::new();
        for target in &level.targets {
            if let Target::Schedule(name) = target
                && let Some(schedule) = org.schedule(name)
            {
                on_call.insert(name.clone(), self.on_call_person(tx, schedule, now).await?);
            }
        }
        let recipients = policy.recipients(step, org, |schedule| {
            on_call.get(schedule).cloned().flatten()
        });
        let (mut jobs, planned) = self.plan_notifications(
            &Notify {
                org,
                group,
                alert,
                ack_secret,
                // A level paged again (a re-escalation, a reopened group,
                // escalate-now) is a new page, with new ids; the same step
                // taken again after a lost commit repeats its ids.
                label: &format!("{}-{}-{taken_by}", step.round, step.level),
                now,
            },
            &recipients,
        )?;
        let notified = NewEvent::new(
            &Actor::system("escalation"),
            "escalation.notified",
            Subject::new("alert_group", group.id),
        )
        .after(json!({
            "policy": policy.name, "round": step.round, "level": step.level,
            "recipients": recipients, "deliveries": planned.deliveries,
            "skipped": planned.skipped,
        }));
        let next_at = now.saturating_add(level.wait).unwrap_or(now);
        jobs.push(match policy.after(step) {
            Some(next) => step_job(
                &StepPayload {
                    group_id: group.id,
                    policy: policy.name.clone(),
                    round: next.round,
                    level: next.level,
                },
                next_at,
            ),
            // Scheduled for after the last wait, so the last level gets its
            // chance before the policy counts as spent.
            None => exhausted_job(group.id, &policy.name, next_at),
        });
        Ok(StepWrites {
            jobs,
            events: vec![notified],
        })
    }

    /// An acknowledged group left unresolved too long: its acknowledged
    /// alerts trigger again and the policy starts over.
    pub async fn reescalate(&self, job: &Job) -> anyhow::Result<()> {
        let payload = &job.payload;
        let group_id = payload["group_id"]
            .as_i64()
            .context("the job names no alert group")?;
        let policy = payload["policy"]
            .as_str()
            .context("the job names no policy")?;
        let now = self.clock.now();
        let actor = Actor::system("escalation");
        let mut tx = self.store.write().await?;
        // Locks in the order every writer keeps (see `Tx::cancel_job`):
        // the alerts (retriggered), the group, then the jobs.
        let acknowledged = tx.alert_group(group_id).await?.status == AlertStatus::Acknowledged;
        if acknowledged {
            retrigger_group(&mut tx, &actor, group_id, now).await?;
        }
        let group = tx.alert_group_for_update(group_id).await?;
        if !self.complete_job_in(&mut tx, job).await? {
            return Ok(());
        }
        if acknowledged && group.status == AlertStatus::Triggered {
            start(&mut tx, &actor, group_id, policy, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A maintenance window of a service ended: its groups still
    /// triggered that opened during it, silent so far, start escalating,
    /// as their alerts would have paged had they fired now. Nothing yet
    /// while another window still holds the service.
    pub async fn maintenance_ended(&self, job: &Job) -> anyhow::Result<()> {
        let service = job.payload["service"]
            .as_str()
            .context("the job names no service")?;
        let now = self.clock.now();
        // The config as it is now: this job may come from the apply that
        // removed or cut short a window a moment ago.
        let org = self.org_checked_within(std::time::Duration::ZERO).await?;
        let policy = org
            .service(service)
            .and_then(|s| s.escalation_policy.clone());
        let actor = Actor::system("maintenance");
        let mut tx = self.store.write().await?;
        // Read under the lock a new window takes: one started at this very
        // moment holds the groups still.
        tx.lock(&super::alerts::maintenance_lock(service)).await?;
        let held = super::alerts::configured_maintenance(&org, service, now)
            || tx
                .maintenance_windows(Some(service), now)
                .await?
                .iter()
                .any(|w| w.cancelled_at.is_none() && w.starts_at <= now && now < w.ends_at);
        if !held {
            for group_id in tx.groups_held_by_maintenance(service).await? {
                // The group before the jobs: see `Tx::cancel_job`.
                let group = tx.alert_group_for_update(group_id).await?;
                if group.status != AlertStatus::Triggered || !group.in_maintenance {
                    continue;
                }
                tx.release_group_from_maintenance(group_id).await?;
                tx.append_event(
                    now,
                    NewEvent::new(
                        &actor,
                        "alert_group.maintenance_ended",
                        Subject::new("alert_group", group_id),
                    )
                    .after(json!({ "service": service })),
                )
                .await?;
                if let Some(policy) = &policy {
                    start(&mut tx, &actor, group_id, policy, now).await?;
                }
            }
        }
        if self.complete_job_in(&mut tx, job).await? {
            tx.commit().await?;
        }
        Ok(())
    }

    /// After the last level's wait: if still nobody acknowledged, say so.
    pub async fn escalation_exhausted(&self, job: &Job) -> anyhow::Result<()> {
        let payload = &job.payload;
        let group_id = payload["group_id"]
            .as_i64()
            .context("the job names no alert group")?;
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        // The group before the job: see `Tx::cancel_job`.
        let group = tx.alert_group_for_update(group_id).await?;
        if !self.complete_job_in(&mut tx, job).await? {
            return Ok(());
        }
        if group.status == AlertStatus::Triggered {
            tx.append_event(
                now,
                NewEvent::new(
                    &Actor::system("escalation"),
                    "escalation.exhausted",
                    Subject::new("alert_group", group_id),
                )
                .after(json!({ "policy": payload["policy"], "message": "nobody acknowledged" })),
            )
            .await?;
            metrics::counter!("siaga_escalations_unacknowledged_total").increment(1);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sends one delivery. An error leaves it to the job queue to retry.
    pub async fn deliver(&self, job: &Job) -> anyhow::Result<()> {
        let delivery: Delivery =
            serde_json::from_value(job.payload.clone()).context("reading the delivery")?;
        let now = self.clock.now();
        // Is the page still wanted? Not worth asking for a first attempt
        // sent as soon as the step that made it saw the group unanswered.
        let fresh = job.attempts <= 1
            && job.run_at <= job.created_at
            && now.duration_since(job.created_at) < jiff::SignedDuration::from_secs(2);
        let group = match (delivery.group_id, delivery.alert_id) {
            (Some(group_id), Some(alert_id)) if !fresh => {
                let mut tx = self.store.read().await?;
                Some((tx.alert_group(group_id).await?, tx.alert(alert_id).await?))
            }
            _ => None,
        };
        if let Some((group, _)) = &group
            && group.status != AlertStatus::Triggered
        {
            // Someone answered before this one was due (a later rule, or
            // a retry): a page about a handled alert is noise.
            let reason = format!("the alert is {}", group.status.as_str());
            return self.skip_delivery(&delivery, job, reason, now).await;
        }
        let org = self.org_snapshot().await?;
        let mut delivery = delivery;
        if let Some((group, alert)) = &group {
            // Sent later than planned (a rule's delay, a retry): the
            // message says how things stand now, not when it was planned.
            let (title, text) = message(&org, group, alert);
            delivery.title = title;
            delivery.text = match &delivery.acknowledge_url {
                Some(ack_url) => format!("{text}\nAcknowledge: {ack_url}"),
                None => text,
            };
        }
        match current_address(&org, &delivery) {
            Ok(address) => delivery.address = address,
            Err(reason) => return self.skip_delivery(&delivery, job, reason, now).await,
        }
        if delivery.channel == ContactKind::Email {
            self.send_email(&delivery, now).await?;
            return self.confirm_delivered(&delivery, job, now).await;
        }
        let body = match delivery.channel {
            ContactKind::Slack => super::chat::slack_body(&delivery),
            ContactKind::Teams => super::chat::teams_body(&delivery),
            _ => json!({
                "type": delivery.topic,
                "delivery_id": delivery.id,
                "title": delivery.title,
                "text": delivery.text,
                "severity": delivery.severity,
                "service": delivery.service,
                "alert_id": delivery.alert_id,
                "alert_group_id": delivery.group_id,
                "incident_id": delivery.incident_id,
                "incident_url": delivery.incident_url,
                "alert_url": delivery.alert_url,
                "runbook_url": delivery.runbook_url,
                "acknowledge_url": delivery.acknowledge_url,
            }),
        }
        .to_string();
        let timestamp = now.as_second().to_string();
        let mut request = crate::outbound::http_client()?
            .post(&delivery.address)
            .header("content-type", "application/json")
            .header("x-siaga-delivery", &delivery.id)
            .timeout(std::time::Duration::from_secs(10));
        if delivery.channel == ContactKind::Webhook {
            let secret = self.webhook_secret().await?;
            let signed = format!("{timestamp}.{body}");
            let signature = crate::domain::auth::hmac_hex(&secret, &[signed.as_bytes()]);
            request = request
                .header("x-siaga-timestamp", &timestamp)
                .header("x-siaga-signature", format!("v1={signature}"));
        }
        let response = request
            .body(body)
            .send()
            .await
            // The error is shown on alert pages: the URL's path can be the
            // channel's secret (a Slack webhook), so only its origin.
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("sending to {}", url_origin(&delivery.address)))?;
        let status = response.status();
        let origin = url_origin(&delivery.address);
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|to| to.to_str().ok())
            .map(url_origin)
            .filter(|origin| origin != "…");
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, now));
        // Read for what the receiver said: Slack names the fault in the
        // body (`channel_is_archived`), and Teams connectors answer 200
        // with the failure in it.
        let said = excerpt(response, &delivery.address).await;
        if status.is_success()
            && delivery.channel == ContactKind::Teams
            && said.to_lowercase().contains("delivery failed")
        {
            // "Webhook message delivery failed with error: Microsoft Teams
            // endpoint returned HTTP error 429 …": judged as that status.
            let inner = said
                .split("HTTP error ")
                .nth(1)
                .and_then(|rest| rest.get(..3))
                .and_then(|code| code.parse::<u16>().ok())
                .and_then(|code| reqwest::StatusCode::from_u16(code).ok())
                .unwrap_or(reqwest::StatusCode::SERVICE_UNAVAILABLE);
            return Err(judge_answer(
                inner,
                retry_after,
                &format!("{origin} answered HTTP {status} but said: {said}"),
                location.as_deref(),
            ));
        }
        if !status.is_success() {
            let said = if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            };
            return Err(judge_answer(
                status,
                retry_after,
                &format!("{origin} answered HTTP {status}{said}"),
                location.as_deref(),
            ));
        }
        self.confirm_delivered(&delivery, job, now).await
    }

    /// Completes a delivery that is not sent, saying why.
    async fn skip_delivery(
        &self,
        delivery: &Delivery,
        job: &Job,
        reason: String,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let mut tx = self.store.write().await?;
        if !self.complete_job_in(&mut tx, job).await? {
            return Ok(());
        }
        tx.append_event(
                now,
                NewEvent::new(&Actor::system("notifications"), "notification.skipped", delivery.subject())
                    .after(json!({
                        "delivery": delivery.id, "person": delivery.person, "channel": delivery.channel.as_str(),
                        "reason": reason,
                    })),
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a delivery the receiver took, trying again for a few seconds
    /// (the job's lease is renewed meanwhile) when the database refuses:
    /// what was sent must not count as a failed delivery, to be sent again
    /// and perhaps dead-lettered, for want of one write.
    async fn confirm_delivered(
        &self,
        delivery: &Delivery,
        job: &Job,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let mut wait = std::time::Duration::from_millis(200);
        for _ in 0..CONFIRM_ATTEMPTS - 1 {
            match self.record_delivered(delivery, job, now).await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    tracing::warn!(delivery = %delivery.id, "recording a sent delivery: {error:#}; trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
        self.record_delivered(delivery, job, now)
            .await
            .context("delivered, but recording it failed")
    }

    /// Emails one delivery. The Message-ID and `X-Siaga-Delivery` come from
    /// the delivery id, so a repeat after a crash is recognisable.
    async fn send_email(&self, delivery: &Delivery, now: Timestamp) -> anyhow::Result<()> {
        let mailer = self.mailer.as_ref().context(
            "email needs an SMTP server: start siaga serve with --smtp-url and --smtp-from",
        )?;
        let email = crate::mail::Email {
            to: delivery.address.clone(),
            subject: delivery.title.clone(),
            text: delivery.text.clone(),
            message_id: crate::mail::message_id(&delivery.id, mailer.domain()),
            headers: vec![("X-Siaga-Delivery".into(), delivery.id.clone())],
            date: now,
        };
        mailer.send(&email).await.map_err(|error| {
            let failure = if error.is_permanent() {
                // A mail server's 5xx (no such mailbox, relaying denied) or
                // an address that is none: asking again cannot help.
                anyhow::Error::new(Refusal {
                    message: format!("{error}; not retried: fix the address or the mail server, then retry it from the dead letters"),
                    retry: Retry::Never,
                })
            } else {
                anyhow::Error::new(error)
            };
            failure.context(format!("emailing {}", delivery.address))
        })
    }

    async fn record_delivered(
        &self,
        delivery: &Delivery,
        job: &Job,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        // Confirmed and completed together: once this commits, the delivery
        // is never sent again.
        let mut tx = self.store.write_replayable().await?;
        if !self.complete_job_in(&mut tx, job).await? {
            return Ok(());
        }
        tx.append_event(
            now,
            NewEvent::new(&Actor::system("notifications"), "notification.delivered", delivery.subject())
                .after(json!({ "delivery": delivery.id, "person": delivery.person, "channel": delivery.channel.as_str() })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The secret acknowledge links are signed with. Asked for before a
    /// write transaction: the first time, it is made with a write of its own.
    pub(crate) async fn ack_secret(&self) -> anyhow::Result<String> {
        self.secret(ACK_SECRET).await
    }

    /// A one-click acknowledge link for `person` and one alert: signed, good
    /// for that alert only, expiring. The path, under the organisation's
    /// base URL when it has one.
    pub async fn ack_link(&self, alert_id: i64, person: &str) -> anyhow::Result<String> {
        let secret = self.secret(ACK_SECRET).await?;
        Ok(signed_ack_path(&secret, alert_id, person, self.clock.now()))
    }

    /// Checks an acknowledge link: (alert id, person) when it is genuine and
    /// unexpired.
    pub async fn check_ack_link(
        &self,
        token: &str,
    ) -> anyhow::Result<Result<(i64, String), AckLinkError>> {
        let parts: Vec<&str> = token.split('.').collect();
        let [alert_id, person, expires, signature] = parts.as_slice() else {
            return Ok(Err(AckLinkError::Malformed));
        };
        let (Ok(alert_id), Ok(expires)) = (alert_id.parse::<i64>(), expires.parse::<i64>()) else {
            return Ok(Err(AckLinkError::Malformed));
        };
        let claims = format!("ack:{alert_id}.{person}.{expires}");
        if !crate::domain::auth::hmac_matches(
            &self.secret(ACK_SECRET).await?,
            &[claims.as_bytes()],
            signature,
        ) {
            return Ok(Err(AckLinkError::Tampered));
        }
        if self.clock.now().as_second() > expires {
            return Ok(Err(AckLinkError::Expired));
        }
        Ok(Ok((alert_id, person.to_string())))
    }

    /// Acknowledges the alert of a genuine link, as the person it was sent
    /// to, with the rest of its group: the page was about the group, so a
    /// link whose alert was acknowledged (by its source, say) or resolved
    /// meanwhile still stops the escalation of the group's others. Answers
    /// the alert and its group as they stand after.
    pub async fn acknowledge_by_link(
        &self,
        token: &str,
    ) -> super::Result<Result<super::alerts::AlertDetail, AckLinkError>> {
        let (alert_id, person) = match self.check_ack_link(token).await? {
            Ok(found) => found,
            Err(error) => return Ok(Err(error)),
        };
        let actor = Actor {
            kind: "ack_link".into(),
            name: person.clone(),
        };
        match self
            .change_alert_status_as(
                &actor,
                &person,
                alert_id,
                crate::domain::alert::Outcome::Acknowledge,
            )
            .await
        {
            Ok(_) => {}
            // Resolved: its group may escalate still.
            Err(super::Error::Conflict(_)) => {
                self.acknowledge_group_of(&actor, &person, alert_id).await?;
            }
            Err(other) => return Err(other),
        }
        Ok(Ok(self.alert_detail(alert_id).await?))
    }

    /// The secret outgoing webhooks are signed with (HMAC-SHA256 over
    /// `TIMESTAMP.BODY`, in `X-Siaga-Signature: v1=HEX`).
    pub async fn webhook_secret(&self) -> anyhow::Result<String> {
        self.secret(WEBHOOK_SECRET).await
    }
}

pub const ESCALATION_EXHAUSTED: &str = "escalation.exhausted";
/// A running escalation whose policy the config took away, on a service
/// left with none: nobody will be paged, which counts as unacknowledged.
pub const ESCALATION_STOPPED: &str = "escalation.stopped";
pub const MAINTENANCE_ENDED: &str = "maintenance.ended";

/// Where `delivery` goes now: the person's contact method as the config
/// has it at sending, so that an address fixed after a failure is where
/// the retried dead letter goes, or why it goes nowhere (the person or the
/// method left the config). The planned address while the person still has
/// it; else, when the person has as many contact methods as when it was
/// planned (an address edited in place), the method in the same place if
/// it is of the same kind. A method taken out moves the others up: the one
/// now in its place has deliveries of its own.
fn current_address(org: &Org, delivery: &Delivery) -> Result<String, String> {
    let Some(index) = delivery.method else {
        return Ok(delivery.address.clone());
    };
    let Some(person) = org.person(&delivery.person) else {
        return Err("they are not in the config any more".into());
    };
    let methods = &person.contact_methods;
    let same_kind = |m: &&crate::domain::org::ContactMethod| m.kind == delivery.channel;
    if let Some(kept) = methods
        .iter()
        .filter(same_kind)
        .find(|m| m.address == delivery.address)
    {
        return Ok(kept.address.clone());
    }
    let edited_in_place = delivery.methods == Some(methods.len());
    match methods
        .get(index)
        .filter(same_kind)
        .filter(|_| edited_in_place)
    {
        Some(changed) => Ok(changed.address.clone()),
        None => Err(format!(
            "their {} contact method is not in the config any more",
            delivery.channel.as_str()
        )),
    }
}

/// How many times a delivery is attempted before it is a dead letter.
pub const DELIVERY_ATTEMPTS: u32 = 12;

/// The failure a receiver's answer other than "taken" means: a redirect
/// or a client error (the address is wrong, the channel archived, the
/// payload refused) is not retried, for asking again cannot help; a
/// server error, a timeout or "too many requests" is, not before the time
/// the receiver named. So are 401 and 403: a receiver may be refusing
/// the signature for the minute it takes to learn a rotated secret.
fn judge_answer(
    status: reqwest::StatusCode,
    retry_after: Option<SignedDuration>,
    answered: &str,
    redirected_to: Option<&str>,
) -> anyhow::Error {
    use reqwest::StatusCode;
    let transient = status.is_server_error()
        || matches!(
            status,
            StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
                | StatusCode::REQUEST_TIMEOUT
                | StatusCode::TOO_EARLY
                | StatusCode::TOO_MANY_REQUESTS
        );
    if transient {
        return match retry_after {
            Some(wait) => anyhow::Error::new(Refusal {
                message: format!("{answered}; asked to wait {wait:#}"),
                retry: Retry::NotBefore(wait),
            }),
            None => anyhow::anyhow!("{answered}"),
        };
    }
    let message = if status.is_redirection() {
        let to = redirected_to
            .map(|to| format!(" to {to}"))
            .unwrap_or_default();
        format!(
            "{answered}, a redirect{to}: siaga does not follow redirects, so give the address it points to"
        )
    } else {
        format!(
            "{answered}; not retried: fix the address or the receiver, then retry it from the dead letters"
        )
    };
    anyhow::Error::new(Refusal {
        message,
        retry: Retry::Never,
    })
}

/// A `Retry-After` value: seconds, or an HTTP date.
fn parse_retry_after(value: &str, now: Timestamp) -> Option<SignedDuration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u32>() {
        return Some(SignedDuration::from_secs(i64::from(seconds)));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Some(at.duration_since(now).max(SignedDuration::ZERO))
}

/// The start of a response's body on one line, for the delivery's error,
/// shown on alert pages: the address's path and query (a Slack or Teams
/// webhook's secret) cut out where the receiver repeats them ("Cannot
/// POST /hook/…").
async fn excerpt(mut response: reqwest::Response, address: &str) -> String {
    const READ: usize = 1024;
    let mut bytes = Vec::new();
    while bytes.len() < READ {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(READ);
    let mut text: String = String::from_utf8_lossy(&bytes)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if let Ok(url) = url::Url::parse(address) {
        let secret = &url[url::Position::BeforePath..];
        for shown in [secret, url.path()] {
            if shown.len() > 1 {
                text = text.replace(shown, "/…");
            }
        }
    }
    crate::domain::shortened(&text, 300)
}

/// The check, when a maintenance window of `service` ends at `at` (or is
/// ended early), that pages for the groups it kept quiet. One per service
/// and time: declaring the same window again adds none.
pub(crate) fn maintenance_end_job(service: &str, at: Timestamp) -> NewJob {
    NewJob {
        unique_key: Some(format!("maintenance-end:{service}:{}", at.as_millisecond())),
        ..NewJob::new(MAINTENANCE_ENDED, json!({ "service": service }), at)
    }
}
/// Tries at recording a sent delivery, 0.2 s apart and doubling (3 s in all).
const CONFIRM_ATTEMPTS: u32 = 5;
pub const REESCALATE: &str = "escalation.reescalate";

/// Re-escalates an acknowledged group still unresolved at `at`.
pub async fn schedule_reescalation(
    tx: &mut Tx,
    group_id: i64,
    policy: &str,
    at: Timestamp,
) -> crate::store::Result<()> {
    let job = NewJob {
        unique_key: Some(reescalation_timer(group_id)),
        ..NewJob::new(
            REESCALATE,
            json!({ "group_id": group_id, "policy": policy }),
            at,
        )
    };
    tx.enqueue_job(at, &job).await?;
    Ok(())
}

/// Where an alert should go when reassigned by hand.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Assignee {
    /// Page this person now; the escalation carries on from the current
    /// level if they do not acknowledge in its wait.
    Person(String),
    /// Escalate along this policy from its first level.
    Policy(String),
}

/// Where an escalation stands after a manual action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EscalationState {
    pub alert_group_id: i64,
    pub policy: Option<String>,
    /// 1-based, as people count levels; the level being notified now, or
    /// next when a person was paged by hand.
    pub level: Option<usize>,
    pub round: Option<u32>,
    /// Who was paged by a reassignment.
    pub paged: Vec<String>,
}

/// The policy a group escalates along and the last step taken, as the
/// event log tells.
pub(crate) struct Progress {
    pub policy: Option<String>,
    pub last_step: Option<Step>,
}

/// How many of a group's newest escalation events tell where it stands.
pub(crate) const PROGRESS_MOVES: u32 = 50;

impl Progress {
    /// Reads a group's events, newest first; without a policy among them,
    /// the group's service's policy.
    pub(crate) fn from_events<'a>(
        newest_first: impl IntoIterator<Item = &'a crate::domain::event::Event>,
        group: &AlertGroup,
        org: &Org,
    ) -> Progress {
        let mut progress = Progress {
            policy: None,
            last_step: None,
        };
        for event in newest_first {
            let after = event.after.clone().unwrap_or_default();
            if progress.last_step.is_none() && event.action == "escalation.notified" {
                progress.last_step = Some(Step {
                    round: after["round"].as_u64().unwrap_or(0) as u32,
                    level: after["level"].as_u64().unwrap_or(0) as usize,
                });
            }
            if progress.policy.is_none()
                && matches!(
                    event.action.as_str(),
                    "escalation.started" | "escalation.notified" | "alert.reassigned"
                )
                && let Some(policy) = after["policy"].as_str()
            {
                progress.policy = Some(policy.to_string());
            }
        }
        if progress.policy.is_none() {
            progress.policy = org
                .service(&group.service)
                .and_then(|s| s.escalation_policy.clone());
        }
        progress
    }
}

impl App {
    async fn progress(
        &self,
        tx: &mut Tx,
        group: &AlertGroup,
        org: &Org,
    ) -> anyhow::Result<Progress> {
        let moves = tx.escalation_moves(group.id, PROGRESS_MOVES).await?;
        Ok(Progress::from_events(&moves, group, org))
    }

    /// Loads an alert's group for a manual action, refusing a resolved one.
    async fn group_for_manual_action(
        &self,
        tx: &mut Tx,
        alert_id: i64,
    ) -> super::Result<(Alert, AlertGroup)> {
        let alert = tx
            .alert_for_update(alert_id)
            .await
            .map_err(|e| super::auth::not_found(e, format!("alert {alert_id}")))?;
        if alert.status == AlertStatus::Resolved {
            return Err(super::Error::Conflict(format!(
                "alert {alert_id} is resolved: there is nothing to page about (escalate an open alert of its group instead)"
            )));
        }
        // Not locked yet: the caller retriggers the group, which writes its
        // alerts and then its row, the order every writer keeps (alerts,
        // their group, its jobs).
        let group = tx.alert_group(alert.group_id).await?;
        Ok((alert, group))
    }

    /// Escalates an alert's group now: to `level` (1-based) of its policy,
    /// or to the level after the one last notified (the first, when the
    /// policy ran out). An acknowledged group triggers again.
    pub async fn escalate_alert(
        &self,
        caller: &super::Caller,
        alert_id: i64,
        level: Option<usize>,
    ) -> super::Result<EscalationState> {
        caller.require(crate::domain::auth::Role::Responder)?;
        self.retrying(|| self.escalate_alert_once(caller, alert_id, level))
            .await
    }

    async fn escalate_alert_once(
        &self,
        caller: &super::Caller,
        alert_id: i64,
        level: Option<usize>,
    ) -> super::Result<EscalationState> {
        let org = self.org_snapshot().await?;
        let now = self.clock.now();
        let actor = caller.actor();
        let mut tx = self.store.write().await?;
        let (_, group) = self.group_for_manual_action(&mut tx, alert_id).await?;
        // Retriggered first, which locks the group: a step committed after
        // the progress was read would be paged again.
        retrigger_group(&mut tx, &actor, group.id, now).await?;
        let progress = self.progress(&mut tx, &group, &org).await?;
        let Some(policy) = progress
            .policy
            .as_deref()
            .and_then(|p| org.escalation_policy(p))
        else {
            return Err(super::Error::Conflict(format!(
                "the alert's service {} has no escalation policy: reassign the alert to a person or a policy instead",
                group.service
            )));
        };
        let step = match level {
            Some(level) if level == 0 || level > policy.levels.len() => {
                return Err(super::Error::invalid(
                    "invalid_level",
                    "level",
                    format!(
                        "level {level} does not exist: the policy {} has levels 1 to {}",
                        policy.name,
                        policy.levels.len()
                    ),
                ));
            }
            Some(level) => Step {
                round: progress.last_step.map_or(0, |s| s.round),
                level: level - 1,
            },
            // After the last level (nobody acknowledged), it starts over.
            None => progress
                .last_step
                .and_then(|last| policy.after(last))
                .unwrap_or(policy.first_step()),
        };
        let job = step_job(
            &StepPayload {
                group_id: group.id,
                policy: policy.name.clone(),
                round: step.round,
                level: step.level,
            },
            now,
        );
        replace_escalation_job(&mut tx, group.id, &job, now).await?;
        // Escalated again: a later acknowledgement sets its own timer.
        tx.cancel_job(&reescalation_timer(group.id), now).await?;
        tx.append_event(
            now,
            NewEvent::new(
                &actor,
                "escalation.escalated",
                Subject::new("alert_group", group.id),
            )
            .after(json!({
                "policy": policy.name, "round": step.round, "level": step.level,
                "alert": alert_id,
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(EscalationState {
            alert_group_id: group.id,
            policy: Some(policy.name.clone()),
            level: Some(step.level + 1),
            round: Some(step.round),
            paged: Vec::new(),
        })
    }

    /// Reassigns an alert's group: pages a person now, or starts another
    /// policy. An acknowledged group triggers again, so the new assignee
    /// must acknowledge it themselves.
    pub async fn reassign_alert(
        &self,
        caller: &super::Caller,
        alert_id: i64,
        to: &Assignee,
    ) -> super::Result<EscalationState> {
        caller.require(crate::domain::auth::Role::Responder)?;
        self.retrying(|| self.reassign_alert_once(caller, alert_id, to))
            .await
    }

    async fn reassign_alert_once(
        &self,
        caller: &super::Caller,
        alert_id: i64,
        to: &Assignee,
    ) -> super::Result<EscalationState> {
        let org = self.org_snapshot().await?;
        let unknown = |field: &str, what: &str, name: &str, names: Vec<String>| {
            let hint = crate::config::closest(name, names.into_iter())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            super::Error::invalid(
                "unknown_assignee",
                field,
                format!("unknown {what} `{name}`{hint}"),
            )
        };
        match to {
            Assignee::Person(handle) if org.person(handle).is_none() => {
                let names = org.people.iter().map(|p| p.handle.clone()).collect();
                return Err(unknown("person", "person", handle, names));
            }
            Assignee::Policy(name) if org.escalation_policy(name).is_none() => {
                let names = org
                    .escalation_policies
                    .iter()
                    .map(|p| p.name.clone())
                    .collect();
                return Err(unknown("policy", "escalation policy", name, names));
            }
            _ => {}
        }
        let ack_secret = self.secret(ACK_SECRET).await?;
        let now = self.clock.now();
        let actor = caller.actor();
        let mut tx = self.store.write().await?;
        let (alert, group) = self.group_for_manual_action(&mut tx, alert_id).await?;
        retrigger_group(&mut tx, &actor, group.id, now).await?;
        let progress = self.progress(&mut tx, &group, &org).await?;
        let group = tx.alert_group(group.id).await?;
        let mut state = EscalationState {
            alert_group_id: group.id,
            policy: None,
            level: None,
            round: None,
            paged: Vec::new(),
        };
        let (event, next) = match to {
            Assignee::Person(handle) => {
                let planned = self
                    .enqueue_notifications(
                        &mut tx,
                        &Notify {
                            org: &org,
                            group: &group,
                            alert: &alert,
                            ack_secret: &ack_secret,
                            label: &format!("reassigned{}", now.as_millisecond()),
                            now,
                        },
                        std::slice::from_ref(handle),
                    )
                    .await?;
                state.paged.push(handle.clone());
                // If the new assignee stays silent, the policy carries on
                // where it was, after the wait of the level it was at.
                let policy = progress
                    .policy
                    .as_deref()
                    .and_then(|p| org.escalation_policy(p));
                let next = policy.and_then(|policy| {
                    let current = progress.last_step.unwrap_or(policy.first_step());
                    let wait = policy.level(current)?.wait;
                    let due = now.saturating_add(wait).unwrap_or(now);
                    state.policy = Some(policy.name.clone());
                    let next = match progress.last_step {
                        None => current,
                        Some(last) => match policy.after(last) {
                            Some(next) => next,
                            // Past the last level: if the person stays
                            // silent too, nobody acknowledged, loudly again.
                            None => return Some(exhausted_job(group.id, &policy.name, due)),
                        },
                    };
                    state.level = Some(next.level + 1);
                    state.round = Some(next.round);
                    Some(step_job(
                        &StepPayload {
                            group_id: group.id,
                            policy: policy.name.clone(),
                            round: next.round,
                            level: next.level,
                        },
                        due,
                    ))
                });
                let event = json!({
                    "person": handle, "policy": state.policy, "alert": alert_id,
                    "deliveries": planned.deliveries, "skipped": planned.skipped,
                });
                (event, next)
            }
            Assignee::Policy(name) => {
                state.policy = Some(name.clone());
                state.level = Some(1);
                state.round = Some(0);
                let job = step_job(
                    &StepPayload {
                        group_id: group.id,
                        policy: name.clone(),
                        round: 0,
                        level: 0,
                    },
                    now,
                );
                (json!({ "policy": name, "alert": alert_id }), Some(job))
            }
        };
        match next {
            Some(job) => replace_escalation_job(&mut tx, group.id, &job, now).await?,
            None => {
                tx.cancel_job(&escalation_timer(group.id), now).await?;
            }
        }
        tx.cancel_job(&reescalation_timer(group.id), now).await?;
        tx.append_event(
            now,
            NewEvent::new(
                &actor,
                "alert.reassigned",
                Subject::new("alert_group", group.id),
            )
            .after(event),
        )
        .await?;
        tx.commit().await?;
        Ok(state)
    }
}

/// Puts one delivery in the outbox, due at `due`. Its id keeps it unique:
/// enqueuing it again while it is pending changes nothing.
pub(crate) async fn enqueue_delivery(
    tx: &mut Tx,
    delivery: &Delivery,
    due: Timestamp,
    now: Timestamp,
) -> anyhow::Result<()> {
    tx.enqueue_job(now, &delivery_job(delivery, due)?).await?;
    Ok(())
}

/// The job that sends `delivery` at `due`, retried with backoff.
fn delivery_job(delivery: &Delivery, due: Timestamp) -> anyhow::Result<NewJob> {
    Ok(NewJob {
        unique_key: Some(format!("deliver:{}", delivery.id)),
        // Twelve attempts, the last about 70 minutes after the first: a
        // receiver down for an hour still gets the page if the alert is
        // still unanswered (a retry is dropped once it is not).
        max_attempts: DELIVERY_ATTEMPTS,
        ..NewJob::new(DELIVER, serde_json::to_value(delivery)?, due)
    })
}

/// Triggers a group's acknowledged alerts again, so that paging resumes.
async fn retrigger_group(
    tx: &mut Tx,
    actor: &Actor,
    group_id: i64,
    now: Timestamp,
) -> crate::store::Result<()> {
    super::alerts::change_group_alerts(
        tx,
        actor,
        group_id,
        AlertStatus::Acknowledged,
        "alert.retriggered",
        |alert| alert.status = AlertStatus::Triggered,
        now,
    )
    .await?;
    tx.refresh_group_status(group_id, now).await?;
    Ok(())
}

/// Puts `job` in place of the group's escalation timer, a step being
/// taken right now included (it can no longer complete, so what it wrote
/// rolls back). The caller has locked the group, so no step commits a
/// timer in between; the conflict below is a guard.
async fn replace_escalation_job(
    tx: &mut Tx,
    group_id: i64,
    job: &NewJob,
    now: Timestamp,
) -> super::Result<()> {
    tx.cancel_job(&escalation_timer(group_id), now).await?;
    if tx.enqueue_job(now, job).await?.is_none() {
        return Err(super::Error::Conflict(
            "the escalation is taking a step right now: try again in a moment".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_goes_to_its_method_as_the_config_has_it_or_nowhere() {
        let org = |methods: &str| {
            crate::config::parse(
                "t.yaml",
                &format!("organisation: {{name: K}}\npeople:\n  - {{handle: zul, name: Zul, email: zul@k.example, contact_methods: [{methods}]}}\n"),
            )
            .unwrap()
        };
        let a = "{type: webhook, address: \"https://a.example/hook\"}";
        let b = "{type: webhook, address: \"https://b.example/hook\"}";
        let edited = "{type: webhook, address: \"https://a2.example/hook\"}";
        // Planned for A, the first of two webhooks.
        let delivery = Delivery {
            id: "x".into(),
            topic: alert_topic(),
            group_id: None,
            alert_id: None,
            incident_id: None,
            person: "zul".into(),
            channel: ContactKind::Webhook,
            address: "https://a.example/hook".into(),
            method: Some(0),
            methods: Some(2),
            title: String::new(),
            text: String::new(),
            severity: None,
            service: None,
            alert_url: None,
            runbook_url: None,
            acknowledge_url: None,
            incident_url: None,
        };
        let to = |methods: &str| current_address(&org(methods), &delivery);
        assert_eq!(
            to(&format!("{a}, {b}")),
            Ok("https://a.example/hook".into())
        );
        assert_eq!(
            to(&format!("{b}, {a}")),
            Ok("https://a.example/hook".into()),
            "moved"
        );
        assert_eq!(
            to(&format!("{edited}, {b}")),
            Ok("https://a2.example/hook".into()),
            "edited in place"
        );
        // A taken out: B, now first, has its own deliveries.
        assert!(to(b).is_err(), "{:?}", to(b));
        let gone = current_address(
            &org(b),
            &Delivery {
                person: "nobody".into(),
                ..delivery.clone()
            },
        );
        assert!(gone.is_err());
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_an_http_date() {
        let now: Timestamp = "2026-11-02T09:00:00Z".parse().unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(SignedDuration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Mon, 02 Nov 2026 09:05:00 GMT", now),
            Some(SignedDuration::from_mins(5))
        );
        assert_eq!(
            parse_retry_after("Mon, 02 Nov 2026 08:00:00 GMT", now),
            Some(SignedDuration::ZERO),
            "a time past is no wait"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn client_errors_are_not_retried_and_server_errors_are() {
        use reqwest::StatusCode;
        let retry = |status: StatusCode| {
            judge_answer(status, None, "answered", None)
                .downcast_ref::<Refusal>()
                .map(|refusal| refusal.retry)
        };
        for status in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
        ] {
            assert_eq!(retry(status), None, "{status}: the backoff decides");
        }
        for status in [
            StatusCode::FOUND,
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND,
            StatusCode::GONE,
            StatusCode::PAYLOAD_TOO_LARGE,
        ] {
            assert_eq!(retry(status), Some(Retry::Never), "{status}");
        }
        let wait = SignedDuration::from_secs(30);
        let asked = judge_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(wait),
            "answered",
            None,
        );
        assert_eq!(
            asked.downcast_ref::<Refusal>().map(|r| r.retry),
            Some(Retry::NotBefore(wait))
        );
    }
}
