//! PagerDuty Events API v2: alert events (`/v2/enqueue`) and change events
//! (`/v2/change/enqueue`), with PagerDuty's own validation and messages so
//! its clients (Alertmanager's `pagerduty_configs`, SDKs) work unchanged.

use serde_json::Value;

use super::{FormatError, MAX_DEDUP_KEY, MAX_SUMMARY, parse_json, parse_time, signal, truncate};
use crate::domain::alert::{Action, Link, Signal};

/// A parsed alert event and the routing key it names.
#[derive(Debug)]
pub struct Event {
    pub routing_key: String,
    pub signal: Signal,
    /// True when siaga made up the dedup key (a trigger without one).
    pub generated_key: bool,
}

const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

fn text<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value
        .get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The routing key, even from an otherwise invalid event, so the caller can
/// authenticate before reporting what else is wrong: `None` when the event
/// names none; an error when the body is no JSON object at all.
pub fn routing_key(body: &[u8]) -> Result<Option<String>, FormatError> {
    // Only this field is kept; the rest is scanned past, not built into
    // a tree: the event is parsed whole once the key is known.
    #[derive(serde::Deserialize)]
    struct KeyOnly {
        #[serde(default)]
        routing_key: Value,
    }
    // serde would also read the struct from an array (`["key"]`).
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(FormatError::new("", "the event must be a JSON object"));
    }
    let found: KeyOnly = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            FormatError::new("", "the event must be a JSON object")
        } else {
            FormatError::new("", format!("the body is not valid JSON: {e}"))
        }
    })?;
    Ok(found
        .routing_key
        .as_str()
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(str::to_string))
}

/// An event as received, for showing: its routing key (the integration's
/// secret, which lets anyone who holds it send alerts) replaced. Anything
/// that is not a JSON object with a key is shown as it came.
pub fn without_routing_key(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(mut event)) if event.contains_key("routing_key") => {
            event.insert("routing_key".into(), Value::from("[redacted]"));
            Value::Object(event).to_string()
        }
        _ => body.to_string(),
    }
}

/// The event as a JSON object with its routing key, and the errors found
/// so far (a missing key).
fn event_object(body: &[u8]) -> Result<(Value, String, Vec<FormatError>), Vec<FormatError>> {
    let value = parse_json(body).map_err(|e| vec![e])?;
    if !value.is_object() {
        return Err(vec![FormatError::new(
            "",
            "the event must be a JSON object",
        )]);
    }
    let mut errors = Vec::new();
    let routing_key = text(&value, "routing_key").unwrap_or_default().to_string();
    if routing_key.is_empty() {
        errors.push(FormatError::new(
            "routing_key",
            "'routing_key' is missing or blank",
        ));
    }
    Ok((value, routing_key, errors))
}

/// Parses an alert event. Errors are listed as PagerDuty lists them.
pub fn parse_event(
    body: &[u8],
    generate_key: impl FnOnce() -> String,
) -> Result<Event, Vec<FormatError>> {
    let (value, routing_key, mut errors) = event_object(body)?;
    let action = match value.get("event_action").and_then(Value::as_str) {
        Some("trigger") => Some(Action::Trigger),
        Some("acknowledge") => Some(Action::Acknowledge),
        Some("resolve") => Some(Action::Resolve),
        Some(other) => {
            errors.push(FormatError::new(
                "event_action",
                format!(
                    "'event_action' must be one of trigger, acknowledge, resolve; got '{other}'"
                ),
            ));
            None
        }
        None => {
            errors.push(FormatError::new(
                "event_action",
                "'event_action' is missing or blank",
            ));
            None
        }
    };
    let dedup_key = match value.get("dedup_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(key)) if super::too_long_for_a_key(key) => {
            errors.push(FormatError::new(
                "dedup_key",
                format!("'dedup_key' must be at most {MAX_DEDUP_KEY} characters"),
            ));
            None
        }
        Some(Value::String(key)) if key.trim().is_empty() => None,
        Some(Value::String(key)) => Some(key.clone()),
        Some(_) => {
            errors.push(FormatError::new(
                "dedup_key",
                "'dedup_key' must be a string",
            ));
            None
        }
    };
    if matches!(action, Some(Action::Acknowledge | Action::Resolve)) && dedup_key.is_none() {
        errors.push(FormatError::new(
            "dedup_key",
            "'dedup_key' is required to acknowledge or resolve",
        ));
    }
    let payload = value.get("payload").filter(|p| !p.is_null());
    let mut summary = String::new();
    let mut severity = None;
    if action == Some(Action::Trigger) {
        match payload {
            Some(p) if p.is_object() => {
                match text(p, "summary") {
                    Some(s) => summary = truncate(s, MAX_SUMMARY),
                    None => errors.push(FormatError::new(
                        "payload.summary",
                        "'payload.summary' is missing or blank",
                    )),
                }
                // Alertmanager sends an empty source when its template renders
                // empty; only a missing one is refused.
                if !p.get("source").is_some_and(Value::is_string) {
                    errors.push(FormatError::new(
                        "payload.source",
                        "'payload.source' is missing",
                    ));
                }
                match p.get("severity").and_then(Value::as_str) {
                    Some(s) if SEVERITIES.contains(&s) => severity = Some(s.to_string()),
                    Some(s) => errors.push(FormatError::new(
                        "payload.severity",
                        format!("'payload.severity' must be one of critical, error, warning, info; got '{s}'"),
                    )),
                    None => errors.push(FormatError::new("payload.severity", "'payload.severity' is missing or blank")),
                }
                if let Some(timestamp) = p.get("timestamp").filter(|t| !t.is_null())
                    && timestamp.as_str().and_then(parse_time).is_none()
                {
                    errors.push(FormatError::new(
                        "payload.timestamp",
                        "'payload.timestamp' must be an ISO 8601 time with an offset",
                    ));
                }
            }
            Some(_) => errors.push(FormatError::new("payload", "'payload' must be an object")),
            None => errors.push(FormatError::new("payload", "'payload' is missing")),
        }
    }
    let links = links(&value, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let action = action.unwrap_or(Action::Trigger);
    let generated_key = dedup_key.is_none();
    let dedup_key = dedup_key.unwrap_or_else(generate_key);
    let mut signal = signal(action, dedup_key, summary);
    if let Some(p) = payload {
        signal.source = text(p, "source")
            .or_else(|| text(&value, "client"))
            .map(str::to_string);
        signal.component = text(p, "component").map(str::to_string);
        signal.group = text(p, "group").map(str::to_string);
        signal.class = text(p, "class").map(str::to_string);
        signal.occurred_at = text(p, "timestamp").and_then(parse_time);
        signal.details = p.get("custom_details").cloned().unwrap_or(Value::Null);
        if let Some(details) = signal.details.as_object() {
            // Flat string details double as labels for rules and grouping.
            for (key, value) in details {
                if let Some(text) = value.as_str() {
                    signal.labels.insert(key.clone(), text.to_string());
                }
            }
        }
    }
    signal.source_severity = severity;
    signal.links = links;
    // Images (graphs, screenshots) are kept as links to them: where the
    // image links to, or the image itself.
    if let Some(Value::Array(images)) = value.get("images") {
        signal.links.extend(images.iter().filter_map(|image| {
            let href = text(image, "href").or_else(|| text(image, "src"))?;
            Some(Link {
                href: href.to_string(),
                text: Some(text(image, "alt").unwrap_or("Image").to_string()),
            })
        }));
    }
    if let Some(client_url) = text(&value, "client_url") {
        let client = text(&value, "client").unwrap_or("source").to_string();
        signal.links.push(Link {
            href: client_url.to_string(),
            text: Some(client),
        });
    }
    Ok(Event {
        routing_key,
        signal,
        generated_key,
    })
}

fn links(value: &Value, errors: &mut Vec<FormatError>) -> Vec<Link> {
    match value.get("links") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match text(item, "href") {
                Some(href) => Some(Link {
                    href: href.to_string(),
                    text: text(item, "text").map(str::to_string),
                }),
                None => {
                    errors.push(FormatError::new(
                        format!("links[{i}].href"),
                        format!("'links[{i}].href' is missing or blank"),
                    ));
                    None
                }
            })
            .collect(),
        Some(_) => {
            errors.push(FormatError::new("links", "'links' must be an array"));
            Vec::new()
        }
    }
}

/// A parsed change event.
#[derive(Debug)]
pub struct Change {
    pub routing_key: String,
    pub summary: String,
    pub source: Option<String>,
    pub occurred_at: Option<jiff::Timestamp>,
    pub details: Value,
    pub links: Vec<Link>,
}

pub fn parse_change(body: &[u8]) -> Result<Change, Vec<FormatError>> {
    let (value, routing_key, mut errors) = event_object(body)?;
    let payload = value.get("payload");
    let summary = match payload.and_then(|p| text(p, "summary")) {
        Some(s) => truncate(s, MAX_SUMMARY),
        None => {
            errors.push(FormatError::new(
                "payload.summary",
                "'payload.summary' is missing or blank",
            ));
            String::new()
        }
    };
    let occurred_at = match payload
        .and_then(|p| p.get("timestamp"))
        .filter(|t| !t.is_null())
    {
        Some(t) => {
            let parsed = t.as_str().and_then(parse_time);
            if parsed.is_none() {
                errors.push(FormatError::new(
                    "payload.timestamp",
                    "'payload.timestamp' must be an ISO 8601 time with an offset",
                ));
            }
            parsed
        }
        None => None,
    };
    let links = links(&value, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Change {
        routing_key,
        summary,
        source: payload.and_then(|p| text(p, "source")).map(str::to_string),
        occurred_at,
        details: payload
            .and_then(|p| p.get("custom_details"))
            .cloned()
            .unwrap_or(Value::Null),
        links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Event, Vec<FormatError>> {
        parse_event(body.as_bytes(), || "generated".into())
    }

    #[test]
    fn shown_events_hide_their_routing_key() {
        let shown =
            without_routing_key(r#"{"routing_key":"R0UT1NG-KEY-123456","event_action":"trigger"}"#);
        assert!(!shown.contains("R0UT1NG"), "{shown}");
        assert!(shown.contains(r#""routing_key":"[redacted]""#), "{shown}");
        assert!(shown.contains(r#""event_action":"trigger""#));
        assert_eq!(without_routing_key("not json"), "not json");
    }

    #[test]
    fn the_routing_key_is_found_in_any_event_that_names_one() {
        let key = |body: &str| routing_key(body.as_bytes());
        assert_eq!(
            key(
                r#"{"payload":{"nested":[1,{"routing_key":"no"}]},"routing_key":" k1 ","event_action":42}"#
            ),
            Ok(Some("k1".into()))
        );
        assert_eq!(key(r#"{"routing_key":""}"#), Ok(None));
        assert_eq!(key(r#"{"routing_key":7}"#), Ok(None));
        assert_eq!(key(r#"{"event_action":"trigger"}"#), Ok(None));
        // No event at all: the body is wrong before any key is.
        for not_an_object in [r#"["routing_key","k1"]"#, r#"["k1"]"#, "42", ""] {
            assert_eq!(
                key(not_an_object).unwrap_err().message,
                "the event must be a JSON object",
                "{not_an_object}"
            );
        }
        for broken in [
            r#"{"routing_key":"k1""#,
            "{not json",
            r#"{"routing_key":"k1"} x"#,
        ] {
            let error = key(broken).unwrap_err();
            assert!(
                error.message.starts_with("the body is not valid JSON"),
                "{broken}: {error}"
            );
        }
    }

    #[test]
    fn a_full_trigger_parses() {
        let event = parse(r#"{"routing_key":"abc","event_action":"trigger","dedup_key":"k1",
            "payload":{"summary":"Checkout 5xx above 2%","source":"prom-1","severity":"critical","component":"api",
              "group":"checkout","class":"http","timestamp":"2026-11-02T09:00:00Z","custom_details":{"env":"prod","value":3}},
            "links":[{"href":"https://grafana/d/1","text":"Dashboard"}],"client":"Prometheus","client_url":"https://prom"}"#)
        .unwrap();
        assert_eq!(event.routing_key, "abc");
        let s = event.signal;
        assert_eq!(
            (s.action, s.dedup_key.as_str(), s.summary.as_str()),
            (Action::Trigger, "k1", "Checkout 5xx above 2%")
        );
        assert_eq!(s.source_severity.as_deref(), Some("critical"));
        assert_eq!(s.labels.get("env").map(String::as_str), Some("prod"));
        assert_eq!(s.links.len(), 2);
        let pictured = parse_event(br#"{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"},"images":[{"src":"https://img/1.png","alt":"Latency"},{"src":"https://img/2.png","href":"https://grafana/d/2"},{"alt":"no source"}]}"#, || "g".into()).unwrap().signal;
        assert_eq!(
            pictured
                .links
                .iter()
                .map(|l| (l.href.as_str(), l.text.as_deref()))
                .collect::<Vec<_>>(),
            [
                ("https://img/1.png", Some("Latency")),
                ("https://grafana/d/2", Some("Image"))
            ]
        );
        assert!(!event.generated_key);
    }

    #[test]
    fn limits_count_characters_not_bytes() {
        let body = |key: &str, summary: &str| {
            serde_json::json!({"routing_key": "abc", "event_action": "trigger", "dedup_key": key,
                "payload": {"summary": summary, "source": "y", "severity": "info"}})
            .to_string()
        };
        // 255 characters of two bytes each: PagerDuty takes it.
        let key = "é".repeat(255);
        let event = parse(&body(&key, "x")).unwrap();
        assert_eq!(event.signal.dedup_key, key);
        let errors = parse(&body(&"é".repeat(256), "x")).unwrap_err();
        assert_eq!(errors[0].field, "dedup_key");
        // A summary is cut at 1,024 characters, not bytes.
        let event = parse(&body("k", &"警".repeat(1100))).unwrap();
        assert_eq!(event.signal.summary, "警".repeat(1024));
    }

    #[test]
    fn a_trigger_without_key_gets_one() {
        let event = parse(r#"{"routing_key":"abc","event_action":"trigger","payload":{"summary":"x","source":"y","severity":"info"}}"#).unwrap();
        assert_eq!(event.signal.dedup_key, "generated");
        assert!(event.generated_key);
    }

    #[test]
    fn every_problem_is_listed_with_its_field() {
        let errors =
            parse(r#"{"event_action":"trigger","payload":{"severity":"bad"}}"#).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "routing_key",
                "payload.summary",
                "payload.source",
                "payload.severity"
            ]
        );
        let errors = parse(r#"{"routing_key":"a","event_action":"resolve"}"#).unwrap_err();
        assert_eq!(errors[0].field, "dedup_key");
        let errors = parse(r#"{"routing_key":"a","event_action":"explode"}"#).unwrap_err();
        assert_eq!(errors[0].field, "event_action");
        assert!(parse("[1,2]").is_err());
        assert!(parse("{").is_err());
    }

    #[test]
    fn change_events_parse() {
        let change = parse_change(br#"{"routing_key":"k","payload":{"summary":"Deploy v42","source":"ci","timestamp":"2026-11-02T09:00:00+08:00","custom_details":{"sha":"abc"}},"links":[{"href":"https://ci/42"}]}"#).unwrap();
        assert_eq!(change.summary, "Deploy v42");
        assert_eq!(change.links.len(), 1);
        assert_eq!(
            parse_change(br#"{"routing_key":"k","payload":{}}"#).unwrap_err()[0].field,
            "payload.summary"
        );
    }
}
