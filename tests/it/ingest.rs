//! Alert ingestion over a real listener: every format, deduplication,
//! grouping, maintenance, mapping rules, auth, limits and the alert API.

use serde_json::{Value, json};
use siaga::domain::auth::Role;
use siaga::domain::org::IntegrationKind;

use crate::both_backends;
use crate::support::{SHOP, TestApp, TestDb, TestServer, error, json};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/alertmanager-0.25"
);

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
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

fn pd_trigger(routing_key: &str, dedup_key: Option<&str>, summary: &str) -> Value {
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {"summary": summary, "source": "gateway-probe-1", "severity": "critical", "custom_details": {"env": "production"}},
        "client": "Gateway monitor", "client_url": "https://monitor.kedai.example"
    });
    if let Some(dedup_key) = dedup_key {
        event["dedup_key"] = json!(dedup_key);
    }
    event
}

async fn alerts(server: &TestServer, token: &str, query: &str) -> Vec<Value> {
    let page = server
        .get_json(&format!("/api/v1/alerts{query}"), token)
        .await;
    page["items"].as_array().unwrap().clone()
}

both_backends!(
    pagerduty_events_deduplicate_and_follow_the_state_machine,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let viewer = t.token(Role::Viewer).await;
        let routing_key = key(&t, IntegrationKind::Pagerduty).await;
        let server = t.serve().await;
        let enqueue = |body: Value| {
            server
                .client
                .post(server.url("/v2/enqueue"))
                .json(&body)
                .send()
        };

        let accepted = json(
            enqueue(pd_trigger(
                &routing_key,
                Some("gw-timeouts"),
                "Gateway timeouts above 5%",
            ))
            .await
            .unwrap(),
            202,
        )
        .await;
        assert_eq!(
            accepted,
            json!({"status": "success", "message": "Event processed", "dedup_key": "gw-timeouts"})
        );
        // Where the batch spent its time shows in the metrics, stage by stage.
        let metrics = server.get_text("/metrics").await;
        for stage in ["begin", "read", "plan", "write", "commit"] {
            assert!(
                metrics.contains(&format!(
                    "siaga_ingest_stage_seconds_count{{stage=\"{stage}\"}}"
                )),
                "{stage}: {metrics}"
            );
        }
        // A repeated trigger counts and refreshes; it does not open a second alert.
        json(
            enqueue(pd_trigger(
                &routing_key,
                Some("gw-timeouts"),
                "Gateway timeouts above 9%",
            ))
            .await
            .unwrap(),
            202,
        )
        .await;
        let open = alerts(&server, &viewer, "?service=payments").await;
        assert_eq!(open.len(), 1);
        assert_eq!(open[0]["event_count"], 2);
        assert_eq!(open[0]["summary"], "Gateway timeouts above 9%");
        assert_eq!(open[0]["severity"], "critical");
        assert_eq!(open[0]["urgency"], "high");
        assert_eq!(open[0]["status"], "triggered");
        let first_id = open[0]["id"].as_i64().unwrap();
        // Viewers see the events as received, but not the key that sends them.
        let detail = server
            .get_json(&format!("/api/v1/alerts/{first_id}"), &viewer)
            .await;
        let bodies = detail["events"].to_string();
        assert!(bodies.contains("Gateway timeouts above 9%"), "{bodies}");
        assert!(!bodies.contains(&routing_key), "the key leaked: {bodies}");

        // The trailing-slash form works too; acknowledge, then resolve.
        let ack = json!({"routing_key": routing_key, "event_action": "acknowledge", "dedup_key": "gw-timeouts"});
        json(
            server
                .client
                .post(server.url("/v2/enqueue/"))
                .json(&ack)
                .send()
                .await
                .unwrap(),
            202,
        )
        .await;
        let resolve = json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": "gw-timeouts"});
        json(enqueue(resolve.clone()).await.unwrap(), 202).await;
        assert!(
            alerts(&server, &viewer, "?service=payments")
                .await
                .is_empty(),
            "resolved alerts are not open"
        );
        let resolved = alerts(&server, &viewer, "?service=payments&status=resolved").await;
        assert_eq!(resolved[0]["id"].as_i64(), Some(first_id));
        assert!(
            resolved[0]["acknowledged_at"].is_string() && resolved[0]["resolved_at"].is_string()
        );

        // Acknowledge or resolve for an unknown key is accepted and ignored.
        let unknown = json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": "never-seen"});
        json(enqueue(unknown).await.unwrap(), 202).await;
        // A trigger after resolve opens a new alert.
        json(
            enqueue(pd_trigger(&routing_key, Some("gw-timeouts"), "Back again"))
                .await
                .unwrap(),
            202,
        )
        .await;
        let reopened = alerts(&server, &viewer, "?service=payments").await;
        assert_eq!(reopened.len(), 1);
        assert_ne!(reopened[0]["id"].as_i64(), Some(first_id));

        // A trigger without a dedup key gets one.
        let generated = json(
            enqueue(pd_trigger(&routing_key, None, "Card declines spike"))
                .await
                .unwrap(),
            202,
        )
        .await;
        let generated_key = generated["dedup_key"].as_str().unwrap();
        assert_eq!(generated_key.len(), 32);

        // The alert page's data: its events as received, and its group.
        let detail = server
            .get_json(&format!("/api/v1/alerts/{first_id}"), &viewer)
            .await;
        let outcomes: Vec<&str> = detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes, ["opened", "repeated", "acknowledged", "resolved"]);
        assert!(
            detail["events"][0]["body"]
                .as_str()
                .unwrap()
                .contains("Gateway timeouts above 5%"),
            "kept as received"
        );
        assert_eq!(detail["group"]["status"], "resolved");

        // The state changes are in the event log.
        let log = t.app.events(Default::default()).await.unwrap();
        let actions: Vec<&str> = log.items.iter().map(|e| e.action.as_str()).collect();
        for action in [
            "alert.triggered",
            "alert.acknowledged",
            "alert.resolved",
            "alert_group.opened",
        ] {
            assert!(
                actions.contains(&action),
                "{action} missing from {actions:?}"
            );
        }
    }
);

both_backends!(
    pagerduty_refuses_bad_events_in_its_own_shape,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let routing_key = key(&t, IntegrationKind::Pagerduty).await;
        let server = t.serve().await;
        let post = |body: String| {
            server
                .client
                .post(server.url("/v2/enqueue"))
                .header("content-type", "application/json")
                .body(body)
                .send()
        };

        let invalid = json!({"routing_key": routing_key, "event_action": "trigger", "payload": {"summary": "", "severity": "apocalyptic"}});
        let body = json(post(invalid.to_string()).await.unwrap(), 400).await;
        assert_eq!(body["status"], "invalid event");
        let errors: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(
            errors.iter().any(|e| e.contains("payload.summary")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("payload.severity") && e.contains("apocalyptic")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("payload.source")),
            "{errors:?}"
        );
        // Not an event at all: 400, as PagerDuty answers, not a missing key.
        for broken in ["{not json", "[1,2]", "{\"routing_key\":\"k\"} trailing"] {
            let invalid = json(post(broken.into()).await.unwrap(), 400).await;
            assert_eq!(invalid["status"], "invalid event", "{broken}");
        }

        let missing = json(
            post(json!({"event_action": "trigger"}).to_string())
                .await
                .unwrap(),
            401,
        )
        .await;
        assert!(
            missing["errors"][0]
                .as_str()
                .unwrap()
                .contains("routing_key")
        );
        let unknown = pd_trigger("0123456789abcdef0123456789abcdef", Some("k"), "x");
        json(post(unknown.to_string()).await.unwrap(), 403).await;
        let wrong_kind = pd_trigger(&key(&t, IntegrationKind::Generic).await, Some("k"), "x");
        json(post(wrong_kind.to_string()).await.unwrap(), 403).await;

        let mut huge = pd_trigger(&routing_key, Some("big"), "big");
        huge["payload"]["custom_details"]["blob"] = json!("x".repeat(600 * 1024));
        let huge = huge.to_string();
        let too_big = crate::support::send_oversized(|| {
            server
                .client
                .post(server.url("/v2/enqueue"))
                .header("content-type", "application/json")
                .body(huge.clone())
        })
        .await;
        let too_big = json(too_big, 413).await;
        assert_eq!(too_big["status"], "invalid event");

        let viewer = t.token(Role::Viewer).await;
        assert!(
            alerts(&server, &viewer, "?status=resolved")
                .await
                .is_empty()
        );
        assert!(
            alerts(&server, &viewer, "").await.is_empty(),
            "nothing was stored"
        );
    }
);

both_backends!(
    alertmanager_notifications_group_and_resolve,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let viewer = t.token(Role::Viewer).await;
        let am_key = key(&t, IntegrationKind::Alertmanager).await;
        let server = t.serve().await;
        let url = server.url("/api/v1/integrations/alertmanager");

        // A real notification, with a second pod's alert added to its group.
        let mut firing: Value = serde_json::from_str(&fixture("webhook-firing.json")).unwrap();
        let mut second = firing["alerts"][0].clone();
        second["fingerprint"] = json!("second-pod-fingerprint");
        second["labels"]["instance"] = json!("checkout-2:8080");
        firing["alerts"].as_array_mut().unwrap().push(second);
        let firing = firing.to_string();
        let reply = json(
            server
                .client
                .post(&url)
                .bearer_auth(&am_key)
                .header("content-type", "application/json")
                .body(firing.clone())
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(reply["results"].as_array().unwrap().len(), 2);
        let open = alerts(&server, &viewer, "?service=checkout").await;
        assert_eq!(open.len(), 2, "one alert per fingerprint");
        assert_eq!(
            open[0]["group_id"], open[1]["group_id"],
            "Alertmanager's group is one group"
        );
        assert_eq!(open[0]["severity"], "critical");
        assert!(
            open[0]["links"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["text"] == "Source")
        );

        // The same notification again (Alertmanager re-sends) only counts.
        let basic = base64_basic("alertmanager", &am_key);
        json(
            server
                .client
                .post(&url)
                .header("authorization", basic)
                .body(firing)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let open = alerts(&server, &viewer, "?service=checkout").await;
        assert_eq!(open.len(), 2);
        assert!(open.iter().all(|a| a["event_count"] == 2));

        let resolved = fixture("webhook-resolved.json");
        json(
            server
                .client
                .post(&url)
                .bearer_auth(&am_key)
                .body(resolved)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let still_open = alerts(&server, &viewer, "?service=checkout").await;
        assert_eq!(still_open.len(), 1, "the resolved pod's alert closed");
        assert_eq!(still_open[0]["dedup_key"], "second-pod-fingerprint");

        error(
            server.client.post(&url).body("{}").send().await.unwrap(),
            401,
            "missing_integration_key",
        )
        .await;
        error(
            server
                .client
                .post(&url)
                .bearer_auth("not-a-key-at-all-really")
                .body("{}")
                .send()
                .await
                .unwrap(),
            403,
            "unknown_integration_key",
        )
        .await;
        let pd_key = key(&t, IntegrationKind::Pagerduty).await;
        error(
            server
                .client
                .post(&url)
                .bearer_auth(&pd_key)
                .body("{}")
                .send()
                .await
                .unwrap(),
            403,
            "wrong_integration_kind",
        )
        .await;
        let broken = error(server.client.post(&url).bearer_auth(&am_key).body(r#"{"version":"4","groupKey":"g","alerts":[{"status":"burning","labels":{},"fingerprint":"f"}]}"#).send().await.unwrap(), 422, "invalid_event").await;
        assert_eq!(broken["field"], "alerts[0].status");
        error(
            server
                .client
                .post(&url)
                .bearer_auth(&am_key)
                .body("{")
                .send()
                .await
                .unwrap(),
            400,
            "malformed_json",
        )
        .await;
    }
);

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

both_backends!(grafana_signatures_are_checked, |db: TestDb| async move {
    let t = db.app().await;
    t.apply_shop().await;
    let viewer = t.token(Role::Viewer).await;
    let grafana_key = key(&t, IntegrationKind::Grafana).await;
    let server = t.serve().await;
    let url = server.url("/api/v1/integrations/grafana");
    let body = json!({
        "receiver": "siaga", "status": "firing", "version": "1", "state": "alerting", "title": "[FIRING:1] Checkout latency",
        "groupKey": "{}:{alertname=\"CheckoutLatency\"}",
        "alerts": [{"status": "firing", "labels": {"alertname": "CheckoutLatency", "severity": "warning", "env": "staging"},
            "annotations": {"summary": "p99 latency 2.4 s"}, "startsAt": "2026-11-02T08:59:00Z", "fingerprint": "graf-1",
            "dashboardURL": "https://grafana.kedai.example/d/checkout"}]
    })
    .to_string();
    let secret = "change-me-kedai-grafana-hmac-secret";
    let signature = siaga::formats::grafana::sign(secret, body.as_bytes(), None);

    let unsigned = server
        .client
        .post(&url)
        .bearer_auth(&grafana_key)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let unsigned = error(unsigned, 401, "invalid_signature").await;
    assert_eq!(unsigned["field"], "X-Grafana-Alerting-Signature");
    let tampered = server
        .client
        .post(&url)
        .bearer_auth(&grafana_key)
        .header("x-grafana-alert-signature", &signature)
        .body(body.replace("2.4", "9.9"))
        .send()
        .await
        .unwrap();
    error(tampered, 401, "invalid_signature").await;
    assert!(
        alerts(&server, &viewer, "?service=checkout")
            .await
            .is_empty(),
        "nothing stored from unsigned requests"
    );

    let signed = server
        .client
        .put(&url)
        .bearer_auth(&grafana_key)
        .header("x-grafana-alert-signature", &signature)
        .body(body)
        .send()
        .await
        .unwrap();
    json(signed, 200).await;
    let open = alerts(&server, &viewer, "?service=checkout").await;
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0]["urgency"], "low",
        "env=staging is low urgency by the integration's rule"
    );
});

both_backends!(
    grafana_timestamp_headers_are_signed_and_stale_ones_refused,
    |db: TestDb| async move {
        // As Grafana's `hmac_config` with a `timestamp_header` of the
        // user's choosing: it signs `TIMESTAMP:body`.
        let t = db.app().await;
        let config = SHOP.replace(
            "        signing_secret: change-me-kedai-grafana-hmac-secret\n",
            "        signing_secret: change-me-kedai-grafana-hmac-secret\n        timestamp_header: X-Grafana-Alerting-Timestamp\n",
        );
        assert_ne!(config, SHOP);
        t.apply("shop.yaml", &config).await;
        let grafana_key = key(&t, IntegrationKind::Grafana).await;
        let server = t.serve().await;
        let url = server.url("/api/v1/integrations/grafana");
        let body = json!({
            "receiver": "siaga", "status": "firing", "version": "1", "state": "alerting", "title": "[FIRING:1] X",
            "groupKey": "{}:{alertname=\"X\"}",
            "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "annotations": {"summary": "x"},
                "startsAt": "2026-11-02T08:59:00Z", "fingerprint": "graf-ts"}]
        })
        .to_string();
        let secret = "change-me-kedai-grafana-hmac-secret";
        let send = |stamp: String| {
            let signature = siaga::formats::grafana::sign(secret, body.as_bytes(), Some(&stamp));
            server
                .client
                .post(&url)
                .bearer_auth(&grafana_key)
                .header("X-Grafana-Alerting-Signature", signature)
                .header("X-Grafana-Alerting-Timestamp", stamp)
                .body(body.clone())
                .send()
        };
        let now = t.clock.now().as_second();
        let stale = error(
            send((now - 301).to_string()).await.unwrap(),
            401,
            "invalid_signature",
        )
        .await;
        assert_eq!(stale["field"], "x-grafana-alerting-timestamp");
        json(send(now.to_string()).await.unwrap(), 200).await;
        // Signed without the timestamp: refused, since the header is required.
        let bare = server
            .client
            .post(&url)
            .bearer_auth(&grafana_key)
            .header(
                "X-Grafana-Alerting-Signature",
                siaga::formats::grafana::sign(secret, body.as_bytes(), None),
            )
            .body(body.clone())
            .send()
            .await
            .unwrap();
        error(bare, 401, "invalid_signature").await;
    }
);

both_backends!(
    a_grafana_signature_header_of_the_users_choosing_is_checked,
    |db: TestDb| async move {
        // As Grafana's `hmac_config.header`, renamed from its default.
        let t = db.app().await;
        let config = SHOP.replace(
            "        signing_secret: change-me-kedai-grafana-hmac-secret\n",
            "        signing_secret: change-me-kedai-grafana-hmac-secret\n        signature_header: X-Kedai-Signature\n",
        );
        assert_ne!(config, SHOP);
        t.apply("shop.yaml", &config).await;
        let grafana_key = key(&t, IntegrationKind::Grafana).await;
        let server = t.serve().await;
        let body = json!({
            "receiver": "siaga", "status": "firing", "version": "1", "state": "alerting",
            "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "annotations": {}, "fingerprint": "graf-sig"}]
        })
        .to_string();
        let signature = siaga::formats::grafana::sign(
            "change-me-kedai-grafana-hmac-secret",
            body.as_bytes(),
            None,
        );
        let send = |header: &'static str| {
            server
                .client
                .post(server.url("/api/v1/integrations/grafana"))
                .bearer_auth(&grafana_key)
                .header(header, signature.clone())
                .body(body.clone())
                .send()
        };
        let default = error(
            send("X-Grafana-Alerting-Signature").await.unwrap(),
            401,
            "invalid_signature",
        )
        .await;
        assert_eq!(default["field"], "x-kedai-signature", "the header it wants");
        json(send("X-Kedai-Signature").await.unwrap(), 200).await;
    }
);

both_backends!(
    opsgenie_clients_create_and_close_by_alias,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let viewer = t.token(Role::Viewer).await;
        let genie = format!("GenieKey {}", key(&t, IntegrationKind::Opsgenie).await);
        let server = t.serve().await;
        let create = fixture("opsgenie-create-allfields.json");
        let alias = serde_json::from_str::<Value>(&create).unwrap()["alias"]
            .as_str()
            .unwrap()
            .to_string();

        let reply = json(
            server
                .client
                .post(server.url("/v2/alerts"))
                .header("authorization", &genie)
                .body(create)
                .send()
                .await
                .unwrap(),
            202,
        )
        .await;
        assert_eq!(reply["result"], "Request will be processed");
        let open = alerts(&server, &viewer, "?service=payments").await;
        assert_eq!(open.len(), 1);
        assert_eq!(open[0]["severity"], "critical", "P1 maps to critical");
        json(
            server
                .client
                .put(server.url(&format!("/v2/alerts/{alias}/message?identifierType=alias")))
                .header("authorization", &genie)
                .body("{}")
                .send()
                .await
                .unwrap(),
            202,
        )
        .await;

        let close = server.url(&format!("/v2/alerts/{alias}/close?identifierType=alias"));
        json(
            server
                .client
                .post(&close)
                .header("authorization", &genie)
                .body(r#"{"source":"alertmanager"}"#)
                .send()
                .await
                .unwrap(),
            202,
        )
        .await;
        assert!(
            alerts(&server, &viewer, "?service=payments")
                .await
                .is_empty()
        );

        json(
            server
                .client
                .post(server.url("/v2/alerts"))
                .body("{}")
                .send()
                .await
                .unwrap(),
            401,
        )
        .await;
        let bad = json(
            server
                .client
                .post(server.url("/v2/alerts"))
                .header("authorization", &genie)
                .body(r#"{"message":"x","priority":"P9"}"#)
                .send()
                .await
                .unwrap(),
            422,
        )
        .await;
        // As Opsgenie answers: a message, and the problem by field.
        assert!(bad["message"].as_str().unwrap().contains("not processable"));
        assert!(
            bad["errors"]["priority"]
                .as_str()
                .unwrap()
                .contains("P1 to P5"),
            "{bad}"
        );

        // Close refusals are in Opsgenie's shape too.
        let twice = json(
            server
                .client
                .post(server.url(&format!(
                    "/v2/alerts/{alias}/close?identifierType=alias&identifierType=id"
                )))
                .header("authorization", &genie)
                .body("{}")
                .send()
                .await
                .unwrap(),
            422,
        )
        .await;
        assert!(
            twice["message"]
                .as_str()
                .unwrap()
                .contains("identifierType")
        );
        assert!(twice["requestId"].is_string());
    }
);

both_backends!(
    generic_events_follow_mapping_rules_and_maintenance,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let responder = t.token(Role::Responder).await;
        let generic_key = key(&t, IntegrationKind::Generic).await;
        let server = t.serve().await;
        let url = server.url("/api/v1/integrations/generic");

        let batch = json!({"events": [
            {"action": "trigger", "dedup_key": "homepage-slow", "summary": "Home page takes 6 s to load", "labels": {"check": "homepage"}},
            {"action": "trigger", "dedup_key": "search-down", "summary": "Search returns 500", "severity": "critical"}
        ]});
        let reply = json(
            server
                .client
                .post(&url)
                .bearer_auth(&generic_key)
                .json(&batch)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(reply["results"][0]["outcome"], "opened");
        let open = alerts(&server, &responder, "?service=storefront").await;
        assert_eq!(open.len(), 2);
        let slow = open
            .iter()
            .find(|a| a["dedup_key"] == "homepage-slow")
            .unwrap();
        assert_eq!(
            slow["severity"], "error",
            "the integration's default severity"
        );
        assert_ne!(
            open[0]["group_id"], open[1]["group_id"],
            "without grouping rules each alert is its own group"
        );
        let critical = alerts(&server, &responder, "?service=storefront&severity=critical").await;
        assert_eq!(critical.len(), 1);

        // Acknowledge and resolve through the API.
        let id = slow["id"].as_i64().unwrap();
        let acked = json(
            server
                .post(&format!("/api/v1/alerts/{id}/acknowledge"), &responder)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(acked["status"], "acknowledged");
        json(
            server
                .post(&format!("/api/v1/alerts/{id}/acknowledge"), &responder)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        json(
            server
                .post(&format!("/api/v1/alerts/{id}/resolve"), &responder)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        error(
            server
                .post(&format!("/api/v1/alerts/{id}/acknowledge"), &responder)
                .send()
                .await
                .unwrap(),
            409,
            "conflict",
        )
        .await;
        let viewer = t.token(Role::Viewer).await;
        let search_id = critical[0]["id"].as_i64().unwrap();
        error(
            server
                .post(&format!("/api/v1/alerts/{search_id}/resolve"), &viewer)
                .send()
                .await
                .unwrap(),
            403,
            "forbidden",
        )
        .await;
        error(
            server
                .post("/api/v1/alerts/999999/resolve", &responder)
                .send()
                .await
                .unwrap(),
            404,
            "not_found",
        )
        .await;

        // During maintenance alerts are recorded but their group does not page.
        let window = json!({"service": "storefront", "duration": "2h", "reason": "CDN migration"});
        let created = json(
            server
                .post("/api/v1/maintenance-windows", &responder)
                .json(&window)
                .send()
                .await
                .unwrap(),
            201,
        )
        .await;
        let typo = json!({"service": "storefrnt", "duration": "2h", "reason": "x"});
        let refused = error(
            server
                .post("/api/v1/maintenance-windows", &responder)
                .json(&typo)
                .send()
                .await
                .unwrap(),
            422,
            "unknown_service",
        )
        .await;
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("did you mean `storefront`?")
        );
        for duration in ["soon", "900000000h"] {
            let refused = error(
                server
                    .post("/api/v1/maintenance-windows", &responder)
                    .json(&json!({"service": "storefront", "duration": duration, "reason": "x"}))
                    .send()
                    .await
                    .unwrap(),
                422,
                "invalid_duration",
            )
            .await;
            assert_eq!(refused["field"], "duration", "{duration}");
        }
        let event =
            json!({"action": "trigger", "dedup_key": "during-maintenance", "summary": "CDN 502s"});
        json(
            server
                .client
                .post(&url)
                .bearer_auth(&generic_key)
                .json(&event)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let recorded = alerts(&server, &responder, "?service=storefront").await;
        let quiet = recorded
            .iter()
            .find(|a| a["dedup_key"] == "during-maintenance")
            .unwrap();
        assert_eq!(quiet["in_maintenance"], true);
        let log = t.app.events(Default::default()).await.unwrap();
        let opened = log
            .items
            .iter()
            .find(|e| e.action == "alert_group.opened")
            .unwrap();
        assert_eq!(
            opened.after.as_ref().unwrap()["pages"],
            false,
            "the newest group does not page"
        );

        let windows = server
            .get_json("/api/v1/maintenance-windows?service=inventory", &responder)
            .await;
        assert_eq!(
            windows[0]["origin"], "config",
            "windows from config are listed too"
        );
        let id = created["id"].as_i64().unwrap();
        let cancel = server
            .client
            .delete(server.url(&format!("/api/v1/maintenance-windows/{id}")))
            .bearer_auth(&responder)
            .send()
            .await
            .unwrap();
        assert_eq!(cancel.status(), 204);
        // Ended early is ended: no longer listed, and not ended twice.
        let listed = server
            .get_json("/api/v1/maintenance-windows?service=inventory", &responder)
            .await;
        assert!(
            listed.as_array().unwrap().iter().all(|w| w["id"] != id),
            "{listed}"
        );
        let again = server
            .client
            .delete(server.url(&format!("/api/v1/maintenance-windows/{id}")))
            .bearer_auth(&responder)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 404);

        let bad = error(
            server
                .client
                .post(&url)
                .bearer_auth(&generic_key)
                .json(&json!({"action": "trigger", "dedup_key": "x"}))
                .send()
                .await
                .unwrap(),
            422,
            "invalid_event",
        )
        .await;
        assert_eq!(bad["field"], "summary");
    }
);

both_backends!(
    alert_storms_group_and_drop_rules_hold,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let viewer = t.token(Role::Viewer).await;
        let generic_key = key(&t, IntegrationKind::Generic).await;
        let server = t.serve().await;
        let am_key = key(&t, IntegrationKind::Alertmanager).await;
        // Generic events carry no source group, so the service's grouping
        // applies: give storefront a grouping by alertname.
        let regrouped = SHOP.replacen(
        "    integrations:\n      # Synthetic checks post siaga's own JSON schema.",
        "    alert_grouping:\n      by: [alertname]\n      window: 10m\n    integrations:\n      # Synthetic checks post siaga's own JSON schema.",
        1,
    );
        t.apply("shop.yaml", &regrouped).await;
        let storm: Vec<Value> = (0..5)
        .map(|i| json!({"action": "trigger", "dedup_key": format!("pod-{i}"), "summary": format!("checkout-{i} crash looping"), "labels": {"alertname": "PodCrashLooping"}}))
        .collect();
        json(
            server
                .client
                .post(server.url("/api/v1/integrations/generic"))
                .bearer_auth(&generic_key)
                .json(&json!({"events": storm}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let open = alerts(&server, &viewer, "?service=storefront").await;
        assert_eq!(open.len(), 5);
        assert!(
            open.iter().all(|a| a["group_id"] == open[0]["group_id"]),
            "a storm is one group"
        );
        let log = t.app.events(Default::default()).await.unwrap();
        assert_eq!(
            log.items
                .iter()
                .filter(|e| e.action == "alert_group.opened")
                .count(),
            1,
            "one page for the storm"
        );

        // Checkout's Alertmanager integration drops Watchdog.
        let watchdog = json!({"version": "4", "groupKey": "wd", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "Watchdog"}, "annotations": {}, "fingerprint": "watchdog"}]});
        let reply = json(
            server
                .client
                .post(server.url("/api/v1/integrations/alertmanager"))
                .bearer_auth(&am_key)
                .json(&watchdog)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(reply["results"][0]["outcome"], "dropped");
        assert!(
            alerts(&server, &viewer, "?service=checkout")
                .await
                .is_empty()
        );

        // A group key longer than an index row may be (a wide `group_by`):
        // stored bounded, and the next notification finds the same group.
        // Labels that do not compress, as real instance names do not.
        let labels: Vec<String> = (0..300u32)
            .map(|i| format!("l{i}=\"{:08x}\"", i.wrapping_mul(2_654_435_761)))
            .collect();
        let wide = format!("{{}}:{{{}}}", labels.join(","));
        for fingerprint in ["wide-1", "wide-2"] {
            let notification = json!({"version": "4", "groupKey": wide, "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "Wide"}, "annotations": {}, "fingerprint": fingerprint}]});
            json(
                server
                    .client
                    .post(server.url("/api/v1/integrations/alertmanager"))
                    .bearer_auth(&am_key)
                    .json(&notification)
                    .send()
                    .await
                    .unwrap(),
                200,
            )
            .await;
        }
        let wide = alerts(&server, &viewer, "?service=checkout").await;
        assert_eq!(wide.len(), 2);
        assert_eq!(wide[0]["group_id"], wide[1]["group_id"], "one group");

        // A storm's whole group in one notification, past the 4 MB other
        // webhooks may send: Alertmanager would not retry a 413.
        let description = "d".repeat(2_000);
        let storm: Vec<Value> = (0..2_500)
            .map(|i| json!({"status": "firing", "labels": {"alertname": "Storm", "pod": format!("pod-{i}")}, "annotations": {"description": description}, "fingerprint": format!("storm-{i}")}))
            .collect();
        let notification = json!({"version": "4", "groupKey": "{}:{alertname=\"Storm\"}", "status": "firing", "alerts": storm});
        let body = serde_json::to_vec(&notification).unwrap();
        assert!(body.len() > 4 * 1024 * 1024, "{}", body.len());
        let reply = json(
            server
                .client
                .post(server.url("/api/v1/integrations/alertmanager"))
                .bearer_auth(&am_key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(reply["results"].as_array().unwrap().len(), 2_500);
    }
);

both_backends!(
    rate_limits_answer_429_and_changes_are_recorded,
    |db: TestDb| async move {
        let t = db.app().await;
        let limited = SHOP.replacen(
        "        kind: generic\n        default_severity: error",
        "        kind: generic\n        default_severity: error\n        rate_limit:\n          events: 3\n          per: 1h",
        1,
    ).replacen(
        "        kind: alertmanager\n",
        "        kind: alertmanager\n        rate_limit: {events: 3, per: 1h}\n",
        1,
    );
        t.apply("shop.yaml", &limited).await;
        let generic_key = key(&t, IntegrationKind::Generic).await;
        let server = t.serve().await;
        for i in 0..3 {
            let event = json!({"action": "trigger", "dedup_key": format!("k{i}"), "summary": "x"});
            json(
                server
                    .client
                    .post(server.url("/api/v1/integrations/generic"))
                    .bearer_auth(&generic_key)
                    .json(&event)
                    .send()
                    .await
                    .unwrap(),
                200,
            )
            .await;
        }
        let event = json!({"action": "trigger", "dedup_key": "k4", "summary": "x"});
        let limited = server
            .client
            .post(server.url("/api/v1/integrations/generic"))
            .bearer_auth(&generic_key)
            .json(&event)
            .send()
            .await
            .unwrap();
        assert!(limited.headers().contains_key("retry-after"));
        error(limited, 429, "rate_limited").await;

        // Alertmanager's webhook receiver retries 5xx only: it gets a 503.
        let am_key = key(&t, IntegrationKind::Alertmanager).await;
        let notification = |fingerprint: &str| json!({"version": "4", "groupKey": "rl", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "RL"}, "annotations": {}, "fingerprint": fingerprint}]});
        let post = |body: Value| {
            server
                .client
                .post(server.url("/api/v1/integrations/alertmanager"))
                .bearer_auth(&am_key)
                .json(&body)
                .send()
        };
        for i in 0..3 {
            json(post(notification(&format!("rl-{i}"))).await.unwrap(), 200).await;
        }
        let limited = post(notification("rl-3")).await.unwrap();
        assert!(limited.headers().contains_key("retry-after"));
        error(limited, 503, "rate_limited").await;

        let routing_key = key(&t, IntegrationKind::Pagerduty).await;
        let change = json!({"routing_key": routing_key, "payload": {"summary": "Deploy payments v2.14.0", "source": "argo", "timestamp": "2026-11-02T08:30:00+08:00"}, "links": [{"href": "https://ci.kedai.example/runs/981", "text": "Pipeline"}]});
        let reply = json(
            server
                .client
                .post(server.url("/v2/change/enqueue"))
                .json(&change)
                .send()
                .await
                .unwrap(),
            202,
        )
        .await;
        assert_eq!(reply["message"], "Change event processed");
        let viewer = t.token(Role::Viewer).await;
        let changes = server
            .get_json("/api/v1/changes?service=payments", &viewer)
            .await;
        assert_eq!(changes[0]["summary"], "Deploy payments v2.14.0");
        assert_eq!(changes[0]["links"][0]["text"], "Pipeline");
    }
);

both_backends!(
    integrations_are_listed_for_admins_only_with_stable_keys,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let admin = t.token(Role::Admin).await;
        let viewer = t.token(Role::Viewer).await;
        let server = t.serve().await;
        let listed = server.get_json("/api/v1/integrations", &admin).await;
        let kinds: std::collections::BTreeSet<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            [
                "alertmanager",
                "generic",
                "grafana",
                "opsgenie",
                "pagerduty"
            ]
        );
        assert!(
            listed
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["key"].as_str().unwrap().len() == 32)
        );
        error(
            server
                .get("/api/v1/integrations", &viewer)
                .send()
                .await
                .unwrap(),
            403,
            "forbidden",
        )
        .await;

        // Keys survive a reload, and never show in the catalogue or the log.
        t.apply_shop().await;
        let again = server.get_json("/api/v1/integrations", &admin).await;
        assert_eq!(listed, again);
        let key = listed[0]["key"].as_str().unwrap();
        let service = server
            .get_json(
                &format!(
                    "/api/v1/services/{}",
                    listed[0]["service"].as_str().unwrap()
                ),
                &viewer,
            )
            .await;
        assert!(
            !service.to_string().contains(key),
            "keys are not in the catalogue"
        );
        let log = server.get_json("/api/v1/events?limit=500", &admin).await;
        assert!(
            !log.to_string().contains(key),
            "keys are not in the event log"
        );
    }
);

both_backends!(
    concurrent_triggers_across_replicas_make_one_alert,
    |db: TestDb| async move {
        // Two apps on one database stand for two replicas, each with its own
        // ingestion writer: the same new dedup key arrives at both at once.
        let a = db.app().await;
        a.apply_shop().await;
        let b = db.app().await;
        let org = a.app.org().await.unwrap();
        let key = org.service("storefront").unwrap().integrations[0]
            .key
            .clone()
            .unwrap();
        let target = a
            .app
            .integration_for_key(&key, IntegrationKind::Generic)
            .await
            .unwrap();
        let signal = |i: usize| {
            let body = json!({"action": "trigger", "dedup_key": "race", "summary": format!("attempt {i}")});
            siaga::formats::generic::parse(body.to_string().as_bytes(), &Default::default())
                .unwrap()
                .remove(0)
        };
        let mut tasks = Vec::new();
        for i in 0..40 {
            let app = if i % 2 == 0 {
                a.app.clone()
            } else {
                b.app.clone()
            };
            let target = target.clone();
            let signal = signal(i);
            tasks.push(tokio::spawn(async move {
                app.ingest(&target, "generic", "{}".into(), vec![signal])
                    .await
            }));
        }
        let mut opened = 0;
        for task in tasks {
            let results = task.await.unwrap().expect("every trigger is accepted");
            if results[0].outcome == "opened" {
                opened += 1;
            }
        }
        assert_eq!(opened, 1, "exactly one trigger opened the alert");
        let page = a.app.alerts(Default::default()).await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].event_count, 40, "every trigger counted");
    }
);

both_backends!(
    nul_characters_are_stored_as_replacement_characters_on_both_backends,
    |db: TestDb| async move {
        // PostgreSQL refuses NUL in text; JSON carries it as `\u0000`. A
        // client's odd character must not turn into a 500 (Alertmanager
        // retries those forever) nor differ between backends.
        let t = db.app().await;
        t.apply_shop().await;
        let viewer = t.token(Role::Viewer).await;
        let routing_key = key(&t, IntegrationKind::Pagerduty).await;
        let genie = format!("GenieKey {}", key(&t, IntegrationKind::Opsgenie).await);
        let server = t.serve().await;
        let mut event = pd_trigger(&routing_key, Some("nul\u{0}key"), "disk\u{0}full");
        event["payload"]["component"] = json!("db\u{0}");
        let reply = json(
            server
                .client
                .post(server.url("/v2/enqueue"))
                .json(&event)
                .send()
                .await
                .unwrap(),
            202,
        )
        .await;
        assert_eq!(reply["dedup_key"], "nul\u{0}key", "answered as sent");
        let open = alerts(&server, &viewer, "?service=payments").await;
        assert_eq!(open.len(), 1);
        assert_eq!(open[0]["summary"], "disk\u{FFFD}full");
        assert_eq!(open[0]["dedup_key"], "nul\u{FFFD}key");
        // The same key again is the same alert.
        json(
            server
                .client
                .post(server.url("/v2/enqueue"))
                .json(&event)
                .send()
                .await
                .unwrap(),
            202,
        )
        .await;
        let open = alerts(&server, &viewer, "?service=payments").await;
        assert_eq!((open.len(), open[0]["event_count"].as_i64()), (1, Some(2)));

        // Alertmanager labels and annotations.
        let webhook = fixture("webhook-firing.json")
            .replace("\"summary\": \"Checkout", "\"summary\": \"\\u0000Checkout")
            .replace(
                "\"instance\": \"checkout-1",
                "\"instance\": \"\\u0000checkout-1",
            );
        assert!(webhook.contains("\\u0000Checkout") && webhook.contains("\\u0000checkout-1"));
        let am_key = key(&t, IntegrationKind::Alertmanager).await;
        assert_eq!(
            server
                .client
                .post(server.url("/api/v1/integrations/alertmanager"))
                .bearer_auth(&am_key)
                .body(webhook)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );

        // An Opsgenie close whose body (not parsed) holds a raw NUL byte.
        let close = server.url("/v2/alerts/some-alias/close?identifierType=alias");
        json(
            server
                .client
                .post(&close)
                .header("authorization", &genie)
                .body(b"{\"note\":\"\0\"}".to_vec())
                .send()
                .await
                .unwrap(),
            202,
        )
        .await;
    }
);

both_backends!(
    generic_events_with_an_unknown_severity_are_refused_and_nothing_is_stored,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let viewer = t.token(Role::Viewer).await;
        let generic_key = key(&t, IntegrationKind::Generic).await;
        let server = t.serve().await;
        let batch = json!({"events": [
            {"action": "trigger", "dedup_key": "fine", "summary": "x", "severity": "P2"},
            {"action": "trigger", "dedup_key": "odd", "summary": "x", "severity": "apocalyptic"}
        ]});
        let refused = error(
            server
                .client
                .post(server.url("/api/v1/integrations/generic"))
                .bearer_auth(&generic_key)
                .json(&batch)
                .send()
                .await
                .unwrap(),
            422,
            "invalid_event",
        )
        .await;
        assert_eq!(refused["field"], "events[1].severity");
        assert!(
            alerts(&server, &viewer, "").await.is_empty(),
            "nothing stored"
        );
    }
);

both_backends!(
    config_maintenance_windows_have_no_api_id_to_collide_with,
    |db: TestDb| async move {
        // A config window's config id and an API window's row id come
        // from different counters: listing the first with an id that
        // `cancel` reads as the second's would cancel the wrong window.
        let t = db.app().await;
        let now = t.clock.now();
        // The shop's own window, moved to the next hour.
        let config = SHOP
            .replace(
                "starts_at: 2026-12-06T01:00:00+08:00",
                &format!("starts_at: {}", now + jiff::SignedDuration::from_hours(1)),
            )
            .replace(
                "ends_at: 2026-12-06T03:00:00+08:00",
                &format!("ends_at: {}", now + jiff::SignedDuration::from_hours(2)),
            );
        assert_ne!(config, SHOP);
        t.apply("shop.yaml", &config).await;
        let responder = t.token(Role::Responder).await;
        let caller = t.app.authenticate_token(&responder).await.unwrap();
        let created = t
            .app
            .create_maintenance_window(
                &caller,
                "storefront",
                None,
                now + jiff::SignedDuration::from_hours(1),
                "CDN",
            )
            .await
            .unwrap();
        let windows = t.app.maintenance_windows(None).await.unwrap();
        assert_eq!(windows.len(), 2, "{windows:?}");
        let server = t.serve().await;
        let listed = server
            .get_json("/api/v1/maintenance-windows?limit=1", &responder)
            .await;
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        let refused = server
            .client
            .get(server.url("/api/v1/maintenance-windows?limit=0"))
            .bearer_auth(&responder)
            .send()
            .await
            .unwrap();
        assert_eq!(error(refused, 422, "invalid_limit").await["field"], "limit");
        let from_config = windows.iter().find(|w| w.origin == "config").unwrap();
        assert_eq!(from_config.id, None, "not cancellable through the API");
        assert_eq!(from_config.service, "inventory");
        assert!(created.id.is_some());
        t.app
            .cancel_maintenance_window(&caller, created.id.unwrap())
            .await
            .unwrap();
        for window in t.app.maintenance_windows(None).await.unwrap() {
            assert_eq!(
                window.cancelled_at.is_some(),
                window.origin == "api",
                "only the API window is cancelled: {window:?}"
            );
        }
    }
);

both_backends!(
    integration_keys_stay_unique_when_moved_and_fresh_when_restored,
    |db: TestDb| async move {
        let t = db.app().await;
        let config = |b: &str, with_c: bool| {
            let c = if with_c {
                "  - {name: c, owner: t, tier: 3, integrations: [{name: z, kind: generic}]}\n"
            } else {
                ""
            };
            format!(
                "organisation: {{name: K}}\npeople: [{{handle: p, name: P, email: p@k.example}}]\nteams: [{{name: t, lead: p, head: p}}]\nservices:\n  - {{name: a, owner: t, tier: 3, integrations: [{{name: x, kind: generic}}]}}\n  - {{name: b, owner: t, tier: 3, integrations: [{{name: y, kind: generic{b}}}]}}\n{c}"
            )
        };
        let key_of = |org: &siaga::domain::org::Org, service: &str| {
            org.service(service).unwrap().integrations[0]
                .key
                .clone()
                .unwrap()
        };
        t.apply("k.yaml", &config("", true)).await;
        let first = t.app.org().await.unwrap();
        let (a, c) = (key_of(&first, "a"), key_of(&first, "c"));
        // a's key moves to b by hand; a's line has no key: a gets a new one.
        t.apply("k.yaml", &config(&format!(", key: {a}"), true))
            .await;
        let moved = t.app.org().await.unwrap();
        assert_eq!(key_of(&moved, "b"), a);
        assert_ne!(key_of(&moved, "a"), a, "one key, one integration");
        let target = t
            .app
            .integration_for_key(&a, IntegrationKind::Generic)
            .await
            .unwrap();
        assert_eq!(target.service().name, "b");
        // c goes, then comes back: not with the key it had.
        t.apply("k.yaml", &config("", false)).await;
        t.apply("k.yaml", &config("", true)).await;
        let restored = t.app.org().await.unwrap();
        assert_ne!(key_of(&restored, "c"), c);
    }
);

// A request without a valid key is refused from its headers alone: its
// body (announced at 60 MB, never sent) is not read first, so nobody
// without a key can make siaga hold large bodies in memory.
both_backends!(
    a_wrong_key_is_refused_before_the_body_is_read,
    |db: TestDb| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let t = db.app().await;
        t.apply_shop().await;
        let server = t.serve().await;
        for (path, authorization) in [
            ("/api/v1/integrations/alertmanager", "Bearer nope"),
            ("/api/v1/integrations/grafana", "Bearer nope"),
            ("/api/v1/integrations/generic", "Bearer nope"),
            ("/v2/alerts", "GenieKey nope"),
            ("/v2/alerts/a1/close?identifierType=alias", "GenieKey nope"),
        ] {
            let mut stream = tokio::net::TcpStream::connect(server.address)
                .await
                .unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: siaga\r\nAuthorization: {authorization}\r\n\
                 Content-Type: application/json\r\nContent-Length: 60000000\r\n\r\n{{"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut answer = vec![0; 1024];
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
                    .await
                    .unwrap_or_else(|_| panic!("{path}: no answer before the body"))
                    .unwrap();
            let answer = String::from_utf8_lossy(&answer[..read]).to_string();
            assert!(answer.starts_with("HTTP/1.1 403"), "{path}: {answer}");
        }
        server.stop().await;
    }
);

// A window whose time is over cannot be ended early: no second end, no
// event saying it was cut short, no end job.
both_backends!(
    a_window_already_over_is_not_ended_again,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let responder = t.token(Role::Responder).await;
        let caller = t.app.authenticate_token(&responder).await.unwrap();
        let now = t.clock.now();
        let window = t
            .app
            .create_maintenance_window(
                &caller,
                "storefront",
                None,
                now + jiff::SignedDuration::from_hours(1),
                "CDN",
            )
            .await
            .unwrap();
        t.clock.advance(jiff::SignedDuration::from_hours(2));
        let over = t
            .app
            .cancel_maintenance_window(&caller, window.id.unwrap())
            .await
            .unwrap_err();
        assert!(matches!(over, siaga::app::Error::NotFound(_)), "{over:?}");
        let log = crate::support::event_log(&t).await;
        assert!(
            !log.iter()
                .any(|e| e.action == "maintenance_window.cancelled")
        );
    }
);
