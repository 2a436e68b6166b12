//! Reading the event log.

use super::{App, Error, Result};
use crate::domain::event::Event;
use crate::domain::page::{DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_from};
use crate::store::EventFilter;

/// Which events to read.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub subject_kind: Option<String>,
    pub subject_id: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

impl App {
    /// A page of the event log, newest first.
    pub async fn events(&self, query: EventQuery) -> Result<Page<Event>> {
        let limit = page_limit(query.limit)?;
        let before_id = match &query.cursor {
            Some(cursor) => Some(
                decode_cursor(cursor)
                    .and_then(|c| c.parse::<i64>().ok())
                    .ok_or_else(|| {
                        Error::invalid(
                            "invalid_cursor",
                            "cursor",
                            "the cursor is not one this server gave out",
                        )
                    })?,
            ),
            None => None,
        };
        let filter = EventFilter {
            subject_kind: query.subject_kind,
            subject_id: query.subject_id,
            before_id,
            limit,
        };
        let events = self.store.read().await?.list_events(&filter).await?;
        Ok(page_from(events, limit, |e| e.id.to_string()))
    }
}

/// Checks a requested page size, defaulting when absent.
pub fn page_limit(limit: Option<u32>) -> Result<u32> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(
            "invalid_limit",
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}
