//! The organisation: people, teams, the executives group and the service
//! catalogue, as declared in config and kept in the store with stable ids.

use std::collections::{BTreeMap, BTreeSet};

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use super::alert::{Grouping, Mapping, Urgency};

/// The whole organisation as one consistent snapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Org {
    pub settings: OrgSettings,
    pub people: Vec<Person>,
    pub teams: Vec<Team>,
    pub services: Vec<Service>,
    pub maintenance: Vec<PlannedMaintenance>,
    pub schedules: Vec<super::schedule::Schedule>,
    pub escalation_policies: Vec<super::escalation::EscalationPolicy>,
    /// How incidents are run; the defaults when config says nothing.
    #[serde(default)]
    pub incidents: super::incident::IncidentPolicy,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrgSettings {
    pub name: String,
    /// IANA time zone, the default for people.
    pub time_zone: String,
    pub base_url: Option<String>,
    /// Handles of the executives group.
    pub executives: Vec<String>,
}

/// A stable identifier of a config object: assigned on first apply, kept
/// across reloads, restored when an archived object is declared again.
pub type ObjectId = i64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Person {
    /// Zero until the store has assigned one.
    pub id: ObjectId,
    pub handle: String,
    pub name: String,
    pub email: String,
    pub time_zone: String,
    pub contact_methods: Vec<ContactMethod>,
    /// When and on which channels this person hears about an alert that
    /// reaches them. None declared: every contact method at once.
    #[serde(default)]
    pub notification_rules: Vec<NotificationRule>,
}

impl Person {
    /// The person without the secret part of their webhook, Slack and
    /// Teams addresses (whoever holds such a URL can post to the channel):
    /// for anyone but them and admins to read. Emails and numbers stay, so
    /// colleagues can reach them.
    pub fn redacted(&self) -> Person {
        let mut person = self.clone();
        for method in &mut person.contact_methods {
            if matches!(
                method.kind,
                ContactKind::Webhook | ContactKind::Slack | ContactKind::Teams
            ) {
                method.address = url_origin(&method.address);
            }
        }
        person
    }
}

/// `scheme://host/…` of a URL: where it goes, not the path that
/// authorises it.
pub fn url_origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    // No credentials in the host part either.
    let host = host.rsplit('@').next().unwrap_or(host);
    if scheme.is_empty() {
        "…".to_string()
    } else {
        format!("{scheme}://{host}/…")
    }
}

/// One of a person's notification rules: these channels, this long after
/// the person is reached, for alerts of this urgency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationRule {
    /// How long after the person is reached; zero for at once.
    #[schema(value_type = String)]
    pub after: SignedDuration,
    pub channels: Vec<ContactKind>,
    /// Only for alerts of this urgency; every urgency when absent.
    pub urgency: Option<Urgency>,
}

/// A contact method to use, and when, for one alert reaching a person.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlannedNotification<'a> {
    pub after: SignedDuration,
    pub method: &'a ContactMethod,
    /// Which rule asked for it (0 without rules) and which of the person's
    /// contact methods it is: together they name the delivery.
    pub rule: usize,
    pub method_index: usize,
}

impl Person {
    /// What this person's rules ask for an alert of `urgency`: each
    /// contact method of a rule's channels, at the rule's delay. Without
    /// rules, every contact method at once.
    pub fn planned_notifications(&self, urgency: Urgency) -> Vec<PlannedNotification<'_>> {
        let every_method_now = || {
            self.contact_methods
                .iter()
                .enumerate()
                .map(|(method_index, method)| PlannedNotification {
                    after: SignedDuration::ZERO,
                    method,
                    rule: 0,
                    method_index,
                })
                .collect()
        };
        if self.notification_rules.is_empty() {
            return every_method_now();
        }
        let mut planned = Vec::new();
        for (rule_index, rule) in self.notification_rules.iter().enumerate() {
            if rule.urgency.is_some_and(|u| u != urgency) {
                continue;
            }
            for (method_index, method) in self.contact_methods.iter().enumerate() {
                if rule.channels.contains(&method.kind) {
                    planned.push(PlannedNotification {
                        after: rule.after,
                        method,
                        rule: rule_index,
                        method_index,
                    });
                }
            }
        }
        planned.sort_by_key(|p| (p.after, p.rule, p.method_index));
        planned
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactMethod {
    #[serde(rename = "type")]
    pub kind: ContactKind,
    pub address: String,
    pub label: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Email,
    Sms,
    Phone,
    Webhook,
    Slack,
    Teams,
}

impl ContactKind {
    pub const ALL: [ContactKind; 6] = [
        Self::Email,
        Self::Sms,
        Self::Phone,
        Self::Webhook,
        Self::Slack,
        Self::Teams,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Phone => "phone",
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Teams => "teams",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Team {
    pub id: ObjectId,
    pub name: String,
    pub display_name: String,
    pub description: Option<String>,
    /// Handle of the team lead, the first escalation after the on-call.
    pub lead: String,
    /// Handle of the head, the escalation after the lead.
    pub head: String,
    /// Handles of all members, lead and head included.
    pub members: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// Built and run by a team of ours.
    Internal,
    /// A provider we depend on: a data centre, a payment partner, a CDN.
    External,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Service {
    pub id: ObjectId,
    pub name: String,
    pub display_name: String,
    pub kind: ServiceKind,
    /// Name of the owning team.
    pub owner: Option<String>,
    /// 1 is the most critical (revenue stops), 4 the least.
    pub tier: Option<u8>,
    pub description: Option<String>,
    /// For external services: the vendor.
    pub provider: Option<String>,
    /// Names of the services this one needs.
    pub depends_on: Vec<String>,
    pub runbook: Option<Runbook>,
    /// How this service's alerts are grouped; `None`: each alert on its own
    /// (Alertmanager's own groups still apply).
    #[serde(default)]
    pub alert_grouping: Option<Grouping>,
    /// Where this service's alerts come from.
    #[serde(default)]
    pub integrations: Vec<Integration>,
    /// The policy that pages for this service's alerts.
    #[serde(default)]
    pub escalation_policy: Option<String>,
}

impl Service {
    /// The service without its integrations' secrets, for anyone to read.
    pub fn redacted(&self) -> Service {
        let mut service = self.clone();
        for integration in &mut service.integrations {
            integration.key = None;
            integration.signing_secret = None;
        }
        service
    }
}

/// The kinds of sources an integration speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    /// PagerDuty Events API v2 (`/v2/enqueue`, `/v2/change/enqueue`).
    Pagerduty,
    /// Prometheus Alertmanager webhook, version 4.
    Alertmanager,
    /// Grafana unified alerting webhook, version 1.
    Grafana,
    /// The Opsgenie alert API subset Alertmanager's `opsgenie_configs` uses.
    Opsgenie,
    /// siaga's own JSON schema, for anything else.
    Generic,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 5] = [
        Self::Pagerduty,
        Self::Alertmanager,
        Self::Grafana,
        Self::Opsgenie,
        Self::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pagerduty => "pagerduty",
            Self::Alertmanager => "alertmanager",
            Self::Grafana => "grafana",
            Self::Opsgenie => "opsgenie",
            Self::Generic => "generic",
        }
    }

    pub fn parse(text: &str) -> Option<IntegrationKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A source of alerts for one service, with its secret key and the rules
/// that map its events onto siaga's alerts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Integration {
    /// Unique within the service.
    pub name: String,
    pub kind: IntegrationKind,
    /// The secret the source presents (PagerDuty's routing key, a bearer
    /// token, Opsgenie's GenieKey). Declared in config, or generated on first
    /// apply and kept across reloads. `None` only in redacted views.
    pub key: Option<String>,
    /// Grafana only: the HMAC-SHA256 secret its webhook signs with.
    pub signing_secret: Option<String>,
    /// Grafana only: the header its `hmac_config.header` names, when not
    /// Grafana's default (`X-Grafana-Alerting-Signature`).
    #[serde(default)]
    pub signature_header: Option<String>,
    /// Grafana only: the header its `hmac_config.timestamp_header` names.
    /// When set, every request must carry it, signed with the body and
    /// at most five minutes old, so a captured request cannot be replayed.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    pub mapping: Mapping,
    pub rate_limit: RateLimit,
}

/// At most `events` events per `per`, per integration key; more get 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RateLimit {
    pub events: u32,
    #[schema(value_type = String)]
    pub per: jiff::SignedDuration,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            events: 6000,
            per: jiff::SignedDuration::from_mins(1),
        }
    }
}

/// A maintenance window declared in config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlannedMaintenance {
    pub id: ObjectId,
    pub name: String,
    pub service: String,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: jiff::Timestamp,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Runbook {
    pub url: Option<String>,
    pub markdown: Option<String>,
}

impl Runbook {
    /// Renders the Markdown to HTML that is safe to embed: scripts, event
    /// handlers and `javascript:` links are removed.
    pub fn markdown_html(&self) -> Option<String> {
        let markdown = self.markdown.as_deref()?;
        let mut options = pulldown_cmark::Options::empty();
        options.insert(pulldown_cmark::Options::ENABLE_TABLES);
        options.insert(pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
        options.insert(pulldown_cmark::Options::ENABLE_TASKLISTS);
        let parser = pulldown_cmark::Parser::new_ext(markdown, options);
        let mut unsafe_html = String::new();
        pulldown_cmark::html::push_html(&mut unsafe_html, parser);
        Some(ammonia::clean(&unsafe_html))
    }
}

impl Org {
    pub fn person(&self, handle: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.handle == handle)
    }

    pub fn team(&self, name: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.name == name)
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Services that depend directly on `name`, sorted by name.
    pub fn dependents(&self, name: &str) -> Vec<&Service> {
        let mut found: Vec<&Service> = self
            .services
            .iter()
            .filter(|s| s.depends_on.iter().any(|d| d == name))
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    /// Every service that can be hurt when `name` fails: its dependents, and
    /// theirs, transitively. Sorted by name; `name` itself is not included.
    pub fn transitive_dependents(&self, name: &str) -> Vec<&Service> {
        let mut seen = BTreeSet::new();
        let mut queue = vec![name.to_string()];
        while let Some(next) = queue.pop() {
            for dependent in self.dependents(&next) {
                if dependent.name != name && seen.insert(dependent.name.clone()) {
                    queue.push(dependent.name.clone());
                }
            }
        }
        seen.iter().filter_map(|n| self.service(n)).collect()
    }

    /// Where the integration holding `key` is: (service, integration)
    /// indexes into `services` and its `integrations`. Every key is
    /// compared in full, in constant time, so the time taken does not tell
    /// a guesser how much of a key they have right.
    pub fn integration_position(&self, key: &str) -> Option<(usize, usize)> {
        let mut found = None;
        for (s, service) in self.services.iter().enumerate() {
            for (i, integration) in service.integrations.iter().enumerate() {
                if let Some(held) = integration.key.as_deref()
                    && super::auth::secrets_equal(held, key)
                    && found.is_none()
                {
                    found = Some((s, i));
                }
            }
        }
        found
    }

    pub fn escalation_policy(&self, name: &str) -> Option<&super::escalation::EscalationPolicy> {
        self.escalation_policies.iter().find(|p| p.name == name)
    }

    pub fn schedule(&self, name: &str) -> Option<&super::schedule::Schedule> {
        self.schedules.iter().find(|s| s.name == name)
    }

    pub fn services_owned_by(&self, team: &str) -> Vec<&Service> {
        self.services
            .iter()
            .filter(|s| s.owner.as_deref() == Some(team))
            .collect()
    }

    pub fn teams_of(&self, handle: &str) -> Vec<&Team> {
        self.teams
            .iter()
            .filter(|t| t.members.iter().any(|m| m == handle))
            .collect()
    }

    /// Assigns each service a layer for drawing the dependency graph: a
    /// service sits one layer below the deepest service that depends on it, so
    /// edges always point down. Config validation guarantees there are no
    /// cycles; should one slip through, its members stay in layer 0.
    pub fn dependency_layers(&self) -> BTreeMap<String, usize> {
        let mut layer: BTreeMap<String, usize> =
            self.services.iter().map(|s| (s.name.clone(), 0)).collect();
        // Longest-path layering by relaxation; bounded by the number of
        // services, so a cycle cannot loop forever.
        for _ in 0..self.services.len() {
            let mut changed = false;
            for service in &self.services {
                let here = layer[&service.name];
                for dependency in &service.depends_on {
                    if let Some(below) = layer.get_mut(dependency)
                        && *below < here + 1
                    {
                        *below = here + 1;
                        changed = true;
                    }
                }
            }
            if !changed {
                return layer;
            }
        }
        layer
    }
}

/// One object of the organisation as the store keeps it: its kind, its
/// stable key, and its spec as JSON (with the id left out, so specs compare
/// equal when only ids differ).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigObject {
    pub id: ObjectId,
    pub kind: String,
    pub name: String,
    pub spec: serde_json::Value,
    pub archived: bool,
}

pub const SETTINGS_KIND: &str = "organisation";
pub const PERSON_KIND: &str = "person";
pub const TEAM_KIND: &str = "team";
pub const SERVICE_KIND: &str = "service";
pub const MAINTENANCE_KIND: &str = "maintenance_window";
pub const SCHEDULE_KIND: &str = "schedule";
pub const POLICY_KIND: &str = "escalation_policy";
pub const INCIDENT_POLICY_KIND: &str = "incident_policy";

impl Org {
    /// The org as (kind, name, spec) triples, in a stable order.
    pub fn to_objects(&self) -> Vec<(&'static str, String, serde_json::Value)> {
        fn spec(value: impl Serialize) -> serde_json::Value {
            let mut value = serde_json::to_value(value).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.remove("id");
            }
            value
        }
        let mut objects = vec![(
            SETTINGS_KIND,
            SETTINGS_KIND.to_string(),
            spec(&self.settings),
        )];
        objects.extend(
            self.people
                .iter()
                .map(|p| (PERSON_KIND, p.handle.clone(), spec(p))),
        );
        objects.extend(
            self.teams
                .iter()
                .map(|t| (TEAM_KIND, t.name.clone(), spec(t))),
        );
        objects.extend(
            self.services
                .iter()
                .map(|s| (SERVICE_KIND, s.name.clone(), spec(s))),
        );
        objects.extend(
            self.maintenance
                .iter()
                .map(|m| (MAINTENANCE_KIND, m.name.clone(), spec(m))),
        );
        objects.extend(
            self.schedules
                .iter()
                .map(|s| (SCHEDULE_KIND, s.name.clone(), spec(s))),
        );
        objects.extend(
            self.escalation_policies
                .iter()
                .map(|p| (POLICY_KIND, p.name.clone(), spec(p))),
        );
        objects.push((
            INCIDENT_POLICY_KIND,
            INCIDENT_POLICY_KIND.to_string(),
            spec(&self.incidents),
        ));
        objects
    }

    /// Rebuilds the org from its live (unarchived) objects, each carrying its
    /// stable id. Objects whose spec no longer parses are skipped and
    /// returned by name, so one bad row cannot hide the whole catalogue.
    pub fn from_objects(objects: &[ConfigObject]) -> (Org, Vec<String>) {
        fn with_id<T: for<'de> Deserialize<'de>>(object: &ConfigObject) -> Option<T> {
            let mut spec = object.spec.clone();
            spec.as_object_mut()?.insert("id".into(), object.id.into());
            serde_json::from_value(spec).ok()
        }
        let mut org = Org::default();
        let mut broken = Vec::new();
        for object in objects.iter().filter(|o| !o.archived) {
            let parsed = match object.kind.as_str() {
                SETTINGS_KIND => serde_json::from_value(object.spec.clone())
                    .ok()
                    .map(|s| org.settings = s),
                PERSON_KIND => with_id(object).map(|p| org.people.push(p)),
                TEAM_KIND => with_id(object).map(|t| org.teams.push(t)),
                SERVICE_KIND => with_id(object).map(|s| org.services.push(s)),
                MAINTENANCE_KIND => with_id(object).map(|m| org.maintenance.push(m)),
                SCHEDULE_KIND => with_id(object).map(|s| org.schedules.push(s)),
                POLICY_KIND => with_id(object).map(|p| org.escalation_policies.push(p)),
                INCIDENT_POLICY_KIND => serde_json::from_value(object.spec.clone())
                    .ok()
                    .map(|p| org.incidents = p),
                _ => None,
            };
            if parsed.is_none() {
                broken.push(format!("{} {}", object.kind, object.name));
            }
        }
        org.people.sort_by(|a, b| a.handle.cmp(&b.handle));
        org.teams.sort_by(|a, b| a.name.cmp(&b.name));
        org.services.sort_by(|a, b| a.name.cmp(&b.name));
        org.maintenance.sort_by_key(|m| m.starts_at);
        (org, broken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_addresses_lose_the_part_that_authorises_them() {
        assert_eq!(
            url_origin("https://hooks.slack.com/services/T0/B0/XXXXSECRET"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            url_origin("https://user:pw@hooks.example:8443/x?token=1"),
            "https://hooks.example:8443/…"
        );
        assert_eq!(url_origin("not a url"), "…");
        let person = Person {
            id: 0,
            handle: "a".into(),
            name: "A".into(),
            email: "a@k.example".into(),
            time_zone: "UTC".into(),
            contact_methods: vec![
                ContactMethod {
                    kind: ContactKind::Email,
                    address: "a@k.example".into(),
                    label: None,
                },
                ContactMethod {
                    kind: ContactKind::Slack,
                    address: "https://hooks.slack.com/services/SECRET".into(),
                    label: None,
                },
            ],
            notification_rules: Vec::new(),
        };
        let seen = person.redacted();
        assert_eq!(seen.contact_methods[0].address, "a@k.example");
        assert_eq!(seen.contact_methods[1].address, "https://hooks.slack.com/…");
    }

    fn service(name: &str, depends_on: &[&str]) -> Service {
        Service {
            id: 0,
            name: name.into(),
            display_name: name.into(),
            kind: ServiceKind::Internal,
            owner: Some("team".into()),
            tier: Some(1),
            description: None,
            provider: None,
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
            runbook: None,
            alert_grouping: None,
            integrations: Vec::new(),
            escalation_policy: None,
        }
    }

    fn shop() -> Org {
        Org {
            services: vec![
                service("storefront", &["checkout", "catalog"]),
                service("checkout", &["payments", "catalog"]),
                service("payments", &["partner"]),
                service("catalog", &[]),
                service("partner", &[]),
            ],
            ..Org::default()
        }
    }

    fn person_with(rules: Vec<NotificationRule>) -> Person {
        let method = |kind, address: &str| ContactMethod {
            kind,
            address: address.into(),
            label: None,
        };
        Person {
            id: 0,
            handle: "budi".into(),
            name: "Budi".into(),
            email: "budi@kedai.example".into(),
            time_zone: "Asia/Kuala_Lumpur".into(),
            contact_methods: vec![
                method(ContactKind::Email, "budi@kedai.example"),
                method(ContactKind::Webhook, "https://hooks.example/budi"),
                method(ContactKind::Sms, "+60123456789"),
                method(ContactKind::Email, "budi@home.example"),
            ],
            notification_rules: rules,
        }
    }

    fn planned(person: &Person, urgency: Urgency) -> Vec<(i64, &str)> {
        person
            .planned_notifications(urgency)
            .iter()
            .map(|p| (p.after.as_secs(), p.method.address.as_str()))
            .collect()
    }

    #[test]
    fn without_rules_every_contact_method_is_used_at_once() {
        let person = person_with(Vec::new());
        let plan = planned(&person, Urgency::Low);
        assert_eq!(plan.len(), 4);
        assert!(plan.iter().all(|(after, _)| *after == 0));
    }

    #[test]
    fn rules_pick_channels_delays_and_urgency() {
        let rule = |after_secs, channels: Vec<ContactKind>, urgency| NotificationRule {
            after: SignedDuration::from_secs(after_secs),
            channels,
            urgency,
        };
        let person = person_with(vec![
            rule(300, vec![ContactKind::Sms], Some(Urgency::High)),
            rule(0, vec![ContactKind::Email, ContactKind::Webhook], None),
            rule(600, vec![ContactKind::Email], Some(Urgency::Low)),
        ]);
        assert_eq!(
            planned(&person, Urgency::High),
            [
                (0, "budi@kedai.example"),
                (0, "https://hooks.example/budi"),
                (0, "budi@home.example"),
                (300, "+60123456789"),
            ]
        );
        assert_eq!(
            planned(&person, Urgency::Low),
            [
                (0, "budi@kedai.example"),
                (0, "https://hooks.example/budi"),
                (0, "budi@home.example"),
                (600, "budi@kedai.example"),
                (600, "budi@home.example"),
            ]
        );
        // Each planned notification is distinct, so each gets its own delivery.
        let names: BTreeSet<_> = person
            .planned_notifications(Urgency::Low)
            .iter()
            .map(|p| (p.rule, p.method_index))
            .collect();
        assert_eq!(names.len(), 5);
    }

    #[test]
    fn dependents_are_direct_only_and_transitive_follow_the_chain() {
        let org = shop();
        let direct: Vec<_> = org.dependents("payments").iter().map(|s| &s.name).collect();
        assert_eq!(direct, ["checkout"]);
        let all: Vec<_> = org
            .transitive_dependents("partner")
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(all, ["checkout", "payments", "storefront"]);
    }

    #[test]
    fn layers_put_every_dependency_below_its_dependents() {
        let org = shop();
        let layers = org.dependency_layers();
        for s in &org.services {
            for d in &s.depends_on {
                assert!(layers[d] > layers[&s.name], "{d} not below {}", s.name);
            }
        }
        assert_eq!(layers["storefront"], 0);
        assert_eq!(layers["partner"], 3);
    }

    #[test]
    fn objects_round_trip_with_ids_and_ignore_archived() {
        let org = shop();
        let objects: Vec<ConfigObject> = org
            .to_objects()
            .into_iter()
            .enumerate()
            .map(|(i, (kind, name, spec))| ConfigObject {
                id: i as i64 + 1,
                kind: kind.into(),
                archived: name == "partner",
                name,
                spec,
            })
            .collect();
        assert!(objects.iter().all(|o| o.spec.get("id").is_none()));
        let (back, broken) = Org::from_objects(&objects);
        assert!(broken.is_empty());
        assert_eq!(back.services.len(), 4);
        assert!(back.service("partner").is_none());
        let checkout = back.service("checkout").unwrap();
        let id = objects.iter().find(|o| o.name == "checkout").unwrap().id;
        assert_eq!(checkout.id, id);
    }

    #[test]
    fn runbook_markdown_is_rendered_without_scripts_or_handlers() {
        let runbook = Runbook {
            url: None,
            markdown: Some(
                "## Restart\n\n`kubectl rollout restart`\n\n<script>alert(1)</script>\n<img src=x onerror=\"alert(1)\">\n\n[x](javascript:alert(1))".into(),
            ),
        };
        let html = runbook.markdown_html().unwrap();
        assert!(html.contains("<h2>Restart</h2>"), "{html}");
        assert!(
            html.contains("<code>kubectl rollout restart</code>"),
            "{html}"
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("href=\"javascript:"), "{html}");
        assert!(
            html.contains("<a"),
            "the link itself stays, without its script: {html}"
        );
    }
}
