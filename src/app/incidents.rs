//! Incident response: declare in one action, work the incident in roles,
//! tell stakeholders by severity, keep the update cadence, resolve on
//! evidence. Each use case loads the incident under its row lock, applies a
//! rule from `domain::incident`, and saves it with its events and jobs in
//! one transaction; the incident room's timeline is the event log.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::json;

use super::escalation::{Delivery, enqueue_delivery};
use super::{App, Caller, Error, Result};
use crate::domain::alert::{AlertStatus, Urgency};
use crate::domain::auth::Role;
use crate::domain::event::{Actor, Event, NewEvent, Subject};
use crate::domain::incident::{
    COMMS_ROLE, Declaration, Incident, IncidentEdit, IncidentError, IncidentStatus, OWNER_ROLE,
    RecoveryFacts, RegressionAction, Stakeholder, UpdateKind, display_id,
};
use crate::domain::job::{Job, NewJob};
use crate::domain::org::Org;
use crate::domain::page::Page;
use crate::store::{IncidentFilter, Tx};

pub const UPDATE_DUE: &str = "incident.update_due";
pub const ALERT_OPENED: &str = "incident.alert_opened";
/// Overdue reminders repeat this often, at most `MAX_OVERDUE_REMINDERS` times.
const OVERDUE_EVERY: SignedDuration = SignedDuration::from_mins(15);
const MAX_OVERDUE_REMINDERS: u32 = 12;

/// An incident with what the room shows beside it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentView {
    /// `INC-42`.
    pub reference: String,
    /// The incident, its checklist items rendered with its variables (the
    /// stored incident, which other routes answer with, keeps the
    /// templates, since the variables change).
    #[serde(flatten)]
    pub incident: Incident,
    /// Services depending on the impacted ones, each with the impacted
    /// service it depends on through ("possibly affected via payments").
    pub possibly_affected: Vec<PossiblyAffected>,
    /// Open alerts per impacted service.
    pub open_alerts: BTreeMap<String, i64>,
    /// The linked alerts as they are now.
    pub linked_alerts: Vec<LinkedAlert>,
    /// What still stands in the way of resolving; empty when recovered.
    pub recovery_blockers: Vec<String>,
    /// Talk scripts rendered for this incident.
    pub talk_scripts: Vec<RenderedScript>,
}

/// A linked alert, for the room and the CLI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LinkedAlert {
    pub id: i64,
    pub dedup_key: String,
    pub service: String,
    pub summary: String,
    pub status: AlertStatus,
    /// Opened on an impacted service soon after resolve (regression
    /// `action: prompt`): the incident may have regressed.
    pub possible_regression: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PossiblyAffected {
    pub service: String,
    pub via: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RenderedScript {
    pub name: String,
    pub audience: String,
    pub text: String,
}

/// Filters for listing incidents.
#[derive(Clone, Debug, Default)]
pub struct IncidentQuery {
    /// `active` (still being worked), `closed` (resolved or merged), `all`,
    /// or one status; all when absent.
    pub status: Option<String>,
    pub severity: Option<String>,
    pub service: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

impl From<IncidentError> for Error {
    fn from(error: IncidentError) -> Self {
        match error {
            IncidentError::Unknown { what, name, field } => Error::Invalid {
                code: match what {
                    "severity" => "unknown_severity",
                    "service" => "unknown_service",
                    "role" => "unknown_role",
                    _ => "unknown_item",
                },
                message: format!("unknown {what} `{name}`"),
                field: Some(field.into()),
            },
            IncidentError::Invalid(message, field) => Error::Invalid {
                code: "invalid_field",
                message,
                field: Some(field.into()),
            },
            IncidentError::Conflict(message) => Error::Conflict(message),
            IncidentError::NotRecovered(reasons) => Error::NotRecovered(reasons),
        }
    }
}

/// Adds a did-you-mean to an unknown-name error.
fn with_suggestion(error: Error, org: &Org) -> Error {
    let Error::Invalid {
        code,
        message,
        field,
    } = error
    else {
        return error;
    };
    let names: Vec<String> = match code {
        "unknown_severity" => org
            .incidents
            .severities
            .iter()
            .map(|s| s.name.clone())
            .collect(),
        "unknown_service" => org.services.iter().map(|s| s.name.clone()).collect(),
        "unknown_role" => org.incidents.roles.iter().map(|r| r.name.clone()).collect(),
        _ => Vec::new(),
    };
    let wrong = message.split('`').nth(1).unwrap_or_default().to_string();
    let hint = crate::config::closest(&wrong, names.into_iter())
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    Error::Invalid {
        code,
        message: format!("{message}{hint}"),
        field,
    }
}

fn incident_not_found(error: crate::store::StoreError, id: i64) -> Error {
    super::auth::not_found(error, format!("incident {}", display_id(id)))
}

/// The person handle for a caller: the person with the caller's email, or
/// the email itself when the caller is not in the organisation.
fn person_of(org: &Org, caller: &Caller) -> String {
    let email = &caller.user.email;
    org.people
        .iter()
        .find(|p| p.email.eq_ignore_ascii_case(email))
        .map(|p| p.handle.clone())
        .unwrap_or_else(|| email.clone())
}

fn reminder_job(incident: &Incident, overdue: u32) -> Option<NewJob> {
    let due = incident.next_update_due_at?;
    let run_at = due
        .checked_add(OVERDUE_EVERY * i32::try_from(overdue).unwrap_or(0))
        .ok()?;
    Some(NewJob {
        unique_key: Some(format!("incident-update:{}", incident.id)),
        ..NewJob::new(
            UPDATE_DUE,
            json!({ "incident_id": incident.id, "due_at": due.as_millisecond(), "overdue": overdue }),
            run_at,
        )
    })
}

/// Keeps the one pending reminder in step with the incident's due time.
async fn reschedule_reminder(tx: &mut Tx, incident: &Incident, now: Timestamp) -> Result<()> {
    tx.cancel_job(&format!("incident-update:{}", incident.id), now)
        .await?;
    if !incident.is_closed()
        && let Some(job) = reminder_job(incident, 0)
    {
        tx.enqueue_job(now, &job).await?;
    }
    Ok(())
}

impl App {
    fn incident_url(&self, org: &Org, id: i64) -> Option<String> {
        org.settings
            .base_url
            .as_deref()
            .map(|base| format!("{}/incidents/{id}", base.trim_end_matches('/')))
    }

    /// Declares an incident: roles, checklists, stakeholders told, the
    /// update cadence started, alerts linked — one transaction.
    pub async fn declare_incident(
        &self,
        caller: &Caller,
        declaration: &Declaration,
    ) -> Result<Incident> {
        caller.require(Role::Responder)?;
        let org = self.org_snapshot().await?;
        let declarer = person_of(&org, caller);
        self.declare_as(&org, &caller.actor(), &declarer, declaration, None)
            .await
    }

    async fn declare_as(
        &self,
        org: &Org,
        actor: &Actor,
        declarer: &str,
        declaration: &Declaration,
        job: Option<&Job>,
    ) -> Result<Incident> {
        let now = self.clock.now();
        let needs_on_call = org
            .incidents
            .roles
            .iter()
            .any(|r| !r.default_from.is_empty());
        let on_call: BTreeMap<String, String> = if needs_on_call {
            self.on_call_at(Some(now))
                .await?
                .into_iter()
                .filter_map(|entry| Some((entry.schedule, entry.shift?.person)))
                .collect()
        } else {
            BTreeMap::new()
        };
        let mut incident = Incident::declare(
            declaration,
            org,
            declarer,
            |role| {
                role.default_from
                    .iter()
                    .find_map(|schedule| on_call.get(schedule).cloned())
            },
            now,
        )
        .map_err(|e| with_suggestion(e.into(), org))?;
        let mut tx = self.store.write().await?;
        if let Some(job) = job {
            // A rule declares once per service: a storm's other alerts,
            // whose checks run at the same time (on other replicas too),
            // join the incident the first one declared.
            let since = now
                .checked_sub(org.incidents.regression.window)
                .unwrap_or(now);
            let mut services = incident.services.clone();
            services.sort();
            for service in &services {
                tx.lock(&format!("auto-declare:{service}")).await?;
            }
            for service in &incident.services {
                if !tx
                    .recent_incidents_of_service(service, since)
                    .await?
                    .is_empty()
                {
                    return Err(Error::Contended(format!(
                        "an incident on {service} was declared meanwhile"
                    )));
                }
            }
            if !self.complete_job_in(&mut tx, job).await? {
                return Err(Error::Conflict(
                    "another worker declared this incident".into(),
                ));
            }
        }
        let mut earliest_alert = None;
        for alert_id in &declaration.alerts {
            let alert = tx
                .alert(*alert_id)
                .await
                .map_err(|e| super::auth::not_found(e, format!("alert {alert_id}")))?;
            earliest_alert = earliest_alert
                .min(Some(alert.first_seen_at))
                .or(Some(alert.first_seen_at));
            if alert.acknowledged_at.is_some() {
                incident.milestones.acknowledged_at = incident
                    .milestones
                    .acknowledged_at
                    .min(alert.acknowledged_at)
                    .or(alert.acknowledged_at);
            }
            incident.link_alert(alert.id)?;
            if !incident.services.contains(&alert.service) {
                incident.services.push(alert.service.clone());
            }
        }
        if let Some(first) = earliest_alert {
            incident.milestones.detected_at = Some(first.min(now));
        }
        let incident = tx.insert_incident(&incident, now).await?;
        let subject = Subject::new("incident", incident.id);
        tx.append_event(
            now,
            NewEvent::new(actor, "incident.declared", subject.clone()).after(json!({
                "reference": display_id(incident.id), "title": incident.title,
                "severity": incident.severity, "services": incident.services,
                "roles": incident.roles, "alerts": incident.alerts,
            })),
        )
        .await?;
        let incident = self
            .notify_stakeholders(&mut tx, org, actor, incident, now)
            .await?;
        reschedule_reminder(&mut tx, &incident, now).await?;
        tx.commit().await?;
        metrics::counter!("siaga_incidents_declared_total", "severity" => incident.severity.clone())
            .increment(1);
        Ok(incident)
    }

    /// Puts `message` to the person `handle` in the outbox, on every
    /// channel their rules use at once for high urgency: an incident is not
    /// a page to wait on. Each delivery's id is `id_prefix` with the person
    /// and channel, so enqueuing it again changes nothing. Returns the
    /// deliveries and the channels skipped (email without an SMTP server).
    async fn enqueue_to_person(
        &self,
        tx: &mut Tx,
        org: &Org,
        handle: &str,
        message: &Delivery,
        id_prefix: &str,
        now: Timestamp,
    ) -> Result<(Vec<serde_json::Value>, Vec<serde_json::Value>)> {
        let mut deliveries = Vec::new();
        let mut skipped = Vec::new();
        let Some(person) = org.person(handle) else {
            // A role holder the config does not have (an incident a rule
            // declared is held by `siaga` until someone takes it over).
            skipped.push(
                json!({ "person": handle, "channel": "", "reason": "not a person in the config" }),
            );
            return Ok((deliveries, skipped));
        };
        for plan in person
            .planned_notifications(Urgency::High)
            .into_iter()
            .filter(|p| p.after.is_zero())
        {
            let channel = plan.method.kind;
            if !self.can_deliver(channel) {
                skipped.push(json!({ "person": handle, "channel": channel.as_str() }));
                continue;
            }
            let delivery = Delivery {
                id: format!(
                    "{}-{id_prefix}-{handle}-{}{}",
                    self.store.installation(),
                    channel.as_str(),
                    plan.method_index
                ),
                person: handle.to_string(),
                channel,
                address: plan.method.address.clone(),
                method: Some(plan.method_index),
                methods: Some(person.contact_methods.len()),
                ..message.clone()
            };
            enqueue_delivery(tx, &delivery, now, now).await?;
            deliveries.push(
                json!({ "person": handle, "channel": channel.as_str(), "delivery": delivery.id }),
            );
        }
        Ok((deliveries, skipped))
    }

    /// What stakeholders are told of `incident`: `what` happened to it
    /// ("declared", "raised to SEV1", "now impacts storefront"), where it
    /// stands, who owns it, the impact and the room.
    fn stakeholder_message(
        &self,
        org: &Org,
        incident: &Incident,
        topic: &str,
        what: &str,
    ) -> Delivery {
        let title = format!(
            "[{}] {} {what}: {}",
            incident.severity,
            display_id(incident.id),
            incident.title
        );
        let mut text = format!(
            "{} {} {what}: {}\nStatus: {} · impacted: {}\nIncident owner: {}",
            incident.severity,
            display_id(incident.id),
            incident.title,
            incident.status.as_str(),
            if incident.services.is_empty() {
                "not named yet".to_string()
            } else {
                incident.services.join(", ")
            },
            incident.holder(OWNER_ROLE).unwrap_or("nobody")
        );
        if !incident.customer_impact.is_empty() {
            text.push_str(&format!("\nCustomer impact: {}", incident.customer_impact));
        }
        if let Some(url) = self.incident_url(org, incident.id) {
            text.push_str(&format!("\nIncident room: {url}"));
        }
        self.incident_message(org, incident, topic, title, text)
    }

    /// A message about an incident, addressed to nobody yet: the
    /// [`App::enqueue_to_person`] fills in whom and how.
    fn incident_message(
        &self,
        org: &Org,
        incident: &Incident,
        topic: &str,
        title: String,
        text: String,
    ) -> Delivery {
        Delivery {
            id: String::new(),
            topic: topic.into(),
            group_id: None,
            alert_id: None,
            incident_id: Some(incident.id),
            person: String::new(),
            channel: crate::domain::org::ContactKind::Webhook,
            address: String::new(),
            method: None,
            methods: None,
            title,
            text,
            severity: None,
            service: incident.services.first().cloned(),
            alert_url: None,
            runbook_url: None,
            acknowledge_url: None,
            incident_url: self.incident_url(org, incident.id),
        }
    }

    /// Tells the stakeholders of the incident's severity and of every more
    /// severe level not told yet, once each, through the outbox.
    async fn notify_stakeholders(
        &self,
        tx: &mut Tx,
        org: &Org,
        actor: &Actor,
        mut incident: Incident,
        now: Timestamp,
    ) -> Result<Incident> {
        let policy = &org.incidents;
        let Some(rank) = policy.rank(&incident.severity) else {
            return Ok(incident);
        };
        // From the least to the most severe level not told yet, down to this one.
        let levels: Vec<_> = policy.severities[rank..]
            .iter()
            .filter(|s| !incident.notified_severities.contains(&s.name))
            .collect();
        if levels.is_empty() {
            return Ok(incident);
        }
        let mut people: Vec<String> = Vec::new();
        let mut chats = Vec::new();
        let owners: Vec<&crate::domain::org::Team> = incident
            .services
            .iter()
            .filter_map(|s| org.service(s)?.owner.as_deref())
            .filter_map(|team| org.team(team))
            .collect();
        for level in &levels {
            for stakeholder in &level.notify {
                let found: Vec<String> = match stakeholder {
                    Stakeholder::Executives => org.settings.executives.clone(),
                    Stakeholder::OwnerLeads => owners.iter().map(|t| t.lead.clone()).collect(),
                    Stakeholder::OwnerHeads => owners.iter().map(|t| t.head.clone()).collect(),
                    Stakeholder::Person(handle) => vec![handle.clone()],
                    Stakeholder::Team(team) => org
                        .team(team)
                        .map(|t| t.members.clone())
                        .unwrap_or_default(),
                };
                for person in found {
                    if !people.contains(&person) {
                        people.push(person);
                    }
                }
            }
            // A channel several levels name (SEV1 and SEV2 both post to
            // #incidents) hears once.
            for chat in &level.chat {
                if !chats.iter().any(|c: &crate::domain::org::ContactMethod| {
                    c.kind == chat.kind && c.address == chat.address
                }) {
                    chats.push(chat.clone());
                }
            }
        }
        // Told before at a lower severity: this is a raise, and says so.
        let raised = !incident.notified_severities.is_empty();
        let (topic, what) = if raised {
            (
                "incident.severity_raised",
                format!("raised to {}", incident.severity),
            )
        } else {
            ("incident.declared", "declared".to_string())
        };
        let label = format!("{}-{}", incident.severity, now.as_millisecond());
        let mut deliveries = Vec::new();
        let mut skipped = Vec::new();
        let template = self.stakeholder_message(org, &incident, topic, &what);
        for handle in &people {
            let (sent, unsent) = self
                .enqueue_to_person(
                    tx,
                    org,
                    handle,
                    &template,
                    &format!("inc{}-{label}", incident.id),
                    now,
                )
                .await?;
            deliveries.extend(sent);
            skipped.extend(unsent);
        }
        for (i, chat) in chats.iter().enumerate() {
            let delivery = Delivery {
                id: format!(
                    "{}-inc{}-{label}-chat{i}",
                    self.store.installation(),
                    incident.id
                ),
                person: "chat".into(),
                channel: chat.kind,
                address: chat.address.clone(),
                ..template.clone()
            };
            enqueue_delivery(tx, &delivery, now, now).await?;
            deliveries.push(
                json!({ "person": "chat", "channel": chat.kind.as_str(), "delivery": delivery.id }),
            );
        }
        for level in &levels {
            incident.notified_severities.push(level.name.clone());
        }
        let incident = tx.save_incident(&incident, now).await?;
        tx.append_event(
            now,
            NewEvent::new(
                actor,
                "incident.notified",
                Subject::new("incident", incident.id),
            )
            .after(json!({
                "severities": levels.iter().map(|l| &l.name).collect::<Vec<_>>(),
                "stakeholders": people, "deliveries": deliveries, "skipped": skipped,
            })),
        )
        .await?;
        Ok(incident)
    }

    /// Services named after the stakeholders were told (by an edit, a
    /// linked alert, a merge): their owning teams' leads and heads hear of
    /// the incident now, where a severity already told names owner leads or
    /// heads, unless they were told for a service named before.
    async fn tell_owners_of_added(
        &self,
        tx: &mut Tx,
        org: &Org,
        actor: &Actor,
        incident: &Incident,
        before: &[String],
        now: Timestamp,
    ) -> Result<()> {
        let added: Vec<&String> = incident
            .services
            .iter()
            .filter(|s| !before.contains(s))
            .collect();
        if added.is_empty() || incident.is_closed() {
            return Ok(());
        }
        let told = org
            .incidents
            .severities
            .iter()
            .filter(|s| incident.notified_severities.contains(&s.name));
        let (mut leads, mut heads) = (false, false);
        for level in told {
            leads |= level.notify.contains(&Stakeholder::OwnerLeads);
            heads |= level.notify.contains(&Stakeholder::OwnerHeads);
        }
        // The leads and heads (as the levels told name them) of the teams
        // owning `services`.
        let owners = |services: &[&String]| -> Vec<String> {
            let mut people = Vec::new();
            for team in services
                .iter()
                .filter_map(|s| org.service(s)?.owner.as_deref())
                .filter_map(|team| org.team(team))
            {
                for (wanted, person) in [(leads, &team.lead), (heads, &team.head)] {
                    if wanted && !people.contains(person) {
                        people.push(person.clone());
                    }
                }
            }
            people
        };
        let already = owners(&before.iter().collect::<Vec<_>>());
        let people: Vec<String> = owners(&added)
            .into_iter()
            .filter(|p| !already.contains(p))
            .collect();
        if people.is_empty() {
            return Ok(());
        }
        let services = added
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let template = self.stakeholder_message(
            org,
            incident,
            "incident.services_added",
            &format!("now impacts {services}"),
        );
        let (mut deliveries, mut skipped) = (Vec::new(), Vec::new());
        for handle in &people {
            let (sent, unsent) = self
                .enqueue_to_person(
                    tx,
                    org,
                    handle,
                    &template,
                    &format!("inc{}-owners-{}", incident.id, now.as_millisecond()),
                    now,
                )
                .await?;
            deliveries.extend(sent);
            skipped.extend(unsent);
        }
        tx.append_event(
            now,
            NewEvent::new(
                actor,
                "incident.notified",
                Subject::new("incident", incident.id),
            )
            .after(json!({
                "services_added": added, "stakeholders": people,
                "deliveries": deliveries, "skipped": skipped,
            })),
        )
        .await?;
        Ok(())
    }

    /// Loads an incident for a change, applies `change`, saves it with the
    /// event it returns. The one path every edit takes.
    async fn change_incident<F>(&self, caller: &Caller, id: i64, change: F) -> Result<Incident>
    where
        F: FnOnce(
            &mut Incident,
            &Org,
            &str,
            Timestamp,
        ) -> Result<Option<(&'static str, serde_json::Value)>>,
    {
        caller.require(Role::Responder)?;
        let org = self.org_snapshot().await?;
        let now = self.clock.now();
        let actor = caller.actor();
        let person = person_of(&org, caller);
        let mut tx = self.store.write().await?;
        let mut incident = tx
            .incident_for_update(id)
            .await
            .map_err(|e| incident_not_found(e, id))?;
        let due_before = incident.next_update_due_at;
        let services_before = incident.services.clone();
        let Some((action, details)) =
            change(&mut incident, &org, &person, now).map_err(|e| with_suggestion(e, &org))?
        else {
            // Nothing changed (a repeated tick): nothing to store or log.
            return Ok(incident);
        };
        let mut incident = tx.save_incident(&incident, now).await?;
        tx.append_event(
            now,
            NewEvent::new(&actor, action, Subject::new("incident", id)).after(details),
        )
        .await?;
        if action == "incident.severity_changed" {
            incident = self
                .notify_stakeholders(&mut tx, &org, &actor, incident, now)
                .await?;
        }
        self.tell_owners_of_added(&mut tx, &org, &actor, &incident, &services_before, now)
            .await?;
        if incident.next_update_due_at != due_before || incident.is_closed() {
            reschedule_reminder(&mut tx, &incident, now).await?;
        }
        tx.commit().await?;
        Ok(incident)
    }

    pub async fn edit_incident(
        &self,
        caller: &Caller,
        id: i64,
        edit: &IncidentEdit,
    ) -> Result<Incident> {
        self.change_incident(caller, id, |incident, org, _, _| {
            incident.edit(org, edit)?;
            Ok(Some((
                "incident.edited",
                json!({
                    "title": edit.title, "services": edit.services,
                    "customer_impact": edit.customer_impact, "workaround": edit.workaround,
                }),
            )))
        })
        .await
    }

    pub async fn set_incident_status(
        &self,
        caller: &Caller,
        id: i64,
        status: IncidentStatus,
    ) -> Result<Incident> {
        self.change_incident(caller, id, |incident, _, _, now| {
            let before = incident.status;
            incident.set_status(status, now)?;
            Ok(Some((
                "incident.status_changed",
                json!({ "from": before.as_str(), "to": status.as_str() }),
            )))
        })
        .await
    }

    pub async fn change_incident_severity(
        &self,
        caller: &Caller,
        id: i64,
        severity: &str,
    ) -> Result<Incident> {
        self.change_incident(caller, id, |incident, org, _, now| {
            let before = incident.severity.clone();
            if before == severity {
                return Ok(None);
            }
            let raised = incident.change_severity(&org.incidents, severity, now)?;
            Ok(Some((
                "incident.severity_changed",
                json!({
                    "from": before, "to": severity, "raised": raised,
                }),
            )))
        })
        .await
    }

    /// Hands a role over; with `expected`, only if that person still
    /// holds it (two handovers at once: the second is told).
    pub async fn assign_incident_role(
        &self,
        caller: &Caller,
        id: i64,
        role: &str,
        person: &str,
        expected: Option<&str>,
    ) -> Result<Incident> {
        self.change_incident(caller, id, |incident, org, _, now| {
            if org.person(person).is_none() {
                let hint =
                    crate::config::closest(person, org.people.iter().map(|p| p.handle.clone()))
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                return Err(Error::invalid(
                    "unknown_person",
                    "person",
                    format!("unknown person `{person}`{hint}"),
                ));
            }
            let previous = incident.hand_over(&org.incidents, role, person, expected, now)?;
            Ok(Some((
                "incident.role_assigned",
                json!({
                    "role": role, "person": person, "previous": previous,
                }),
            )))
        })
        .await
    }

    pub async fn tick_incident_item(
        &self,
        caller: &Caller,
        id: i64,
        item: u32,
    ) -> Result<Incident> {
        self.change_incident(caller, id, |incident, org, person, now| {
            if !incident.tick(item, person, now)? {
                return Ok(None);
            }
            // As the room showed it when it was ticked.
            let text = incident
                .checklist
                .iter()
                .find(|i| i.id == item)
                .map(|i| incident.render(&i.text, org));
            Ok(Some((
                "incident.checklist_ticked",
                json!({ "item": item, "text": text, "by": person }),
            )))
        })
        .await
    }

    pub async fn post_incident_update(
        &self,
        caller: &Caller,
        id: i64,
        kind: UpdateKind,
        body: &str,
    ) -> Result<Incident> {
        self.change_incident(caller, id, |incident, org, person, now| {
            let update = incident.post_update(&org.incidents, kind, body, person, now)?;
            Ok(Some(("incident.update_posted", json!(update))))
        })
        .await
    }

    pub async fn link_incident_alert(
        &self,
        caller: &Caller,
        id: i64,
        alert_id: i64,
    ) -> Result<Incident> {
        let mut tx = self.store.read().await?;
        let alert = tx
            .alert(alert_id)
            .await
            .map_err(|e| super::auth::not_found(e, format!("alert {alert_id}")))?;
        drop(tx);
        self.change_incident(caller, id, |incident, _, _, _| {
            if !incident.link_alert(alert.id)? {
                return Ok(None);
            }
            if !incident.services.contains(&alert.service) {
                incident.services.push(alert.service.clone());
            }
            if alert.first_seen_at
                < incident
                    .milestones
                    .detected_at
                    .unwrap_or(alert.first_seen_at)
            {
                incident.milestones.detected_at = Some(alert.first_seen_at);
            }
            Ok(Some((
                "incident.alert_linked",
                json!({
                    "alert": alert.id, "summary": alert.summary, "service": alert.service,
                    "status": alert.status.as_str(),
                }),
            )))
        })
        .await
    }

    pub async fn unlink_incident_alert(
        &self,
        caller: &Caller,
        id: i64,
        alert_id: i64,
    ) -> Result<Incident> {
        self.change_incident(caller, id, |incident, _, _, _| {
            if !incident.unlink_alert(alert_id)? {
                return Err(Error::NotFound(format!(
                    "alert {alert_id} linked to {}",
                    display_id(incident.id)
                )));
            }
            Ok(Some((
                "incident.alert_unlinked",
                json!({ "alert": alert_id }),
            )))
        })
        .await
    }

    /// Resolves an incident when its services have recovered, or with the
    /// incident owner's written reason when they have not.
    pub async fn resolve_incident(
        &self,
        caller: &Caller,
        id: i64,
        override_reason: Option<&str>,
    ) -> Result<Incident> {
        caller.require(Role::Responder)?;
        // A blank reason is no reason: the evidence is checked as usual.
        let override_reason = override_reason.map(str::trim).filter(|r| !r.is_empty());
        let org = self.org_snapshot().await?;
        let now = self.clock.now();
        let actor = caller.actor();
        let person = person_of(&org, caller);
        let mut tx = self.store.write().await?;
        let mut incident = tx
            .incident_for_update(id)
            .await
            .map_err(|e| incident_not_found(e, id))?;
        let blockers = self
            .recovery_blockers(&mut tx, &org, &incident, now)
            .await?;
        if !blockers.is_empty()
            && override_reason.is_some()
            && incident.holder(OWNER_ROLE) != Some(person.as_str())
            && caller.role < Role::Admin
        {
            return Err(Error::Forbidden("incident owner"));
        }
        incident.resolve(&blockers, override_reason, now)?;
        let incident = tx.save_incident(&incident, now).await?;
        tx.append_event(
            now,
            NewEvent::new(&actor, "incident.resolved", Subject::new("incident", id)).after(json!({
                "override": incident.resolve_override, "unmet": blockers,
            })),
        )
        .await?;
        reschedule_reminder(&mut tx, &incident, now).await?;
        tx.commit().await?;
        Ok(incident)
    }

    pub async fn reopen_incident(&self, caller: &Caller, id: i64) -> Result<Incident> {
        self.change_incident(caller, id, |incident, org, _, now| {
            incident.reopen(&org.incidents, now)?;
            Ok(Some((
                "incident.reopened",
                json!({ "reason": "reopened by hand" }),
            )))
        })
        .await
    }

    /// Merges a duplicate into another incident.
    pub async fn merge_incident(&self, caller: &Caller, id: i64, into: i64) -> Result<Incident> {
        caller.require(Role::Responder)?;
        let org = self.org_snapshot().await?;
        let now = self.clock.now();
        let actor = caller.actor();
        let mut tx = self.store.write().await?;
        // Lock in id order, so two merges at once cannot deadlock.
        let (first, second) = (id.min(into), id.max(into));
        let a = tx
            .incident_for_update(first)
            .await
            .map_err(|e| incident_not_found(e, first))?;
        let b = if first == second {
            a.clone()
        } else {
            tx.incident_for_update(second)
                .await
                .map_err(|e| incident_not_found(e, second))?
        };
        let (mut duplicate, mut target) = if a.id == id { (a, b) } else { (b, a) };
        let services_before = target.services.clone();
        duplicate.merge_into(&mut target, now)?;
        tx.save_incident(&duplicate, now).await?;
        let target = tx.save_incident(&target, now).await?;
        tx.append_event(
            now,
            NewEvent::new(&actor, "incident.merged", Subject::new("incident", id))
                .after(json!({ "into": into, "reference": display_id(into) })),
        )
        .await?;
        tx.append_event(
            now,
            NewEvent::new(
                &actor,
                "incident.duplicate_merged",
                Subject::new("incident", into),
            )
            .after(json!({ "from": id, "reference": display_id(id), "alerts": duplicate.alerts })),
        )
        .await?;
        reschedule_reminder(&mut tx, &duplicate, now).await?;
        self.tell_owners_of_added(&mut tx, &org, &actor, &target, &services_before, now)
            .await?;
        tx.commit().await?;
        Ok(target)
    }

    async fn recovery_blockers(
        &self,
        tx: &mut Tx,
        org: &Org,
        incident: &Incident,
        now: Timestamp,
    ) -> Result<Vec<String>> {
        let settle = org
            .incidents
            .severity(&incident.severity)
            .map_or(SignedDuration::from_mins(5), |s| s.settle);
        let (open_alerts, last_alert_activity) = tx.alert_activity(&incident.services).await?;
        let mut unresolved_linked = Vec::new();
        for alert_id in &incident.alerts {
            let alert = tx.alert(*alert_id).await?;
            if alert.status != AlertStatus::Resolved {
                unresolved_linked.push((alert.id, alert.service, alert.status.as_str().into()));
            }
        }
        let facts = RecoveryFacts {
            open_alerts,
            last_alert_activity,
            unresolved_linked,
        };
        Ok(incident.recovery_blockers(&facts, settle, now))
    }

    pub async fn incident(&self, id: i64) -> Result<IncidentView> {
        let org = self.org_snapshot().await?;
        let now = self.clock.now();
        let mut tx = self.store.read().await?;
        let mut incident = tx
            .incident(id)
            .await
            .map_err(|e| incident_not_found(e, id))?;
        let mut linked_alerts = Vec::new();
        for alert_id in &incident.alerts {
            let alert = tx.alert(*alert_id).await?;
            // Acknowledged: when someone first acknowledged a linked alert.
            let current = incident.milestones.acknowledged_at;
            incident.milestones.acknowledged_at = match (current, alert.acknowledged_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            linked_alerts.push(LinkedAlert {
                id: alert.id,
                possible_regression: incident.possible_regressions.contains(&alert.id),
                dedup_key: alert.dedup_key,
                service: alert.service,
                summary: alert.summary,
                status: alert.status,
            });
        }
        let (open_alerts, _) = tx.alert_activity(&incident.services).await?;
        let recovery_blockers = if incident.is_closed() {
            Vec::new()
        } else {
            self.recovery_blockers(&mut tx, &org, &incident, now)
                .await?
        };
        let mut possibly_affected = Vec::new();
        let mut seen: BTreeSet<String> = incident.services.iter().cloned().collect();
        for service in &incident.services {
            for dependent in org.transitive_dependents(service) {
                if seen.insert(dependent.name.clone()) {
                    possibly_affected.push(PossiblyAffected {
                        service: dependent.name.clone(),
                        via: service.clone(),
                    });
                }
            }
        }
        let talk_scripts = org
            .incidents
            .talk_scripts
            .iter()
            .map(|script| RenderedScript {
                name: script.name.clone(),
                audience: script.audience.clone(),
                text: incident.render(&script.template, &org),
            })
            .collect();
        Ok(IncidentView {
            reference: display_id(incident.id),
            incident: incident.with_rendered_checklist(&org),
            possibly_affected,
            open_alerts,
            linked_alerts,
            recovery_blockers,
            talk_scripts,
        })
    }

    pub async fn incidents(&self, query: IncidentQuery) -> Result<Page<Incident>> {
        let statuses = match query.status.as_deref() {
            None | Some("all") => Vec::new(),
            Some("active") => IncidentStatus::ACTIVE.to_vec(),
            Some("closed") => vec![IncidentStatus::Resolved, IncidentStatus::Merged],
            Some(other) => vec![IncidentStatus::parse(other).ok_or_else(|| {
                Error::invalid(
                    "invalid_status",
                    "status",
                    format!("unknown status `{other}`: active, closed, all, investigating, identified, monitoring, resolved or merged"),
                )
            })?],
        };
        let limit = super::audit::page_limit(query.limit)?;
        let before_id = match &query.cursor {
            Some(cursor) => Some(
                crate::domain::page::decode_cursor(cursor)
                    .and_then(|c| c.parse::<i64>().ok())
                    .ok_or_else(|| {
                        Error::invalid(
                            "invalid_cursor",
                            "cursor",
                            "the cursor is not one siaga gave out",
                        )
                    })?,
            ),
            None => None,
        };
        let mut tx = self.store.read().await?;
        let items = tx
            .list_incidents(&IncidentFilter {
                statuses,
                severity: query.severity,
                service: query.service,
                before_id,
                limit,
            })
            .await?;
        Ok(crate::domain::page::page_from(items, limit, |i| {
            i.id.to_string()
        }))
    }

    /// The incident's timeline: its own events, those of its linked alerts
    /// and of alerts on its impacted services, oldest first, after event
    /// `after_id`.
    pub async fn incident_timeline(&self, id: i64, after_id: i64) -> Result<Vec<Event>> {
        let mut tx = self.store.read().await?;
        let incident = tx
            .incident(id)
            .await
            .map_err(|e| incident_not_found(e, id))?;
        // Alerts on the impacted services from an hour before detection on
        // tell how healthy they are.
        let since = incident
            .milestones
            .detected_at
            .and_then(|t| t.checked_sub(SignedDuration::from_hours(1)).ok())
            .unwrap_or_default();
        Ok(tx
            .incident_events(
                id,
                &incident.alerts,
                &incident.services,
                since,
                after_id,
                1000,
            )
            .await?)
    }

    /// A reminder to the communications lead that an update is due or
    /// overdue; schedules the next overdue reminder.
    pub async fn incident_update_due(&self, job: &Job) -> anyhow::Result<()> {
        let payload = &job.payload;
        let id = payload["incident_id"].as_i64().unwrap_or_default();
        let due_at = payload["due_at"].as_i64().unwrap_or_default();
        let overdue = payload["overdue"].as_u64().unwrap_or(0) as u32;
        let org = self.org_snapshot().await?;
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        // The incident before the job: see `Tx::cancel_job`.
        let incident = tx.incident_for_update(id).await?;
        if !self.complete_job_in(&mut tx, job).await? {
            return Ok(());
        }
        if incident.is_closed()
            || incident.next_update_due_at.map(|t| t.as_millisecond()) != Some(due_at)
        {
            // An update was posted or the incident closed since.
            tx.commit().await?;
            return Ok(());
        }
        let comms = incident.holder(COMMS_ROLE).map(str::to_string);
        let what = if overdue == 0 { "due" } else { "overdue" };
        let mut deliveries = Vec::new();
        let mut skipped = Vec::new();
        if let Some(handle) = &comms {
            let url = self.incident_url(&org, id);
            let text = format!(
                "A customer-facing update on {} ({}) is {what}. Post it in the incident room{}.",
                display_id(id),
                incident.title,
                url.as_deref().map(|u| format!(": {u}")).unwrap_or_default()
            );
            let title = format!("Update {what}: {} {}", display_id(id), incident.title);
            let message =
                self.incident_message(&org, &incident, "incident.update_due", title, text);
            (deliveries, skipped) = self
                .enqueue_to_person(
                    &mut tx,
                    &org,
                    handle,
                    &message,
                    &format!("inc{id}-update-{due_at}-{overdue}"),
                    now,
                )
                .await?;
        }
        tx.append_event(
            now,
            NewEvent::new(&Actor::system("incidents"), "incident.update_reminder", Subject::new("incident", id))
                .after(json!({ "due_at": Timestamp::from_millisecond(due_at).ok(), "overdue": overdue > 0, "to": comms, "deliveries": deliveries, "skipped": skipped })),
        )
        .await?;
        if overdue < MAX_OVERDUE_REMINDERS
            && let Some(next) = reminder_job(&incident, overdue + 1)
        {
            tx.enqueue_job(now, &next).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Tells the incident owner that an alert suggests the resolved
    /// incident regressed, so that they decide whether to reopen it.
    async fn tell_of_regression(
        &self,
        tx: &mut Tx,
        org: &Org,
        incident: &Incident,
        alert: &crate::domain::alert::Alert,
        owner: &str,
        now: Timestamp,
    ) -> Result<(Vec<serde_json::Value>, Vec<serde_json::Value>)> {
        let reference = display_id(incident.id);
        let url = self.incident_url(org, incident.id);
        let title = format!("Possible regression: {reference} {}", incident.title);
        let text = format!(
            "Alert {} on {} opened after {reference} was resolved: {}. Reopen the incident if it has regressed{}.",
            alert.id,
            alert.service,
            alert.summary,
            url.as_deref().map(|u| format!(": {u}")).unwrap_or_default()
        );
        let message =
            self.incident_message(org, incident, "incident.regression_suspected", title, text);
        self.enqueue_to_person(
            tx,
            org,
            owner,
            &message,
            &format!("inc{}-regression-{}", incident.id, alert.id),
            now,
        )
        .await
    }

    /// A new alert opened: declare by rule, or catch a regression of a
    /// recently resolved incident on its service.
    pub async fn incident_alert_opened(&self, job: &Job) -> anyhow::Result<()> {
        for _ in 0..2 {
            if self.incident_alert_opened_once(job).await? {
                return Ok(());
            }
        }
        self.incident_alert_opened_once(job).await?;
        Ok(())
    }

    /// False when another alert's rule declared an incident on the
    /// service meanwhile: looked at again, this alert joins it.
    async fn incident_alert_opened_once(&self, job: &Job) -> anyhow::Result<bool> {
        let alert_id = job.payload["alert_id"].as_i64().unwrap_or_default();
        let org = self.org_snapshot().await?;
        let now = self.clock.now();
        let mut tx = self.store.read().await?;
        let alert = tx.alert(alert_id).await?;
        let window_start = now
            .checked_sub(org.incidents.regression.window)
            .unwrap_or(now);
        let recent = tx
            .recent_incidents_of_service(&alert.service, window_start)
            .await?;
        drop(tx);
        let actor = Actor::system("incidents");
        if let Some(&incident_id) = recent.last() {
            let mut tx = self.store.write().await?;
            // The incident before the job: see `Tx::cancel_job`.
            let mut incident = tx.incident_for_update(incident_id).await?;
            if !self.complete_job_in(&mut tx, job).await? {
                return Ok(true);
            }
            let was_resolved = incident.status == IncidentStatus::Resolved;
            if was_resolved {
                match org.incidents.regression.action {
                    RegressionAction::Reopen => {
                        incident.reopen(&org.incidents, now)?;
                        incident.link_alert(alert.id)?;
                        let incident = tx.save_incident(&incident, now).await?;
                        tx.append_event(now, NewEvent::new(&actor, "incident.reopened", Subject::new("incident", incident_id))
                            .after(json!({ "reason": "regression", "alert": alert.id, "summary": alert.summary }))).await?;
                        reschedule_reminder(&mut tx, &incident, now).await?;
                    }
                    RegressionAction::Prompt => {
                        if incident.suspect_regression(alert.id)? {
                            let incident = tx.save_incident(&incident, now).await?;
                            let owner = incident.holder(OWNER_ROLE).map(str::to_string);
                            let (deliveries, skipped) = match &owner {
                                Some(owner) => {
                                    self.tell_of_regression(
                                        &mut tx, &org, &incident, &alert, owner, now,
                                    )
                                    .await?
                                }
                                None => (Vec::new(), Vec::new()),
                            };
                            tx.append_event(now, NewEvent::new(&actor, "incident.regression_suspected", Subject::new("incident", incident_id))
                                .after(json!({
                                    "alert": alert.id, "summary": alert.summary, "service": alert.service,
                                    "to": owner, "deliveries": deliveries, "skipped": skipped,
                                }))).await?;
                        }
                    }
                }
            } else if incident.link_alert(alert.id)? {
                tx.save_incident(&incident, now).await?;
                tx.append_event(now, NewEvent::new(&actor, "incident.alert_linked", Subject::new("incident", incident_id))
                    .after(json!({ "alert": alert.id, "summary": alert.summary, "service": alert.service, "status": alert.status.as_str() }))).await?;
            }
            tx.commit().await?;
            return Ok(true);
        }
        let tier = org.service(&alert.service).and_then(|s| s.tier);
        if let Some(severity) = org.incidents.auto_declare_for(&alert, tier) {
            let declaration = Declaration {
                title: crate::domain::incident::title_for_alert(&alert.summary, &alert.service),
                severity: severity.to_string(),
                services: vec![alert.service.clone()],
                alerts: vec![alert.id],
                ..Declaration::default()
            };
            return match self
                .declare_as(&org, &actor, "siaga", &declaration, Some(job))
                .await
            {
                Ok(_) => Ok(true),
                Err(Error::Contended(_)) => Ok(false),
                Err(error) => Err(error.into()),
            };
        }
        self.complete_job_alone(job).await?;
        Ok(true)
    }
}

/// A timeline event with the sentence the room shows for it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    #[serde(flatten)]
    pub event: Event,
    pub text: String,
}

impl From<Event> for TimelineEntry {
    fn from(event: Event) -> Self {
        let text = describe(&event);
        TimelineEntry { event, text }
    }
}

/// Whether a reminder or prompt reached anyone: it planned a delivery.
fn reached(after: &serde_json::Value) -> bool {
    after["deliveries"]
        .as_array()
        .is_some_and(|d| !d.is_empty())
}

pub fn describe(event: &Event) -> String {
    let after = event.after.clone().unwrap_or_default();
    let s = |key: &str| after[key].as_str().unwrap_or("").to_string();
    let who = &event.actor.name;
    match event.action.as_str() {
        "incident.declared" => format!(
            "{who} declared {} {}: {}",
            s("severity"),
            s("reference"),
            s("title")
        ),
        "incident.notified" => {
            let people: Vec<String> = after["stakeholders"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect();
            let list = |key: &str| {
                after[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if after["services_added"].is_array() {
                return format!(
                    "now impacts {}: its owners told: {}",
                    list("services_added"),
                    people.join(", ")
                );
            }
            format!(
                "stakeholders notified for {}: {}",
                after["severities"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if people.is_empty() {
                    "nobody".to_string()
                } else {
                    people.join(", ")
                }
            )
        }
        "incident.role_assigned" => match after["previous"].as_str() {
            Some(previous) => format!(
                "{} handed from {previous} to {} by {who}",
                s("role"),
                s("person")
            ),
            None => format!("{} is now {} (by {who})", s("role"), s("person")),
        },
        "incident.checklist_ticked" => format!("{} ticked: {}", s("by"), s("text")),
        "incident.update_posted" => {
            let kind = if s("kind") == "public" {
                "customer update"
            } else {
                "note"
            };
            format!("{kind} by {}: {}", s("author"), s("body"))
        }
        "incident.status_changed" => format!("status {} → {} (by {who})", s("from"), s("to")),
        "incident.severity_changed" => format!("severity {} → {} (by {who})", s("from"), s("to")),
        "incident.edited" => format!("{who} edited the impact"),
        "incident.alert_linked" => format!(
            "alert {} linked: {} ({})",
            after["alert"],
            s("summary"),
            s("service")
        ),
        "incident.alert_unlinked" => format!("alert {} unlinked by {who}", after["alert"]),
        "incident.merged" => format!("merged into {} by {who}", s("reference")),
        "incident.duplicate_merged" => {
            format!("{} merged into this incident by {who}", s("reference"))
        }
        "incident.resolved" => match after["override"].as_str() {
            Some(reason) => format!("resolved by {who} without the evidence: {reason}"),
            None => format!("resolved by {who}: services recovered"),
        },
        "incident.reopened" => format!("reopened ({})", s("reason")),
        "incident.regression_suspected" => format!(
            "possible regression: alert {} on {} ({}); {}",
            after["alert"],
            s("service"),
            s("summary"),
            match (after["to"].as_str(), reached(&after)) {
                (Some(to), true) => format!("{to} told"),
                (Some(to), false) => format!("{to} could not be told"),
                (None, _) => "nobody told".to_string(),
            }
        ),
        "incident.update_reminder" => {
            let to = after["to"].as_str().unwrap_or("nobody");
            let due = if after["overdue"].as_bool() == Some(true) {
                "update overdue"
            } else {
                "update due"
            };
            if reached(&after) {
                format!("{due}: reminded {to}")
            } else {
                format!("{due}: {to} could not be reminded")
            }
        }
        "notification.delivered" => format!("delivered to {} by {}", s("person"), s("channel")),
        "notification.failed" => format!(
            "delivery to {} by {} failed: {}",
            s("person"),
            s("channel"),
            s("error")
        ),
        "alert.triggered" => format!("alert {}: {} triggered", event.subject.id, s("summary")),
        "alert.acknowledged" => format!("alert {} acknowledged by {who}", event.subject.id),
        "alert.resolved" => format!("alert {} resolved", event.subject.id),
        "alert.retriggered" => format!("alert {} triggered again", event.subject.id),
        other => format!("{other} by {who}"),
    }
}

/// Follows an incident's timeline for a live view. PostgreSQL numbers
/// events when they are inserted, not when they commit, so an event with a
/// lower id can appear after a higher one was read. The follower therefore
/// re-reads a trailing window (events younger than [`LATE_COMMIT_WINDOW`])
/// and passes on only the ids it has not passed on yet.
pub struct TimelineFollower {
    incident: i64,
    /// Every event at or below this id has been passed on or never will be.
    settled: i64,
    /// Ids above `settled` already passed on.
    sent: BTreeSet<i64>,
}

/// How long a transaction may take between appending an event and
/// committing it before a live view could miss the event.
pub const LATE_COMMIT_WINDOW: SignedDuration = SignedDuration::from_secs(30);

impl TimelineFollower {
    pub fn new(incident: i64, after: i64) -> Self {
        Self {
            incident,
            settled: after,
            sent: BTreeSet::new(),
        }
    }

    /// Events not passed on yet, oldest first.
    pub async fn poll(&mut self, app: &App) -> Result<Vec<Event>> {
        let events = app.incident_timeline(self.incident, self.settled).await?;
        let horizon = app.clock.now().checked_sub(LATE_COMMIT_WINDOW).ok();
        let mut fresh = Vec::new();
        let mut settling = true;
        for event in events {
            if self.sent.insert(event.id) {
                fresh.push(event.clone());
            }
            // Old enough, and all before it too: nothing below it can
            // still commit.
            settling = settling && horizon.is_some_and(|h| event.at < h);
            if settling {
                self.settled = event.id;
            }
        }
        let settled = self.settled;
        self.sent.retain(|id| *id > settled);
        Ok(fresh)
    }
}

/// The incident check of a newly opened alert (declare by rule, or catch
/// a regression), for the ingestion transaction to enqueue.
pub fn alert_opened(alert_id: i64, now: Timestamp) -> NewJob {
    NewJob {
        unique_key: Some(format!("incident-alert:{alert_id}")),
        ..NewJob::new(ALERT_OPENED, json!({ "alert_id": alert_id }), now)
    }
}
