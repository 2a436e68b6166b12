//! The test harness: a fresh database per test on either backend, an app
//! with a manual clock, and a real server on a loopback port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use siaga::app::App;
use siaga::clock::Clock;
use siaga::domain::auth::Role;
use siaga::domain::event::Actor;
use siaga::store::Store;
use siaga::workers::JobRunner;
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body on both backends: `both_backends!(name, |t| async move { ... })`
/// where `t` is a [`TestDb`].
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(db) =
                    $crate::support::TestDb::new($crate::support::Backend::Sqlite).await
                {
                    ($body)(db).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) =
                    $crate::support::TestDb::new($crate::support::Backend::Postgres).await
                {
                    ($body)(db).await;
                }
            }
        }
    };
}

/// A database of its own for one test. SQLite lives in a temporary
/// directory; PostgreSQL gets a new database on the server named by
/// `SIAGA_TEST_POSTGRES_URL`, dropped when the test ends.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    cleanup: Option<(String, String)>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn postgres_url() -> Option<String> {
    match std::env::var("SIAGA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("SIAGA_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1") => None,
        _ => panic!(
            "SIAGA_TEST_POSTGRES_URL is not set, so the PostgreSQL half of the suite cannot run. \
             Run scripts/test (which starts PostgreSQL and sets it), or set SIAGA_TEST_SKIP_POSTGRES=1 to skip it knowingly."
        ),
    }
}

impl TestDb {
    /// `None` only when PostgreSQL was skipped on purpose.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/siaga.db", dir.path().display());
                Some(TestDb {
                    url,
                    _dir: Some(dir),
                    cleanup: None,
                })
            }
            Backend::Postgres => {
                let Some(server) = postgres_url() else {
                    eprintln!("SKIPPED on PostgreSQL: SIAGA_TEST_SKIP_POSTGRES=1");
                    return None;
                };
                let name = format!(
                    "siaga_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    Timestamp::now().as_microsecond() % 1_000_000
                );
                admin_exec(&server, &format!("CREATE DATABASE {name}")).await;
                let url = replace_database(&server, &name);
                Some(TestDb {
                    url,
                    _dir: None,
                    cleanup: Some((server, name)),
                })
            }
        }
    }

    /// PostgreSQL: drops the database now, its connections cut, as an
    /// outage that takes the database away would.
    pub async fn drop_now(&self) {
        let (server, name) = self
            .cleanup
            .as_ref()
            .expect("only a PostgreSQL test database can be dropped");
        admin_exec(server, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.url).await.expect("connect test store")
    }

    /// An app on this database with a manual clock.
    pub async fn app(&self) -> TestApp {
        let clock = Clock::manual(start_time());
        let app = App::new(self.store().await, clock.clone());
        TestApp { app, clock }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.cleanup.take() {
            // Best effort, on a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(async {
                        admin_exec(
                            &server,
                            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                        )
                        .await;
                    });
                }
            })
            .join();
        }
    }
}

/// Runs one statement on the PostgreSQL server, outside any database of a
/// test (creating and dropping test databases).
async fn admin_exec(server: &str, sql: &str) {
    use sqlx::Connection;
    let shown = siaga::store::mask_password(server);
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {shown}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {shown}: {sql}: {e}"));
    let _ = conn.close().await;
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rsplit_once('/') {
        Some((server, _db))
            if server.contains("://") && server.len() > server.find("://").unwrap() + 3 =>
        {
            server
        }
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

pub fn start_time() -> Timestamp {
    "2026-11-02T09:00:00Z".parse().unwrap()
}

pub struct TestApp {
    pub app: App,
    pub clock: Clock,
}

pub const SHOP: &str = include_str!("../../examples/shop.yaml");

impl TestApp {
    pub async fn apply_shop(&self) {
        self.apply("shop.yaml", SHOP).await;
    }

    /// Applies `yaml` as the organisation's config, read from `file`.
    pub async fn apply(&self, file: &str, yaml: &str) {
        if let Err(error) = self
            .app
            .apply_config(&Actor::system("test"), file, yaml)
            .await
        {
            panic!("{file} does not apply: {error:?}");
        }
    }

    /// Creates a user with a token of the same role; returns the secret.
    pub async fn token(&self, role: Role) -> String {
        let email = format!(
            "{}-{}@test.example",
            role.as_str(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        self.token_as(&email, role).await
    }

    /// A new user of `role`, as the use cases see them.
    pub async fn caller(&self, role: Role) -> siaga::app::Caller {
        let token = self.token(role).await;
        self.app.authenticate_token(&token).await.unwrap()
    }

    /// Creates a user with this email and a token of the same role (a
    /// person of the org when the email is theirs); returns the secret.
    pub async fn token_as(&self, email: &str, role: Role) -> String {
        let actor = Actor::system("test");
        self.app
            .create_user(&actor, email, "Test User", role, None)
            .await
            .unwrap();
        self.app
            .create_api_token(&actor, Role::Admin, email, "test", role)
            .await
            .unwrap()
            .secret
    }

    /// Creates a user with this email, `role` and a password, and signs in
    /// to the web UI of `server` as them; returns the session cookie.
    pub async fn web_session(&self, server: &TestServer, email: &str, role: Role) -> String {
        let password = "a long enough password";
        self.app
            .create_user(&Actor::system("test"), email, "Duty", role, Some(password))
            .await
            .unwrap();
        server.log_in(email, password).await
    }

    /// Starts the real HTTP server on a loopback port.
    pub async fn serve(&self) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let app = self.app.clone();
        let handle = tokio::spawn(async move { siaga::http::serve(app, listener, stopped).await });
        TestServer {
            address,
            stop,
            handle: Some(handle),
            client: client(),
        }
    }
}

pub fn client() -> reqwest::Client {
    siaga::outbound::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub struct TestServer {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    stop: watch::Sender<bool>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(token)
    }

    /// The JSON body of a GET as `token`, which must answer 200.
    pub async fn get_json(&self, path: &str, token: &str) -> serde_json::Value {
        json(self.get(path, token).send().await.unwrap(), 200).await
    }

    /// The body of an unauthenticated GET (`/metrics`, a feed URL).
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }

    pub fn post(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(token)
    }

    /// Logs in through the login form; returns the session cookie.
    pub async fn log_in(&self, email: &str, password: &str) -> String {
        let response = self
            .client
            .post(self.url("/login"))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap();
        let header = response.headers()["set-cookie"].to_str().unwrap();
        header.split(';').next().unwrap().to_string()
    }

    /// The HTML of the page at `path`, for the session `cookie`.
    pub async fn page(&self, cookie: &str, path: &str) -> String {
        self.client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }
}

/// The part of `text` after the first `start`, up to the next `end`: a
/// table row, a banner, an attribute's value. Panics, showing `text`, when
/// `start` is not there.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let Some((_, after)) = text.split_once(start) else {
        panic!("`{start}` is not in: {text}");
    };
    after.split(end).next().unwrap_or(after)
}

/// The CSRF token of the first form on a page.
pub fn csrf_of(html: &str) -> String {
    between(html, "name=\"csrf_token\" value=\"", "\"").to_string()
}

/// The newest 500 events of the log.
pub async fn event_log(t: &TestApp) -> Vec<siaga::domain::event::Event> {
    t.app
        .events(siaga::app::audit::EventQuery {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .unwrap()
        .items
}

/// Reads a JSON response, checking its status first.
pub async fn json(response: reqwest::Response, status: u16) -> serde_json::Value {
    let actual = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Asserts the one error shape and returns the error object.
pub async fn error(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    let body = json(response, status).await;
    let error = &body["error"];
    assert_eq!(error["code"], code, "error code; body: {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error message; body: {body}"
    );
    error.clone()
}

/// Sends a request whose body the server refuses for its size. The server
/// may answer before reading the whole body and close the connection, so
/// the client can fail mid-write; try again until the answer is read.
pub async fn send_oversized(request: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    let mut last_error = None;
    for _ in 0..10 {
        // Not kept alive: the server closes a connection whose body it
        // refused, and a request after this one must not land on it.
        match request().header("connection", "close").send().await {
            Ok(response) => return response,
            Err(error) if error.is_request() => last_error = Some(error),
            Err(error) => panic!("{error}"),
        }
    }
    panic!("the server never answered the oversized request: {last_error:?}");
}

#[derive(Clone, Default)]
pub struct Received(pub Arc<Mutex<Vec<(String, HeaderMap, String)>>>);

impl Received {
    /// What `/hook/{who}` received: headers and JSON bodies.
    pub fn to(&self, who: &str) -> Vec<(HeaderMap, Value)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, _, _)| w == who)
            .map(|(_, h, b)| (h.clone(), serde_json::from_str(b).unwrap()))
            .collect()
    }

    /// What `/hook/{who}` received, bodies as the bytes were (for signatures).
    pub fn raw_to(&self, who: &str) -> Vec<(HeaderMap, String)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, _, _)| w == who)
            .map(|(_, h, b)| (h.clone(), b.clone()))
            .collect()
    }
}

/// Checks a webhook's `X-Siaga-Signature` the way a receiver would, with
/// its own HMAC rather than siaga's code.
pub fn signed_with(secret: &str, headers: &HeaderMap, body: &str) -> bool {
    use hmac::Mac;
    let Some(signature) = headers
        .get("x-siaga-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("v1="))
    else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(headers["x-siaga-timestamp"].as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes()) == signature
}

async fn receive(
    State(received): State<Received>,
    Path(who): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    received
        .0
        .lock()
        .unwrap()
        .push((who.clone(), headers, String::from_utf8_lossy(&body).into()));
    if who.starts_with("broken") {
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    } else if who.starts_with("moved") {
        // Moved to a page that answers any GET: a POST that follows it
        // arrives without its body, yet sees a 200.
        (StatusCode::FOUND, [("location", "/landing")]).into_response()
    } else if who.starts_with("archived") {
        // As Slack answers for a channel archived.
        (StatusCode::GONE, "channel_is_archived").into_response()
    } else if who.starts_with("echo") {
        // As a web framework's 404 page repeats the path it was asked for
        // (a Slack webhook's path is its secret).
        (StatusCode::NOT_FOUND, format!("Cannot POST /hook/{who}")).into_response()
    } else if who.starts_with("busy") {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "45")],
            "rate limited",
        )
            .into_response()
    } else if who.starts_with("connector") {
        // As an Office 365 connector answers a message it failed to post.
        (
            StatusCode::OK,
            "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0",
        )
            .into_response()
    } else {
        StatusCode::OK.into_response()
    }
}

/// A webhook receiver on a loopback port; returns its base URL. Paths
/// `/hook/{who}` record what they get; `who` starting with `broken` answers
/// 500, with `moved` a redirect to `/landing`, which answers GET with 200,
/// with `archived` 410 (Slack's archived channel), with `echo` 404 naming
/// its own path, with `busy` 429 asking
/// for 45 seconds, with `connector` 200 and a failure in the body (an
/// Office 365 connector of Teams).
pub async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/hook/{who}", post(receive))
        .route("/landing", axum::routing::get(|| async { "welcome" }))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// Runs every job due now, a few rounds: steps enqueue deliveries due at
/// once. Backoff without jitter, so retries fall due predictably.
pub async fn run_due(t: &TestApp) {
    let runner = JobRunner {
        backoff: siaga::domain::job::Backoff {
            base: SignedDuration::from_secs(10),
            max: SignedDuration::from_secs(60),
            jitter: 0.0,
        },
        ..JobRunner::default()
    };
    for _ in 0..3 {
        runner.run_once(&t.app, t.clock.now()).await.unwrap();
    }
}

/// A raw PostgreSQL transaction standing in for another writer.
pub struct OtherWriter(sqlx::PgConnection);

impl OtherWriter {
    pub async fn begin(db: &TestDb) -> OtherWriter {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut connection).await.unwrap();
        OtherWriter(connection)
    }

    /// Runs `statement` with `$1` bound to `id`, holding the rows it writes.
    pub async fn write(&mut self, statement: &str, id: i64) {
        sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
            .bind(id)
            .execute(&mut self.0)
            .await
            .unwrap();
    }

    pub async fn commit(mut self) {
        sqlx::query("COMMIT").execute(&mut self.0).await.unwrap();
    }
}
