//! The event log: every change to state is one append-only event. The audit
//! log, and later the incident timeline and live page updates, are views of it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who caused a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// `user`, `token`, `system` or `config`.
    pub kind: String,
    /// The user's email, the token's name, or the subsystem.
    pub name: String,
}

impl Actor {
    pub fn system(subsystem: &str) -> Self {
        Self {
            kind: "system".into(),
            name: subsystem.into(),
        }
    }

    pub fn user(email: &str) -> Self {
        Self {
            kind: "user".into(),
            name: email.into(),
        }
    }
}

/// What a change was about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Subject {
    /// `service`, `team`, `person`, `user`, `api_token`, `config`, …
    pub kind: String,
    /// The subject's stable id, as text.
    pub id: String,
}

impl Subject {
    pub fn new(kind: &str, id: impl ToString) -> Self {
        Self {
            kind: kind.into(),
            id: id.to_string(),
        }
    }
}

/// An event about to be appended.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub actor: Actor,
    /// Dotted verb, e.g. `service.created`, `api_token.revoked`.
    pub action: String,
    pub subject: Subject,
    /// The subject's state before and after, as JSON text: serialized once,
    /// straight to the text the log stores.
    pub before: Option<String>,
    pub after: Option<String>,
}

impl NewEvent {
    pub fn new(actor: &Actor, action: &str, subject: Subject) -> Self {
        Self {
            actor: actor.clone(),
            action: action.into(),
            subject,
            before: None,
            after: None,
        }
    }

    pub fn before(mut self, value: impl Serialize) -> Self {
        self.before = serde_json::to_string(&value).ok();
        self
    }

    pub fn after(mut self, value: impl Serialize) -> Self {
        self.after = serde_json::to_string(&value).ok();
        self
    }
}

/// An event as stored, with its place in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// Increases with every append; the order of the log.
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: Actor,
    pub action: String,
    pub subject: Subject,
    pub before: Option<Value>,
    pub after: Option<Value>,
}
