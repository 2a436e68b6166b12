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

use crate::domain::alert::{Link, Signal};

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

/// Longest summary kept; longer ones are cut (PagerDuty's own limit).
pub const MAX_SUMMARY: usize = 1024;
/// Longest dedup key accepted (PagerDuty's own limit).
pub const MAX_DEDUP_KEY: usize = 255;

/// Parses JSON, or says where it broke.
pub fn parse_json(body: &[u8]) -> Result<Value, FormatError> {
    serde_json::from_slice(body)
        .map_err(|e| FormatError::new("", format!("the body is not valid JSON: {e}")))
}

/// Parses typed JSON, naming the field that did not fit.
pub fn parse_typed<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FormatError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            FormatError::new("", format!("the body is not valid JSON: {inner}"))
        } else {
            FormatError::new(
                if path == "." { String::new() } else { path },
                inner.to_string(),
            )
        }
    })
}

/// Cuts text to at most `max` bytes on a character boundary.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
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

/// A signal with only the required parts; parsers fill in the rest.
pub fn signal(action: crate::domain::alert::Action, dedup_key: String, summary: String) -> Signal {
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
