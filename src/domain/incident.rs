//! Incidents: declared in one action, worked by people in roles, told to
//! stakeholders at a cadence, resolved only on evidence. Pure: the use cases
//! in `app::incidents` load an incident, call these rules, and store the
//! result with the events they return.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::org::{ContactMethod, Org};

/// How the organisation runs incidents: severities and their workflows,
/// roles, talk scripts, automatic declaration, regressions. From config;
/// every part has a sensible default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentPolicy {
    /// Most severe first.
    pub severities: Vec<SeverityLevel>,
    pub roles: Vec<RoleDef>,
    pub talk_scripts: Vec<TalkScript>,
    pub auto_declare: Vec<AutoDeclare>,
    pub regression: Regression,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeverityLevel {
    pub name: String,
    /// What the severity means, so people pick the right one under stress.
    pub description: String,
    /// Who hears of the incident when it is declared at (or raised to)
    /// this severity.
    pub notify: Vec<Stakeholder>,
    /// Chat channels (Slack, Teams, webhook) that get a message with the
    /// room link.
    pub chat: Vec<ContactMethod>,
    /// How often the communications lead must post an update.
    #[schema(value_type = Option<String>)]
    pub update_every: Option<SignedDuration>,
    /// How long impacted services must stay quiet before resolve.
    #[schema(value_type = String)]
    pub settle: SignedDuration,
    /// Extra checklist items per role at this severity.
    pub checklist: BTreeMap<String, Vec<String>>,
}

/// Whom a severity notifies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "type", content = "name")]
pub enum Stakeholder {
    /// The organisation's executives group.
    Executives,
    /// The leads of the teams owning the impacted services.
    OwnerLeads,
    /// The heads of the teams owning the impacted services.
    OwnerHeads,
    Person(String),
    /// Every member of a team.
    Team(String),
}

impl Stakeholder {
    /// `executives`, `owner_leads`, `owner_heads`, `person:zul`, `team:payments`.
    pub fn parse(text: &str) -> Option<Stakeholder> {
        match text.trim() {
            "executives" => Some(Stakeholder::Executives),
            "owner_leads" => Some(Stakeholder::OwnerLeads),
            "owner_heads" => Some(Stakeholder::OwnerHeads),
            other => match other.split_once(':')? {
                ("person", name) if !name.trim().is_empty() => {
                    Some(Stakeholder::Person(name.trim().into()))
                }
                ("team", name) if !name.trim().is_empty() => {
                    Some(Stakeholder::Team(name.trim().into()))
                }
                _ => None,
            },
        }
    }
}

/// A role in the response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleDef {
    /// `incident_owner`, `comms_lead`, …
    pub name: String,
    pub title: String,
    pub description: String,
    /// Schedules whose on-call person holds the role by default, in order;
    /// the declarer when none has anyone on call.
    pub default_from: Vec<String>,
    pub checklist: Vec<String>,
}

/// Words for people to say, rendered with the incident's variables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TalkScript {
    pub name: String,
    /// Who reads it: `customer support`, `sales`, …
    pub audience: String,
    /// Text with `{{title}}`, `{{severity}}`, `{{status}}`, `{{services}}`,
    /// `{{customer_impact}}`, `{{workaround}}`, `{{next_update}}`.
    pub template: String,
}

/// Declares an incident when an alert like this opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AutoDeclare {
    /// Alert severity at least this (`critical`, `error`, …).
    pub alert_severity: super::alert::Severity,
    /// Only services of this tier (1 most important); any when absent.
    pub tier: Option<u8>,
    /// Only these services; any when empty.
    pub services: Vec<String>,
    /// The incident severity to declare.
    pub declare: String,
}

/// What happens when an impacted service alerts again soon after resolve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Regression {
    #[schema(value_type = String)]
    pub window: SignedDuration,
    pub action: RegressionAction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegressionAction {
    /// The incident opens again.
    Reopen,
    /// The incident stays resolved; the alert is linked, the room says it
    /// may have regressed, and the incident owner is told.
    Prompt,
}

pub const TEMPLATE_VARIABLES: [&str; 7] = [
    "title",
    "severity",
    "status",
    "services",
    "customer_impact",
    "workaround",
    "next_update",
];

impl Default for IncidentPolicy {
    fn default() -> Self {
        let severity =
            |name: &str, description: &str, notify, update_mins: Option<i64>, settle_mins| {
                SeverityLevel {
                    name: name.into(),
                    description: description.into(),
                    notify,
                    chat: Vec::new(),
                    update_every: update_mins.map(SignedDuration::from_mins),
                    settle: SignedDuration::from_mins(settle_mins),
                    checklist: BTreeMap::new(),
                }
            };
        let role = |name: &str, title: &str, description: &str, checklist: &[&str]| RoleDef {
            name: name.into(),
            title: title.into(),
            description: description.into(),
            default_from: Vec::new(),
            checklist: checklist.iter().map(|c| c.to_string()).collect(),
        };
        IncidentPolicy {
            severities: vec![
                severity(
                    "SEV1",
                    "Customers cannot pay or order; revenue is stopping.",
                    vec![
                        Stakeholder::Executives,
                        Stakeholder::OwnerLeads,
                        Stakeholder::OwnerHeads,
                    ],
                    Some(30),
                    15,
                ),
                severity(
                    "SEV2",
                    "A major feature is broken or badly degraded for many customers.",
                    vec![Stakeholder::OwnerLeads, Stakeholder::OwnerHeads],
                    Some(60),
                    10,
                ),
                severity(
                    "SEV3",
                    "A minor feature is broken, or a workaround exists.",
                    vec![Stakeholder::OwnerLeads],
                    Some(240),
                    5,
                ),
                severity(
                    "SEV4",
                    "Cosmetic or internal only; no customer impact.",
                    Vec::new(),
                    None,
                    5,
                ),
            ],
            roles: vec![
                role(
                    OWNER_ROLE,
                    "Incident owner",
                    "Commands the response, judges the phase, reports status.",
                    &[
                        "Confirm the severity",
                        "Name the impacted services",
                        "Post the first internal update",
                    ],
                ),
                role(
                    "comms_lead",
                    "External-communications lead",
                    "Public notices and the incident report.",
                    &[
                        "Post the first customer-facing update",
                        "Agree the next update time",
                    ],
                ),
                role(
                    "support_lead",
                    "Customer-support lead",
                    "Talk scripts and support staffing.",
                    &[
                        "Brief the support team with the talk script",
                        "Staff the phones for the expected call volume",
                    ],
                ),
            ],
            talk_scripts: vec![TalkScript {
                name: "support-phone".into(),
                audience: "customer support".into(),
                template: "We are sorry: {{title}}. Our team is working on it. \
                           Affected: {{services}}. Until it is fixed: {{workaround}}. \
                           We will share news by {{next_update}}."
                    .into(),
            }],
            auto_declare: Vec::new(),
            regression: Regression {
                window: SignedDuration::from_hours(1),
                action: RegressionAction::Reopen,
            },
        }
    }
}

/// The role that commands the response and may override recovery checks.
pub const OWNER_ROLE: &str = "incident_owner";
/// The role that is reminded when an update is due.
pub const COMMS_ROLE: &str = "comms_lead";

impl IncidentPolicy {
    pub fn severity(&self, name: &str) -> Option<&SeverityLevel> {
        self.severities.iter().find(|s| s.name == name)
    }

    /// 0 for the most severe.
    pub fn rank(&self, name: &str) -> Option<usize> {
        self.severities.iter().position(|s| s.name == name)
    }

    pub fn role(&self, name: &str) -> Option<&RoleDef> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// The severity to declare for an alert that just opened, if any rule
    /// asks for one (the most severe of the matching rules).
    pub fn auto_declare_for(
        &self,
        alert: &super::alert::Alert,
        service_tier: Option<u8>,
    ) -> Option<&str> {
        self.auto_declare
            .iter()
            .filter(|rule| alert.severity >= rule.alert_severity)
            .filter(|rule| rule.tier.is_none() || rule.tier == service_tier)
            .filter(|rule| rule.services.is_empty() || rule.services.contains(&alert.service))
            .map(|rule| rule.declare.as_str())
            .min_by_key(|name| self.rank(name).unwrap_or(usize::MAX))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    /// A duplicate merged into another incident; terminal, so it leaves the
    /// active incidents and cannot be reopened.
    Merged,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 5] = [
        Self::Investigating,
        Self::Identified,
        Self::Monitoring,
        Self::Resolved,
        Self::Merged,
    ];

    /// Statuses of incidents still being worked.
    pub const ACTIVE: [IncidentStatus; 3] =
        [Self::Investigating, Self::Identified, Self::Monitoring];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
            Self::Merged => "merged",
        }
    }

    pub fn parse(text: &str) -> Option<IncidentStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleHolder {
    pub role: String,
    pub person: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChecklistItem {
    pub id: u32,
    pub role: String,
    pub text: String,
    pub done_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// For the responders and the company.
    Internal,
    /// For customers: the status page publishes these.
    Public,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentUpdate {
    pub id: u32,
    pub kind: UpdateKind,
    pub body: String,
    pub author: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// The moments that matter for response metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Milestones {
    /// The first linked alert's first event, or the declaration.
    #[schema(value_type = String, format = DateTime)]
    pub detected_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub declared_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub identified_at: Option<Timestamp>,
    /// Entered monitoring: the fix is in, recovery is being watched.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub mitigated_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    /// Zero until stored; shown as `INC-{id}`.
    pub id: i64,
    pub title: String,
    pub severity: String,
    pub status: IncidentStatus,
    /// Services named as impacted.
    pub services: Vec<String>,
    pub customer_impact: String,
    /// What customers can do meanwhile.
    pub workaround: String,
    pub roles: Vec<RoleHolder>,
    pub checklist: Vec<ChecklistItem>,
    pub updates: Vec<IncidentUpdate>,
    /// Linked alert ids.
    pub alerts: Vec<i64>,
    pub milestones: Milestones,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_update_due_at: Option<Timestamp>,
    /// Severities whose stakeholders were told, so raising notifies only
    /// the new ones.
    pub notified_severities: Vec<String>,
    pub declared_by: String,
    /// Set when this incident was a duplicate, merged into another.
    pub merged_into: Option<i64>,
    /// Why resolve went ahead without the evidence, if it did.
    pub resolve_override: Option<String>,
    /// Alerts on impacted services that opened soon after resolve, linked
    /// while the incident stays resolved (regression `action: prompt`):
    /// the room asks whether to reopen. Cleared by reopening.
    #[serde(default)]
    pub possible_regressions: Vec<i64>,
    /// Bumped by every change; for optimistic checks by clients.
    pub version: i64,
}

/// Why a change to an incident was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    #[error("unknown {what} `{name}`")]
    Unknown {
        what: &'static str,
        name: String,
        field: &'static str,
    },
    #[error("{0}")]
    Invalid(String, &'static str),
    #[error("{0}")]
    Conflict(String),
    /// Resolve was refused: the evidence of recovery is missing, for these
    /// reasons.
    #[error("not resolved: {}", .0.join("; "))]
    NotRecovered(Vec<String>),
}

pub fn display_id(id: i64) -> String {
    format!("INC-{id}")
}

/// Reads `INC-42`, `inc-42` or `42`.
pub fn parse_display_id(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = text
        .strip_prefix("INC-")
        .or_else(|| text.strip_prefix("inc-"))
        .unwrap_or(text);
    digits.parse().ok().filter(|id: &i64| *id > 0)
}

/// What to declare. A misspelt field is refused, not declared without it
/// (`service` for `services` would leave the incident impacting nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    pub title: String,
    pub severity: String,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub customer_impact: String,
    #[serde(default)]
    pub workaround: String,
    /// Alerts to link at once.
    #[serde(default)]
    pub alerts: Vec<i64>,
}

impl Incident {
    /// A new incident, its roles filled (by `default_holder` or the
    /// declarer) and its checklists drawn from the policy.
    pub fn declare(
        declaration: &Declaration,
        org: &Org,
        declared_by: &str,
        default_holder: impl Fn(&RoleDef) -> Option<String>,
        now: Timestamp,
    ) -> Result<Incident, IncidentError> {
        let policy = &org.incidents;
        let title = declaration.title.trim();
        check_title(title)?;
        check_words(&declaration.customer_impact, "customer_impact")?;
        check_words(&declaration.workaround, "workaround")?;
        let severity =
            policy
                .severity(&declaration.severity)
                .ok_or_else(|| IncidentError::Unknown {
                    what: "severity",
                    name: declaration.severity.clone(),
                    field: "severity",
                })?;
        let mut services: Vec<String> = Vec::new();
        for service in &declaration.services {
            if org.service(service).is_none() {
                return Err(IncidentError::Unknown {
                    what: "service",
                    name: service.clone(),
                    field: "services",
                });
            }
            if !services.contains(service) {
                services.push(service.clone());
            }
        }
        let roles = policy
            .roles
            .iter()
            .map(|role| RoleHolder {
                role: role.name.clone(),
                person: default_holder(role).unwrap_or_else(|| declared_by.to_string()),
                since: now,
            })
            .collect();
        let mut incident = Incident {
            id: 0,
            title: title.to_string(),
            severity: severity.name.clone(),
            status: IncidentStatus::Investigating,
            services,
            customer_impact: declaration.customer_impact.trim().to_string(),
            workaround: declaration.workaround.trim().to_string(),
            roles,
            checklist: Vec::new(),
            updates: Vec::new(),
            alerts: Vec::new(),
            milestones: Milestones {
                detected_at: Some(now),
                declared_at: Some(now),
                ..Milestones::default()
            },
            next_update_due_at: severity.update_every.and_then(|d| now.checked_add(d).ok()),
            notified_severities: Vec::new(),
            declared_by: declared_by.to_string(),
            merged_into: None,
            resolve_override: None,
            possible_regressions: Vec::new(),
            version: 1,
        };
        for role in &policy.roles {
            incident.add_checklist(&role.name, &role.checklist);
        }
        incident.add_severity_checklist(severity);
        Ok(incident)
    }

    fn add_checklist(&mut self, role: &str, items: &[String]) {
        for text in items {
            if self
                .checklist
                .iter()
                .any(|i| i.role == role && &i.text == text)
            {
                continue;
            }
            let id = self.checklist.iter().map(|i| i.id).max().unwrap_or(0) + 1;
            self.checklist.push(ChecklistItem {
                id,
                role: role.to_string(),
                text: text.clone(),
                done_by: None,
                done_at: None,
            });
        }
    }

    fn add_severity_checklist(&mut self, severity: &SeverityLevel) {
        for (role, items) in &severity.checklist {
            self.add_checklist(role, items);
        }
    }

    pub fn is_closed(&self) -> bool {
        !IncidentStatus::ACTIVE.contains(&self.status) || self.merged_into.is_some()
    }

    fn require_open(&self) -> Result<(), IncidentError> {
        if let Some(into) = self.merged_into {
            return Err(IncidentError::Conflict(format!(
                "{} was merged into {}: change that one",
                display_id(self.id),
                display_id(into)
            )));
        }
        if self.status == IncidentStatus::Resolved {
            return Err(IncidentError::Conflict(format!(
                "{} is resolved: reopen it first",
                display_id(self.id)
            )));
        }
        Ok(())
    }

    pub fn holder(&self, role: &str) -> Option<&str> {
        self.roles
            .iter()
            .find(|r| r.role == role)
            .map(|r| r.person.as_str())
    }

    /// Hands a role to `person`. With `expected`, refuses when someone else
    /// took it meanwhile (two handovers at once: the second is told).
    pub fn hand_over(
        &mut self,
        policy: &IncidentPolicy,
        role: &str,
        person: &str,
        expected: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<String>, IncidentError> {
        self.require_open()?;
        if policy.role(role).is_none() {
            return Err(IncidentError::Unknown {
                what: "role",
                name: role.into(),
                field: "role",
            });
        }
        let current = self.holder(role).map(str::to_string);
        if let Some(expected) = expected
            && current.as_deref() != Some(expected)
        {
            return Err(IncidentError::Conflict(format!(
                "the {role} is {} now, not {expected}: someone handed it over meanwhile",
                current.as_deref().unwrap_or("nobody")
            )));
        }
        self.roles.retain(|r| r.role != role);
        self.roles.push(RoleHolder {
            role: role.into(),
            person: person.into(),
            since: now,
        });
        self.roles
            .sort_by_key(|r| policy.roles.iter().position(|d| d.name == r.role));
        Ok(current)
    }

    /// Ticks a checklist item. Ticking one already ticked changes nothing
    /// and says who did it first (`Ok(false)`).
    pub fn tick(&mut self, item: u32, by: &str, now: Timestamp) -> Result<bool, IncidentError> {
        self.require_open()?;
        let entry = self
            .checklist
            .iter_mut()
            .find(|i| i.id == item)
            .ok_or_else(|| IncidentError::Unknown {
                what: "checklist item",
                name: item.to_string(),
                field: "item",
            })?;
        if entry.done_by.is_some() {
            return Ok(false);
        }
        entry.done_by = Some(by.to_string());
        entry.done_at = Some(now);
        Ok(true)
    }

    /// Posts an update; a public one restarts the update cadence.
    pub fn post_update(
        &mut self,
        policy: &IncidentPolicy,
        kind: UpdateKind,
        body: &str,
        author: &str,
        now: Timestamp,
    ) -> Result<&IncidentUpdate, IncidentError> {
        self.require_open()?;
        let body = body.trim();
        if body.is_empty() {
            return Err(IncidentError::Invalid(
                "the update must not be empty".into(),
                "body",
            ));
        }
        if body.chars().count() > 10_000 {
            return Err(IncidentError::Invalid(
                "the update is longer than 10,000 characters".into(),
                "body",
            ));
        }
        let id = self.updates.iter().map(|u| u.id).max().unwrap_or(0) + 1;
        self.updates.push(IncidentUpdate {
            id,
            kind,
            body: body.to_string(),
            author: author.to_string(),
            at: now,
        });
        if kind == UpdateKind::Public {
            self.next_update_due_at = self.cadence(policy).and_then(|d| now.checked_add(d).ok());
        }
        Ok(self.updates.last().expect("just pushed"))
    }

    fn cadence(&self, policy: &IncidentPolicy) -> Option<SignedDuration> {
        policy.severity(&self.severity).and_then(|s| s.update_every)
    }

    /// Moves the status on (or back) short of resolved; stamps milestones.
    pub fn set_status(
        &mut self,
        status: IncidentStatus,
        now: Timestamp,
    ) -> Result<(), IncidentError> {
        self.require_open()?;
        match status {
            IncidentStatus::Resolved => {
                return Err(IncidentError::Invalid(
                    "resolve the incident with resolve, which checks the evidence".into(),
                    "status",
                ));
            }
            IncidentStatus::Merged => {
                return Err(IncidentError::Invalid(
                    "merge the incident into the one it duplicates with merge".into(),
                    "status",
                ));
            }
            _ => {}
        }
        self.status = status;
        match status {
            IncidentStatus::Identified => {
                self.milestones.identified_at.get_or_insert(now);
            }
            IncidentStatus::Monitoring => {
                self.milestones.identified_at.get_or_insert(now);
                self.milestones.mitigated_at.get_or_insert(now);
            }
            _ => {}
        }
        Ok(())
    }

    /// Changes the severity. Returns the severity levels whose extra steps
    /// now apply: those more severe than any notified before (raising), none
    /// when lowering.
    pub fn change_severity(
        &mut self,
        policy: &IncidentPolicy,
        severity: &str,
        now: Timestamp,
    ) -> Result<bool, IncidentError> {
        self.require_open()?;
        let level = policy
            .severity(severity)
            .ok_or_else(|| IncidentError::Unknown {
                what: "severity",
                name: severity.into(),
                field: "severity",
            })?;
        let raised = policy.rank(severity) < policy.rank(&self.severity);
        self.severity = level.name.clone();
        if raised {
            self.add_severity_checklist(level);
        }
        // The cadence of the new severity counts from now, never later
        // than what was already promised.
        let next = level.update_every.and_then(|d| now.checked_add(d).ok());
        self.next_update_due_at = match (self.next_update_due_at, next) {
            (Some(current), Some(next)) => Some(current.min(next)),
            (_, next) => next,
        };
        Ok(raised)
    }

    pub fn link_alert(&mut self, alert_id: i64) -> Result<bool, IncidentError> {
        self.require_open()?;
        if self.alerts.contains(&alert_id) {
            return Ok(false);
        }
        self.alerts.push(alert_id);
        Ok(true)
    }

    pub fn unlink_alert(&mut self, alert_id: i64) -> Result<bool, IncidentError> {
        self.require_open()?;
        let before = self.alerts.len();
        self.alerts.retain(|a| *a != alert_id);
        Ok(self.alerts.len() != before)
    }

    /// Sets the words: impact, workaround, title, services.
    pub fn edit(&mut self, org: &Org, edit: &IncidentEdit) -> Result<(), IncidentError> {
        self.require_open()?;
        if let Some(impact) = &edit.customer_impact {
            check_words(impact, "customer_impact")?;
        }
        if let Some(workaround) = &edit.workaround {
            check_words(workaround, "workaround")?;
        }
        if let Some(title) = &edit.title {
            let title = title.trim();
            check_title(title)?;
            self.title = title.to_string();
        }
        if let Some(services) = &edit.services {
            for service in services {
                if org.service(service).is_none() {
                    return Err(IncidentError::Unknown {
                        what: "service",
                        name: service.clone(),
                        field: "services",
                    });
                }
            }
            let mut unique: Vec<String> = Vec::new();
            for s in services {
                if !unique.contains(s) {
                    unique.push(s.clone());
                }
            }
            self.services = unique;
        }
        if let Some(impact) = &edit.customer_impact {
            self.customer_impact = impact.trim().to_string();
        }
        if let Some(workaround) = &edit.workaround {
            self.workaround = workaround.trim().to_string();
        }
        Ok(())
    }

    /// Marks this incident a duplicate of `into` (which takes its alerts
    /// and services; the caller stores both).
    pub fn merge_into(&mut self, into: &mut Incident, now: Timestamp) -> Result<(), IncidentError> {
        if self.id == into.id {
            return Err(IncidentError::Invalid(
                "an incident cannot be merged into itself".into(),
                "into",
            ));
        }
        self.require_open()?;
        into.require_open()?;
        for alert in &self.alerts {
            if !into.alerts.contains(alert) {
                into.alerts.push(*alert);
            }
        }
        for service in &self.services {
            if !into.services.contains(service) {
                into.services.push(service.clone());
            }
        }
        if let (Some(mine), Some(theirs)) =
            (self.milestones.detected_at, into.milestones.detected_at)
            && mine < theirs
        {
            into.milestones.detected_at = Some(mine);
        }
        self.merged_into = Some(into.id);
        self.status = IncidentStatus::Merged;
        self.milestones.resolved_at = Some(now);
        self.next_update_due_at = None;
        Ok(())
    }

    /// Resolves, given the evidence; `override_reason` lets the owner go
    /// ahead without it. Returns the reasons when refused.
    pub fn resolve(
        &mut self,
        evidence: &[String],
        override_reason: Option<&str>,
        now: Timestamp,
    ) -> Result<(), IncidentError> {
        self.require_open()?;
        let reason = override_reason.map(str::trim).filter(|r| !r.is_empty());
        if !evidence.is_empty() && reason.is_none() {
            return Err(IncidentError::NotRecovered(evidence.to_vec()));
        }
        self.status = IncidentStatus::Resolved;
        self.milestones.identified_at.get_or_insert(now);
        self.milestones.mitigated_at.get_or_insert(now);
        self.milestones.resolved_at = Some(now);
        self.next_update_due_at = None;
        self.resolve_override = if evidence.is_empty() {
            None
        } else {
            reason.map(str::to_string)
        };
        Ok(())
    }

    /// Opens a resolved incident again (a regression, or by hand).
    pub fn reopen(&mut self, policy: &IncidentPolicy, now: Timestamp) -> Result<(), IncidentError> {
        if self.merged_into.is_some() || self.status != IncidentStatus::Resolved {
            return Err(IncidentError::Conflict(format!(
                "{} is not resolved",
                display_id(self.id)
            )));
        }
        self.status = IncidentStatus::Investigating;
        self.milestones.resolved_at = None;
        self.resolve_override = None;
        self.possible_regressions.clear();
        self.next_update_due_at = self.cadence(policy).and_then(|d| now.checked_add(d).ok());
        Ok(())
    }

    /// Records that an alert on an impacted service opened soon after
    /// resolve, without reopening: the alert is linked and marked as a
    /// possible regression for people to judge. `Ok(false)` when it was
    /// already marked.
    pub fn suspect_regression(&mut self, alert_id: i64) -> Result<bool, IncidentError> {
        if self.merged_into.is_some() || self.status != IncidentStatus::Resolved {
            return Err(IncidentError::Conflict(format!(
                "{} is not resolved",
                display_id(self.id)
            )));
        }
        if self.possible_regressions.contains(&alert_id) {
            return Ok(false);
        }
        if !self.alerts.contains(&alert_id) {
            self.alerts.push(alert_id);
        }
        self.possible_regressions.push(alert_id);
        Ok(true)
    }

    /// A talk script rendered with this incident's variables.
    pub fn render(&self, template: &str, org: &Org) -> String {
        let services = if self.services.is_empty() {
            "none named yet".to_string()
        } else {
            self.services
                .iter()
                .map(|s| {
                    org.service(s)
                        .map(|s| s.display_name.clone())
                        .unwrap_or_else(|| s.clone())
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let next_update = self
            .next_update_due_at
            .map(|t| {
                let zone = jiff::tz::TimeZone::get(&org.settings.time_zone)
                    .unwrap_or(jiff::tz::TimeZone::UTC);
                t.to_zoned(zone).strftime("%H:%M %Z").to_string()
            })
            .unwrap_or_else(|| "the next update".into());
        let or_unknown = |text: &str, missing: &str| {
            if text.is_empty() {
                missing.to_string()
            } else {
                text.to_string()
            }
        };
        let values: [(&str, String); 7] = [
            ("title", self.title.clone()),
            ("severity", self.severity.clone()),
            ("status", self.status.as_str().into()),
            ("services", services),
            (
                "customer_impact",
                or_unknown(&self.customer_impact, "being assessed"),
            ),
            (
                "workaround",
                or_unknown(&self.workaround, "no workaround yet"),
            ),
            ("next_update", next_update),
        ];
        // The same scan as `unknown_variables`, so that `{{ title }}`, which
        // config validation accepts, renders too.
        let mut text = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            let name = after[..end].trim();
            text.push_str(&rest[..start]);
            match values.iter().find(|(known, _)| *known == name) {
                Some((_, value)) => text.push_str(value),
                None => text.push_str(&rest[start..start + 2 + end + 2]),
            }
            rest = &after[end + 2..];
        }
        text.push_str(rest);
        text
    }

    /// This incident with its checklist items rendered with its variables,
    /// as people read them.
    pub fn with_rendered_checklist(mut self, org: &Org) -> Incident {
        let rendered: Vec<String> = self
            .checklist
            .iter()
            .map(|item| self.render(&item.text, org))
            .collect();
        for (item, text) in self.checklist.iter_mut().zip(rendered) {
            item.text = text;
        }
        self
    }
}

/// Template variables in `template` that siaga does not know.
pub fn unknown_variables(template: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !TEMPLATE_VARIABLES.contains(&name) {
            unknown.push(name.to_string());
        }
        rest = &after[end + 2..];
    }
    unknown
}

/// Changes to an incident's words; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentEdit {
    pub title: Option<String>,
    pub services: Option<Vec<String>>,
    pub customer_impact: Option<String>,
    pub workaround: Option<String>,
}

/// What the store knows about the alerts that show whether an incident
/// has recovered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryFacts {
    /// Open alerts per impacted service.
    pub open_alerts: BTreeMap<String, i64>,
    /// When any alert of an impacted service was last seen or resolved.
    pub last_alert_activity: BTreeMap<String, Timestamp>,
    /// Linked alerts not resolved yet: id, service and status.
    pub unresolved_linked: Vec<(i64, String, String)>,
}

impl Incident {
    /// Why the incident does not count as recovered yet: an impacted
    /// service with an open alert or one that closed less than `settle`
    /// ago, a linked alert still open elsewhere, or nothing named at all
    /// (then nothing could show recovery). Empty when it has recovered.
    pub fn recovery_blockers(
        &self,
        facts: &RecoveryFacts,
        settle: SignedDuration,
        now: Timestamp,
    ) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.services.is_empty() && self.alerts.is_empty() {
            reasons.push(
                "no impacted services or linked alerts: name what is impacted, so that recovery can be seen"
                    .to_string(),
            );
        }
        for service in &self.services {
            if let Some(open) = facts.open_alerts.get(service).filter(|n| **n > 0) {
                reasons.push(format!(
                    "{service} has {}",
                    super::counted(*open, "open alert")
                ));
                continue;
            }
            if let Some(last) = facts.last_alert_activity.get(service) {
                let quiet = now.duration_since(*last);
                if quiet < settle {
                    let left = settle - quiet;
                    reasons.push(format!(
                        "{service} has been quiet for {}s; it must settle for {}s ({}s to go)",
                        quiet.as_secs(),
                        settle.as_secs(),
                        left.as_secs()
                    ));
                }
            }
        }
        // Alerts on services not named as impacted count too.
        for (id, service, status) in &facts.unresolved_linked {
            if !self.services.contains(service) {
                reasons.push(format!("linked alert {id} is {status}"));
            }
        }
        reasons
    }
}

/// The longest an incident's title may be, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// A title for an incident a rule declares for an alert: its summary, cut
/// to [`MAX_TITLE_CHARS`] (alert summaries may be longer) with an ellipsis.
pub fn title_for_alert(summary: &str, service: &str) -> String {
    let summary = summary.trim();
    if summary.is_empty() {
        return format!("Alert on {service}");
    }
    super::shortened(summary, MAX_TITLE_CHARS)
}

/// The longest customer impact or workaround, in characters: they go into
/// every stakeholder message and talk script.
pub const MAX_WORDS_CHARS: usize = 2_000;

fn check_words(text: &str, field: &'static str) -> Result<(), IncidentError> {
    if text.trim().chars().count() > MAX_WORDS_CHARS {
        return Err(IncidentError::Invalid(
            format!(
                "the {} is longer than {MAX_WORDS_CHARS} characters",
                field.replace('_', " ")
            ),
            field,
        ));
    }
    Ok(())
}

/// A title says what is wrong in a line: not empty, at most 200 characters.
fn check_title(title: &str) -> Result<(), IncidentError> {
    if title.is_empty() {
        return Err(IncidentError::Invalid(
            "the title must not be empty".into(),
            "title",
        ));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(IncidentError::Invalid(
            format!("the title is longer than {MAX_TITLE_CHARS} characters"),
            "title",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::org::{OrgSettings, Service, ServiceKind};

    #[test]
    fn impact_and_workaround_are_held_to_two_thousand_characters() {
        let org = org();
        let long = "x".repeat(MAX_WORDS_CHARS + 1);
        for field in ["customer_impact", "workaround"] {
            let mut declaration = Declaration {
                title: "Card payments fail".into(),
                severity: "SEV1".into(),
                ..Declaration::default()
            };
            let mut edit = IncidentEdit::default();
            if field == "customer_impact" {
                declaration.customer_impact = long.clone();
                edit.customer_impact = Some(long.clone());
            } else {
                declaration.workaround = long.clone();
                edit.workaround = Some(long.clone());
            }
            let refused =
                Incident::declare(&declaration, &org, "ops", |_| None, Timestamp::UNIX_EPOCH);
            assert!(
                matches!(refused, Err(IncidentError::Invalid(_, f)) if f == field),
                "{refused:?}"
            );
            let fine = Declaration {
                title: "Card payments fail".into(),
                severity: "SEV1".into(),
                ..Declaration::default()
            };
            let mut incident =
                Incident::declare(&fine, &org, "ops", |_| None, Timestamp::UNIX_EPOCH).unwrap();
            let before = incident.clone();
            let refused = incident.edit(&org, &edit);
            assert!(
                matches!(refused, Err(IncidentError::Invalid(_, f)) if f == field),
                "{refused:?}"
            );
            assert_eq!(incident, before, "nothing changed");
        }
    }

    #[test]
    fn a_rules_title_is_the_alerts_summary_cut_to_fit() {
        assert_eq!(
            title_for_alert(" Card payments fail ", "payments"),
            "Card payments fail"
        );
        assert_eq!(title_for_alert("  ", "payments"), "Alert on payments");
        let long = "é".repeat(150) + " " + &"x".repeat(300);
        let title = title_for_alert(&long, "payments");
        assert_eq!(title.chars().count(), MAX_TITLE_CHARS);
        assert!(title.ends_with('…') && title.starts_with("ééé"));
        assert!(check_title(&title).is_ok());
        let exact = "y".repeat(MAX_TITLE_CHARS);
        assert_eq!(title_for_alert(&exact, "payments"), exact);
    }

    fn org() -> Org {
        let service = |name: &str| Service {
            id: 0,
            name: name.into(),
            display_name: name.to_uppercase(),
            kind: ServiceKind::Internal,
            owner: None,
            tier: Some(1),
            description: None,
            provider: None,
            depends_on: Vec::new(),
            runbook: None,
            alert_grouping: None,
            integrations: Vec::new(),
            escalation_policy: None,
        };
        Org {
            settings: OrgSettings {
                name: "Kedai".into(),
                time_zone: "Asia/Kuala_Lumpur".into(),
                ..OrgSettings::default()
            },
            services: vec![service("checkout"), service("payments")],
            ..Org::default()
        }
    }

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap()
    }

    fn declared(severity: &str) -> Incident {
        let org = org();
        let mut incident = Incident::declare(
            &Declaration {
                title: "Checkout fails".into(),
                severity: severity.into(),
                services: vec!["checkout".into(), "checkout".into()],
                ..Declaration::default()
            },
            &org,
            "zul",
            |role| (role.name == "support_lead").then(|| "siti".to_string()),
            at(0),
        )
        .unwrap();
        incident.id = 42;
        incident
    }

    #[test]
    fn declaring_fills_roles_checklists_and_the_cadence() {
        let incident = declared("SEV1");
        assert_eq!(incident.services, ["checkout"]);
        assert_eq!(incident.holder(OWNER_ROLE), Some("zul"));
        assert_eq!(incident.holder("support_lead"), Some("siti"));
        assert!(incident.checklist.iter().any(|i| i.role == COMMS_ROLE));
        assert_eq!(incident.next_update_due_at, Some(at(30)));
        let ids: Vec<u32> = incident.checklist.iter().map(|i| i.id).collect();
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(ids, unique, "checklist ids are distinct");
    }

    #[test]
    fn bad_declarations_name_the_field() {
        let org = org();
        let declare = |title: &str, severity: &str, service: &str| {
            Incident::declare(
                &Declaration {
                    title: title.into(),
                    severity: severity.into(),
                    services: vec![service.into()],
                    ..Declaration::default()
                },
                &org,
                "zul",
                |_| None,
                at(0),
            )
        };
        assert!(matches!(
            declare("x", "SEV9", "checkout"),
            Err(IncidentError::Unknown {
                field: "severity",
                ..
            })
        ));
        assert!(matches!(
            declare("x", "SEV1", "chekout"),
            Err(IncidentError::Unknown {
                field: "services",
                ..
            })
        ));
        assert!(matches!(
            declare("  ", "SEV1", "checkout"),
            Err(IncidentError::Invalid(_, "title"))
        ));
    }

    #[test]
    fn ticking_twice_keeps_the_first_and_closed_incidents_refuse_edits() {
        let mut incident = declared("SEV2");
        assert_eq!(incident.tick(1, "zul", at(1)), Ok(true));
        assert_eq!(incident.tick(1, "siti", at(2)), Ok(false));
        assert_eq!(incident.checklist[0].done_by.as_deref(), Some("zul"));
        assert!(incident.tick(999, "zul", at(2)).is_err());
        incident.resolve(&[], None, at(3)).unwrap();
        assert!(matches!(
            incident.tick(2, "zul", at(4)),
            Err(IncidentError::Conflict(_))
        ));
    }

    #[test]
    fn an_edited_title_is_held_to_the_declared_title_rules() {
        let mut incident = declared("SEV2");
        let org = Org::default();
        for (title, allowed) in [
            ("  ", false),
            (&"x".repeat(201), false),
            ("Refunds slow", true),
        ] {
            let edit = IncidentEdit {
                title: Some(title.to_string()),
                services: None,
                customer_impact: None,
                workaround: None,
            };
            let result = incident.edit(&org, &edit);
            assert_eq!(result.is_ok(), allowed, "{title}: {result:?}");
            if !allowed {
                assert!(matches!(result, Err(IncidentError::Invalid(_, "title"))));
            }
        }
        assert_eq!(incident.title, "Refunds slow");
    }

    #[test]
    fn a_handover_expecting_someone_else_is_refused() {
        let policy = IncidentPolicy::default();
        let mut incident = declared("SEV2");
        assert_eq!(
            incident.hand_over(&policy, OWNER_ROLE, "budi", Some("zul"), at(1)),
            Ok(Some("zul".into()))
        );
        // A second handover that still thinks zul holds it.
        assert!(matches!(
            incident.hand_over(&policy, OWNER_ROLE, "dewi", Some("zul"), at(1)),
            Err(IncidentError::Conflict(_))
        ));
        assert_eq!(incident.holder(OWNER_ROLE), Some("budi"));
        assert!(
            incident
                .hand_over(&policy, "chef", "dewi", None, at(1))
                .is_err()
        );
    }

    #[test]
    fn raising_adds_steps_and_tightens_the_cadence_lowering_does_not() {
        let mut policy = IncidentPolicy::default();
        policy.severities[0]
            .checklist
            .insert(OWNER_ROLE.into(), vec!["Call the CEO".into()]);
        let mut incident = declared("SEV3");
        assert_eq!(incident.next_update_due_at, Some(at(240)));
        assert_eq!(incident.change_severity(&policy, "SEV1", at(10)), Ok(true));
        assert!(incident.checklist.iter().any(|i| i.text == "Call the CEO"));
        assert_eq!(incident.next_update_due_at, Some(at(40)));
        assert_eq!(incident.change_severity(&policy, "SEV2", at(11)), Ok(false));
        assert_eq!(
            incident.next_update_due_at,
            Some(at(40)),
            "never later than promised"
        );
    }

    #[test]
    fn public_updates_restart_the_cadence() {
        let policy = IncidentPolicy::default();
        let mut incident = declared("SEV1");
        incident
            .post_update(&policy, UpdateKind::Internal, "looking", "zul", at(5))
            .unwrap();
        assert_eq!(incident.next_update_due_at, Some(at(30)));
        incident
            .post_update(&policy, UpdateKind::Public, "we know", "zul", at(20))
            .unwrap();
        assert_eq!(incident.next_update_due_at, Some(at(50)));
        assert!(
            incident
                .post_update(&policy, UpdateKind::Public, "  ", "zul", at(21))
                .is_err()
        );
    }

    #[test]
    fn resolve_needs_evidence_or_a_reason() {
        let mut incident = declared("SEV1");
        let reasons = vec!["checkout has 1 open alert".to_string()];
        assert!(matches!(
            incident.resolve(&reasons, None, at(5)),
            Err(IncidentError::NotRecovered(r)) if r == reasons
        ));
        assert!(incident.resolve(&reasons, Some("  "), at(5)).is_err());
        incident
            .resolve(&reasons, Some("the alert is a flapping probe"), at(5))
            .unwrap();
        assert_eq!(incident.status, IncidentStatus::Resolved);
        assert_eq!(
            incident.resolve_override.as_deref(),
            Some("the alert is a flapping probe")
        );
        incident.reopen(&IncidentPolicy::default(), at(6)).unwrap();
        assert_eq!(incident.milestones.resolved_at, None);
    }

    #[test]
    fn a_suspected_regression_links_the_alert_and_reopening_clears_it() {
        let mut incident = declared("SEV2");
        assert!(
            incident.suspect_regression(7).is_err(),
            "only a resolved incident regresses"
        );
        incident.resolve(&[], None, at(5)).unwrap();
        assert_eq!(incident.suspect_regression(7), Ok(true));
        assert_eq!(incident.suspect_regression(7), Ok(false));
        assert_eq!(incident.alerts, [7]);
        assert_eq!(incident.status, IncidentStatus::Resolved, "still resolved");
        incident.reopen(&IncidentPolicy::default(), at(6)).unwrap();
        assert!(incident.possible_regressions.is_empty());
        assert_eq!(incident.alerts, [7], "the alert stays linked");
    }

    #[test]
    fn recovery_needs_quiet_services_for_the_settle_time() {
        let mut incident = declared("SEV1");
        incident.services = vec!["checkout".to_string(), "payments".to_string()];
        let facts = RecoveryFacts {
            open_alerts: BTreeMap::from([("checkout".to_string(), 2)]),
            last_alert_activity: BTreeMap::from([("payments".to_string(), at(0))]),
            unresolved_linked: vec![(9, "search".into(), "acknowledged".into())],
        };
        let settle = SignedDuration::from_mins(15);
        let reasons = incident.recovery_blockers(&facts, settle, at(10));
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].contains("checkout has 2 open"));
        assert!(reasons[1].contains("payments has been quiet for 600s"));
        assert_eq!(reasons[2], "linked alert 9 is acknowledged");
        let quiet = RecoveryFacts {
            last_alert_activity: facts.last_alert_activity.clone(),
            ..RecoveryFacts::default()
        };
        let reasons = incident.recovery_blockers(&quiet, settle, at(15));
        assert!(reasons.is_empty(), "{reasons:?}");
    }

    #[test]
    fn an_incident_naming_nothing_cannot_show_recovery() {
        let mut incident = declared("SEV3");
        incident.services.clear();
        let reasons = incident.recovery_blockers(
            &RecoveryFacts::default(),
            SignedDuration::from_mins(5),
            at(10),
        );
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(reasons[0].starts_with("no impacted services or linked alerts"));
        assert!(matches!(
            incident.resolve(&reasons, None, at(10)),
            Err(IncidentError::NotRecovered(r)) if r == reasons
        ));
        incident
            .resolve(&reasons, Some("a typo in a banner, fixed"), at(10))
            .unwrap();
        assert_eq!(incident.status, IncidentStatus::Resolved);
    }

    #[test]
    fn merging_moves_alerts_and_closes_the_duplicate() {
        let mut first = declared("SEV1");
        let mut duplicate = declared("SEV2");
        duplicate.id = 43;
        duplicate.link_alert(7).unwrap();
        duplicate.merge_into(&mut first, at(3)).unwrap();
        assert_eq!(first.alerts, [7]);
        assert_eq!(duplicate.merged_into, Some(42));
        assert_eq!(duplicate.status, IncidentStatus::Merged);
        assert!(duplicate.is_closed());
        assert!(duplicate.link_alert(8).is_err());
        assert!(duplicate.reopen(&IncidentPolicy::default(), at(4)).is_err());
        assert!(
            first.set_status(IncidentStatus::Merged, at(4)).is_err(),
            "merged is not set by hand"
        );
        let mut same = first.clone();
        assert!(first.merge_into(&mut same, at(4)).is_err());
    }

    #[test]
    fn talk_scripts_render_variables_and_unknown_ones_are_found() {
        let org = org();
        let mut incident = declared("SEV1");
        incident.workaround = "pay by bank transfer".into();
        let text = incident.render(
            "{{title}} on {{services}}; meanwhile {{workaround}}; next by {{next_update}}",
            &org,
        );
        assert_eq!(
            text,
            "Checkout fails on CHECKOUT; meanwhile pay by bank transfer; next by 16:30 +08"
        );
        assert_eq!(
            unknown_variables("{{title}} {{ eta }} {{workaround}}"),
            ["eta"]
        );
        assert_eq!(
            incident.render("{{ title }} / {{ eta }} / {{status}} {{", &org),
            "Checkout fails / {{ eta }} / investigating {{",
            "spaces inside the braces are fine; unknown names stay as written"
        );
        incident.checklist[0].text = "Tell support: {{workaround}}".into();
        let rendered = incident.clone().with_rendered_checklist(&org);
        assert_eq!(
            rendered.checklist[0].text,
            "Tell support: pay by bank transfer"
        );
    }

    #[test]
    fn display_ids_round_trip() {
        assert_eq!(display_id(42), "INC-42");
        assert_eq!(parse_display_id("INC-42"), Some(42));
        assert_eq!(parse_display_id("42"), Some(42));
        assert_eq!(parse_display_id("INC-x"), None);
        assert_eq!(parse_display_id("-1"), None);
    }
}
