//! Schedule overrides and calendar feed tokens.

use jiff::Timestamp;

use super::{Result, Tx, from_millis, to_millis, with_tx};
use crate::domain::schedule::Override;

/// An override as stored, with who took it and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct StoredOverride {
    pub id: i64,
    pub schedule: String,
    pub person: String,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    pub reason: String,
    pub created_by: String,
}

impl StoredOverride {
    pub fn to_override(&self) -> Override {
        Override {
            id: self.id,
            person: self.person.clone(),
            start: self.starts_at,
            end: self.ends_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct OverrideRow {
    id: i64,
    schedule: String,
    person: String,
    starts_at: i64,
    ends_at: i64,
    reason: String,
    created_by: String,
}

impl OverrideRow {
    fn into_override(self) -> StoredOverride {
        StoredOverride {
            id: self.id,
            schedule: self.schedule,
            person: self.person,
            starts_at: from_millis(self.starts_at),
            ends_at: from_millis(self.ends_at),
            reason: self.reason,
            created_by: self.created_by,
        }
    }
}

impl Tx {
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_override(
        &mut self,
        now: Timestamp,
        schedule: &str,
        person: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
        reason: &str,
        created_by: &str,
    ) -> Result<StoredOverride> {
        let row: OverrideRow = with_tx!(self, conn => {
            sqlx::query_as(
                "INSERT INTO schedule_overrides (schedule, person, starts_at, ends_at, reason, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 RETURNING id, schedule, person, starts_at, ends_at, reason, created_by",
            )
            .bind(schedule)
            .bind(person)
            .bind(to_millis(starts_at))
            .bind(to_millis(ends_at))
            .bind(reason)
            .bind(created_by)
            .bind(to_millis(now))
            .fetch_one(conn)
            .await?
        });
        Ok(row.into_override())
    }

    /// Live overrides of a schedule (all when `None`) overlapping `[from, to)`, oldest first.
    pub async fn overrides(
        &mut self,
        schedule: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredOverride>> {
        let rows: Vec<OverrideRow> = self
            .fetch_all_with(
                "SELECT id, schedule, person, starts_at, ends_at, reason, created_by FROM schedule_overrides
                 WHERE ($1 IS NULL OR schedule = $1) AND deleted_at IS NULL AND ends_at > $2 AND starts_at < $3
                 ORDER BY id",
                &[schedule.into(), to_millis(from).into(), to_millis(to).into()],
                |row| {
                    Ok(OverrideRow {
                        id: row.get(0)?,
                        schedule: row.get(1)?,
                        person: row.get(2)?,
                        starts_at: row.get(3)?,
                        ends_at: row.get(4)?,
                        reason: row.get(5)?,
                        created_by: row.get(6)?,
                    })
                },
            )
            .await?;
        Ok(rows.into_iter().map(OverrideRow::into_override).collect())
    }

    /// The live override `id` of `schedule`, if there is one.
    pub async fn live_override(
        &mut self,
        schedule: &str,
        id: i64,
    ) -> Result<Option<StoredOverride>> {
        let row: Option<OverrideRow> = with_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, schedule, person, starts_at, ends_at, reason, created_by FROM schedule_overrides
                 WHERE id = $1 AND schedule = $2 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(schedule)
            .fetch_optional(conn)
            .await?
        });
        Ok(row.map(OverrideRow::into_override))
    }

    /// Ends a live override that runs past `at` at `at`, keeping the part
    /// before; false when there is none (another writer ended or removed
    /// it first).
    pub async fn end_override(&mut self, id: i64, at: Timestamp) -> Result<bool> {
        let affected = with_tx!(self, conn => {
            sqlx::query("UPDATE schedule_overrides SET ends_at = $2 WHERE id = $1 AND deleted_at IS NULL AND ends_at > $2")
                .bind(id)
                .bind(to_millis(at))
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(affected == 1)
    }

    /// Removes an override; false when there is no live one with this id.
    pub async fn delete_override(
        &mut self,
        schedule: &str,
        id: i64,
        now: Timestamp,
    ) -> Result<bool> {
        let affected = with_tx!(self, conn => {
            sqlx::query("UPDATE schedule_overrides SET deleted_at = $3 WHERE id = $1 AND schedule = $2 AND deleted_at IS NULL")
                .bind(id)
                .bind(schedule)
                .bind(to_millis(now))
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(affected == 1)
    }

    /// Makes the feed token of a schedule or person from `fresh` unless it
    /// has one; true when it was made.
    pub async fn ensure_feed_token(
        &mut self,
        now: Timestamp,
        kind: &str,
        name: &str,
        fresh: &str,
    ) -> Result<bool> {
        let made = with_tx!(self, conn => {
            sqlx::query("INSERT INTO feed_tokens (kind, name, token, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                .bind(kind)
                .bind(name)
                .bind(fresh)
                .bind(to_millis(now))
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(made == 1)
    }

    /// The feed token of a schedule or person, if it has one.
    /// Forgets the feeds of `kind` whose names are not in `keep` (their
    /// schedule or person left the config), so a URL that once leaked does
    /// not come back with a name declared again; returns how many.
    pub async fn forget_feed_tokens_except(&mut self, kind: &str, keep: &[&str]) -> Result<u64> {
        let names: Vec<String> = with_tx!(self, conn => {
            sqlx::query_scalar("SELECT name FROM feed_tokens WHERE kind = $1")
                .bind(kind)
                .fetch_all(conn)
                .await?
        });
        let mut forgotten = 0;
        for name in names.iter().filter(|n| !keep.contains(&n.as_str())) {
            forgotten += with_tx!(self, conn => {
                sqlx::query("DELETE FROM feed_tokens WHERE kind = $1 AND name = $2")
                    .bind(kind)
                    .bind(name)
                    .execute(conn)
                    .await?
                    .rows_affected()
            });
        }
        Ok(forgotten)
    }

    pub async fn feed_token(&mut self, kind: &str, name: &str) -> Result<Option<String>> {
        let token: Option<String> = with_tx!(self, conn => {
            sqlx::query_scalar("SELECT token FROM feed_tokens WHERE kind = $1 AND name = $2")
                .bind(kind)
                .bind(name)
                .fetch_optional(conn)
                .await?
        });
        Ok(token)
    }

    /// Puts `fresh` in place of a feed's token (making it if there was
    /// none): the old URL stops working at once.
    pub async fn replace_feed_token(
        &mut self,
        now: Timestamp,
        kind: &str,
        name: &str,
        fresh: &str,
    ) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO feed_tokens (kind, name, token, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind, name) DO UPDATE SET token = excluded.token, created_at = excluded.created_at",
            )
            .bind(kind)
            .bind(name)
            .bind(fresh)
            .bind(to_millis(now))
            .execute(conn)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// What a feed token opens: (kind, name).
    pub async fn feed_by_token(&mut self, token: &str) -> Result<Option<(String, String)>> {
        let found: Option<(String, String)> = with_tx!(self, conn => {
            sqlx::query_as("SELECT kind, name FROM feed_tokens WHERE token = $1")
                .bind(token)
                .fetch_optional(conn)
                .await?
        });
        Ok(found)
    }
}
