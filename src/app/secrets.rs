//! The webhook signing secret, for admins: receivers need it to check the
//! `X-Siaga-Signature` of what siaga sends them, and rotating it is how a
//! leaked secret is taken out of use. Never written to the event log.

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

impl App {
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
        Ok(SigningSecret {
            secret,
            created_at: now,
        })
    }
}
