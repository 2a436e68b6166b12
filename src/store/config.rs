//! The applied organisation config: one row per object, and the history of
//! applied files.

use jiff::Timestamp;

use super::{Result, Tx, from_millis, to_millis, with_tx};
use crate::domain::org::ConfigObject;

#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ConfigRevision {
    pub id: i64,
    pub file_name: String,
    /// SHA-256 of the source text.
    pub digest: String,
    pub applied_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub applied_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct ObjectRow {
    id: i64,
    kind: String,
    name: String,
    spec: String,
    archived_at: Option<i64>,
}

impl Tx {
    /// All config objects, archived ones included, in id order.
    pub async fn config_objects(&mut self) -> Result<Vec<ConfigObject>> {
        let rows: Vec<ObjectRow> = with_tx!(self, conn => {
            sqlx::query_as("SELECT id, kind, name, spec, archived_at FROM config_objects ORDER BY id")
                .fetch_all(conn)
                .await?
        });
        rows.into_iter()
            .map(|row| {
                let spec = serde_json::from_str(&row.spec).map_err(|e| {
                    anyhow::anyhow!(
                        "config object {} ({} {}) has a malformed spec: {e}",
                        row.id,
                        row.kind,
                        row.name
                    )
                })?;
                Ok(ConfigObject {
                    id: row.id,
                    kind: row.kind,
                    name: row.name,
                    spec,
                    archived: row.archived_at.is_some(),
                })
            })
            .collect()
    }

    pub async fn insert_config_object(
        &mut self,
        now: Timestamp,
        kind: &str,
        name: &str,
        spec: &serde_json::Value,
    ) -> Result<i64> {
        let id: i64 = with_tx!(self, conn => {
            sqlx::query_scalar(
                "INSERT INTO config_objects (kind, name, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
            )
            .bind(kind)
            .bind(name)
            .bind(spec.to_string())
            .bind(to_millis(now))
            .fetch_one(conn)
            .await?
        });
        Ok(id)
    }

    /// Replaces an object's spec and restores it if it was archived.
    pub async fn update_config_object(
        &mut self,
        id: i64,
        now: Timestamp,
        spec: &serde_json::Value,
    ) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query("UPDATE config_objects SET spec = $2, archived_at = NULL, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(spec.to_string())
                .bind(to_millis(now))
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    pub async fn archive_config_object(&mut self, id: i64, now: Timestamp) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query("UPDATE config_objects SET archived_at = $2, updated_at = $2 WHERE id = $1")
                .bind(id)
                .bind(to_millis(now))
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    pub async fn insert_config_revision(
        &mut self,
        now: Timestamp,
        source: &str,
        file_name: &str,
        digest: &str,
        applied_by: &str,
    ) -> Result<ConfigRevision> {
        let id: i64 = with_tx!(self, conn => {
            sqlx::query_scalar(
                "INSERT INTO config_revisions (source, file_name, digest, applied_by, applied_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(source)
            .bind(file_name)
            .bind(digest)
            .bind(applied_by)
            .bind(to_millis(now))
            .fetch_one(conn)
            .await?
        });
        Ok(ConfigRevision {
            id,
            file_name: file_name.into(),
            digest: digest.into(),
            applied_by: applied_by.into(),
            applied_at: now,
        })
    }

    /// The id of the latest config revision: it changes with every apply,
    /// and so tells whether the organisation changed. 0 before the first.
    pub async fn config_version(&mut self) -> Result<i64> {
        let id: Option<i64> = with_tx!(self, conn => {
            sqlx::query_scalar("SELECT MAX(id) FROM config_revisions").fetch_one(conn).await?
        });
        Ok(id.unwrap_or(0))
    }

    pub async fn latest_config_revision(&mut self) -> Result<Option<ConfigRevision>> {
        let row: Option<(i64, String, String, String, i64)> = with_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, file_name, digest, applied_by, applied_at FROM config_revisions ORDER BY id DESC LIMIT 1",
            )
            .fetch_optional(conn)
            .await?
        });
        Ok(row.map(
            |(id, file_name, digest, applied_by, applied_at)| ConfigRevision {
                id,
                file_name,
                digest,
                applied_by,
                applied_at: from_millis(applied_at),
            },
        ))
    }
}
