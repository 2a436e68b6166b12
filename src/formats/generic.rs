//! siaga's own event schema, for anything that speaks none of the others.
//! A body is one event or `{"events": [...]}` with up to 1,000.
//!
//! ```json
//! {"action": "trigger", "dedup_key": "disk-db-1", "summary": "Disk 95% full on db-1",
//!  "severity": "warning", "source": "db-1", "labels": {"env": "prod"},
//!  "details": {"used": "95%"}, "links": [{"href": "https://…", "text": "Dashboard"}]}
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{FormatError, MAX_DEDUP_KEY, MAX_SUMMARY, field_of, parse_typed, signal, truncate};
use crate::domain::alert::{Action, Link, Mapping, Signal};

pub const MAX_EVENTS: usize = 1000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenericEvent {
    /// `trigger`, `acknowledge` or `resolve`.
    pub action: Action,
    /// Identifies the problem; repeated triggers with it are one alert.
    pub dedup_key: String,
    /// Required for `trigger`: what is wrong, in one line a newcomer understands.
    #[serde(default)]
    pub summary: Option<String>,
    /// `critical`, `error`, `warning`, `info` (or a common name such as
    /// `p1`, `high`, `warn`), or a name the integration maps; anything else
    /// is refused.
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub details: Value,
    #[serde(default)]
    pub links: Vec<Link>,
    /// When the problem began (trigger) or ended (resolve), RFC 3339.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<jiff::Timestamp>,
}

/// Parses one event or a batch; a severity must be one of siaga's or a
/// name the integration's `mapping` maps.
pub fn parse(body: &[u8], mapping: &Mapping) -> Result<Vec<Signal>, FormatError> {
    let parsed: Value = parse_typed(body)?;
    let (values, prefix) = match parsed {
        // A batch: `events` and nothing else (a single event has no such
        // field).
        Value::Object(mut batch) if batch.contains_key("events") => {
            if let Some(other) = batch.keys().find(|name| *name != "events") {
                return Err(FormatError::new(
                    other.as_str(),
                    format!("unknown field `{other}`: a batch is {{\"events\": [...]}}"),
                ));
            }
            match batch.remove("events") {
                Some(Value::Array(events)) => (events, "events"),
                _ => {
                    return Err(FormatError::new(
                        "events",
                        "events must be an array of events",
                    ));
                }
            }
        }
        one => (vec![one], ""),
    };
    if values.is_empty() {
        return Err(FormatError::new("events", "send at least one event"));
    }
    if values.len() > MAX_EVENTS {
        return Err(FormatError::new(
            "events",
            format!("at most {MAX_EVENTS} events per request"),
        ));
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let at = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}[{i}].")
            };
            if !value.is_object() {
                return Err(FormatError::new(
                    at.trim_end_matches('.'),
                    "an event must be a JSON object",
                ));
            }
            let event: GenericEvent = serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                let field = format!("{at}{}", field_of(&path, &message));
                FormatError::new(field.trim_end_matches('.'), message)
            })?;
            to_signal(event, &at, mapping)
        })
        .collect()
}

fn to_signal(event: GenericEvent, at: &str, mapping: &Mapping) -> Result<Signal, FormatError> {
    if let Some(severity) = &event.severity
        && !mapping.knows_severity(severity)
    {
        return Err(FormatError::new(
            format!("{at}severity"),
            format!(
                "`{severity}` is not a severity: use critical, error, warning or info, or a name the integration's severity_map maps"
            ),
        ));
    }
    let key = event.dedup_key.trim();
    if key.is_empty() || super::too_long_for_a_key(key) {
        return Err(FormatError::new(
            format!("{at}dedup_key"),
            format!("must have 1 to {MAX_DEDUP_KEY} characters"),
        ));
    }
    let summary = event.summary.as_deref().map(str::trim).unwrap_or_default();
    if event.action == Action::Trigger && summary.is_empty() {
        return Err(FormatError::new(
            format!("{at}summary"),
            "a trigger needs a summary",
        ));
    }
    let mut signal = signal(
        event.action,
        key.to_string(),
        truncate(summary, MAX_SUMMARY),
    );
    signal.source_severity = event.severity;
    signal.source = event.source;
    signal.component = event.component;
    signal.group = event.group;
    signal.class = event.class;
    signal.labels = event.labels;
    signal.details = event.details;
    signal.links = event.links;
    signal.occurred_at = event.occurred_at;
    Ok(signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_any(body: &[u8]) -> Result<Vec<Signal>, FormatError> {
        parse(body, &Mapping::default())
    }

    #[test]
    fn only_objects_are_events_and_a_batch_has_only_events() {
        let message = |body: &[u8]| {
            let error = parse_any(body).unwrap_err();
            format!("{}: {}", error.field, error.message)
        };
        // serde would read these by position into an event.
        assert_eq!(
            message(br#"["trigger","k1","Disk full"]"#),
            ": the body must be a JSON object"
        );
        assert_eq!(
            message(br#"{"events":[["trigger","k1","Disk full"]]}"#),
            "events[0]: an event must be a JSON object"
        );
        assert_eq!(
            message(br#"{"events":[{"action":"resolve","dedup_key":"a"}],"colour":1}"#),
            "colour: unknown field `colour`: a batch is {\"events\": [...]}"
        );
        assert_eq!(
            message(br#"{"events":{"action":"resolve"}}"#),
            "events: events must be an array of events"
        );
        // Bad JSON is named as such, whatever it starts with.
        assert!(message(b"[1,").starts_with(": the body is not valid JSON"));
        assert!(message(b"{\"a\":").starts_with(": the body is not valid JSON"));
    }

    #[test]
    fn missing_fields_are_named() {
        let error = parse_any(br#"{"dedup_key":"k","summary":"x"}"#).unwrap_err();
        assert_eq!(error.field, "action");
        let error =
            parse_any(br#"{"events":[{"action":"resolve","dedup_key":"a"},{"action":"resolve"}]}"#)
                .unwrap_err();
        assert_eq!(error.field, "events[1].dedup_key");
        let error = parse_any(
            br#"{"action":"trigger","dedup_key":"k","summary":"x","links":[{"text":"t"}]}"#,
        )
        .unwrap_err();
        assert_eq!(error.field, "links[0].href");
    }

    #[test]
    fn unknown_severities_are_refused_unless_the_integration_maps_them() {
        let body = br#"{"events":[{"action":"trigger","dedup_key":"a","summary":"x","severity":"ERROR"},{"action":"trigger","dedup_key":"b","summary":"x","severity":"apocalyptic"}]}"#;
        let error = parse_any(body).unwrap_err();
        assert_eq!(error.field, "events[1].severity");
        assert!(error.message.contains("`apocalyptic` is not a severity"));
        let mut mapping = Mapping::default();
        mapping.severity_map.insert(
            "apocalyptic".into(),
            crate::domain::alert::Severity::Critical,
        );
        assert_eq!(parse(body, &mapping).unwrap().len(), 2);
    }

    #[test]
    fn one_or_many_events_parse() {
        let one = parse_any(br#"{"action":"trigger","dedup_key":"k","summary":"Disk full","severity":"warning","labels":{"env":"prod"}}"#).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].labels["env"], "prod");
        let many = parse_any(br#"{"events":[{"action":"trigger","dedup_key":"a","summary":"x"},{"action":"resolve","dedup_key":"b"}]}"#).unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(many[1].action, Action::Resolve);
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            parse_any(br#"{"action":"trigger","dedup_key":"k"}"#)
                .unwrap_err()
                .field,
            "summary"
        );
        assert_eq!(
            parse_any(br#"{"action":"boom","dedup_key":"k"}"#)
                .unwrap_err()
                .field,
            "action"
        );
        assert_eq!(parse_any(br#"{"events":[{"action":"trigger","dedup_key":"a","summary":"x"},{"action":"trigger","dedup_key":"","summary":"y"}]}"#).unwrap_err().field, "events[1].dedup_key");
        assert_eq!(
            parse_any(br#"{"action":"trigger","dedup_key":"k","summary":"x","colour":1}"#)
                .unwrap_err()
                .field,
            "colour"
        );
        assert_eq!(parse_any(br#"{"events":[]}"#).unwrap_err().field, "events");
    }
}
