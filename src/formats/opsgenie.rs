//! The subset of Opsgenie's alert API that Alertmanager's `opsgenie_configs`
//! uses: create (`POST /v2/alerts`), close
//! (`POST /v2/alerts/{alias}/close?identifierType=alias`) and the message
//! and description updates it sends with `update_alerts`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{FormatError, MAX_SUMMARY, parse_typed, signal, truncate};
use crate::domain::alert::{Action, Signal};

#[derive(Deserialize)]
struct Create {
    message: String,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    details: BTreeMap<String, Value>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    entity: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    responders: Vec<Value>,
    #[serde(default)]
    actions: Vec<String>,
}

/// Opsgenie priorities onto severity names siaga's mapping understands.
/// Opsgenie's priorities; siaga's severities read them (`P1` is critical,
/// `P4` and `P5` info) unless the integration's `severity_map` names them.
const PRIORITIES: [&str; 5] = ["P1", "P2", "P3", "P4", "P5"];

/// Parses a create request. Without an alias, Opsgenie makes a new alert
/// each time (its alias is the new alert's id): `generate_alias` gives one.
pub fn parse_create(
    body: &[u8],
    generate_alias: impl FnOnce() -> String,
) -> Result<Signal, FormatError> {
    let create: Create = parse_typed(body)?;
    let message = create.message.trim();
    if message.is_empty() {
        return Err(FormatError::new("message", "message must not be empty"));
    }
    if let Some(priority) = &create.priority
        && !priority.is_empty()
        && !PRIORITIES.contains(&priority.as_str())
    {
        return Err(FormatError::new(
            "priority",
            format!("priority must be P1 to P5, not {priority:?}"),
        ));
    }
    // Opsgenie deduplicates on alias; without one, not at all.
    let alias = match create
        .alias
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        Some(alias) if alias.len() > 512 => {
            return Err(FormatError::new(
                "alias",
                "alias must be at most 512 characters",
            ));
        }
        Some(alias) => dedup_key_of(alias),
        None => generate_alias(),
    };
    let mut signal = signal(Action::Trigger, alias, truncate(message, MAX_SUMMARY));
    // Without a priority (Alertmanager's default), the `severity` label,
    // which Alertmanager copies into the details with the other labels.
    signal.source_severity = create
        .priority
        .clone()
        .filter(|p| !p.is_empty())
        .or_else(|| {
            create
                .details
                .get("severity")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        });
    signal.source = create.source.clone().filter(|s| !s.is_empty());
    signal.component = create.entity.clone().filter(|s| !s.is_empty());
    for (key, value) in &create.details {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        signal.labels.insert(key.clone(), text);
    }
    signal.details = serde_json::json!({
        "description": create.description,
        "tags": create.tags,
        "note": create.note,
        "priority": create.priority,
        "responders": create.responders,
        "actions": create.actions,
        "details": create.details,
    });
    Ok(signal)
}

/// The signal for closing the alert with `alias`.
pub fn close(alias: &str, identifier_type: Option<&str>) -> Result<Signal, FormatError> {
    match identifier_type.unwrap_or("id") {
        "alias" => {}
        other => {
            return Err(FormatError::new(
                "identifierType",
                format!(
                    "only identifierType=alias is supported here, not {other:?}; Alertmanager sends alias"
                ),
            ));
        }
    }
    if alias.trim().is_empty() {
        return Err(FormatError::new(
            "identifier",
            "the alias must not be empty",
        ));
    }
    Ok(signal(
        Action::Resolve,
        dedup_key_of(alias.trim()),
        String::new(),
    ))
}

/// Aliases longer than a dedup key may be are hashed to fit.
fn dedup_key_of(alias: &str) -> String {
    if !super::too_long_for_a_key(alias) {
        alias.to_string()
    } else {
        hex::encode(Sha256::digest(alias.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(body: &[u8]) -> Result<Signal, FormatError> {
        parse_create(body, || "generated".into())
    }

    const CREATE: &str =
        include_str!("../../tests/fixtures/alertmanager-0.25/opsgenie-create-allfields.json");

    #[test]
    fn alertmanager_creates_parse() {
        let signal = create(CREATE.as_bytes()).unwrap();
        assert_eq!(signal.action, Action::Trigger);
        // Left as sent, for a `severity_map` to name; P1 reads as critical.
        assert_eq!(signal.source_severity.as_deref(), Some("P1"));
        assert_eq!(
            crate::domain::alert::Mapping::default().severity(&signal),
            crate::domain::alert::Severity::Critical
        );
        // Alertmanager's default sends no priority: the `severity` label
        // among the details says it.
        let default = create(
            include_str!("../../tests/fixtures/alertmanager-0.25/opsgenie-create-default.json")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(default.source_severity.as_deref(), Some("critical"));
        assert_eq!(signal.dedup_key.len(), 64);
        assert_eq!(
            signal.labels.get("service").map(String::as_str),
            Some("checkout")
        );
    }

    #[test]
    fn a_create_without_an_alias_is_a_new_alert_each_time() {
        let first = create(br#"{"message":"Disk full"}"#).unwrap();
        assert_eq!(first.dedup_key, "generated");
        let aliased = create(br#"{"message":"Disk full","alias":"disk-1"}"#).unwrap();
        assert_eq!(aliased.dedup_key, "disk-1");
    }

    #[test]
    fn close_needs_an_alias() {
        assert_eq!(close("abc", Some("alias")).unwrap().dedup_key, "abc");
        assert_eq!(
            close("abc", Some("tiny")).unwrap_err().field,
            "identifierType"
        );
        assert_eq!(close("abc", None).unwrap_err().field, "identifierType");
        assert_eq!(create(br#"{"message":""}"#).unwrap_err().field, "message");
        assert_eq!(
            create(br#"{"message":"x","priority":"P9"}"#)
                .unwrap_err()
                .field,
            "priority"
        );
        assert!(
            create(br#"{"alias":"x"}"#)
                .unwrap_err()
                .message
                .contains("message")
        );
    }
}
