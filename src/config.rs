//! The organisation as code: parses the YAML config file and validates it
//! into a [`domain::org::Org`](crate::domain::org::Org). Pure: takes text,
//! returns the org or every problem found, each with line, column and field.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use serde::Deserialize;
use serde_saphyr::Spanned;

use jiff::{SignedDuration, Timestamp};

use crate::domain::alert::{Grouping, LabelMatch, Mapping, Severity, Urgency, UrgencyRule};
use crate::domain::escalation::{EscalationPolicy, Level, Target};
use crate::domain::incident::{
    AutoDeclare, COMMS_ROLE, IncidentPolicy, OWNER_ROLE, Regression, RegressionAction, RoleDef,
    SeverityLevel, Stakeholder, TEMPLATE_VARIABLES, TalkScript, unknown_variables,
};
use crate::domain::org::{
    ContactKind, ContactMethod, Integration, IntegrationKind, NotificationRule, Org, OrgSettings,
    Person, PlannedMaintenance, RateLimit, Runbook, Service, ServiceKind, Team,
};
use crate::domain::schedule::{
    Layer, Restriction, Rotation, Schedule, ScheduleError, weekday_names,
};

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ConfigIssue {
    pub line: u64,
    pub column: u64,
    /// Path of the offending field, e.g. `teams[2].lead`; empty when the
    /// document itself is malformed.
    pub field: String,
    pub message: String,
    /// A near-miss name that exists, for "did you mean …?".
    pub suggestion: Option<String>,
}

/// Every problem found in one config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    pub file: String,
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for issue in &self.issues {
            write!(f, "{}:{}:{}: ", self.file, issue.line, issue.column)?;
            if !issue.field.is_empty() {
                write!(f, "{}: ", issue.field)?;
            }
            write!(f, "{}", issue.message)?;
            if let Some(suggestion) = &issue.suggestion {
                write!(f, " (did you mean `{suggestion}`?)")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// `daily`, `weekly`, or a length: `3d`, `12h`.
fn parse_rotation(text: &str) -> Option<Rotation> {
    let text = text.trim();
    match text {
        "daily" => return Some(Rotation::Days(1)),
        "weekly" => return Some(Rotation::Days(7)),
        _ => {}
    }
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let number: u32 = number.parse().ok().filter(|n| *n > 0)?;
    let rotation = match unit.trim() {
        "d" | "day" | "days" => Rotation::Days(number),
        "w" | "week" | "weeks" => Rotation::Days(number.checked_mul(7)?),
        "h" | "hour" | "hours" => Rotation::Hours(number),
        _ => return None,
    };
    let days = match rotation {
        Rotation::Days(days) => days,
        Rotation::Hours(hours) => hours.div_ceil(24),
    };
    (days <= MAX_ROTATION_DAYS).then_some(rotation)
}

/// The longest turn a rotation may give one person: ten years.
const MAX_ROTATION_DAYS: u32 = 3653;

/// Problems after which no more "did you mean" suggestions are computed.
const MAX_SUGGESTIONS: usize = 50;
/// The most people, teams, services and windows one file may declare, so a
/// hostile file cannot make validation slow.
pub const MAX_OBJECTS: usize = 20_000;
/// The longest a notification rule may wait: later than a day is no page.
const MAX_NOTIFICATION_DELAY: SignedDuration = SignedDuration::from_hours(24);

/// Parses and validates a config file's text. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Org, ConfigErrors> {
    // The path to where serde stopped (`services[2].tier`), kept out of
    // the closure, whose error type is serde-saphyr's own.
    let mut field = String::new();
    let parsed = serde_saphyr::with_deserializer_from_str(text, |deserializer| {
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            field = field_path(error.path());
            error.into_inner()
        })
    });
    let raw: RawConfig = parsed.map_err(|error| {
        let location = error.location();
        let message = first_line(&error.to_string());
        ConfigErrors {
            file: file.to_string(),
            issues: vec![ConfigIssue {
                line: location.map_or(0, |l| l.line()),
                column: location.map_or(0, |l| l.column()),
                field,
                suggestion: unknown_key_suggestion(&message),
                message,
            }],
        }
    })?;
    let objects =
        raw.people.len() + raw.teams.len() + raw.services.len() + raw.maintenance_windows.len();
    if objects > MAX_OBJECTS {
        return Err(ConfigErrors {
            file: file.to_string(),
            issues: vec![ConfigIssue {
                line: 1,
                column: 1,
                field: String::new(),
                message: format!(
                    "the file declares {objects} objects; at most {MAX_OBJECTS} are allowed"
                ),
                suggestion: None,
            }],
        });
    }
    let mut checker = Checker::default();
    let org = checker.check(raw);
    if checker.issues.is_empty() {
        Ok(org)
    } else {
        checker.issues.sort_by_key(|i| (i.line, i.column));
        Err(ConfigErrors {
            file: file.to_string(),
            issues: checker.issues,
        })
    }
}

/// A serde path in the form the checker's issues use: `services[2].tier`,
/// empty at the top level. `Spanned<T>` reads its value as a field
/// `value`, which no config key is named, so those steps are dropped.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut field = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } if key == "value" => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    field
}

/// For serde's "unknown field `colour`, expected one of `name`, …", the
/// expected key closest to the unknown one.
fn unknown_key_suggestion(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected = rest.split("expected").nth(1)?;
    let expected = expected.trim_start().trim_start_matches("one of").trim();
    let known = expected
        .split(',')
        .map(|name| name.trim().trim_matches('`').to_string())
        .filter(|name| !name.is_empty());
    closest(unknown, known)
}

/// serde-saphyr renders a source snippet under the message; the first line
/// is the message itself, and the location is reported separately.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    // The location is reported on its own; drop serde-saphyr's copy of it.
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((position, rest)) if position.contains("column") => rest.to_string(),
        _ => line.to_string(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    organisation: Spanned<RawOrganisation>,
    #[serde(default)]
    people: Vec<Spanned<RawPerson>>,
    #[serde(default)]
    teams: Vec<Spanned<RawTeam>>,
    #[serde(default)]
    executives: Vec<Spanned<String>>,
    #[serde(default)]
    services: Vec<Spanned<RawService>>,
    #[serde(default)]
    maintenance_windows: Vec<Spanned<RawMaintenance>>,
    #[serde(default)]
    schedules: Vec<Spanned<RawSchedule>>,
    #[serde(default)]
    escalation_policies: Vec<Spanned<RawPolicy>>,
    incidents: Option<Spanned<RawIncidents>>,
}

/// How incidents are run; each part replaces its default when given.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncidents {
    severities: Option<Spanned<Vec<Spanned<RawSeverity>>>>,
    roles: Option<Spanned<Vec<Spanned<RawRole>>>>,
    talk_scripts: Option<Vec<Spanned<RawTalkScript>>>,
    #[serde(default)]
    auto_declare: Vec<Spanned<RawAutoDeclare>>,
    regression: Option<Spanned<RawRegression>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeverity {
    name: Spanned<String>,
    description: Spanned<String>,
    #[serde(default)]
    notify: Vec<Spanned<String>>,
    #[serde(default)]
    chat: Vec<Spanned<RawContactMethod>>,
    update_every: Option<Spanned<String>>,
    settle: Option<Spanned<String>>,
    #[serde(default)]
    checklist: BTreeMap<String, Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    name: Spanned<String>,
    title: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    default_from: Vec<Spanned<String>>,
    #[serde(default)]
    checklist: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTalkScript {
    name: Spanned<String>,
    audience: Spanned<String>,
    template: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAutoDeclare {
    alert_severity: Spanned<String>,
    tier: Option<Spanned<i64>>,
    #[serde(default)]
    services: Vec<Spanned<String>>,
    declare: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegression {
    window: Spanned<String>,
    action: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Spanned<String>,
    levels: Vec<Spanned<RawLevel>>,
    repeat: Option<Spanned<i64>>,
    reescalate_after_ack: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    notify: Vec<Spanned<String>>,
    wait: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    name: Spanned<String>,
    description: Option<String>,
    time_zone: Option<Spanned<String>>,
    layers: Vec<Spanned<RawLayer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    name: Option<String>,
    /// Spanned as a whole, so an empty list is reported where it is.
    participants: Spanned<Vec<Spanned<String>>>,
    rotation: Spanned<String>,
    start: Spanned<String>,
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    restrictions: Vec<Spanned<RawRestriction>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestriction {
    days: Vec<Spanned<String>>,
    from: Spanned<String>,
    to: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaintenance {
    name: Option<String>,
    service: Spanned<String>,
    starts_at: Spanned<String>,
    ends_at: Spanned<String>,
    reason: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrouping {
    by: Vec<String>,
    window: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntegration {
    name: Spanned<String>,
    kind: Spanned<String>,
    key: Option<Spanned<String>>,
    signing_secret: Option<Spanned<String>>,
    signature_header: Option<Spanned<String>>,
    timestamp_header: Option<Spanned<String>>,
    #[serde(default)]
    severity_map: BTreeMap<String, Spanned<String>>,
    default_severity: Option<Spanned<String>>,
    #[serde(default)]
    urgency: Vec<Spanned<RawUrgencyRule>>,
    #[serde(default)]
    drop: Vec<Spanned<RawDropRule>>,
    rate_limit: Option<Spanned<RawRateLimit>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUrgencyRule {
    #[serde(rename = "match")]
    matcher: BTreeMap<String, String>,
    urgency: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDropRule {
    #[serde(rename = "match")]
    matcher: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    events: Spanned<i64>,
    per: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrganisation {
    name: Spanned<String>,
    time_zone: Option<Spanned<String>>,
    base_url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    handle: Spanned<String>,
    name: Spanned<String>,
    email: Spanned<String>,
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    contact_methods: Vec<Spanned<RawContactMethod>>,
    #[serde(default)]
    notification_rules: Vec<Spanned<RawNotificationRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotificationRule {
    after: Option<Spanned<String>>,
    channels: Vec<Spanned<String>>,
    urgency: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContactMethod {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    address: Spanned<String>,
    label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    name: Spanned<String>,
    display_name: Option<String>,
    description: Option<String>,
    lead: Spanned<String>,
    head: Spanned<String>,
    #[serde(default)]
    members: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    display_name: Option<String>,
    kind: Option<Spanned<String>>,
    owner: Option<Spanned<String>>,
    tier: Option<Spanned<i64>>,
    description: Option<String>,
    provider: Option<String>,
    #[serde(default)]
    depends_on: Vec<Spanned<String>>,
    runbook: Option<Spanned<RawRunbook>>,
    alert_grouping: Option<Spanned<RawGrouping>>,
    #[serde(default)]
    integrations: Vec<Spanned<RawIntegration>>,
    escalation_policy: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRunbook {
    url: Option<Spanned<String>>,
    markdown: Option<String>,
}

#[derive(Default)]
struct Checker {
    issues: Vec<ConfigIssue>,
}

impl Checker {
    fn report<T>(&mut self, at: &Spanned<T>, field: String, message: String) {
        self.report_with(at, field, message, None);
    }

    fn report_with<T>(
        &mut self,
        at: &Spanned<T>,
        field: String,
        message: String,
        suggestion: Option<String>,
    ) {
        self.issues.push(ConfigIssue {
            line: at.referenced.line(),
            column: at.referenced.column(),
            field,
            message,
            suggestion,
        });
    }

    fn slug(&mut self, value: &Spanned<String>, field: String, what: &str) {
        if !is_slug(&value.value) {
            self.report(
                value,
                field,
                format!(
                    "{what} `{}` must be lower-case letters, digits, `-` or `_`, starting with a letter or digit",
                    value.value
                ),
            );
        }
    }

    fn time_zone(&mut self, value: &Spanned<String>, field: String) {
        if jiff::tz::TimeZone::get(&value.value).is_err() {
            let suggestion = closest(
                &value.value,
                jiff::tz::db().available().map(|n| n.to_string()),
            );
            self.report_with(
                value,
                field,
                format!("unknown time zone `{}`", value.value),
                suggestion,
            );
        }
    }

    /// Reports a reference to a name that is not in `known`.
    fn reference(
        &mut self,
        value: &Spanned<String>,
        field: String,
        what: &str,
        known: &BTreeSet<String>,
    ) -> bool {
        if known.contains(&value.value) {
            return true;
        }
        // Suggestions cost a comparison with every name; a file full of bad
        // references gets them only for its first problems.
        let suggestion = if self.issues.len() < MAX_SUGGESTIONS {
            closest(&value.value, known.iter().cloned())
        } else {
            None
        };
        self.report_with(
            value,
            field,
            format!("unknown {what} `{}`", value.value),
            suggestion,
        );
        false
    }

    /// Reports names that appear twice in one list.
    fn unique<'a>(
        &mut self,
        names: impl Iterator<Item = (String, &'a Spanned<String>)>,
        what: &str,
    ) {
        let mut seen = HashSet::new();
        for (field, name) in names {
            if !seen.insert(name.value.to_lowercase()) {
                self.report(name, field, format!("duplicate {what} `{}`", name.value));
            }
        }
    }

    fn check(&mut self, raw: RawConfig) -> Org {
        let organisation = &raw.organisation.value;
        if organisation.name.value.trim().is_empty() {
            self.report(
                &organisation.name,
                "organisation.name".into(),
                "must not be empty".into(),
            );
        }
        let default_zone = match &organisation.time_zone {
            Some(zone) => {
                self.time_zone(zone, "organisation.time_zone".into());
                zone.value.clone()
            }
            None => "UTC".to_string(),
        };
        if let Some(url) = &organisation.base_url {
            self.http_url(url, "organisation.base_url".into());
        }

        let handles: BTreeSet<String> = raw
            .people
            .iter()
            .map(|p| p.value.handle.value.clone())
            .collect();
        let team_names: BTreeSet<String> = raw
            .teams
            .iter()
            .map(|t| t.value.name.value.clone())
            .collect();
        let service_names: BTreeSet<String> = raw
            .services
            .iter()
            .map(|s| s.value.name.value.clone())
            .collect();

        let people = raw
            .people
            .iter()
            .enumerate()
            .map(|(i, p)| self.person(i, &p.value, &default_zone))
            .collect();
        self.unique(
            raw.people
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("people[{i}].handle"), &p.value.handle)),
            "person handle",
        );
        self.unique(
            raw.people
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("people[{i}].email"), &p.value.email)),
            "email",
        );

        let teams = raw
            .teams
            .iter()
            .enumerate()
            .map(|(i, t)| self.team(i, &t.value, &handles))
            .collect();
        self.unique(
            raw.teams
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("teams[{i}].name"), &t.value.name)),
            "team name",
        );

        for (i, executive) in raw.executives.iter().enumerate() {
            self.reference(executive, format!("executives[{i}]"), "person", &handles);
        }
        self.unique(
            raw.executives
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("executives[{i}]"), e)),
            "executive",
        );

        let services: Vec<Service> = raw
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| self.service(i, &s.value, &team_names, &service_names))
            .collect();
        self.unique(
            raw.services
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("services[{i}].name"), &s.value.name)),
            "service name",
        );
        self.dependency_cycles(&raw.services);
        self.unique_integration_keys(&raw.services);
        let planned: Vec<(usize, PlannedMaintenance)> = raw
            .maintenance_windows
            .iter()
            .enumerate()
            .filter_map(|(i, m)| Some((i, self.maintenance(i, &m.value, &service_names)?)))
            .collect();
        // Windows are stored by name: a second one of a name would
        // overwrite the first, or fail to store.
        let mut window_names = HashSet::new();
        for (i, window) in &planned {
            if !window_names.insert(window.name.to_lowercase()) {
                self.report(
                    &raw.maintenance_windows[*i],
                    format!("maintenance_windows[{i}].name"),
                    format!(
                        "duplicate maintenance window `{}` (a window without a name is named service@start)",
                        window.name
                    ),
                );
            }
        }
        let maintenance = planned.into_iter().map(|(_, window)| window).collect();
        let schedules = raw
            .schedules
            .iter()
            .enumerate()
            .map(|(i, s)| self.schedule(i, &s.value, &handles, &default_zone))
            .collect();
        self.unique(
            raw.schedules
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("schedules[{i}].name"), &s.value.name)),
            "schedule name",
        );
        let schedule_names: BTreeSet<String> = raw
            .schedules
            .iter()
            .map(|s| s.value.name.value.clone())
            .collect();
        let policy_names: BTreeSet<String> = raw
            .escalation_policies
            .iter()
            .map(|p| p.value.name.value.clone())
            .collect();
        let escalation_policies = raw
            .escalation_policies
            .iter()
            .enumerate()
            .map(|(i, p)| self.policy(i, &p.value, &handles, &team_names, &schedule_names))
            .collect();
        self.unique(
            raw.escalation_policies
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("escalation_policies[{i}].name"), &p.value.name)),
            "escalation policy name",
        );
        for (i, service) in raw.services.iter().enumerate() {
            if let Some(policy) = &service.value.escalation_policy {
                self.reference(
                    policy,
                    format!("services[{i}].escalation_policy"),
                    "escalation policy",
                    &policy_names,
                );
            }
        }

        let incidents = match &raw.incidents {
            Some(incidents) => self.incidents(
                &incidents.value,
                &handles,
                &team_names,
                &schedule_names,
                &service_names,
            ),
            None => IncidentPolicy::default(),
        };

        Org {
            incidents,
            settings: OrgSettings {
                name: organisation.name.value.trim().to_string(),
                time_zone: default_zone,
                base_url: organisation.base_url.as_ref().map(|u| u.value.clone()),
                executives: raw.executives.iter().map(|e| e.value.clone()).collect(),
            },
            people,
            teams,
            services,
            maintenance,
            schedules,
            escalation_policies,
        }
    }

    fn http_url(&mut self, url: &Spanned<String>, field: String) {
        let text = url.value.as_str();
        let valid = (text.starts_with("https://") || text.starts_with("http://"))
            && text
                .split("://")
                .nth(1)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
        if !valid {
            self.report(url, field, format!("`{text}` is not an http(s) URL"));
        }
    }

    fn person(&mut self, i: usize, raw: &RawPerson, default_zone: &str) -> Person {
        let at = format!("people[{i}]");
        self.slug(&raw.handle, format!("{at}.handle"), "handle");
        if raw.name.value.trim().is_empty() {
            self.report(&raw.name, format!("{at}.name"), "must not be empty".into());
        }
        if !looks_like_email(&raw.email.value) {
            self.report(
                &raw.email,
                format!("{at}.email"),
                format!("`{}` is not an email address", raw.email.value),
            );
        }
        let time_zone = match &raw.time_zone {
            Some(zone) => {
                self.time_zone(zone, format!("{at}.time_zone"));
                zone.value.clone()
            }
            None => default_zone.to_string(),
        };
        let mut contact_methods = Vec::new();
        for (j, method) in raw.contact_methods.iter().enumerate() {
            let field = format!("{at}.contact_methods[{j}]");
            let method = &method.value;
            let Some(kind) = ContactKind::ALL
                .into_iter()
                .find(|k| k.as_str() == method.kind.value)
            else {
                let suggestion = closest(
                    &method.kind.value,
                    ContactKind::ALL.iter().map(|k| k.as_str().to_string()),
                );
                self.report_with(
                    &method.kind,
                    format!("{field}.type"),
                    format!("unknown contact method type `{}`", method.kind.value),
                    suggestion,
                );
                continue;
            };
            let address = &method.address;
            match kind {
                ContactKind::Email if !looks_like_email(&address.value) => {
                    self.report(
                        address,
                        format!("{field}.address"),
                        format!("`{}` is not an email address", address.value),
                    );
                }
                ContactKind::Sms | ContactKind::Phone if !looks_like_phone(&address.value) => {
                    self.report(
                        address,
                        format!("{field}.address"),
                        format!(
                            "`{}` is not a phone number in international form, e.g. +60123456789",
                            address.value
                        ),
                    );
                }
                ContactKind::Webhook | ContactKind::Slack | ContactKind::Teams => {
                    self.http_url(address, format!("{field}.address"));
                }
                _ => {}
            }
            contact_methods.push(ContactMethod {
                kind,
                address: address.value.clone(),
                label: method.label.clone(),
            });
        }
        let notification_rules = raw
            .notification_rules
            .iter()
            .enumerate()
            .filter_map(|(j, rule)| {
                self.notification_rule(
                    rule,
                    format!("{at}.notification_rules[{j}]"),
                    &contact_methods,
                )
            })
            .collect();
        Person {
            id: 0,
            handle: raw.handle.value.clone(),
            name: raw.name.value.trim().to_string(),
            email: raw.email.value.trim().to_string(),
            time_zone,
            contact_methods,
            notification_rules,
        }
    }

    fn incidents(
        &mut self,
        raw: &RawIncidents,
        handles: &BTreeSet<String>,
        teams: &BTreeSet<String>,
        schedules: &BTreeSet<String>,
        services: &BTreeSet<String>,
    ) -> IncidentPolicy {
        let defaults = IncidentPolicy::default();
        let roles = match &raw.roles {
            None => defaults.roles,
            Some(roles) => roles
                .value
                .iter()
                .enumerate()
                .map(|(i, role)| {
                    let at = format!("incidents.roles[{i}]");
                    let role = &role.value;
                    self.slug(&role.name, format!("{at}.name"), "role name");
                    for (j, schedule) in role.default_from.iter().enumerate() {
                        self.reference(
                            schedule,
                            format!("{at}.default_from[{j}]"),
                            "schedule",
                            schedules,
                        );
                    }
                    for (j, item) in role.checklist.iter().enumerate() {
                        self.template(item, format!("{at}.checklist[{j}]"));
                    }
                    RoleDef {
                        name: role.name.value.clone(),
                        title: role.title.value.trim().to_string(),
                        description: role.description.trim().to_string(),
                        default_from: role.default_from.iter().map(|s| s.value.clone()).collect(),
                        checklist: role.checklist.iter().map(|c| c.value.clone()).collect(),
                    }
                })
                .collect(),
        };
        if let Some(raw_roles) = &raw.roles {
            self.unique(
                raw_roles
                    .value
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (format!("incidents.roles[{i}].name"), &r.value.name)),
                "role name",
            );
            // The code gives these two roles powers and duties: the owner
            // may override the recovery check, the comms lead is reminded
            // when an update is due.
            for (required, why) in [
                (
                    OWNER_ROLE,
                    "it commands the response and may resolve without the evidence",
                ),
                (
                    COMMS_ROLE,
                    "it is reminded when a customer-facing update is due",
                ),
            ] {
                if !roles.iter().any(|r| r.name == required) {
                    self.report(
                        raw_roles,
                        "incidents.roles".into(),
                        format!("the `{required}` role is required: {why}"),
                    );
                }
            }
        }
        let role_names: BTreeSet<String> = roles.iter().map(|r| r.name.clone()).collect();
        let severities = match &raw.severities {
            None => defaults.severities,
            Some(severities) => {
                if severities.value.is_empty() {
                    self.report(
                        severities,
                        "incidents.severities".into(),
                        "declare at least one severity, the most severe first".into(),
                    );
                }
                severities
                    .value
                    .iter()
                    .enumerate()
                    .map(|(i, severity)| {
                        self.severity_level(i, &severity.value, handles, teams, &role_names)
                    })
                    .collect()
            }
        };
        if let Some(raw_severities) = &raw.severities {
            self.unique(
                raw_severities
                    .value
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("incidents.severities[{i}].name"), &s.value.name)),
                "severity name",
            );
        }
        let severity_names: BTreeSet<String> = severities.iter().map(|s| s.name.clone()).collect();
        let talk_scripts = match &raw.talk_scripts {
            None => defaults.talk_scripts,
            Some(scripts) => scripts
                .iter()
                .enumerate()
                .map(|(i, script)| {
                    let at = format!("incidents.talk_scripts[{i}]");
                    let script = &script.value;
                    self.slug(&script.name, format!("{at}.name"), "talk script name");
                    self.template(&script.template, format!("{at}.template"));
                    TalkScript {
                        name: script.name.value.clone(),
                        audience: script.audience.value.trim().to_string(),
                        template: script.template.value.clone(),
                    }
                })
                .collect(),
        };
        let auto_declare = raw
            .auto_declare
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| {
                let at = format!("incidents.auto_declare[{i}]");
                let rule = &rule.value;
                let alert_severity = Severity::parse(&rule.alert_severity.value);
                if alert_severity.is_none() {
                    self.report(
                        &rule.alert_severity,
                        format!("{at}.alert_severity"),
                        format!(
                            "unknown alert severity `{}`: critical, error, warning or info",
                            rule.alert_severity.value
                        ),
                    );
                }
                let tier = match &rule.tier {
                    Some(tier) if !(1..=4).contains(&tier.value) => {
                        self.report(tier, format!("{at}.tier"), "tier must be 1 to 4".into());
                        None
                    }
                    Some(tier) => Some(tier.value as u8),
                    None => None,
                };
                for (j, service) in rule.services.iter().enumerate() {
                    self.reference(service, format!("{at}.services[{j}]"), "service", services);
                }
                self.reference(
                    &rule.declare,
                    format!("{at}.declare"),
                    "severity",
                    &severity_names,
                );
                Some(AutoDeclare {
                    alert_severity: alert_severity?,
                    tier,
                    services: rule.services.iter().map(|s| s.value.clone()).collect(),
                    declare: rule.declare.value.clone(),
                })
            })
            .collect();
        let regression = match &raw.regression {
            None => defaults.regression,
            Some(regression) => {
                let regression = &regression.value;
                let window =
                    self.duration(&regression.window, "incidents.regression.window".into());
                let action = match regression.action.value.as_str() {
                    "reopen" => RegressionAction::Reopen,
                    "prompt" => RegressionAction::Prompt,
                    other => {
                        self.report(
                            &regression.action,
                            "incidents.regression.action".into(),
                            format!("unknown action `{other}`: reopen or prompt"),
                        );
                        RegressionAction::Reopen
                    }
                };
                Regression {
                    window: window.unwrap_or(defaults.regression.window),
                    action,
                }
            }
        };
        IncidentPolicy {
            severities,
            roles,
            talk_scripts,
            auto_declare,
            regression,
        }
    }

    fn severity_level(
        &mut self,
        i: usize,
        raw: &RawSeverity,
        handles: &BTreeSet<String>,
        teams: &BTreeSet<String>,
        roles: &BTreeSet<String>,
    ) -> SeverityLevel {
        let at = format!("incidents.severities[{i}]");
        if raw.name.value.trim().is_empty() {
            self.report(&raw.name, format!("{at}.name"), "must not be empty".into());
        }
        let mut notify = Vec::new();
        for (j, target) in raw.notify.iter().enumerate() {
            let field = format!("{at}.notify[{j}]");
            match Stakeholder::parse(&target.value) {
                None => self.report(
                    target,
                    field,
                    format!(
                        "`{}` is not a stakeholder: executives, owner_leads, owner_heads, person:HANDLE or team:NAME",
                        target.value
                    ),
                ),
                Some(Stakeholder::Person(handle)) => {
                    let name = Spanned { value: handle.clone(), ..target.clone() };
                    if self.reference(&name, field, "person", handles) {
                        notify.push(Stakeholder::Person(handle));
                    }
                }
                Some(Stakeholder::Team(team)) => {
                    let name = Spanned { value: team.clone(), ..target.clone() };
                    if self.reference(&name, field, "team", teams) {
                        notify.push(Stakeholder::Team(team));
                    }
                }
                Some(other) => notify.push(other),
            }
        }
        let mut chat = Vec::new();
        for (j, method) in raw.chat.iter().enumerate() {
            let field = format!("{at}.chat[{j}]");
            let method = &method.value;
            let kind = [ContactKind::Slack, ContactKind::Teams, ContactKind::Webhook]
                .into_iter()
                .find(|k| k.as_str() == method.kind.value);
            let Some(kind) = kind else {
                self.report(
                    &method.kind,
                    format!("{field}.type"),
                    format!(
                        "`{}` is not a chat channel: slack, teams or webhook",
                        method.kind.value
                    ),
                );
                continue;
            };
            self.http_url(&method.address, format!("{field}.address"));
            chat.push(ContactMethod {
                kind,
                address: method.address.value.clone(),
                label: method.label.clone(),
            });
        }
        for (role, items) in &raw.checklist {
            if !roles.contains(role) {
                self.report_with(
                    &raw.name,
                    format!("{at}.checklist.{role}"),
                    format!("unknown role `{role}`"),
                    closest(role, roles.iter().cloned()),
                );
            }
            for (j, item) in items.iter().enumerate() {
                self.template(item, format!("{at}.checklist.{role}[{j}]"));
            }
        }
        let update_every = raw
            .update_every
            .as_ref()
            .and_then(|d| self.duration(d, format!("{at}.update_every")));
        let settle = raw
            .settle
            .as_ref()
            .and_then(|d| self.duration(d, format!("{at}.settle")))
            .unwrap_or(SignedDuration::from_mins(5));
        SeverityLevel {
            name: raw.name.value.trim().to_string(),
            description: raw.description.value.trim().to_string(),
            notify,
            chat,
            update_every,
            settle,
            checklist: raw
                .checklist
                .iter()
                .map(|(role, items)| {
                    (
                        role.clone(),
                        items.iter().map(|i| i.value.clone()).collect(),
                    )
                })
                .collect(),
        }
    }

    /// Text rendered with an incident's variables (talk scripts, checklist
    /// items): every `{{variable}}` must be one siaga knows.
    fn template(&mut self, text: &Spanned<String>, field: String) {
        for unknown in unknown_variables(&text.value) {
            let suggestion = closest(&unknown, TEMPLATE_VARIABLES.iter().map(|v| v.to_string()));
            self.report_with(
                text,
                field.clone(),
                format!(
                    "unknown variable `{{{{{unknown}}}}}`: use {}",
                    TEMPLATE_VARIABLES
                        .iter()
                        .map(|v| format!("{{{{{v}}}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                suggestion,
            );
        }
    }

    fn notification_rule(
        &mut self,
        spanned: &Spanned<RawNotificationRule>,
        at: String,
        contact_methods: &[ContactMethod],
    ) -> Option<NotificationRule> {
        let raw = &spanned.value;
        let after = match &raw.after {
            None => Some(SignedDuration::ZERO),
            Some(text) => match text.value.trim().parse::<SignedDuration>() {
                Ok(after) if !after.is_negative() && after <= MAX_NOTIFICATION_DELAY => Some(after),
                _ => {
                    self.report(
                        text,
                        format!("{at}.after"),
                        format!(
                            "`{}` is not a delay from `0m` to `24h`, such as `5m`",
                            text.value
                        ),
                    );
                    None
                }
            },
        };
        let urgency = match &raw.urgency {
            None => Some(None),
            Some(text) => match Urgency::parse(text.value.trim()) {
                Some(urgency) => Some(Some(urgency)),
                None => {
                    self.report(
                        text,
                        format!("{at}.urgency"),
                        format!("unknown urgency `{}`: high or low", text.value),
                    );
                    None
                }
            },
        };
        let mut channels = Vec::new();
        for (k, channel) in raw.channels.iter().enumerate() {
            let field = format!("{at}.channels[{k}]");
            let Some(kind) = ContactKind::ALL
                .into_iter()
                .find(|kind| kind.as_str() == channel.value)
            else {
                let suggestion = closest(
                    &channel.value,
                    ContactKind::ALL.iter().map(|k| k.as_str().to_string()),
                );
                self.report_with(
                    channel,
                    field,
                    format!("unknown channel `{}`", channel.value),
                    suggestion,
                );
                continue;
            };
            if !contact_methods.iter().any(|m| m.kind == kind) {
                self.report(
                    channel,
                    field,
                    format!("the person has no `{}` contact method", channel.value),
                );
                continue;
            }
            channels.push(kind);
        }
        if raw.channels.is_empty() {
            self.report(
                spanned,
                format!("{at}.channels"),
                "name at least one channel".into(),
            );
        }
        Some(NotificationRule {
            after: after?,
            channels,
            urgency: urgency?,
        })
    }

    fn team(&mut self, i: usize, raw: &RawTeam, handles: &BTreeSet<String>) -> Team {
        let at = format!("teams[{i}]");
        self.slug(&raw.name, format!("{at}.name"), "team name");
        self.reference(&raw.lead, format!("{at}.lead"), "person", handles);
        self.reference(&raw.head, format!("{at}.head"), "person", handles);
        let mut members: Vec<String> = Vec::new();
        for (j, member) in raw.members.iter().enumerate() {
            self.reference(member, format!("{at}.members[{j}]"), "person", handles);
            if members.contains(&member.value) {
                self.report(
                    member,
                    format!("{at}.members[{j}]"),
                    format!("`{}` is listed twice", member.value),
                );
            } else {
                members.push(member.value.clone());
            }
        }
        for leader in [&raw.lead.value, &raw.head.value] {
            if !members.contains(leader) {
                members.push(leader.clone());
            }
        }
        Team {
            id: 0,
            name: raw.name.value.clone(),
            display_name: raw
                .display_name
                .clone()
                .unwrap_or_else(|| title_case(&raw.name.value)),
            description: raw.description.clone(),
            lead: raw.lead.value.clone(),
            head: raw.head.value.clone(),
            members,
        }
    }

    fn service(
        &mut self,
        i: usize,
        raw: &RawService,
        teams: &BTreeSet<String>,
        services: &BTreeSet<String>,
    ) -> Service {
        let at = format!("services[{i}]");
        self.slug(&raw.name, format!("{at}.name"), "service name");
        let kind = match &raw.kind {
            None => ServiceKind::Internal,
            Some(k) if k.value == "internal" => ServiceKind::Internal,
            Some(k) if k.value == "external" => ServiceKind::External,
            Some(k) => {
                let suggestion = closest(
                    &k.value,
                    ["internal".to_string(), "external".to_string()].into_iter(),
                );
                self.report_with(
                    k,
                    format!("{at}.kind"),
                    format!("unknown service kind `{}`", k.value),
                    suggestion,
                );
                ServiceKind::Internal
            }
        };
        match &raw.owner {
            Some(owner) => {
                self.reference(owner, format!("{at}.owner"), "team", teams);
            }
            None if kind == ServiceKind::Internal => {
                self.report(
                    &raw.name,
                    format!("{at}.owner"),
                    "an internal service needs an owner team".into(),
                );
            }
            None => {}
        }
        let tier = match &raw.tier {
            Some(tier) if (1..=4).contains(&tier.value) => Some(tier.value as u8),
            Some(tier) => {
                self.report(
                    tier,
                    format!("{at}.tier"),
                    format!("tier must be 1 (most critical) to 4, not {}", tier.value),
                );
                None
            }
            None if kind == ServiceKind::Internal => {
                self.report(
                    &raw.name,
                    format!("{at}.tier"),
                    "an internal service needs a tier from 1 (most critical) to 4".into(),
                );
                None
            }
            None => None,
        };
        if raw.provider.is_some() && kind == ServiceKind::Internal {
            self.report(
                &raw.name,
                format!("{at}.provider"),
                "only an external service has a provider; add `kind: external`".into(),
            );
        }
        let mut depends_on: Vec<String> = Vec::new();
        for (j, dependency) in raw.depends_on.iter().enumerate() {
            let field = format!("{at}.depends_on[{j}]");
            if dependency.value == raw.name.value {
                self.report(
                    dependency,
                    field,
                    "a service cannot depend on itself".into(),
                );
            } else if self.reference(dependency, field, "service", services)
                && !depends_on.contains(&dependency.value)
            {
                depends_on.push(dependency.value.clone());
            }
        }
        let runbook = raw.runbook.as_ref().map(|runbook| {
            if let Some(url) = &runbook.value.url {
                self.http_url(url, format!("{at}.runbook.url"));
            }
            if runbook.value.url.is_none() && runbook.value.markdown.is_none() {
                self.report(
                    runbook,
                    format!("{at}.runbook"),
                    "a runbook needs a `url`, `markdown`, or both".into(),
                );
            }
            Runbook {
                url: runbook.value.url.as_ref().map(|u| u.value.clone()),
                markdown: runbook.value.markdown.clone(),
            }
        });
        let alert_grouping = raw.alert_grouping.as_ref().and_then(|grouping| {
            let window = self.duration(
                &grouping.value.window,
                format!("{at}.alert_grouping.window"),
            )?;
            if grouping.value.by.is_empty() {
                self.report(
                    grouping,
                    format!("{at}.alert_grouping.by"),
                    "name at least one label to group by, e.g. [alertname]".into(),
                );
            }
            Some(Grouping {
                by: grouping.value.by.clone(),
                window,
            })
        });
        let mut integration_names = HashSet::new();
        let integrations = raw
            .integrations
            .iter()
            .enumerate()
            .filter_map(|(j, integration)| {
                let field = format!("{at}.integrations[{j}]");
                if !integration_names.insert(integration.value.name.value.clone()) {
                    self.report(
                        &integration.value.name,
                        format!("{field}.name"),
                        format!(
                            "duplicate integration `{}` in this service",
                            integration.value.name.value
                        ),
                    );
                }
                self.integration(&field, &integration.value)
            })
            .collect();
        Service {
            id: 0,
            escalation_policy: raw.escalation_policy.as_ref().map(|p| p.value.clone()),
            name: raw.name.value.clone(),
            display_name: raw
                .display_name
                .clone()
                .unwrap_or_else(|| title_case(&raw.name.value)),
            alert_grouping,
            integrations,
            kind,
            owner: raw.owner.as_ref().map(|o| o.value.clone()),
            tier,
            description: raw.description.clone(),
            provider: raw.provider.clone(),
            depends_on,
            runbook,
        }
    }

    fn duration(&mut self, text: &Spanned<String>, field: String) -> Option<SignedDuration> {
        match text.value.trim().parse::<SignedDuration>() {
            Ok(duration) if duration.is_positive() => Some(duration),
            _ => {
                self.report(
                    text,
                    field,
                    format!(
                        "`{}` is not a positive duration such as `5m`, `1h` or `90s`",
                        text.value
                    ),
                );
                None
            }
        }
    }

    fn timestamp(&mut self, text: &Spanned<String>, field: String) -> Option<Timestamp> {
        match text.value.trim().parse::<Timestamp>() {
            Ok(at) => Some(at),
            Err(_) => {
                self.report(
                    text,
                    field,
                    format!(
                        "`{}` is not a time with an offset, such as `2026-12-01T01:00:00+08:00`",
                        text.value
                    ),
                );
                None
            }
        }
    }

    fn severity(&mut self, text: &Spanned<String>, field: String) -> Option<Severity> {
        let severity = Severity::parse(&text.value);
        if severity.is_none() {
            let suggestion = closest(
                &text.value,
                Severity::ALL.iter().map(|s| s.as_str().to_string()),
            );
            self.report_with(
                text,
                field,
                format!(
                    "unknown severity `{}`; use critical, error, warning or info",
                    text.value
                ),
                suggestion,
            );
        }
        severity
    }

    fn integration(&mut self, at: &str, raw: &RawIntegration) -> Option<Integration> {
        self.slug(&raw.name, format!("{at}.name"), "integration name");
        let kind = IntegrationKind::parse(&raw.kind.value);
        if kind.is_none() {
            let suggestion = closest(
                &raw.kind.value,
                IntegrationKind::ALL.iter().map(|k| k.as_str().to_string()),
            );
            self.report_with(
                &raw.kind,
                format!("{at}.kind"),
                format!("unknown integration kind `{}`", raw.kind.value),
                suggestion,
            );
        }
        if let Some(key) = &raw.key {
            let text = &key.value;
            if text.len() < 16
                || text.len() > 128
                || !text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                self.report(key, format!("{at}.key"), "a key has 16 to 128 letters, digits, `-`, `_` or `.`; leave it out to have one generated".into());
            }
        }
        if let Some(secret) = &raw.signing_secret {
            if kind != Some(IntegrationKind::Grafana) {
                self.report(
                    secret,
                    format!("{at}.signing_secret"),
                    "only grafana integrations sign their requests".into(),
                );
            } else if secret.value.len() < 16 {
                self.report(
                    secret,
                    format!("{at}.signing_secret"),
                    "a signing secret needs at least 16 characters".into(),
                );
            }
        }
        for (header, name) in [
            (&raw.signature_header, "signature_header"),
            (&raw.timestamp_header, "timestamp_header"),
        ] {
            let Some(header) = header else { continue };
            if raw.signing_secret.is_none() {
                self.report(
                    header,
                    format!("{at}.{name}"),
                    format!(
                        "a {} only counts with a signing_secret",
                        name.replace('_', " ")
                    ),
                );
            } else if header.value.is_empty()
                || !header
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                self.report(
                    header,
                    format!("{at}.{name}"),
                    format!("`{}` is not an HTTP header name", header.value),
                );
            }
        }
        let mut severity_map = BTreeMap::new();
        for (source, target) in &raw.severity_map {
            if let Some(severity) = self.severity(target, format!("{at}.severity_map.{source}")) {
                severity_map.insert(source.clone(), severity);
            }
        }
        let default_severity = raw
            .default_severity
            .as_ref()
            .and_then(|s| self.severity(s, format!("{at}.default_severity")));
        let mut urgency_rules = Vec::new();
        for (k, rule) in raw.urgency.iter().enumerate() {
            match Urgency::parse(&rule.value.urgency.value) {
                Some(urgency) => urgency_rules.push(UrgencyRule {
                    matcher: LabelMatch(rule.value.matcher.clone()),
                    urgency,
                }),
                None => self.report(
                    &rule.value.urgency,
                    format!("{at}.urgency[{k}].urgency"),
                    format!(
                        "unknown urgency `{}`; use high or low",
                        rule.value.urgency.value
                    ),
                ),
            }
            if rule.value.matcher.is_empty() {
                self.report(
                    rule,
                    format!("{at}.urgency[{k}].match"),
                    "a rule needs at least one label to match".into(),
                );
            }
        }
        let mut drop_rules = Vec::new();
        for (k, rule) in raw.drop.iter().enumerate() {
            if rule.value.matcher.is_empty() {
                self.report(
                    rule,
                    format!("{at}.drop[{k}].match"),
                    "a drop rule needs at least one label to match, or it would drop everything"
                        .into(),
                );
            }
            drop_rules.push(LabelMatch(rule.value.matcher.clone()));
        }
        let rate_limit = match &raw.rate_limit {
            None => RateLimit::default(),
            Some(limit) => {
                let per = self
                    .duration(&limit.value.per, format!("{at}.rate_limit.per"))
                    .filter(|per| {
                        let fits = *per <= SignedDuration::from_hours(24);
                        if !fits {
                            self.report(
                                &limit.value.per,
                                format!("{at}.rate_limit.per"),
                                "a rate limit counts events per at most a day (24h)".into(),
                            );
                        }
                        fits
                    });
                let events = u32::try_from(limit.value.events.value)
                    .ok()
                    .filter(|e| *e > 0);
                if events.is_none() {
                    self.report(
                        &limit.value.events,
                        format!("{at}.rate_limit.events"),
                        "events must be a positive number".into(),
                    );
                }
                RateLimit {
                    events: events.unwrap_or(1),
                    per: per.unwrap_or(SignedDuration::from_mins(1)),
                }
            }
        };
        Some(Integration {
            name: raw.name.value.clone(),
            kind: kind?,
            key: raw.key.as_ref().map(|k| k.value.clone()),
            signing_secret: raw.signing_secret.as_ref().map(|s| s.value.clone()),
            signature_header: raw
                .signature_header
                .as_ref()
                .map(|h| h.value.to_ascii_lowercase()),
            timestamp_header: raw
                .timestamp_header
                .as_ref()
                .map(|h| h.value.to_ascii_lowercase()),
            mapping: Mapping {
                severity_map,
                default_severity,
                urgency_rules,
                drop_rules,
            },
            rate_limit,
        })
    }

    /// Declared integration keys must be unique across all services, since
    /// the key alone picks the integration.
    fn unique_integration_keys(&mut self, services: &[Spanned<RawService>]) {
        let mut seen = HashSet::new();
        for (i, service) in services.iter().enumerate() {
            for (j, integration) in service.value.integrations.iter().enumerate() {
                if let Some(key) = &integration.value.key
                    && !seen.insert(key.value.clone())
                {
                    self.report(
                        key,
                        format!("services[{i}].integrations[{j}].key"),
                        "this key is already used by another integration".into(),
                    );
                }
            }
        }
    }

    fn schedule(
        &mut self,
        i: usize,
        raw: &RawSchedule,
        handles: &BTreeSet<String>,
        default_zone: &str,
    ) -> Schedule {
        let at = format!("schedules[{i}]");
        self.slug(&raw.name, format!("{at}.name"), "schedule name");
        let time_zone = match &raw.time_zone {
            Some(zone) => {
                self.time_zone(zone, format!("{at}.time_zone"));
                zone.value.clone()
            }
            None => default_zone.to_string(),
        };
        if raw.layers.is_empty() {
            self.report(
                &raw.name,
                format!("{at}.layers"),
                "a schedule needs at least one layer".into(),
            );
        }
        let layers = raw
            .layers
            .iter()
            .enumerate()
            .filter_map(|(j, layer)| {
                self.layer(
                    &format!("{at}.layers[{j}]"),
                    j,
                    &layer.value,
                    handles,
                    &time_zone,
                )
            })
            .collect();
        Schedule {
            id: 0,
            name: raw.name.value.clone(),
            description: raw.description.clone(),
            time_zone,
            layers,
        }
    }

    fn layer(
        &mut self,
        at: &str,
        index: usize,
        raw: &RawLayer,
        handles: &BTreeSet<String>,
        schedule_zone: &str,
    ) -> Option<Layer> {
        if raw.participants.value.is_empty() {
            self.report(
                &raw.participants,
                format!("{at}.participants"),
                "a rotation needs at least one participant".into(),
            );
        }
        for (k, participant) in raw.participants.value.iter().enumerate() {
            self.reference(
                participant,
                format!("{at}.participants[{k}]"),
                "person",
                handles,
            );
        }
        let rotation = parse_rotation(&raw.rotation.value);
        if rotation.is_none() {
            self.report(
                &raw.rotation,
                format!("{at}.rotation"),
                format!(
                    "`{}` is not a rotation; use daily, weekly, or a length such as `3d` or `12h` (at most {MAX_ROTATION_DAYS} days)",
                    raw.rotation.value
                ),
            );
        }
        let time_zone = match &raw.time_zone {
            Some(zone) => {
                self.time_zone(zone, format!("{at}.time_zone"));
                zone.value.clone()
            }
            None => schedule_zone.to_string(),
        };
        let start = crate::domain::schedule::local_date_time(&raw.start.value);
        if start.is_none() {
            self.report(
                &raw.start,
                format!("{at}.start"),
                format!(
                    "`{}` is not a local date and time such as `2026-11-02T09:00`",
                    raw.start.value
                ),
            );
        }
        let mut restrictions = Vec::new();
        for (k, restriction) in raw.restrictions.iter().enumerate() {
            let field = format!("{at}.restrictions[{k}]");
            let mut days = Vec::new();
            for (d, day) in restriction.value.days.iter().enumerate() {
                match weekday_names::parse(&day.value) {
                    Some(weekday) => days.push(weekday),
                    None => {
                        let suggestion = closest(
                            &day.value,
                            weekday_names::NAMES.iter().map(|n| n.to_string()),
                        );
                        self.report_with(
                            day,
                            format!("{field}.days[{d}]"),
                            format!("unknown weekday `{}`", day.value),
                            suggestion,
                        );
                    }
                }
            }
            if restriction.value.days.is_empty() {
                self.report(
                    restriction,
                    format!("{field}.days"),
                    "a window needs at least one weekday (mon … sun)".into(),
                );
            }
            // `to` at or before `from` ends the next day: equal times are a
            // whole day from `from` (there is no 24:00).
            let from = self.time_of_day(&restriction.value.from, format!("{field}.from"));
            let to = self.time_of_day(&restriction.value.to, format!("{field}.to"));
            if let (Some(from), Some(to)) = (from, to) {
                restrictions.push(Restriction { days, from, to });
            }
        }
        let layer = Layer {
            name: raw
                .name
                .clone()
                .unwrap_or_else(|| format!("layer-{}", index + 1)),
            participants: raw
                .participants
                .value
                .iter()
                .map(|p| p.value.clone())
                .collect(),
            rotation: rotation?,
            start: start?,
            time_zone,
            restrictions,
        };
        if let Err(ScheduleError::InvalidStart(_)) = layer.validate() {
            self.report(
                &raw.start,
                format!("{at}.start"),
                "this local time does not exist in the time zone".into(),
            );
        } else if let Some(moved) = skipped_by_clocks(&layer.time_zone, layer.start) {
            // Would be read as the time after the gap, silently.
            self.report(
                &raw.start,
                format!("{at}.start"),
                format!(
                    "{} does not exist in {}: the clocks skip that hour; write {moved}",
                    layer.start, layer.time_zone
                ),
            );
        }
        Some(layer)
    }

    fn policy(
        &mut self,
        i: usize,
        raw: &RawPolicy,
        handles: &BTreeSet<String>,
        teams: &BTreeSet<String>,
        schedules: &BTreeSet<String>,
    ) -> EscalationPolicy {
        let at = format!("escalation_policies[{i}]");
        self.slug(&raw.name, format!("{at}.name"), "escalation policy name");
        if raw.levels.is_empty() {
            self.report(
                &raw.name,
                format!("{at}.levels"),
                "a policy needs at least one level".into(),
            );
        }
        let mut levels = Vec::new();
        for (j, level) in raw.levels.iter().enumerate() {
            let field = format!("{at}.levels[{j}]");
            if level.value.notify.is_empty() {
                self.report(
                    level,
                    format!("{field}.notify"),
                    "a level must notify someone".into(),
                );
            }
            let mut targets = Vec::new();
            for (k, text) in level.value.notify.iter().enumerate() {
                let target_field = format!("{field}.notify[{k}]");
                let Some(target) = Target::parse(&text.value) else {
                    self.report(
                        text,
                        target_field,
                        format!("`{}` is not a target; use schedule:NAME, person:HANDLE, team_lead:TEAM, team_head:TEAM or team:TEAM", text.value),
                    );
                    continue;
                };
                let (known, what, name) = match &target {
                    Target::Schedule(name) => (schedules, "schedule", name),
                    Target::Person(name) => (handles, "person", name),
                    Target::TeamLead(name) | Target::TeamHead(name) | Target::Team(name) => {
                        (teams, "team", name)
                    }
                };
                let spanned = Spanned {
                    value: name.clone(),
                    referenced: text.referenced,
                    defined: text.defined,
                };
                self.reference(&spanned, target_field, what, known);
                targets.push(target);
            }
            let wait = self.duration(&level.value.wait, format!("{field}.wait"));
            if let Some(wait) = wait
                && wait < SignedDuration::from_mins(1)
            {
                self.report(
                    &level.value.wait,
                    format!("{field}.wait"),
                    "wait at least a minute for an acknowledgement".into(),
                );
            }
            levels.push(Level {
                targets,
                wait: wait.unwrap_or(SignedDuration::from_mins(5)),
            });
        }
        let repeat = match &raw.repeat {
            Some(repeat) if (0..=10).contains(&repeat.value) => repeat.value as u32,
            Some(repeat) => {
                self.report(
                    repeat,
                    format!("{at}.repeat"),
                    "repeat the policy 0 to 10 times".into(),
                );
                0
            }
            None => 0,
        };
        let reescalate_after_ack = raw
            .reescalate_after_ack
            .as_ref()
            .and_then(|d| self.duration(d, format!("{at}.reescalate_after_ack")));
        EscalationPolicy {
            id: 0,
            name: raw.name.value.clone(),
            levels,
            repeat,
            reescalate_after_ack,
        }
    }

    fn time_of_day(&mut self, text: &Spanned<String>, field: String) -> Option<jiff::civil::Time> {
        let parsed = crate::domain::schedule::local_time(&text.value);
        if parsed.is_none() {
            self.report(
                text,
                field,
                format!("`{}` is not a time of day such as `09:00`", text.value),
            );
        }
        parsed
    }

    fn maintenance(
        &mut self,
        i: usize,
        raw: &RawMaintenance,
        services: &BTreeSet<String>,
    ) -> Option<PlannedMaintenance> {
        let at = format!("maintenance_windows[{i}]");
        let known = self.reference(&raw.service, format!("{at}.service"), "service", services);
        let starts_at = self.timestamp(&raw.starts_at, format!("{at}.starts_at"));
        let ends_at = self.timestamp(&raw.ends_at, format!("{at}.ends_at"));
        if raw.reason.value.trim().is_empty() {
            self.report(
                &raw.reason,
                format!("{at}.reason"),
                "say why, so people who get no page know".into(),
            );
        }
        let (starts_at, ends_at) = (starts_at?, ends_at?);
        if ends_at <= starts_at {
            self.report(
                &raw.ends_at,
                format!("{at}.ends_at"),
                "the window must end after it starts".into(),
            );
            return None;
        }
        known.then(|| PlannedMaintenance {
            id: 0,
            name: raw
                .name
                .clone()
                .unwrap_or_else(|| format!("{}@{}", raw.service.value, starts_at)),
            service: raw.service.value.clone(),
            starts_at,
            ends_at,
            reason: raw.reason.value.trim().to_string(),
        })
    }

    /// Reports each dependency cycle once, at the service where it is first
    /// entered, naming the whole loop.
    fn dependency_cycles(&mut self, services: &[Spanned<RawService>]) {
        let index: BTreeMap<&str, usize> = services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.value.name.value.as_str(), i))
            .collect();
        // Edges by position; self-dependencies are reported on their own.
        let edges: Vec<Vec<usize>> = services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.value
                    .depends_on
                    .iter()
                    .filter_map(|d| index.get(d.value.as_str()).copied())
                    .filter(|&d| d != i)
                    .collect()
            })
            .collect();
        for cycle in find_cycles(&edges) {
            let first = cycle[0];
            let path = cycle
                .iter()
                .chain(std::iter::once(&first))
                .map(|&i| services[i].value.name.value.as_str())
                .collect::<Vec<_>>()
                .join(" → ");
            self.report(
                &services[first].value.name,
                format!("services[{first}].depends_on"),
                format!("dependency cycle: {path}"),
            );
        }
    }
}

/// Cycles in a graph given as adjacency lists, each found once, in the
/// order of a depth-first search from each node in turn. Iterative and
/// linear in nodes plus edges, so a hostile config cannot exhaust the stack
/// or the CPU.
fn find_cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; edges.len()];
    let mut cycles = Vec::new();
    for root in 0..edges.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // The path from the root, each node with the next edge to follow.
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::OnPath;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            match edges[node].get(*next).copied() {
                Some(target) => {
                    *next += 1;
                    match marks[target] {
                        Mark::New => {
                            marks[target] = Mark::OnPath;
                            path.push((target, 0));
                        }
                        Mark::OnPath => {
                            let from = path.iter().position(|&(n, _)| n == target).unwrap_or(0);
                            cycles.push(path[from..].iter().map(|&(n, _)| n).collect());
                        }
                        Mark::Done => {}
                    }
                }
                None => {
                    marks[node] = Mark::Done;
                    path.pop();
                }
            }
        }
    }
    cycles
}

fn is_slug(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The local time `at` becomes in `zone` when the clocks skip it (it falls
/// in the hour a change to summer time leaves out), if they do.
fn skipped_by_clocks(zone: &str, at: jiff::civil::DateTime) -> Option<jiff::civil::DateTime> {
    let tz = jiff::tz::TimeZone::get(zone).ok()?;
    match tz.to_ambiguous_timestamp(at).offset() {
        jiff::tz::AmbiguousOffset::Gap { .. } => {
            let moved = tz.to_timestamp(at).ok()?;
            Some(moved.to_zoned(tz).datetime())
        }
        _ => None,
    }
}

/// An address mail can be sent to: one address (not a list), as the
/// mailer will parse it, with a dotted domain.
fn looks_like_email(text: &str) -> bool {
    text.trim().parse::<lettre::Address>().is_ok_and(|address| {
        let domain = address.domain();
        domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
    })
}

fn looks_like_phone(text: &str) -> bool {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    digits.starts_with('+') && digits.len() >= 8 && digits[1..].chars().all(|c| c.is_ascii_digit())
}

fn title_case(slug: &str) -> String {
    slug.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The known name closest to a mistyped one, when it is close enough to be
/// the likely intent (a few edits, relative to its length).
pub fn closest(wanted: &str, known: impl Iterator<Item = String>) -> Option<String> {
    let wanted_lower = wanted.to_lowercase();
    let limit = (wanted.chars().count() / 3).max(1);
    known
        .map(|name| {
            (
                strsim::levenshtein(&wanted_lower, &name.to_lowercase()),
                name,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_addresses_the_mailer_takes() {
        for good in ["zul@kedai.example", " nurul.binti@mail.kedai.example "] {
            assert!(looks_like_email(good), "{good}");
        }
        for bad in [
            "a@x.example,b@y.example",
            "zul@@kedai.example",
            "zul@localhost",
            "zul kedai@kedai.example",
            "@kedai.example",
            "zul@.example",
            "Zul <zul@kedai.example>",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }

    const VALID: &str = r###"
organisation:
  name: Kedai
  time_zone: Asia/Kuala_Lumpur
people:
  - handle: aisyah
    name: Aisyah
    email: aisyah@kedai.example
    contact_methods:
      - type: sms
        address: "+60123456789"
  - handle: budi
    name: Budi
    email: budi@kedai.example
    time_zone: Asia/Jakarta
teams:
  - name: payments
    lead: aisyah
    head: budi
executives: [budi]
services:
  - name: checkout
    owner: payments
    tier: 1
    depends_on: [payment-partner]
    runbook:
      markdown: "## Steps"
  - name: payment-partner
    kind: external
    provider: NusaPay
"###;

    #[test]
    fn maintenance_windows_need_names_of_their_own() {
        let window = |name: &str| {
            format!(
                "  - {{{name}service: checkout, starts_at: \"2026-12-01T01:00:00Z\", ends_at: \"2026-12-01T03:00:00Z\", reason: upgrade}}\n"
            )
        };
        let text =
            |windows: &[String]| format!("{VALID}maintenance_windows:\n{}", windows.concat());
        // Two unnamed windows of one service and start share a name.
        let errors = parse("shop.yaml", &text(&[window(""), window("")])).unwrap_err();
        assert_eq!(errors.issues.len(), 1, "{errors}");
        assert_eq!(errors.issues[0].field, "maintenance_windows[1].name");
        assert!(
            errors.issues[0]
                .message
                .contains("duplicate maintenance window `checkout@2026-12-01T01:00:00Z`"),
            "{errors}"
        );
        let errors = parse(
            "shop.yaml",
            &text(&[window("name: db, "), window("name: DB, ")]),
        )
        .unwrap_err();
        assert_eq!(
            errors.issues[0].field, "maintenance_windows[1].name",
            "{errors}"
        );
        let org = parse("shop.yaml", &text(&[window("name: db, "), window("")])).unwrap();
        assert_eq!(org.maintenance.len(), 2);
    }

    #[test]
    fn restriction_windows_need_a_day_and_may_last_a_whole_day() {
        let config = |days: &str| {
            format!(
                "organisation: {{name: K}}\npeople: [{{handle: a, name: A, email: a@k.example}}]\nschedules:\n  - name: weekend\n    layers:\n      - participants: [a]\n        rotation: weekly\n        start: 2026-11-02T00:00\n        restrictions: [{{days: {days}, from: \"00:00\", to: \"00:00\"}}]\n"
            )
        };
        let org = parse("s.yaml", &config("[sat, sun]")).unwrap();
        let restriction = &org.schedules[0].layers[0].restrictions[0];
        assert_eq!(restriction.from, restriction.to, "a whole day");
        let errors = parse("s.yaml", &config("[]")).unwrap_err();
        assert_eq!(errors.issues.len(), 1, "{errors}");
        assert_eq!(
            errors.issues[0].field,
            "schedules[0].layers[0].restrictions[0].days"
        );
        // An offset in a local time is refused, not dropped.
        let offset = config("[sat]").replace("2026-11-02T00:00", "2026-11-02T00:00+08:00");
        let errors = parse("s.yaml", &offset).unwrap_err();
        assert_eq!(errors.issues[0].field, "schedules[0].layers[0].start");
        let offset = config("[sat]").replace("from: \"00:00\"", "from: \"00:00+08:00\"");
        let errors = parse("s.yaml", &offset).unwrap_err();
        assert_eq!(
            errors.issues[0].field,
            "schedules[0].layers[0].restrictions[0].from"
        );
    }

    #[test]
    fn a_timestamp_header_needs_a_signing_secret_and_a_header_name() {
        let config = |extra: &str| {
            format!(
                "organisation: {{name: K}}\nservices:\n  - name: web\n    kind: external\n    integrations:\n      - name: g\n        kind: grafana\n{extra}"
            )
        };
        let org = parse(
            "g.yaml",
            &config("        signing_secret: a-long-enough-secret\n        timestamp_header: X-Grafana-Alerting-Timestamp\n"),
        )
        .unwrap();
        assert_eq!(
            org.services[0].integrations[0].timestamp_header.as_deref(),
            Some("x-grafana-alerting-timestamp")
        );
        for (extra, field) in [
            ("        timestamp_header: X-Stamp\n", "timestamp_header"),
            ("        signature_header: X-Sig\n", "signature_header"),
            (
                "        signing_secret: a-long-enough-secret\n        signature_header: \"X: Sig\"\n",
                "signature_header",
            ),
            (
                "        signing_secret: a-long-enough-secret\n        timestamp_header: \"X Stamp\"\n",
                "timestamp_header",
            ),
        ] {
            let errors = parse("g.yaml", &config(extra)).unwrap_err();
            assert_eq!(
                errors.issues[0].field,
                format!("services[0].integrations[0].{field}"),
                "{errors}"
            );
        }
    }

    #[test]
    fn rate_limits_count_per_at_most_a_day() {
        let config = |per: &str| {
            format!(
                "organisation: {{name: K}}\nservices:\n  - name: web\n    kind: external\n    integrations:\n      - name: g\n        kind: generic\n        rate_limit: {{events: 10, per: {per}}}\n"
            )
        };
        let org = parse("r.yaml", &config("24h")).unwrap();
        assert_eq!(
            org.services[0].integrations[0].rate_limit.per,
            SignedDuration::from_hours(24)
        );
        for per in ["25h", "200000000000h"] {
            let errors = parse("r.yaml", &config(per)).unwrap_err();
            assert_eq!(
                errors.issues[0].field, "services[0].integrations[0].rate_limit.per",
                "{errors}"
            );
        }
    }

    #[test]
    fn rotations_are_bounded_to_ten_years() {
        assert_eq!(parse_rotation("weekly"), Some(Rotation::Days(7)));
        assert_eq!(parse_rotation("3653d"), Some(Rotation::Days(3653)));
        assert_eq!(parse_rotation("87672h"), Some(Rotation::Hours(87_672)));
        for refused in [
            "3654d",
            "522w",
            "87673h",
            "8000000d",
            "613566757w",
            "0d",
            "3x",
        ] {
            assert_eq!(parse_rotation(refused), None, "{refused}");
        }
    }

    #[test]
    fn valid_config_becomes_an_org() {
        let org = parse("shop.yaml", VALID).unwrap();
        assert_eq!(org.settings.name, "Kedai");
        assert_eq!(org.person("aisyah").unwrap().time_zone, "Asia/Kuala_Lumpur");
        assert_eq!(org.person("budi").unwrap().time_zone, "Asia/Jakarta");
        let team = org.team("payments").unwrap();
        assert_eq!(team.members, ["aisyah", "budi"]);
        assert_eq!(team.display_name, "Payments");
        let partner = org.service("payment-partner").unwrap();
        assert_eq!(partner.kind, ServiceKind::External);
        assert_eq!(partner.display_name, "Payment Partner");
        assert_eq!(org.dependents("payment-partner")[0].name, "checkout");
    }

    #[test]
    fn near_miss_names_get_a_suggestion_with_line_and_field() {
        let text = VALID.replace("owner: payments", "owner: paymnts");
        let errors = parse("shop.yaml", &text).unwrap_err();
        assert_eq!(errors.issues.len(), 1, "{errors}");
        let issue = &errors.issues[0];
        assert_eq!(issue.field, "services[0].owner");
        assert_eq!(issue.suggestion.as_deref(), Some("payments"));
        let line = text.lines().position(|l| l.contains("paymnts")).unwrap() as u64 + 1;
        assert_eq!(issue.line, line);
        assert!(
            errors
                .to_string()
                .starts_with(&format!("shop.yaml:{line}:")),
            "{errors}"
        );
        assert!(
            errors.to_string().contains("did you mean `payments`?"),
            "{errors}"
        );
    }

    #[test]
    fn notification_rules_parse_and_bad_ones_are_located() {
        let rules = "      - type: sms\n        address: \"+60123456789\"\n    notification_rules:\n      - channels: [sms]\n      - {after: 5m, channels: [sms], urgency: high}\n";
        let text = VALID.replacen(
            "      - type: sms\n        address: \"+60123456789\"\n",
            rules,
            1,
        );
        let org = parse("shop.yaml", &text).unwrap();
        let aisyah = org.person("aisyah").unwrap();
        assert_eq!(aisyah.notification_rules.len(), 2);
        assert_eq!(aisyah.notification_rules[0].after, SignedDuration::ZERO);
        assert_eq!(
            aisyah.notification_rules[1].after,
            SignedDuration::from_mins(5)
        );
        assert_eq!(aisyah.notification_rules[1].urgency, Some(Urgency::High));

        let broken = text
            .replacen("channels: [sms]\n", "channels: [smss, email]\n", 1)
            .replacen("after: 5m", "after: 2d", 1)
            .replacen("urgency: high", "urgency: loud", 1);
        let errors = parse("shop.yaml", &broken).unwrap_err();
        let fields: Vec<(&str, &str)> = errors
            .issues
            .iter()
            .map(|i| (i.field.as_str(), i.message.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                (
                    "people[0].notification_rules[0].channels[0]",
                    "unknown channel `smss`"
                ),
                (
                    "people[0].notification_rules[0].channels[1]",
                    "the person has no `email` contact method"
                ),
                (
                    "people[0].notification_rules[1].after",
                    "`2d` is not a delay from `0m` to `24h`, such as `5m`"
                ),
                (
                    "people[0].notification_rules[1].urgency",
                    "unknown urgency `loud`: high or low"
                ),
            ],
            "{errors}"
        );
        assert_eq!(errors.issues[0].suggestion.as_deref(), Some("sms"));
    }

    #[test]
    fn every_error_is_reported_not_just_the_first() {
        let text = VALID
            .replace("lead: aisyah", "lead: aisya")
            .replace("time_zone: Asia/Jakarta", "time_zone: Asia/Jakart")
            .replace("tier: 1", "tier: 7")
            .replace("executives: [budi]", "executives: [nobody]")
            .replace("address: \"+60123456789\"", "address: \"12\"");
        let errors = parse("shop.yaml", &text).unwrap_err();
        let fields: Vec<&str> = errors.issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "people[0].contact_methods[0].address",
                "people[1].time_zone",
                "teams[0].lead",
                "executives[0]",
                "services[0].tier"
            ],
            "{errors}"
        );
        assert_eq!(errors.issues[1].suggestion.as_deref(), Some("Asia/Jakarta"));
    }

    #[test]
    fn cycles_and_self_dependencies_are_refused() {
        let text = VALID.replace(
            "    kind: external\n    provider: NusaPay\n",
            "    owner: payments\n    tier: 2\n    depends_on: [checkout]\n",
        );
        let errors = parse("shop.yaml", &text).unwrap_err();
        assert_eq!(errors.issues.len(), 1, "{errors}");
        assert!(
            errors.issues[0]
                .message
                .contains("checkout → payment-partner → checkout"),
            "{errors}"
        );

        let text = VALID.replace("depends_on: [payment-partner]", "depends_on: [checkout]");
        let errors = parse("shop.yaml", &text).unwrap_err();
        assert!(errors.issues[0].message.contains("itself"), "{errors}");
    }

    #[test]
    fn malformed_yaml_and_unknown_keys_have_a_location() {
        let errors = parse("x.yaml", "organisation:\n  name: [unclosed\n").unwrap_err();
        assert!(errors.issues[0].line >= 2, "{errors}");
        let errors = parse("x.yaml", "organisation:\n  name: K\n  colour: red\n").unwrap_err();
        assert_eq!(errors.issues[0].line, 3, "{errors}");
        assert!(errors.issues[0].message.contains("colour"), "{errors}");
        let errors = parse("x.yaml", "organisation:\n  name: K\n  time_zome: UTC\n").unwrap_err();
        assert_eq!(
            errors.issues[0].suggestion.as_deref(),
            Some("time_zone"),
            "{errors}"
        );
    }

    #[test]
    fn type_errors_name_the_field_they_are_in() {
        let text = VALID.replacen("tier: 1", "tier: first", 1);
        assert_ne!(text, VALID, "the example has a tier to break");
        let errors = parse("shop.yaml", &text).unwrap_err();
        let issue = &errors.issues[0];
        assert!(
            issue.field.starts_with("services[") && issue.field.ends_with("].tier"),
            "{issue:?}"
        );
        assert!(issue.line > 0, "{issue:?}");
        let errors = parse("x.yaml", "organisation:\n  name: K\n  colour: red\n").unwrap_err();
        assert_eq!(errors.issues[0].field, "organisation.colour", "{errors}");
    }

    #[test]
    fn duplicates_are_refused() {
        let text = VALID.replace("handle: budi", "handle: aisyah");
        let errors = parse("shop.yaml", &text).unwrap_err();
        assert!(
            errors
                .issues
                .iter()
                .any(|i| i.field == "people[1].handle" && i.message.contains("duplicate")),
            "{errors}"
        );
    }

    const INCIDENTS: &str = r###"
incidents:
  severities:
    - name: SEV1
      description: Customers cannot pay.
      notify: [executives, owner_leads]
      update_every: 30m
      settle: 10m
      checklist:
        incident_owner: ["Call NusaPay about {{services}}"]
    - name: SEV2
      description: Degraded.
  roles:
    - name: incident_owner
      title: Incident owner
      checklist: ["Confirm {{severity}} with the on-call"]
    - {name: comms_lead, title: Comms lead}
  talk_scripts:
    - {name: phone, audience: customer support, template: "{{title}}: {{workaround}}"}
  auto_declare:
    - {alert_severity: critical, tier: 1, declare: SEV2}
  regression: {window: 30m, action: prompt}
"###;

    /// The problems of VALID with the incidents section changed by `edit`.
    fn incident_issues(edit: impl Fn(&str) -> String) -> Vec<ConfigIssue> {
        let text = format!("{VALID}{}", edit(INCIDENTS));
        match parse("shop.yaml", &text) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.issues,
        }
    }

    /// The one problem an edit makes, with its line found by `marker`.
    fn one_incident_issue(edit: impl Fn(&str) -> String, marker: &str) -> ConfigIssue {
        let issues = incident_issues(&edit);
        assert_eq!(issues.len(), 1, "{issues:?}");
        let text = format!("{VALID}{}", edit(INCIDENTS));
        let line = text.lines().position(|l| l.contains(marker)).unwrap() as u64 + 1;
        assert_eq!(issues[0].line, line, "{:?}", issues[0]);
        issues[0].clone()
    }

    #[test]
    fn the_incidents_section_becomes_the_policy() {
        let org = parse("shop.yaml", &format!("{VALID}{INCIDENTS}")).unwrap();
        let policy = &org.incidents;
        assert_eq!(policy.severities.len(), 2);
        assert_eq!(policy.severities[0].settle, SignedDuration::from_mins(10));
        assert_eq!(
            policy.severities[0].checklist["incident_owner"],
            ["Call NusaPay about {{services}}"]
        );
        assert_eq!(policy.severities[1].update_every, None);
        assert_eq!(
            policy.roles[0].checklist,
            ["Confirm {{severity}} with the on-call"]
        );
        assert_eq!(policy.auto_declare[0].tier, Some(1));
        assert_eq!(policy.regression.action, RegressionAction::Prompt);
        assert_eq!(policy.regression.window, SignedDuration::from_mins(30));
    }

    #[test]
    fn a_checklist_for_an_unknown_role_is_located() {
        let issue = one_incident_issue(
            |c| c.replace("        incident_owner: [", "        incident_ownr: ["),
            "- name: SEV1",
        );
        assert_eq!(
            issue.field,
            "incidents.severities[0].checklist.incident_ownr"
        );
        assert_eq!(issue.message, "unknown role `incident_ownr`");
        assert_eq!(issue.suggestion.as_deref(), Some("incident_owner"));
    }

    #[test]
    fn unknown_template_variables_are_located_in_scripts_and_checklists() {
        let issue = one_incident_issue(
            |c| c.replace("{{workaround}}", "{{workaroud}}"),
            "workaroud",
        );
        assert_eq!(issue.field, "incidents.talk_scripts[0].template");
        assert!(
            issue
                .message
                .starts_with("unknown variable `{{workaroud}}`"),
            "{issue:?}"
        );
        assert_eq!(issue.suggestion.as_deref(), Some("workaround"));

        let issue = one_incident_issue(|c| c.replace("{{severity}}", "{{sevrity}}"), "sevrity");
        assert_eq!(issue.field, "incidents.roles[0].checklist[0]");
        assert_eq!(issue.suggestion.as_deref(), Some("severity"));

        let issue = one_incident_issue(|c| c.replace("{{services}}", "{{eta}}"), "{{eta}}");
        assert_eq!(
            issue.field,
            "incidents.severities[0].checklist.incident_owner[0]"
        );
    }

    #[test]
    fn bad_auto_declare_rules_are_located() {
        let issue = one_incident_issue(
            |c| c.replace("alert_severity: critical", "alert_severity: critcal"),
            "critcal",
        );
        assert_eq!(issue.field, "incidents.auto_declare[0].alert_severity");
        assert!(
            issue.message.contains("critical, error, warning or info"),
            "{issue:?}"
        );

        let issue = one_incident_issue(|c| c.replace("declare: SEV2", "declare: SEV9"), "SEV9");
        assert_eq!(issue.field, "incidents.auto_declare[0].declare");
        assert_eq!(issue.message, "unknown severity `SEV9`");

        let issue = one_incident_issue(|c| c.replace("tier: 1,", "tier: 5,"), "tier: 5");
        assert_eq!(issue.field, "incidents.auto_declare[0].tier");
        assert_eq!(issue.message, "tier must be 1 to 4");
    }

    #[test]
    fn a_bad_regression_action_is_located() {
        let issue = one_incident_issue(
            |c| c.replace("action: prompt", "action: page"),
            "action: page",
        );
        assert_eq!(issue.field, "incidents.regression.action");
        assert_eq!(issue.message, "unknown action `page`: reopen or prompt");
    }

    #[test]
    fn no_severities_is_located() {
        let edit = |c: &str| {
            let (_, rest) = c.split_once("  roles:").unwrap();
            format!("incidents:\n  severities: []\n  roles:{rest}").replace(
                "  auto_declare:\n    - {alert_severity: critical, tier: 1, declare: SEV2}\n",
                "",
            )
        };
        let issue = one_incident_issue(edit, "severities: []");
        assert_eq!(issue.field, "incidents.severities");
        assert!(
            issue.message.starts_with("declare at least one severity"),
            "{issue:?}"
        );
    }

    #[test]
    fn the_roles_the_code_relies_on_are_required() {
        let issue = one_incident_issue(
            |c| c.replace("    - {name: comms_lead, title: Comms lead}\n", ""),
            // A list's place is where its first item starts.
            "- name: incident_owner",
        );
        assert_eq!(issue.field, "incidents.roles");
        assert!(
            issue
                .message
                .starts_with("the `comms_lead` role is required"),
            "{issue:?}"
        );
        // Renaming the owner loses it too, and its checklist in SEV1 with it.
        let issues = incident_issues(|c| c.replace("- name: incident_owner", "- name: commander"));
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "incidents.severities[0].checklist.incident_owner",
                "incidents.roles"
            ],
            "{issues:?}"
        );
        assert!(
            issues[1]
                .message
                .contains("`incident_owner` role is required")
        );
        // Without a roles list the defaults, which have both, apply.
        let issues = incident_issues(|c| {
            let (head, rest) = c.split_once("  roles:").unwrap();
            let (_, tail) = rest.split_once("  talk_scripts:").unwrap();
            format!("{head}  talk_scripts:{tail}")
        });
        assert!(issues.is_empty(), "{issues:?}");
    }

    const SHOP: &str = include_str!("../examples/shop.yaml");

    #[test]
    fn the_example_shop_is_valid() {
        let org = parse("shop.yaml", SHOP).unwrap();
        assert!(org.services.iter().any(|s| s.kind == ServiceKind::External));
        assert_eq!(org.settings.executives.len(), 3);
        let policy = &org.incidents;
        let severities: Vec<&str> = policy.severities.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(severities, ["SEV1", "SEV2", "SEV3", "SEV4"]);
        let audiences: Vec<&str> = policy
            .talk_scripts
            .iter()
            .map(|s| s.audience.as_str())
            .collect();
        assert_eq!(
            audiences,
            ["customer support", "sales, for business customers"]
        );
        assert_eq!(policy.auto_declare[0].tier, Some(1));
        assert_eq!(policy.auto_declare[0].declare, "SEV2");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// The config comes from outside; whatever it holds, parsing ends
        /// in an org or in located errors, never in a panic.
        #[test]
        fn mangled_configs_never_panic(
            cuts in proptest::collection::vec((0usize..20_000, 0usize..40, "[ -~\n\t:\\[\\]{}&*!|>'\"#-]{0,12}"), 1..6)
        ) {
            let mut text = SHOP.to_string();
            for (at, remove, insert) in cuts {
                let mut at = at % (text.len() + 1);
                while !text.is_char_boundary(at) { at -= 1; }
                let mut end = (at + remove).min(text.len());
                while !text.is_char_boundary(end) { end -= 1; }
                text.replace_range(at..end, &insert);
            }
            match parse("fuzz.yaml", &text) {
                Ok(org) => proptest::prop_assert!(!org.settings.name.is_empty()),
                Err(errors) => {
                    proptest::prop_assert!(!errors.issues.is_empty());
                    proptest::prop_assert!(errors.issues.iter().all(|i| !i.message.is_empty()));
                }
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = parse("any.yaml", &text);
        }
    }

    #[test]
    fn a_long_dependency_chain_is_checked_without_recursion() {
        let mut text = String::from(
            "organisation: {name: K}\nteams: [{name: t, lead: a, head: a}]\npeople: [{handle: a, name: A, email: a@k.example}]\nservices:\n",
        );
        let count = 20_000 - 3;
        for i in 0..count {
            let next = (i + 1) % count;
            text.push_str(&format!(
                "  - {{name: s{i}, owner: t, tier: 1, depends_on: [s{next}]}}\n"
            ));
        }
        let errors = parse("chain.yaml", &text).unwrap_err();
        assert_eq!(errors.issues.len(), 1, "one cycle through everything");
        assert!(
            errors.issues[0]
                .message
                .starts_with("dependency cycle: s0 → s1 → s2")
        );
    }

    #[test]
    fn cycles_are_found_once_each() {
        // a → b → a and c → d → e → c, plus f → a (no cycle of its own)
        let edges = vec![vec![1], vec![0], vec![3], vec![4], vec![2], vec![0]];
        assert_eq!(find_cycles(&edges), vec![vec![0, 1], vec![2, 3, 4]]);
        assert!(find_cycles(&[vec![1], vec![2], vec![]]).is_empty());
    }

    #[test]
    fn a_layer_starting_in_an_hour_the_clocks_skip_is_refused() {
        let config = |start: &str| {
            format!(
                "organisation: {{name: K}}\npeople: [{{handle: a, name: A, email: a@k.example}}]\nschedules:\n  - name: ny\n    time_zone: America/New_York\n    layers:\n      - participants: [a]\n        rotation: weekly\n        start: {start}\n        time_zone: America/New_York\n"
            )
        };
        // Clocks in New York went from 02:00 to 03:00 on 2027-03-14.
        let errors = parse("ny.yaml", &config("2027-03-14T02:30")).unwrap_err();
        assert_eq!(errors.issues.len(), 1, "{errors}");
        assert_eq!(errors.issues[0].field, "schedules[0].layers[0].start");
        assert_eq!(
            errors.issues[0].message,
            "2027-03-14T02:30:00 does not exist in America/New_York: the clocks skip that hour; write 2027-03-14T03:30:00"
        );
        assert!(parse("ny.yaml", &config("2027-03-14T03:30")).is_ok());
        // The hour repeated in November is there (twice): taken.
        assert!(parse("ny.yaml", &config("2027-11-07T01:30")).is_ok());
    }

    #[test]
    fn escalation_policies_check_their_targets() {
        let text = format!(
            "{VALID}escalation_policies:\n  - name: pay\n    levels:\n      - notify: [team_lead:paymnts, boss:x, person:budi]\n        wait: 10s\n    repeat: 99\n"
        )
        .replace("    depends_on: [payment-partner]", "    depends_on: [payment-partner]\n    escalation_policy: payy");
        let errors = parse("shop.yaml", &text).unwrap_err();
        let fields: Vec<&str> = errors.issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "services[0].escalation_policy",
                "escalation_policies[0].levels[0].notify[0]",
                "escalation_policies[0].levels[0].notify[1]",
                "escalation_policies[0].levels[0].wait",
                "escalation_policies[0].repeat"
            ],
            "{errors}"
        );
        assert_eq!(errors.issues[0].suggestion.as_deref(), Some("pay"));
        assert_eq!(errors.issues[1].suggestion.as_deref(), Some("payments"));
        let org = parse("shop.yaml", SHOP).unwrap();
        let payments = org.escalation_policy("payments").unwrap();
        assert_eq!(payments.levels.len(), 3);
        assert_eq!(payments.repeat, 2);
        assert_eq!(
            org.service("checkout")
                .unwrap()
                .escalation_policy
                .as_deref(),
            Some("payments")
        );
    }

    #[test]
    fn closest_only_suggests_near_misses() {
        let known = || ["payments".to_string(), "catalog".to_string()].into_iter();
        assert_eq!(closest("paymnts", known()).as_deref(), Some("payments"));
        assert_eq!(closest("zzz", known()), None);
    }
}
