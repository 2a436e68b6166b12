//! Prometheus Alertmanager's webhook (version 4). Each alert in a
//! notification is one signal keyed by its fingerprint; the notification's
//! `groupKey` becomes the alert group, so Alertmanager's own grouping
//! carries over.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{FormatError, MAX_SUMMARY, parse_typed, signal, truncate};
use crate::domain::alert::{Action, Link, Signal};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    version: String,
    group_key: String,
    #[serde(default)]
    truncated_alerts: u64,
    #[serde(default, rename = "externalURL")]
    external_url: Option<String>,
    #[serde(default)]
    receiver: Option<String>,
    alerts: Vec<AmAlert>,
    #[serde(default)]
    common_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AmAlert {
    status: String,
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
    fingerprint: String,
}

/// A parsed notification.
#[derive(Debug)]
pub struct Parsed {
    pub signals: Vec<Signal>,
    /// Alerts Alertmanager left out because of `max_alerts`.
    pub truncated_alerts: u64,
}

pub fn parse(body: &[u8]) -> Result<Parsed, FormatError> {
    let notification: Notification = parse_typed(body)?;
    if notification.version != "4" {
        return Err(FormatError::new(
            "version",
            format!(
                "only webhook version 4 is understood, not {:?}",
                notification.version
            ),
        ));
    }
    let mut signals = Vec::with_capacity(notification.alerts.len());
    for (i, alert) in notification.alerts.iter().enumerate() {
        let action = super::webhook_action(i, &alert.status, &alert.fingerprint)?;
        signals.push(to_signal(action, alert, &notification));
    }
    Ok(Parsed {
        signals,
        truncated_alerts: notification.truncated_alerts,
    })
}

fn to_signal(action: Action, alert: &AmAlert, notification: &Notification) -> Signal {
    let summary = summary_of(
        &alert.labels,
        &alert.annotations,
        &notification.common_annotations,
    );
    let mut signal = signal(
        action,
        alert.fingerprint.clone(),
        truncate(&summary, MAX_SUMMARY),
    );
    signal.source_severity = alert.labels.get("severity").cloned();
    signal.source = alert
        .labels
        .get("instance")
        .or_else(|| alert.labels.get("job"))
        .cloned();
    signal.component = alert.labels.get("job").cloned();
    signal.class = alert.labels.get("alertname").cloned();
    signal.labels = alert.labels.clone();
    signal.details = serde_json::json!({
        "annotations": alert.annotations,
        "receiver": notification.receiver,
        "truncated_alerts": notification.truncated_alerts,
    });
    signal.occurred_at =
        super::webhook_time(action, alert.starts_at.as_deref(), alert.ends_at.as_deref());
    if let Some(url) = alert.generator_url.as_deref().filter(|u| !u.is_empty()) {
        signal.links.push(Link {
            href: url.to_string(),
            text: Some("Source".into()),
        });
    }
    for (name, text) in [
        ("runbook_url", super::RUNBOOK_LINK),
        ("dashboard_url", "Dashboard"),
    ] {
        if let Some(url) = alert.annotations.get(name).filter(|u| !u.is_empty()) {
            signal.links.push(Link {
                href: url.clone(),
                text: Some(text.into()),
            });
        }
    }
    if let Some(url) = notification
        .external_url
        .as_deref()
        .filter(|u| !u.is_empty())
    {
        signal.links.push(Link {
            href: url.to_string(),
            text: Some("Alertmanager".into()),
        });
    }
    signal.source_group = Some(notification.group_key.clone());
    signal
}

/// The most telling one-line description an alert carries.
fn summary_of(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    common: &BTreeMap<String, String>,
) -> String {
    for candidate in [
        annotations.get("summary"),
        annotations.get("description"),
        annotations.get("message"),
        common.get("summary"),
    ] {
        if let Some(text) = candidate.map(|t| t.trim()).filter(|t| !t.is_empty()) {
            return text.to_string();
        }
    }
    let name = labels.get("alertname").map_or("Alert", String::as_str);
    match labels.get("instance") {
        Some(instance) => format!("{name} on {instance}"),
        None => name.to_string(),
    }
}

/// Alertmanager's own JSON for details when nothing else is at hand.
pub fn labels_value(labels: &BTreeMap<String, String>) -> Value {
    serde_json::to_value(labels).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRING: &str = include_str!("../../tests/fixtures/alertmanager-0.25/webhook-firing.json");
    const RESOLVED: &str =
        include_str!("../../tests/fixtures/alertmanager-0.25/webhook-resolved.json");
    const TRUNCATED: &str = include_str!(
        "../../tests/fixtures/alertmanager-0.25/webhook-firing-max_alerts2-truncated.json"
    );

    #[test]
    fn real_alertmanager_notifications_parse() {
        let firing = parse(FIRING.as_bytes()).unwrap();
        assert!(!firing.signals.is_empty());
        let first = &firing.signals[0];
        assert_eq!(first.action, Action::Trigger);
        assert_eq!(first.source_severity.as_deref(), Some("critical"));
        assert!(first.source_group.is_some());
        assert!(
            first
                .links
                .iter()
                .any(|l| l.text.as_deref() == Some("Alertmanager")),
            "externalURL becomes a link"
        );
        assert!(!first.summary.is_empty());
        let resolved = parse(RESOLVED.as_bytes()).unwrap();
        assert!(resolved.signals.iter().all(|s| s.action == Action::Resolve));
        let truncated = parse(TRUNCATED.as_bytes()).unwrap();
        assert!(truncated.truncated_alerts > 0);
    }

    #[test]
    fn bad_notifications_name_the_field() {
        let error = parse(br#"{"version":"4","groupKey":"g","alerts":[{"status":"weird","labels":{},"fingerprint":"f"}]}"#).unwrap_err();
        assert_eq!(error.field, "alerts[0].status");
        let error =
            parse(br#"{"version":"4","groupKey":"g","alerts":[{"status":"firing","labels":{}}]}"#)
                .unwrap_err();
        assert_eq!(error.field, "alerts[0].fingerprint", "{error:?}");
        let error = parse(br#"{"version":"3","groupKey":"g","alerts":[]}"#).unwrap_err();
        assert_eq!(error.field, "version");
        let error = parse(br#"{"version":"4","alerts":[]}"#).unwrap_err();
        assert_eq!(error.field, "groupKey", "{error:?}");
        let long = "f".repeat(super::super::MAX_DEDUP_KEY + 1);
        let body = format!(
            r#"{{"version":"4","groupKey":"g","alerts":[{{"status":"firing","labels":{{}},"fingerprint":"{long}"}}]}}"#
        );
        let error = parse(body.as_bytes()).unwrap_err();
        assert_eq!(error.field, "alerts[0].fingerprint", "{error:?}");
    }
}
