//! The append-only event log.

use jiff::Timestamp;

use super::{Result, Tx, WriteSet, from_millis, to_millis, with_tx};
use crate::domain::event::{Actor, Event, NewEvent, Subject};

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    id: i64,
    at: i64,
    actor_kind: String,
    actor_name: String,
    action: String,
    subject_kind: String,
    subject_id: String,
    before_state: Option<String>,
    after_state: Option<String>,
}

impl EventRow {
    pub(super) fn into_event(self) -> Event {
        let parse = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
        Event {
            id: self.id,
            at: from_millis(self.at),
            actor: Actor {
                kind: self.actor_kind,
                name: self.actor_name,
            },
            action: self.action,
            subject: Subject {
                kind: self.subject_kind,
                id: self.subject_id,
            },
            before: parse(self.before_state),
            after: parse(self.after_state),
        }
    }
}

/// Which events to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub subject_kind: Option<String>,
    pub subject_id: Option<String>,
    /// Only events older than this id (the cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

pub(super) const EVENT_COLUMNS: &str =
    "id, at, actor_kind, actor_name, action, subject_kind, subject_id, before_state, after_state";

impl Tx {
    pub async fn append_event(&mut self, at: Timestamp, event: NewEvent) -> Result<Event> {
        let before = event.before;
        let after = event.after;
        let row: EventRow = with_tx!(self, conn => {
            sqlx::query_as(
                "INSERT INTO events (at, actor_kind, actor_name, action, subject_kind, subject_id, before_state, after_state)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 RETURNING id, at, actor_kind, actor_name, action, subject_kind, subject_id, before_state, after_state",
            )
            .bind(to_millis(at))
            .bind(&event.actor.kind)
            .bind(&event.actor.name)
            .bind(&event.action)
            .bind(&event.subject.kind)
            .bind(&event.subject.id)
            .bind(before)
            .bind(after)
            .fetch_one(conn)
            .await?
        });
        Ok(row.into_event())
    }

    /// Appends events in the order given, all at `at`.
    pub async fn append_events(&mut self, at: Timestamp, events: &[NewEvent]) -> Result<()> {
        let mut writes = self.writes();
        writes.events(at, events);
        self.apply(writes).await
    }

    /// Events matching the filter, newest first, at most `limit + 1` of them
    /// (the extra one tells the caller there is a next page).
    pub async fn list_events(&mut self, filter: &EventFilter) -> Result<Vec<Event>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE ($1 IS NULL OR subject_kind = $1)
               AND ($2 IS NULL OR subject_id = $2)
               AND ($3 IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4"
        );
        let rows: Vec<EventRow> = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(filter.subject_kind.as_deref())
                .bind(filter.subject_id.as_deref())
                .bind(filter.before_id)
                .bind(i64::from(filter.limit) + 1)
                .fetch_all(conn)
                .await?
        });
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }

    /// Events appended after `after_id`, oldest first: what a live view that
    /// has seen up to `after_id` is missing.
    pub async fn events_after(&mut self, after_id: i64, limit: u32) -> Result<Vec<Event>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2");
        let rows: Vec<EventRow> = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(after_id)
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await?
        });
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }
}

impl<'a> WriteSet<'a> {
    /// Appends events in the order given, all at `at`.
    pub fn events(&mut self, at: Timestamp, events: &'a [NewEvent]) {
        self.insert(
            "events",
            "at, actor_kind, actor_name, action, subject_kind, subject_id, before_state, after_state",
            events,
            "",
            |row, event| {
                row.column(to_millis(at))
                    .column(event.actor.kind.as_str())
                    .column(event.actor.name.as_str())
                    .column(event.action.as_str())
                    .column(event.subject.kind.as_str())
                    .column(event.subject.id.as_str())
                    .column(event.before.as_deref())
                    .column(event.after.as_deref());
            },
        );
    }
}
