//! Secrets the server makes for itself (the key signing outgoing webhooks,
//! the key signing acknowledge links), and the webhook signing secret for
//! admins: receivers need it to check the `X-Siaga-Signature` of what siaga
//! sends them, and rotating it is how a leaked secret is taken out of use.
//! Never written to the event log.

use jiff::Timestamp;

use super::escalation::WEBHOOK_SECRET;
use super::{App, Caller, Result};
use crate::domain::auth::Role;
use crate::domain::event::{NewEvent, Subject};

/// The secret outgoing webhooks are signed with, and since when.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SigningSecret {
    /// The HMAC-SHA256 key, as text: sign `TIMESTAMP.BODY` with its UTF-8 bytes.
    pub secret: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// How long a secret read from the store is used without reading it again:
/// a rotation on another replica takes effect here within this.
const SECRET_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(1);

impl App {
    /// A server secret, made the first time it is asked for. Read on every
    /// escalation step and delivery, so kept in memory for a moment.
    pub(crate) async fn secret(&self, name: &'static str) -> anyhow::Result<String> {
        if let Some(cached) = self
            .secrets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            && cached.read_at.elapsed() < SECRET_FRESH_FOR
        {
            return Ok(cached.value.clone());
        }
        let stored = self.store.read().await?.read_server_secret(name).await?;
        let (value, created_at) = match stored {
            Some(found) => found,
            None => {
                let now = self.clock.now();
                let mut tx = self.store.write().await?;
                let value = tx
                    .server_secret(now, name, &super::auth::random_secret())
                    .await?;
                tx.commit().await?;
                (value, now)
            }
        };
        self.remember_secret(name, &value, created_at);
        Ok(value)
    }

    /// Keeps a secret read or made at `created_at`, unless a newer one (a
    /// rotation that committed meanwhile) is kept already. The same secret
    /// read again is kept afresh, whatever its time says.
    fn remember_secret(&self, name: &'static str, value: &str, created_at: Timestamp) {
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        if secrets
            .get(name)
            .is_some_and(|kept| kept.value != value && kept.created_at > created_at)
        {
            return;
        }
        secrets.insert(
            name,
            super::KeptSecret {
                value: value.to_string(),
                created_at,
                read_at: std::time::Instant::now(),
            },
        );
    }

    /// The webhook signing secret (admin). It is made on first use, and a
    /// receiver being set up before the first delivery is such a use.
    pub async fn webhook_signing_secret(&self, caller: &Caller) -> Result<SigningSecret> {
        caller.require(Role::Admin)?;
        let stored = self
            .store
            .read()
            .await?
            .read_server_secret(WEBHOOK_SECRET)
            .await?;
        let (secret, created_at) = match stored {
            Some(found) => found,
            None => {
                self.webhook_secret().await?;
                self.store
                    .read()
                    .await?
                    .read_server_secret(WEBHOOK_SECRET)
                    .await?
                    .ok_or_else(|| {
                        anyhow::anyhow!("the webhook secret vanished after being made")
                    })?
            }
        };
        Ok(SigningSecret { secret, created_at })
    }

    /// Replaces the webhook signing secret (admin): every delivery from now
    /// on, on every replica, is signed with the new one.
    pub async fn rotate_webhook_signing_secret(&self, caller: &Caller) -> Result<SigningSecret> {
        caller.require(Role::Admin)?;
        let now = self.clock.now();
        let secret = super::auth::random_secret();
        let mut tx = self.store.write().await?;
        tx.replace_server_secret(now, WEBHOOK_SECRET, &secret)
            .await?;
        // The log is append-only and readable by every admin: it records
        // that the secret changed, never the secret.
        tx.append_event(
            now,
            NewEvent::new(
                &caller.actor(),
                "server_secret.rotated",
                Subject::new("server_secret", WEBHOOK_SECRET),
            )
            .after(serde_json::json!({ "name": WEBHOOK_SECRET, "created_at": now })),
        )
        .await?;
        tx.commit().await?;
        // The new secret is used from now on here; a read from before the
        // rotation cannot put the old one back (it is older).
        self.remember_secret(WEBHOOK_SECRET, &secret, now);
        Ok(SigningSecret {
            secret,
            created_at: now,
        })
    }
}
