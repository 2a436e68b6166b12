//! Email notifications end to end: escalations delivered over SMTP to the
//! real sink in `smtp_sink`, timers driven by the manual clock, and the
//! mailer's transport security checked against a misbehaving server.

use std::time::Duration;

use jiff::SignedDuration;
use serde_json::json;
use siaga::domain::job::{Job, JobState};
use siaga::mail::{Email, MailSettings, Mailer};

use crate::both_backends;
use crate::escalation::trigger;
use crate::smtp_sink::SmtpSink;
use crate::support::{Backend, TestApp, TestDb, run_due};

const WAIT: Duration = Duration::from_secs(10);
const INTEGRATION_KEY: &str = "probes-key-0123456789";

fn config() -> String {
    format!(
        r#"
organisation: {{name: Kedai, base_url: "https://siaga.kedai.example"}}
people:
  - {{handle: oncall, name: On Call, email: oncall@k.example, contact_methods: [{{type: email, address: oncall@k.example}}]}}
  - {{handle: lead, name: Lead, email: lead@k.example, contact_methods: [{{type: email, address: lead@k.example}}]}}
teams:
  - {{name: payments, lead: lead, head: lead, members: [oncall]}}
escalation_policies:
  - name: payments
    levels:
      - {{notify: ["person:oncall"], wait: 5m}}
      - {{notify: ["team_lead:payments"], wait: 10m}}
services:
  - name: checkout
    owner: payments
    tier: 1
    escalation_policy: payments
    runbook: {{url: "https://wiki.kedai.example/checkout"}}
    integrations: [{{name: probes, kind: generic, key: {INTEGRATION_KEY}}}]
"#
    )
}

/// A mailer for the sink, trusting its CA.
fn mailer(sink: &SmtpSink, url: &str) -> Mailer {
    Mailer::new(
        MailSettings::parse(url).unwrap(),
        "Siaga <siaga@kedai.example>",
        Some(sink.ca_file()),
    )
    .unwrap()
}

/// An app on `db` mailing through the sink, with the config applied.
async fn app_mailing(db: &TestDb, sink: &SmtpSink) -> TestApp {
    let t = db.app().await;
    let url = sink.url().replace("smtp://", "smtp://siaga:s3cret@");
    let t = TestApp {
        app: t.app.with_mailer(mailer(sink, &url)),
        clock: t.clock,
    };
    t.apply("email.yaml", &config()).await;
    t
}

async fn delivery_jobs(t: &TestApp, state: JobState) -> Vec<Job> {
    t.app
        .jobs(Some(state), None, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|job| job.kind == siaga::app::escalation::DELIVER)
        .collect()
}

/// What the events with this action recorded, newest first.
async fn recorded(t: &TestApp, action: &str) -> Vec<serde_json::Value> {
    t.app
        .events(siaga::app::audit::EventQuery {
            limit: Some(200),
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.action == action)
        .map(|e| e.after.unwrap())
        .collect()
}

async fn delivered_events(t: &TestApp) -> Vec<serde_json::Value> {
    recorded(t, "notification.delivered").await
}

both_backends!(
    an_escalation_emails_the_on_call_over_starttls,
    |db: TestDb| async move {
        let sink = SmtpSink::start().await;
        let t = app_mailing(&db, &sink).await;
        trigger(&t, "gw-1").await;
        run_due(&t).await;

        let mail = sink.wait_for(1, WAIT).await;
        assert_eq!(mail.len(), 1, "one page, one mail");
        let mail = &mail[0];
        assert_eq!(mail.to, ["oncall@k.example"]);
        assert_eq!(mail.from, "siaga@kedai.example");
        assert!(mail.tls, "sent after STARTTLS");
        assert_eq!(mail.auth_user.as_deref(), Some("siaga"));
        assert_eq!(mail.auth_password.as_deref(), Some("s3cret"));
        assert_eq!(
            mail.header("Subject").as_deref(),
            Some("[CRITICAL] checkout: Checkout 5xx above 2%")
        );
        assert_eq!(
            mail.header("From").as_deref(),
            Some("Siaga <siaga@kedai.example>")
        );
        assert_eq!(mail.header("To").as_deref(), Some("oncall@k.example"));
        let delivery = mail.header("X-Siaga-Delivery").expect("a delivery header");
        assert_eq!(
            mail.header("Message-ID"),
            Some(format!("<{delivery}@kedai.example>")),
            "the Message-ID is derived from the delivery, so a repeat is recognisable, \
             under the sender's domain"
        );
        let body = mail.body();
        for expected in [
            "Checkout 5xx above 2%",
            "Service: checkout",
            "severity critical",
            "Runbook: https://wiki.kedai.example/checkout",
            "Alert: https://siaga.kedai.example/alerts/",
        ] {
            assert!(
                body.contains(expected),
                "{expected:?} missing from:\n{body}"
            );
        }
        let token = body
            .lines()
            .find_map(|l| l.strip_prefix("Acknowledge: https://siaga.kedai.example/ack/"))
            .unwrap_or_else(|| panic!("no acknowledge link in:\n{body}"));
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        assert_eq!(
            t.app.check_ack_link(token.trim()).await.unwrap(),
            Ok((alert_id, "oncall".to_string())),
            "the mailed link acknowledges this alert as the person mailed"
        );
        // Nothing but the greeting and the upgrade went in clear text.
        for command in sink.commands().iter().filter(|c| !c.tls) {
            let verb = command.line.split(' ').next().unwrap().to_ascii_uppercase();
            assert!(
                verb == "EHLO" || verb == "STARTTLS",
                "{command:?} sent in clear text"
            );
        }

        let events = delivered_events(&t).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["channel"], "email");
        assert_eq!(events[0]["person"], "oncall");
        assert_eq!(events[0]["delivery"], delivery);

        // Unacknowledged, the lead is mailed next; the on-call is not mailed again.
        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        let mail = sink.wait_for(2, WAIT).await;
        assert_eq!(mail.len(), 2);
        assert_eq!(mail[1].to, ["lead@k.example"]);
    }
);

both_backends!(
    a_temporary_failure_is_retried_and_arrives_once,
    |db: TestDb| async move {
        let sink = SmtpSink::start().await;
        sink.fail_next(1);
        let t = app_mailing(&db, &sink).await;
        trigger(&t, "gw-2").await;
        run_due(&t).await;
        assert_eq!(sink.attempts(), 1);
        assert!(sink.messages().is_empty(), "the 451 kept the message out");
        let waiting = delivery_jobs(&t, JobState::Pending).await;
        assert_eq!(waiting.len(), 1, "the delivery waits for its retry");
        let error = waiting[0].last_error.as_deref().unwrap();
        assert!(
            error.contains("451") && error.contains("Try again later"),
            "the error says the server's reply: {error}"
        );
        assert!(
            error.contains(&sink.address().to_string()),
            "the error names the server: {error}"
        );

        t.clock.advance(SignedDuration::from_secs(10));
        run_due(&t).await;
        let mail = sink.wait_for(1, WAIT).await;
        assert_eq!(mail.len(), 1);
        assert_eq!(sink.attempts(), 2);
        t.clock.advance(SignedDuration::from_mins(1));
        run_due(&t).await;
        assert_eq!(sink.messages().len(), 1, "delivered once, never again");
        assert_eq!(delivered_events(&t).await.len(), 1);
        assert!(delivery_jobs(&t, JobState::Pending).await.is_empty());
    }
);

both_backends!(
    a_permanent_refusal_ends_in_the_dead_letters_with_the_reply,
    |db: TestDb| async move {
        let sink = SmtpSink::start().await;
        sink.reject_all(true);
        let t = app_mailing(&db, &sink).await;
        trigger(&t, "gw-3").await;
        run_due(&t).await;
        // Dead at once: a 5xx is the server's last word, not a hiccup.
        let dead = delivery_jobs(&t, JobState::Dead).await;
        assert_eq!(dead.len(), 1, "the refused delivery is dead-lettered");
        assert_eq!(dead[0].attempts, 1);
        assert_eq!(sink.attempts(), 1);
        let error = dead[0].last_error.as_deref().unwrap();
        assert!(
            error.contains("554") && error.contains("Rejected by the test sink"),
            "{error}"
        );
        assert!(error.contains("not retried"), "{error}");
        assert!(delivered_events(&t).await.is_empty());
        assert!(sink.messages().is_empty());
    }
);

both_backends!(
    without_starttls_nothing_is_sent_in_clear_text,
    |db: TestDb| async move {
        let sink = SmtpSink::start().await;
        sink.offer_starttls(false);
        let t = app_mailing(&db, &sink).await;
        trigger(&t, "gw-4").await;
        run_due(&t).await;
        assert_eq!(sink.attempts(), 0);
        let verbs: Vec<String> = sink
            .commands()
            .iter()
            .map(|c| c.line.split(' ').next().unwrap().to_ascii_uppercase())
            .collect();
        assert!(
            verbs.iter().all(|v| v == "EHLO" || v == "QUIT"),
            "only the greeting, no login and no message: {verbs:?}"
        );
        let waiting = delivery_jobs(&t, JobState::Pending).await;
        assert_eq!(waiting.len(), 1);
        let error = waiting[0].last_error.as_deref().unwrap();
        assert!(
            error.contains("does not offer STARTTLS, which is required")
                && error.contains("nothing was sent"),
            "{error}"
        );
        assert!(delivered_events(&t).await.is_empty());
    }
);

both_backends!(
    email_contacts_are_skipped_without_a_mailer,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply("email.yaml", &config()).await;
        trigger(&t, "gw-5").await;
        run_due(&t).await;
        assert!(
            delivery_jobs(&t, JobState::Pending).await.is_empty()
                && delivery_jobs(&t, JobState::Dead).await.is_empty(),
            "no SMTP server, no email deliveries to fail"
        );
        let notified = recorded(&t, "escalation.notified").await;
        let after = notified.first().expect("the step ran");
        assert_eq!(after["skipped"][0]["channel"], "email", "{after}");
        assert_eq!(after["skipped"][0]["person"], "oncall", "{after}");
    }
);

fn email(to: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Test".into(),
        text: "Hello.\n.A line starting with a dot.\n".into(),
        message_id: "<test@siaga>".into(),
        headers: vec![],
        date: crate::support::start_time(),
    }
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_refused() {
    let sink = SmtpSink::start().await;
    let stranger = SmtpSink::start().await;
    for mailer in [
        mailer(&stranger, &sink.url()),
        Mailer::new(
            MailSettings::parse(&sink.url()).unwrap(),
            "siaga@kedai.example",
            None,
        )
        .unwrap(),
    ] {
        let error = mailer.send(&email("a@k.example")).await.unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("STARTTLS: TLS failed: invalid peer certificate: UnknownIssuer"),
            "{message}"
        );
    }
    assert_eq!(sink.attempts(), 0);
    assert!(
        sink.commands().iter().all(|c| !c.tls),
        "the handshake never completed"
    );
}

#[tokio::test]
async fn implicit_tls_and_opportunistic_starttls() {
    let implicit = SmtpSink::start_implicit_tls().await;
    let url = implicit.url().replace("smtps://", "smtps://u:p@");
    mailer(&implicit, &url)
        .send(&email("a@k.example"))
        .await
        .unwrap();
    let mail = implicit.wait_for(1, WAIT).await;
    assert!(mail[0].tls);
    assert_eq!(mail[0].auth_user.as_deref(), Some("u"));
    assert_eq!(
        mail[0].body().trim_end(),
        "Hello.\r\n.A line starting with a dot.",
        "dot-stuffed by the client, unstuffed by the server"
    );

    let plain = SmtpSink::start().await;
    plain.offer_starttls(false);
    let error = mailer(&plain, &plain.url())
        .send(&email("a@k.example"))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("STARTTLS, which is required"),
        "{error}"
    );
    assert_eq!(plain.attempts(), 0, "required means nothing in clear text");
    let opportunistic = format!("{}?starttls=opportunistic", plain.url());
    mailer(&plain, &opportunistic)
        .send(&email("a@k.example"))
        .await
        .unwrap();
    assert!(
        !plain.wait_for(1, WAIT).await[0].tls,
        "clear text, as allowed"
    );

    // With a password, clear text is never allowed.
    let with_password = opportunistic.replace("smtp://", "smtp://u:p@");
    let error = mailer(&plain, &with_password)
        .send(&email("a@k.example"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("clear text"), "{error}");
    assert!(
        !plain
            .commands()
            .iter()
            .any(|c| c.line.to_ascii_uppercase().starts_with("AUTH")),
        "the password never left"
    );
    assert_eq!(plain.messages().len(), 1);
}

#[tokio::test]
async fn refusals_and_unreachable_servers_are_named() {
    let sink = SmtpSink::start().await;
    let mailer_for_sink = mailer(&sink, &sink.url());
    sink.reject_all(true);
    let error = mailer_for_sink
        .send(&email("a@k.example"))
        .await
        .unwrap_err();
    assert_eq!(error.reply_code(), Some(554));
    assert!(error.is_permanent());
    sink.reject_all(false);
    // Refused credentials may be a password being rotated: retried.
    sink.refuse_credentials(true);
    let with_password = mailer(&sink, &sink.url().replace("smtp://", "smtp://siaga:old@"));
    let error = with_password.send(&email("a@k.example")).await.unwrap_err();
    assert_eq!(error.reply_code(), Some(535));
    assert!(!error.is_permanent(), "{error}");
    sink.refuse_credentials(false);
    sink.fail_next(1);
    let error = mailer_for_sink
        .send(&email("a@k.example"))
        .await
        .unwrap_err();
    assert_eq!(error.reply_code(), Some(451));
    assert!(!error.is_permanent());
    assert!(error.to_string().contains("temporary"), "{error}");

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let error = mailer(&sink, &format!("smtp://{closed}"))
        .send(&email("a@k.example"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&closed.to_string()) && error.contains("connecting"),
        "{error}"
    );

    let error = mailer_for_sink
        .send(&email("not an address"))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not an email address"), "{error}");
}

#[test]
fn serve_refuses_bad_smtp_settings_at_start() {
    for (args, expected) in [
        (
            vec!["--smtp-url", "ftp://x"],
            "the SMTP URL has the scheme `ftp`",
        ),
        (
            vec!["--smtp-url", "smtp://u:hunter2@mail.example"],
            "--smtp-url needs --smtp-from",
        ),
        (
            vec![
                "--smtp-url",
                "smtp://mail.example?starttls=maybe",
                "--smtp-from",
                "a@b.example",
            ],
            "starttls=maybe",
        ),
        (vec!["--smtp-from", "a@b.example"], "need --smtp-url"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = crate::process::siaga()
            .current_dir(dir.path())
            .arg("serve")
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            !dir.path().join("siaga-data").exists(),
            "refused before touching the store"
        );
    }
}

/// `siaga serve` with the SMTP settings in its environment mails a page
/// for an alert posted over HTTP.
async fn serve_mails_a_page(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("email.yaml");
    std::fs::write(&config_file, config()).unwrap();
    let mut command = crate::process::siaga();
    command
        .args(["serve", "--database-url", &db.url, "--config"])
        .arg(&config_file)
        .env(
            "SIAGA_SMTP_URL",
            sink.url().replace("smtp://", "smtp://siaga:s3cret@"),
        )
        .env("SIAGA_SMTP_FROM", "siaga@kedai.example")
        .env("SIAGA_SMTP_CA_FILE", sink.ca_file());
    let server = tokio::task::block_in_place(|| crate::process::ServerProcess::start(command));
    let reply = crate::support::client()
        .post(format!("{}/api/v1/integrations/generic", server.url))
        .bearer_auth(INTEGRATION_KEY)
        .json(&json!({"action": "trigger", "dedup_key": "gw-6", "summary": "Checkout down", "severity": "critical"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let mail = sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(mail[0].to, ["oncall@k.example"]);
    assert!(mail[0].tls);
    assert_eq!(
        mail[0].header("Subject").as_deref(),
        Some("[CRITICAL] checkout: Checkout down")
    );
    assert!(
        !server.banner.contains("s3cret"),
        "the password is not logged: {}",
        server.banner
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mails_a_page_on_sqlite() {
    serve_mails_a_page(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mails_a_page_on_postgres() {
    serve_mails_a_page(Backend::Postgres).await;
}
