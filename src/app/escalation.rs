//! Escalation and notification on the job queue. A new alert group of a
//! service with a policy starts an escalation: each step notifies the
//! level's recipients through the outbox (one delivery job per person and
//! channel) and schedules the next step after the level's wait. An
//! acknowledged or resolved group stops it; a spent policy is recorded
//! loudly. Deliveries retry with backoff and land in the dead letters when
//! the receiver keeps failing.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::App;
use crate::domain::alert::{AlertStatus, Severity};
use crate::domain::escalation::{Step, Target};
use crate::domain::event::{Actor, NewEvent, Subject};
use crate::domain::job::NewJob;
use crate::domain::org::ContactKind;
use crate::store::{AlertFilter, Tx};

pub const ESCALATION_STEP: &str = "escalation.step";
pub const DELIVER: &str = "notification.deliver";
/// The name of the secret that signs outgoing webhooks.
const WEBHOOK_SECRET: &str = "webhook_signing";
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
    /// Stable across retries, so a receiver can drop a repeat.
    pub id: String,
    pub group_id: i64,
    pub alert_id: i64,
    pub person: String,
    pub channel: ContactKind,
    pub address: String,
    pub title: String,
    pub text: String,
    pub severity: Severity,
    pub service: String,
    pub alert_url: Option<String>,
    pub runbook_url: Option<String>,
    /// A signed, expiring link that acknowledges without logging in.
    #[serde(default)]
    pub acknowledge_url: Option<String>,
}

fn step_job(payload: &StepPayload, run_at: Timestamp) -> NewJob {
    NewJob {
        unique_key: Some(format!("escalation:{}", payload.group_id)),
        max_attempts: 20,
        ..NewJob::new(
            ESCALATION_STEP,
            serde_json::to_value(payload).unwrap_or_default(),
            run_at,
        )
    }
}

/// Starts the escalation of a newly opened group, inside its transaction.
pub async fn start(
    tx: &mut Tx,
    actor: &Actor,
    group_id: i64,
    policy: &str,
    now: Timestamp,
) -> crate::store::Result<()> {
    let payload = StepPayload {
        group_id,
        policy: policy.to_string(),
        round: 0,
        level: 0,
    };
    tx.enqueue_job(now, &step_job(&payload, now)).await?;
    tx.append_event(
        now,
        NewEvent::new(
            actor,
            "escalation.started",
            Subject::new("alert_group", group_id),
        )
        .after(json!({ "policy": policy })),
    )
    .await?;
    Ok(())
}

/// The path of an acknowledge link, signed with `secret`.
fn signed_ack_path(secret: &str, alert_id: i64, person: &str, now: Timestamp) -> String {
    let expires = now
        .saturating_add(ACK_LINK_LIFETIME)
        .unwrap_or_default()
        .as_second();
    let claims = format!("{alert_id}.{person}.{expires}");
    let signature = crate::domain::auth::hmac_hex(secret, &[format!("ack:{claims}").as_bytes()]);
    format!("/ack/{claims}.{signature}")
}

impl App {
    /// Runs one escalation step; returns the next one to schedule.
    pub async fn escalation_step(
        &self,
        payload: &serde_json::Value,
    ) -> anyhow::Result<Option<NewJob>> {
        let payload: StepPayload =
            serde_json::from_value(payload.clone()).context("reading the escalation step")?;
        let now = self.clock.now();
        let actor = Actor::system("escalation");
        let subject = Subject::new("alert_group", payload.group_id);
        let mut tx = self.store.read().await?;
        let group = tx
            .alert_group(payload.group_id)
            .await
            .context("loading the alert group")?;
        let filter = AlertFilter {
            group_id: Some(group.id),
            limit: 1,
            ..AlertFilter::default()
        };
        let newest = tx.list_alerts(&filter).await?.into_iter().next();
        drop(tx);
        if group.status != AlertStatus::Triggered {
            // Acknowledged or resolved: escalation ends here.
            return Ok(None);
        }
        let Some(alert) = newest else { return Ok(None) };
        let org = self.org_snapshot().await?;
        let Some(policy) = org.escalation_policy(&payload.policy) else {
            let mut tx = self.store.write().await?;
            tx.append_event(
                now,
                NewEvent::new(&actor, "escalation.stopped", subject).after(
                    json!({ "reason": format!("the policy {} no longer exists", payload.policy) }),
                ),
            )
            .await?;
            tx.commit().await?;
            return Ok(None);
        };
        let step = Step {
            round: payload.round,
            level: payload.level,
        };
        let level = policy
            .level(step)
            .context("the step points past the policy's levels")?;
        let targets_a_schedule = level
            .targets
            .iter()
            .any(|t| matches!(t, Target::Schedule(_)));
        let on_call: BTreeMap<String, Option<String>> = if targets_a_schedule {
            self.on_call_at(Some(now))
                .await?
                .into_iter()
                .map(|entry| (entry.schedule, entry.shift.map(|s| s.person)))
                .collect()
        } else {
            BTreeMap::new()
        };
        let recipients = policy.recipients(step, &org, |schedule| {
            on_call.get(schedule).cloned().flatten()
        });
        let service = org.service(&alert.service);
        let base_url = org
            .settings
            .base_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_string());
        let title = format!(
            "[{}] {}: {}",
            alert.severity.as_str().to_uppercase(),
            alert.service,
            alert.summary
        );
        let mut text = format!(
            "{}\nService: {} · severity {} · urgency {}\nSince {} · {} event(s) · {} alert(s) in this group",
            alert.summary,
            alert.service,
            alert.severity.as_str(),
            alert.urgency.as_str(),
            alert.first_seen_at.strftime("%Y-%m-%d %H:%M UTC"),
            alert.event_count,
            group.alert_count
        );
        let runbook_url = service
            .and_then(|s| s.runbook.as_ref())
            .and_then(|r| r.url.clone());
        if let Some(url) = &runbook_url {
            text.push_str(&format!("\nRunbook: {url}"));
        }
        let alert_url = base_url.map(|base| format!("{base}/alerts/{}", alert.id));
        if let Some(url) = &alert_url {
            text.push_str(&format!("\nAlert: {url}"));
        }

        // Read before the write transaction: on SQLite a second writer
        // would wait for this one.
        let ack_secret = self.secret(ACK_SECRET).await?;
        let mut tx = self.store.write().await?;
        let mut deliveries = Vec::new();
        for handle in &recipients {
            let Some(person) = org.person(handle) else {
                continue;
            };
            for method in &person.contact_methods {
                if !matches!(
                    method.kind,
                    ContactKind::Webhook | ContactKind::Slack | ContactKind::Teams
                ) {
                    // Email, SMS and phone are not delivered yet (issue 4).
                    continue;
                }
                let id = format!(
                    "{}-{}-{}-{}-{}",
                    group.id,
                    step.round,
                    step.level,
                    handle,
                    method.kind.as_str()
                );
                let ack_path = signed_ack_path(&ack_secret, alert.id, handle, now);
                let ack_url = match &org.settings.base_url {
                    Some(base) => format!("{}{ack_path}", base.trim_end_matches('/')),
                    None => ack_path,
                };
                let text = format!("{text}\nAcknowledge: {ack_url}");
                let delivery = Delivery {
                    id: id.clone(),
                    group_id: group.id,
                    alert_id: alert.id,
                    person: handle.clone(),
                    channel: method.kind,
                    address: method.address.clone(),
                    title: title.clone(),
                    text: text.clone(),
                    severity: alert.severity,
                    service: alert.service.clone(),
                    alert_url: alert_url.clone(),
                    runbook_url: runbook_url.clone(),
                    acknowledge_url: Some(ack_url),
                };
                let job = NewJob {
                    unique_key: Some(format!("deliver:{id}")),
                    max_attempts: 8,
                    ..NewJob::new(DELIVER, serde_json::to_value(&delivery)?, now)
                };
                tx.enqueue_job(now, &job).await?;
                deliveries.push(
                    json!({ "person": handle, "channel": method.kind.as_str(), "delivery": id }),
                );
            }
        }
        tx.append_event(
            now,
            NewEvent::new(&actor, "escalation.notified", subject.clone()).after(json!({
                "policy": policy.name, "round": step.round, "level": step.level,
                "recipients": recipients, "deliveries": deliveries,
            })),
        )
        .await?;
        let next = match policy.after(step) {
            Some(next) => Some(step_job(
                &StepPayload {
                    group_id: group.id,
                    policy: policy.name.clone(),
                    round: next.round,
                    level: next.level,
                },
                now.saturating_add(level.wait).unwrap_or(now),
            )),
            None => {
                // Scheduled for after the last wait, so the last level
                // gets its chance before the policy counts as spent.
                Some(NewJob {
                    unique_key: Some(format!("escalation:{}", group.id)),
                    ..NewJob::new(
                        ESCALATION_EXHAUSTED,
                        json!({ "group_id": group.id, "policy": policy.name }),
                        now.saturating_add(level.wait).unwrap_or(now),
                    )
                })
            }
        };
        tx.commit().await?;
        Ok(next)
    }

    /// An acknowledged group left unresolved too long: its acknowledged
    /// alerts trigger again and the policy starts over.
    pub async fn reescalate(&self, payload: &serde_json::Value) -> anyhow::Result<()> {
        let group_id = payload["group_id"]
            .as_i64()
            .context("the job names no alert group")?;
        let policy = payload["policy"]
            .as_str()
            .context("the job names no policy")?;
        let now = self.clock.now();
        let actor = Actor::system("escalation");
        let mut tx = self.store.write().await?;
        let group = tx.alert_group(group_id).await?;
        if group.status != AlertStatus::Acknowledged {
            return Ok(());
        }
        let filter = AlertFilter {
            group_id: Some(group_id),
            status: Some(AlertStatus::Acknowledged),
            limit: 500,
            ..AlertFilter::default()
        };
        for mut alert in tx.list_alerts(&filter).await? {
            let before = alert.clone();
            alert.status = AlertStatus::Triggered;
            tx.update_alert(&alert).await?;
            tx.append_event(
                now,
                NewEvent::new(&actor, "alert.retriggered", Subject::new("alert", alert.id))
                    .before(&before)
                    .after(&alert),
            )
            .await?;
        }
        tx.refresh_group_status(group_id, now).await?;
        start(&mut tx, &actor, group_id, policy, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// After the last level's wait: if still nobody acknowledged, say so.
    pub async fn escalation_exhausted(&self, payload: &serde_json::Value) -> anyhow::Result<()> {
        let group_id = payload["group_id"]
            .as_i64()
            .context("the job names no alert group")?;
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let group = tx.alert_group(group_id).await?;
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
    pub async fn deliver(&self, payload: &serde_json::Value) -> anyhow::Result<()> {
        let delivery: Delivery =
            serde_json::from_value(payload.clone()).context("reading the delivery")?;
        let now = self.clock.now();
        let body = match delivery.channel {
            ContactKind::Slack => {
                json!({ "text": format!("*{}*\n{}", delivery.title, delivery.text) })
            }
            ContactKind::Teams => {
                json!({ "title": delivery.title, "text": delivery.text.replace('\n', "<br>") })
            }
            _ => json!({
                "type": "alert.escalated",
                "delivery_id": delivery.id,
                "title": delivery.title,
                "text": delivery.text,
                "severity": delivery.severity,
                "service": delivery.service,
                "alert_id": delivery.alert_id,
                "alert_group_id": delivery.group_id,
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
            .with_context(|| format!("sending to {}", delivery.address))?;
        let status = response.status();
        if !status.is_success() {
            bail!("{} answered HTTP {status}", delivery.address);
        }
        let mut tx = self.store.write().await?;
        tx.append_event(
            now,
            NewEvent::new(&Actor::system("notifications"), "notification.delivered", Subject::new("alert_group", delivery.group_id))
                .after(json!({ "delivery": delivery.id, "person": delivery.person, "channel": delivery.channel.as_str() })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn secret(&self, name: &str) -> anyhow::Result<String> {
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let secret = tx
            .server_secret(now, name, &super::auth::random_secret())
            .await?;
        tx.commit().await?;
        Ok(secret)
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

    /// Acknowledges the alert of a genuine link, as the person it was sent to.
    pub async fn acknowledge_by_link(
        &self,
        token: &str,
    ) -> super::Result<Result<crate::domain::alert::Alert, AckLinkError>> {
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
            Ok(alert) => Ok(Ok(alert)),
            Err(super::Error::Conflict(_)) => Ok(Ok(self.alert_detail(alert_id).await?.alert)),
            Err(other) => Err(other),
        }
    }

    /// The secret outgoing webhooks are signed with (HMAC-SHA256 over
    /// `TIMESTAMP.BODY`, in `X-Siaga-Signature: v1=HEX`).
    pub async fn webhook_secret(&self) -> anyhow::Result<String> {
        self.secret(WEBHOOK_SECRET).await
    }
}

pub const ESCALATION_EXHAUSTED: &str = "escalation.exhausted";
pub const REESCALATE: &str = "escalation.reescalate";

/// Re-escalates an acknowledged group still unresolved at `at`.
pub async fn schedule_reescalation(
    tx: &mut Tx,
    group_id: i64,
    policy: &str,
    at: Timestamp,
) -> crate::store::Result<()> {
    let job = NewJob {
        unique_key: Some(format!("reescalate:{group_id}")),
        ..NewJob::new(
            REESCALATE,
            json!({ "group_id": group_id, "policy": policy }),
            at,
        )
    };
    tx.enqueue_job(at, &job).await?;
    Ok(())
}
