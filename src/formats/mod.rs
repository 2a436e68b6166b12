//! The alert formats siaga accepts, parsed into [`Signal`]s. Pure: bytes
//! in, signals or located errors out; no IO, so every parser is fuzzed.
//! The HTTP layer picks the integration by key and answers each client in
//! its own dialect.

pub mod alertmanager;
pub mod generic;
pub mod grafana;
pub mod opsgenie;
pub mod pagerduty;

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

use crate::domain::alert::{Action, Link, Signal};

/// One problem with a received message, naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    pub field: String,
    pub message: String,
}

impl FormatError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FormatError {
        FormatError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Longest summary kept, in characters; longer ones are cut (PagerDuty's
/// own limit, as Alertmanager cuts its summaries).
pub const MAX_SUMMARY: usize = 1024;
/// Longest dedup key accepted, in characters (PagerDuty's own limit).
pub const MAX_DEDUP_KEY: usize = 255;

/// The text of an alert's link to its own runbook (a `runbook_url`
/// annotation): messages point to it before the service's runbook.
pub const RUNBOOK_LINK: &str = "Runbook";

/// Whether `key` is too long for a dedup key.
pub fn too_long_for_a_key(key: &str) -> bool {
    key.chars().count() > MAX_DEDUP_KEY
}

/// Parses JSON, or says where it broke.
pub fn parse_json(body: &[u8]) -> Result<Value, FormatError> {
    serde_json::from_slice(body)
        .map_err(|e| FormatError::new("", format!("the body is not valid JSON: {e}")))
}

/// Parses a JSON object into `T`, naming the field that did not fit.
/// Every body siaga takes is an object; serde alone would also fill a
/// struct from an array, field by field in order.
pub fn parse_typed<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FormatError> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        parse_json(body)?;
        return Err(FormatError::new("", "the body must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            FormatError::new("", format!("the body is not valid JSON: {inner}"))
        } else {
            let message = inner.to_string();
            FormatError::new(field_of(&path, &message), message)
        }
    })
}

/// The field a deserialization error is about, from serde's path to it
/// (`.` for the top) and its message, which alone names a missing field.
pub fn field_of(path: &str, message: &str) -> String {
    let parent = if path == "." { "" } else { path };
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match (parent, missing) {
        ("", Some(name)) => name.to_string(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (parent, None) => parent.to_string(),
    }
}

/// Cuts text to at most `max` characters.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

pub fn parse_time(text: &str) -> Option<Timestamp> {
    text.parse::<Timestamp>().ok().filter(|t| t.as_second() > 0)
}

/// Turns label maps of any JSON scalars into strings.
pub fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The action of one alert of an Alertmanager-style webhook (Alertmanager,
/// Grafana), which must carry a fingerprint.
pub fn webhook_action(
    index: usize,
    status: &str,
    fingerprint: &str,
) -> Result<Action, FormatError> {
    let action = match status {
        "firing" => Action::Trigger,
        "resolved" => Action::Resolve,
        other => {
            return Err(FormatError::new(
                format!("alerts[{index}].status"),
                format!("must be firing or resolved, not {other:?}"),
            ));
        }
    };
    if fingerprint.trim().is_empty() || too_long_for_a_key(fingerprint) {
        return Err(FormatError::new(
            format!("alerts[{index}].fingerprint"),
            format!("must have 1 to {MAX_DEDUP_KEY} characters"),
        ));
    }
    Ok(action)
}

/// When an Alertmanager-style alert began, or ended when it resolved.
pub fn webhook_time(
    action: Action,
    starts_at: Option<&str>,
    ends_at: Option<&str>,
) -> Option<Timestamp> {
    match action {
        Action::Resolve => ends_at.and_then(parse_time),
        _ => starts_at.and_then(parse_time),
    }
}

/// A signal with only the required parts; parsers fill in the rest.
pub fn signal(action: Action, dedup_key: String, summary: String) -> Signal {
    Signal {
        action,
        dedup_key,
        summary,
        source_severity: None,
        source: None,
        component: None,
        group: None,
        class: None,
        labels: BTreeMap::new(),
        details: Value::Null,
        links: Vec::<Link>::new(),
        occurred_at: None,
        source_group: None,
    }
}

/// Every parser takes bytes from the network; whatever they hold, parsing
/// ends in signals or located errors, never in a panic.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    const FIXTURES: [&str; 6] = [
        include_str!("../../tests/fixtures/alertmanager-0.25/webhook-firing.json"),
        include_str!(
            "../../tests/fixtures/alertmanager-0.25/webhook-mixed-firing-and-resolved.json"
        ),
        include_str!("../../tests/fixtures/alertmanager-0.25/pagerduty-trigger-allfields.json"),
        include_str!("../../tests/fixtures/alertmanager-0.25/pagerduty-resolve-default.json"),
        include_str!("../../tests/fixtures/alertmanager-0.25/opsgenie-create-allfields.json"),
        r#"{"events":[{"action":"trigger","dedup_key":"a","summary":"x","labels":{"k":"v"},"links":[{"href":"h"}]}]}"#,
    ];

    fn parse_everything(body: &[u8]) {
        let _ = pagerduty::parse_event(body, || "k".into());
        let _ = pagerduty::parse_change(body);
        let _ = pagerduty::routing_key(body);
        let _ = alertmanager::parse(body);
        let _ = grafana::parse(body);
        let _ = opsgenie::parse_create(body, || "k".into());
        let _ = generic::parse(body, &crate::domain::alert::Mapping::default());
        let _ =
            grafana::signature_is_valid("secret", body, Some("1"), &String::from_utf8_lossy(body));
    }

    /// Real bodies with bytes cut out and random bytes put in.
    fn mangled() -> impl Strategy<Value = Vec<u8>> {
        (
            0..FIXTURES.len(),
            proptest::collection::vec(
                (
                    any::<u16>(),
                    0usize..16,
                    proptest::collection::vec(any::<u8>(), 0..8),
                ),
                1..8,
            ),
        )
            .prop_map(|(which, cuts)| {
                let mut bytes = FIXTURES[which].as_bytes().to_vec();
                for (at, remove, insert) in cuts {
                    let at = usize::from(at) % (bytes.len() + 1);
                    let end = (at + remove).min(bytes.len());
                    bytes.splice(at..end, insert);
                }
                bytes
            })
    }

    /// Well-formed JSON of the wrong shapes: values where objects belong,
    /// deep nesting, odd numbers.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            "[a-z_]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("alerts".to_string()),
                        Just("status".to_string()),
                        Just("labels".to_string()),
                        Just("fingerprint".to_string()),
                        Just("version".to_string()),
                        Just("groupKey".to_string()),
                        Just("routing_key".to_string()),
                        Just("event_action".to_string()),
                        Just("payload".to_string()),
                        Just("summary".to_string()),
                        Just("events".to_string()),
                        Just("action".to_string()),
                        Just("dedup_key".to_string()),
                        Just("message".to_string()),
                        "[a-z]{1,6}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn mangled_real_bodies_never_panic(body in mangled()) {
            parse_everything(&body);
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            parse_everything(&body);
        }

        #[test]
        fn json_of_any_shape_never_panics(value in json_value()) {
            parse_everything(value.to_string().as_bytes());
        }

        /// A PagerDuty trigger that parses always yields a usable signal:
        /// a dedup key within limits and a summary within limits.
        #[test]
        fn parsed_pagerduty_triggers_are_within_limits(summary in "\\PC{1,2000}", key in "[ -~]{0,300}") {
            let body = serde_json::json!({
                "routing_key": "k", "event_action": "trigger", "dedup_key": key,
                "payload": {"summary": summary, "source": "s", "severity": "info"}
            });
            if let Ok(event) = pagerduty::parse_event(body.to_string().as_bytes(), || "generated".into()) {
                prop_assert!(!event.signal.dedup_key.is_empty() && !too_long_for_a_key(&event.signal.dedup_key));
                prop_assert!(event.signal.summary.chars().count() <= MAX_SUMMARY);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_webhook_body_must_be_an_object() {
        let array = br#"["Disk full", "firing", [], "4"]"#;
        let errors = [
            super::alertmanager::parse(array).err(),
            super::grafana::parse(array).err(),
            super::opsgenie::parse_create(array, || "k".into()).err(),
        ];
        for error in errors {
            let error = error.expect("an array was taken for an object");
            assert_eq!(error.message, "the body must be a JSON object");
        }
    }
}
