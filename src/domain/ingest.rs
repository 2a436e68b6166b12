//! How a batch of received signals changes alerts and their groups. Pure:
//! the caller loads the open alerts and the joinable groups the batch
//! names, [`plan`] decides, and the caller writes the result in one go.
//! Planning a batch at once gives the same alerts as planning its signals
//! one by one (property-tested below), which is what lets ingestion commit
//! many requests together with a handful of statements.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::{SignedDuration, Timestamp};

use super::alert::{self, Action, Alert, AlertStatus, Outcome, Signal};
use super::org::{Integration, Service};

/// A group takes new alerts this long after its last one, unless the
/// service sets its own window.
pub const DEFAULT_GROUP_WINDOW: SignedDuration = SignedDuration::from_mins(5);

/// How long the groups of `service` stay joinable after their last alert.
pub fn group_window(service: &Service) -> SignedDuration {
    service
        .alert_grouping
        .as_ref()
        .map_or(DEFAULT_GROUP_WINDOW, |g| g.window)
}

/// Where a batch of signals came from.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    pub service: &'a Service,
    pub integration: &'a Integration,
    /// The service is in a maintenance window: alerts are recorded, nothing
    /// pages.
    pub in_maintenance: bool,
}

impl Source<'_> {
    /// Who acknowledges or resolves when the source does.
    fn actor_name(&self) -> String {
        format!("{}/{}", self.service.name, self.integration.name)
    }
}

/// The group an alert belongs to: one already stored, or one this batch
/// opens (an index into [`Plan::new_groups`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupRef {
    Stored(i64),
    New(usize),
}

/// A group the batch opens.
#[derive(Clone, Debug, PartialEq)]
pub struct NewGroup {
    pub service: String,
    pub key: Option<String>,
    pub in_maintenance: bool,
    /// The escalation policy that pages for it; `None` in maintenance or
    /// when the service has none.
    pub pages_with: Option<String>,
    /// Alerts of the batch that opened into it.
    pub members: i64,
}

/// A stored group that new alerts may join, as the caller loaded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinableGroup {
    pub id: i64,
    pub status: AlertStatus,
    pub in_maintenance: bool,
}

impl JoinableGroup {
    /// Nothing escalates it now: it resolved, someone acknowledged it, or
    /// it opened in maintenance. A new alert joining it must page again.
    fn is_quiet(&self) -> bool {
        self.status != AlertStatus::Triggered || self.in_maintenance
    }
}

/// A stored group the batch opens alerts into.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinedGroup {
    /// Alerts of the batch that opened into it.
    pub members: i64,
    /// It had resolved and opens again.
    pub reopened: bool,
    /// As the batch leaves it: a quiet group joined during maintenance is
    /// held by it, like a group opened then.
    pub in_maintenance: bool,
    /// The policy whose escalation starts over: the group was quiet and
    /// the new alert is not in maintenance. `None` for a group already
    /// escalating, so a storm still pages once.
    pub pages_with: Option<String>,
}

/// An alert the batch reads or changes, as it stands after the batch.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedAlert {
    /// Its `id` is 0 and its `group_id` meaningless while new: the caller
    /// assigns both when it writes.
    pub alert: Alert,
    pub group: GroupRef,
    /// Its status as stored; `None` for a new alert.
    pub stored_status: Option<AlertStatus>,
    /// Anything to write back.
    pub changed: bool,
}

impl PlannedAlert {
    pub fn is_new(&self) -> bool {
        self.stored_status.is_none()
    }

    /// Whether the batch opened it or changed its status, rather than
    /// only refreshing it with repeated triggers.
    pub fn status_changed(&self) -> bool {
        self.stored_status != Some(self.alert.status)
    }
}

/// What one signal did. Alerts are indexes into [`Plan::alerts`].
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// A drop rule matched: recorded, no alert.
    Dropped,
    /// Nothing changed (acknowledge or resolve of nothing open, a second
    /// acknowledge); the alert it named, if any.
    Ignored { alert: Option<usize> },
    /// A new alert, as it was when it opened; `new_group` when it also
    /// opened its group.
    Opened {
        alert: usize,
        opened: Box<Alert>,
        new_group: bool,
    },
    /// An open alert seen again: refreshed and counted, never paged again.
    Repeated { alert: usize },
    /// The source acknowledged or resolved an open alert.
    Changed {
        alert: usize,
        outcome: Outcome,
        before: Box<Alert>,
        after: Box<Alert>,
    },
}

impl Effect {
    /// The outcome as ingestion reports it: `opened`, `repeated`,
    /// `acknowledged`, `resolved`, `ignored` or `dropped`.
    pub fn name(&self) -> &'static str {
        match self {
            Effect::Dropped => "dropped",
            Effect::Ignored { .. } => "ignored",
            Effect::Opened { .. } => "opened",
            Effect::Repeated { .. } => "repeated",
            Effect::Changed {
                outcome: Outcome::Acknowledge,
                ..
            } => "acknowledged",
            Effect::Changed { .. } => "resolved",
        }
    }

    /// The alert it touched, if any.
    pub fn alert(&self) -> Option<usize> {
        match self {
            Effect::Dropped => None,
            Effect::Ignored { alert } => *alert,
            Effect::Opened { alert, .. }
            | Effect::Repeated { alert }
            | Effect::Changed { alert, .. } => Some(*alert),
        }
    }
}

/// Everything a batch does, for the caller to write.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Every alert the batch touched, loaded ones first, in the order they
    /// must be written: an alert resolved in the batch comes before the one
    /// a later trigger of its key opens.
    pub alerts: Vec<PlannedAlert>,
    pub new_groups: Vec<NewGroup>,
    /// Stored groups the batch opened alerts into, by id.
    pub joined: BTreeMap<i64, JoinedGroup>,
    /// Per source, per signal, in the order given.
    pub effects: Vec<Vec<Effect>>,
}

impl Plan {
    /// How many of [`Plan::alerts`] are new.
    pub fn new_alert_count(&self) -> usize {
        self.alerts.iter().filter(|a| a.is_new()).count()
    }
}

/// What [`plan`] needs loaded for a batch, per service: the open alerts
/// with these dedup keys, and the joinable groups with these group keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lookups<'a> {
    pub dedup_keys: BTreeSet<&'a str>,
    pub group_keys: BTreeSet<String>,
}

/// The lookups `batch` needs, by service name.
pub fn lookups<'a>(batch: &[(Source<'a>, &'a [Signal])]) -> BTreeMap<&'a str, Lookups<'a>> {
    let mut lookups: BTreeMap<&str, Lookups> = BTreeMap::new();
    for (source, signals) in batch {
        let service = source.service;
        let entry = lookups.entry(service.name.as_str()).or_default();
        for signal in signals.iter() {
            entry.dedup_keys.insert(signal.dedup_key.as_str());
            if signal.action == Action::Trigger
                && let Some(key) = alert::group_key(signal, service.alert_grouping.as_ref())
            {
                entry.group_keys.insert(key);
            }
        }
    }
    lookups
}

/// Decides what `batch` does, given the open alerts with the batch's keys
/// (`open`, any order) and, per (service, group key), the newest stored
/// group still joinable at `now`. Signals apply in order, so a trigger,
/// an acknowledge and a resolve of one key in one batch end as they would
/// one after another.
pub fn plan(
    now: Timestamp,
    batch: &[(Source<'_>, &[Signal])],
    open: Vec<Alert>,
    joinable: &HashMap<(String, String), JoinableGroup>,
) -> Plan {
    let mut plan = Plan::default();
    // (service, dedup key) → the alert now holding the key.
    let mut current: HashMap<(String, String), usize> = HashMap::new();
    for alert in open {
        current.insert(
            (alert.service.clone(), alert.dedup_key.clone()),
            plan.alerts.len(),
        );
        plan.alerts.push(PlannedAlert {
            group: GroupRef::Stored(alert.group_id),
            stored_status: Some(alert.status),
            alert,
            changed: false,
        });
    }
    // (service, group key) → a group this batch opened.
    let mut opened_groups: HashMap<(String, String), usize> = HashMap::new();
    for (source, signals) in batch {
        let mut effects = Vec::with_capacity(signals.len());
        for signal in signals.iter() {
            effects.push(apply(
                now,
                source,
                signal,
                &mut plan,
                &mut current,
                &mut opened_groups,
                joinable,
            ));
        }
        plan.effects.push(effects);
    }
    plan
}

fn apply(
    now: Timestamp,
    source: &Source<'_>,
    signal: &Signal,
    plan: &mut Plan,
    current: &mut HashMap<(String, String), usize>,
    opened_groups: &mut HashMap<(String, String), usize>,
    joinable: &HashMap<(String, String), JoinableGroup>,
) -> Effect {
    let mapping = &source.integration.mapping;
    if mapping.drops(signal) {
        return Effect::Dropped;
    }
    let key = (source.service.name.clone(), signal.dedup_key.clone());
    let held = current
        .get(&key)
        .copied()
        .filter(|&index| plan.alerts[index].alert.status.is_open());
    let outcome = alert::outcome(held.map(|i| plan.alerts[i].alert.status), signal.action);
    match (outcome, held) {
        (Outcome::Open, _) => {
            let (group, new_group) = join_group(source, signal, plan, opened_groups, joinable);
            let opened = open_alert(now, source, signal);
            current.insert(key, plan.alerts.len());
            plan.alerts.push(PlannedAlert {
                alert: opened.clone(),
                group,
                stored_status: None,
                changed: true,
            });
            Effect::Opened {
                alert: plan.alerts.len() - 1,
                opened: Box::new(opened),
                new_group,
            }
        }
        (Outcome::Repeat, Some(index)) => {
            let planned = &mut plan.alerts[index];
            planned
                .alert
                .refresh(signal, &source.integration.mapping, now);
            planned.changed = true;
            Effect::Repeated { alert: index }
        }
        (Outcome::Acknowledge | Outcome::Resolve, Some(index)) => {
            let planned = &mut plan.alerts[index];
            let before = planned.alert.clone();
            planned.alert.apply(outcome, now, &source.actor_name());
            planned.alert.last_seen_at = now;
            planned.alert.event_count += 1;
            planned.changed = true;
            Effect::Changed {
                alert: index,
                outcome,
                before: Box::new(before),
                after: Box::new(planned.alert.clone()),
            }
        }
        (_, held) => Effect::Ignored { alert: held },
    }
}

/// The group a newly opened alert joins, opening one when none is
/// joinable; true when it opened one.
fn join_group(
    source: &Source<'_>,
    signal: &Signal,
    plan: &mut Plan,
    opened_groups: &mut HashMap<(String, String), usize>,
    joinable: &HashMap<(String, String), JoinableGroup>,
) -> (GroupRef, bool) {
    let service = source.service;
    let key = alert::group_key(signal, service.alert_grouping.as_ref());
    if let Some(key) = &key {
        let lookup = (service.name.clone(), key.clone());
        if let Some(&index) = opened_groups.get(&lookup) {
            plan.new_groups[index].members += 1;
            return (GroupRef::New(index), false);
        }
        if let Some(stored) = joinable.get(&lookup) {
            let quiet = stored.is_quiet();
            let joined = plan.joined.entry(stored.id).or_insert_with(|| JoinedGroup {
                members: 0,
                reopened: stored.status == AlertStatus::Resolved,
                in_maintenance: quiet && source.in_maintenance,
                pages_with: service
                    .escalation_policy
                    .clone()
                    .filter(|_| quiet && !source.in_maintenance),
            });
            joined.members += 1;
            return (GroupRef::Stored(stored.id), false);
        }
        opened_groups.insert(lookup, plan.new_groups.len());
    }
    plan.new_groups.push(NewGroup {
        service: service.name.clone(),
        key,
        in_maintenance: source.in_maintenance,
        pages_with: service
            .escalation_policy
            .clone()
            .filter(|_| !source.in_maintenance),
        members: 1,
    });
    (GroupRef::New(plan.new_groups.len() - 1), true)
}

fn open_alert(now: Timestamp, source: &Source<'_>, signal: &Signal) -> Alert {
    let mapping = &source.integration.mapping;
    let severity = mapping.severity(signal);
    Alert {
        id: 0,
        service: source.service.name.clone(),
        integration: Some(source.integration.name.clone()),
        dedup_key: signal.dedup_key.clone(),
        status: AlertStatus::Triggered,
        severity,
        urgency: mapping.urgency(signal, severity),
        summary: signal.summary.clone(),
        source: signal.source.clone(),
        component: signal.component.clone(),
        group: signal.group.clone(),
        class: signal.class.clone(),
        labels: signal.labels.clone(),
        details: signal.details.clone(),
        links: signal.links.clone(),
        group_id: 0,
        in_maintenance: source.in_maintenance,
        first_seen_at: signal.occurred_at.filter(|at| *at <= now).unwrap_or(now),
        last_seen_at: now,
        event_count: 1,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::Grouping;
    use crate::domain::org::{IntegrationKind, Service};
    use proptest::prelude::*;

    fn service(grouping: bool) -> Service {
        let mut service: Service = serde_json::from_value(serde_json::json!({
            "id": 1,
            "name": "payments", "display_name": "Payments", "kind": "internal",
            "owner": null, "tier": 1, "description": null, "provider": null,
            "depends_on": [], "runbook": null, "escalation_policy": "payments",
        }))
        .expect("a service");
        if grouping {
            service.alert_grouping = Some(Grouping {
                by: vec!["alertname".into()],
                window: SignedDuration::from_mins(10),
            });
        }
        service.integrations = vec![Integration {
            name: "monitors".into(),
            kind: IntegrationKind::Pagerduty,
            key: Some("k".into()),
            signing_secret: None,
            signature_header: None,
            timestamp_header: None,
            mapping: Default::default(),
            rate_limit: Default::default(),
        }];
        service
    }

    fn signal(key: &str, action: Action, alertname: &str) -> Signal {
        Signal {
            action,
            dedup_key: key.into(),
            summary: format!("{key} is failing"),
            source_severity: Some("error".into()),
            source: None,
            component: None,
            group: None,
            class: None,
            labels: BTreeMap::from([("alertname".to_string(), alertname.to_string())]),
            details: serde_json::Value::Null,
            links: Vec::new(),
            occurred_at: None,
            source_group: None,
        }
    }

    /// A stand-in for the store: alerts with ids, groups with their last
    /// alert, and what ingestion reported, so batches can be compared with
    /// one-by-one application.
    #[derive(Default)]
    struct Model {
        alerts: Vec<Alert>,
        /// Per group id (index + 1).
        groups: Vec<ModelGroup>,
        outcomes: Vec<&'static str>,
        pages: usize,
    }

    struct ModelGroup {
        service: String,
        key: Option<String>,
        last_alert_at: Timestamp,
        /// Its escalation runs: it paged and stayed triggered since, as
        /// the app's escalation does (an acknowledge or resolve ends it).
        escalating: bool,
    }

    impl Model {
        /// A group's status from its members, as the store computes it.
        fn group_status(&self, id: i64) -> AlertStatus {
            let open: Vec<AlertStatus> = self
                .alerts
                .iter()
                .filter(|a| a.group_id == id && a.status.is_open())
                .map(|a| a.status)
                .collect();
            if open.is_empty() {
                AlertStatus::Resolved
            } else if open.iter().all(|s| *s == AlertStatus::Acknowledged) {
                AlertStatus::Acknowledged
            } else {
                AlertStatus::Triggered
            }
        }

        fn ingest(&mut self, now: Timestamp, service: &Service, signals: &[Signal]) {
            let source = Source {
                service,
                integration: &service.integrations[0],
                in_maintenance: false,
            };
            let open = self
                .alerts
                .iter()
                .filter(|a| a.status.is_open())
                .filter(|a| signals.iter().any(|s| s.dedup_key == a.dedup_key))
                .cloned()
                .collect();
            let since = now - group_window(service);
            let mut joinable = HashMap::new();
            for (index, group) in self.groups.iter().enumerate() {
                let id = index as i64 + 1;
                let status = self.group_status(id);
                if let Some(key) = &group.key
                    && (status.is_open() || group.last_alert_at >= since)
                {
                    joinable.insert(
                        (group.service.clone(), key.clone()),
                        JoinableGroup {
                            id,
                            status,
                            in_maintenance: false,
                        },
                    );
                }
            }
            let plan = plan(now, &[(source, signals)], open, &joinable);
            let mut group_ids = Vec::new();
            let mut paged = Vec::new();
            for group in &plan.new_groups {
                self.groups.push(ModelGroup {
                    service: group.service.clone(),
                    key: group.key.clone(),
                    last_alert_at: now,
                    escalating: false,
                });
                group_ids.push(self.groups.len() as i64);
                if group.pages_with.is_some() {
                    paged.push(self.groups.len() as i64);
                }
            }
            for (id, joined) in &plan.joined {
                self.groups[*id as usize - 1].last_alert_at = now;
                if joined.pages_with.is_some() {
                    paged.push(*id);
                }
            }
            self.pages += paged.len();
            for planned in plan.alerts.iter().filter(|a| a.changed) {
                let mut alert = planned.alert.clone();
                alert.group_id = match planned.group {
                    GroupRef::Stored(id) => id,
                    GroupRef::New(index) => group_ids[index],
                };
                if planned.is_new() {
                    alert.id = self.alerts.len() as i64 + 1;
                    self.alerts.push(alert);
                } else {
                    let index = alert.id as usize - 1;
                    if !planned.status_changed() {
                        // The store writes back only what a refresh
                        // changes (`WriteSet::refreshed_alerts`).
                        let refreshed = self.alerts[index].with_refreshed(&alert);
                        assert_eq!(alert, refreshed, "a refresh changed more than it writes");
                    }
                    self.alerts[index] = alert;
                }
            }
            // Paging starts an escalation only for a group still triggered
            // after the batch; acknowledging or resolving ends one.
            for id in paged {
                self.groups[id as usize - 1].escalating = true;
            }
            for index in 0..self.groups.len() {
                if self.group_status(index as i64 + 1) != AlertStatus::Triggered {
                    self.groups[index].escalating = false;
                }
            }
            self.outcomes
                .extend(plan.effects.iter().flatten().map(Effect::name));
        }

        fn escalating(&self) -> Vec<bool> {
            self.groups.iter().map(|g| g.escalating).collect()
        }
    }

    #[test]
    fn a_trigger_ack_and_resolve_in_one_batch_end_as_one_after_another() {
        let service = service(false);
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let mut model = Model::default();
        model.ingest(
            now,
            &service,
            &[
                signal("a", Action::Trigger, "x"),
                signal("a", Action::Trigger, "x"),
                signal("a", Action::Acknowledge, "x"),
                signal("a", Action::Resolve, "x"),
                signal("a", Action::Trigger, "x"),
                signal("b", Action::Resolve, "x"),
            ],
        );
        assert_eq!(
            model.outcomes,
            [
                "opened",
                "repeated",
                "acknowledged",
                "resolved",
                "opened",
                "ignored"
            ]
        );
        assert_eq!(model.alerts.len(), 2);
        assert_eq!(model.alerts[0].status, AlertStatus::Resolved);
        assert_eq!(model.alerts[0].event_count, 4);
        assert_eq!(model.alerts[1].status, AlertStatus::Triggered);
        assert_eq!(model.pages, 2, "each new group pages once");
    }

    #[test]
    fn a_storm_in_one_batch_opens_one_group() {
        let service = service(true);
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let mut model = Model::default();
        let storm: Vec<Signal> = (0..20)
            .map(|i| signal(&format!("pod-{i}"), Action::Trigger, "HighErrorRate"))
            .collect();
        model.ingest(now, &service, &storm);
        assert_eq!(model.alerts.len(), 20);
        assert_eq!(model.groups.len(), 1);
        assert_eq!(model.pages, 1);
        // Later, within the window: joins the stored group.
        model.ingest(
            now + SignedDuration::from_mins(3),
            &service,
            &[signal("pod-99", Action::Trigger, "HighErrorRate")],
        );
        assert_eq!(model.groups.len(), 1);
        assert!(model.alerts.iter().all(|a| a.group_id == 1));
    }

    #[test]
    fn a_new_alert_in_a_quiet_group_pages_again_and_one_in_an_escalating_group_does_not() {
        let service = service(true);
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let later = |mins| now + SignedDuration::from_mins(mins);
        let mut model = Model::default();
        model.ingest(now, &service, &[signal("a", Action::Trigger, "X")]);
        model.ingest(later(1), &service, &[signal("b", Action::Trigger, "X")]);
        assert_eq!(
            (model.groups.len(), model.pages),
            (1, 1),
            "a storm pages once"
        );
        // Acknowledged: the next new alert pages the group again.
        model.ingest(
            later(2),
            &service,
            &[
                signal("a", Action::Acknowledge, "X"),
                signal("b", Action::Acknowledge, "X"),
            ],
        );
        assert_eq!(model.escalating(), [false]);
        model.ingest(later(3), &service, &[signal("c", Action::Trigger, "X")]);
        assert_eq!((model.groups.len(), model.pages), (1, 2));
        assert_eq!(model.escalating(), [true]);
        // Resolved, then a flap within the window: it reopens and pages.
        model.ingest(
            later(4),
            &service,
            &["a", "b", "c"].map(|key| signal(key, Action::Resolve, "X")),
        );
        model.ingest(later(5), &service, &[signal("a", Action::Trigger, "X")]);
        assert_eq!((model.groups.len(), model.pages), (1, 3));
        assert_eq!(model.escalating(), [true]);
    }

    #[test]
    fn a_group_opened_in_maintenance_pages_when_an_alert_joins_it_after() {
        let service = service(true);
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let source = |in_maintenance| Source {
            service: &service,
            integration: &service.integrations[0],
            in_maintenance,
        };
        let held = JoinableGroup {
            id: 7,
            status: AlertStatus::Triggered,
            in_maintenance: true,
        };
        let signals = [signal("b", Action::Trigger, "X")];
        let key = alert::group_key(&signals[0], service.alert_grouping.as_ref()).unwrap();
        let joinable = HashMap::from([(("payments".to_string(), key.clone()), held)]);

        let during = plan(now, &[(source(true), &signals)], Vec::new(), &joinable);
        assert_eq!(during.joined[&7].pages_with, None, "still in maintenance");
        assert!(during.joined[&7].in_maintenance);

        let after = plan(now, &[(source(false), &signals)], Vec::new(), &joinable);
        assert_eq!(after.joined[&7].pages_with.as_deref(), Some("payments"));
        assert!(!after.joined[&7].in_maintenance);
        assert!(!after.joined[&7].reopened);

        let escalating = JoinableGroup {
            in_maintenance: false,
            ..held
        };
        let joinable = HashMap::from([(("payments".to_string(), key), escalating)]);
        let storm = plan(now, &[(source(true), &signals)], Vec::new(), &joinable);
        assert_eq!(storm.joined[&7].pages_with, None, "already escalating");
        assert!(
            !storm.joined[&7].in_maintenance,
            "a paging group stays out of maintenance"
        );
    }

    fn step() -> impl Strategy<Value = (u8, Action, u8)> {
        let action = prop_oneof![
            3 => Just(Action::Trigger),
            1 => Just(Action::Acknowledge),
            1 => Just(Action::Resolve)
        ];
        (0u8..4, action, 0u8..2)
    }

    proptest! {
        /// However signals are cut into batches, the alerts, groups, pages
        /// and reported outcomes are those of applying them one by one.
        #[test]
        fn batches_end_as_one_signal_at_a_time(
            steps in proptest::collection::vec(step(), 1..40),
            cuts in proptest::collection::vec(any::<bool>(), 40),
            grouping in any::<bool>(),
        ) {
            let service = service(grouping);
            let now = Timestamp::from_second(1_800_000_000).unwrap();
            let signals: Vec<Signal> = steps
                .iter()
                .map(|(key, action, name)| signal(&format!("k{key}"), *action, &format!("n{name}")))
                .collect();

            let mut single = Model::default();
            for signal in &signals {
                single.ingest(now, &service, std::slice::from_ref(signal));
            }

            let mut batched = Model::default();
            let mut start = 0;
            for end in 1..=signals.len() {
                if end == signals.len() || cuts[end] {
                    batched.ingest(now, &service, &signals[start..end]);
                    start = end;
                }
            }

            prop_assert_eq!(&batched.outcomes, &single.outcomes);
            prop_assert_eq!(&batched.alerts, &single.alerts);
            prop_assert_eq!(batched.groups.len(), single.groups.len());
            // Pages may differ in number (a group quiet for a moment
            // inside a batch is paged once, not twice), never in who ends
            // up escalating: every triggered group, and no other.
            prop_assert_eq!(batched.escalating(), single.escalating());
            for (index, escalating) in batched.escalating().into_iter().enumerate() {
                let triggered = batched.group_status(index as i64 + 1) == AlertStatus::Triggered;
                prop_assert_eq!(escalating, triggered, "group {} triggered but not escalating, or the reverse", index + 1);
            }
            // At most one open alert per key, whatever happened.
            let mut open: Vec<&str> = batched.alerts.iter().filter(|a| a.status.is_open()).map(|a| a.dedup_key.as_str()).collect();
            let count = open.len();
            open.dedup();
            open.sort();
            open.dedup();
            prop_assert_eq!(open.len(), count);
        }
    }
}
