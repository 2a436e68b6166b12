//! Conformance with the real Prometheus Alertmanager 0.25: a child process
//! configured the way a user would (webhook with a bearer token,
//! `pagerduty_configs`, `opsgenie_configs`) delivers to a real siaga
//! server, and each alert opens and then resolves in siaga.
//!
//! Needs `/usr/bin/prometheus-alertmanager` (Debian's
//! `prometheus-alertmanager`, which scripts/test installs), or another
//! binary named by `ALERTMANAGER`. Set `SIAGA_TEST_SKIP_ALERTMANAGER=1` to
//! skip these tests knowingly.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::{Timestamp, ToSpan};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use siaga::domain::auth::Role;
use siaga::domain::org::IntegrationKind;

use crate::both_backends;
use crate::support::{TestApp, TestDb, TestServer};

const DEFAULT_BINARY: &str = "/usr/bin/prometheus-alertmanager";
/// How long siaga may take to show what Alertmanager sent.
const DEADLINE: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);

/// Alertmanager's binary, or `None` when the tests are skipped on purpose.
fn alertmanager_binary() -> Option<PathBuf> {
    let binary = std::env::var_os("ALERTMANAGER")
        .map(PathBuf::from)
        .unwrap_or_else(|| DEFAULT_BINARY.into());
    if binary.exists() {
        return Some(binary);
    }
    if std::env::var("SIAGA_TEST_SKIP_ALERTMANAGER").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: Alertmanager conformance test (SIAGA_TEST_SKIP_ALERTMANAGER=1)");
        return None;
    }
    panic!(
        "the Alertmanager conformance tests need {}: run scripts/test (it installs Debian's \
         prometheus-alertmanager), set ALERTMANAGER to another binary, \
         or set SIAGA_TEST_SKIP_ALERTMANAGER=1 to skip them knowingly",
        binary.display()
    );
}

/// The receiver an alert is routed to, by its `receiver_kind` label.
#[derive(Clone, Copy, Debug)]
enum Receiver {
    Webhook,
    Pagerduty,
    Opsgenie,
}

impl Receiver {
    fn label(self) -> &'static str {
        match self {
            Receiver::Webhook => "webhook",
            Receiver::Pagerduty => "pagerduty",
            Receiver::Opsgenie => "opsgenie",
        }
    }

    /// The shop's service whose integration the receiver points at.
    fn service(self) -> &'static str {
        match self {
            Receiver::Webhook => "checkout",
            Receiver::Pagerduty | Receiver::Opsgenie => "payments",
        }
    }

    /// Alertmanager's group key for a group of alerts named `alertname`
    /// on this receiver's route (child route matcher, `group_by: [alertname]`).
    fn group_key(self, alertname: &str) -> String {
        format!(
            "{{}}/{{receiver_kind=\"{}\"}}:{{alertname=\"{alertname}\"}}",
            self.label()
        )
    }
}

/// The key of the shop's integration of this kind.
async fn key(t: &TestApp, kind: IntegrationKind) -> String {
    let org = t.app.org().await.unwrap();
    org.services
        .iter()
        .flat_map(|s| &s.integrations)
        .find(|i| i.kind == kind)
        .and_then(|i| i.key.clone())
        .expect("the shop has an integration of every kind")
}

/// A YAML scalar: JSON strings are YAML double-quoted strings.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// A configuration as a user would write it: one receiver per kind, each
/// reached by a child route on the `receiver_kind` label; anything else
/// goes nowhere.
fn alertmanager_config(
    server: &TestServer,
    webhook: &str,
    pagerduty: &str,
    opsgenie: &str,
) -> String {
    let webhook_url = quoted(&server.url("/api/v1/integrations/alertmanager"));
    let enqueue_url = quoted(&server.url("/v2/enqueue"));
    let api_url = quoted(&server.url("/"));
    let (webhook, pagerduty, opsgenie) = (quoted(webhook), quoted(pagerduty), quoted(opsgenie));
    format!(
        r#"route:
  receiver: nowhere
  group_by: ['alertname']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: siaga-webhook
      matchers: ['receiver_kind="webhook"']
    - receiver: siaga-pagerduty
      matchers: ['receiver_kind="pagerduty"']
    - receiver: siaga-opsgenie
      matchers: ['receiver_kind="opsgenie"']

receivers:
  - name: nowhere
  - name: siaga-webhook
    webhook_configs:
      - url: {webhook_url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {webhook}
  - name: siaga-pagerduty
    pagerduty_configs:
      - routing_key: {pagerduty}
        url: {enqueue_url}
        send_resolved: true
  - name: siaga-opsgenie
    opsgenie_configs:
      - api_key: {opsgenie}
        api_url: {api_url}
        send_resolved: true
        priority: '{{{{ if eq .CommonLabels.severity "critical" }}}}P1{{{{ else }}}}P3{{{{ end }}}}'
"#
    )
}

/// A running Alertmanager, killed when dropped. Its stderr (its log) goes
/// to a file, so that failures can show it.
struct Alertmanager {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    async fn start(binary: &Path, config: &str, http: &reqwest::Client) -> Alertmanager {
        // The port is free when picked but may be taken before Alertmanager
        // binds it: then try another.
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let config_path = dir.path().join("alertmanager.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = dir.path().join("alertmanager.log");
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let url = format!("http://127.0.0.1:{port}");
            let child = Command::new(binary)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg(format!("--web.external-url={url}"))
                .arg("--cluster.listen-address=")
                .arg("--log.level=debug")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut am = Alertmanager {
                child,
                url,
                log,
                _dir: dir,
            };
            match am.ready(http).await {
                Ok(()) => return am,
                Err(log) if log.contains("address already in use") => last_log = log,
                Err(log) => {
                    panic!("Alertmanager did not start; config:\n{config}\nits log:\n{log}")
                }
            }
        }
        panic!("Alertmanager found no free port; its last log:\n{last_log}");
    }

    /// Waits for `/-/ready`; the log if Alertmanager exits or never gets ready.
    async fn ready(&mut self, http: &reqwest::Client) -> Result<(), String> {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("(exited: {status})\n{}", self.log()));
            }
            let ready = http
                .get(format!("{}/-/ready", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        Err(format!("(not ready within {DEADLINE:?})\n{}", self.log()))
    }

    /// The last lines of Alertmanager's log.
    fn log(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// siaga with the shop, served, and an Alertmanager delivering to it.
struct Rig {
    _t: TestApp,
    server: TestServer,
    viewer: String,
    am: Alertmanager,
    http: reqwest::Client,
}

impl Rig {
    async fn start(db: &TestDb, binary: &Path) -> Rig {
        let t = db.app().await;
        t.apply_shop().await;
        let viewer = t.token(Role::Viewer).await;
        let server = t.serve().await;
        let config = alertmanager_config(
            &server,
            &key(&t, IntegrationKind::Alertmanager).await,
            &key(&t, IntegrationKind::Pagerduty).await,
            &key(&t, IntegrationKind::Opsgenie).await,
        );
        let http = siaga::outbound::client_builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let am = Alertmanager::start(binary, &config, &http).await;
        Rig {
            _t: t,
            server,
            viewer,
            am,
            http,
        }
    }

    /// A failure message: `what`, with what Alertmanager holds and its log.
    async fn report(&self, what: &str) -> String {
        let held = match self
            .http
            .get(format!("{}/api/v2/alerts", self.am.url))
            .send()
            .await
        {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(e) => format!("(cannot ask: {e})"),
        };
        format!(
            "{what}\n--- Alertmanager's alerts:\n{held}\n--- Alertmanager's log (last lines):\n{}",
            self.am.log()
        )
    }

    async fn check(&self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            panic!("{}", self.report(&what()).await);
        }
    }

    /// Posts alerts to Alertmanager's API v2.
    async fn post(&self, alerts: &[Value]) {
        let response = self
            .http
            .post(format!("{}/api/v2/alerts", self.am.url))
            .json(alerts)
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                let what = format!("Alertmanager refused the alerts: {status} {body}");
                panic!("{}", self.report(&what).await)
            }
            Err(e) => {
                let what = format!("cannot post to Alertmanager: {e}");
                panic!("{}", self.report(&what).await)
            }
        }
    }

    /// siaga's alerts for `query`, as its API lists them.
    async fn alerts(&self, query: &str) -> Vec<Value> {
        let response = self
            .server
            .get(&format!("/api/v1/alerts{query}"), &self.viewer)
            .send()
            .await
            .unwrap();
        let page = crate::support::json(response, 200).await;
        page["items"].as_array().unwrap().clone()
    }

    /// Polls siaga until an alert listed for `query` satisfies `found`.
    async fn wait_for(&self, what: &str, query: &str, found: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        let mut seen = Vec::new();
        while started.elapsed() < DEADLINE {
            seen = self.alerts(query).await;
            if let Some(alert) = seen.iter().find(|a| found(a)) {
                return alert.clone();
            }
            tokio::time::sleep(POLL).await;
        }
        let what = format!(
            "{what}: not in siaga within {DEADLINE:?}; /api/v1/alerts{query} lists:\n{}",
            serde_json::to_string_pretty(&seen).unwrap()
        );
        panic!("{}", self.report(&what).await)
    }

    /// Alertmanager's fingerprint of its one alert named `alertname`.
    async fn fingerprint(&self, alertname: &str) -> String {
        let held: Vec<Value> = self
            .http
            .get(format!("{}/api/v2/alerts", self.am.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        held.iter()
            .find(|a| a["labels"]["alertname"] == alertname)
            .and_then(|a| a["fingerprint"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("Alertmanager holds no {alertname}: {held:?}"))
    }
}

/// One alert as Prometheus would post it; resolved when `ends_at` is past.
fn alert(
    receiver: Receiver,
    alertname: &str,
    summary: &str,
    starts_at: Timestamp,
    ends_at: Option<Timestamp>,
) -> Value {
    let service = receiver.service();
    let mut alert = json!({
        "labels": {
            "alertname": alertname,
            "service": service,
            "instance": format!("{service}-1:8080"),
            "severity": "critical",
            "receiver_kind": receiver.label(),
        },
        "annotations": {
            "summary": summary,
            "description": format!("{summary} for the last 5 minutes on {service}-1"),
        },
        "startsAt": starts_at.to_string(),
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
    });
    if let Some(ends_at) = ends_at {
        alert["endsAt"] = json!(ends_at.to_string());
    }
    alert
}

/// Fires one alert through `receiver`, waits for siaga to open it, then
/// resolves it at Alertmanager and waits for siaga to resolve it.
async fn fire_and_resolve(rig: &Rig, receiver: Receiver, alertname: &str, summary: &str) -> Seen {
    let service = receiver.service();
    let starts_at = Timestamp::now() - 1.minute();
    rig.post(&[alert(receiver, alertname, summary, starts_at, None)])
        .await;
    let names_it = |a: &Value| {
        a["labels"]["alertname"] == alertname
            || a["summary"].as_str().is_some_and(|s| s.contains(alertname))
    };
    let open = rig
        .wait_for(
            &format!("{alertname} firing via {receiver:?}"),
            &format!("?service={service}"),
            names_it,
        )
        .await;
    // While firing: Alertmanager lists only active alerts.
    let fingerprint = rig.fingerprint(alertname).await;

    rig.post(&[alert(
        receiver,
        alertname,
        summary,
        starts_at,
        Some(Timestamp::now() - 1.second()),
    )])
    .await;
    let id = open["id"].clone();
    let resolved = rig
        .wait_for(
            &format!("{alertname} resolved via {receiver:?}"),
            &format!("?service={service}&status=resolved"),
            |a| a["id"] == id,
        )
        .await;
    let still_open = rig.alerts(&format!("?service={service}")).await;
    rig.check(still_open.is_empty(), || {
        format!("nothing stays open on {service}: {still_open:#?}")
    })
    .await;
    Seen {
        open,
        resolved,
        fingerprint,
    }
}

/// An alert as siaga showed it open and then resolved, and Alertmanager's
/// fingerprint of it.
struct Seen {
    open: Value,
    resolved: Value,
    fingerprint: String,
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

both_backends!(
    alertmanager_webhook_opens_and_resolves,
    |db: TestDb| async move {
        let Some(binary) = alertmanager_binary() else {
            return;
        };
        let rig = Rig::start(&db, &binary).await;
        let name = "CheckoutErrorRate";
        let summary = "Checkout error rate above 5%";
        let Seen {
            open,
            resolved,
            fingerprint,
        } = fire_and_resolve(&rig, Receiver::Webhook, name, summary).await;
        rig.check(
            open["summary"] == summary
                && open["severity"] == "critical"
                && open["status"] == "triggered"
                && open["dedup_key"] == fingerprint.as_str()
                && open["labels"]["instance"] == "checkout-1:8080",
            || {
                format!(
                    "the alert carries the annotation's summary, the severity label and \
                     Alertmanager's fingerprint {fingerprint}: {open:#}"
                )
            },
        )
        .await;
        let links = open["links"].as_array().cloned().unwrap_or_default();
        rig.check(
            links.iter().any(|l| {
                l["text"] == "Source"
                    && l["href"] == "http://prometheus.example:9090/graph?g0.expr=up"
            }) && links.iter().any(|l| l["text"] == "Alertmanager"),
            || format!("links to the generator and to Alertmanager: {links:#?}"),
        )
        .await;
        rig.check(
            resolved["status"] == "resolved" && resolved["resolved_at"].is_string(),
            || format!("resolved: {resolved:#}"),
        )
        .await;
    }
);

both_backends!(
    alertmanager_pagerduty_receiver_opens_and_resolves,
    |db: TestDb| async move {
        let Some(binary) = alertmanager_binary() else {
            return;
        };
        let rig = Rig::start(&db, &binary).await;
        let name = "PaymentsAuthFailures";
        let Seen { open, resolved, .. } = fire_and_resolve(
            &rig,
            Receiver::Pagerduty,
            name,
            "Payment authorisations failing",
        )
        .await;

        // Alertmanager's default summary and severity (`error`: it does not
        // look at the alert's severity label unless configured to); one
        // incident per group, keyed by the group key's hash.
        let dedup_key = sha256_hex(&Receiver::Pagerduty.group_key(name));
        rig.check(
            open["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with(&format!("[FIRING:1] {name}")))
                && open["severity"] == "error"
                && open["status"] == "triggered"
                && open["dedup_key"] == dedup_key.as_str(),
            || {
                format!(
                    "Alertmanager's default summary, severity error and dedup key {dedup_key}: {open:#}"
                )
            },
        )
        .await;
        rig.check(
            resolved["status"] == "resolved" && resolved["resolved_at"].is_string(),
            || format!("resolved: {resolved:#}"),
        )
        .await;
    }
);

both_backends!(
    alertmanager_opsgenie_receiver_opens_and_resolves,
    |db: TestDb| async move {
        let Some(binary) = alertmanager_binary() else {
            return;
        };
        let rig = Rig::start(&db, &binary).await;
        let name = "PaymentsLatencyHigh";
        let Seen { open, resolved, .. } = fire_and_resolve(
            &rig,
            Receiver::Opsgenie,
            name,
            "NusaPay p95 latency above 5s",
        )
        .await;

        // The default message; the priority template's P1 is critical; the
        // alias is the group key's hash; the common labels come as details.
        let alias = sha256_hex(&Receiver::Opsgenie.group_key(name));
        let source = format!("{}/#/alerts?receiver=siaga-opsgenie", rig.am.url);
        rig.check(
            open["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with(&format!("[FIRING:1] {name}")))
                && open["severity"] == "critical"
                && open["status"] == "triggered"
                && open["dedup_key"] == alias.as_str()
                && open["labels"]["alertname"] == name
                && open["source"] == source.as_str(),
            || {
                format!(
                    "Alertmanager's default message, P1 as critical, alias {alias}, source {source}: {open:#}"
                )
            },
        )
        .await;
        rig.check(
            resolved["status"] == "resolved" && resolved["resolved_at"].is_string(),
            || format!("resolved: {resolved:#}"),
        )
        .await;
    }
);
