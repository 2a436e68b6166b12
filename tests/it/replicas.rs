//! Real `siaga serve` processes sharing one database, killed and restarted
//! in the middle of escalations. Each escalation step is taken once; each
//! delivery reaches its receiver once, except that one in flight when its
//! process is killed may arrive again (the documented repeat, which the
//! receiver drops by its `X-Siaga-Delivery` id); nothing is lost.
//!
//! The processes run on the real clock and a level waits at least a minute,
//! so the tests travel in time: they move the `run_at` of pending escalation
//! timers into the past with SQL on the test database, which is all the
//! passing of the wait would do. What no API shows (the whole event log, who
//! holds which claim) is read with SQL too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use crate::process::ServerProcess;
use crate::support::{Backend, TestDb};

const TOKEN: &str = "siaga_bootstrap_for_replica_tests_01";
const KEY: &str = "probes-key-0123456789";
const PD_KEY: &str = "pagerduty-key-0123456789";
/// A hang guard for work that takes a second or two, not a performance bound.
const PATIENCE: Duration = Duration::from_secs(60);

/// One request that reached the webhook receiver.
#[derive(Clone, Debug)]
struct Arrival {
    delivery: String,
    person: String,
    at: Instant,
    /// The receiver has not answered yet.
    open: bool,
}

type Log = Arc<Mutex<Vec<Arrival>>>;

/// A webhook receiver on loopback recording every request with its
/// `X-Siaga-Delivery` id. Requests under `/hook/slow/` are held for a while
/// before the answer, as a slow peer would, so that deliveries are in flight.
struct Receiver {
    url: String,
    log: Log,
}

#[derive(Clone)]
struct Pace {
    log: Log,
    slow: Duration,
}

/// Marks an arrival answered when its handler ends, whether it answered or
/// was dropped because the sender went away.
struct Holding {
    log: Log,
    index: usize,
}

impl Drop for Holding {
    fn drop(&mut self) {
        if let Ok(mut log) = self.log.lock() {
            log[self.index].open = false;
        }
    }
}

async fn receive(
    State(pace): State<Pace>,
    Path((speed, person)): Path<(String, String)>,
    headers: HeaderMap,
) -> StatusCode {
    let delivery = headers
        .get("x-siaga-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let index = {
        let mut log = pace.log.lock().unwrap();
        log.push(Arrival {
            delivery,
            person,
            at: Instant::now(),
            open: true,
        });
        log.len() - 1
    };
    let _holding = Holding {
        log: pace.log.clone(),
        index,
    };
    if speed == "slow" {
        tokio::time::sleep(pace.slow).await;
    }
    StatusCode::OK
}

impl Receiver {
    async fn start(slow: Duration) -> Receiver {
        let log = Log::default();
        let app = Router::new()
            .route("/hook/{speed}/{person}", post(receive))
            .with_state(Pace {
                log: log.clone(),
                slow,
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, log }
    }

    fn arrivals(&self) -> Vec<Arrival> {
        self.log.lock().unwrap().clone()
    }

    /// Delivery id → when each of its requests arrived.
    fn by_delivery(&self) -> BTreeMap<String, Vec<Instant>> {
        let mut by_delivery: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
        for arrival in self.arrivals() {
            by_delivery
                .entry(arrival.delivery)
                .or_default()
                .push(arrival.at);
        }
        by_delivery
    }

    /// The deliveries being held right now that arrived within `recently`.
    fn open(&self, recently: Duration) -> BTreeSet<String> {
        self.arrivals()
            .into_iter()
            .filter(|a| a.open && a.at.elapsed() < recently)
            .map(|a| a.delivery)
            .collect()
    }

    fn to(&self, person: &str) -> usize {
        self.arrivals()
            .iter()
            .filter(|a| a.person == person)
            .count()
    }
}

/// Two levels of one person each, both reached by webhook; `first` answers
/// at `first_speed` (`fast` or `slow`). No grouping rules: every alert is a
/// group of its own, and every group pages.
fn config(hooks: &str, first_speed: &str, repeat: u32) -> String {
    format!(
        r#"
organisation: {{name: Kedai}}
people:
  - {{handle: first, name: First, email: first@k.example, contact_methods: [{{type: webhook, address: "{hooks}/hook/{first_speed}/first"}}]}}
  - {{handle: second, name: Second, email: second@k.example, contact_methods: [{{type: webhook, address: "{hooks}/hook/fast/second"}}]}}
teams:
  - {{name: payments, lead: second, head: second, members: [first]}}
escalation_policies:
  - name: payments
    repeat: {repeat}
    levels:
      - {{notify: ["person:first"], wait: 1m}}
      - {{notify: ["person:second"], wait: 1m}}
services:
  - name: checkout
    owner: payments
    tier: 1
    escalation_policy: payments
    integrations:
      - {{name: probes, kind: generic, key: {KEY}}}
      - {{name: monitors, kind: pagerduty, key: {PD_KEY}}}
"#
    )
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("replicas.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn trigger(client: &reqwest::Client, server: &str, dedup_key: &str) {
    let response = client
        .post(format!("{server}/api/v1/integrations/generic"))
        .bearer_auth(KEY)
        .json(&json!({"action": "trigger", "dedup_key": dedup_key, "summary": format!("{dedup_key} is down"), "severity": "critical"}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        response.text().await.unwrap()
    );
}

/// The test's own connection to a test database, for what no API shows.
#[derive(Clone)]
enum RawDb {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl RawDb {
    /// Connects once a server has created and migrated the database.
    async fn connect(db: &TestDb) -> RawDb {
        if db.url.starts_with("postgres") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect(&db.url)
                .await
                .unwrap();
            RawDb::Postgres(pool)
        } else {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect(&db.url)
                .await
                .unwrap();
            RawDb::Sqlite(pool)
        }
    }

    async fn execute(&self, sql: String) -> u64 {
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            RawDb::Postgres(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected(),
            RawDb::Sqlite(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected(),
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            RawDb::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            RawDb::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .unwrap()
    }

    async fn texts(&self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            RawDb::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
            RawDb::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        }
        .unwrap()
    }

    async fn pairs(&self, sql: &str) -> Vec<(String, String)> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            RawDb::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            RawDb::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .unwrap()
    }
}

/// Time travel for timers: the escalation steps waiting out a level's wait
/// become due now, as if the wait had passed. Returns how many moved.
async fn time_travel(db: &RawDb) -> u64 {
    let now = jiff::Timestamp::now().as_millisecond();
    db.execute(format!(
        "UPDATE jobs SET run_at = {now}
         WHERE state = 'pending' AND run_at > {now}
           AND kind IN ('escalation.step', 'escalation.exhausted')"
    ))
    .await
}

/// Deliveries whose receiver answered and whose job is complete.
const CONFIRMED: &str =
    "SELECT COUNT(*) FROM jobs WHERE kind = 'notification.deliver' AND state = 'done'";
const LIVE_JOBS: &str = "SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running') AND kind NOT IN ('sessions.purge', 'jobs.purge', 'messages.purge')";

/// Travels through every wait until each of `groups` escalations is spent
/// and no job is left to run.
async fn run_escalations_out(db: &RawDb, groups: i64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        time_travel(db).await;
        let spent = db
            .count("SELECT COUNT(*) FROM events WHERE action = 'escalation.exhausted'")
            .await;
        let live = db.count(LIVE_JOBS).await;
        if spent == groups && live == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the escalations did not finish: {spent} of {groups} spent, {live} jobs left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn delivery_id(payload: &str) -> String {
    let payload: Value = serde_json::from_str(payload).unwrap();
    payload["id"].as_str().unwrap().to_string()
}

/// What the event log says about the escalations.
struct Ledger {
    /// (group, round, level) → how many `escalation.notified` events.
    steps: BTreeMap<(String, u64, u64), usize>,
    /// The deliveries the steps asked for.
    deliveries: BTreeSet<String>,
    /// Delivery id → how many `notification.delivered` events.
    delivered: BTreeMap<String, usize>,
}

impl Ledger {
    async fn read(db: &RawDb) -> Ledger {
        let mut steps = BTreeMap::new();
        let mut deliveries = BTreeSet::new();
        let notified = db
            .pairs(
                "SELECT subject_id, after_state FROM events WHERE action = 'escalation.notified'",
            )
            .await;
        for (group, after) in notified {
            let after: Value = serde_json::from_str(&after).unwrap();
            let step = (
                group,
                after["round"].as_u64().unwrap(),
                after["level"].as_u64().unwrap(),
            );
            *steps.entry(step).or_default() += 1;
            for delivery in after["deliveries"].as_array().unwrap() {
                deliveries.insert(delivery["delivery"].as_str().unwrap().to_string());
            }
        }
        let mut delivered = BTreeMap::new();
        let confirmations = db
            .pairs("SELECT subject_id, after_state FROM events WHERE action = 'notification.delivered'")
            .await;
        for (_, after) in confirmations {
            let after: Value = serde_json::from_str(&after).unwrap();
            *delivered
                .entry(after["delivery"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        Ledger {
            steps,
            deliveries,
            delivered,
        }
    }

    /// Every group took each step of `rounds` rounds of two levels, once.
    fn assert_each_step_once(&self, groups: usize, rounds: u64) {
        let taken_twice: Vec<_> = self.steps.iter().filter(|(_, n)| **n != 1).collect();
        assert!(
            taken_twice.is_empty(),
            "steps taken more than once: {taken_twice:?}"
        );
        let group_ids: BTreeSet<&String> = self.steps.keys().map(|(g, _, _)| g).collect();
        assert_eq!(
            group_ids.len(),
            groups,
            "every alert opened a group that paged"
        );
        let mut expected = BTreeSet::new();
        for group in &group_ids {
            for round in 0..rounds {
                for level in 0..2 {
                    expected.insert(((*group).clone(), round, level));
                }
            }
        }
        let taken: BTreeSet<_> = self.steps.keys().cloned().collect();
        assert_eq!(taken, expected, "every step of every group was taken");
        assert_eq!(
            self.deliveries.len(),
            self.steps.len(),
            "one person with one webhook per step"
        );
    }
}

/// Records which workers hold claims, sampled while the test runs: a
/// completed job keeps no trace of who ran it.
struct ClaimWatch {
    holders: Arc<Mutex<BTreeSet<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ClaimWatch {
    fn start(db: RawDb) -> ClaimWatch {
        let holders = Arc::new(Mutex::new(BTreeSet::new()));
        let task = tokio::spawn({
            let holders = holders.clone();
            async move {
                loop {
                    let claims = db
                        .texts("SELECT locked_by FROM jobs WHERE state = 'running' AND locked_by IS NOT NULL")
                        .await;
                    holders.lock().unwrap().extend(claims);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
        ClaimWatch { holders, task }
    }

    fn stop(self) -> BTreeSet<String> {
        self.task.abort();
        self.holders.lock().unwrap().clone()
    }
}

/// Names a process in job claims: an instance name carries its pid.
fn holds(instance: &str, process: &ServerProcess) -> bool {
    instance.contains(&format!("-{}-", process.pid()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_take_each_step_and_send_each_delivery_once() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    // Slightly slow deliveries keep both replicas busy at once.
    let receiver = Receiver::start(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &config(&receiver.url, "slow", 1));
    let (a, b) = tokio::task::block_in_place(|| {
        let a = ServerProcess::serve(&db, &config, TOKEN, &[]);
        let b = ServerProcess::serve(&db, &config, TOKEN, &[]);
        (a, b)
    });
    let raw = RawDb::connect(&db).await;
    let watch = ClaimWatch::start(raw.clone());

    let client = siaga::outbound::http_client().unwrap();
    let groups = 50;
    for i in 0..groups {
        let server = if i % 2 == 0 { &a.url } else { &b.url };
        trigger(&client, server, &format!("replica-{i}")).await;
    }
    run_escalations_out(&raw, groups as i64).await;
    let holders = watch.stop();

    let ledger = Ledger::read(&raw).await;
    // Two rounds (the policy repeats once) of two levels.
    ledger.assert_each_step_once(groups, 2);
    let arrived = receiver.by_delivery();
    let repeated: Vec<_> = arrived.iter().filter(|(_, at)| at.len() != 1).collect();
    assert!(repeated.is_empty(), "deliveries repeated: {repeated:?}");
    let arrived: BTreeSet<String> = arrived.into_keys().collect();
    assert_eq!(arrived, ledger.deliveries, "every delivery arrived");
    assert!(
        ledger.delivered.values().all(|n| *n == 1)
            && ledger.delivered.keys().eq(ledger.deliveries.iter()),
        "each delivery confirmed once: {:?}",
        ledger.delivered
    );
    assert_eq!(
        raw.count("SELECT COUNT(*) FROM jobs WHERE state = 'dead'")
            .await,
        0
    );
    assert!(
        holders.iter().any(|h| holds(h, &a)) && holders.iter().any(|h| holds(h, &b)),
        "both replicas ran jobs (pids {} and {}): {holders:?}",
        a.pid(),
        b.pid()
    );
}

/// How long the slow receiver holds each request: longer than the lease.
const HOLD: Duration = Duration::from_millis(2500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_delivery_leaves_its_jobs_to_the_other() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    // The first level's receiver answers after longer than the lease: a
    // live replica keeps its claim on a long delivery by renewing it, and an
    // idle replica next to it must not take the job over meanwhile.
    let lease = ["--job-lease", "2s"];
    let receiver = Receiver::start(HOLD).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &config(&receiver.url, "slow", 0));
    let mut victim =
        tokio::task::block_in_place(|| ServerProcess::serve(&db, &config, TOKEN, &lease));
    let raw = RawDb::connect(&db).await;
    let client = siaga::outbound::http_client().unwrap();
    let wave = 3;
    for i in 0..wave {
        trigger(&client, &victim.url, &format!("crash-{i}")).await;
    }
    let delivery_claims = "SELECT locked_by, payload FROM jobs WHERE kind = 'notification.deliver' AND state = 'running'";

    // The second replica starts while the first is sending every delivery
    // of the first wave, so it has nothing to do but wait.
    let deadline = Instant::now() + PATIENCE;
    while receiver.open(HOLD).len() < wave as usize {
        assert!(
            Instant::now() < deadline,
            "the first wave was never in flight"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _survivor =
        tokio::task::block_in_place(|| ServerProcess::serve(&db, &config, TOKEN, &lease));
    let deadline = Instant::now() + PATIENCE;
    while raw.count(CONFIRMED).await < wave {
        assert!(
            Instant::now() < deadline,
            "the first wave was not confirmed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let repeated: Vec<_> = receiver
        .by_delivery()
        .into_iter()
        .filter(|(_, at)| at.len() > 1)
        .collect();
    assert!(
        repeated.is_empty(),
        "held past the lease, renewed, and still sent again while its sender was alive: {repeated:?}"
    );

    // A second wave at the first replica, which takes its own pages as it
    // enqueues them; kill it while the receiver holds one of them, early
    // enough that it cannot be answered before the kill.
    for i in wave..2 * wave {
        trigger(&client, &victim.url, &format!("crash-{i}")).await;
    }
    let groups = 2 * wave;
    let deadline = Instant::now() + PATIENCE;
    let in_flight = loop {
        let open = receiver.open(HOLD / 3);
        let sending = raw
            .pairs(delivery_claims)
            .await
            .into_iter()
            .map(|(holder, payload)| (holder, delivery_id(&payload)))
            .find(|(holder, id)| holds(holder, &victim) && open.contains(id));
        if let Some((_, id)) = sending {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "the first replica never sent a delivery of the second wave"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::task::block_in_place(|| victim.kill());
    let killed_at = Instant::now();
    let confirmed_at_kill: BTreeSet<String> = raw
        .texts("SELECT payload FROM jobs WHERE kind = 'notification.deliver' AND state = 'done'")
        .await
        .iter()
        .map(|payload| delivery_id(payload))
        .collect();

    run_escalations_out(&raw, groups).await;

    let ledger = Ledger::read(&raw).await;
    ledger.assert_each_step_once(groups as usize, 1);
    let arrived = receiver.by_delivery();
    let delivered: BTreeSet<String> = arrived.keys().cloned().collect();
    assert_eq!(delivered, ledger.deliveries, "nothing was lost");
    assert_eq!(
        arrived[&in_flight].len(),
        2,
        "the delivery cut off by the kill was sent again by the survivor"
    );
    for (id, at) in &arrived {
        if at.len() > 1 {
            // The documented repeat: sent before the crash, never confirmed,
            // sent again by the survivor after the crash.
            assert!(
                at.len() == 2
                    && !confirmed_at_kill.contains(id)
                    && at[0] < killed_at
                    && at[1] > killed_at,
                "{id} arrived {} times; only a delivery in flight at the kill may repeat (in flight: {in_flight})",
                at.len()
            );
        }
    }
    for id in &ledger.deliveries {
        let confirmations = ledger.delivered.get(id).copied().unwrap_or(0);
        assert!(
            (1..=arrived[id].len()).contains(&confirmations),
            "{id} confirmed {confirmations} times"
        );
    }
    let unfinished = raw
        .count("SELECT COUNT(*) FROM jobs WHERE state <> 'done' AND kind NOT IN ('sessions.purge', 'jobs.purge', 'messages.purge')")
        .await;
    assert_eq!(
        unfinished, 0,
        "the survivor finished the killed replica's jobs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stopping_keeps_its_deliveries_in_flight_to_itself() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    // A graceful stop (a rolling deploy) while a delivery is held past the
    // lease: the stopping replica keeps renewing its claim until the
    // delivery is answered, so the other never sends it again.
    let lease = ["--job-lease", "2s"];
    // Held past the lease and the other replica's longest idle look (5 s),
    // within the delivery's 10 s timeout.
    let hold = Duration::from_secs(8);
    let receiver = Receiver::start(hold).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &config(&receiver.url, "slow", 0));
    let mut stopping =
        tokio::task::block_in_place(|| ServerProcess::serve(&db, &config, TOKEN, &lease));
    let _other = tokio::task::block_in_place(|| ServerProcess::serve(&db, &config, TOKEN, &lease));
    let raw = RawDb::connect(&db).await;
    let client = siaga::outbound::http_client().unwrap();
    trigger(&client, &stopping.url, "rolling-1").await;
    let deadline = Instant::now() + PATIENCE;
    while receiver.open(hold).is_empty() {
        assert!(Instant::now() < deadline, "the page was never in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stopping.signal("TERM");
    assert_eq!(tokio::task::block_in_place(|| stopping.wait()), 0);
    let deadline = Instant::now() + PATIENCE;
    while raw.count(CONFIRMED).await < 1 {
        assert!(Instant::now() < deadline, "the page was not confirmed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let repeated: Vec<_> = receiver
        .by_delivery()
        .into_iter()
        .filter(|(_, at)| at.len() > 1)
        .collect();
    assert!(
        repeated.is_empty(),
        "sent again while its stopping sender still held it: {repeated:?}"
    );
}

/// One process: the first level is delivered, the process is killed, the
/// second level's wait passes while it is down, and it is started again.
async fn restart_mid_escalation(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let receiver = Receiver::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &config(&receiver.url, "fast", 0));
    let mut server = tokio::task::block_in_place(|| ServerProcess::serve(&db, &config, TOKEN, &[]));
    let raw = RawDb::connect(&db).await;
    let client = siaga::outbound::http_client().unwrap();
    let groups = 3;
    for i in 0..groups {
        trigger(&client, &server.url, &format!("restart-{i}")).await;
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        let confirmed = raw.count(CONFIRMED).await;
        let waiting = raw
            .count("SELECT COUNT(*) FROM jobs WHERE kind = 'escalation.step' AND state = 'pending'")
            .await;
        if confirmed == groups && waiting == groups {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first level was not delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(receiver.to("first"), groups as usize);
    assert_eq!(receiver.to("second"), 0, "the second level waits a minute");

    tokio::task::block_in_place(|| server.kill());
    assert_eq!(
        time_travel(&raw).await,
        groups as u64,
        "the wait passes while siaga is down"
    );
    let mut restarted =
        tokio::task::block_in_place(|| ServerProcess::serve(&db, &config, TOKEN, &[]));
    // A hang guard, not a performance bound: the steps are due at start.
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.to("second") < groups as usize {
        assert!(
            Instant::now() < deadline,
            "the second level was not delivered after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    run_escalations_out(&raw, groups).await;
    let ledger = Ledger::read(&raw).await;
    ledger.assert_each_step_once(groups as usize, 1);
    let arrived = receiver.by_delivery();
    assert!(
        arrived.values().all(|at| at.len() == 1),
        "nothing was sent twice: {arrived:?}"
    );
    assert!(arrived.keys().eq(ledger.deliveries.iter()));
    tokio::task::block_in_place(|| {
        restarted.signal("TERM");
        assert_eq!(restarted.wait(), 0);
    });
}

/// A SQLite server killed while a delivery is in flight: restarted, it
/// hands back the claim the dead run left (one process serves a SQLite
/// database) and sends the delivery again at once, not after the 60 s
/// lease. A second server on the same file is refused meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_server_killed_mid_delivery_sends_it_again_at_restart() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let receiver = Receiver::start(HOLD).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &config(&receiver.url, "slow", 0));
    let mut server = tokio::task::block_in_place(|| ServerProcess::serve(&db, &config, TOKEN, &[]));

    let refused = tokio::task::block_in_place(|| {
        let mut second = crate::process::siaga()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                &db.url,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = second.try_wait().unwrap() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr)
                    .unwrap();
                break (status, stderr);
            }
            if Instant::now() > deadline {
                second.kill().unwrap();
                panic!("a second server on the same SQLite file kept running");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    assert!(!refused.0.success());
    assert!(
        refused.1.contains("another siaga serve is using"),
        "{}",
        refused.1
    );

    let client = siaga::outbound::http_client().unwrap();
    trigger(&client, &server.url, "crash-sqlite").await;
    let deadline = Instant::now() + PATIENCE;
    let in_flight = loop {
        if let Some(id) = receiver.open(HOLD).into_iter().next() {
            break id;
        }
        assert!(Instant::now() < deadline, "the delivery was never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::task::block_in_place(|| server.kill());
    let mut restarted =
        tokio::task::block_in_place(|| ServerProcess::serve(&db, &config, TOKEN, &[]));
    let restarted_at = Instant::now();
    // Far below the lease: only releasing the dead run's claim explains it.
    let deadline = restarted_at + Duration::from_secs(20);
    while receiver.by_delivery()[&in_flight].len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the delivery cut off by the crash was not sent again after the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        restarted.banner.contains("previous run that stopped"),
        "the restart says it took the claims back:\n{}",
        restarted.banner
    );
    tokio::task::block_in_place(|| {
        restarted.signal("TERM");
        assert_eq!(restarted.wait(), 0);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_escalation_carries_on_on_sqlite() {
    restart_mid_escalation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_escalation_carries_on_on_postgres() {
    restart_mid_escalation(Backend::Postgres).await;
}

/// A database that goes away under a running server does not keep it from
/// stopping: events are refused with a 503 their senders retry, and SIGTERM
/// still ends the process, well within its drain deadline (30 s), with
/// escalation timers pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_on_sigterm_after_its_database_is_gone() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let receiver = Receiver::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &config(&receiver.url, "slow", 1));
    let mut server = tokio::task::block_in_place(|| ServerProcess::serve(&db, &config, TOKEN, &[]));
    let client = siaga::outbound::http_client().unwrap();
    trigger(&client, &server.url, "before-the-outage").await;

    db.drop_now().await;
    let response = client
        .post(format!("{}/api/v1/integrations/generic", server.url))
        .bearer_auth(KEY)
        .json(&json!({"action": "trigger", "dedup_key": "during-the-outage", "summary": "down"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    // PagerDuty's endpoint says it in PagerDuty's words.
    let response = client
        .post(format!("{}/v2/enqueue", server.url))
        .json(&json!({"routing_key": PD_KEY, "event_action": "trigger", "payload": {"summary": "down", "source": "x", "severity": "critical"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "server error", "{body}");

    let asked = Instant::now();
    server.signal("TERM");
    let code = tokio::task::block_in_place(|| server.wait());
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "stopped after {:?}",
        asked.elapsed()
    );
    assert_eq!(code, 0, "a stop asked for is a clean stop");
}
