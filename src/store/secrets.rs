//! Secrets the server makes for itself (the key that signs outgoing
//! webhooks, the key that signs acknowledge links), shared by every
//! replica through the database.

use jiff::Timestamp;

use super::{Result, Tx, from_millis, to_millis, with_tx};

impl Tx {
    /// A server-wide secret, made from `fresh` the first time it is asked for.
    pub async fn server_secret(
        &mut self,
        now: Timestamp,
        name: &str,
        fresh: &str,
    ) -> Result<String> {
        with_tx!(self, conn => {
            sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(name)
                .bind(fresh)
                .bind(to_millis(now))
                .execute(conn)
                .await?
                .rows_affected()
        });
        let value: String = with_tx!(self, conn => {
            sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1").bind(name).fetch_one(conn).await?
        });
        Ok(value)
    }

    /// A server secret and when it was made, if it has been made yet.
    pub async fn read_server_secret(&mut self, name: &str) -> Result<Option<(String, Timestamp)>> {
        let row: Option<(String, i64)> = with_tx!(self, conn => {
            sqlx::query_as("SELECT value, created_at FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(conn)
                .await?
        });
        Ok(row.map(|(value, created_at)| (value, from_millis(created_at))))
    }

    /// Puts `value` in place of a server secret (making it if it did not
    /// exist): the old value stops working at once, on every replica.
    pub async fn replace_server_secret(
        &mut self,
        now: Timestamp,
        name: &str,
        value: &str,
    ) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
            )
            .bind(name)
            .bind(value)
            .bind(to_millis(now))
            .execute(conn)
            .await?
            .rows_affected()
        });
        Ok(())
    }
}
