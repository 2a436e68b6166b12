//! Users, API tokens, password logins and sessions.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::SignedDuration;
use rand::RngCore;

use super::{App, Error, Result};
use crate::domain::auth::{Role, secret_digest};
use crate::domain::event::{Actor, NewEvent, Subject};
use crate::store::{ApiToken, StoreError, User};

/// How long a web session lasts without logging in again.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(12);
pub const MIN_PASSWORD_LENGTH: usize = 10;
const TOKEN_PREFIX: &str = "siaga_";

/// Who is making a request, and with what power.
#[derive(Clone, Debug, PartialEq)]
pub struct Caller {
    pub user: User,
    /// The role in effect: a token's role, or the user's for a session.
    pub role: Role,
    /// The API token used, if any.
    pub token: Option<ApiToken>,
    /// The session's CSRF token, for a browser session.
    pub csrf_token: Option<String>,
}

impl Caller {
    pub fn require(&self, role: Role) -> Result<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Error::Forbidden(role.as_str()))
        }
    }

    /// Whether the caller is `person` (matched by email) or an admin: who
    /// sees all of a person's contact methods and their own calendar feed.
    pub fn is_or_administers(&self, person: &crate::domain::org::Person) -> bool {
        person.email.eq_ignore_ascii_case(&self.user.email) || self.role >= Role::Admin
    }

    /// `person` as the caller may read them (see [`Person::redacted`]).
    ///
    /// [`Person::redacted`]: crate::domain::org::Person::redacted
    pub fn person_as_seen(
        &self,
        person: &crate::domain::org::Person,
    ) -> crate::domain::org::Person {
        if self.is_or_administers(person) {
            person.clone()
        } else {
            person.redacted()
        }
    }

    pub fn actor(&self) -> Actor {
        match &self.token {
            Some(token) => Actor {
                kind: "token".into(),
                name: format!("{} ({})", token.name, self.user.email),
            },
            None => Actor::user(&self.user.email),
        }
    }
}

/// A token as created: the secret is shown this once and never stored.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NewToken {
    pub token: ApiToken,
    pub secret: String,
}

/// 32 random bytes, URL-safe.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("password salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    Ok(hash.to_string())
}

fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Emails are compared lower-cased and trimmed everywhere.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// argon2 takes tens of milliseconds of CPU by design; keep it off the
/// async workers.
async fn hash_password_off_runtime(password: &str) -> Result<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("password hashing stopped: {e}")))?
}

fn check_password_rules(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        return Err(Error::invalid(
            "password_too_short",
            "password",
            format!("the password must have at least {MIN_PASSWORD_LENGTH} characters"),
        ));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<()> {
    let valid = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.contains(char::is_whitespace);
    if !valid {
        return Err(Error::invalid(
            "invalid_email",
            "email",
            format!("`{email}` is not an email address"),
        ));
    }
    Ok(())
}

/// Failed logins allowed per account and client address within
/// [`LOGIN_WINDOW`] before further attempts are refused, against password
/// guessing. Per address too, so that someone who knows a responder's
/// email cannot lock them out from elsewhere in an incident. Kept per
/// process: with several replicas an attacker gets this many per replica.
pub const LOGIN_FAILURES_ALLOWED: usize = 10;
/// Failed logins allowed from one client address across all accounts
/// within [`LOGIN_WINDOW`]: one password tried against every email.
pub const LOGIN_FAILURES_PER_CLIENT: usize = 50;
pub const LOGIN_WINDOW: SignedDuration = SignedDuration::from_mins(15);

type Attempts = std::collections::HashMap<String, Vec<jiff::Timestamp>>;

#[derive(Default)]
pub struct LoginThrottle {
    /// By `email client`.
    failures: std::sync::Mutex<Attempts>,
    /// By client address alone.
    clients: std::sync::Mutex<Attempts>,
}

/// Counts an attempt under `key` unless `allowed` were made within the
/// window; says how long until the oldest of them leaves it.
fn count_attempt(
    attempts: &std::sync::Mutex<Attempts>,
    key: &str,
    allowed: usize,
    now: jiff::Timestamp,
) -> Option<SignedDuration> {
    let mut attempts = attempts.lock().unwrap_or_else(|e| e.into_inner());
    // Bound memory: forget everyone whose attempts are all old.
    if attempts.len() > 10_000 {
        attempts.retain(|_, times| {
            times
                .iter()
                .any(|at| now.duration_since(*at) < LOGIN_WINDOW)
        });
    }
    let recent = attempts.entry(key.to_string()).or_default();
    recent.retain(|at| now.duration_since(*at) < LOGIN_WINDOW);
    if recent.len() >= allowed {
        let oldest = recent.iter().min().copied().unwrap_or(now);
        return Some(LOGIN_WINDOW - now.duration_since(oldest));
    }
    recent.push(now);
    None
}

impl LoginThrottle {
    /// Counts an attempt for `email` from `client`, or says how long it
    /// must wait when either has used up its attempts. A successful login
    /// clears the account's count from that client.
    fn attempt(&self, email: &str, client: &str, now: jiff::Timestamp) -> Option<SignedDuration> {
        let account = format!("{email} {client}");
        count_attempt(&self.clients, client, LOGIN_FAILURES_PER_CLIENT, now)
            .or_else(|| count_attempt(&self.failures, &account, LOGIN_FAILURES_ALLOWED, now))
    }

    /// A successful login: the account's count from that client clears,
    /// and the attempt `attempt` counted at `now` is taken back from the
    /// client's, which counts failures only (a proxy's address carries a
    /// whole organisation's log-ins at the start of an incident).
    fn clear(&self, email: &str, client: &str, now: jiff::Timestamp) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&format!("{email} {client}"));
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(times) = clients.get_mut(client)
            && let Some(at) = times.iter().rposition(|at| *at == now)
        {
            times.remove(at);
        }
    }
}

/// The address a client's attempts count under: an IPv6 client holds a
/// whole /64 (64 bits of addresses to rotate through), so it counts as
/// one.
fn client_key(client: &str) -> String {
    match client.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(prefix))
        }
        _ => client.to_string(),
    }
}

/// What the first start on an empty store created.
pub struct Bootstrap {
    pub email: String,
    /// The admin's token secret when it was generated (not taken from the
    /// environment), to be printed once.
    pub generated_secret: Option<String>,
}

impl App {
    /// On an empty store, creates the admin user with an API token: the
    /// given secret (e.g. `SIAGA_BOOTSTRAP_TOKEN`) or a generated one.
    /// Does nothing once any user exists, so it is safe on every start.
    pub async fn bootstrap_admin(&self, given_secret: Option<&str>) -> Result<Option<Bootstrap>> {
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        // Replicas starting together must not both create the admin.
        tx.lock("bootstrap").await?;
        if tx.user_count().await? > 0 {
            return Ok(None);
        }
        if let Some(secret) = given_secret
            && secret.len() < 16
        {
            return Err(Error::invalid(
                "bootstrap_token_too_short",
                "SIAGA_BOOTSTRAP_TOKEN",
                "SIAGA_BOOTSTRAP_TOKEN must have at least 16 characters",
            ));
        }
        let email = "admin@localhost";
        let actor = Actor::system("bootstrap");
        let user = tx
            .insert_user(now, email, "Administrator", Role::Admin, None)
            .await?;
        let secret = given_secret.map_or_else(
            || format!("{TOKEN_PREFIX}{}", random_secret()),
            str::to_string,
        );
        let token = tx
            .insert_api_token(
                now,
                user.id,
                "bootstrap",
                Role::Admin,
                &secret_digest(&secret),
            )
            .await?;
        tx.append_event(
            now,
            NewEvent::new(&actor, "user.created", Subject::new("user", user.id)).after(&user),
        )
        .await?;
        tx.append_event(
            now,
            NewEvent::new(
                &actor,
                "api_token.created",
                Subject::new("api_token", token.id),
            )
            .after(&token),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(Bootstrap {
            email: email.into(),
            generated_secret: given_secret.is_none().then_some(secret),
        }))
    }

    pub async fn create_user(
        &self,
        actor: &Actor,
        email: &str,
        name: &str,
        role: Role,
        password: Option<&str>,
    ) -> Result<User> {
        let email = normalise_email(email);
        check_email(&email)?;
        if name.trim().is_empty() {
            return Err(Error::invalid(
                "missing_name",
                "name",
                "the name must not be empty",
            ));
        }
        let password_hash = match password {
            Some(password) => {
                check_password_rules(password)?;
                Some(hash_password_off_runtime(password).await?)
            }
            None => None,
        };
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let user = tx
            .insert_user(now, &email, name.trim(), role, password_hash.as_deref())
            .await?;
        tx.append_event(
            now,
            NewEvent::new(actor, "user.created", Subject::new("user", user.id)).after(&user),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Sets a user's password and ends all their sessions.
    pub async fn set_password(&self, actor: &Actor, email: &str, password: &str) -> Result<()> {
        check_password_rules(password)?;
        let email = normalise_email(email);
        let hash = hash_password_off_runtime(password).await?;
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let user = tx
            .user_by_email(&email)
            .await
            .map_err(|e| not_found(e, format!("user {email}")))?;
        tx.set_password(user.id, &hash).await?;
        tx.delete_sessions_of(user.id).await?;
        tx.append_event(
            now,
            NewEvent::new(actor, "user.password_set", Subject::new("user", user.id)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        Ok(self.store.read().await?.list_users().await?)
    }

    /// Creates an API token for the user with `email`. Its role may exceed
    /// neither the user's nor `acting_role`, the role the requester acts
    /// with (a viewer token of an admin cannot mint an admin token).
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        acting_role: Role,
        email: &str,
        name: &str,
        role: Role,
    ) -> Result<NewToken> {
        let email = normalise_email(email);
        if name.trim().is_empty() {
            return Err(Error::invalid(
                "missing_name",
                "name",
                "the token needs a name saying what uses it",
            ));
        }
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let user = tx
            .user_by_email(&email)
            .await
            .map_err(|e| not_found(e, format!("user {email}")))?;
        if role > acting_role {
            return Err(Error::invalid(
                "role_exceeds_caller",
                "role",
                format!(
                    "you act as a {}; a token you make cannot have more power",
                    acting_role.as_str()
                ),
            ));
        }
        if role > user.role {
            return Err(Error::invalid(
                "role_exceeds_user",
                "role",
                format!(
                    "{} is a {}; a token cannot have more power than its user",
                    user.email,
                    user.role.as_str()
                ),
            ));
        }
        let secret = format!("{TOKEN_PREFIX}{}", random_secret());
        let token = tx
            .insert_api_token(now, user.id, name.trim(), role, &secret_digest(&secret))
            .await?;
        tx.append_event(
            now,
            NewEvent::new(
                actor,
                "api_token.created",
                Subject::new("api_token", token.id),
            )
            .after(&token),
        )
        .await?;
        tx.commit().await?;
        Ok(NewToken { token, secret })
    }

    /// Tokens the caller may see: an admin sees all, others their own.
    pub async fn api_tokens(&self, caller: &Caller) -> Result<Vec<ApiToken>> {
        let owner = (caller.role < Role::Admin).then_some(caller.user.id);
        Ok(self.store.read().await?.list_api_tokens(owner).await?)
    }

    /// Revokes a token. Admins may revoke any token, others only their own.
    pub async fn revoke_api_token(&self, caller: &Caller, id: i64) -> Result<ApiToken> {
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let token = tx
            .api_token(id)
            .await
            .map_err(|e| not_found(e, format!("API token {id}")))?;
        if token.user_id != caller.user.id {
            caller
                .require(Role::Admin)
                .map_err(|_| Error::NotFound(format!("API token {id}")))?;
        }
        if !tx.revoke_api_token(id, now).await? {
            return Err(Error::Conflict(format!(
                "API token {id} is already revoked"
            )));
        }
        let revoked = tx.api_token(id).await?;
        tx.append_event(
            now,
            NewEvent::new(
                &caller.actor(),
                "api_token.revoked",
                Subject::new("api_token", id),
            )
            .before(&token)
            .after(&revoked),
        )
        .await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Who holds this bearer token.
    pub async fn authenticate_token(&self, secret: &str) -> Result<Caller> {
        let now = self.clock.now();
        let mut tx = self.store.read().await?;
        let (token, user) = tx
            .api_token_by_secret(&secret_digest(secret))
            .await
            .map_err(unauthenticated)?;
        drop(tx);
        // Last-use is advisory; refresh it at most once a minute so reads do
        // not become writes on every request.
        if token
            .last_used_at
            .is_none_or(|at| now.duration_since(at) > SignedDuration::from_mins(1))
        {
            let mut tx = self.store.write().await?;
            tx.touch_api_token(token.id, now).await?;
            tx.commit().await?;
        }
        let role = token.role.min(user.role);
        Ok(Caller {
            user,
            role,
            token: Some(token),
            csrf_token: None,
        })
    }

    /// Checks a password and opens a session; returns the session secret
    /// for the cookie. Wrong email and wrong password look the same.
    /// `client` is the address the attempt came from.
    pub async fn log_in(&self, email: &str, password: &str, client: &str) -> Result<String> {
        let email = normalise_email(email);
        let now = self.clock.now();
        // The attempt counts before the (slow) check, so a burst of
        // concurrent guesses cannot all slip under the limit.
        let client = client_key(client);
        if let Some(wait) = self.login_throttle.attempt(&email, &client, now) {
            return Err(Error::RateLimited(wait));
        }
        let user = self.check_password(&email, password).await?;
        self.login_throttle.clear(&email, &client, now);
        self.open_session(&user).await
    }

    async fn check_password(&self, email: &str, password: &str) -> Result<User> {
        let found = self.store.read().await?.user_by_email(email).await;
        let (user, hash) = match found {
            Ok(user) => {
                let hash = user.password_hash.clone();
                (Some(user), hash)
            }
            Err(StoreError::NotFound) => (None, None),
            Err(e) => return Err(e.into()),
        };
        // An unknown email is checked against a dummy hash, so response
        // times do not tell which emails have accounts.
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_string());
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || password_matches(&password, &hash))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("password check stopped: {e}")))?;
        match user {
            Some(user) if matches && user.password_hash.is_some() => Ok(user),
            _ => Err(Error::Unauthenticated),
        }
    }

    async fn open_session(&self, user: &User) -> Result<String> {
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        // The password checked is still the user's: one set (or the user
        // disabled) since would end every session, this one included.
        let current = match tx.user_for_update(user.id).await {
            Ok(current) => current,
            Err(StoreError::NotFound) => return Err(Error::Unauthenticated),
            Err(error) => return Err(error.into()),
        };
        if current.password_hash != user.password_hash {
            return Err(Error::Unauthenticated);
        }
        let secret = random_secret();
        let csrf = random_secret();
        let expires_at = now.saturating_add(SESSION_LIFETIME).unwrap_or(now);
        tx.insert_session(now, user.id, &secret_digest(&secret), &csrf, expires_at)
            .await?;
        tx.append_event(
            now,
            NewEvent::new(
                &Actor::user(&user.email),
                "user.logged_in",
                Subject::new("user", user.id),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    pub async fn authenticate_session(&self, secret: &str) -> Result<Caller> {
        let now = self.clock.now();
        let mut tx = self.store.read().await?;
        let (session, user) = tx
            .session_by_secret(&secret_digest(secret), now)
            .await
            .map_err(unauthenticated)?;
        Ok(Caller {
            role: user.role,
            user,
            token: None,
            csrf_token: Some(session.csrf_token),
        })
    }

    pub async fn log_out(&self, caller: &Caller, secret: &str) -> Result<()> {
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        tx.delete_session(&secret_digest(secret)).await?;
        tx.append_event(
            now,
            NewEvent::new(
                &caller.actor(),
                "user.logged_out",
                Subject::new("user", caller.user.id),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// An argon2 hash of a random password, checked against when the email is
/// unknown so that the check costs the same.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2lhZ2FkdW1teXNhbHQ$J9f0mJ0Kx0dlYp2xNm0yq1q6yHq1m3m0Yh4n9c3ZC7k";

pub(crate) fn not_found(error: StoreError, what: String) -> Error {
    match error {
        StoreError::NotFound => Error::NotFound(what),
        other => other.into(),
    }
}

fn unauthenticated(error: StoreError) -> Error {
    match error {
        StoreError::NotFound => Error::Unauthenticated,
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_count_against_a_client_address() {
        let throttle = LoginThrottle::default();
        let now: jiff::Timestamp = "2026-12-07T09:00:00Z".parse().unwrap();
        // A proxy's address: far more people log in through it than the
        // failures it may have.
        for i in 0..LOGIN_FAILURES_PER_CLIENT * 2 {
            let email = format!("person{i}@kedai.example");
            assert_eq!(throttle.attempt(&email, "10.0.0.1", now), None, "{i}");
            throttle.clear(&email, "10.0.0.1", now);
        }
        for i in 0..LOGIN_FAILURES_PER_CLIENT {
            let email = format!("guess{i}@kedai.example");
            assert_eq!(throttle.attempt(&email, "10.0.0.1", now), None, "{i}");
        }
        assert!(
            throttle
                .attempt("guess@kedai.example", "10.0.0.1", now)
                .is_some(),
            "failures still count"
        );
    }

    #[test]
    fn an_ipv6_client_counts_as_its_slash_64() {
        assert_eq!(
            client_key("2001:db8:1:2:aaaa::1"),
            client_key("2001:db8:1:2:ffff:1:2:3")
        );
        assert_eq!(client_key("2001:db8:1:2::9"), "2001:db8:1:2::/64");
        assert_ne!(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:3::1"));
        assert_eq!(client_key("192.0.2.7"), "192.0.2.7");
        assert_eq!(client_key("::ffff:192.0.2.7"), "::ffff:192.0.2.7");
    }
}
