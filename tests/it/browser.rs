//! A journey through the web UI in real headless Chromium, driven by
//! playwright-core (tests/browser/catalogue.mjs) against a real server.

use std::path::Path;
use std::process::Command;

use siaga::domain::auth::Role;
use siaga::domain::event::Actor;

use siaga::mail::{MailSettings, Mailer};

use crate::smtp_sink::SmtpSink;
use crate::support::{Backend, SHOP, TestApp, TestDb};

/// The checkout runbook gains a script and an event handler, which must
/// never run in the browser.
fn shop_with_hostile_runbook() -> String {
    SHOP.replacen(
        "## Checkout runbook",
        "## Checkout runbook\n\n        <script>window.__pwned = true</script>\n        <img src=x onerror=\"window.__pwned=true\">\n",
        1,
    )
}

/// The Chromium binary, or `None` when the browser tests are skipped on
/// purpose; panics when they cannot run and were not skipped.
fn chromium() -> Option<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists()
        && root
            .join("tests/browser/node_modules/playwright-core")
            .exists();
    if !ready {
        if std::env::var("SIAGA_TEST_SKIP_BROWSER").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED: browser test (SIAGA_TEST_SKIP_BROWSER=1)");
            return None;
        }
        panic!(
            "the browser test needs {chromium} and tests/browser/node_modules: run scripts/test (it installs both), \
             or set SIAGA_TEST_SKIP_BROWSER=1 to skip it knowingly"
        );
    }
    Some(chromium)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_and_walk_the_catalogue_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser/catalogue.mjs");
    let Some(chromium) = chromium() else { return };

    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let t = db.app().await;
    let actor = Actor::system("test");
    t.app
        .apply_config(&actor, "shop.yaml", &shop_with_hostile_runbook())
        .await
        .expect("hostile shop applies");
    let password = "browser test password";
    t.app
        .create_user(
            &actor,
            "duty@kedai.example",
            "Duty Manager",
            Role::Admin,
            Some(password),
        )
        .await
        .unwrap();
    let org = t.app.org().await.unwrap();
    let generic_key = org
        .services
        .iter()
        .flat_map(|s| &s.integrations)
        .find(|i| i.kind == siaga::domain::org::IntegrationKind::Generic)
        .and_then(|i| i.key.clone())
        .expect("the shop has a generic integration");
    let server = t.serve().await;

    let screenshots = root.join("target/browser-screenshots");
    // Screenshots from an earlier run must not pass for this one's.
    let _ = std::fs::remove_dir_all(&screenshots);
    let url = server.url("");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("SIAGA_URL", url)
            .env("SIAGA_EMAIL", "duty@kedai.example")
            .env("SIAGA_PASSWORD", password)
            .env("SIAGA_SCREENSHOTS", &screenshots)
            .env("SIAGA_GENERIC_KEY", generic_key)
            .env("CHROMIUM", chromium)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser journey failed:\n{stdout}\n{stderr}"
    );
    assert!(
        root.join("target/browser-screenshots/services-mobile.png")
            .exists()
    );
    server.stop().await;
}

/// Executives, an owning team with a lead, a payments service with a
/// generic integration; SEV1 settles in two seconds so the journey can wait
/// for it.
fn incident_config(key: &str) -> String {
    format!(
        r#"
organisation: {{name: Kedai, time_zone: Asia/Kuala_Lumpur, base_url: "http://siaga.test"}}
people:
  - {{handle: aisyah, name: Aisyah, email: aisyah@kedai.example, contact_methods: [{{type: email, address: aisyah@kedai.example}}]}}
  - {{handle: hendra, name: Hendra, email: hendra@kedai.example, contact_methods: [{{type: email, address: hendra@kedai.example}}]}}
  - {{handle: zul, name: Zul, email: zul@kedai.example, contact_methods: [{{type: email, address: zul@kedai.example}}]}}
  - {{handle: putu, name: Putu, email: putu@kedai.example}}
teams:
  - {{name: payments, lead: zul, head: putu, members: [zul, putu]}}
executives: [aisyah, hendra]
services:
  - {{name: payments, owner: payments, tier: 1, integrations: [{{name: probes, kind: generic, key: {key}}}]}}
  - {{name: checkout, owner: payments, tier: 1, depends_on: [payments]}}
incidents:
  severities:
    - {{name: SEV1, description: Customers cannot pay., notify: [executives, owner_leads], update_every: 30m, settle: 2s}}
    - {{name: SEV2, description: Degraded., notify: [owner_leads], update_every: 60m, settle: 2s}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_and_resolve_an_incident_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(chromium) = chromium() else { return };
    let sink = SmtpSink::start().await;
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let t = db.app().await;
    let mailer = Mailer::new(
        MailSettings::parse(&sink.url()).unwrap(),
        "siaga@kedai.example",
        Some(sink.ca_file()),
    )
    .unwrap();
    let t = TestApp {
        app: t.app.with_mailer(mailer),
        clock: t.clock,
    };
    let actor = Actor::system("test");
    let key = "browser-probes-key-0123456789";
    t.app
        .apply_config(&actor, "incidents.yaml", &incident_config(key))
        .await
        .unwrap();
    let password = "browser test password";
    t.app
        .create_user(
            &actor,
            "zul@kedai.example",
            "Zul",
            Role::Responder,
            Some(password),
        )
        .await
        .unwrap();
    let server = t.serve().await;
    // The manual clock follows real time, so the settle time passes; the
    // job runner delivers the stakeholders' mail.
    let clock = t.clock.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            clock.advance(jiff::SignedDuration::from_millis(100));
        }
    });
    let (stop_runner, stopped) = tokio::sync::watch::channel(false);
    let runner = {
        let app = t.app.clone();
        let runner = siaga::workers::JobRunner {
            max_idle: std::time::Duration::from_millis(100),
            ..siaga::workers::JobRunner::default()
        };
        tokio::spawn(async move { runner.run(app, stopped).await })
    };
    let alert = serde_json::json!({"action": "trigger", "dedup_key": "card-timeouts", "summary": "Card payments time out", "severity": "critical"});
    let sent = server
        .client
        .post(server.url("/api/v1/integrations/generic"))
        .bearer_auth(key)
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);

    let url = server.url("");
    let script = root.join("tests/browser/incident.mjs");
    let screenshots = root.join("target/browser-screenshots");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("SIAGA_URL", url)
            .env("SIAGA_EMAIL", "zul@kedai.example")
            .env("SIAGA_PASSWORD", password)
            .env("SIAGA_GENERIC_KEY", key)
            .env("SIAGA_ALERT_KEY", "card-timeouts")
            .env("SIAGA_SCREENSHOTS", &screenshots)
            .env("CHROMIUM", chromium)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "incident journey failed:\n{stdout}\n{stderr}"
    );

    // The SEV1 reached the executives and the owning team's lead by mail.
    let mails = sink.wait_for(3, std::time::Duration::from_secs(20)).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        [
            "aisyah@kedai.example",
            "hendra@kedai.example",
            "zul@kedai.example"
        ]
    );
    for mail in &mails {
        let subject = mail.header("subject").unwrap_or_default();
        assert!(subject.contains("[SEV1] INC-1 declared"), "{subject}");
        assert!(
            mail.body().contains("http://siaga.test/incidents/1"),
            "{}",
            mail.body()
        );
        assert!(mail.tls, "sent over STARTTLS");
    }
    let _ = stop_runner.send(true);
    let _ = runner.await;
    ticker.abort();
    server.stop().await;
}
