//! Applying the organisation config and reading it back.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{App, Error, Result};
use crate::config;
use crate::domain::event::{Actor, NewEvent, Subject};
use crate::domain::org::{Org, SERVICE_KIND};
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
        let mut org = parse_off_runtime(file_name, text).await?;
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        // Two replicas applying at once would each archive from a stale view.
        tx.lock("config.apply").await?;
        let existing: BTreeMap<(String, String), _> = tx
            .config_objects()
            .await?
            .into_iter()
            .map(|o| ((o.kind.clone(), o.name.clone()), o))
            .collect();
        keep_integration_keys(&mut org, &existing);
        let mut changes = Vec::new();
        let mut declared = std::collections::BTreeSet::new();
        // Services of windows edited (ended earlier, moved to another
        // service): checked now for groups no window holds any more.
        let mut edited_windows = Vec::new();
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
                    if kind == crate::domain::org::MAINTENANCE_KIND
                        && let Some(service) = old.spec["service"].as_str()
                    {
                        edited_windows.push(service.to_string());
                    }
                    tx.update_config_object(old.id, now, &spec).await?;
                    (old.id, "updated", Some(&old.spec))
                }
                Some(_) => continue,
            };
            let mut event =
                NewEvent::new(actor, &format!("{kind}.{change}"), Subject::new(kind, id))
                    .after(redact(&spec));
            if let Some(before) = before {
                event = event.before(redact(before));
            }
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
                .before(redact(&old.spec)),
            )
            .await?;
            changes.push(ConfigChange {
                kind: old.kind.clone(),
                name: old.name.clone(),
                id: old.id,
                change: "archived".into(),
            });
        }
        // Calendar feeds get their secret URLs with the config that declares
        // their schedules and people, so that reading a feed URL never writes.
        let feeds = org
            .schedules
            .iter()
            .map(|s| (super::schedules::SCHEDULE_FEED, &s.name))
            .chain(
                org.people
                    .iter()
                    .map(|p| (super::schedules::PERSON_FEED, &p.handle)),
            );
        let mut feeds_made = 0;
        for (kind, name) in feeds {
            if tx
                .ensure_feed_token(now, kind, name, &super::auth::random_secret())
                .await?
            {
                feeds_made += 1;
            }
        }
        // A window's end pages for what it kept quiet; one removed from the
        // file, or edited, is checked now.
        let removed_windows = existing.values().filter(|old| {
            old.kind == crate::domain::org::MAINTENANCE_KIND
                && !old.archived
                && !declared.contains(&(old.kind.clone(), old.name.clone()))
        });
        let ends = org
            .maintenance
            .iter()
            .filter(|w| w.ends_at > now)
            .map(|w| (w.service.clone(), w.ends_at))
            .chain(removed_windows.filter_map(|old| {
                let service = old.spec["service"].as_str()?;
                Some((service.to_string(), now))
            }))
            .chain(edited_windows.into_iter().map(|service| (service, now)));
        for (service, at) in ends {
            tx.enqueue_job(now, &super::escalation::maintenance_end_job(&service, at))
                .await?;
        }
        let schedules: Vec<&str> = org.schedules.iter().map(|s| s.name.as_str()).collect();
        let people: Vec<&str> = org.people.iter().map(|p| p.handle.as_str()).collect();
        // An override of someone the file no longer has (or on a schedule it
        // no longer has) would keep them on call, and their pages would
        // reach nobody: it goes, and the layers take over.
        for stale in tx.overrides(None, now, jiff::Timestamp::MAX).await? {
            if people.contains(&stale.person.as_str())
                && schedules.contains(&stale.schedule.as_str())
            {
                continue;
            }
            tx.delete_override(&stale.schedule, stale.id, now).await?;
            tx.append_event(
                now,
                NewEvent::new(
                    actor,
                    "schedule_override.deleted",
                    Subject::new("schedule_override", stale.id),
                )
                .before(&stale)
                .after(serde_json::json!({ "reason": "its person or schedule left the config" })),
            )
            .await?;
        }
        tx.forget_feed_tokens_except(super::schedules::SCHEDULE_FEED, &schedules)
            .await?;
        tx.forget_feed_tokens_except(super::schedules::PERSON_FEED, &people)
            .await?;
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        let applied_by = format!("{}:{}", actor.kind, actor.name);
        let revision = tx
            .insert_config_revision(
                now,
                &redact_source(text, &org),
                file_name,
                &digest,
                &applied_by,
            )
            .await?;
        tx.append_event(
            now,
            NewEvent::new(
                actor,
                "config.applied",
                Subject::new("config_revision", revision.id),
            )
            .after(serde_json::json!({
                "file_name": file_name, "digest": digest, "changes": changes.len(),
                "calendar_feeds_made": feeds_made,
            })),
        )
        .await?;
        tx.commit().await?;
        // Read again at once, so this replica acts on what it applied; a
        // reader that read the old version meanwhile can no longer put it
        // back (the cache keeps the newest version).
        self.org_checked_within(std::time::Duration::ZERO).await?;
        Ok(ConfigApplied { revision, changes })
    }

    /// The live organisation.
    pub async fn org(&self) -> Result<Org> {
        Ok(self.org_snapshot().await?.as_ref().clone())
    }

    /// The live organisation, shared. Hot paths (ingestion, escalation)
    /// call this all the time: the org is read from the store only when a
    /// config apply changed it, which is checked at most once a second, so
    /// other replicas' applies show up within a second.
    pub async fn org_snapshot(&self) -> Result<std::sync::Arc<Org>> {
        self.org_checked_within(std::time::Duration::from_secs(1))
            .await
    }

    /// The live organisation, its version compared with the store's unless
    /// that was done within `age`: zero for a decision that must see an
    /// apply that just committed (a window the file just removed).
    pub(crate) async fn org_checked_within(
        &self,
        age: std::time::Duration,
    ) -> Result<std::sync::Arc<Org>> {
        let now = std::time::Instant::now();
        let cached = self
            .org_cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(cached) = &cached
            && now.duration_since(cached.checked) < age
        {
            return Ok(cached.org.clone());
        }
        let mut tx = self.store.read().await?;
        let version = tx.config_version().await?;
        let org = match cached {
            Some(cached) if cached.version == version => cached.org,
            _ => {
                let objects = tx.config_objects().await?;
                let (org, broken) = Org::from_objects(&objects);
                if !broken.is_empty() {
                    tracing::error!(
                        ?broken,
                        "config objects in the store could not be read; re-apply the config"
                    );
                }
                std::sync::Arc::new(org)
            }
        };
        let mut cache = self.org_cache.write().unwrap_or_else(|e| e.into_inner());
        // A read from before an apply that finished meanwhile must not put
        // the older org back.
        if cache.as_ref().is_none_or(|kept| kept.version <= version) {
            *cache = Some(super::OrgSnapshot {
                checked: now,
                version,
                org: org.clone(),
            });
        }
        Ok(org)
    }

    pub async fn latest_config_revision(&self) -> Result<Option<ConfigRevision>> {
        Ok(self.store.read().await?.latest_config_revision().await?)
    }
}

/// Integrations declared without a key keep the key they were given on an
/// earlier apply; new ones get a fresh one (32 hex characters, the shape of
/// a PagerDuty routing key, so clients that check it are satisfied).
fn keep_integration_keys(
    org: &mut Org,
    existing: &BTreeMap<(String, String), crate::domain::org::ConfigObject>,
) {
    // A key the file now gives another integration is that one's: the
    // integration it came from gets a new one.
    let written: std::collections::HashSet<String> = org
        .services
        .iter()
        .flat_map(|s| s.integrations.iter().filter_map(|i| i.key.clone()))
        .collect();
    for service in &mut org.services {
        // An archived service's keys are not brought back with it: they
        // were taken out of use, perhaps because they leaked.
        let stored = existing
            .get(&(SERVICE_KIND.to_string(), service.name.clone()))
            .filter(|object| !object.archived);
        for integration in service.integrations.iter_mut().filter(|i| i.key.is_none()) {
            let kept = stored.and_then(|object| {
                object.spec["integrations"]
                    .as_array()?
                    .iter()
                    .find(|i| i["name"] == integration.name.as_str())?["key"]
                    .as_str()
                    .map(str::to_string)
            });
            let kept = kept.filter(|key| !written.contains(key));
            integration.key = Some(kept.unwrap_or_else(generate_integration_key));
        }
    }
}

fn generate_integration_key() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

/// Parses config on a blocking thread: a large file takes real CPU time,
/// which must not stall the async workers serving requests.
pub async fn parse_off_runtime(file_name: &str, text: &str) -> Result<Org> {
    let (file_name, text) = (file_name.to_string(), text.to_string());
    tokio::task::spawn_blocking(move || config::parse(&file_name, &text))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("config validation stopped: {e}")))?
        .map_err(Error::Config)
}

/// A config spec fit for the append-only event log: integration keys and
/// signing secrets are replaced, since the log can never be rewritten.
fn redact(spec: &serde_json::Value) -> serde_json::Value {
    let mut spec = spec.clone();
    if let Some(integrations) = spec.get_mut("integrations").and_then(|i| i.as_array_mut()) {
        for integration in integrations {
            for secret in ["key", "signing_secret"] {
                if let Some(value) = integration.get_mut(secret).filter(|v| !v.is_null()) {
                    *value = serde_json::Value::String("[redacted]".into());
                }
            }
        }
    }
    redact_channel_urls(&mut spec);
    spec
}

/// The file as applied, for the revision, without the secrets it holds:
/// integration keys and signing secrets, and the paths of webhook, Slack
/// and Teams addresses. (The digest is of the file as it was.)
fn redact_source(text: &str, org: &Org) -> String {
    use crate::domain::org::ContactKind;
    let mut text = text.to_string();
    let secrets = org
        .services
        .iter()
        .flat_map(|s| &s.integrations)
        .flat_map(|i| [&i.key, &i.signing_secret])
        .flatten();
    // Too short a value would redact ordinary words along with it.
    for secret in secrets.filter(|s| s.len() >= 8) {
        text = text.replace(secret.as_str(), "[redacted]");
    }
    let mut channels: Vec<&str> = org
        .people
        .iter()
        .flat_map(|p| &p.contact_methods)
        .chain(org.incidents.severities.iter().flat_map(|s| &s.chat))
        .filter(|m| {
            matches!(
                m.kind,
                ContactKind::Webhook | ContactKind::Slack | ContactKind::Teams
            )
        })
        .map(|m| m.address.as_str())
        .collect();
    // Longest first: one address may begin another.
    channels.sort_by_key(|address| std::cmp::Reverse(address.len()));
    for address in channels {
        text = text.replace(address, &crate::domain::org::url_origin(address));
    }
    text
}

/// Webhook, Slack and Teams addresses, wherever they are (people's contact
/// methods, incident chat channels), cut to their origin: whoever holds
/// such a URL can post to the channel.
fn redact_channel_urls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let channel = map
                .get("type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| matches!(t, "webhook" | "slack" | "teams"));
            if channel && let Some(serde_json::Value::String(address)) = map.get_mut("address") {
                *address = crate::domain::org::url_origin(address);
            }
            map.values_mut().for_each(redact_channel_urls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_channel_urls),
        _ => {}
    }
}
