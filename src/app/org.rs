//! Applying the organisation config and reading it back.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{App, Error, Result};
use crate::config;
use crate::domain::event::{Actor, NewEvent, Subject};
use crate::domain::org::Org;
use crate::store::ConfigRevision;

/// What one applied config changed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ConfigApplied {
    pub revision: ConfigRevision,
    pub changes: Vec<ConfigChange>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ConfigChange {
    /// `organisation`, `person`, `team` or `service`.
    pub kind: String,
    pub name: String,
    pub id: i64,
    /// `created`, `updated`, `archived` or `restored`.
    pub change: String,
}

impl App {
    /// Validates config text and makes it the live organisation, in one
    /// transaction. Objects keep their ids (matched by kind and name);
    /// objects no longer declared are archived, not deleted. On any error
    /// nothing changes and every problem is returned.
    pub async fn apply_config(
        &self,
        actor: &Actor,
        file_name: &str,
        text: &str,
    ) -> Result<ConfigApplied> {
        let org = config::parse(file_name, text).map_err(Error::Config)?;
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let existing: BTreeMap<(String, String), _> = tx
            .config_objects()
            .await?
            .into_iter()
            .map(|o| ((o.kind.clone(), o.name.clone()), o))
            .collect();
        let mut changes = Vec::new();
        let mut declared = std::collections::BTreeSet::new();
        for (kind, name, spec) in org.to_objects() {
            declared.insert((kind.to_string(), name.clone()));
            let (id, change, before) = match existing.get(&(kind.to_string(), name.clone())) {
                None => (
                    tx.insert_config_object(now, kind, &name, &spec).await?,
                    "created",
                    None,
                ),
                Some(old) if old.archived => {
                    tx.update_config_object(old.id, now, &spec).await?;
                    (old.id, "restored", None)
                }
                Some(old) if old.spec != spec => {
                    tx.update_config_object(old.id, now, &spec).await?;
                    (old.id, "updated", Some(&old.spec))
                }
                Some(_) => continue,
            };
            let mut event =
                NewEvent::new(actor, &format!("{kind}.{change}"), Subject::new(kind, id))
                    .after(&spec);
            event.before = before.cloned();
            tx.append_event(now, event).await?;
            changes.push(ConfigChange {
                kind: kind.into(),
                name,
                id,
                change: change.into(),
            });
        }
        for (key, old) in &existing {
            if old.archived || declared.contains(key) {
                continue;
            }
            tx.archive_config_object(old.id, now).await?;
            tx.append_event(
                now,
                NewEvent::new(
                    actor,
                    &format!("{}.archived", old.kind),
                    Subject::new(&old.kind, old.id),
                )
                .before(&old.spec),
            )
            .await?;
            changes.push(ConfigChange {
                kind: old.kind.clone(),
                name: old.name.clone(),
                id: old.id,
                change: "archived".into(),
            });
        }
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        let applied_by = format!("{}:{}", actor.kind, actor.name);
        let revision = tx
            .insert_config_revision(now, text, file_name, &digest, &applied_by)
            .await?;
        tx.append_event(
            now,
            NewEvent::new(actor, "config.applied", Subject::new("config_revision", revision.id))
                .after(serde_json::json!({ "file_name": file_name, "digest": digest, "changes": changes.len() })),
        )
        .await?;
        tx.commit().await?;
        Ok(ConfigApplied { revision, changes })
    }

    /// The live organisation.
    pub async fn org(&self) -> Result<Org> {
        let objects = self.store.read().await?.config_objects().await?;
        let (org, broken) = Org::from_objects(&objects);
        if !broken.is_empty() {
            tracing::error!(
                ?broken,
                "config objects in the store could not be read; re-apply the config"
            );
        }
        Ok(org)
    }

    pub async fn latest_config_revision(&self) -> Result<Option<ConfigRevision>> {
        Ok(self.store.read().await?.latest_config_revision().await?)
    }
}
