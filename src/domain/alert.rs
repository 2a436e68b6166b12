//! Alerts: what received events about one problem collapse into. An alert is
//! keyed by its dedup key within a service and moves triggered →
//! acknowledged → resolved. A repeated trigger on an open alert only counts;
//! a trigger after resolve opens a new alert.

use std::collections::BTreeMap;
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// siaga's own severity levels; every source's levels map onto these.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The common names other tools use for their levels, mapped onto ours.
    /// Integrations can override this with their own `severity_map`.
    pub fn from_common_name(text: &str) -> Option<Severity> {
        match text.trim().to_ascii_lowercase().as_str() {
            "critical" | "crit" | "fatal" | "emergency" | "alert" | "page" | "p1" | "disaster" => {
                Some(Severity::Critical)
            }
            "error" | "err" | "high" | "major" | "p2" => Some(Severity::Error),
            "warning" | "warn" | "medium" | "minor" | "average" | "p3" => Some(Severity::Warning),
            "info" | "information" | "informational" | "low" | "none" | "ok" | "debug" | "p4"
            | "p5" => Some(Severity::Info),
            _ => None,
        }
    }

    /// The urgency an alert of this severity gets unless a rule says otherwise.
    pub fn default_urgency(self) -> Urgency {
        match self {
            Severity::Critical | Severity::Error => Urgency::High,
            Severity::Warning | Severity::Info => Urgency::Low,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// High urgency pages someone now; low urgency waits for working hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    High,
    Low,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::High => "high",
            Urgency::Low => "low",
        }
    }

    pub fn parse(text: &str) -> Option<Urgency> {
        match text {
            "high" => Some(Urgency::High),
            "low" => Some(Urgency::Low),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Triggered => "triggered",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<AlertStatus> {
        [
            AlertStatus::Triggered,
            AlertStatus::Acknowledged,
            AlertStatus::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn is_open(self) -> bool {
        self != AlertStatus::Resolved
    }
}

/// What a received event asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Trigger,
    Acknowledge,
    Resolve,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Link {
    pub href: String,
    pub text: Option<String>,
}

impl Link {
    /// Whether it points at a web page (`http` or `https`). Sources send
    /// any address; only these are rendered as links, since a
    /// `javascript:` one would run in siaga's own pages when clicked.
    pub fn is_web(&self) -> bool {
        let scheme = self.href.trim_start().split(':').next().unwrap_or("");
        self.href.contains(':')
            && (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
    }
}

/// One event about one alert, in siaga's terms, whatever format it came in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub action: Action,
    /// Identifies the problem within the service; repeated triggers with the
    /// same key are the same alert.
    pub dedup_key: String,
    pub summary: String,
    /// As the source named it, before mapping (e.g. Alertmanager's
    /// `severity` label); `None` when the source gave none.
    pub source_severity: Option<String>,
    pub source: Option<String>,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub details: serde_json::Value,
    pub links: Vec<Link>,
    /// When the source says the problem began or ended.
    pub occurred_at: Option<Timestamp>,
    /// A grouping key given by the source (Alertmanager's `groupKey`).
    pub source_group: Option<String>,
}

impl Signal {
    /// Replaces the NUL character in its text (see [`replace_nul`]).
    pub fn replace_nul(&mut self) {
        for text in [&mut self.dedup_key, &mut self.summary] {
            replace_nul(text);
        }
        for text in [
            &mut self.source_severity,
            &mut self.source,
            &mut self.component,
            &mut self.group,
            &mut self.class,
            &mut self.source_group,
        ]
        .into_iter()
        .flatten()
        {
            replace_nul(text);
        }
        if self
            .labels
            .iter()
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            self.labels = std::mem::take(&mut self.labels)
                .into_iter()
                .map(|(mut k, mut v)| {
                    replace_nul(&mut k);
                    replace_nul(&mut v);
                    (k, v)
                })
                .collect();
        }
        for link in &mut self.links {
            replace_nul(&mut link.href);
            if let Some(text) = &mut link.text {
                replace_nul(text);
            }
        }
    }
}

/// Turns each NUL character of `text` into U+FFFD. JSON can carry it
/// (`\u0000`), PostgreSQL refuses it in text, and an alert is worth more
/// than the character: both backends store the replacement alike. (Stored
/// JSON keeps it, escaped.)
pub fn replace_nul(text: &mut String) {
    if text.contains('\0') {
        *text = text.replace('\0', "\u{FFFD}");
    }
}

/// An alert as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: i64,
    pub service: String,
    pub integration: Option<String>,
    pub dedup_key: String,
    pub status: AlertStatus,
    pub severity: Severity,
    pub urgency: Urgency,
    pub summary: String,
    pub source: Option<String>,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    pub labels: BTreeMap<String, String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub links: Vec<Link>,
    /// The alert group this alert escalates with.
    pub group_id: i64,
    /// Recorded during a maintenance window: it does not page.
    pub in_maintenance: bool,
    #[schema(value_type = String, format = DateTime)]
    pub first_seen_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: Timestamp,
    pub event_count: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
}

impl Alert {
    /// What [`Alert::refresh`] may change, and so all the store writes back
    /// for an alert whose status a batch left as it was
    /// (`WriteSet::refreshed_alerts`): fields and columns share the names.
    /// [`Alert::with_refreshed`] takes the same.
    pub const REFRESHED: [&'static str; 8] = [
        "severity",
        "urgency",
        "summary",
        "labels",
        "details",
        "links",
        "last_seen_at",
        "event_count",
    ];

    /// This alert with the [`Alert::REFRESHED`] fields of `refreshed`.
    pub fn with_refreshed(&self, refreshed: &Alert) -> Alert {
        Alert {
            severity: refreshed.severity,
            urgency: refreshed.urgency,
            summary: refreshed.summary.clone(),
            labels: refreshed.labels.clone(),
            details: refreshed.details.clone(),
            links: refreshed.links.clone(),
            last_seen_at: refreshed.last_seen_at,
            event_count: refreshed.event_count,
            ..self.clone()
        }
    }

    /// A repeated trigger refreshes what the source says now, and counts;
    /// it changes only the [`Alert::REFRESHED`] fields.
    pub fn refresh(&mut self, signal: &Signal, mapping: &Mapping, now: Timestamp) {
        self.severity = mapping.severity(signal);
        self.urgency = mapping.urgency(signal, self.severity);
        self.summary = signal.summary.clone();
        self.labels = signal.labels.clone();
        self.details = signal.details.clone();
        if !signal.links.is_empty() {
            self.links = signal.links.clone();
        }
        self.last_seen_at = now;
        self.event_count += 1;
    }

    /// Acknowledges or resolves, `by` someone (an email, or the
    /// `service/integration` of a source); other outcomes change nothing.
    pub fn apply(&mut self, outcome: Outcome, now: Timestamp, by: &str) {
        match outcome {
            Outcome::Acknowledge => {
                self.status = AlertStatus::Acknowledged;
                self.acknowledged_at = Some(now);
                self.acknowledged_by = Some(by.to_string());
            }
            Outcome::Resolve => {
                self.status = AlertStatus::Resolved;
                self.resolved_at = Some(now);
                self.resolved_by = Some(by.to_string());
            }
            Outcome::Open | Outcome::Repeat | Outcome::Ignore => {}
        }
    }
}

/// What an event does to the open alert with its key (if any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new alert opens (and, outside maintenance, pages).
    Open,
    /// The open alert is seen again: counted, refreshed, never paged again.
    Repeat,
    Acknowledge,
    Resolve,
    /// Nothing changes: acknowledging or resolving an alert that is not
    /// open (as PagerDuty does), or acknowledging twice.
    Ignore,
}

/// The state machine of one dedup key.
pub fn outcome(open: Option<AlertStatus>, action: Action) -> Outcome {
    match (open, action) {
        (None | Some(AlertStatus::Resolved), Action::Trigger) => Outcome::Open,
        (Some(_), Action::Trigger) => Outcome::Repeat,
        (Some(AlertStatus::Triggered), Action::Acknowledge) => Outcome::Acknowledge,
        (Some(AlertStatus::Triggered | AlertStatus::Acknowledged), Action::Resolve) => {
            Outcome::Resolve
        }
        _ => Outcome::Ignore,
    }
}

/// The status after an outcome.
pub fn status_after(before: Option<AlertStatus>, outcome: Outcome) -> Option<AlertStatus> {
    match outcome {
        Outcome::Open => Some(AlertStatus::Triggered),
        Outcome::Repeat | Outcome::Ignore => before,
        Outcome::Acknowledge => Some(AlertStatus::Acknowledged),
        Outcome::Resolve => Some(AlertStatus::Resolved),
    }
}

/// A label matcher: every listed label must have the given value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LabelMatch(pub BTreeMap<String, String>);

impl LabelMatch {
    pub fn matches(&self, signal: &Signal) -> bool {
        self.0.iter().all(|(key, value)| {
            let actual = match key.as_str() {
                "severity" => signal
                    .source_severity
                    .as_deref()
                    .or_else(|| signal.labels.get(key).map(String::as_str)),
                "source" => signal.source.as_deref(),
                "component" => signal.component.as_deref(),
                "group" => signal.group.as_deref(),
                "class" => signal.class.as_deref(),
                _ => signal.labels.get(key).map(String::as_str),
            };
            actual == Some(value.as_str())
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UrgencyRule {
    #[serde(rename = "match")]
    pub matcher: LabelMatch,
    pub urgency: Urgency,
}

/// How an integration turns a source's events into siaga's alerts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mapping {
    /// Source severity name → siaga severity, consulted before the common names.
    pub severity_map: BTreeMap<String, Severity>,
    /// Used when the source gives no severity, or one nothing maps.
    pub default_severity: Option<Severity>,
    /// First matching rule sets the urgency; otherwise it follows severity.
    pub urgency_rules: Vec<UrgencyRule>,
    /// Events matching any of these are recorded but make no alert.
    pub drop_rules: Vec<LabelMatch>,
}

impl Mapping {
    /// Whether `raw` names a severity: siaga's own (in any case) or one
    /// this mapping maps.
    pub fn knows_severity(&self, raw: &str) -> bool {
        self.severity_map.contains_key(raw)
            || self.severity_map.contains_key(&raw.to_ascii_lowercase())
            || Severity::from_common_name(raw).is_some()
    }

    pub fn severity(&self, signal: &Signal) -> Severity {
        let fallback = self.default_severity.unwrap_or(Severity::Warning);
        let Some(raw) = signal.source_severity.as_deref() else {
            return fallback;
        };
        self.severity_map
            .get(raw)
            .or_else(|| self.severity_map.get(&raw.to_ascii_lowercase()))
            .copied()
            .or_else(|| Severity::from_common_name(raw))
            .unwrap_or(fallback)
    }

    pub fn urgency(&self, signal: &Signal, severity: Severity) -> Urgency {
        self.urgency_rules
            .iter()
            .find(|rule| rule.matcher.matches(signal))
            .map_or_else(|| severity.default_urgency(), |rule| rule.urgency)
    }

    pub fn drops(&self, signal: &Signal) -> bool {
        self.drop_rules.iter().any(|rule| rule.matches(signal))
    }
}

/// How a service's alerts are grouped so that a storm pages once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grouping {
    /// Alerts with equal values of these labels share a group.
    pub by: Vec<String>,
    /// A group takes new alerts while its last alert is at most this old.
    #[schema(value_type = String)]
    pub window: SignedDuration,
}

/// The key of the group an alert joins: the source's own group when it has
/// one (Alertmanager's `groupKey`), else the service's grouping labels, else
/// none (the alert is a group of its own).
pub fn group_key(signal: &Signal, grouping: Option<&Grouping>) -> Option<String> {
    if let Some(source_group) = &signal.source_group {
        return Some(bounded_key(format!("source:{source_group}")));
    }
    let grouping = grouping?;
    let values: Vec<String> = grouping
        .by
        .iter()
        .map(|label| {
            format!(
                "{label}={}",
                signal.labels.get(label).map(String::as_str).unwrap_or("")
            )
        })
        .collect();
    Some(bounded_key(format!("labels:{}", values.join(","))))
}

/// The longest group key stored as it is.
pub const MAX_GROUP_KEY: usize = 512;

/// A group key short enough to index (PostgreSQL refuses index rows past
/// about 2.7 KB, and Alertmanager's group keys grow with its `group_by`):
/// a long one keeps its beginning, to be read, and ends with the SHA-256
/// of the whole, to stay distinct.
fn bounded_key(key: String) -> String {
    if key.len() <= MAX_GROUP_KEY {
        return key;
    }
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()));
    let mut keep = MAX_GROUP_KEY - digest.len() - " sha256:".len();
    while !key.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{} sha256:{digest}", &key[..keep])
}

/// A time when a service's alerts are recorded but do not page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MaintenanceWindow {
    /// What cancels it through the API; `None` for a window from the
    /// config file, which ends when removed from there (its config id
    /// would collide with these).
    pub id: Option<i64>,
    pub service: String,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    pub reason: String,
    pub created_by: String,
    /// `config` for windows declared in the config file, `api` otherwise.
    pub origin: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<Timestamp>,
}

impl MaintenanceWindow {
    pub fn covers(&self, at: Timestamp) -> bool {
        self.cancelled_at.is_none() && self.starts_at <= at && at < self.ends_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_web_addresses_are_links() {
        let link = |href: &str| Link {
            href: href.into(),
            text: None,
        };
        assert!(link("https://grafana.example/d/1").is_web());
        assert!(link("HTTP://grafana.example").is_web());
        for refused in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "https",
            "/relative/path",
        ] {
            assert!(!link(refused).is_web(), "{refused:?}");
        }
    }

    fn signal(severity: Option<&str>, labels: &[(&str, &str)]) -> Signal {
        Signal {
            action: Action::Trigger,
            dedup_key: "k".into(),
            summary: "s".into(),
            source_severity: severity.map(str::to_string),
            source: None,
            component: None,
            group: None,
            class: None,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            details: serde_json::Value::Null,
            links: Vec::new(),
            occurred_at: None,
            source_group: None,
        }
    }

    /// An alert whose every field differs with `n`.
    fn alert_numbered(n: i64) -> Alert {
        let text = |name: &str| format!("{name}-{n}");
        let at = Timestamp::from_second(1_800_000_000 + n).unwrap();
        Alert {
            id: n,
            service: text("service"),
            integration: Some(text("integration")),
            dedup_key: text("key"),
            status: [AlertStatus::Triggered, AlertStatus::Acknowledged][n as usize % 2],
            severity: [Severity::Error, Severity::Critical][n as usize % 2],
            urgency: [Urgency::High, Urgency::Low][n as usize % 2],
            summary: text("summary"),
            source: Some(text("source")),
            component: Some(text("component")),
            group: Some(text("group")),
            class: Some(text("class")),
            labels: BTreeMap::from([("n".to_string(), text("label"))]),
            details: serde_json::json!({ "n": n }),
            links: vec![Link {
                href: text("https://example.com/"),
                text: None,
            }],
            group_id: n + 10,
            in_maintenance: n % 2 == 1,
            first_seen_at: at,
            last_seen_at: at,
            event_count: n + 1,
            acknowledged_at: Some(at),
            acknowledged_by: Some(text("person")),
            resolved_at: Some(at),
            resolved_by: Some(text("person")),
        }
    }

    /// The fields `with_refreshed` takes are the columns the store writes
    /// back for a refresh, no more and no fewer.
    #[test]
    fn with_refreshed_takes_exactly_the_refreshed_fields() {
        let (stored, seen) = (alert_numbered(0), alert_numbered(1));
        let fields = |alert: &Alert| match serde_json::to_value(alert).unwrap() {
            serde_json::Value::Object(fields) => fields,
            other => panic!("an alert is an object, not {other}"),
        };
        let (before, after) = (fields(&stored), fields(&stored.with_refreshed(&seen)));
        let all_differ = fields(&seen)
            .iter()
            .all(|(name, value)| before[name] != *value);
        assert!(all_differ, "the two alerts share a value");
        let mut changed: Vec<&str> = before
            .keys()
            .filter(|name| before[*name] != after[*name])
            .map(String::as_str)
            .collect();
        changed.sort_unstable();
        let mut refreshed = Alert::REFRESHED.to_vec();
        refreshed.sort_unstable();
        assert_eq!(changed, refreshed);
    }

    #[test]
    fn severities_map_by_rule_then_common_name_then_default() {
        let mapping = Mapping {
            severity_map: BTreeMap::from([("sev1".to_string(), Severity::Critical)]),
            default_severity: Some(Severity::Error),
            ..Mapping::default()
        };
        assert_eq!(
            mapping.severity(&signal(Some("sev1"), &[])),
            Severity::Critical
        );
        assert_eq!(
            mapping.severity(&signal(Some("WARNING"), &[])),
            Severity::Warning
        );
        assert_eq!(
            mapping.severity(&signal(Some("bogus"), &[])),
            Severity::Error
        );
        assert_eq!(mapping.severity(&signal(None, &[])), Severity::Error);
    }

    #[test]
    fn urgency_rules_win_over_severity() {
        let mapping = Mapping {
            urgency_rules: vec![UrgencyRule {
                matcher: LabelMatch(BTreeMap::from([("env".to_string(), "staging".to_string())])),
                urgency: Urgency::Low,
            }],
            ..Mapping::default()
        };
        let staging = signal(Some("critical"), &[("env", "staging")]);
        assert_eq!(mapping.urgency(&staging, Severity::Critical), Urgency::Low);
        let production = signal(Some("critical"), &[("env", "production")]);
        assert_eq!(
            mapping.urgency(&production, Severity::Critical),
            Urgency::High
        );
    }

    #[test]
    fn group_keys_prefer_the_source_group() {
        let grouping = Grouping {
            by: vec!["alertname".into()],
            window: SignedDuration::from_mins(5),
        };
        let mut s = signal(None, &[("alertname", "HighLatency"), ("instance", "a")]);
        assert_eq!(
            group_key(&s, Some(&grouping)).as_deref(),
            Some("labels:alertname=HighLatency")
        );
        assert_eq!(group_key(&s, None), None);
        s.source_group = Some("{}:{alertname=\"HighLatency\"}".into());
        assert!(group_key(&s, None).unwrap().starts_with("source:"));
    }

    #[test]
    fn long_group_keys_are_bounded_and_stay_distinct() {
        let long = |tail: &str| {
            let mut s = signal(None, &[]);
            s.source_group = Some(format!("{}{tail}", "ü".repeat(3000)));
            group_key(&s, None).unwrap()
        };
        let (a, b) = (long("a"), long("b"));
        assert!(
            a.len() <= MAX_GROUP_KEY && b.len() <= MAX_GROUP_KEY,
            "{}",
            a.len()
        );
        assert_ne!(a, b, "keys that differ only at the end");
        assert_eq!(a, long("a"), "the same key every time");
        assert!(a.starts_with("source:üü"));
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            Just(Action::Trigger),
            Just(Action::Acknowledge),
            Just(Action::Resolve)
        ]
    }

    proptest! {
        /// Any sequence of events for one key yields a valid history: alerts
        /// open only on triggers, never leave resolved, acknowledge only
        /// from triggered, and at most one alert is open at a time.
        #[test]
        fn any_event_sequence_yields_a_valid_history(actions in proptest::collection::vec(action(), 0..60)) {
            let mut alerts: Vec<Vec<AlertStatus>> = Vec::new();
            for action in actions {
                let open = alerts.last().and_then(|h| h.last().copied()).filter(|s| s.is_open());
                let result = outcome(open, action);
                match result {
                    Outcome::Open => {
                        prop_assert_eq!(action, Action::Trigger);
                        alerts.push(vec![AlertStatus::Triggered]);
                    }
                    Outcome::Repeat | Outcome::Ignore => {}
                    Outcome::Acknowledge | Outcome::Resolve => {
                        let next = status_after(open, result).unwrap();
                        alerts.last_mut().unwrap().push(next);
                    }
                }
                let open_count = alerts.iter().filter(|h| h.last().unwrap().is_open()).count();
                prop_assert!(open_count <= 1);
            }
            for history in &alerts {
                prop_assert_eq!(history[0], AlertStatus::Triggered);
                for pair in history.windows(2) {
                    let allowed = matches!(
                        (pair[0], pair[1]),
                        (AlertStatus::Triggered, AlertStatus::Acknowledged)
                            | (AlertStatus::Triggered, AlertStatus::Resolved)
                            | (AlertStatus::Acknowledged, AlertStatus::Resolved)
                    );
                    prop_assert!(allowed, "{:?}", history);
                }
            }
        }
    }
}
