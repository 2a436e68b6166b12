//! Incident response end to end over HTTP: declaring sets everything up,
//! stakeholders hear by severity, the cadence reminds, resolve needs
//! evidence, concurrent edits are well defined, the timeline is live.

use jiff::SignedDuration;
use serde_json::{Value, json};
use siaga::domain::auth::Role;
use siaga::domain::event::Actor;

use crate::both_backends;
use crate::support::{TestApp, TestDb, TestServer, error, json, receiver, run_due};

pub(crate) fn config(hooks: &str) -> String {
    format!(
        r#"
organisation: {{name: Kedai, time_zone: Asia/Kuala_Lumpur, base_url: "https://siaga.kedai.example"}}
people:
  - {{handle: ceo, name: Chief Executive, email: ceo@k.example, contact_methods: [{{type: webhook, address: "{hooks}/hook/ceo"}}]}}
  - {{handle: lead, name: Lead, email: lead@k.example, contact_methods: [{{type: webhook, address: "{hooks}/hook/lead"}}]}}
  - {{handle: head, name: Head, email: head@k.example, contact_methods: [{{type: webhook, address: "{hooks}/hook/head"}}]}}
  - {{handle: oncall, name: On Call, email: oncall@k.example, contact_methods: [{{type: webhook, address: "{hooks}/hook/oncall"}}]}}
  - {{handle: comms, name: Comms, email: comms@k.example, contact_methods: [{{type: webhook, address: "{hooks}/hook/comms"}}]}}
teams:
  - {{name: payments, lead: lead, head: head, members: [oncall]}}
executives: [ceo]
schedules:
  - name: primary
    layers: [{{participants: [oncall], rotation: weekly, start: "2026-10-26T00:00"}}]
  - name: comms
    layers: [{{participants: [comms], rotation: weekly, start: "2026-10-26T00:00"}}]
services:
  - {{name: checkout, owner: payments, tier: 1, depends_on: [payments]}}
  - {{name: payments, owner: payments, tier: 1, integrations: [{{name: probes, kind: generic, key: probes-key-0123456789}}]}}
  - {{name: storefront, owner: payments, tier: 2, depends_on: [checkout]}}
incidents:
  severities:
    - name: SEV1
      description: Customers cannot pay.
      notify: [executives, owner_leads]
      chat: [{{type: slack, address: "{hooks}/hook/chat"}}]
      update_every: 30m
      settle: 10m
      checklist: {{incident_owner: [Call the payment partner]}}
    - name: SEV2
      description: Payments degraded.
      notify: [owner_leads]
      update_every: 60m
      settle: 5m
    - name: SEV3
      description: Minor.
      settle: 5m
  roles:
    - {{name: incident_owner, title: Incident owner, default_from: [primary], checklist: [Confirm the severity]}}
    - {{name: comms_lead, title: Comms lead, default_from: [comms], checklist: [Post the first public update]}}
    - {{name: support_lead, title: Support lead, checklist: [Brief support, "Tell callers: {{{{ workaround }}}}"]}}
  talk_scripts:
    - {{name: phone, audience: customer support, template: "{{{{title}}}}: pay by {{{{workaround}}}} until {{{{next_update}}}}"}}
  auto_declare:
    - {{alert_severity: critical, tier: 1, services: [payments], declare: SEV2}}
  regression: {{window: 1h, action: reopen}}
"#
    )
}

struct Room {
    t: TestApp,
    server: TestServer,
    responder: String,
    received: crate::support::Received,
}

async fn room(db: &TestDb) -> Room {
    room_with(db, |config| config).await
}

/// A room whose config is changed by `edit` first.
async fn room_with(db: &TestDb, edit: impl Fn(String) -> String) -> Room {
    let (hooks, received) = receiver().await;
    let t = db.app().await;
    t.apply("incidents.yaml", &edit(config(&hooks))).await;
    let server = t.serve().await;
    let responder = t.token(Role::Responder).await;
    Room {
        t,
        server,
        responder,
        received,
    }
}

impl Room {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.server
            .post(path, &self.responder)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        self.server.get_json(path, &self.responder).await
    }

    async fn declare(&self, body: Value) -> Value {
        json(self.post("/api/v1/incidents", body).await, 201).await
    }

    async fn trigger(&self, key: &str) -> i64 {
        let event = json!({"action": "trigger", "dedup_key": key, "summary": "Payments 5xx", "severity": "critical"});
        let sent = self
            .server
            .client
            .post(self.server.url("/api/v1/integrations/generic"))
            .bearer_auth("probes-key-0123456789")
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200);
        self.t.app.alert_by_dedup_key(key, None).await.unwrap()
    }

    async fn resolve_alert_key(&self, key: &str) {
        let event = json!({"action": "resolve", "dedup_key": key});
        let sent = self
            .server
            .client
            .post(self.server.url("/api/v1/integrations/generic"))
            .bearer_auth("probes-key-0123456789")
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200);
    }

    /// A browser session of a new user with this email and role.
    async fn session(&self, email: &str, role: Role) -> Session<'_> {
        let password = "a long enough password";
        self.t
            .app
            .create_user(
                &Actor::system("test"),
                email,
                "Page User",
                role,
                Some(password),
            )
            .await
            .unwrap();
        let cookie = self.server.log_in(email, password).await;
        Session {
            server: &self.server,
            cookie,
        }
    }

    async fn actions(&self, id: i64) -> Vec<String> {
        self.get(&format!("/api/v1/incidents/INC-{id}/timeline"))
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Reads a server-sent-event stream until `needle` arrives (20 s at most);
/// returns all it read.
async fn read_until(stream: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("`{needle}` never arrived: {seen}"))
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// A logged-in browser: pages and their forms.
struct Session<'a> {
    server: &'a TestServer,
    cookie: String,
}

impl Session<'_> {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.server
            .client
            .get(self.server.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        response.text().await.unwrap()
    }

    /// Posts a form with the CSRF token of the page at `from`.
    async fn post(&self, from: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let page = self.page(from).await;
        let csrf = page
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a CSRF token on the page")
            .to_string();
        let mut form: Vec<(&str, &str)> = form.to_vec();
        form.push(("csrf_token", &csrf));
        self.server
            .client
            .post(self.server.url(path))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }
}

both_backends!(
    declaring_sets_up_roles_checklists_scripts_and_tells_stakeholders,
    |db: TestDb| async move {
        let r = room(&db).await;
        let view = r
            .declare(json!({
                "title": "Card payments fail", "severity": "SEV1", "services": ["payments"],
                "customer_impact": "Card payments fail at checkout", "workaround": "bank transfer"
            }))
            .await;
        assert_eq!(view["reference"], "INC-1");
        assert_eq!(view["status"], "investigating");
        let roles: Vec<(String, String)> = view["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["role"].as_str().unwrap().into(),
                    r["person"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            roles[0],
            ("incident_owner".into(), "oncall".into()),
            "from the schedule"
        );
        assert_eq!(roles[1], ("comms_lead".into(), "comms".into()));
        assert!(
            roles[2].1.ends_with("@test.example"),
            "no schedule: the declarer"
        );
        let checklist: Vec<&str> = view["checklist"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["text"].as_str().unwrap())
            .collect();
        assert!(
            checklist.contains(&"Call the payment partner"),
            "SEV1's extra step: {checklist:?}"
        );
        assert!(checklist.contains(&"Brief support"));
        assert!(
            checklist.contains(&"Tell callers: bank transfer"),
            "checklist items are rendered with the incident's variables: {checklist:?}"
        );
        assert_eq!(
            view["possibly_affected"],
            json!([{"service": "checkout", "via": "payments"}, {"service": "storefront", "via": "payments"}])
        );
        assert_eq!(
            view["talk_scripts"][0]["text"],
            "Card payments fail: pay by bank transfer until 17:30 +08",
            "next update 30 minutes after 09:00 UTC, in the org's zone"
        );
        assert_eq!(view["next_update_due_at"], "2026-11-02T09:30:00Z");

        run_due(&r.t).await;
        assert_eq!(r.received.to("ceo").len(), 1, "SEV1 reaches the executives");
        assert_eq!(r.received.to("lead").len(), 1, "and the owning team's lead");
        assert!(
            r.received.to("head").is_empty(),
            "not the head at this severity"
        );
        let chat = r.received.to("chat");
        assert_eq!(chat.len(), 1);
        assert!(
            chat[0].1["text"]
                .as_str()
                .unwrap()
                .contains("https://siaga.kedai.example/incidents/1"),
            "{:?}",
            chat[0].1
        );
        let ceo = &r.received.to("ceo")[0].1;
        assert_eq!(ceo["type"], "incident.declared");
        assert_eq!(ceo["incident_id"], 1);

        let listed = r.get("/api/v1/incidents?status=active").await;
        assert_eq!(listed["items"][0]["title"], "Card payments fail");
        let actions = r.actions(1).await;
        assert!(
            actions.starts_with(&["incident.declared".into(), "incident.notified".into()]),
            "{actions:?}"
        );
        assert!(
            actions.contains(&"notification.delivered".into()),
            "{actions:?}"
        );
        // The health of the impacted services: their alerts join the
        // timeline, linked or not.
        r.trigger("pay-unlinked").await;
        let actions = r.actions(1).await;
        assert!(actions.contains(&"alert.triggered".into()), "{actions:?}");
        r.server.stop().await;
    }
);

both_backends!(
    bad_input_gets_clear_errors_and_changes_nothing,
    |db: TestDb| async move {
        let r = room(&db).await;
        let bad = error(
            r.post(
                "/api/v1/incidents",
                json!({"title": "x", "severity": "SEV9"}),
            )
            .await,
            422,
            "unknown_severity",
        )
        .await;
        assert_eq!(bad["field"], "severity");
        let bad = error(
            r.post(
                "/api/v1/incidents",
                json!({"title": "x", "severity": "SEV1", "services": ["paymnts"]}),
            )
            .await,
            422,
            "unknown_service",
        )
        .await;
        assert!(
            bad["message"]
                .as_str()
                .unwrap()
                .contains("did you mean `payments`?"),
            "{bad}"
        );
        error(
            r.post(
                "/api/v1/incidents",
                json!({"title": "  ", "severity": "SEV1"}),
            )
            .await,
            422,
            "invalid_field",
        )
        .await;
        error(
            r.post("/api/v1/incidents", json!({"severity": "SEV1"}))
                .await,
            422,
            "invalid_field",
        )
        .await;
        let misspelt = error(
            r.post(
                "/api/v1/incidents",
                json!({"title": "x", "severity": "SEV1", "service": ["payments"]}),
            )
            .await,
            422,
            "invalid_field",
        )
        .await;
        assert!(
            misspelt["message"]
                .as_str()
                .unwrap()
                .contains("unknown field `service`"),
            "{misspelt}"
        );
        let listed = r.get("/api/v1/incidents").await;
        assert_eq!(listed["items"], json!([]), "nothing was written");
        error(
            r.server
                .get("/api/v1/incidents/INC-99", &r.responder)
                .send()
                .await
                .unwrap(),
            404,
            "not_found",
        )
        .await;

        r.declare(json!({"title": "Slow search", "severity": "SEV3"}))
            .await;
        let bad = error(
            r.post(
                "/api/v1/incidents/INC-1/roles",
                json!({"role": "chef", "person": "lead"}),
            )
            .await,
            422,
            "unknown_role",
        )
        .await;
        assert_eq!(bad["field"], "role");
        error(
            r.post(
                "/api/v1/incidents/1/roles",
                json!({"role": "comms_lead", "person": "nobody"}),
            )
            .await,
            422,
            "unknown_person",
        )
        .await;
        let viewer = r.t.token(Role::Viewer).await;
        error(
            r.server
                .post("/api/v1/incidents/1/updates", &viewer)
                .json(&json!({"kind": "internal", "body": "x"}))
                .send()
                .await
                .unwrap(),
            403,
            "forbidden",
        )
        .await;
        // Nothing named impacted, no alert linked: nothing could show
        // recovery, so resolve needs the evidence or an override.
        let refused = error(
            r.post("/api/v1/incidents/1/resolve", json!({})).await,
            409,
            "not_recovered",
        )
        .await;
        assert!(
            refused["details"]["unmet"][0]
                .as_str()
                .unwrap()
                .starts_with("no impacted services or linked alerts"),
            "{refused}"
        );
        let admin = r.t.token(Role::Admin).await;
        json(
            r.server
                .post("/api/v1/incidents/1/resolve", &admin)
                .json(&json!({"override": "a report that turned out to be a test"}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        // Resolved: edits are refused.
        error(
            r.post(
                "/api/v1/incidents/1/updates",
                json!({"kind": "internal", "body": "late"}),
            )
            .await,
            409,
            "conflict",
        )
        .await;
        error(
            r.post(
                "/api/v1/incidents/1/status",
                json!({"status": "identified"}),
            )
            .await,
            409,
            "conflict",
        )
        .await;
        r.server.stop().await;
    }
);

both_backends!(
    resolve_needs_quiet_services_or_the_owners_written_reason,
    |db: TestDb| async move {
        let r = room(&db).await;
        let alert = r.trigger("pay-1").await;
        r.declare(json!({"title": "Payments 5xx", "severity": "SEV2", "alerts": [alert]}))
            .await;
        let view = r.get("/api/v1/incidents/INC-1").await;
        assert_eq!(
            view["services"],
            json!(["payments"]),
            "the alert's service is impacted"
        );
        assert_eq!(view["open_alerts"]["payments"], 1);

        let refused = error(
            r.post("/api/v1/incidents/1/resolve", json!({})).await,
            409,
            "not_recovered",
        )
        .await;
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("payments has 1 open alert"),
            "{refused}"
        );
        assert_eq!(
            refused["details"]["unmet"],
            json!(["payments has 1 open alert"])
        );
        // Someone who is not the incident owner cannot override.
        error(
            r.post(
                "/api/v1/incidents/1/resolve",
                json!({"override": "looks fine"}),
            )
            .await,
            403,
            "forbidden",
        )
        .await;

        r.resolve_alert_key("pay-1").await;
        r.t.clock.advance(SignedDuration::from_mins(2));
        let refused = error(
            r.post("/api/v1/incidents/1/resolve", json!({})).await,
            409,
            "not_recovered",
        )
        .await;
        assert!(
            refused["message"].as_str().unwrap().contains("must settle"),
            "{refused}"
        );
        r.t.clock.advance(SignedDuration::from_mins(4));
        let resolved = json(r.post("/api/v1/incidents/1/resolve", json!({})).await, 200).await;
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(
            resolved["milestones"]["resolved_at"],
            "2026-11-02T09:06:00Z"
        );

        // A regression within the window reopens it.
        r.t.clock.advance(SignedDuration::from_mins(10));
        r.trigger("pay-2").await;
        run_due(&r.t).await;
        let view = r.get("/api/v1/incidents/1").await;
        assert_eq!(view["status"], "investigating", "regression reopens");
        assert_eq!(view["alerts"].as_array().unwrap().len(), 2);
        assert!(r.actions(1).await.contains(&"incident.reopened".into()));

        // The owner may override with a reason, which is recorded.
        r.post(
            "/api/v1/incidents/1/roles",
            json!({"role": "incident_owner", "person": "lead"}),
        )
        .await;
        let admin = r.t.token(Role::Admin).await;
        let resolved = json(
            r.server
                .post("/api/v1/incidents/1/resolve", &admin)
                .json(&json!({"override": "the probe is broken, customers are fine"}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(
            resolved["resolve_override"],
            "the probe is broken, customers are fine"
        );
        r.server.stop().await;
    }
);

both_backends!(
    raising_the_severity_runs_the_extra_steps_and_lowering_records_it,
    |db: TestDb| async move {
        let r = room(&db).await;
        r.declare(json!({"title": "Refunds slow", "severity": "SEV3", "services": ["payments"]}))
            .await;
        run_due(&r.t).await;
        assert!(r.received.to("ceo").is_empty() && r.received.to("lead").is_empty());
        let raised = json(
            r.post("/api/v1/incidents/1/severity", json!({"severity": "SEV1"}))
                .await,
            200,
        )
        .await;
        assert_eq!(raised["severity"], "SEV1");
        assert!(
            raised["checklist"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["text"] == "Call the payment partner")
        );
        run_due(&r.t).await;
        assert_eq!(
            r.received.to("ceo").len(),
            1,
            "raised to SEV1: executives hear"
        );
        let told = &r.received.to("ceo")[0].1;
        assert_eq!(told["type"], "incident.severity_raised");
        assert!(
            told["title"]
                .as_str()
                .unwrap()
                .contains("INC-1 raised to SEV1: Refunds slow"),
            "a raise, not a declaration: {told}"
        );
        assert_eq!(
            r.received.to("lead").len(),
            1,
            "SEV2's and SEV1's lead notice, once"
        );
        json(
            r.post("/api/v1/incidents/1/severity", json!({"severity": "SEV2"}))
                .await,
            200,
        )
        .await;
        json(
            r.post("/api/v1/incidents/1/severity", json!({"severity": "SEV1"}))
                .await,
            200,
        )
        .await;
        run_due(&r.t).await;
        assert_eq!(r.received.to("ceo").len(), 1, "never told twice");
        let actions = r.actions(1).await;
        assert_eq!(
            actions
                .iter()
                .filter(|a| *a == "incident.severity_changed")
                .count(),
            3
        );
        error(
            r.post("/api/v1/incidents/1/severity", json!({"severity": "SEV7"}))
                .await,
            422,
            "unknown_severity",
        )
        .await;
        r.server.stop().await;
    }
);

both_backends!(
    the_update_cadence_reminds_the_comms_lead_when_due_and_overdue,
    |db: TestDb| async move {
        let r = room(&db).await;
        r.declare(json!({"title": "Card payments fail", "severity": "SEV1"}))
            .await;
        run_due(&r.t).await;
        assert!(r.received.to("comms").is_empty());
        r.t.clock.advance(SignedDuration::from_mins(30));
        run_due(&r.t).await;
        let comms = r.received.to("comms");
        assert_eq!(comms.len(), 1, "due after 30 minutes");
        assert!(
            comms[0].1["title"]
                .as_str()
                .unwrap()
                .starts_with("Update due: INC-1")
        );
        r.t.clock.advance(SignedDuration::from_mins(15));
        run_due(&r.t).await;
        let comms = r.received.to("comms");
        assert_eq!(comms.len(), 2);
        assert!(
            comms[1].1["title"]
                .as_str()
                .unwrap()
                .starts_with("Update overdue")
        );

        // A public update restarts the cadence; no reminder until it is due again.
        let updated = json(
            r.post(
                "/api/v1/incidents/1/updates",
                json!({"kind": "public", "body": "Card payments fail; use bank transfer."}),
            )
            .await,
            201,
        )
        .await;
        assert_eq!(updated["next_update_due_at"], "2026-11-02T10:15:00Z");
        r.t.clock.advance(SignedDuration::from_mins(29));
        run_due(&r.t).await;
        assert_eq!(r.received.to("comms").len(), 2, "not due yet");
        r.t.clock.advance(SignedDuration::from_mins(1));
        run_due(&r.t).await;
        assert_eq!(
            r.received.to("comms").len(),
            3,
            "due again 30 minutes after the update"
        );
        r.server.stop().await;
    }
);

both_backends!(
    an_update_posted_while_its_reminder_is_claimed_keeps_the_next_reminder,
    |db: TestDb| async move {
        let r = room(&db).await;
        r.declare(json!({"title": "Card payments fail", "severity": "SEV1"}))
            .await;
        run_due(&r.t).await;
        // The update falls due and this process claims its reminder; the
        // comms lead posts an update before the reminder runs.
        r.t.clock.advance(SignedDuration::from_mins(30));
        let mut tx = r.t.app.store.write().await.unwrap();
        let claimed = tx
            .claim_jobs(
                r.t.clock.now(),
                &r.t.app.instance,
                SignedDuration::from_secs(60),
                16,
                &[],
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let reminder = claimed
            .into_iter()
            .find(|j| j.kind == "incident.update_due")
            .unwrap();
        json(
            r.post(
                "/api/v1/incidents/1/updates",
                json!({"kind": "public", "body": "Card payments fail; use bank transfer."}),
            )
            .await,
            201,
        )
        .await;
        r.t.app.incident_update_due(&reminder).await.unwrap();
        run_due(&r.t).await;
        assert!(
            r.received.to("comms").is_empty(),
            "the update was just posted: no reminder"
        );
        r.t.clock.advance(SignedDuration::from_mins(30));
        run_due(&r.t).await;
        assert_eq!(
            r.received.to("comms").len(),
            1,
            "due again 30 minutes after the update"
        );
        r.server.stop().await;
    }
);

both_backends!(
    concurrent_ticks_and_handovers_are_well_defined,
    |db: TestDb| async move {
        let r = room(&db).await;
        r.declare(json!({"title": "Card payments fail", "severity": "SEV2"}))
            .await;
        let other = r.t.token(Role::Responder).await;
        let tick = |token: String| {
            let request = r.server.post("/api/v1/incidents/1/checklist/1", &token);
            async move { request.send().await.unwrap() }
        };
        let (a, b) = tokio::join!(tick(r.responder.clone()), tick(other.clone()));
        let (a, b) = (json(a, 200).await, json(b, 200).await);
        let first = &a["checklist"][0]["done_by"];
        assert_eq!(
            first, &b["checklist"][0]["done_by"],
            "both see the one who ticked first"
        );
        let ticks = r
            .actions(1)
            .await
            .iter()
            .filter(|a| *a == "incident.checklist_ticked")
            .count();
        assert_eq!(ticks, 1, "one tick recorded");

        let hand_over = |token: String, person: &'static str| {
            let request = r
                .server
                .post("/api/v1/incidents/1/roles", &token)
                .json(&json!({"role": "incident_owner", "person": person, "expected": "oncall"}));
            async move { request.send().await.unwrap().status().as_u16() }
        };
        let (a, b) = tokio::join!(
            hand_over(r.responder.clone(), "lead"),
            hand_over(other, "head")
        );
        let mut statuses = [a, b];
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 409],
            "the second handover is told, not lost"
        );
        let handovers = r
            .actions(1)
            .await
            .iter()
            .filter(|a| *a == "incident.role_assigned")
            .count();
        assert_eq!(handovers, 1);
        r.server.stop().await;
    }
);

both_backends!(
    alerts_link_by_dedup_key_rules_declare_and_duplicates_merge,
    |db: TestDb| async move {
        let r = room(&db).await;
        // The rule: a critical alert on tier-1 payments declares a SEV2.
        let alert = r.trigger("gw-timeouts").await;
        run_due(&r.t).await;
        let auto = r.get("/api/v1/incidents/INC-1").await;
        assert_eq!(auto["severity"], "SEV2");
        assert_eq!(auto["alerts"], json!([alert]));
        assert_eq!(auto["declared_by"], "siaga");

        r.declare(
            json!({"title": "Checkout broken", "severity": "SEV1", "services": ["checkout"]}),
        )
        .await;
        let linked = json(
            r.post(
                "/api/v1/incidents/INC-2/alerts",
                json!({"dedup_key": "gw-timeouts"}),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(linked["alerts"], json!([alert]));
        assert_eq!(linked["services"], json!(["checkout", "payments"]));
        error(
            r.post("/api/v1/incidents/2/alerts", json!({"dedup_key": "nope"}))
                .await,
            404,
            "not_found",
        )
        .await;
        let unlinked = json(
            r.server
                .client
                .delete(r.server.url(&format!("/api/v1/incidents/2/alerts/{alert}")))
                .bearer_auth(&r.responder)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(unlinked["alerts"], json!([]));

        // INC-1 duplicates INC-2.
        let merged = json(
            r.post("/api/v1/incidents/INC-1/merge", json!({"into": "INC-2"}))
                .await,
            200,
        )
        .await;
        assert_eq!(merged["alerts"], json!([alert]));
        let duplicate = r.get("/api/v1/incidents/1").await;
        assert_eq!(duplicate["merged_into"], 2);
        error(
            r.post(
                "/api/v1/incidents/1/updates",
                json!({"kind": "internal", "body": "x"}),
            )
            .await,
            409,
            "conflict",
        )
        .await;
        error(
            r.post("/api/v1/incidents/2/merge", json!({"into": "2"}))
                .await,
            422,
            "invalid_field",
        )
        .await;
        assert!(
            r.actions(2)
                .await
                .contains(&"incident.duplicate_merged".into())
        );
        r.server.stop().await;
    }
);

both_backends!(
    the_timeline_streams_live_over_server_sent_events,
    |db: TestDb| async move {
        let r = room(&db).await;
        r.declare(json!({"title": "Card payments fail", "severity": "SEV2"}))
            .await;
        let mut stream = r
            .server
            .get("/api/v1/incidents/INC-1/stream", &r.responder)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        assert!(
            stream.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        r.post(
            "/api/v1/incidents/1/updates",
            json!({"kind": "internal", "body": "Gateway timeouts; calling the partner."}),
        )
        .await;
        let seen = read_until(&mut stream, "calling the partner").await;
        assert!(
            seen.contains("incident.declared"),
            "earlier events come first: {seen}"
        );
        assert_eq!(
            seen.matches("\"action\":\"incident.update_posted\"")
                .count(),
            1,
            "each event once: {seen}"
        );
        assert!(
            seen.contains("\"text\":\"note by "),
            "with the line the room shows: {seen}"
        );
        error(
            r.server
                .get("/api/v1/incidents/INC-7/stream", &r.responder)
                .send()
                .await
                .unwrap(),
            404,
            "not_found",
        )
        .await;
        r.server.stop().await;
    }
);

both_backends!(
    the_pages_declare_show_the_room_and_refuse_resolve_without_evidence,
    |db: TestDb| async move {
        let r = room(&db).await;
        let password = "a long enough password";
        r.t.app
            .create_user(
                &Actor::system("test"),
                "lead@k.example",
                "Lead",
                Role::Responder,
                Some(password),
            )
            .await
            .unwrap();
        let alert = r.trigger("pay-page").await;
        let cookie = r.server.log_in("lead@k.example", password).await;
        let get = |path: String| {
            let request = r
                .server
                .client
                .get(r.server.url(&path))
                .header("cookie", &cookie);
            async move { request.send().await.unwrap() }
        };
        let page = get(format!("/incidents/new?alert={alert}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("<input type=\"hidden\" name=\"alert\""),
            "{page}"
        );
        let csrf = page
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let post = |path: &str, form: Vec<(&str, String)>| {
            let mut form = form;
            form.push(("csrf_token", csrf.clone()));
            let request = r
                .server
                .client
                .post(r.server.url(path))
                .header("cookie", &cookie)
                .form(&form);
            async move { request.send().await.unwrap() }
        };
        for (field, bad) in [("alert", "first"), ("title", "Card\u{0}payments")] {
            let mut form = vec![
                ("title", "Card payments fail".to_string()),
                ("severity", "SEV1".into()),
                ("alert", alert.to_string()),
            ];
            form.retain(|(name, _)| *name != field);
            form.push((field, bad.into()));
            let refused = post("/incidents", form).await;
            assert_eq!(refused.status(), 422, "{field}");
            assert!(
                refused.text().await.unwrap().contains(field),
                "the page names {field}"
            );
        }
        let declared = post(
            "/incidents",
            vec![
                ("title", "Card payments fail".into()),
                ("severity", "SEV1".into()),
                ("services", "payments".into()),
                ("services", "checkout".into()),
                ("alert", alert.to_string()),
                ("workaround", "bank transfer".into()),
            ],
        )
        .await;
        assert_eq!(declared.status(), 303);
        assert_eq!(declared.headers()["location"], "/incidents/1");
        let room_html = get("/incidents/INC-1".into()).await.text().await.unwrap();
        for expected in [
            "INC-1 Card payments fail",
            "Incident owner</th><td>oncall</td>",
            "Support lead</th><td>lead</td>",
            "Confirm the severity",
            "Call the payment partner",
            "pay by bank transfer",
            "storefront <span class=\"muted\">via",
            "payments has 1 open alert",
            "declared SEV1 INC-1: Card payments fail",
        ] {
            assert!(
                room_html.contains(expected),
                "missing {expected}: {room_html}"
            );
        }
        let list = get("/incidents".into()).await.text().await.unwrap();
        assert!(list.contains("INC-1 Card payments fail"), "{list}");

        assert_eq!(
            post(
                "/incidents/1/updates",
                vec![("body", "We are on it".into()), ("kind", "public".into())]
            )
            .await
            .status(),
            303
        );
        assert_eq!(post("/incidents/1/checklist/1", vec![]).await.status(), 303);
        let refused = post("/incidents/1/resolve", vec![("override", String::new())]).await;
        assert_eq!(refused.status(), 409);
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("payments has 1 open alert")
        );
        let forged = r
            .server
            .client
            .post(r.server.url("/incidents/1/status"))
            .header("cookie", &cookie)
            .form(&[("status", "identified"), ("csrf_token", "forged")])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        let room_html = get("/incidents/1".into()).await.text().await.unwrap();
        assert!(
            room_html.contains("customer update by lead: We are on it"),
            "{room_html}"
        );
        assert!(room_html.contains("✓ Confirm the severity"), "{room_html}");
        assert_eq!(get("/incidents/INC-99".into()).await.status(), 404);
        r.server.stop().await;
    }
);

both_backends!(
    a_merged_duplicate_is_closed_not_active,
    |db: TestDb| async move {
        let r = room(&db).await;
        r.declare(
            json!({"title": "Checkout broken", "severity": "SEV1", "services": ["checkout"]}),
        )
        .await;
        r.declare(json!({"title": "Checkout down again", "severity": "SEV2"}))
            .await;
        json(
            r.post("/api/v1/incidents/INC-2/merge", json!({"into": "INC-1"}))
                .await,
            200,
        )
        .await;
        let duplicate = r.get("/api/v1/incidents/2").await;
        assert_eq!(duplicate["status"], "merged", "a terminal state");
        let ids = |page: Value| -> Vec<i64> {
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap())
                .collect()
        };
        assert_eq!(ids(r.get("/api/v1/incidents?status=active").await), [1]);
        assert_eq!(ids(r.get("/api/v1/incidents?status=merged").await), [2]);
        assert_eq!(ids(r.get("/api/v1/incidents?status=closed").await), [2]);
        assert_eq!(
            ids(r.get("/api/v1/incidents?status=investigating").await),
            [1]
        );
        // Merged is not a status to set by hand, nor a state to reopen from.
        error(
            r.post("/api/v1/incidents/1/status", json!({"status": "merged"}))
                .await,
            422,
            "invalid_field",
        )
        .await;
        error(
            r.post("/api/v1/incidents/2/reopen", json!({})).await,
            409,
            "conflict",
        )
        .await;

        let browser = r.session("watcher@k.example", Role::Viewer).await;
        let page = browser.page("/incidents").await;
        let (active, closed) = page
            .split_once("<h2>Closed</h2>")
            .expect("a Closed section");
        assert!(active.contains("INC-1 Checkout broken"), "{page}");
        assert!(
            !active.contains("INC-2"),
            "the duplicate is not active: {page}"
        );
        assert!(closed.contains("INC-2 Checkout down again"), "{page}");
        assert!(closed.contains("merged into INC-1"), "{page}");
        r.server.stop().await;
    }
);

both_backends!(
    the_owner_may_override_with_a_reason_that_is_recorded,
    |db: TestDb| async move {
        let r = room(&db).await;
        let alert = r.trigger("pay-stuck").await;
        r.declare(json!({"title": "Payments 5xx", "severity": "SEV2", "alerts": [alert]}))
            .await;
        // `oncall` holds the incident owner role (from the schedule); their
        // login is a responder, not an admin.
        let owner = r.t.token_as("oncall@k.example", Role::Responder).await;
        let view = r.get("/api/v1/incidents/1").await;
        assert_eq!(view["roles"][0]["person"], "oncall");
        let resolve = |token: &str, body: Value| {
            let request = r
                .server
                .post("/api/v1/incidents/1/resolve", token)
                .json(&body);
            async move { request.send().await.unwrap() }
        };

        // Another responder may not override, and a blank reason is none.
        let refused = error(
            resolve(&r.responder, json!({"override": "looks fine to me"})).await,
            403,
            "forbidden",
        )
        .await;
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("incident owner"),
            "{refused}"
        );
        error(
            resolve(&owner, json!({"override": "   "})).await,
            409,
            "not_recovered",
        )
        .await;
        assert_eq!(
            r.get("/api/v1/incidents/1").await["status"],
            "investigating"
        );

        let resolved = json(
            resolve(
                &owner,
                json!({"override": "the probe is broken; orders flow"}),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(
            resolved["resolve_override"],
            "the probe is broken; orders flow"
        );

        let timeline = r.get("/api/v1/incidents/1/timeline").await;
        let resolved_event = timeline
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "incident.resolved")
            .expect("the resolve is in the timeline");
        assert_eq!(resolved_event["actor"]["name"], "test (oncall@k.example)");
        assert_eq!(
            resolved_event["after"]["override"],
            "the probe is broken; orders flow"
        );
        assert_eq!(
            resolved_event["after"]["unmet"],
            json!(["payments has 1 open alert"]),
            "the evidence that was missing is recorded"
        );
        let refusals = timeline
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "incident.resolved")
            .count();
        assert_eq!(refusals, 1, "refused resolves change nothing");
        r.server.stop().await;
    }
);

both_backends!(
    a_regression_prompts_the_owner_and_keeps_the_incident_resolved,
    |db: TestDb| async move {
        let r = room_with(&db, |c| c.replace("action: reopen", "action: prompt")).await;
        r.declare(json!({"title": "Payments 5xx", "severity": "SEV2", "services": ["payments"]}))
            .await;
        run_due(&r.t).await;
        json(r.post("/api/v1/incidents/1/resolve", json!({})).await, 200).await;

        r.t.clock.advance(SignedDuration::from_mins(10));
        let alert = r.trigger("pay-again").await;
        run_due(&r.t).await;
        let view = r.get("/api/v1/incidents/1").await;
        assert_eq!(view["status"], "resolved", "prompt does not reopen");
        assert_eq!(view["alerts"], json!([alert]), "the alert is linked");
        assert_eq!(view["possible_regressions"], json!([alert]));
        assert_eq!(view["linked_alerts"][0]["possible_regression"], true);
        assert_eq!(view["linked_alerts"][0]["dedup_key"], "pay-again");
        let listed = r.get("/api/v1/incidents?status=active").await;
        assert_eq!(
            listed["items"],
            json!([]),
            "nothing was declared or reopened"
        );

        // The owner hears through the outbox, with the room link.
        let told: Vec<Value> = r
            .received
            .to("oncall")
            .into_iter()
            .map(|(_, body)| body)
            .filter(|body| body["type"] == "incident.regression_suspected")
            .collect();
        assert_eq!(told.len(), 1, "the incident owner is told once");
        assert!(
            told[0]["title"]
                .as_str()
                .unwrap()
                .starts_with("Possible regression: INC-1"),
            "{}",
            told[0]
        );
        assert!(
            told[0]["text"]
                .as_str()
                .unwrap()
                .contains("https://siaga.kedai.example/incidents/1"),
            "{}",
            told[0]
        );
        let timeline = r.get("/api/v1/incidents/1/timeline").await;
        let suspected = timeline
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "incident.regression_suspected")
            .expect("in the timeline");
        assert_eq!(suspected["after"]["to"], "oncall");
        assert_eq!(
            suspected["after"]["deliveries"].as_array().unwrap().len(),
            1
        );

        // The room says so, next to the reopen button.
        let browser = r.session("watcher@k.example", Role::Viewer).await;
        let page = browser.page("/incidents/1").await;
        assert!(
            page.contains(&format!(
                "Possible regression: alert {alert} (Payments 5xx)"
            )),
            "{page}"
        );
        assert!(
            page.contains("possible regression: alert"),
            "and the timeline: {page}"
        );

        // Reopening takes it up again and clears the question.
        let reopened = json(r.post("/api/v1/incidents/1/reopen", json!({})).await, 200).await;
        assert_eq!(reopened["status"], "investigating");
        assert_eq!(reopened["possible_regressions"], json!([]));
        r.server.stop().await;
    }
);

both_backends!(
    a_reconnecting_stream_resumes_after_last_event_id,
    |db: TestDb| async move {
        let r = room(&db).await;
        r.declare(json!({"title": "Card payments fail", "severity": "SEV2"}))
            .await;
        r.post(
            "/api/v1/incidents/1/updates",
            json!({"kind": "internal", "body": "seen before the drop"}),
        )
        .await;
        let timeline = r.get("/api/v1/incidents/1/timeline").await;
        let last = timeline.as_array().unwrap().last().unwrap()["id"]
            .as_i64()
            .unwrap();
        // What EventSource sends when it reconnects: the page's old
        // `after` in the URL, and the last id it saw in the header.
        let mut stream = r
            .server
            .get("/api/v1/incidents/INC-1/stream?after=0", &r.responder)
            .header("last-event-id", last.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        r.post(
            "/api/v1/incidents/1/updates",
            json!({"kind": "internal", "body": "after the reconnect"}),
        )
        .await;
        let seen = read_until(&mut stream, "after the reconnect").await;
        assert!(
            !seen.contains("seen before the drop"),
            "not sent again: {seen}"
        );
        assert!(
            !seen.contains("incident.declared"),
            "not sent again: {seen}"
        );

        // A header that is not an id this stream gave out is ignored.
        let mut stream = r
            .server
            .get("/api/v1/incidents/INC-1/stream", &r.responder)
            .header("last-event-id", "bogus")
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        // From the start.
        read_until(&mut stream, "incident.declared").await;
        r.server.stop().await;
    }
);

both_backends!(
    the_status_flow_stamps_the_milestones_and_the_timeline_tells_it,
    |db: TestDb| async move {
        // The chat channel's receiver always fails, so its delivery dies.
        let r = room_with(&db, |c| c.replace("/hook/chat", "/hook/broken-chat")).await;
        let alert = r.trigger("pay-flow").await; // 09:00
        r.t.clock.advance(SignedDuration::from_mins(3));
        r.declare(json!({"title": "Card payments fail", "severity": "SEV1", "alerts": [alert]}))
            .await;
        let milestones = |view: &Value| view["milestones"].clone();
        let view = r.get("/api/v1/incidents/1").await;
        assert_eq!(
            milestones(&view)["detected_at"],
            "2026-11-02T09:00:00Z",
            "detected when the linked alert was first seen"
        );
        assert_eq!(milestones(&view)["declared_at"], "2026-11-02T09:03:00Z");
        assert_eq!(milestones(&view)["acknowledged_at"], Value::Null);

        r.t.clock.advance(SignedDuration::from_mins(2));
        json(
            r.post(&format!("/api/v1/alerts/{alert}/acknowledge"), json!({}))
                .await,
            200,
        )
        .await;
        let view = r.get("/api/v1/incidents/1").await;
        assert_eq!(
            milestones(&view)["acknowledged_at"],
            "2026-11-02T09:05:00Z",
            "acknowledged when a linked alert was"
        );

        r.t.clock.advance(SignedDuration::from_mins(5));
        let identified = json(
            r.post(
                "/api/v1/incidents/1/status",
                json!({"status": "identified"}),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(identified["status"], "identified");
        assert_eq!(
            milestones(&identified)["identified_at"],
            "2026-11-02T09:10:00Z"
        );
        assert_eq!(milestones(&identified)["mitigated_at"], Value::Null);
        r.t.clock.advance(SignedDuration::from_mins(10));
        let monitoring = json(
            r.post(
                "/api/v1/incidents/1/status",
                json!({"status": "monitoring"}),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(
            milestones(&monitoring)["mitigated_at"],
            "2026-11-02T09:20:00Z",
            "mitigated on entering monitoring"
        );
        assert_eq!(
            milestones(&monitoring)["identified_at"],
            "2026-11-02T09:10:00Z",
            "kept"
        );
        error(
            r.post("/api/v1/incidents/1/status", json!({"status": "resolved"}))
                .await,
            422,
            "invalid_field",
        )
        .await;

        r.t.clock.advance(SignedDuration::from_mins(1));
        r.resolve_alert_key("pay-flow").await; // 09:21
        r.t.clock.advance(SignedDuration::from_mins(10));
        let resolved = json(r.post("/api/v1/incidents/1/resolve", json!({})).await, 200).await;
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(milestones(&resolved)["resolved_at"], "2026-11-02T09:31:00Z");
        assert_eq!(
            milestones(&resolved)["mitigated_at"],
            "2026-11-02T09:20:00Z"
        );

        // The chat delivery is retried with backoff until it dies.
        for _ in 0..12 {
            run_due(&r.t).await;
            r.t.clock.advance(SignedDuration::from_mins(2));
        }
        assert!(r.received.to("broken-chat").len() > 1, "retried");
        assert_eq!(r.received.to("ceo").len(), 1, "the others arrived once");

        let actions = r.actions(1).await;
        let order = [
            "incident.declared",
            "alert.acknowledged",
            "incident.status_changed",
            "incident.status_changed",
            "alert.resolved",
            "incident.resolved",
            "notification.failed",
        ];
        let mut rest = actions.iter();
        for expected in order {
            assert!(
                rest.any(|a| a == expected),
                "{expected} missing or out of order: {actions:?}"
            );
        }
        let timeline = r.get("/api/v1/incidents/1/timeline").await;
        let failed = timeline
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "notification.failed")
            .unwrap();
        assert_eq!(failed["after"]["person"], "chat");
        assert_eq!(failed["after"]["channel"], "slack");
        assert!(
            failed["after"]["error"].as_str().unwrap().contains("500"),
            "{failed}"
        );

        let browser = r.session("watcher@k.example", Role::Viewer).await;
        let page = browser.page("/incidents/1").await;
        for line in [
            "status investigating → identified (by",
            "status identified → monitoring (by",
            &format!("alert {alert} acknowledged by"),
            &format!("alert {alert} resolved"),
            "resolved by",
            "delivery to chat by slack failed:",
        ] {
            assert!(page.contains(line), "the room shows `{line}`: {page}");
        }
        r.server.stop().await;
    }
);

both_backends!(
    editing_changes_the_words_and_can_clear_them,
    |db: TestDb| async move {
        let r = room(&db).await;
        r.declare(json!({
            "title": "Card payments fail", "severity": "SEV2", "services": ["payments"],
            "customer_impact": "Cards fail", "workaround": "bank transfer"
        }))
        .await;
        let patch = |body: Value| {
            let request = r
                .server
                .client
                .patch(r.server.url("/api/v1/incidents/INC-1"))
                .bearer_auth(&r.responder)
                .json(&body);
            async move { request.send().await.unwrap() }
        };
        let edited = json(
            patch(json!({
                "title": "Card and wallet payments fail",
                "services": ["payments", "checkout", "payments"],
                "customer_impact": "Cards and wallets fail",
            }))
            .await,
            200,
        )
        .await;
        assert_eq!(edited["title"], "Card and wallet payments fail");
        assert_eq!(edited["services"], json!(["payments", "checkout"]));
        assert_eq!(edited["customer_impact"], "Cards and wallets fail");
        assert_eq!(edited["workaround"], "bank transfer", "absent: unchanged");

        // An empty text clears it; the talk script says so.
        json(patch(json!({"workaround": ""})).await, 200).await;
        let view = r.get("/api/v1/incidents/1").await;
        assert_eq!(view["workaround"], "");
        assert!(
            view["talk_scripts"][0]["text"]
                .as_str()
                .unwrap()
                .contains("no workaround yet"),
            "{view}"
        );

        let version = view["version"].clone();
        let bad = error(
            patch(json!({"services": ["chekout"]})).await,
            422,
            "unknown_service",
        )
        .await;
        assert_eq!(bad["field"], "services");
        assert!(
            bad["message"]
                .as_str()
                .unwrap()
                .contains("did you mean `checkout`?")
        );
        let bad = error(patch(json!({"title": "  "})).await, 422, "invalid_field").await;
        assert_eq!(bad["field"], "title");
        let bad = error(
            patch(json!({"severity": "SEV1"})).await,
            422,
            "invalid_field",
        )
        .await;
        assert!(
            bad["message"].as_str().unwrap().contains("severity"),
            "{bad}"
        );
        assert_eq!(
            r.get("/api/v1/incidents/1").await["version"],
            version,
            "refused edits change nothing"
        );
        let edits = r
            .actions(1)
            .await
            .iter()
            .filter(|a| *a == "incident.edited")
            .count();
        assert_eq!(edits, 2);

        let admin = r.t.token(Role::Admin).await;
        json(
            r.server
                .post("/api/v1/incidents/1/resolve", &admin)
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        error(patch(json!({"title": "Later"})).await, 409, "conflict").await;
        r.server.stop().await;
    }
);

both_backends!(
    the_pages_filter_unlink_merge_clear_and_hand_over_once,
    |db: TestDb| async move {
        let r = room(&db).await;
        let alert = r.trigger("pay-web").await;
        r.declare(
            json!({"title": "Card payments fail", "severity": "SEV1", "alerts": [alert],
            "workaround": "bank transfer", "customer_impact": "Cards fail"}),
        )
        .await;
        r.declare(json!({"title": "Checkout slow", "severity": "SEV3", "services": ["checkout"]}))
            .await;
        r.declare(
            json!({"title": "Checkout slow again", "severity": "SEV3", "services": ["checkout"]}),
        )
        .await;
        json(
            r.post(
                "/api/v1/incidents/2/status",
                json!({"status": "identified"}),
            )
            .await,
            200,
        )
        .await;
        let browser = r.session("lead@k.example", Role::Responder).await;

        // Filters: status and service, with the choices in the form.
        let page = browser.page("/incidents?status=identified").await;
        assert!(page.contains("INC-2 Checkout slow"), "{page}");
        assert!(
            !page.contains("INC-1 Card") && !page.contains("INC-3"),
            "{page}"
        );
        assert!(
            !page.contains("<h2>Closed</h2>"),
            "ruled out by the filter: {page}"
        );
        assert!(
            page.contains("<option value=\"identified\" selected>"),
            "{page}"
        );
        let page = browser.page("/incidents?service=checkout").await;
        assert!(page.contains("INC-2") && page.contains("INC-3"), "{page}");
        assert!(!page.contains("INC-1 Card"), "{page}");
        assert!(
            page.contains("<option value=\"checkout\" selected>"),
            "{page}"
        );
        let page = browser.page("/incidents?status=closed").await;
        assert!(!page.contains("<h2>Active</h2>"), "{page}");
        // "all" (as the API takes it) lists the open ones as active.
        let page = browser.page("/incidents?status=all").await;
        let active = page
            .split("<h2>Active</h2>")
            .nth(1)
            .and_then(|rest| rest.split("<h2>Closed</h2>").next())
            .unwrap_or_else(|| panic!("no Active section: {page}"));
        assert!(active.contains("INC-2 Checkout slow"), "{page}");
        // The room's status form starts at the incident's status, so
        // "Set status" does not set it back to investigating.
        let room = browser.page("/incidents/2").await;
        assert!(
            room.contains("<option value=\"identified\" selected>identified</option>"),
            "{room}"
        );
        assert_eq!(
            browser.get("/incidents?status=sleeping").await.status(),
            422
        );

        // Clearing the workaround from the impact form.
        let cleared = browser
            .post(
                "/incidents/1",
                "/incidents/1/edit",
                &[("customer_impact", "Cards fail"), ("workaround", "")],
            )
            .await;
        assert_eq!(cleared.status(), 303);
        let view = r.get("/api/v1/incidents/1").await;
        assert_eq!(view["workaround"], "", "an empty field clears it");
        assert_eq!(view["customer_impact"], "Cards fail");

        // Unlink from the room's list of linked alerts.
        let room_html = browser.page("/incidents/1").await;
        assert!(
            room_html.contains(&format!("<tr data-alert=\"{alert}\">")),
            "{room_html}"
        );
        assert!(room_html.contains("<code>pay-web</code>"), "{room_html}");
        let unlinked = browser
            .post(
                "/incidents/1",
                "/incidents/1/unlink",
                &[("alert", &alert.to_string())],
            )
            .await;
        assert_eq!(unlinked.status(), 303);
        assert_eq!(r.get("/api/v1/incidents/1").await["alerts"], json!([]));
        assert!(
            r.actions(1)
                .await
                .contains(&"incident.alert_unlinked".into())
        );

        // Two handovers from pages that both saw `oncall` as the owner:
        // one wins, the other is told who holds it now.
        let room_html = browser.page("/incidents/1").await;
        assert!(
            room_html.contains("name=\"expected\" value=\"oncall\""),
            "the form says whom it expects: {room_html}"
        );
        let browser = &browser;
        let hand_over = |person: &'static str| async move {
            let form = [
                ("role", "incident_owner"),
                ("person", person),
                ("expected", "oncall"),
            ];
            browser
                .post("/incidents/1", "/incidents/1/roles", &form)
                .await
        };
        let first = hand_over("lead").await;
        assert_eq!(first.status(), 303);
        let second = hand_over("head").await;
        assert_eq!(second.status(), 409);
        let body = second.text().await.unwrap();
        assert!(
            body.contains("the incident_owner is lead now, not oncall"),
            "{body}"
        );
        assert!(body.contains("href=\"/incidents/1\""), "a way back: {body}");
        assert_eq!(
            r.get("/api/v1/incidents/1").await["roles"][0]["person"],
            "lead"
        );

        // Merge INC-3 into INC-2 from INC-3's room.
        let merged = browser
            .post("/incidents/3", "/incidents/3/merge", &[("into", "INC-2")])
            .await;
        assert_eq!(merged.status(), 303);
        assert_eq!(merged.headers()["location"], "/incidents/2");
        let duplicate = r.get("/api/v1/incidents/3").await;
        assert_eq!(duplicate["status"], "merged");
        let page = browser.page("/incidents/3").await;
        assert!(
            page.contains("merged into <a href=\"/incidents/2\">INC-2</a>"),
            "{page}"
        );
        let refused = browser
            .post("/incidents/2", "/incidents/2/merge", &[("into", "INC-2")])
            .await;
        assert_eq!(refused.status(), 422);
        let missing = browser
            .post(
                "/incidents/2",
                "/incidents/2/merge",
                &[("into", "nonsense")],
            )
            .await;
        assert_eq!(missing.status(), 404);
        r.server.stop().await;
    }
);

both_backends!(
    a_storm_of_alerts_declares_one_incident,
    |db: TestDb| async move {
        let r = room(&db).await;
        // Six alerts the rule matches; their checks run at once.
        let mut alerts = Vec::new();
        for i in 0..6 {
            alerts.push(r.trigger(&format!("storm-{i}")).await);
        }
        run_due(&r.t).await;
        let listed = r.get("/api/v1/incidents").await;
        let incidents = listed["items"].as_array().unwrap();
        assert_eq!(incidents.len(), 1, "{listed}");
        let mut linked: Vec<i64> = incidents[0]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_i64().unwrap())
            .collect();
        linked.sort_unstable();
        assert_eq!(linked, alerts, "the others joined the one declared");
        r.server.stop().await;
    }
);

both_backends!(
    a_rule_declares_for_an_alert_with_a_long_summary,
    |db: TestDb| async move {
        let r = room(&db).await;
        let summary = format!("Payments 5xx: {}", "upstream timeout; ".repeat(30));
        let event = json!({"action": "trigger", "dedup_key": "long-1", "summary": summary, "severity": "critical"});
        let sent = r
            .server
            .client
            .post(r.server.url("/api/v1/integrations/generic"))
            .bearer_auth("probes-key-0123456789")
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200);
        run_due(&r.t).await;
        let incident = r.get("/api/v1/incidents/INC-1").await;
        let title = incident["title"].as_str().unwrap();
        assert!(
            title.starts_with("Payments 5xx: upstream timeout;") && title.ends_with('…'),
            "{incident}"
        );
        assert_eq!(title.chars().count(), 200);
        r.server.stop().await;
    }
);

both_backends!(
    a_chat_channel_two_severities_name_hears_once,
    |db: TestDb| async move {
        let r = room_with(&db, |c| {
            let chat = c
                .lines()
                .find(|l| l.contains("/hook/chat"))
                .unwrap()
                .to_string();
            c.replace(
                "      description: Payments degraded.\n",
                &format!("      description: Payments degraded.\n{chat}\n"),
            )
        })
        .await;
        r.declare(
            json!({"title": "Card payments fail", "severity": "SEV1", "services": ["payments"]}),
        )
        .await;
        run_due(&r.t).await;
        assert_eq!(r.received.to("chat").len(), 1, "SEV1 and SEV2 share it");
        r.server.stop().await;
    }
);

both_backends!(
    a_new_alert_joins_the_open_incident_before_a_resolved_one,
    |db: TestDb| async move {
        let r = room(&db).await;
        r.declare(json!({"title": "Payments slow", "severity": "SEV2", "services": ["payments"]}))
            .await;
        r.declare(json!({"title": "Payments 5xx", "severity": "SEV2", "services": ["payments"]}))
            .await;
        run_due(&r.t).await;
        json(r.post("/api/v1/incidents/2/resolve", json!({})).await, 200).await;
        r.t.clock.advance(SignedDuration::from_mins(10));
        let alert = r.trigger("pay-again").await;
        run_due(&r.t).await;
        let open = r.get("/api/v1/incidents/1").await;
        assert_eq!(open["alerts"], json!([alert]), "{open}");
        let resolved = r.get("/api/v1/incidents/2").await;
        assert_eq!(resolved["status"], "resolved", "not reopened: {resolved}");
        r.server.stop().await;
    }
);

both_backends!(
    a_reminder_that_reaches_nobody_says_so,
    |db: TestDb| async move {
        // No comms schedule: a rule's incident leaves the role to `siaga`.
        let r = room_with(&db, |c| c.replace(", default_from: [comms]", "")).await;
        r.trigger("gw-quiet").await;
        run_due(&r.t).await;
        let incident = r.get("/api/v1/incidents/INC-1").await;
        assert_eq!(incident["severity"], "SEV2", "{incident}");
        r.t.clock.advance(SignedDuration::from_mins(60));
        run_due(&r.t).await;
        let timeline = r.get("/api/v1/incidents/INC-1/timeline").await;
        let reminder = timeline
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "incident.update_reminder")
            .unwrap_or_else(|| panic!("{timeline}"));
        assert_eq!(
            reminder["text"], "update due: siaga could not be reminded",
            "{reminder}"
        );
        assert_eq!(
            reminder["after"]["skipped"][0]["reason"],
            "not a person in the config"
        );
        r.server.stop().await;
    }
);

both_backends!(
    a_timeline_stream_ends_when_its_token_is_revoked,
    |db: TestDb| async move {
        let r = room(&db).await;
        r.declare(json!({"title": "Card payments fail", "severity": "SEV2"}))
            .await;
        let made = json(
            r.post(
                "/api/v1/tokens",
                json!({"name": "wallboard", "role": "viewer"}),
            )
            .await,
            201,
        )
        .await;
        let secret = made["secret"].as_str().unwrap();
        let mut stream = r
            .server
            .get("/api/v1/incidents/INC-1/stream", secret)
            .send()
            .await
            .unwrap();
        read_until(&mut stream, "incident.declared").await;
        let revoked = r
            .server
            .client
            .delete(
                r.server
                    .url(&format!("/api/v1/tokens/{}", made["token"]["id"])),
            )
            .bearer_auth(&r.responder)
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 200);
        // The stream ends (its end of file) within a few of its checks.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let chunk = tokio::time::timeout_at(deadline, stream.chunk())
                .await
                .expect("the stream ended after the revoke");
            match chunk {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
        r.server.stop().await;
    }
);

both_backends!(
    owners_of_a_service_named_later_hear_of_the_incident,
    |db: TestDb| async move {
        // Another team owns the storefront.
        let r = room_with(&db, |c| {
            c.replace(
                "  - {name: payments, lead: lead, head: head, members: [oncall]}\n",
                "  - {name: payments, lead: lead, head: head, members: [oncall]}\n  - {name: retail, lead: comms, head: comms}\n",
            )
            .replace(
                "{name: storefront, owner: payments,",
                "{name: storefront, owner: retail,",
            )
        })
        .await;
        r.declare(
            json!({"title": "Card payments fail", "severity": "SEV1", "services": ["payments"]}),
        )
        .await;
        run_due(&r.t).await;
        assert_eq!(r.received.to("lead").len(), 1, "the payments lead, at SEV1");
        let told_before = r.received.to("comms").len();
        json(
            r.server
                .client
                .patch(r.server.url("/api/v1/incidents/1"))
                .bearer_auth(&r.responder)
                .json(&json!({"services": ["payments", "storefront"]}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        run_due(&r.t).await;
        let comms = r.received.to("comms");
        assert_eq!(comms.len(), told_before + 1, "the retail lead hears of it");
        assert!(
            comms.last().unwrap().1["title"]
                .as_str()
                .unwrap()
                .contains("INC-1 now impacts storefront"),
            "{comms:?}"
        );
        assert_eq!(r.received.to("lead").len(), 1, "payments' lead not again");
        let timeline = r.get("/api/v1/incidents/INC-1/timeline").await;
        assert!(
            timeline
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["text"] == "now impacts storefront: its owners told: comms"),
            "{timeline}"
        );
        r.server.stop().await;
    }
);

both_backends!(
    an_incidents_lookups_follow_its_alerts_and_services,
    |db: TestDb| async move {
        let r = room(&db).await;
        let alerts = [
            r.trigger("idx-1").await,
            r.trigger("idx-2").await,
            r.trigger("idx-3").await,
        ];
        run_due(&r.t).await;
        // The rule declared INC-1 for the first; the others joined it.
        let unlinked = r
            .server
            .client
            .delete(
                r.server
                    .url(&format!("/api/v1/incidents/1/alerts/{}", alerts[1])),
            )
            .bearer_auth(&r.responder)
            .send()
            .await
            .unwrap();
        assert_eq!(unlinked.status(), 200);
        let edited = r
            .server
            .client
            .patch(r.server.url("/api/v1/incidents/1"))
            .bearer_auth(&r.responder)
            .json(&json!({"services": ["checkout", "storefront"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(edited.status(), 200);
        let mut tx = r.t.app.store.read().await.unwrap();
        assert_eq!(tx.incidents_of_alert(alerts[0]).await.unwrap(), vec![1]);
        assert!(tx.incidents_of_alert(alerts[1]).await.unwrap().is_empty());
        assert_eq!(tx.incidents_of_alert(alerts[2]).await.unwrap(), vec![1]);
        drop(tx);
        let by_service = |service: &'static str| {
            let r = &r;
            async move {
                r.get(&format!("/api/v1/incidents?service={service}")).await["items"]
                    .as_array()
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(by_service("payments").await, 0, "no longer impacted");
        assert_eq!(by_service("storefront").await, 1);
        assert_eq!(by_service("checkout").await, 1);
        r.server.stop().await;
    }
);

both_backends!(
    channel_urls_reach_the_event_log_cut_to_their_origin,
    |db: TestDb| async move {
        // People's webhooks and the SEV1 chat channel are under /hook/.
        let r = room(&db).await;
        let log = crate::support::event_log(&r.t).await;
        let config_events: Vec<String> = log
            .iter()
            .filter(|e| e.action.ends_with(".created") || e.action.ends_with(".updated"))
            .map(|e| serde_json::to_string(&e.after).unwrap())
            .collect();
        assert!(
            config_events
                .iter()
                .any(|e| e.contains("\"type\":\"slack\"")),
            "the chat channel is in the log: {config_events:?}"
        );
        assert!(
            config_events.iter().all(|e| !e.contains("/hook/")),
            "{config_events:?}"
        );
        r.server.stop().await;
    }
);

both_backends!(
    the_stored_config_file_keeps_no_secrets,
    |db: TestDb| async move {
        let r = room(&db).await;
        use sqlx::Connection;
        let query = "SELECT source FROM config_revisions ORDER BY id DESC LIMIT 1";
        let source: String = if db.url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(query)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(query)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        };
        assert!(source.contains("severities:"), "the file itself: {source}");
        assert!(!source.contains("probes-key-0123456789"), "{source}");
        assert!(source.contains("key: [redacted]"), "{source}");
        assert!(!source.contains("/hook/"), "{source}");
        r.server.stop().await;
    }
);
