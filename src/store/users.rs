//! Login accounts, their API tokens and their web sessions. Secrets are
//! stored only as digests (see `domain::auth::secret_digest`).

use jiff::Timestamp;

use super::{Result, StoreError, Tx, from_millis, to_millis, with_tx};
use crate::domain::auth::Role;

#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    #[serde(skip)]
    pub password_hash: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The token acts with this role (never more than its user's).
    pub role: Role,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub csrf_token: String,
    pub expires_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    password_hash: Option<String>,
    created_at: i64,
}

impl UserRow {
    fn into_user(self) -> Result<User> {
        let role = Role::parse(&self.role).ok_or_else(|| {
            StoreError::Other(anyhow::anyhow!(
                "user {} has unknown role {:?}",
                self.id,
                self.role
            ))
        })?;
        Ok(User {
            id: self.id,
            email: self.email,
            name: self.name,
            role,
            password_hash: self.password_hash,
            created_at: from_millis(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    user_id: i64,
    name: String,
    role: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TokenRow {
    fn into_token(self) -> ApiToken {
        ApiToken {
            id: self.id,
            user_id: self.user_id,
            name: self.name,
            // An unknown role in the row must not grant anything.
            role: Role::parse(&self.role).unwrap_or(Role::Viewer),
            created_at: from_millis(self.created_at),
            last_used_at: self.last_used_at.map(from_millis),
            revoked_at: self.revoked_at.map(from_millis),
        }
    }
}

const USER_COLUMNS: &str = "id, email, name, role, password_hash, created_at";
const TOKEN_COLUMNS: &str = "id, user_id, name, role, created_at, last_used_at, revoked_at";

impl Tx {
    pub async fn user_count(&mut self) -> Result<i64> {
        let count: i64 = with_tx!(self, conn => {
            sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(conn).await?
        });
        Ok(count)
    }

    /// Creates a user; `Conflict` when the email is taken.
    pub async fn insert_user(
        &mut self,
        now: Timestamp,
        email: &str,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
    ) -> Result<User> {
        let sql = format!(
            "INSERT INTO users (email, name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING {USER_COLUMNS}"
        );
        let row: UserRow = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(email)
                .bind(name)
                .bind(role.as_str())
                .bind(password_hash)
                .bind(to_millis(now))
                .fetch_one(conn)
                .await
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("a user with email {email} already exists")),
                    other => other,
                })?
        });
        row.into_user()
    }

    pub async fn set_password(&mut self, user_id: i64, password_hash: &str) -> Result<()> {
        let affected = with_tx!(self, conn => {
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user_id)
                .bind(password_hash)
                .execute(conn)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn user(&mut self, id: i64) -> Result<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND disabled_at IS NULL");
        let row: UserRow = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(conn).await?
        });
        row.into_user()
    }

    /// An enabled user, locked until the transaction ends.
    pub async fn user_for_update(&mut self, id: i64) -> Result<User> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND disabled_at IS NULL{}",
            self.row_lock()
        );
        let row: UserRow = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(conn).await?
        });
        row.into_user()
    }

    pub async fn user_by_email(&mut self, email: &str) -> Result<User> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1 AND disabled_at IS NULL");
        let row: UserRow = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(email).fetch_one(conn).await?
        });
        row.into_user()
    }

    pub async fn list_users(&mut self) -> Result<Vec<User>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE disabled_at IS NULL ORDER BY email");
        let rows: Vec<UserRow> = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(conn).await?
        });
        rows.into_iter().map(UserRow::into_user).collect()
    }

    pub async fn insert_api_token(
        &mut self,
        now: Timestamp,
        user_id: i64,
        name: &str,
        role: Role,
        secret_hash: &str,
    ) -> Result<ApiToken> {
        let sql = format!(
            "INSERT INTO api_tokens (user_id, name, role, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING {TOKEN_COLUMNS}"
        );
        let row: TokenRow = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(user_id)
                .bind(name)
                .bind(role.as_str())
                .bind(secret_hash)
                .bind(to_millis(now))
                .fetch_one(conn)
                .await?
        });
        Ok(row.into_token())
    }

    /// The live (not revoked) token with this secret digest, with its user.
    pub async fn api_token_by_secret(&mut self, secret_hash: &str) -> Result<(ApiToken, User)> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE secret_hash = $1 AND revoked_at IS NULL"
        );
        let token: TokenRow = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(secret_hash).fetch_one(conn).await?
        });
        let user = self.user(token.user_id).await?;
        Ok((token.into_token(), user))
    }

    pub async fn touch_api_token(&mut self, id: i64, now: Timestamp) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(id)
                .bind(to_millis(now))
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    pub async fn api_token(&mut self, id: i64) -> Result<ApiToken> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1");
        let row: TokenRow = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(conn).await?
        });
        Ok(row.into_token())
    }

    /// Tokens of one user, or of everyone when `user_id` is `None`.
    pub async fn list_api_tokens(&mut self, user_id: Option<i64>) -> Result<Vec<ApiToken>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE ($1 IS NULL OR user_id = $1) ORDER BY id"
        );
        let rows: Vec<TokenRow> = with_tx!(self, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(conn).await?
        });
        Ok(rows.into_iter().map(TokenRow::into_token).collect())
    }

    /// Revokes a token; false when it was already revoked.
    pub async fn revoke_api_token(&mut self, id: i64, now: Timestamp) -> Result<bool> {
        let affected = with_tx!(self, conn => {
            sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(to_millis(now))
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(affected == 1)
    }

    pub async fn insert_session(
        &mut self,
        now: Timestamp,
        user_id: i64,
        secret_hash: &str,
        csrf_token: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO sessions (secret_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(secret_hash)
            .bind(user_id)
            .bind(csrf_token)
            .bind(to_millis(now))
            .bind(to_millis(expires_at))
            .execute(conn)
            .await?
                .rows_affected()
        });
        Ok(())
    }

    /// The unexpired session with this secret digest, with its user.
    pub async fn session_by_secret(
        &mut self,
        secret_hash: &str,
        now: Timestamp,
    ) -> Result<(Session, User)> {
        let (id, user_id, csrf_token, expires_at): (i64, i64, String, i64) = with_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, user_id, csrf_token, expires_at FROM sessions WHERE secret_hash = $1 AND expires_at > $2",
            )
            .bind(secret_hash)
            .bind(to_millis(now))
            .fetch_one(conn)
            .await?
        });
        let user = self.user(user_id).await?;
        let session = Session {
            id,
            user_id,
            csrf_token,
            expires_at: from_millis(expires_at),
        };
        Ok((session, user))
    }

    pub async fn delete_session(&mut self, secret_hash: &str) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query("DELETE FROM sessions WHERE secret_hash = $1").bind(secret_hash).execute(conn).await?
                .rows_affected()
        });
        Ok(())
    }

    pub async fn delete_sessions_of(&mut self, user_id: i64) -> Result<u64> {
        let affected = with_tx!(self, conn => {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(affected)
    }

    /// Deletes expired sessions; returns how many.
    pub async fn purge_expired_sessions(&mut self, now: Timestamp) -> Result<u64> {
        let affected = with_tx!(self, conn => {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(to_millis(now))
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(affected)
    }
}
