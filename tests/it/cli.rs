//! The `siaga` binary: config validation, admin commands, the API client,
//! and the server process itself (signals, reloads, zero-config start).

use std::process::Command;

use siaga::domain::auth::Role;

use crate::process::{ServerProcess, siaga};
use crate::support::{Backend, SHOP, TestDb, postgres_url};

fn output(command: &mut Command) -> (i32, String, String) {
    let out = command.output().expect("run siaga");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn config_validate_lists_every_error_with_line_field_and_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("shop.yaml");
    std::fs::write(&good, SHOP).unwrap();
    let (code, stdout, _) = output(siaga().args(["config", "validate"]).arg(&good));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("valid (15 people, 5 teams, 11 services, 3 schedules)"),
        "{stdout}"
    );

    let bad = dir.path().join("bad.yaml");
    let broken = SHOP
        .replacen("owner: payments", "owner: paymnts", 1)
        .replacen("tier: 1", "tier: 0", 1);
    std::fs::write(&bad, &broken).unwrap();
    let (code, _, stderr) = output(siaga().args(["config", "validate"]).arg(&bad));
    assert_eq!(code, 1);
    let line = broken.lines().position(|l| l.contains("paymnts")).unwrap() + 1;
    assert!(stderr.contains(&format!("bad.yaml:{line}:")), "{stderr}");
    assert!(
        stderr.contains(".owner: unknown team `paymnts` (did you mean `payments`?)"),
        "{stderr}"
    );
    assert!(stderr.contains(".tier: tier must be 1"), "{stderr}");
    assert!(stderr.contains("2 errors"), "{stderr}");

    let (code, _, stderr) = output(siaga().args(["config", "validate", "/no/such/file.yaml"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot read config file /no/such/file.yaml"),
        "{stderr}"
    );
}

#[test]
fn unreachable_database_is_named_with_the_password_masked() {
    let (code, _, stderr) = output(siaga().args([
        "migrate",
        "--database-url",
        "postgres://siaga:hunter2@127.0.0.1:1/siaga",
    ]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("postgres://siaga:***@127.0.0.1:1/siaga"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let (code, _, stderr) = output(siaga().args(["migrate", "--database-url", "mysql://x"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("unsupported database URL"), "{stderr}");
}

#[test]
fn zero_config_start_creates_an_admin_and_prints_its_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = siaga();
    command.current_dir(dir.path()).arg("serve");
    let mut server = ServerProcess::start(command);
    assert!(
        dir.path().join("siaga-data/siaga.db").exists(),
        "the embedded store lives under ./siaga-data"
    );
    let client = server
        .banner
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("siaga_"))
        .unwrap_or_else(|| panic!("no token printed:\n{}", server.banner))
        .to_string();
    let (code, stdout, stderr) = output(siaga().args([
        "services",
        "list",
        "--json",
        "--server",
        &server.url,
        "--token",
        &client,
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "[]", "no config, no services");
    server.signal("TERM");
    assert_eq!(server.wait(), 0, "a clean stop on SIGTERM");

    // A second start keeps the admin and prints no token.
    let mut command = siaga();
    command.current_dir(dir.path()).arg("serve");
    let mut server = ServerProcess::start(command);
    server.signal("INT");
    assert_eq!(server.wait(), 0);
    let rest: String = server.stdout.try_iter().collect::<Vec<_>>().join("\n");
    assert!(
        !rest.contains("siaga_"),
        "the token is printed only on the first start: {rest}"
    );
}

async fn client_and_reload(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shop.yaml");
    std::fs::write(&config, SHOP).unwrap();
    let token = "siaga_bootstrap_for_tests_0123456789";
    let mut server = tokio::task::block_in_place(|| ServerProcess::serve(&db, &config, token, &[]));
    let url = server.url.clone();
    let cli = |args: &[&str]| {
        output(
            siaga()
                .args(args)
                .args(["--server", &url])
                .env("SIAGA_TOKEN", token),
        )
    };

    let (code, stdout, stderr) = cli(&["services", "list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("checkout") && stdout.contains("TIER"),
        "{stdout}"
    );
    let (code, stdout, _) = cli(&["services", "show", "checkout", "--json"]);
    assert_eq!(code, 0);
    let checkout: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(checkout["owner"], "payments");
    let (code, _, stderr) = cli(&["services", "show", "nope"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("service nope not found"), "{stderr}");

    // Wrong token, no token, no server: clear errors.
    let (code, _, stderr) = output(siaga().args([
        "services",
        "list",
        "--server",
        &url,
        "--token",
        "siaga_wrong",
    ]));
    assert_eq!(code, 1);
    assert!(stderr.contains("refused the token"), "{stderr}");
    let (code, _, stderr) = output(siaga().args(["services", "list", "--server", &url]));
    assert_eq!(code, 1);
    assert!(stderr.contains("no API token"), "{stderr}");
    let (code, _, stderr) = output(siaga().args([
        "services",
        "list",
        "--server",
        "http://127.0.0.1:1",
        "--token",
        token,
    ]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot reach the siaga server at http://127.0.0.1:1"),
        "{stderr}"
    );

    // A bad file on SIGHUP is refused and the last good config stays live.
    std::fs::write(
        &config,
        SHOP.replacen("owner: payments", "owner: paymnts", 1),
    )
    .unwrap();
    let refused = tokio::task::block_in_place(|| {
        server.signal("HUP");
        server.wait_for_line("config reload refused")
    });
    // Logs going to a pipe or a file carry no terminal colour codes.
    assert!(!refused.contains('\u{1b}'), "{refused:?}");
    let (_, stdout, _) = cli(&["services", "show", "checkout", "--json"]);
    assert!(stdout.contains("\"owner\": \"payments\""), "{stdout}");

    // A good one is applied without a restart.
    std::fs::write(
        &config,
        SHOP.replacen("display_name: Checkout", "display_name: Checkout v2", 1),
    )
    .unwrap();
    tokio::task::block_in_place(|| {
        server.signal("HUP");
        server.wait_for_line("config reloaded");
    });
    let (_, stdout, _) = cli(&["services", "show", "checkout", "--json"]);
    assert!(stdout.contains("Checkout v2"), "{stdout}");

    // `config apply` uploads a file; errors come back and nothing changes.
    let other = dir.path().join("other.yaml");
    std::fs::write(&other, SHOP.replacen("tier: 1", "tier: 5", 1)).unwrap();
    let (code, _, stderr) = cli(&["config", "apply", other.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("tier must be 1") && stderr.contains("kept its current config"),
        "{stderr}"
    );
    std::fs::write(&other, SHOP).unwrap();
    let (code, stdout, stderr) = cli(&["config", "apply", other.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("updated service checkout"), "{stdout}");

    tokio::task::block_in_place(|| {
        server.signal("TERM");
        assert_eq!(server.wait(), 0);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_cli_client_and_reload_on_sqlite() {
    client_and_reload(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_cli_client_and_reload_on_postgres() {
    if postgres_url().is_some() {
        client_and_reload(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_work_on_the_database_directly() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let (code, stdout, stderr) = output(
        siaga()
            .args([
                "admin",
                "create-user",
                "--email",
                "sre@kedai.example",
                "--name",
                "SRE",
                "--role",
                "admin",
                "--database-url",
                &db.url,
            ])
            .env("SIAGA_PASSWORD", "long enough password"),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("created admin user sre@kedai.example"),
        "{stdout}"
    );
    let (code, _, stderr) = output(siaga().args([
        "admin",
        "create-user",
        "--email",
        "sre@kedai.example",
        "--name",
        "SRE",
        "--database-url",
        &db.url,
    ]));
    assert_eq!(code, 1);
    assert!(stderr.contains("already exists"), "{stderr}");
    let (code, stdout, stderr) = output(siaga().args([
        "admin",
        "create-token",
        "--email",
        "sre@kedai.example",
        "--name",
        "ci",
        "--role",
        "viewer",
        "--database-url",
        &db.url,
    ]));
    assert_eq!(code, 0, "{stderr}");
    let secret = stdout.trim();
    let t = db.app().await;
    let caller = t.app.authenticate_token(secret).await.unwrap();
    assert_eq!(
        (caller.user.email.as_str(), caller.role),
        ("sre@kedai.example", Role::Viewer)
    );
    let (code, _, stderr) = output(siaga().args([
        "admin",
        "create-token",
        "--email",
        "nobody@x.example",
        "--name",
        "ci",
        "--database-url",
        &db.url,
    ]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("user nobody@x.example not found"),
        "{stderr}"
    );
}

async fn alert_verbs(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let t = db.app().await;
    t.apply_shop().await;
    let admin = t.token(Role::Admin).await;
    let server = t.serve().await;
    let url = server.url("");
    let cli = move |args: &[&str]| {
        let (url, admin) = (url.clone(), admin.clone());
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            output(
                siaga()
                    .args(&args)
                    .args(["--server", &url, "--token", &admin]),
            )
        })
    };

    let (code, stdout, stderr) = cli(&["integrations", "list", "--json"]).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    let integrations: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let generic = integrations
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "generic")
        .unwrap();
    let key = generic["key"].as_str().unwrap().to_string();
    let event = serde_json::json!({"action": "trigger", "dedup_key": "cli-1", "summary": "Checkout button does nothing", "severity": "critical"});
    let sent = server
        .client
        .post(server.url("/api/v1/integrations/generic"))
        .bearer_auth(&key)
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);

    // Changes deploy tools announce, listed.
    let pagerduty = integrations
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "pagerduty")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let change = serde_json::json!({"routing_key": pagerduty, "payload": {"summary": "Deploy checkout v3.1", "source": "argo", "timestamp": "2026-11-02T08:30:00Z"}});
    let announced = server
        .client
        .post(server.url("/v2/change/enqueue"))
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(announced.status(), 202);
    let (code, stdout, stderr) = cli(&["changes", "list"]).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Deploy checkout v3.1") && stdout.contains("argo"),
        "{stdout}"
    );
    let (code, stdout, _) = cli(&["changes", "list", "--service", "storefront", "--json"])
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), "[]", "another service's changes");
    let (code, _, stderr) = cli(&["changes", "list", "--limit", "0"]).await.unwrap();
    assert_eq!(code, 1);
    assert!(stderr.contains("limit"), "{stderr}");

    // A leaked token, found and revoked from the command line.
    let leaked = t.token(Role::Responder).await;
    let alerts_with_leaked = || {
        server
            .client
            .get(server.url("/api/v1/alerts"))
            .bearer_auth(&leaked)
            .send()
    };
    assert_eq!(alerts_with_leaked().await.unwrap().status(), 200);
    let (code, stdout, stderr) = cli(&["tokens", "list", "--json"]).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains(&leaked), "no secrets listed");
    let tokens: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let newest = tokens
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] == "responder")
        .max_by_key(|t| t["id"].as_i64())
        .unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let (code, stdout, stderr) = cli(&["tokens", "revoke", &newest]).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("revoked"), "{stdout}");
    assert_eq!(
        alerts_with_leaked().await.unwrap().status(),
        401,
        "the revoked token no longer works"
    );
    let (code, stdout, _) = cli(&["tokens", "list"]).await.unwrap();
    assert_eq!(code, 0);
    assert!(stdout.contains("REVOKED"), "{stdout}");

    let (code, stdout, _) = cli(&["alerts", "list"]).await.unwrap();
    assert_eq!(code, 0);
    assert!(
        stdout.contains("Checkout button does nothing") && stdout.contains("critical"),
        "{stdout}"
    );
    let (_, stdout, _) = cli(&["alerts", "list", "--json", "--severity", "critical"])
        .await
        .unwrap();
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    let (code, stdout, _) = cli(&["alerts", "show", &id]).await.unwrap();
    assert_eq!(code, 0);
    assert!(
        stdout.contains("opened") && stdout.contains("storefront"),
        "{stdout}"
    );
    // The first level was paged with the alert: escalating goes on to the next.
    let (code, stdout, stderr) = cli(&["alerts", "escalate", &id]).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("escalated to level 2 of storefront"),
        "{stdout}"
    );
    let (code, stdout, stderr) = cli(&["alerts", "reassign", &id, "--person", "budi"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("paging budi"), "{stdout}");
    let (code, _, stderr) = cli(&["alerts", "reassign", &id, "--person", "budy"])
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(stderr.contains("did you mean `budi`?"), "{stderr}");
    let (code, _, stderr) = cli(&["alerts", "reassign", &id]).await.unwrap();
    assert_eq!(code, 2, "a person or a policy is required: {stderr}");
    let (code, stdout, _) = cli(&["alerts", "ack", &id]).await.unwrap();
    assert_eq!(code, 0);
    assert!(stdout.contains("acknowledged"), "{stdout}");
    let (_, stdout, _) = cli(&["alerts", "resolve", &id]).await.unwrap();
    assert!(stdout.contains("resolved"), "{stdout}");
    let (code, _, stderr) = cli(&["alerts", "ack", &id]).await.unwrap();
    assert_eq!(code, 1);
    assert!(stderr.contains("already resolved"), "{stderr}");
    let (code, _, stderr) = cli(&["alerts", "list", "--status", "sleeping"])
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(stderr.contains("status"), "{stderr}");

    let (code, stdout, stderr) = cli(&[
        "maintenance",
        "start",
        "--service",
        "checkout",
        "--duration",
        "90m",
        "--reason",
        "Payment provider migration",
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("maintenance window #"), "{stdout}");
    let (_, stdout, _) = cli(&["maintenance", "list", "--service", "checkout", "--json"])
        .await
        .unwrap();
    let windows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let window_id = windows[0]["id"].as_i64().unwrap().to_string();
    let (code, _, _) = cli(&["maintenance", "cancel", &window_id]).await.unwrap();
    assert_eq!(code, 0);
    let (code, stdout, stderr) = cli(&["oncall", "now"]).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("payments-primary") && stdout.contains("zul"),
        "{stdout}"
    );
    let (code, stdout, stderr) = cli(&[
        "oncall",
        "override",
        "payments-primary",
        "--person",
        "putu",
        "--from",
        "2026-11-03T00:00:00Z",
        "--to",
        "2026-11-03T12:00:00Z",
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    let override_id = stdout
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    let (_, stdout, _) = cli(&[
        "oncall",
        "show",
        "payments-primary",
        "--from",
        "2026-11-02T00:00:00Z",
        "--to",
        "2026-11-04T00:00:00Z",
    ])
    .await
    .unwrap();
    assert!(
        stdout.contains("override") && stdout.contains("putu") && stdout.contains("GAP"),
        "{stdout}"
    );
    let (code, _, stderr) = cli(&[
        "oncall",
        "remove-override",
        "payments-primary",
        &override_id,
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = cli(&[
        "oncall",
        "override",
        "payments-primary",
        "--person",
        "putu",
        "--from",
        "2026-11-05T00:00:00Z",
        "--to",
        "2026-11-04T00:00:00Z",
    ])
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(stderr.contains("ends_at"), "{stderr}");

    let (code, _, stderr) = cli(&[
        "maintenance",
        "start",
        "--service",
        "chekout",
        "--duration",
        "1h",
        "--reason",
        "x",
    ])
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(stderr.contains("did you mean `checkout`?"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_verbs_on_sqlite() {
    alert_verbs(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_verbs_on_postgres() {
    if postgres_url().is_some() {
        alert_verbs(Backend::Postgres).await;
    }
}

/// A 2xx means committed: kill -9 right after the answers loses nothing.
async fn nothing_lost_on_kill(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shop.yaml");
    std::fs::write(&config, SHOP).unwrap();
    let token = "siaga_bootstrap_for_kill_tests_0123";
    let mut server = tokio::task::block_in_place(|| ServerProcess::serve(&db, &config, token, &[]));
    let client = siaga::outbound::http_client().unwrap();
    let integrations: serde_json::Value = client
        .get(format!("{}/api/v1/integrations", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = integrations
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "pagerduty")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();

    let mut accepted = Vec::new();
    for i in 0..50 {
        let event = serde_json::json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("kill-{i}"),
            "payload": {"summary": format!("event {i}"), "source": "test", "severity": "error"}});
        let response = client
            .post(format!("{}/v2/enqueue", server.url))
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        accepted.push(format!("kill-{i}"));
    }
    tokio::task::block_in_place(|| {
        server.signal("KILL");
        server.wait();
    });

    let mut restarted =
        tokio::task::block_in_place(|| ServerProcess::serve(&db, &config, token, &[]));
    let page: serde_json::Value = client
        .get(format!(
            "{}/api/v1/alerts?service=payments&limit=500",
            restarted.url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut stored: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["dedup_key"].as_str().unwrap().to_string())
        .collect();
    stored.sort();
    accepted.sort();
    assert_eq!(
        stored, accepted,
        "every acknowledged event survived kill -9"
    );
    tokio::task::block_in_place(|| {
        restarted.signal("TERM");
        assert_eq!(restarted.wait(), 0);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_on_kill_on_sqlite() {
    nothing_lost_on_kill(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_on_kill_on_postgres() {
    if postgres_url().is_some() {
        nothing_lost_on_kill(Backend::Postgres).await;
    }
}

/// Runs the `siaga` client against `url` with `token`, off the async
/// runtime (the in-process server answers on it meanwhile).
async fn run_client(url: &str, token: &str, args: &[&str]) -> (i32, String, String) {
    let (url, token) = (url.to_string(), token.to_string());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        output(
            siaga()
                .args(&args)
                .args(["--server", &url])
                .env("SIAGA_TOKEN", &token),
        )
    })
    .await
    .unwrap()
}

crate::both_backends!(webhook_signing_secret_verbs, |db: TestDb| async move {
    let t = db.app().await;
    let admin = t.token(Role::Admin).await;
    let responder = t.token(Role::Responder).await;
    let server = t.serve().await;
    let url = server.url("");

    let (code, shown, stderr) = run_client(&url, &admin, &["webhooks", "secret"]).await;
    assert_eq!(code, 0, "{stderr}");
    let shown = shown.trim().to_string();
    assert_eq!(
        shown,
        t.app.webhook_secret().await.unwrap(),
        "the secret deliveries are signed with"
    );

    let (code, rotated, stderr) = run_client(&url, &admin, &["webhooks", "rotate-secret"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("update your receivers"), "{stderr}");
    let rotated = rotated.trim().to_string();
    assert_ne!(rotated, shown);
    assert_eq!(rotated, t.app.webhook_secret().await.unwrap());

    let (code, _, stderr) = run_client(&url, &responder, &["webhooks", "secret"]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("may not do this"), "{stderr}");
    server.stop().await;
});

crate::both_backends!(dead_letter_verbs, |db: TestDb| async move {
    use crate::escalation::{escalating, trigger, until_dead};
    let (t, _, _received) = escalating(&db, "broken-oncall").await;
    trigger(&t, "cli-dead-1").await;
    let dead = until_dead(&t).await;
    let id = dead[0].id.to_string();
    let group = dead[0].payload["group_id"].as_i64().unwrap();
    let admin = t.token(Role::Admin).await;
    let server = t.serve().await;
    let url = server.url("");

    let (code, stdout, stderr) =
        run_client(&url, &admin, &["jobs", "list", "--state", "dead"]).await;
    assert_eq!(code, 0, "{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.contains(&format!(" {id} ")))
        .unwrap_or_else(|| panic!("job {id} listed: {stdout}"));
    assert!(
        row.contains("notification.deliver")
            && row.contains(&format!(
                "{0}/{0}",
                siaga::app::escalation::DELIVERY_ATTEMPTS
            )),
        "{row}"
    );
    assert!(row.contains(&format!("alert group #{group}")), "{row}");
    assert!(stdout.contains("HTTP 500"), "{stdout}");

    let (code, stdout, stderr) = run_client(&url, &admin, &["jobs", "retry", &id]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("back in the queue"), "{stdout}");
    let (code, stdout, _) = run_client(&url, &admin, &["jobs", "list", "--state", "dead"]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("no jobs match"), "{stdout}");
    let (code, _, stderr) = run_client(&url, &admin, &["jobs", "retry", &id]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("only dead jobs can be retried"), "{stderr}");
    let (code, _, stderr) = run_client(&url, &admin, &["jobs", "list", "--state", "zombie"]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("state"), "{stderr}");
    server.stop().await;
});

crate::both_backends!(rotate_feed_verb, |db: TestDb| async move {
    let t = db.app().await;
    t.apply_shop().await;
    let responder = t.token(Role::Responder).await;
    let viewer = t.token(Role::Viewer).await;
    let server = t.serve().await;
    let url = server.url("");
    let before = t
        .app
        .feed_url("schedule", "payments-primary")
        .await
        .unwrap()
        .unwrap();
    let (code, stdout, stderr) = run_client(
        &url,
        &responder,
        &["oncall", "rotate-feed", "payments-primary"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no longer works"), "{stderr}");
    let after = t
        .app
        .feed_url("schedule", "payments-primary")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(before, after);
    assert_eq!(
        stdout.trim(),
        after,
        "the full URL to subscribe to, under the shop's base_url"
    );
    assert!(after.starts_with("https://siaga.kedai.example/calendar/"));
    let (code, _, stderr) = run_client(
        &url,
        &viewer,
        &["oncall", "rotate-feed", "payments-primary"],
    )
    .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("may not do this"), "{stderr}");

    // A person's own feed, by an admin.
    let admin = t.token(Role::Admin).await;
    let before = t.app.feed_url("person", "zul").await.unwrap().unwrap();
    let (code, stdout, stderr) =
        run_client(&url, &admin, &["oncall", "rotate-feed", "--person", "zul"]).await;
    assert_eq!(code, 0, "{stderr}");
    let after = t.app.feed_url("person", "zul").await.unwrap().unwrap();
    assert_ne!(before, after);
    assert_eq!(stdout.trim(), after);
    let (code, _, stderr) = run_client(&url, &admin, &["oncall", "rotate-feed"]).await;
    assert_eq!(code, 2, "a usage error: {stderr}");
    assert!(stderr.contains("<SCHEDULE>"), "{stderr}");
    server.stop().await;
});

/// `siaga incident …` against a real server: every verb, tables and JSON,
/// and the errors people meet.
async fn incident_verbs(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (hooks, _received) = crate::support::receiver().await;
    let t = db.app().await;
    t.apply("incidents.yaml", &crate::incidents::config(&hooks))
        .await;
    let admin = t.token(Role::Admin).await;
    let responder = t.token(Role::Responder).await;
    // `oncall` holds the incident owner role by the schedule.
    let owner = t.token_as("oncall@k.example", Role::Responder).await;
    let server = t.serve().await;
    let url = server.url("");
    let run = move |token: &str, args: &[&str]| {
        let (url, token) = (url.clone(), token.to_string());
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            output(
                siaga()
                    .args(&args)
                    .args(["--server", &url, "--token", &token]),
            )
        })
    };
    let cli = |args: &'static [&'static str]| run(&admin, args);

    let (code, stdout, stderr) = cli(&[
        "incident",
        "declare",
        "--title",
        "Card payments fail",
        "--severity",
        "SEV1",
        "--service",
        "payments",
        "--impact",
        "Cards fail at checkout",
        "--workaround",
        "bank transfer",
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "INC-1\n", "the new id alone, for scripts");
    assert!(stderr.contains("incident owner oncall"), "{stderr}");
    let (code, _, stderr) = cli(&["incident", "declare", "--title", "x", "--severity", "SEV9"])
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(
        stderr.contains("severity: unknown severity `SEV9` (did you mean"),
        "{stderr}"
    );

    let (code, stdout, stderr) = cli(&["incident", "list"]).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("INC-1") && stdout.contains("SEV1") && stdout.contains("investigating"),
        "{stdout}"
    );
    assert!(stdout.contains("oncall"), "the owner column: {stdout}");
    let (_, stdout, _) = cli(&["incident", "list", "--status", "active", "--json"])
        .await
        .unwrap();
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed[0]["title"], "Card payments fail");
    let (_, stdout, _) = cli(&["incidents", "list", "--status", "resolved"])
        .await
        .unwrap();
    assert!(stdout.contains("no incidents match"), "{stdout}");
    let (code, _, stderr) = cli(&["incident", "list", "--status", "sleeping"])
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(
        stderr.contains("status: unknown status `sleeping`"),
        "{stderr}"
    );

    let (code, stdout, _) = cli(&["incident", "note", "INC-1", "Gateway timeouts"])
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert!(stdout.contains("INC-1: internal note posted"), "{stdout}");
    let (code, stdout, _) = cli(&[
        "incident",
        "update",
        "1",
        "--message",
        "Card payments fail; pay by bank transfer.",
        "--public",
    ])
    .await
    .unwrap();
    assert_eq!(code, 0);
    assert!(
        stdout.contains("customer-facing update posted; the next is due 2026-11-02 09:30 UTC"),
        "{stdout}"
    );
    let (code, stdout, stderr) = cli(&["incident", "role", "INC-1", "comms_lead", "lead"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("INC-1: comms_lead is now lead"), "{stdout}");
    let (code, _, stderr) = cli(&[
        "incident",
        "role",
        "INC-1",
        "comms_lead",
        "head",
        "--expected",
        "comms",
    ])
    .await
    .unwrap();
    assert_eq!(code, 1, "someone handed it over meanwhile");
    assert!(
        stderr.contains("the comms_lead is lead now, not comms"),
        "{stderr}"
    );
    let (code, stdout, _) = cli(&["incident", "status", "INC-1", "identified"])
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert_eq!(stdout, "INC-1 is identified\n");
    let (code, _, stderr) = cli(&["incident", "status", "INC-1", "resolved"])
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(
        stderr.contains("resolve the incident with resolve"),
        "{stderr}"
    );
    let (code, stdout, _) = cli(&["incident", "severity", "INC-1", "SEV2"])
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert_eq!(stdout, "INC-1 is SEV2\n");
    let (code, stdout, _) = cli(&["incident", "edit", "INC-1", "--workaround", ""])
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert!(stdout.contains("INC-1 edited"), "{stdout}");

    // An alert to link, unlink and link again.
    let event = serde_json::json!({"action": "trigger", "dedup_key": "pay-cli", "summary": "Payments 5xx", "severity": "critical"});
    let sent = server
        .client
        .post(server.url("/api/v1/integrations/generic"))
        .bearer_auth("probes-key-0123456789")
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let alert = t.app.alert_by_dedup_key("pay-cli", None).await.unwrap();
    let (code, stdout, stderr) = cli(&["incident", "link", "INC-1", "--alert", "pay-cli"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("INC-1: linked alert #{alert} (pay-cli)")),
        "{stdout}"
    );
    let (code, stdout, _) = cli(&["incident", "unlink", "INC-1", "--alert", "pay-cli"])
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert!(
        stdout.contains(&format!("INC-1: unlinked alert #{alert}")),
        "{stdout}"
    );
    let (code, _, stderr) = cli(&["incident", "unlink", "INC-1", "--alert", "pay-cli"])
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no alert with dedup key `pay-cli` is linked to INC-1"),
        "{stderr}"
    );
    let (code, _, stderr) = cli(&["incident", "link", "INC-1", "--alert", "nope"])
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(
        stderr.contains("alert with dedup key `nope` not found"),
        "{stderr}"
    );
    cli(&[
        "incident",
        "link",
        "INC-1",
        "--alert",
        "pay-cli",
        "--service",
        "payments",
    ])
    .await
    .unwrap();

    let (code, stdout, stderr) = cli(&["incident", "show", "INC-1"]).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    for expected in [
        "INC-1 [SEV2] Card payments fail — identified",
        "incident_owner   oncall",
        "comms_lead       lead",
        "[ ] Confirm the severity",
        "none yet",
        "recovery: not yet",
        "  - payments has 1 open alert",
        "(payments, triggered, key pay-cli)",
        "customer update by",
        "status investigating → identified",
    ] {
        assert!(stdout.contains(expected), "missing `{expected}`:\n{stdout}");
    }
    let (_, stdout, _) = cli(&["incident", "show", "1", "--json"]).await.unwrap();
    let shown: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["incident"]["reference"], "INC-1");
    assert!(shown["timeline"].as_array().unwrap().len() > 3);
    let (code, _, stderr) = cli(&["incident", "show", "INC-99"]).await.unwrap();
    assert_eq!(code, 1);
    assert!(stderr.contains("incident INC-99 not found"), "{stderr}");
    let (code, _, stderr) = cli(&["incident", "show", "checkout"]).await.unwrap();
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`checkout` is not an incident id: use INC-42 or 42"),
        "{stderr}"
    );

    // Resolve: refused with every reason, then the owner overrides.
    let (code, stdout, stderr) = cli(&["incident", "resolve", "INC-1"]).await.unwrap();
    assert_eq!(code, 1, "{stdout}");
    assert!(stderr.contains("INC-1 was not resolved:"), "{stderr}");
    assert!(stderr.contains("  - payments has 1 open alert"), "{stderr}");
    assert!(stderr.contains("--override REASON"), "{stderr}");
    let (code, _, stderr) = run(
        &responder,
        &["incident", "resolve", "INC-1", "--override", "fine"],
    )
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(stderr.contains("needs the incident owner role"), "{stderr}");
    let (code, stdout, stderr) = run(
        &owner,
        &[
            "incident",
            "resolve",
            "INC-1",
            "--override",
            "the probe is broken",
        ],
    )
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "INC-1 resolved without the evidence: the probe is broken\n"
    );
    let (code, stdout, _) = cli(&["incident", "reopen", "INC-1"]).await.unwrap();
    assert_eq!(code, 0);
    assert_eq!(stdout, "INC-1 reopened\n");

    let (_, stdout, _) = cli(&[
        "incident",
        "declare",
        "--title",
        "Card payments fail (dup)",
        "--severity",
        "SEV3",
    ])
    .await
    .unwrap();
    assert_eq!(stdout, "INC-2\n");
    let (code, stdout, stderr) = cli(&["incident", "merge", "INC-2", "--into", "INC-1"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "INC-2 merged into INC-1\n");
    let (_, stdout, _) = cli(&["incident", "list", "--status", "merged"])
        .await
        .unwrap();
    assert!(stdout.contains("INC-2"), "{stdout}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_verbs_on_sqlite() {
    incident_verbs(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_verbs_on_postgres() {
    if postgres_url().is_some() {
        incident_verbs(Backend::Postgres).await;
    }
}

/// A `--server` that answers 200 with a page, not siaga's JSON (a proxy's
/// login page): the client fails saying so, instead of printing an empty
/// list ("no alerts match") and exiting 0.
#[tokio::test]
async fn a_server_answering_with_a_page_is_an_error_not_an_empty_list() {
    let page = axum::Router::new().fallback(|| async {
        axum::response::Html("<html><body>Sign in to continue</body></html>")
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, page).await });
    for verb in [
        &["alerts", "list"][..],
        &["oncall", "now"],
        &["integrations", "list"],
    ] {
        let (code, stdout, stderr) = run_client(&url, "token", verb).await;
        assert_eq!(code, 1, "{verb:?}: {stdout}");
        assert!(stderr.contains("not siaga's JSON"), "{verb:?}: {stderr}");
    }
}
