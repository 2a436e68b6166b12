//! A journey through the web UI in real headless Chromium, driven by
//! playwright-core (tests/browser/catalogue.mjs) against a real server.

use std::path::Path;
use std::process::Command;

use siaga::domain::auth::Role;
use siaga::domain::event::Actor;

use crate::support::{Backend, SHOP, TestDb};

/// The checkout runbook gains a script and an event handler, which must
/// never run in the browser.
fn shop_with_hostile_runbook() -> String {
    SHOP.replacen(
        "## Checkout runbook",
        "## Checkout runbook\n\n        <script>window.__pwned = true</script>\n        <img src=x onerror=\"window.__pwned=true\">\n",
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_and_walk_the_catalogue_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser/catalogue.mjs");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists()
        && root
            .join("tests/browser/node_modules/playwright-core")
            .exists();
    if !ready {
        if std::env::var("SIAGA_TEST_SKIP_BROWSER").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED: browser test (SIAGA_TEST_SKIP_BROWSER=1)");
            return;
        }
        panic!(
            "the browser test needs {chromium} and tests/browser/node_modules: run scripts/test (it installs both), \
             or set SIAGA_TEST_SKIP_BROWSER=1 to skip it knowingly"
        );
    }

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
