//! Escalation and webhook notifications end to end: real deliveries to a
//! receiver on loopback, timers driven by the manual clock.

use jiff::SignedDuration;
use serde_json::{Value, json};
use siaga::app::escalation::DELIVERY_ATTEMPTS;
use siaga::domain::auth::Role;
use siaga::domain::event::Actor;
use siaga::domain::org::IntegrationKind;

use crate::both_backends;
use crate::support::{
    OtherWriter, TestApp, TestDb, between, csrf_of, error, event_log, json, receiver, run_due,
    signed_with,
};

pub(crate) fn config(hooks: &str, oncall_hook: &str) -> String {
    format!(
        r#"
organisation: {{name: Kedai, base_url: "https://siaga.kedai.example"}}
people:
  - {{handle: oncall, name: On Call, email: oncall@k.example, contact_methods: [{{type: webhook, address: "{hooks}/hook/{oncall_hook}"}}, {{type: email, address: oncall@k.example}}]}}
  - {{handle: lead, name: Lead, email: lead@k.example, contact_methods: [{{type: webhook, address: "{hooks}/hook/lead"}}]}}
  - {{handle: head, name: Head, email: head@k.example, contact_methods: [{{type: slack, address: "{hooks}/hook/head"}}]}}
teams:
  - {{name: payments, lead: lead, head: head, members: [oncall]}}
schedules:
  - name: primary
    layers: [{{participants: [oncall], rotation: weekly, start: "2026-10-26T00:00"}}]
escalation_policies:
  - name: payments
    levels:
      - {{notify: ["schedule:primary"], wait: 5m}}
      - {{notify: ["team_lead:payments"], wait: 10m}}
      - {{notify: ["team_head:payments"], wait: 5m}}
services:
  - name: checkout
    owner: payments
    tier: 1
    escalation_policy: payments
    runbook: {{url: "https://wiki.kedai.example/checkout"}}
    integrations: [{{name: probes, kind: generic, key: probes-key-0123456789}}]
"#
    )
}

/// An app with the escalation config applied and its receiver:
/// `oncall_hook` is where the on-call person's webhook goes (`broken-…`
/// answers 500).
pub(crate) async fn escalating(
    db: &TestDb,
    oncall_hook: &str,
) -> (TestApp, String, crate::support::Received) {
    let (hooks, received) = receiver().await;
    let t = db.app().await;
    t.apply("escalation.yaml", &config(&hooks, oncall_hook))
        .await;
    (t, hooks, received)
}

/// Runs jobs a minute of the clock at a time until some job is dead (the
/// broken receiver's delivery, after its attempts); returns the dead.
pub(crate) async fn until_dead(t: &TestApp) -> Vec<siaga::domain::job::Job> {
    for _ in 0..30 {
        run_due(t).await;
        let dead = t
            .app
            .jobs(Some(siaga::domain::job::JobState::Dead), None, None)
            .await
            .unwrap()
            .items;
        if !dead.is_empty() {
            return dead;
        }
        t.clock.advance(SignedDuration::from_mins(1));
    }
    panic!("no job died in 30 minutes of retries");
}

/// A logged-in browser session of a new user with `role`: (cookie, CSRF token).
pub(crate) async fn browser(
    t: &TestApp,
    server: &crate::support::TestServer,
    email: &str,
    role: Role,
) -> (String, String) {
    let cookie = t.web_session(server, email, role).await;
    let html = server.page(&cookie, "/alerts").await;
    (cookie, csrf_of(&html))
}

pub(crate) async fn trigger(t: &TestApp, key: &str) {
    let body = json!({"action": "trigger", "dedup_key": key, "summary": "Checkout 5xx above 2%", "severity": "critical"});
    ingest_probe(t, body).await;
}

/// Ingests a generic event from checkout's probes.
async fn ingest_probe(t: &TestApp, body: Value) {
    let target = t
        .app
        .integration_for_key("probes-key-0123456789", IntegrationKind::Generic)
        .await
        .unwrap();
    let signals =
        siaga::formats::generic::parse(body.to_string().as_bytes(), &Default::default()).unwrap();
    t.app
        .ingest(&target, "generic", body.to_string(), signals)
        .await
        .unwrap();
}

both_backends!(
    escalation_climbs_until_acknowledged_and_signs_its_webhooks,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        trigger(&t, "gw-1").await;

        run_due(&t).await;
        let first = received.to("oncall");
        assert_eq!(first.len(), 1, "the on-call person is paged once");
        let (headers, body) = &first[0];
        assert_eq!(body["title"], "[CRITICAL] checkout: Checkout 5xx above 2%");
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .contains("Runbook: https://wiki.kedai.example/checkout")
        );
        assert!(
            body["alert_url"]
                .as_str()
                .unwrap()
                .starts_with("https://siaga.kedai.example/alerts/")
        );
        // The signature covers the timestamp and the body, with the server's secret.
        let secret = t.app.webhook_secret().await.unwrap();
        let signature = headers["x-siaga-signature"]
            .to_str()
            .unwrap()
            .trim_start_matches("v1=")
            .to_string();
        let raw = received
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|(w, _, _)| w == "oncall")
            .unwrap()
            .2
            .clone();
        let expected = siaga::formats::grafana::sign(
            &secret,
            format!("{}.{}", headers["x-siaga-timestamp"].to_str().unwrap(), raw).as_bytes(),
            None,
        );
        assert_eq!(signature, expected);
        assert!(headers.contains_key("x-siaga-delivery"));
        assert!(
            received.to("lead").is_empty(),
            "the lead waits for the on-call's 5 minutes"
        );

        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        assert_eq!(
            received.to("lead").len(),
            1,
            "nobody acknowledged: the lead is paged"
        );
        assert_eq!(
            received.to("oncall").len(),
            1,
            "a confirmed delivery is never sent again"
        );

        // Acknowledged: the head is never paged.
        let responder = t.token(Role::Responder).await;
        let caller = t.app.authenticate_token(&responder).await.unwrap();
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        t.app.acknowledge_alert(&caller, alert_id).await.unwrap();
        t.clock.advance(SignedDuration::from_mins(30));
        run_due(&t).await;
        assert!(
            received.to("head").is_empty(),
            "an acknowledgement stops escalation"
        );

        let log = t
            .app
            .events(siaga::app::audit::EventQuery {
                limit: Some(200),
                ..Default::default()
            })
            .await
            .unwrap();
        let notified = log
            .items
            .iter()
            .filter(|e| e.action == "escalation.notified")
            .count();
        assert_eq!(notified, 2);
        assert_eq!(
            log.items
                .iter()
                .filter(|e| e.action == "notification.delivered")
                .count(),
            2
        );
    }
);

both_backends!(
    unacknowledged_escalations_reach_the_head_then_say_so,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "broken-oncall").await;
        trigger(&t, "gw-2").await;
        for _ in 0..12 {
            run_due(&t).await;
            t.clock.advance(SignedDuration::from_mins(1));
        }
        run_due(&t).await;
        t.clock.advance(SignedDuration::from_mins(30));
        run_due(&t).await;
        let head = received.to("head");
        assert_eq!(head.len(), 1, "the head is paged last");
        // The head gets the last level's wait before the policy counts as spent.
        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        assert!(
            head[0].1["text"]
                .as_str()
                .unwrap()
                .starts_with("*[CRITICAL] checkout"),
            "Slack gets its own shape"
        );
        let log = t
            .app
            .events(siaga::app::audit::EventQuery {
                limit: Some(500),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            log.items.iter().any(|e| e.action == "escalation.exhausted"),
            "nobody acknowledged is recorded"
        );

        // The alert page says so, and shows who was paged.
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        let detail = t.app.alert_detail(alert_id).await.unwrap();
        let actions: Vec<&str> = detail
            .escalation
            .iter()
            .map(|e| e.action.as_str())
            .collect();
        assert_eq!(actions.first(), Some(&"alert_group.opened"));
        assert!(
            actions.contains(&"escalation.exhausted")
                && actions
                    .iter()
                    .filter(|a| **a == "escalation.notified")
                    .count()
                    == 3,
            "{actions:?}"
        );
        let server = t.serve().await;
        let cookie = t.web_session(&server, "duty@k.example", Role::Viewer).await;
        let page = server.page(&cookie, &format!("/alerts/{alert_id}")).await;
        assert!(page.contains("id=\"unacknowledged\""), "{page}");
        assert!(page.contains("level 3 (round 1): paged head"), "{page}");

        // The broken receiver was retried with backoff, then dead-lettered, visibly.
        assert!(
            received.to("broken-oncall").len() > 1,
            "failed deliveries are retried"
        );
        for _ in 0..10 {
            t.clock.advance(SignedDuration::from_mins(5));
            run_due(&t).await;
        }
        let dead = t
            .app
            .jobs(Some(siaga::domain::job::JobState::Dead), None, None)
            .await
            .unwrap();
        assert_eq!(dead.items.len(), 1, "{:?}", dead.items);
        assert!(
            dead.items[0]
                .last_error
                .as_deref()
                .unwrap()
                .contains("HTTP 500")
        );
        let log = t
            .app
            .events(siaga::app::audit::EventQuery {
                limit: Some(500),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(log.items.iter().any(|e| e.action == "job.dead"));
    }
);

both_backends!(
    acknowledged_but_unresolved_alerts_escalate_again,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        let config = config(&hooks, "oncall").replace(
            "      - {notify: [\"team_head:payments\"], wait: 5m}\n",
            "      - {notify: [\"team_head:payments\"], wait: 5m}\n    reescalate_after_ack: 20m\n",
        );
        t.apply("escalation.yaml", &config).await;
        trigger(&t, "gw-3").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1);
        let responder = t.token(Role::Responder).await;
        let caller = t.app.authenticate_token(&responder).await.unwrap();
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        t.app.acknowledge_alert(&caller, alert_id).await.unwrap();

        t.clock.advance(SignedDuration::from_mins(19));
        run_due(&t).await;
        assert_eq!(
            received.to("oncall").len(),
            1,
            "quiet while the acknowledgement is fresh"
        );
        t.clock.advance(SignedDuration::from_mins(2));
        run_due(&t).await;
        assert_eq!(
            received.to("oncall").len(),
            2,
            "still unresolved after 20 minutes: paged again"
        );
        let alert = t.app.alert_detail(alert_id).await.unwrap().alert;
        assert_eq!(alert.status, siaga::domain::alert::AlertStatus::Triggered);

        // Resolving ends it for good.
        t.app.resolve_alert(&caller, alert_id).await.unwrap();
        t.clock.advance(SignedDuration::from_hours(2));
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 2);
        assert!(
            received.to("lead").is_empty(),
            "a resolved group escalates no further"
        );
    }
);

/// The escalation config with `extra` appended to the policy and alerts of
/// one `alertname` grouped on checkout.
fn grouped_config(hooks: &str, extra: &str) -> String {
    config(hooks, "oncall")
        .replace(
            "      - {notify: [\"team_head:payments\"], wait: 5m}\n",
            &format!("      - {{notify: [\"team_head:payments\"], wait: 5m}}\n{extra}"),
        )
        .replace(
            "    escalation_policy: payments\n",
            "    escalation_policy: payments\n    alert_grouping: {by: [alertname], window: 10m}\n",
        )
}

/// Triggers `key` on checkout with the label `alertname: X`.
async fn trigger_grouped(t: &TestApp, key: &str) {
    let body = json!({"action": "trigger", "dedup_key": key, "summary": "Checkout 5xx", "severity": "critical", "labels": {"alertname": "X"}});
    ingest_probe(t, body).await;
}

fn delivery_ids(received: &crate::support::Received, hook: &str) -> Vec<String> {
    received
        .to(hook)
        .iter()
        .map(|(headers, _)| headers["x-siaga-delivery"].to_str().unwrap().to_string())
        .collect()
}

both_backends!(
    an_acknowledgement_ends_the_pending_step_so_reescalation_pages_the_first_level_again,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        // Re-escalation (10m) falls due while the first level's wait (30m)
        // would still be running.
        let config = config(&hooks, "oncall")
            .replace(
                "      - {notify: [\"schedule:primary\"], wait: 5m}\n",
                "      - {notify: [\"schedule:primary\"], wait: 30m}\n",
            )
            .replace(
                "      - {notify: [\"team_head:payments\"], wait: 5m}\n",
                "      - {notify: [\"team_head:payments\"], wait: 5m}\n    reescalate_after_ack: 10m\n",
            );
        t.apply("escalation.yaml", &config).await;
        trigger(&t, "gw-ack").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1);
        let responder = t.token(Role::Responder).await;
        let caller = t.app.authenticate_token(&responder).await.unwrap();
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        t.app.acknowledge_alert(&caller, alert_id).await.unwrap();

        t.clock.advance(SignedDuration::from_mins(11));
        run_due(&t).await;
        assert_eq!(
            received.to("oncall").len(),
            2,
            "re-escalation starts over at the first level"
        );
        let ids = delivery_ids(&received, "oncall");
        assert_ne!(ids[0], ids[1], "a new page has a new delivery id");
        // The old 30-minute timer is gone: at 31 minutes the lead is not
        // paged early; the restarted level's own wait runs from minute 11.
        t.clock.advance(SignedDuration::from_mins(20));
        run_due(&t).await;
        assert!(received.to("lead").is_empty(), "no stale timer fired");
        t.clock.advance(SignedDuration::from_mins(11));
        run_due(&t).await;
        assert_eq!(
            received.to("lead").len(),
            1,
            "the restarted policy climbs on"
        );
    }
);

both_backends!(
    a_new_alert_in_a_resolved_or_acknowledged_group_pages_again,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        t.apply("escalation.yaml", &grouped_config(&hooks, ""))
            .await;
        let responder = t.token(Role::Responder).await;
        let caller = t.app.authenticate_token(&responder).await.unwrap();

        trigger_grouped(&t, "pod-1").await;
        trigger_grouped(&t, "pod-2").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1, "a storm pages once");
        let alerts = t.app.alerts(Default::default()).await.unwrap().items;
        let group_id = alerts[0].group_id;
        assert!(alerts.iter().all(|a| a.group_id == group_id));

        // Acknowledged, then a new member: the group triggers and pages.
        for alert in &alerts {
            t.app.acknowledge_alert(&caller, alert.id).await.unwrap();
        }
        t.clock.advance(SignedDuration::from_mins(1));
        trigger_grouped(&t, "pod-3").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 2, "paged for the new member");

        // Resolved, then a flap inside the group's window: it reopens and
        // pages, with deliveries of their own.
        for alert in t.app.alerts(Default::default()).await.unwrap().items {
            t.app.resolve_alert(&caller, alert.id).await.unwrap();
        }
        t.clock.advance(SignedDuration::from_mins(2));
        trigger_grouped(&t, "pod-1").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 3, "paged for the flap");
        let reopened = t.app.alerts(Default::default()).await.unwrap().items;
        assert_eq!(reopened.len(), 1);
        assert_eq!(reopened[0].group_id, group_id, "the group reopened");
        let ids = delivery_ids(&received, "oncall");
        assert_eq!(
            ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
            3,
            "three pages, three delivery ids: {ids:?}"
        );
        let log = event_log(&t).await;
        assert!(log.iter().any(|e| e.action == "alert_group.reopened"));

        // And it escalates on from there when nobody answers.
        t.clock.advance(SignedDuration::from_mins(6));
        run_due(&t).await;
        assert_eq!(received.to("lead").len(), 1);
    }
);

both_backends!(
    escalate_now_finds_the_last_level_behind_many_delivery_events,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        trigger(&t, "busy-1").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1);
        let alert = t.app.alerts(Default::default()).await.unwrap().items[0].clone();
        // A busy level: many delivery outcomes logged after its page.
        let mut tx = t.app.store.write().await.unwrap();
        for attempt in 0..250 {
            tx.append_event(
                t.clock.now(),
                siaga::domain::event::NewEvent::new(
                    &Actor::system("escalation"),
                    "notification.failed",
                    siaga::domain::event::Subject::new("alert_group", alert.group_id),
                )
                .after(json!({"person": "oncall", "channel": "email", "attempt": attempt})),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let caller = t.caller(Role::Responder).await;
        let state = t.app.escalate_alert(&caller, alert.id, None).await.unwrap();
        assert_eq!(state.level, Some(2), "the level after the one paged");
        assert_eq!(state.policy.as_deref(), Some("payments"));
        run_due(&t).await;
        assert_eq!(received.to("lead").len(), 1);
        assert_eq!(received.to("oncall").len(), 1, "not the first level again");
    }
);

both_backends!(
    an_alert_still_firing_when_maintenance_ends_pages_then,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        let caller = t.caller(Role::Responder).await;
        let now = t.clock.now();
        for hours in [1, 2] {
            t.app
                .create_maintenance_window(
                    &caller,
                    "checkout",
                    None,
                    now + SignedDuration::from_hours(hours),
                    "database upgrade",
                )
                .await
                .unwrap();
        }
        trigger(&t, "during-1").await;
        trigger(&t, "during-2").await;
        run_due(&t).await;
        assert!(received.to("oncall").is_empty(), "quiet during maintenance");
        let fixed = t.app.alerts(Default::default()).await.unwrap().items;
        let fixed = fixed.iter().find(|a| a.dedup_key == "during-2").unwrap();
        t.app.resolve_alert(&caller, fixed.id).await.unwrap();

        // The first window ends while the second still holds the service.
        t.clock.advance(SignedDuration::from_mins(61));
        run_due(&t).await;
        assert!(received.to("oncall").is_empty(), "still in maintenance");
        // The second ends: the alert still firing pages; the resolved one not.
        t.clock.advance(SignedDuration::from_mins(60));
        run_due(&t).await;
        let pages = received.to("oncall");
        assert_eq!(pages.len(), 1, "{pages:?}");
        assert!(
            pages[0].1["title"]
                .as_str()
                .unwrap()
                .contains("Checkout 5xx")
        );
        assert_eq!(
            events_named(&t, "alert_group.maintenance_ended")
                .await
                .len(),
            1
        );
        // And escalates on from there.
        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        assert_eq!(received.to("lead").len(), 1);
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1, "paged once");
    }
);

both_backends!(
    a_maintenance_window_from_the_config_file_pages_when_it_ends_or_is_removed,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        let plain = config(&hooks, "oncall");
        let windowed = format!(
            "{plain}maintenance_windows:\n  - {{name: upgrade, service: checkout, starts_at: \"2026-11-02T08:00:00Z\", ends_at: \"2026-11-02T10:00:00Z\", reason: upgrade}}\n"
        );
        t.apply("escalation.yaml", &windowed).await;
        trigger(&t, "config-held").await;
        run_due(&t).await;
        assert!(received.to("oncall").is_empty());
        t.clock.advance(SignedDuration::from_mins(61));
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1, "paged at the window's end");

        // Removed from the file before its end: it ends then.
        let later = windowed
            .replace("2026-11-02T08:00:00Z", "2026-11-02T10:00:00Z")
            .replace(
                "2026-11-02T10:00:00Z\", reason",
                "2026-11-02T13:00:00Z\", reason",
            );
        t.apply("escalation.yaml", &later).await;
        trigger(&t, "config-held-2").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1, "held by the new window");
        // Edited to have ended (the clock stands at 10:01): it ends now,
        // not at its old end.
        let ended = later.replace(
            "2026-11-02T13:00:00Z\", reason",
            "2026-11-02T10:01:00Z\", reason",
        );
        t.apply("escalation.yaml", &ended).await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 2, "paged when cut short");
        // Removed altogether: nothing is held any more.
        t.apply("escalation.yaml", &plain).await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 2, "paged once");
    }
);

both_backends!(
    ending_a_maintenance_window_early_pages_for_what_it_held,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        let caller = t.caller(Role::Responder).await;
        let window = t
            .app
            .create_maintenance_window(
                &caller,
                "checkout",
                None,
                t.clock.now() + SignedDuration::from_hours(3),
                "card vault migration",
            )
            .await
            .unwrap();
        trigger(&t, "held-1").await;
        run_due(&t).await;
        assert!(received.to("oncall").is_empty());
        t.clock.advance(SignedDuration::from_mins(10));
        t.app
            .cancel_maintenance_window(&caller, window.id.unwrap())
            .await
            .unwrap();
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1, "paged when it ended");
        // Its original end changes nothing more.
        t.clock.advance(SignedDuration::from_hours(3));
        t.app
            .acknowledge_alert(
                &caller,
                t.app.alerts(Default::default()).await.unwrap().items[0].id,
            )
            .await
            .unwrap();
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1);
    }
);

/// A level's step claimed just before its group went quiet (acknowledged
/// or resolved) and a new alert woke the group: the woken group starts at
/// its first level with a timer of its own, and the claimed step, stale
/// now, pages nobody when it runs.
async fn a_step_claimed_before_its_group_woke_again(db: TestDb, resolve: bool) {
    let (hooks, received) = receiver().await;
    let t = db.app().await;
    t.apply("escalation.yaml", &grouped_config(&hooks, ""))
        .await;
    let caller = t.caller(Role::Responder).await;
    trigger_grouped(&t, "pod-1").await;
    run_due(&t).await;
    assert_eq!(received.to("oncall").len(), 1);
    // The lead's level falls due and this process claims its step.
    t.clock.advance(SignedDuration::from_mins(5));
    let mut tx = t.app.store.write().await.unwrap();
    let claimed = tx
        .claim_jobs(
            t.clock.now(),
            &t.app.instance,
            SignedDuration::from_secs(60),
            16,
            &[],
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let step = claimed
        .into_iter()
        .find(|j| j.kind == "escalation.step")
        .unwrap();
    // Before the step runs, the group goes quiet and a new alert wakes it.
    let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
    if resolve {
        t.app.resolve_alert(&caller, alert_id).await.unwrap();
    } else {
        t.app.acknowledge_alert(&caller, alert_id).await.unwrap();
    }
    t.clock.advance(SignedDuration::from_secs(20));
    trigger_grouped(&t, "pod-2").await;
    run_due(&t).await;
    assert_eq!(
        received.to("oncall").len(),
        2,
        "the woken group pages its first level"
    );
    t.app.escalation_step(&step).await.unwrap();
    run_due(&t).await;
    assert!(
        received.to("lead").is_empty(),
        "the stale step paged the lead at once"
    );
    t.clock.advance(SignedDuration::from_mins(5));
    run_due(&t).await;
    assert_eq!(
        received.to("lead").len(),
        1,
        "the lead is paged when the woken group's first level has waited"
    );
    assert!(received.to("head").is_empty());
}

both_backends!(
    a_step_claimed_before_its_group_was_acknowledged_and_woke_again_is_dropped,
    |db: TestDb| a_step_claimed_before_its_group_woke_again(db, false)
);

both_backends!(
    a_step_claimed_before_its_group_was_resolved_and_woke_again_is_dropped,
    |db: TestDb| a_step_claimed_before_its_group_woke_again(db, true)
);

both_backends!(
    acknowledging_a_paged_alert_acknowledges_its_group_and_stops_escalation,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        t.apply("escalation.yaml", &grouped_config(&hooks, ""))
            .await;
        trigger_grouped(&t, "pod-1").await;
        trigger_grouped(&t, "pod-2").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1);
        // The link in the page names one alert of the group.
        let (_, body) = received.to("oncall").remove(0);
        let path = body["acknowledge_url"]
            .as_str()
            .unwrap()
            .trim_start_matches("https://siaga.kedai.example")
            .to_string();
        let server = t.serve().await;
        let page = server.client.get(server.url(&path)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let done = server.client.post(server.url(&path)).send().await.unwrap();
        assert_eq!(done.status(), 200);
        let alerts = t.app.alerts(Default::default()).await.unwrap().items;
        assert_eq!(alerts.len(), 2);
        assert!(
            alerts
                .iter()
                .all(|a| a.status == siaga::domain::alert::AlertStatus::Acknowledged),
            "the whole group: {alerts:?}"
        );
        t.clock.advance(SignedDuration::from_mins(6));
        run_due(&t).await;
        assert!(received.to("lead").is_empty(), "escalation stopped");
        server.stop().await;
    }
);

both_backends!(
    a_resolved_alert_of_an_open_group_is_neither_escalated_nor_reassigned,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        t.apply("escalation.yaml", &grouped_config(&hooks, ""))
            .await;
        let caller = t.caller(Role::Responder).await;
        trigger_grouped(&t, "pod-1").await;
        trigger_grouped(&t, "pod-2").await;
        run_due(&t).await;
        let alerts = t.app.alerts(Default::default()).await.unwrap().items;
        let resolved = alerts.iter().find(|a| a.dedup_key == "pod-1").unwrap().id;
        t.app.resolve_alert(&caller, resolved).await.unwrap();
        let escalated = t.app.escalate_alert(&caller, resolved, None).await;
        assert!(
            matches!(escalated, Err(siaga::app::Error::Conflict(_))),
            "{escalated:?}"
        );
        let assignee = siaga::app::escalation::Assignee::Person("lead".into());
        let reassigned = t.app.reassign_alert(&caller, resolved, &assignee).await;
        assert!(
            matches!(reassigned, Err(siaga::app::Error::Conflict(_))),
            "{reassigned:?}"
        );
        run_due(&t).await;
        assert!(received.to("lead").is_empty(), "nobody paged about it");
    }
);

both_backends!(
    chat_webhook_addresses_are_shown_whole_only_to_their_owner_and_admins,
    |db: TestDb| async move {
        let (t, hooks, _) = escalating(&db, "oncall").await;
        let server = t.serve().await;
        let viewer = t.token(Role::Viewer).await;
        let admin = t.token(Role::Admin).await;
        let head_url = format!("{hooks}/hook/head");
        let address = |person: &Value| {
            person["contact_methods"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["type"] == "slack")
                .unwrap()["address"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let seen = server.get_json("/api/v1/people/head", &viewer).await;
        assert!(!address(&seen).contains("/hook/head"), "{seen}");
        assert!(address(&seen).ends_with("/…"), "{seen}");
        let listed = server.get_json("/api/v1/people", &viewer).await;
        assert!(!listed.to_string().contains("/hook/"), "{listed}");
        let team = server.get_json("/api/v1/teams/payments", &viewer).await;
        assert!(!team.to_string().contains("/hook/"), "{team}");
        let full = server.get_json("/api/v1/people/head", &admin).await;
        assert_eq!(address(&full), head_url);
        server.stop().await;
    }
);

both_backends!(
    a_group_opened_in_maintenance_pages_when_an_alert_joins_it_after,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        t.apply("escalation.yaml", &grouped_config(&hooks, ""))
            .await;
        let responder = t.token(Role::Responder).await;
        let caller = t.app.authenticate_token(&responder).await.unwrap();
        let now = t.clock.now();
        let window = t
            .app
            .create_maintenance_window(
                &caller,
                "checkout",
                None,
                now + SignedDuration::from_hours(1),
                "deploy",
            )
            .await
            .unwrap();
        trigger_grouped(&t, "pod-1").await;
        run_due(&t).await;
        assert!(received.to("oncall").is_empty(), "held by maintenance");

        t.app
            .cancel_maintenance_window(&caller, window.id.unwrap())
            .await
            .unwrap();
        t.clock.advance(SignedDuration::from_mins(1));
        trigger_grouped(&t, "pod-2").await;
        run_due(&t).await;
        assert_eq!(
            received.to("oncall").len(),
            1,
            "the first alert after maintenance pages"
        );
        let alerts = t.app.alerts(Default::default()).await.unwrap().items;
        assert_eq!(alerts[0].group_id, alerts[1].group_id);
    }
);

both_backends!(
    one_click_acknowledge_links_are_signed_single_purpose_and_expire,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        trigger(&t, "gw-4").await;
        run_due(&t).await;
        let (_, body) = received.to("oncall").remove(0);
        let url = body["acknowledge_url"].as_str().unwrap().to_string();
        assert!(
            body["text"].as_str().unwrap().contains(&url),
            "the link is in the message"
        );
        let path = url
            .trim_start_matches("https://siaga.kedai.example")
            .to_string();
        assert!(path.starts_with("/ack/"));
        let server = t.serve().await;

        // Opening the link asks first (mail scanners follow links); no login needed.
        let page = server.client.get(server.url(&path)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("id=\"ack-button\""));
        let tampered = path.replace(".oncall.", ".lead.");
        assert_eq!(
            server
                .client
                .post(server.url(&tampered))
                .send()
                .await
                .unwrap()
                .status(),
            403
        );
        assert_eq!(
            server
                .client
                .get(server.url("/ack/not-a-token"))
                .send()
                .await
                .unwrap()
                .status(),
            403
        );
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        assert_eq!(
            t.app.alert_detail(alert_id).await.unwrap().alert.status,
            siaga::domain::alert::AlertStatus::Triggered,
            "nothing changed yet"
        );

        let done = server.client.post(server.url(&path)).send().await.unwrap();
        assert_eq!(done.status(), 200);
        assert!(done.text().await.unwrap().contains("id=\"ack-done\""));
        let alert = t.app.alert_detail(alert_id).await.unwrap().alert;
        assert_eq!(
            alert.status,
            siaga::domain::alert::AlertStatus::Acknowledged
        );
        assert_eq!(alert.acknowledged_by.as_deref(), Some("oncall"));
        t.clock.advance(SignedDuration::from_mins(10));
        run_due(&t).await;
        assert!(
            received.to("lead").is_empty(),
            "acknowledged by link: escalation stopped"
        );

        t.clock.advance(SignedDuration::from_hours(25));
        assert_eq!(
            server
                .client
                .post(server.url(&path))
                .send()
                .await
                .unwrap()
                .status(),
            410,
            "expired"
        );
    }
);

/// The on-call person's rules: webhook at once; Slack and email after five
/// minutes for high-urgency alerts.
fn config_with_rules(hooks: &str) -> String {
    config(hooks, "oncall").replacen(
        "{type: email, address: oncall@k.example}]}",
        &format!(
            "{{type: email, address: oncall@k.example}}, {{type: slack, address: \"{hooks}/hook/oncall-slack\"}}], \
             notification_rules: [{{channels: [webhook]}}, {{after: 5m, channels: [slack, email], urgency: high}}]}}"
        ),
        1,
    )
}

async fn events_named(t: &TestApp, action: &str) -> Vec<Value> {
    event_log(t)
        .await
        .iter()
        .filter(|e| e.action == action)
        .map(|e| e.after.clone().unwrap_or_default())
        .collect()
}

both_backends!(
    notification_rules_pick_channels_and_delays,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        t.apply("rules.yaml", &config_with_rules(&hooks)).await;
        trigger(&t, "rules-1").await;
        run_due(&t).await;
        assert_eq!(
            received.to("oncall").len(),
            1,
            "the webhook rule is at once"
        );
        assert!(
            received.to("oncall-slack").is_empty(),
            "Slack waits five minutes"
        );
        let notified = events_named(&t, "escalation.notified").await;
        let skipped = notified[0]["skipped"].as_array().unwrap();
        assert_eq!(skipped.len(), 1, "{notified:?}");
        assert_eq!(
            skipped[0]["channel"], "email",
            "no mail server is set up here"
        );

        t.clock.advance(SignedDuration::from_mins(4));
        run_due(&t).await;
        assert!(received.to("oncall-slack").is_empty());
        t.clock.advance(SignedDuration::from_mins(1));
        run_due(&t).await;
        let slack = received.to("oncall-slack");
        assert_eq!(slack.len(), 1, "the delayed rule fires after five minutes");
        assert!(
            slack[0].1["text"]
                .as_str()
                .unwrap()
                .contains("Checkout 5xx")
        );
        assert_eq!(
            received.to("oncall").len(),
            1,
            "the first rule is not repeated"
        );
    }
);

both_backends!(
    a_delayed_notification_is_dropped_once_acknowledged,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        t.apply("rules.yaml", &config_with_rules(&hooks)).await;
        trigger(&t, "rules-2").await;
        run_due(&t).await;
        let responder = t.token(Role::Responder).await;
        let caller = t.app.authenticate_token(&responder).await.unwrap();
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        t.app.acknowledge_alert(&caller, alert_id).await.unwrap();
        t.clock.advance(SignedDuration::from_mins(6));
        run_due(&t).await;
        assert!(
            received.to("oncall-slack").is_empty(),
            "acknowledged: no more pages"
        );
        let skipped = events_named(&t, "notification.skipped").await;
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0]["reason"], "the alert is acknowledged");
    }
);

both_backends!(
    escalate_now_takes_the_next_level_without_waiting,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        let server = t.serve().await;
        let responder = t.token(Role::Responder).await;
        let viewer = t.token(Role::Viewer).await;
        trigger(&t, "now-1").await;
        run_due(&t).await;
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        let path = format!("/api/v1/alerts/{alert_id}/escalate");
        // A client that sends `Content-Type` with an empty body asks for
        // the defaults, as one without a body does.
        let bare = server
            .post(&path, &viewer)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        error(bare, 403, "forbidden").await;

        error(
            server
                .post(&path, &viewer)
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
            403,
            "forbidden",
        )
        .await;
        let state = json(
            server
                .post(&path, &responder)
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(state["level"], 2);
        assert_eq!(state["policy"], "payments");
        run_due(&t).await;
        assert_eq!(
            received.to("lead").len(),
            1,
            "the lead is paged at once, not after 5 minutes"
        );

        // Straight to a named level; then there is no level after the last.
        let state = json(
            server
                .post(&path, &responder)
                .json(&json!({"level": 3}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(state["level"], 3);
        run_due(&t).await;
        assert_eq!(received.to("head").len(), 1);
        let bad = error(
            server
                .post(&path, &responder)
                .json(&json!({"level": 9}))
                .send()
                .await
                .unwrap(),
            422,
            "invalid_level",
        )
        .await;
        assert_eq!(bad["field"], "level");
        assert!(
            bad["message"].as_str().unwrap().contains("levels 1 to 3"),
            "{bad}"
        );
        error(
            server
                .post("/api/v1/alerts/999999/escalate", &responder)
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
            404,
            "not_found",
        )
        .await;

        // The old timer was replaced, not doubled: no second lead page later.
        t.clock.advance(SignedDuration::from_mins(30));
        run_due(&t).await;
        assert_eq!(received.to("lead").len(), 1);
        assert_eq!(received.to("head").len(), 1);
        assert_eq!(events_named(&t, "escalation.escalated").await.len(), 2);

        // Nobody acknowledged the last level: escalating now starts the
        // policy over, as the red banner's button promises.
        assert_eq!(events_named(&t, "escalation.exhausted").await.len(), 1);
        let paged_before = received.to("oncall").len();
        // A bare POST, no body at all, means `{}`.
        let state = json(server.post(&path, &responder).send().await.unwrap(), 200).await;
        assert_eq!(state["level"], 1);
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), paged_before + 1);

        json(
            server
                .post(&format!("/api/v1/alerts/{alert_id}/resolve"), &responder)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        error(
            server
                .post(&path, &responder)
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
            409,
            "conflict",
        )
        .await;
        server.stop().await;
    }
);

both_backends!(
    reassigning_pages_the_new_person_and_the_policy_carries_on,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        let server = t.serve().await;
        let responder = t.token(Role::Responder).await;
        trigger(&t, "re-1").await;
        run_due(&t).await;
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        json(
            server
                .post(
                    &format!("/api/v1/alerts/{alert_id}/acknowledge"),
                    &responder,
                )
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let path = format!("/api/v1/alerts/{alert_id}/reassign");

        let bad = error(
            server
                .post(&path, &responder)
                .json(&json!({"person": "hed"}))
                .send()
                .await
                .unwrap(),
            422,
            "unknown_assignee",
        )
        .await;
        assert_eq!(bad["field"], "person");
        assert!(
            bad["message"]
                .as_str()
                .unwrap()
                .contains("did you mean `head`?"),
            "{bad}"
        );
        error(
            server
                .post(&path, &responder)
                .json(&json!({"team": "payments"}))
                .send()
                .await
                .unwrap(),
            422,
            "invalid_field",
        )
        .await;
        // Valid JSON of the wrong shape is no malformed JSON: a 422 naming
        // what is missing, or what is too much.
        for (body, field) in [
            (json!({}), "person"),
            (json!({"person": "head", "policy": "payments"}), "policy"),
        ] {
            let wrong = error(
                server
                    .post(&path, &responder)
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
                422,
                "invalid_field",
            )
            .await;
            assert_eq!(wrong["field"], field, "{body}: {wrong}");
        }

        let state = json(
            server
                .post(&path, &responder)
                .json(&json!({"person": "head"}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(state["paged"], json!(["head"]));
        assert_eq!(
            state["level"], 2,
            "if the head stays silent, the lead is next"
        );
        run_due(&t).await;
        assert_eq!(
            received.to("head").len(),
            1,
            "the new assignee is paged at once"
        );
        let alert = t.app.alert_detail(alert_id).await.unwrap().alert;
        assert_eq!(
            alert.status.as_str(),
            "triggered",
            "the new assignee must acknowledge"
        );

        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        assert_eq!(
            received.to("lead").len(),
            1,
            "silence: the policy carries on"
        );

        // Another policy starts from its first level.
        json(
            server
                .post(&path, &responder)
                .json(&json!({"policy": "payments"}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 2);
        let reassigned = events_named(&t, "alert.reassigned").await;
        assert_eq!(reassigned.len(), 2);
        server.stop().await;
    }
);

both_backends!(
    the_alert_page_escalates_and_reassigns,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        let password = "a long enough password";
        t.app
            .create_user(
                &Actor::system("test"),
                "duty@k.example",
                "Duty",
                Role::Responder,
                Some(password),
            )
            .await
            .unwrap();
        trigger(&t, "web-1").await;
        run_due(&t).await;
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        let server = t.serve().await;
        let cookie = server.log_in("duty@k.example", password).await;
        let page_path = format!("/alerts/{alert_id}");
        let page = || async {
            server
                .client
                .get(server.url(&page_path))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        };
        let html = page().await;
        assert!(html.contains("Escalate now"), "{html}");
        assert!(
            html.contains("<option value=\"person:head\">Head (head)</option>"),
            "{html}"
        );
        assert!(
            html.contains("<option value=\"policy:payments\">"),
            "{html}"
        );
        let csrf = html
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let post = |action: &str, form: Vec<(&str, String)>| {
            server
                .client
                .post(server.url(&format!("/alerts/{alert_id}/{action}")))
                .header("cookie", &cookie)
                .form(&form)
                .send()
        };

        let done = post("escalate", vec![("csrf_token", csrf.clone())])
            .await
            .unwrap();
        assert_eq!(done.status(), 303);
        run_due(&t).await;
        assert_eq!(received.to("lead").len(), 1);
        let done = post(
            "reassign",
            vec![("csrf_token", csrf.clone()), ("to", "person:head".into())],
        )
        .await
        .unwrap();
        assert_eq!(done.status(), 303);
        run_due(&t).await;
        assert_eq!(received.to("head").len(), 1);
        let html = page().await;
        assert!(
            html.contains("escalated by duty@k.example to level 2"),
            "{html}"
        );
        assert!(
            html.contains("reassigned by duty@k.example to head"),
            "{html}"
        );

        let refused = post(
            "reassign",
            vec![("csrf_token", csrf.clone()), ("to", "nobody".into())],
        )
        .await
        .unwrap();
        assert_eq!(refused.status(), 422);
        let forged = post("escalate", vec![("csrf_token", "forged".into())])
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);

        // A level by its number, as the page lists them.
        let html = page().await;
        assert!(
            html.contains("<option value=\"3\">level 3: head of payments</option>"),
            "{html}"
        );
        assert!(html.contains("level 1: on call for primary"), "{html}");
        for bad in ["x", "9"] {
            let refused = post(
                "escalate",
                vec![("csrf_token", csrf.clone()), ("level", bad.into())],
            )
            .await
            .unwrap();
            assert_eq!(refused.status(), 422, "{bad}");
            assert!(refused.text().await.unwrap().contains("level"));
        }
        let done = post(
            "escalate",
            vec![("csrf_token", csrf.clone()), ("level", "1".into())],
        )
        .await
        .unwrap();
        assert_eq!(done.status(), 303);
        let before = received.to("oncall").len();
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), before + 1, "level 1 again");
        assert!(
            page()
                .await
                .contains("escalated by duty@k.example to level 1"),
            "{html}"
        );
        server.stop().await;
    }
);

both_backends!(
    a_worker_dying_after_a_step_committed_does_not_repeat_it,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        trigger(&t, "crash-1").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1, "the first page");
        // Once the on-call's minutes are up, this process claims the next
        // step and takes it, then dies before the runner's bookkeeping: the
        // step's effects and its completion committed together, so nobody
        // takes it again.
        t.clock.advance(SignedDuration::from_mins(5));
        let mut tx = t.app.store.write().await.unwrap();
        let jobs = tx
            .claim_jobs(
                t.clock.now(),
                &t.app.instance,
                SignedDuration::from_secs(60),
                16,
                &[],
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let step = jobs.iter().find(|j| j.kind == "escalation.step").unwrap();
        t.app.escalation_step(step).await.unwrap();
        t.clock.advance(SignedDuration::from_secs(61));
        run_due(&t).await;
        assert_eq!(events_named(&t, "escalation.notified").await.len(), 2);
        assert_eq!(received.to("lead").len(), 1, "the lead is paged once");
        // Had that commit been lost, the step job would run again: its
        // deliveries are named after it, so they would keep their ids and a
        // receiver could drop the repeat.
        let group = t.app.alerts(Default::default()).await.unwrap().items[0].group_id;
        let ids = delivery_ids(&received, "lead");
        assert!(
            ids[0].starts_with(&format!(
                "{}-{group}-0-1-j{}-lead-",
                t.app.store.installation(),
                step.id
            )),
            "{ids:?}"
        );
    }
);

both_backends!(
    admins_read_and_rotate_the_signing_secret_and_the_next_delivery_uses_it,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        let server = t.serve().await;
        let admin = t.token(Role::Admin).await;
        let responder = t.token(Role::Responder).await;
        let path = "/api/v1/webhooks/signing-secret";
        error(
            server.get(path, &responder).send().await.unwrap(),
            403,
            "forbidden",
        )
        .await;
        error(
            server
                .post(&format!("{path}/rotate"), &responder)
                .send()
                .await
                .unwrap(),
            403,
            "forbidden",
        )
        .await;
        let first = server.get_json(path, &admin).await;
        let first = first["secret"].as_str().unwrap().to_string();
        assert!(first.len() >= 43, "32 random bytes: {first}");

        trigger(&t, "rotate-1").await;
        run_due(&t).await;
        let (headers, body) = received.raw_to("oncall").remove(0);
        assert!(
            signed_with(&first, &headers, &body),
            "signed with the secret admins read"
        );
        assert_eq!(
            headers["x-siaga-timestamp"].to_str().unwrap(),
            t.clock.now().as_second().to_string(),
            "the timestamp is the Unix time of the attempt, in seconds"
        );

        let rotated = json(
            server
                .post(&format!("{path}/rotate"), &admin)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let second = rotated["secret"].as_str().unwrap().to_string();
        assert_ne!(first, second);
        let shown = server.get_json(path, &admin).await;
        assert_eq!(shown["secret"], second.as_str());

        // The next delivery (the lead, after the first level's wait) is
        // signed with the new secret only.
        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        let (headers, body) = received.raw_to("lead").remove(0);
        assert!(
            signed_with(&second, &headers, &body),
            "the rotated secret signs the next delivery"
        );
        assert!(
            !signed_with(&first, &headers, &body),
            "the old secret no longer does"
        );

        let log = event_log(&t).await;
        assert!(log.iter().any(|e| e.action == "server_secret.rotated"));
        let everything = serde_json::to_string(&log).unwrap();
        assert!(
            !everything.contains(&first) && !everything.contains(&second),
            "no secret in the event log"
        );
        server.stop().await;
    }
);

both_backends!(
    a_secret_read_again_is_kept_for_a_second_and_then_read_afresh,
    |db: TestDb| async move {
        let t = db.app().await;
        let made = t.app.webhook_secret().await.unwrap();
        // Past the second a secret is kept for: read from the store again.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(t.app.webhook_secret().await.unwrap(), made);
        // Changed behind this process's back, as another replica's
        // rotation would: the read just made is kept for its second...
        let mut tx = t.app.store.write().await.unwrap();
        tx.replace_server_secret(t.clock.now(), "webhook_signing", "rotated-elsewhere")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            t.app.webhook_secret().await.unwrap(),
            made,
            "a secret read a moment ago is not read again"
        );
        // ...and then the change takes effect here.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(t.app.webhook_secret().await.unwrap(), "rotated-elsewhere");
    }
);

both_backends!(
    the_dead_letters_page_lists_what_failed_and_retries_it,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "broken-oncall").await;
        trigger(&t, "dead-1").await;
        let dead = until_dead(&t).await;
        assert_eq!(dead.len(), 1, "{dead:?}");
        let job = &dead[0];
        assert_eq!(
            received.to("broken-oncall").len(),
            DELIVERY_ATTEMPTS as usize,
            "every attempt reached the receiver"
        );
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        let group_id = job.payload["group_id"].as_i64().unwrap();

        let server = t.serve().await;
        let (admin, csrf) = browser(&t, &server, "admin@k.example", Role::Admin).await;
        let (viewer, _) = browser(&t, &server, "viewer@k.example", Role::Viewer).await;
        let get = |cookie: &str| {
            server
                .client
                .get(server.url("/jobs"))
                .header("cookie", cookie)
                .send()
        };
        assert_eq!(get(&viewer).await.unwrap().status(), 403, "admins only");
        let html = get(&admin).await.unwrap().text().await.unwrap();
        let row = between(&html, &format!("<tr data-job=\"{}\">", job.id), "</tr>");
        assert!(row.contains("<code>notification.deliver</code>"), "{row}");
        assert!(
            row.contains("<td>oncall by webhook</td>"),
            "who and how: {row}"
        );
        assert!(
            row.contains(&format!("<td>{DELIVERY_ATTEMPTS}</td>")),
            "attempts: {row}"
        );
        assert!(row.contains("answered HTTP 500"), "the last error: {row}");
        assert!(
            !row.contains("/hook/broken"),
            "the webhook's path (a Slack URL's secret) is not shown: {row}"
        );
        assert!(
            row.contains(&format!(
                "<a href=\"/alerts/{alert_id}\">alert group #{group_id}</a>"
            )),
            "what it belonged to: {row}"
        );
        assert!(
            row.contains(
                &crate::support::start_time()
                    .strftime("%Y-%m-%d")
                    .to_string()
            ),
            "when it gave up: {row}"
        );
        assert!(
            html.contains("href=\"/jobs\""),
            "admins see the page in the menu"
        );

        let retried = server
            .client
            .post(server.url(&format!("/jobs/{}/retry", job.id)))
            .header("cookie", &admin)
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(retried.status(), 303);
        let pending = t
            .app
            .jobs(Some(siaga::domain::job::JobState::Pending), None, None)
            .await
            .unwrap();
        assert!(
            pending.items.iter().any(|j| j.id == job.id),
            "back in the queue"
        );
        let retried = events_named(&t, "job.retried").await;
        assert_eq!(retried.len(), 1);
        assert_eq!(retried[0]["kind"], "notification.deliver");
        assert!(
            !retried[0].to_string().contains("/hook/"),
            "no receiver address in the log: {}",
            retried[0]
        );
        let html = get(&admin).await.unwrap().text().await.unwrap();
        assert!(html.contains("id=\"no-dead-letters\""), "{html}");
        run_due(&t).await;
        assert_eq!(
            received.to("broken-oncall").len(),
            DELIVERY_ATTEMPTS as usize + 1,
            "retried at once"
        );
        server.stop().await;
    }
);

both_backends!(
    the_alert_page_shows_failed_deliveries_and_a_dead_escalation_loudly,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        let full = config(&hooks, "broken-oncall");
        t.apply("escalation.yaml", &full).await;
        trigger(&t, "loud-1").await;
        run_due(&t).await;
        // The next step is replaced by one that cannot be taken (it names
        // no policy): after its attempts, it dies.
        let mut tx = t.app.store.write().await.unwrap();
        assert!(tx.cancel_job("escalation:1", t.clock.now()).await.unwrap());
        tx.enqueue_job(
            t.clock.now(),
            &siaga::domain::job::NewJob {
                unique_key: Some("escalation:1".into()),
                max_attempts: 20,
                ..siaga::domain::job::NewJob::new(
                    "escalation.step",
                    json!({ "group_id": 1 }),
                    t.clock.now(),
                )
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let mut dead = Vec::new();
        for _ in 0..40 {
            run_due(&t).await;
            dead = t
                .app
                .jobs(Some(siaga::domain::job::JobState::Dead), None, None)
                .await
                .unwrap()
                .items;
            if dead.len() == 2 {
                break;
            }
            t.clock.advance(SignedDuration::from_mins(1));
        }
        assert_eq!(dead.len(), 2, "the delivery and the step died: {dead:?}");
        let step = dead.iter().find(|j| j.kind == "escalation.step").unwrap();
        assert_eq!(
            received.to("broken-oncall").len(),
            DELIVERY_ATTEMPTS as usize
        );
        let failed = events_named(&t, "notification.failed").await;
        assert!(!failed.is_empty(), "the worker recorded the failure");

        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        let server = t.serve().await;
        let (admin, csrf) = browser(&t, &server, "admin@k.example", Role::Admin).await;
        let (viewer, _) = browser(&t, &server, "viewer@k.example", Role::Viewer).await;
        let path = format!("/alerts/{alert_id}");
        let page = |cookie: String| {
            let path = path.clone();
            let server = &server;
            async move { server.page(&cookie, &path).await }
        };
        let html = page(admin.clone()).await;
        // Every attempt is a row: the first will be retried, the last gave up.
        let failed_rows: Vec<&str> = html
            .split("<li class=\"failed\">")
            .skip(1)
            .map(|row| row.split("</li>").next().unwrap_or_default())
            .collect();
        assert_eq!(
            failed_rows.len(),
            DELIVERY_ATTEMPTS as usize,
            "{failed_rows:?}"
        );
        for row in &failed_rows {
            assert!(
                row.contains(&format!(
                    "could not reach On Call (oncall) by webhook: {hooks}/… answered HTTP 500"
                )),
                "who, channel, error: {row}"
            );
        }
        assert!(
            failed_rows[0].contains("attempt 1, will retry"),
            "{}",
            failed_rows[0]
        );
        assert!(
            failed_rows.last().unwrap().contains("gave up"),
            "{:?}",
            failed_rows.last()
        );
        assert!(
            !html.contains(">notification.failed</strong>"),
            "not bare: {html}"
        );
        let banner = between(&html, "id=\"escalation-dead\"", "</div>").to_string();
        assert!(banner.contains("The escalation has stopped"), "{banner}");
        assert!(banner.contains(&format!("job #{}", step.id)), "{banner}");
        assert!(banner.contains("failed 20 times"), "{banner}");
        assert!(banner.contains("missing field `policy`"), "{banner}");
        assert!(banner.contains("Retry the escalation"), "{banner}");
        let html = page(viewer).await;
        assert!(html.contains("id=\"escalation-dead\""));
        assert!(!html.contains("Retry the escalation") && html.contains("An admin can retry"));

        let retried = server
            .client
            .post(server.url(&format!("/jobs/{}/retry", step.id)))
            .header("cookie", &admin)
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("next", &format!("/alerts/{alert_id}")),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(retried.status(), 303);
        assert_eq!(
            retried.headers()["location"],
            format!("/alerts/{alert_id}").as_str()
        );
        let html = page(admin).await;
        assert!(
            !html.contains("id=\"escalation-dead\""),
            "retried: no longer dead"
        );
        server.stop().await;
    }
);

/// The value of an unlabelled sample in a Prometheus exposition.
fn sample(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

both_backends!(
    nobody_acknowledged_is_a_gauge_and_loud_on_the_alerts_list,
    |db: TestDb| async move {
        let (t, _, _received) = escalating(&db, "oncall").await;
        let server = t.serve().await;
        let scrape = || server.get_text("/metrics");
        let gauge = "siaga_alert_groups_unacknowledged";
        let metrics = scrape().await;
        assert!(
            metrics.contains(&format!("# TYPE {gauge} gauge")),
            "{metrics}"
        );
        assert_eq!(sample(&metrics, gauge), Some(0.0));

        trigger(&t, "nobody-1").await;
        // Levels wait 5, 10 and 5 minutes; then the policy is spent.
        for _ in 0..25 {
            run_due(&t).await;
            t.clock.advance(SignedDuration::from_mins(1));
        }
        run_due(&t).await;
        assert_eq!(events_named(&t, "escalation.exhausted").await.len(), 1);
        assert_eq!(
            sample(&scrape().await, gauge),
            Some(1.0),
            "read from the database at scrape time"
        );

        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        let (cookie, _) = browser(&t, &server, "duty@k.example", Role::Responder).await;
        let list = || server.page(&cookie, "/alerts");
        let html = list().await;
        let banner = between(&html, "id=\"unacknowledged-groups\"", "</div>").to_string();
        assert!(
            banner.contains("Nobody acknowledged 1 alert group:"),
            "{banner}"
        );
        assert!(
            banner.contains(&format!(
                "<a href=\"/alerts/{alert_id}\">Checkout 5xx above 2%</a>"
            )),
            "{banner}"
        );
        assert!(
            html.contains("<span class=\"tag tag-loud\">nobody acknowledged</span>"),
            "{html}"
        );

        // Acknowledged at last: the gauge and the banner clear.
        let caller = t.caller(Role::Responder).await;
        t.app.acknowledge_alert(&caller, alert_id).await.unwrap();
        assert_eq!(sample(&scrape().await, gauge), Some(0.0));
        assert!(!list().await.contains("id=\"unacknowledged-groups\""));
        server.stop().await;
    }
);

both_backends!(
    a_silent_reassignee_of_an_unanswered_group_makes_it_loud_again,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        let server = t.serve().await;
        let gauge = "siaga_alert_groups_unacknowledged";
        trigger(&t, "nobody-2").await;
        for _ in 0..25 {
            run_due(&t).await;
            t.clock.advance(SignedDuration::from_mins(1));
        }
        run_due(&t).await;
        assert_eq!(sample(&server.get_text("/metrics").await, gauge), Some(1.0));
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        let (cookie, _) = browser(&t, &server, "duty@k.example", Role::Responder).await;
        let path = format!("/alerts/{alert_id}");
        let page = || server.page(&cookie, &path);
        assert!(page().await.contains("id=\"unacknowledged\""));

        let caller = t.caller(Role::Responder).await;
        let assignee = siaga::app::escalation::Assignee::Person("lead".into());
        t.app
            .reassign_alert(&caller, alert_id, &assignee)
            .await
            .unwrap();
        run_due(&t).await;
        assert_eq!(received.to("lead").len(), 2, "paged by the reassignment");
        assert_eq!(sample(&server.get_text("/metrics").await, gauge), Some(0.0));
        assert!(
            !page().await.contains("id=\"unacknowledged\""),
            "the page agrees with /metrics once someone is paged again"
        );

        // The lead stays silent for the last level's wait: loud again.
        t.clock.advance(SignedDuration::from_mins(6));
        run_due(&t).await;
        assert_eq!(events_named(&t, "escalation.exhausted").await.len(), 2);
        assert_eq!(sample(&server.get_text("/metrics").await, gauge), Some(1.0));
        assert!(page().await.contains("id=\"unacknowledged\""));
        server.stop().await;
    }
);

/// A team paged as a whole (its lead and head are members too), with one
/// member on Slack and one on Teams, and someone outside it.
fn team_config(hooks: &str) -> String {
    format!(
        r#"
organisation: {{name: Kedai, base_url: "https://siaga.kedai.example"}}
people:
  - {{handle: ana, name: Ana, email: ana@k.example, contact_methods: [{{type: webhook, address: "{hooks}/hook/ana"}}]}}
  - {{handle: ben, name: Ben, email: ben@k.example, contact_methods: [{{type: slack, address: "{hooks}/hook/ben-slack"}}]}}
  - {{handle: cai, name: Cai, email: cai@k.example, contact_methods: [{{type: teams, address: "{hooks}/hook/cai-teams"}}]}}
  - {{handle: dan, name: Dan, email: dan@k.example, contact_methods: [{{type: webhook, address: "{hooks}/hook/dan"}}]}}
  - {{handle: eve, name: Eve, email: eve@k.example, contact_methods: [{{type: webhook, address: "{hooks}/hook/eve"}}]}}
teams:
  - {{name: payments, lead: dan, head: dan, members: [ana, ben, cai]}}
escalation_policies:
  - name: everyone
    levels:
      - {{notify: ["team:payments"], wait: 5m}}
services:
  - name: checkout
    owner: payments
    tier: 1
    escalation_policy: everyone
    runbook: {{url: "https://wiki.kedai.example/checkout"}}
    integrations: [{{name: probes, kind: generic, key: probes-key-0123456789}}]
"#
    )
}

both_backends!(
    a_team_target_pages_every_member_on_their_channel_with_the_facts,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        t.apply("team.yaml", &team_config(&hooks)).await;
        let target = t
            .app
            .integration_for_key("probes-key-0123456789", IntegrationKind::Generic)
            .await
            .unwrap();
        let body = json!({"action": "trigger", "dedup_key": "p99", "summary": "p99 > 2s & <rising>", "severity": "critical"});
        let signals =
            siaga::formats::generic::parse(body.to_string().as_bytes(), &Default::default())
                .unwrap();
        // The page goes out with the first event; the second only counts.
        for _ in 0..2 {
            t.app
                .ingest(&target, "generic", body.to_string(), signals.clone())
                .await
                .unwrap();
            t.clock.advance(SignedDuration::from_secs(30));
        }
        run_due(&t).await;
        assert_eq!(
            received.to("dan").len(),
            1,
            "the lead (and head) is a member too"
        );
        assert!(received.to("eve").is_empty(), "nobody outside the team");

        // The webhook: what, where, how bad, since when, how often.
        let ana = received.to("ana");
        assert_eq!(ana.len(), 1, "every member is paged");
        let text = ana[0].1["text"].as_str().unwrap();
        assert!(text.starts_with("p99 > 2s & <rising>\n"), "{text}");
        assert!(
            text.contains("Service: checkout · severity critical · urgency high"),
            "{text}"
        );
        // Sent after the second event came: it counts both.
        assert!(
            text.contains("Since 2026-11-02 09:00 UTC · 2 events · 1 alert in this group"),
            "{text}"
        );
        assert!(
            text.contains("Runbook: https://wiki.kedai.example/checkout"),
            "{text}"
        );
        assert_eq!(ana[0].1["severity"], "critical");
        assert_eq!(ana[0].1["service"], "checkout");

        // Slack: its control characters escaped.
        let ben = received.to("ben-slack");
        assert_eq!(ben.len(), 1);
        let slack = ben[0].1["text"].as_str().unwrap();
        assert!(
            slack.starts_with("*[CRITICAL] checkout: p99 &gt; 2s &amp; &lt;rising&gt;*\np99 &gt; 2s &amp; &lt;rising&gt;\n"),
            "{slack}"
        );
        assert!(!slack.contains('<') && !slack.contains('>'), "{slack}");

        // Teams: a MessageCard with buttons to the alert and to acknowledge.
        let cai = received.to("cai-teams");
        assert_eq!(cai.len(), 1);
        let card = &cai[0].1;
        assert_eq!(card["@type"], "MessageCard");
        assert_eq!(card["@context"], "https://schema.org/extensions");
        assert_eq!(card["title"], "[CRITICAL] checkout: p99 > 2s & <rising>");
        assert_eq!(card["summary"], card["title"]);
        let teams_text = card["text"].as_str().unwrap();
        assert!(
            teams_text.starts_with("p99 &gt; 2s &amp; &lt;rising&gt;<br>Service: checkout"),
            "{teams_text}"
        );
        let actions: Vec<(&str, &str)> = card["potentialAction"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                assert_eq!(a["@type"], "OpenUri");
                (
                    a["name"].as_str().unwrap(),
                    a["targets"][0]["uri"].as_str().unwrap(),
                )
            })
            .collect();
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        assert_eq!(
            actions[0],
            (
                "Open the alert",
                format!("https://siaga.kedai.example/alerts/{alert_id}").as_str()
            )
        );
        assert_eq!(actions[1].0, "Acknowledge");
        assert!(
            actions[1].1.starts_with("https://siaga.kedai.example/ack/"),
            "{actions:?}"
        );
        assert_eq!(
            actions[2],
            ("Runbook", "https://wiki.kedai.example/checkout")
        );

        let notified = events_named(&t, "escalation.notified").await;
        assert_eq!(
            notified[0]["recipients"],
            json!(["ana", "ben", "cai", "dan"])
        );
    }
);

/// Waits (a hang guard, not a performance bound) until `who` got a page.
async fn paged(received: &crate::support::Received, who: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while received.to(who).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{who} was never paged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A runner that would look at the queue only once an hour on its own.
fn sleepy_runner() -> siaga::workers::JobRunner {
    siaga::workers::JobRunner {
        max_idle: std::time::Duration::from_secs(3600),
        ..siaga::workers::JobRunner::default()
    }
}

/// A job runner running in the background until [`Background::stop`].
struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Background {
    fn run(runner: siaga::workers::JobRunner, app: &siaga::app::App) -> Background {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let app = app.clone();
        let task = tokio::spawn(async move { runner.run(app, stopped).await });
        Background { stop, task }
    }

    /// Stops taking jobs and waits for the running ones to finish.
    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap();
    }
}

both_backends!(
    a_new_alert_wakes_the_job_runner_at_once,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        let runner = Background::run(sleepy_runner(), &t.app);
        // Let the runner settle into its hour-long sleep first.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        trigger(&t, "wake-1").await;
        paged(&received, "oncall").await;
        runner.stop().await;
    }
);

/// A webhook receiver that takes requests and never answers. `heads` are
/// the request lines and headers it got; `hang_up` closes the connections
/// it holds (their deliveries fail at once); dropping it closes them all
/// and stops listening.
struct Unanswering {
    url: String,
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    hang_up: std::sync::Arc<tokio::sync::Notify>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for Unanswering {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Unanswering {
    async fn start() -> Unanswering {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let hang_up = std::sync::Arc::new(tokio::sync::Notify::new());
        let accepting = tokio::spawn({
            let (heads, hang_up) = (heads.clone(), hang_up.clone());
            async move {
                let mut holding = tokio::task::JoinSet::new();
                while let Ok((mut stream, _)) = listener.accept().await {
                    let (heads, hang_up) = (heads.clone(), hang_up.clone());
                    holding.spawn(async move {
                        let mut buffer = vec![0; 64 * 1024];
                        let mut read = 0;
                        loop {
                            tokio::select! {
                                got = stream.read(&mut buffer[read..]) => match got {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => read += n,
                                },
                                () = hang_up.notified() => return,
                            }
                            let text = String::from_utf8_lossy(&buffer[..read]).to_string();
                            if let Some((head, _)) = text.split_once("\r\n\r\n") {
                                heads.lock().unwrap().push(head.to_string());
                                read = 0;
                            }
                        }
                    });
                }
            }
        });
        Unanswering {
            url,
            heads,
            hang_up,
            accepting,
        }
    }

    /// Waits (a hang guard, not a performance bound) until `count`
    /// requests came.
    async fn got(&self, count: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.heads.lock().unwrap().len() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "request {count} never came"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// A page is sent while the runner's loop waits for the database: here a
/// lease renewal that a lock on the row of a running job holds up. Pages
/// taken at commit start on a task of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_is_sent_while_the_runner_waits_for_a_lease_renewal() {
    use sqlx::Connection;
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let receiver = Unanswering::start().await;
    let t = db.app().await;
    t.apply("escalation.yaml", &config(&receiver.url, "oncall"))
        .await;
    // Renewals every second.
    let runner = Background::run(
        siaga::workers::JobRunner {
            lease: SignedDuration::from_secs(3),
            ..sleepy_runner()
        },
        &t.app,
    );
    // The first page hangs, unanswered: its job stays running and leased.
    trigger(&t, "held-1").await;
    receiver.got(1).await;
    let mut locker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    let locked: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE kind = 'notification.deliver' AND state = 'running' FOR UPDATE",
    )
    .fetch_all(&mut locker)
    .await
    .unwrap();
    assert_eq!(locked.len(), 1, "the unanswered delivery is running");
    // Until the runner's renewal waits for that lock (a hang guard).
    let mut watcher = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the renewal never waited for the lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    trigger(&t, "held-2").await;
    receiver.got(2).await;
    let heads = receiver.heads.lock().unwrap().clone();
    assert!(
        heads.iter().all(|h| h.starts_with("POST /hook/oncall ")),
        "{heads:?}"
    );
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    // Closing the unanswered connections fails both deliveries at once.
    drop(receiver);
    runner.stop().await;
}

// A job the runner had no room for (every place taken by pages handed to
// it at commit) is claimed as soon as one of those finishes, not when the
// runner next looks at the queue on its own (here, in an hour).
both_backends!(
    a_job_waiting_for_room_runs_when_a_handed_page_finishes,
    |db: TestDb| async move {
        let receiver = Unanswering::start().await;
        let t = db.app().await;
        t.apply("escalation.yaml", &config(&receiver.url, "oncall"))
            .await;
        // Nor does a lease renewal (every 20 minutes) make it look.
        let runner = Background::run(
            siaga::workers::JobRunner {
                concurrency: 1,
                lease: SignedDuration::from_hours(1),
                ..sleepy_runner()
            },
            &t.app,
        );
        // The first page takes the only place, and hangs.
        trigger(&t, "room-1").await;
        receiver.got(1).await;
        // The second finds no room: it waits in the queue, due.
        trigger(&t, "room-2").await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(receiver.heads.lock().unwrap().len(), 1);
        // The first fails (hung up on), freeing its place.
        receiver.hang_up.notify_waiters();
        receiver.got(2).await;
        drop(receiver);
        runner.stop().await;
    }
);

// A job the runner claimed from the queue holds a place as a page handed
// to it at commit does: a page enqueued while that job runs waits for it,
// and the runner never runs more jobs at once than its concurrency.
both_backends!(
    a_page_enqueued_while_a_claimed_job_runs_waits_for_its_place,
    |db: TestDb| async move {
        let receiver = Unanswering::start().await;
        let t = db.app().await;
        t.apply("escalation.yaml", &config(&receiver.url, "oncall"))
            .await;
        // Paged before the runner starts: its delivery waits in the queue,
        // and the runner claims it from there.
        trigger(&t, "claimed-1").await;
        let runner = Background::run(
            siaga::workers::JobRunner {
                concurrency: 1,
                lease: SignedDuration::from_hours(1),
                ..sleepy_runner()
            },
            &t.app,
        );
        receiver.got(1).await;
        // The runner takes pages as they are enqueued now, but its one
        // place is taken: the page waits in the queue, not taken.
        trigger(&t, "claimed-2").await;
        let jobs = t.app.jobs(None, None, None).await.unwrap().items;
        let second = jobs
            .iter()
            .find(|j| {
                j.kind == "notification.deliver" && j.state != siaga::domain::job::JobState::Running
            })
            .unwrap_or_else(|| panic!("the second page was taken past the concurrency: {jobs:?}"));
        assert_eq!(second.state, siaga::domain::job::JobState::Pending);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(receiver.heads.lock().unwrap().len(), 1);
        receiver.hang_up.notify_waiters();
        receiver.got(2).await;
        drop(receiver);
        runner.stop().await;
    }
);

/// On PostgreSQL, a page enqueued by one replica wakes the job runner of
/// another (LISTEN/NOTIFY), which takes the step and sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_alert_on_one_replica_wakes_the_runner_of_another() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let (hooks, received) = receiver().await;
    let ingesting = db.app().await;
    ingesting
        .apply("escalation.yaml", &config(&hooks, "oncall"))
        .await;
    let running = db.app().await;
    let runner = Background::run(sleepy_runner(), &running.app);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    trigger(&ingesting, "wake-2").await;
    paged(&received, "oncall").await;
    runner.stop().await;
}

both_backends!(
    a_policy_losing_its_levels_stops_the_escalation_and_says_why,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        let full = config(&hooks, "oncall");
        t.apply("escalation.yaml", &full).await;
        trigger(&t, "shrinking-1").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1);
        // The policy loses its later levels while the next step waits.
        let shrunk = full
            .replace(
                "      - {notify: [\"team_lead:payments\"], wait: 10m}\n",
                "",
            )
            .replace("      - {notify: [\"team_head:payments\"], wait: 5m}\n", "");
        assert_ne!(shrunk, full);
        t.apply("escalation.yaml", &shrunk).await;
        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        let stopped = events_named(&t, "escalation.stopped").await;
        assert_eq!(stopped.len(), 1);
        assert_eq!(
            stopped[0]["reason"],
            "the policy payments has no level 2 any more"
        );
        let dead = t
            .app
            .jobs(Some(siaga::domain::job::JobState::Dead), None, None)
            .await
            .unwrap()
            .items;
        assert!(dead.is_empty(), "nothing dies: {dead:?}");
        assert!(received.to("lead").is_empty());
        assert_eq!(
            t.app.unacknowledged_groups().await.unwrap().len(),
            1,
            "nobody is paged any more, loudly"
        );
    }
);

both_backends!(
    an_alert_resolved_in_the_batch_that_opened_it_pages_nobody,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        let target = t
            .app
            .integration_for_key("probes-key-0123456789", IntegrationKind::Generic)
            .await
            .unwrap();
        let signal = |action: &str| {
            let body = json!({"action": action, "dedup_key": "blip", "summary": "Checkout blip", "severity": "critical"});
            siaga::formats::generic::parse(body.to_string().as_bytes(), &Default::default())
                .unwrap()
                .remove(0)
        };
        let results = t
            .app
            .ingest(
                &target,
                "generic",
                "{}".into(),
                vec![signal("trigger"), signal("resolve")],
            )
            .await
            .unwrap();
        assert_eq!(results[0].outcome, "opened");
        assert_eq!(results[1].outcome, "resolved");
        run_due(&t).await;
        t.clock.advance(SignedDuration::from_mins(30));
        run_due(&t).await;
        assert!(received.to("oncall").is_empty(), "nobody is paged");
        assert!(received.to("lead").is_empty());
        assert!(events_named(&t, "escalation.notified").await.is_empty());
    }
);

/// A step that falls due while an acknowledgement is being written waits
/// for it (the step locks the group's row), then sees the group
/// acknowledged and pages nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_racing_an_acknowledgement_sees_it() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let (t, _, received) = escalating(&db, "oncall").await;
    trigger(&t, "race-1").await;
    run_due(&t).await;
    assert_eq!(received.to("oncall").len(), 1);
    let alert = t.app.alerts(Default::default()).await.unwrap().items[0].clone();
    // An acknowledgement mid-write: the group row updated, not committed.
    let mut acknowledging = OtherWriter::begin(&db).await;
    acknowledging
        .write(
            "UPDATE alerts SET status = 'acknowledged' WHERE id = $1",
            alert.id,
        )
        .await;
    acknowledging
        .write(
            "UPDATE alert_groups SET status = 'acknowledged' WHERE id = $1",
            alert.group_id,
        )
        .await;
    // The lead's level falls due and its step starts meanwhile.
    t.clock.advance(SignedDuration::from_mins(6));
    let step = spawn_run_once(&t);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    acknowledging.commit().await;
    assert!(step.await.unwrap() >= 1, "the step ran");
    run_due(&t).await;
    assert!(
        received.to("lead").is_empty(),
        "the step read the group before the acknowledgement committed"
    );
}

/// Two writers wake the same quiet group at once (here a raw transaction
/// stands in for the other replica's batch): the second sees, once it
/// holds the group's row, that it escalates already, and pages nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_woken_by_two_writers_at_once_pages_once() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let (hooks, received) = receiver().await;
    let t = db.app().await;
    t.apply("escalation.yaml", &grouped_config(&hooks, ""))
        .await;
    let caller = t.caller(Role::Responder).await;
    trigger_grouped(&t, "pod-1").await;
    run_due(&t).await;
    assert_eq!(received.to("oncall").len(), 1);
    let alert = t.app.alerts(Default::default()).await.unwrap().items[0].clone();
    t.app.acknowledge_alert(&caller, alert.id).await.unwrap();
    // The other writer has woken the group, not yet committed.
    let mut other = OtherWriter::begin(&db).await;
    other
        .write(
            "UPDATE alert_groups SET status = 'triggered' WHERE id = $1",
            alert.group_id,
        )
        .await;
    t.clock.advance(SignedDuration::from_mins(1));
    let joining = spawn_trigger_grouped(&t, "pod-2");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    other.commit().await;
    joining.await.unwrap();
    run_due(&t).await;
    assert_eq!(
        received.to("oncall").len(),
        1,
        "the group was escalating by the time this batch held it"
    );
    assert_eq!(
        events_named(&t, "escalation.started").await.len(),
        1,
        "started once, by the first alert"
    );
}

/// A responder's acknowledgement that PostgreSQL picks as the victim of a
/// deadlock (here with a raw transaction standing in for another writer)
/// is tried again, not answered with a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_caught_in_a_deadlock_is_tried_again() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let (t, _, received) = escalating(&db, "oncall").await;
    trigger(&t, "deadlock-1").await;
    run_due(&t).await;
    assert_eq!(received.to("oncall").len(), 1);
    let alert = t.app.alerts(Default::default()).await.unwrap().items[0].clone();
    let caller = t.caller(Role::Responder).await;
    // The other writer holds the group's row.
    let mut other = OtherWriter::begin(&db).await;
    other
        .write(
            "UPDATE alert_groups SET alert_count = alert_count WHERE id = $1",
            alert.group_id,
        )
        .await;
    // The acknowledgement locks the alert, then waits for the group.
    let acknowledging = tokio::spawn({
        let app = t.app.clone();
        async move { app.acknowledge_alert(&caller, alert.id).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The other writer now wants the alert: a deadlock, which the
    // acknowledgement, waiting longer, notices and loses.
    other
        .write(
            "UPDATE alerts SET event_count = event_count WHERE id = $1",
            alert.id,
        )
        .await;
    other.commit().await;
    let acknowledged = acknowledging.await.unwrap();
    assert!(
        acknowledged
            .as_ref()
            .is_ok_and(|a| a.status == siaga::domain::alert::AlertStatus::Acknowledged),
        "{acknowledged:?}"
    );
}

/// A page the receiver took, whose confirmation the database refused once:
/// recorded on a second try, not sent again nor reported failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_page_whose_record_fails_once_is_recorded_not_resent() {
    use sqlx::Connection;
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let (t, _, received) = escalating(&db, "oncall").await;
    // The first `notification.delivered` event fails (a sequence is not
    // rolled back with the failed statement, so it counts tries).
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    for statement in [
        "CREATE SEQUENCE refuse_once",
        "CREATE FUNCTION refuse_once() RETURNS trigger AS $$ BEGIN IF NEW.action = 'notification.delivered' AND nextval('refuse_once') = 1 THEN RAISE EXCEPTION 'the database refuses, once'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_once BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_once()",
    ] {
        sqlx::query(statement).execute(&mut admin).await.unwrap();
    }
    trigger(&t, "record-1").await;
    run_due(&t).await;
    let log = event_log(&t).await;
    let refused: i64 = sqlx::query_scalar("SELECT last_value FROM refuse_once")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(refused >= 2, "the first record was refused and tried again");
    assert!(
        log.iter().any(|e| e.action == "notification.delivered"),
        "recorded on the second try"
    );
    assert!(
        !log.iter().any(|e| e.action == "notification.failed"),
        "a page the receiver took is no failed delivery"
    );
    t.clock.advance(SignedDuration::from_mins(4));
    run_due(&t).await;
    assert_eq!(received.to("oncall").len(), 1, "sent once");
}

/// One pass of the job runner at the test clock's time, on a task of its
/// own, so that it can wait for another writer; answers how many ran.
fn spawn_run_once(t: &TestApp) -> tokio::task::JoinHandle<usize> {
    let (app, now) = (t.app.clone(), t.clock.now());
    tokio::spawn(async move {
        siaga::workers::JobRunner::default()
            .run_once(&app, now)
            .await
            .unwrap()
    })
}

/// Triggers `key` as [`trigger_grouped`] does, on a task of its own, so
/// that it can wait for another writer.
fn spawn_trigger_grouped(t: &TestApp, key: &str) -> tokio::task::JoinHandle<()> {
    let app = t.app.clone();
    let body = json!({"action": "trigger", "dedup_key": key, "summary": "Checkout 5xx", "severity": "critical", "labels": {"alertname": "X"}});
    tokio::spawn(async move {
        let target = app
            .integration_for_key("probes-key-0123456789", IntegrationKind::Generic)
            .await
            .unwrap();
        let signals =
            siaga::formats::generic::parse(body.to_string().as_bytes(), &Default::default())
                .unwrap();
        app.ingest(&target, "generic", body.to_string(), signals)
            .await
            .unwrap();
    })
}

/// A grouped checkout on PostgreSQL whose first alert (`pod-1`) paged the
/// on-call person.
async fn grouped_and_paged(
    db: &TestDb,
) -> (
    TestApp,
    crate::support::Received,
    siaga::domain::alert::Alert,
) {
    let (hooks, received) = receiver().await;
    let t = db.app().await;
    t.apply("escalation.yaml", &grouped_config(&hooks, ""))
        .await;
    trigger_grouped(&t, "pod-1").await;
    run_due(&t).await;
    assert_eq!(received.to("oncall").len(), 1);
    let alert = t.app.alerts(Default::default()).await.unwrap().items[0].clone();
    (t, received, alert)
}

/// Another replica acknowledges a group (not yet committed) while a batch
/// adds a new alert to it: the batch, which read the group as escalating,
/// waits for its row, sees it acknowledged, and pages for the new alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_joining_a_group_as_it_is_acknowledged_pages() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let (t, received, alert) = grouped_and_paged(&db).await;
    let mut acknowledging = OtherWriter::begin(&db).await;
    acknowledging
        .write(
            "UPDATE alerts SET status = 'acknowledged' WHERE group_id = $1",
            alert.group_id,
        )
        .await;
    acknowledging
        .write(
            "UPDATE alert_groups SET status = 'acknowledged' WHERE id = $1",
            alert.group_id,
        )
        .await;
    t.clock.advance(SignedDuration::from_mins(1));
    let joining = spawn_trigger_grouped(&t, "pod-2");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    acknowledging.commit().await;
    joining.await.unwrap();
    run_due(&t).await;
    assert_eq!(
        received.to("oncall").len(),
        2,
        "the new alert woke the acknowledged group"
    );
    let group = t.app.alert_detail(alert.id).await.unwrap().group;
    assert_eq!(group.status, siaga::domain::alert::AlertStatus::Triggered);
}

/// Two writers resolve a group's two alerts at once: whichever counts
/// second sees the other's resolve, and the group ends resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_alerts_resolved_at_once_resolve_their_group() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let (t, _, first) = grouped_and_paged(&db).await;
    trigger_grouped(&t, "pod-2").await;
    let second = t.app.alerts(Default::default()).await.unwrap().items[0].clone();
    assert_eq!(second.group_id, first.group_id);
    // The other writer resolved the first alert and, counting the second
    // as still triggered, left the group triggered; not yet committed.
    let mut other = OtherWriter::begin(&db).await;
    other
        .write(
            "UPDATE alerts SET status = 'resolved' WHERE id = $1",
            first.id,
        )
        .await;
    other
        .write(
            "UPDATE alert_groups SET status = 'triggered' WHERE id = $1",
            first.group_id,
        )
        .await;
    let resolving = tokio::spawn({
        let app = t.app.clone();
        let caller = t.caller(Role::Responder).await;
        async move { app.resolve_alert(&caller, second.id).await.unwrap() }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    other.commit().await;
    resolving.await.unwrap();
    let group = t.app.alert_detail(second.id).await.unwrap().group;
    assert_eq!(group.status, siaga::domain::alert::AlertStatus::Resolved);
}

/// An acknowledgement of one alert acknowledges its group's others; one
/// that another writer resolves meanwhile stays resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_acknowledgement_keeps_a_resolve_written_meanwhile() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let (t, _, first) = grouped_and_paged(&db).await;
    trigger_grouped(&t, "pod-2").await;
    let second = t.app.alerts(Default::default()).await.unwrap().items[0].clone();
    let mut resolving = OtherWriter::begin(&db).await;
    resolving
        .write(
            "UPDATE alerts SET status = 'resolved', resolved_at = 1 WHERE id = $1",
            second.id,
        )
        .await;
    let acknowledging = tokio::spawn({
        let app = t.app.clone();
        let caller = t.caller(Role::Responder).await;
        async move { app.acknowledge_alert(&caller, first.id).await.unwrap() }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    resolving.commit().await;
    acknowledging.await.unwrap();
    let after = t.app.alert_detail(second.id).await.unwrap().alert;
    assert_eq!(after.status, siaga::domain::alert::AlertStatus::Resolved);
    let acknowledged = t.app.alert_detail(first.id).await.unwrap().alert;
    assert_eq!(
        acknowledged.status,
        siaga::domain::alert::AlertStatus::Acknowledged
    );
}

/// Two writers find no group for a key and each opens one: the second's
/// insert fails, and its batch, planned again, joins the first's group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_opening_a_group_for_one_key_make_one() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let (t, _, first) = grouped_and_paged(&db).await;
    let caller = t.caller(Role::Responder).await;
    t.app.resolve_alert(&caller, first.id).await.unwrap();
    // Past the grouping window: the resolved group takes no new alert.
    t.clock.advance(SignedDuration::from_mins(11));
    let mut other = OtherWriter::begin(&db).await;
    other
        .write(
            "INSERT INTO alert_groups (id, service, group_key, status, opened_at, last_alert_at, alert_count, in_maintenance)
             SELECT $1 + 1000, service, group_key, 'triggered', 0, 0, 0, 0 FROM alert_groups WHERE id = $1",
            first.group_id,
        )
        .await;
    let joining = spawn_trigger_grouped(&t, "pod-2");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    other.commit().await;
    joining.await.unwrap();
    let second = t.app.alerts(Default::default()).await.unwrap().items[0].clone();
    assert_eq!(
        second.group_id,
        first.group_id + 1000,
        "joined the other's group"
    );
}

/// Escalate-now while the next level's step is being taken (here a raw
/// transaction holding the group stands in for it): it waits for the
/// step, then escalates past it rather than paging its level again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalate_now_during_a_step_goes_past_it() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let (t, _, received) = escalating(&db, "oncall").await;
    trigger(&t, "during-step").await;
    run_due(&t).await;
    assert_eq!(received.to("oncall").len(), 1);
    let alert = t.app.alerts(Default::default()).await.unwrap().items[0].clone();
    let mut step = OtherWriter::begin(&db).await;
    step.write(
        "UPDATE alert_groups SET alert_count = alert_count WHERE id = $1",
        alert.group_id,
    )
    .await;
    step.write(
        r#"INSERT INTO events (at, actor_kind, actor_name, action, subject_kind, subject_id, after_state)
           VALUES (0, 'system', 'escalation', 'escalation.notified', 'alert_group', $1::text,
                   '{"policy": "payments", "round": 0, "level": 1}')"#,
        alert.group_id,
    )
    .await;
    let escalating_now = tokio::spawn({
        let app = t.app.clone();
        let caller = t.caller(Role::Responder).await;
        async move { app.escalate_alert(&caller, alert.id, None).await.unwrap() }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    step.commit().await;
    let state = escalating_now.await.unwrap();
    assert_eq!(state.level, Some(3), "{state:?}");
    run_due(&t).await;
    assert_eq!(received.to("head").len(), 1);
    assert!(received.to("lead").is_empty(), "the lead's level was taken");
}

/// A window's end falls due as someone starts another for the service
/// (here a raw transaction holding the lock a new window takes stands in
/// for them): the end waits, sees the new window, and pages nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_started_as_another_ends_keeps_the_service_quiet() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let (t, _, received) = escalating(&db, "oncall").await;
    let caller = t.caller(Role::Responder).await;
    let now = t.clock.now();
    t.app
        .create_maintenance_window(
            &caller,
            "checkout",
            None,
            now + SignedDuration::from_hours(1),
            "database upgrade",
        )
        .await
        .unwrap();
    trigger(&t, "during-1").await;
    run_due(&t).await;
    t.clock.advance(SignedDuration::from_mins(61));
    let later = t.clock.now().as_millisecond();
    let mut starting = OtherWriter::begin(&db).await;
    starting
        .write(
            "SELECT pg_advisory_xact_lock($1)",
            siaga::store::advisory_lock_key("maintenance:checkout"),
        )
        .await;
    starting
        .write(
            "INSERT INTO maintenance_windows (service, starts_at, ends_at, reason, created_by, created_at)
             VALUES ('checkout', $1, $1 + 3600000, 'the upgrade runs over', 'responder', $1)",
            later,
        )
        .await;
    let ending = spawn_run_once(&t);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    starting.commit().await;
    assert!(ending.await.unwrap() >= 1, "the window's end ran");
    run_due(&t).await;
    assert!(
        received.to("oncall").is_empty(),
        "the new window holds the service"
    );
}

both_backends!(
    a_receiver_that_redirects_is_not_counted_as_delivered,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "moved-oncall").await;
        trigger(&t, "redirected").await;
        run_due(&t).await;
        assert_eq!(received.to("moved-oncall").len(), 1, "posted once");
        let alert_id = t.app.alerts(Default::default()).await.unwrap().items[0].id;
        let detail = t.app.alert_detail(alert_id).await.unwrap();
        let deliveries: Vec<(&str, String)> = detail
            .escalation
            .iter()
            .filter(|e| e.action.starts_with("notification."))
            .map(|e| {
                (
                    e.action.as_str(),
                    e.after.clone().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert!(
            !deliveries
                .iter()
                .any(|(action, _)| *action == "notification.delivered"),
            "{deliveries:?}"
        );
        assert!(
            deliveries
                .iter()
                .any(|(action, after)| *action == "notification.failed"
                    && after.contains("HTTP 302 Found, a redirect")),
            "{deliveries:?}"
        );
        // Not asked again: a redirect does not go away by itself. A dead
        // letter at once, for someone to fix the address and retry.
        t.clock.advance(SignedDuration::from_mins(30));
        run_due(&t).await;
        assert_eq!(received.to("moved-oncall").len(), 1);
        let dead = t
            .app
            .jobs(Some(siaga::domain::job::JobState::Dead), None, None)
            .await
            .unwrap()
            .items;
        assert_eq!(dead.len(), 1, "{dead:?}");
        assert_eq!(dead[0].attempts, 1);
    }
);

// A page's title (an email's subject) stays short whatever the summary's
// length: a mail line may not pass 998 octets. The text has it whole.
both_backends!(
    a_long_summary_is_cut_in_the_title_and_whole_in_the_text,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "oncall").await;
        let summary = "Checkout 5xx above 2% ".repeat(45);
        ingest_probe(
            &t,
            json!({"action": "trigger", "dedup_key": "long", "summary": summary, "severity": "critical"}),
        )
        .await;
        run_due(&t).await;
        let (_, page) = received.to("oncall").into_iter().next().unwrap();
        let title = page["title"].as_str().unwrap();
        assert_eq!(title.chars().count(), 200, "{title}");
        assert!(
            title.starts_with("[CRITICAL] checkout: Checkout 5xx"),
            "{title}"
        );
        assert!(title.ends_with('…'), "{title}");
        assert!(
            page["text"].as_str().unwrap().starts_with(summary.trim()),
            "{page}"
        );
    }
);

// Receivers see a delivery id unlike any other installation's: a staging
// and a production siaga both number their first page `1-0-0-…`, and a
// mailbox or receiver that drops repeats by id would drop the second. The
// same on every attempt, in the header and the body alike.
both_backends!(
    delivery_ids_differ_between_installations_and_stay_across_attempts,
    |db: TestDb| async move {
        let backend = if db.url.starts_with("sqlite:") {
            crate::support::Backend::Sqlite
        } else {
            crate::support::Backend::Postgres
        };
        let other_db = TestDb::new(backend).await.unwrap();
        let mut seen = Vec::new();
        for db in [&db, &other_db] {
            let (t, _, received) = escalating(db, "broken-oncall").await;
            trigger(&t, "same-everywhere").await;
            run_due(&t).await;
            t.clock.advance(SignedDuration::from_mins(1));
            run_due(&t).await;
            let attempts = received.to("broken-oncall");
            assert_eq!(attempts.len(), 2, "a first attempt and a retry");
            let ids: Vec<&str> = attempts
                .iter()
                .map(|(headers, _)| headers["x-siaga-delivery"].to_str().unwrap())
                .collect();
            assert_eq!(ids[0], ids[1], "the same id on every attempt");
            assert_eq!(attempts[0].1["delivery_id"], ids[0], "in the body too");
            let job = delivery_to(&t, "oncall").await;
            assert_eq!(job.payload["id"], ids[0], "the id the event log knows");
            assert!(
                ids[0].starts_with(&format!("{}-", t.app.store.installation())),
                "{}",
                ids[0]
            );
            seen.push(ids[0].to_string());
        }
        assert_ne!(seen[0], seen[1], "two installations, two ids");
    }
);

// A delivery goes where the config says when it is sent: a dead letter
// retried after its address was fixed goes to the fixed address.
both_backends!(
    a_dead_letter_retried_after_its_address_was_fixed_goes_to_the_new_one,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        t.apply("escalation.yaml", &config(&hooks, "archived-oncall"))
            .await;
        trigger(&t, "fixed").await;
        run_due(&t).await;
        let dead = delivery_to(&t, "oncall").await;
        assert_eq!(dead.state, siaga::domain::job::JobState::Dead);
        t.apply("escalation.yaml", &config(&hooks, "oncall")).await;
        t.app
            .retry_dead_job(&Actor::system("test"), dead.id)
            .await
            .unwrap();
        run_due(&t).await;
        assert_eq!(received.to("archived-oncall").len(), 1, "not the old one");
        assert_eq!(received.to("oncall").len(), 1, "the fixed address");
        assert_eq!(
            delivery_to(&t, "oncall").await.state,
            siaga::domain::job::JobState::Done
        );
    }
);

// A delivery due later (a rule's delay) to a contact method taken out of
// the config meanwhile is not sent to where it used to go: it is skipped,
// saying why.
both_backends!(
    a_delayed_delivery_to_a_contact_method_gone_from_the_config_is_skipped,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        let with_slack = config_with_rules(&hooks);
        t.apply("escalation.yaml", &with_slack).await;
        trigger(&t, "gone-method").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1, "the webhook at once");
        let without_slack = with_slack
            .replace(
                &format!(", {{type: slack, address: \"{hooks}/hook/oncall-slack\"}}"),
                "",
            )
            .replace("channels: [slack, email]", "channels: [email]");
        assert_ne!(without_slack, with_slack);
        t.apply("escalation.yaml", &without_slack).await;
        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        assert!(received.to("oncall-slack").is_empty());
        let skipped = events_named(&t, "notification.skipped").await;
        assert!(
            skipped.iter().any(|e| e["channel"] == "slack"
                && e["reason"] == "their slack contact method is not in the config any more"),
            "{skipped:?}"
        );
    }
);

// A page points to the alert's own runbook when it has one (a
// `runbook_url` annotation, here a generic event's link named "Runbook"),
// else to its service's; a runbook written in siaga is on the service's
// page.
both_backends!(
    a_page_links_the_alerts_own_runbook_before_its_services,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        let markdown = config(&hooks, "oncall").replace(
            "runbook: {url: \"https://wiki.kedai.example/checkout\"}",
            "runbook: {markdown: \"Restart the checkout pods.\"}",
        );
        assert_ne!(markdown, config(&hooks, "oncall"));
        t.apply("escalation.yaml", &markdown).await;
        ingest_probe(
            &t,
            json!({"action": "trigger", "dedup_key": "own-runbook", "summary": "Disk full", "severity": "critical",
                   "links": [{"href": "https://wiki.kedai.example/disk-full", "text": "Runbook"}]}),
        )
        .await;
        trigger(&t, "service-runbook").await;
        run_due(&t).await;
        let pages = received.to("oncall");
        assert_eq!(pages.len(), 2);
        let page_of = |summary: &str| {
            pages
                .iter()
                .map(|(_, body)| body)
                .find(|body| body["text"].as_str().unwrap().starts_with(summary))
                .unwrap()
                .clone()
        };
        let own = page_of("Disk full");
        assert_eq!(own["runbook_url"], "https://wiki.kedai.example/disk-full");
        assert!(
            own["text"]
                .as_str()
                .unwrap()
                .contains("Runbook: https://wiki.kedai.example/disk-full"),
            "{own}"
        );
        let service = page_of("Checkout 5xx");
        assert_eq!(
            service["runbook_url"],
            "https://siaga.kedai.example/services/checkout"
        );
    }
);

// A delivery sent later than planned (here a rule's five minutes) says
// how things stand when it is sent: the events that came meanwhile count.
both_backends!(
    a_delayed_delivery_counts_the_events_that_came_meanwhile,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        t.apply("escalation.yaml", &config_with_rules(&hooks)).await;
        trigger(&t, "counting").await;
        run_due(&t).await;
        let (_, first) = received.to("oncall").into_iter().next().unwrap();
        assert!(
            first["text"].as_str().unwrap().contains("· 1 event ·"),
            "{first}"
        );
        for _ in 0..3 {
            trigger(&t, "counting").await;
        }
        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        let (_, later) = received.to("oncall-slack").into_iter().next().unwrap();
        assert!(
            later["text"].as_str().unwrap().contains("· 4 events ·"),
            "{later}"
        );
        assert!(
            later["text"]
                .as_str()
                .unwrap()
                .contains("Acknowledge: https://"),
            "{later}"
        );
    }
);

/// The job of the one delivery to `person`, in whatever state.
async fn delivery_to(t: &TestApp, person: &str) -> siaga::domain::job::Job {
    let jobs = t.app.jobs(None, None, None).await.unwrap().items;
    let deliveries: Vec<_> = jobs
        .into_iter()
        .filter(|j| j.kind == "notification.deliver" && j.payload["person"] == person)
        .collect();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    deliveries.into_iter().next().unwrap()
}

// A client error other than an authentication refusal (here Slack's
// archived channel) does not go away by asking again: a dead letter at
// once, naming what the receiver said.
both_backends!(
    a_delivery_refused_for_good_is_a_dead_letter_at_once,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "archived-oncall").await;
        trigger(&t, "archived").await;
        run_due(&t).await;
        t.clock.advance(SignedDuration::from_mins(30));
        run_due(&t).await;
        assert_eq!(received.to("archived-oncall").len(), 1);
        let job = delivery_to(&t, "oncall").await;
        assert_eq!(job.state, siaga::domain::job::JobState::Dead);
        assert_eq!(job.attempts, 1);
        let error = job.last_error.unwrap();
        assert!(
            error.contains("answered HTTP 410 Gone: channel_is_archived"),
            "{error}"
        );
        assert!(error.contains("not retried"), "{error}");
        let failed = events_named(&t, "notification.failed").await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["final"], true);
    }
);

// What a receiver says goes into the error shown on alert pages, but not
// the address's path it repeats: a Slack or Teams webhook's path is the
// secret that lets anyone post to the channel.
both_backends!(
    a_receivers_answer_is_shown_without_the_addresss_secret,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "echo-oncall").await;
        trigger(&t, "echoed").await;
        run_due(&t).await;
        assert_eq!(received.to("echo-oncall").len(), 1);
        let error = delivery_to(&t, "oncall").await.last_error.unwrap();
        assert!(
            error.contains("answered HTTP 404 Not Found: Cannot POST /…"),
            "{error}"
        );
        assert!(!error.contains("/hook/"), "{error}");
    }
);

// "Too many requests" with `Retry-After: 45` is retried, not before then
// (the tests' backoff alone would try again after ten seconds).
both_backends!(
    a_delivery_told_to_wait_is_retried_when_the_receiver_asked,
    |db: TestDb| async move {
        let (t, _, received) = escalating(&db, "busy-oncall").await;
        trigger(&t, "busy").await;
        let failed_at = t.clock.now();
        run_due(&t).await;
        assert_eq!(received.to("busy-oncall").len(), 1);
        let failed = events_named(&t, "notification.failed").await;
        assert_eq!(failed[0]["final"], false);
        assert!(
            failed[0]["error"]
                .as_str()
                .unwrap()
                .ends_with("answered HTTP 429 Too Many Requests: rate limited; asked to wait 45s"),
            "{}",
            failed[0]
        );
        let retry_at: jiff::Timestamp = failed[0]["retry_at"].as_str().unwrap().parse().unwrap();
        assert!(
            retry_at >= failed_at + SignedDuration::from_secs(45),
            "{retry_at}"
        );
        t.clock.advance(SignedDuration::from_secs(30));
        run_due(&t).await;
        assert_eq!(received.to("busy-oncall").len(), 1, "not before it asked");
        t.clock.advance(SignedDuration::from_secs(20));
        run_due(&t).await;
        assert_eq!(received.to("busy-oncall").len(), 2);
    }
);

// An Office 365 connector answers 200 with the failure in its body: that
// is no delivery, and it is retried (the failure was Teams' 429).
both_backends!(
    a_teams_connector_saying_it_failed_is_no_delivery,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        let teams = config(&hooks, "connector-oncall").replacen("type: webhook", "type: teams", 1);
        assert!(teams.contains("{type: teams, address: \""), "{teams}");
        t.apply("escalation.yaml", &teams).await;
        trigger(&t, "connector").await;
        run_due(&t).await;
        assert_eq!(received.to("connector-oncall").len(), 1);
        assert!(events_named(&t, "notification.delivered").await.is_empty());
        let failed = events_named(&t, "notification.failed").await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["final"], false, "{}", failed[0]);
        assert!(
            failed[0]["error"]
                .as_str()
                .unwrap()
                .contains("answered HTTP 200 OK but said: Webhook message delivery failed"),
            "{}",
            failed[0]
        );
        let job = delivery_to(&t, "oncall").await;
        assert_eq!(job.state, siaga::domain::job::JobState::Pending);
    }
);

both_backends!(
    an_acknowledge_link_stops_its_group_even_if_its_alert_moved_on,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        t.apply("escalation.yaml", &grouped_config(&hooks, ""))
            .await;
        trigger_grouped(&t, "pod-1").await;
        run_due(&t).await;
        let (_, body) = received.to("oncall").remove(0);
        let url = body["acknowledge_url"].as_str().unwrap().to_string();
        let path = url
            .trim_start_matches("https://siaga.kedai.example")
            .to_string();
        trigger_grouped(&t, "pod-2").await;
        let server = t.serve().await;
        let first = t.app.alert_by_dedup_key("pod-1", None).await.unwrap();
        let second = t.app.alert_by_dedup_key("pod-2", None).await.unwrap();

        // The source acknowledges the linked alert; the other still pages.
        ingest_probe(&t, json!({"action": "acknowledge", "dedup_key": "pod-1"})).await;
        let page = server.get_text(&path).await;
        assert!(
            page.contains("id=\"ack-button\""),
            "the group escalates: {page}"
        );
        let done = server.client.post(server.url(&path)).send().await.unwrap();
        assert_eq!(done.status(), 200);
        let text = done.text().await.unwrap();
        assert!(
            text.contains("Acknowledged") && text.contains("id=\"ack-done\""),
            "{text}"
        );
        let detail = t.app.alert_detail(second).await.unwrap();
        assert_eq!(
            detail.alert.status,
            siaga::domain::alert::AlertStatus::Acknowledged
        );
        assert_eq!(detail.alert.acknowledged_by.as_deref(), Some("oncall"));
        t.clock.advance(SignedDuration::from_mins(10));
        run_due(&t).await;
        assert!(received.to("lead").is_empty(), "escalation stopped");

        // Again, after the source resolves the linked alert: a new member
        // triggers the group; the link acknowledges it.
        ingest_probe(&t, json!({"action": "resolve", "dedup_key": "pod-1"})).await;
        trigger_grouped(&t, "pod-3").await;
        let third = t.app.alert_by_dedup_key("pod-3", None).await.unwrap();
        let page = server.get_text(&path).await;
        assert!(page.contains("id=\"ack-button\""), "{page}");
        let done = server.client.post(server.url(&path)).send().await.unwrap();
        let text = done.text().await.unwrap();
        assert!(
            text.contains("Already resolved") && text.contains("escalation stops"),
            "{text}"
        );
        assert_eq!(
            t.app.alert_detail(third).await.unwrap().alert.status,
            siaga::domain::alert::AlertStatus::Acknowledged
        );
        assert_eq!(
            t.app.alert_detail(first).await.unwrap().alert.status,
            siaga::domain::alert::AlertStatus::Resolved,
            "a resolved alert stays resolved"
        );
        server.stop().await;
    }
);

both_backends!(
    a_delayed_notifications_acknowledge_link_is_good_for_a_day_from_sending,
    |db: TestDb| async move {
        let (hooks, received) = receiver().await;
        let t = db.app().await;
        let late = config(&hooks, "oncall").replacen(
            "{type: email, address: oncall@k.example}]}",
            "{type: email, address: oncall@k.example}], notification_rules: [{after: 20h, channels: [webhook]}]}",
            1,
        );
        t.apply("escalation.yaml", &late).await;
        trigger(&t, "slow-1").await;
        run_due(&t).await;
        assert!(received.to("oncall").is_empty(), "not yet");
        t.clock.advance(SignedDuration::from_hours(20));
        run_due(&t).await;
        let (_, body) = received.to("oncall").remove(0);
        let path = body["acknowledge_url"]
            .as_str()
            .unwrap()
            .trim_start_matches("https://siaga.kedai.example")
            .to_string();
        // Five hours after it arrived, 25 after the step that planned it.
        t.clock.advance(SignedDuration::from_hours(5));
        let server = t.serve().await;
        let done = server.client.post(server.url(&path)).send().await.unwrap();
        assert_eq!(done.status(), 200);
        let alert = t.app.alerts(Default::default()).await.unwrap().items[0].clone();
        assert_eq!(
            alert.status,
            siaga::domain::alert::AlertStatus::Acknowledged
        );
        server.stop().await;
    }
);

both_backends!(
    a_policy_renamed_mid_escalation_starts_over_under_the_services_new_one,
    |db: TestDb| async move {
        let (t, hooks, received) = escalating(&db, "oncall").await;
        trigger(&t, "renamed").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1);
        // The lead's level is due in five minutes; the policy is renamed.
        t.apply(
            "escalation.yaml",
            &config(&hooks, "oncall")
                .replace(
                    "  - name: payments\n    levels:",
                    "  - name: payments-v2\n    levels:",
                )
                .replace(
                    "escalation_policy: payments\n",
                    "escalation_policy: payments-v2\n",
                ),
        )
        .await;
        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 2, "paged from the top");
        let started = events_named(&t, "escalation.started").await;
        let restart = started.iter().find(|e| e["reason"].is_string()).unwrap();
        assert_eq!(restart["policy"], "payments-v2");
        assert!(
            restart["reason"]
                .as_str()
                .unwrap()
                .contains("the policy payments no longer exists"),
            "{restart}"
        );
        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        assert_eq!(received.to("lead").len(), 1, "and on up the new policy");
    }
);

both_backends!(
    a_policy_taken_away_mid_escalation_shows_as_unacknowledged,
    |db: TestDb| async move {
        let (t, hooks, received) = escalating(&db, "oncall").await;
        trigger(&t, "orphaned").await;
        run_due(&t).await;
        let full = config(&hooks, "oncall");
        let (before, rest) = full.split_once("escalation_policies:").unwrap();
        let (_, after) = rest.split_once("services:").unwrap();
        t.apply(
            "escalation.yaml",
            &format!("{before}services:{after}").replace("    escalation_policy: payments\n", ""),
        )
        .await;
        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        assert!(received.to("lead").is_empty());
        let stopped = t.app.unacknowledged_groups().await.unwrap();
        assert_eq!(stopped.len(), 1, "nobody is paged: it counts");
        let alert = t.app.alerts(Default::default()).await.unwrap().items[0].clone();
        let server = t.serve().await;
        let cookie = t.web_session(&server, "duty@k.example", Role::Viewer).await;
        let page = server.page(&cookie, &format!("/alerts/{}", alert.id)).await;
        assert!(
            page.contains("Nobody is being paged: the policy payments no longer exists"),
            "{page}"
        );
        server.stop().await;
    }
);

both_backends!(
    an_override_of_someone_the_config_drops_goes_with_them,
    |db: TestDb| async move {
        let (t, hooks, received) = escalating(&db, "oncall").await;
        let spare = format!(
            "  - {{handle: spare, name: Spare, email: spare@k.example, contact_methods: [{{type: webhook, address: \"{hooks}/hook/spare\"}}]}}\nteams:"
        );
        t.apply(
            "escalation.yaml",
            &config(&hooks, "oncall").replacen("teams:", &spare, 1),
        )
        .await;
        let caller = t.caller(Role::Responder).await;
        let now = t.clock.now();
        t.app
            .create_override(
                &caller,
                "primary",
                "spare",
                now,
                now + SignedDuration::from_hours(2),
                "cover",
            )
            .await
            .unwrap();
        t.apply("escalation.yaml", &config(&hooks, "oncall")).await;
        trigger(&t, "after-spare").await;
        run_due(&t).await;
        assert_eq!(received.to("oncall").len(), 1, "the layer is on call again");
        assert!(received.to("spare").is_empty());
        let deleted = events_named(&t, "schedule_override.deleted").await;
        assert_eq!(deleted.len(), 1);
        assert_eq!(
            deleted[0]["reason"],
            "its person or schedule left the config"
        );
    }
);

both_backends!(
    a_service_taken_away_mid_escalation_stops_paging,
    |db: TestDb| async move {
        let (t, hooks, received) = escalating(&db, "oncall").await;
        trigger(&t, "gone").await;
        run_due(&t).await;
        let full = config(&hooks, "oncall");
        let (before, _) = full.split_once("services:").unwrap();
        t.apply("escalation.yaml", &format!("{before}services: []\n"))
            .await;
        t.clock.advance(SignedDuration::from_mins(5));
        run_due(&t).await;
        assert!(received.to("lead").is_empty(), "nobody paged for it");
        let stopped = events_named(&t, "escalation.stopped").await;
        assert_eq!(
            stopped[0]["reason"],
            "the service checkout is no longer in the config"
        );
        assert_eq!(t.app.unacknowledged_groups().await.unwrap().len(), 1);
    }
);

/// One replica removes a window from the config; another, whose copy of
/// the config is a moment old, runs the window's end: it reads the config
/// again and pages for what the window held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_removed_on_another_replica_ends_at_once_here() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let (hooks, received) = receiver().await;
    let here = db.app().await;
    let plain = config(&hooks, "oncall");
    let windowed = format!(
        "{plain}maintenance_windows:\n  - {{name: upgrade, service: checkout, starts_at: \"2026-11-02T08:00:00Z\", ends_at: \"2026-11-02T10:00:00Z\", reason: upgrade}}\n"
    );
    here.apply("escalation.yaml", &windowed).await;
    trigger(&here, "held-here").await;
    run_due(&here).await;
    assert!(received.to("oncall").is_empty());
    let there = db.app().await;
    there.apply("escalation.yaml", &plain).await;
    // Within a second of this replica's last look at the config.
    run_due(&here).await;
    assert_eq!(received.to("oncall").len(), 1, "paged when removed");
}
