//! The JSON API over a real loopback listener: auth, the error shape,
//! pagination, the OpenAPI document, health and metrics.

use serde_json::{Value, json};
use siaga::domain::auth::Role;

use crate::both_backends;
use crate::support::{SHOP, TestDb, error, json};

both_backends!(health_readiness_and_metrics, |db: TestDb| async move {
    let t = db.app().await;
    let server = t.serve().await;
    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    // Some traffic, so the request metrics have something to show.
    let token = t.token(Role::Viewer).await;
    server.get("/api/v1/services", &token).send().await.unwrap();
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            "siaga_http_requests_total{method=\"GET\",route=\"/api/v1/services\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(text.contains("siaga_http_request_seconds_bucket"), "{text}");
    assert!(text.contains("siaga_store_seconds"), "{text}");
    assert!(
        text.contains("siaga_job_queue_depth{state=\"due\"}"),
        "{text}"
    );

    // Not ready when the store is gone.
    t.app.store.close().await;
    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    error(ready, 503, "store_unreachable").await;
});

both_backends!(every_api_route_needs_credentials, |db: TestDb| async move {
    let t = db.app().await;
    let server = t.serve().await;
    let doc = json(
        server
            .client
            .get(server.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 14, "{:?}", paths.keys());
    for (path, operations) in paths {
        let concrete = path
            .replace("{name}", "checkout")
            .replace("{handle}", "aisyah")
            .replace("{id}", "1");
        let concrete = concrete.replace("{identifier}", "some-alias");
        for (method, operation) in operations.as_object().unwrap() {
            let ingestion = operation["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "ingestion"));
            let mut request = server.client.request(
                method.to_uppercase().parse().unwrap(),
                server.url(&concrete),
            );
            if ingestion {
                // An event, but no key: PagerDuty's key is in the body, and
                // a body that is no event at all is a 400 before that.
                request = request.body("{}");
            }
            let response = request.send().await.unwrap();
            if ingestion {
                // Sources authenticate with integration keys, in their
                // own dialects; without one they are refused all the same.
                assert_eq!(response.status(), 401, "{method} {path}");
            } else {
                error(response, 401, "unauthenticated").await;
            }
        }
    }
    let wrong = server
        .get("/api/v1/services", "siaga_not-a-real-token")
        .send()
        .await
        .unwrap();
    error(wrong, 401, "unauthenticated").await;
    let malformed = server
        .client
        .get(server.url("/api/v1/services"))
        .header("authorization", "Token abc")
        .send()
        .await
        .unwrap();
    error(malformed, 401, "unauthenticated").await;
});

both_backends!(
    openapi_lists_every_route_that_exists,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let admin = t.token(Role::Admin).await;
        let server = t.serve().await;
        let doc = json(
            server
                .client
                .get(server.url("/api/v1/openapi.json"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        for path in [
            "/api/v1/services",
            "/api/v1/services/{name}",
            "/api/v1/teams",
            "/api/v1/people",
            "/api/v1/events",
            "/api/v1/tokens",
            "/api/v1/config",
            "/api/v1/jobs",
            "/api/v1/incidents",
            "/api/v1/incidents/{id}",
            "/api/v1/incidents/{id}/status",
            "/api/v1/incidents/{id}/severity",
            "/api/v1/incidents/{id}/roles",
            "/api/v1/incidents/{id}/checklist/{item}",
            "/api/v1/incidents/{id}/updates",
            "/api/v1/incidents/{id}/alerts",
            "/api/v1/incidents/{id}/alerts/{alert}",
            "/api/v1/incidents/{id}/merge",
            "/api/v1/incidents/{id}/resolve",
            "/api/v1/incidents/{id}/reopen",
            "/api/v1/incidents/{id}/timeline",
            "/api/v1/incidents/{id}/stream",
        ] {
            assert!(
                doc["paths"][path].is_object(),
                "{path} is missing from the OpenAPI document"
            );
        }
        // The sources' dialects, with their own ways to authenticate.
        let grafana = &doc["paths"]["/api/v1/integrations/grafana"];
        assert!(grafana["post"].is_object() && grafana["put"].is_object());
        assert_eq!(
            doc["paths"]["/v2/alerts"]["post"]["security"][0]["genie_key"],
            serde_json::json!([])
        );
        assert_eq!(
            doc["components"]["securitySchemes"]["genie_key"]["name"],
            "Authorization"
        );
        // What the shared extractors answer is documented by shape: a
        // body, path or query parameters.
        let responses = |method: &str, path: &str| doc["paths"][path][method]["responses"].clone();
        for status in ["400", "413", "415", "422", "500", "503"] {
            assert!(
                responses("post", "/api/v1/maintenance-windows")[status].is_object(),
                "{status} of a body"
            );
        }
        assert!(responses("delete", "/api/v1/maintenance-windows/{id}")["400"].is_object());
        assert!(
            responses("get", "/api/v1/alerts")["422"].is_object(),
            "a limit out of range"
        );
        let limit = doc["paths"]["/api/v1/alerts"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap()
            .clone();
        assert_eq!(
            (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
            (&serde_json::json!(1), &serde_json::json!(500)),
            "{limit}"
        );
        // Every documented operation is routed: none answers "no such route".
        for (path, operations) in doc["paths"].as_object().unwrap() {
            let concrete = path
                .replace("{name}", "checkout")
                .replace("{handle}", "aisyah")
                .replace("{id}", "999999")
                .replace("{item}", "1")
                .replace("{alert}", "1")
                .replace("{identifier}", "some-alias");
            for method in operations.as_object().unwrap().keys() {
                let request = server
                    .client
                    .request(
                        method.to_uppercase().parse().unwrap(),
                        server.url(&concrete),
                    )
                    .bearer_auth(&admin);
                let response = request
                    .header("content-type", "application/json")
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                assert_ne!(
                    body["error"]["code"], "route_not_found",
                    "{method} {path} is documented but not routed"
                );
                // What it answered is among what it documents (the alert
                // sources' endpoints document their own dialects).
                let operation = &operations[method];
                let ingestion = operation["tags"]
                    .as_array()
                    .is_some_and(|tags| tags.iter().any(|tag| tag == "ingestion"));
                if !ingestion {
                    assert!(
                        operation["responses"][status.as_str()].is_object(),
                        "{method} {path} answered {status}, which it does not document: {body}"
                    );
                }
                assert!(
                    status.as_u16() < 500,
                    "{method} {path} answered {status}: {body}"
                );
            }
        }
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for schema in [
            "ErrorBody",
            "Service",
            "Team",
            "Person",
            "Event",
            "Job",
            "Incident",
            "IncidentView",
            "Declaration",
            "WebhookAccepted",
            "Ingested",
            "PagerdutyAccepted",
            "PagerdutyRefused",
            "OpsgenieReply",
        ] {
            assert!(schemas.contains_key(schema), "schema {schema} missing");
        }
        // The sources' answers have their shapes, as the originals word them.
        let answer = |path: &str, status: &str| {
            doc["paths"][path]["post"]["responses"][status]["content"]["application/json"]["schema"]
                ["$ref"]
                .clone()
        };
        assert_eq!(
            answer("/v2/enqueue", "202"),
            "#/components/schemas/PagerdutyAccepted"
        );
        assert_eq!(
            answer("/v2/enqueue", "400"),
            "#/components/schemas/PagerdutyRefused"
        );
        assert_eq!(
            answer("/api/v1/integrations/alertmanager", "200"),
            "#/components/schemas/WebhookAccepted"
        );
        assert_eq!(
            answer("/v2/alerts", "202"),
            "#/components/schemas/OpsgenieReply"
        );
        // Every operation says it may answer 500 and 503 (each reads the
        // store): its own 503, or the shared one with Retry-After.
        let shared = &doc["components"]["responses"];
        assert_eq!(
            shared["StoreUnavailable"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
        assert!(shared["StoreUnavailable"]["headers"]["Retry-After"].is_object());
        assert!(
            shared["StoreUnavailable"]["description"]
                .as_str()
                .unwrap()
                .contains("store_unavailable")
        );
        assert!(
            shared["Internal"]["description"]
                .as_str()
                .unwrap()
                .contains("internal")
        );
        let mut ingestion = 0;
        for (path, operations) in doc["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                let responses = &operation["responses"];
                if operation["tags"][0] == "ingestion" {
                    // In the source's own format, documented by the route.
                    ingestion += 1;
                    assert!(
                        responses["503"]["description"].is_string(),
                        "{method} {path} has no 503"
                    );
                    continue;
                }
                assert_eq!(
                    responses["500"]["$ref"], "#/components/responses/Internal",
                    "{method} {path}"
                );
                assert_eq!(
                    responses["503"]["$ref"], "#/components/responses/StoreUnavailable",
                    "{method} {path}"
                );
            }
        }
        assert!(ingestion >= 9, "{ingestion} ingestion operations");
    }
);

both_backends!(roles_limit_what_tokens_may_do, |db: TestDb| async move {
    let t = db.app().await;
    t.apply_shop().await;
    let viewer = t.token(Role::Viewer).await;
    let admin = t.token(Role::Admin).await;
    let server = t.serve().await;
    server.get_json("/api/v1/services", &viewer).await;
    error(
        server.get("/api/v1/events", &viewer).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    error(
        server.get("/api/v1/jobs", &viewer).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    error(
        server
            .post("/api/v1/users", &viewer)
            .json(&json!({"email": "n@x.example", "name": "N", "role": "admin"}))
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    let events = server.get_json("/api/v1/events", &admin).await;
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "service.created")
    );

    // A viewer token of an admin may not mint an admin token either.
    let admin_user = t
        .app
        .users()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.role == Role::Admin)
        .unwrap();
    let narrowed = t
        .app
        .create_api_token(
            &siaga::domain::event::Actor::system("test"),
            Role::Admin,
            &admin_user.email,
            "ci",
            Role::Viewer,
        )
        .await
        .unwrap()
        .secret;
    let refused = server
        .post("/api/v1/tokens", &narrowed)
        .json(&json!({"name": "escalate", "role": "admin"}))
        .send()
        .await
        .unwrap();
    let refused = error(refused, 422, "role_exceeds_caller").await;
    assert_eq!(refused["field"], "role");

    // A viewer may not mint a more powerful token for themselves.
    let refused = server
        .post("/api/v1/tokens", &viewer)
        .json(&json!({"name": "sneaky", "role": "admin"}))
        .send()
        .await
        .unwrap();
    let refused = error(refused, 422, "role_exceeds_caller").await;
    assert_eq!(refused["field"], "role");
});

both_backends!(
    tokens_are_shown_once_and_revocable,
    |db: TestDb| async move {
        let t = db.app().await;
        let admin = t.token(Role::Admin).await;
        let server = t.serve().await;
        let created = json(
            server
                .post("/api/v1/tokens", &admin)
                .json(&json!({"name": "ci-pipeline", "role": "viewer"}))
                .send()
                .await
                .unwrap(),
            201,
        )
        .await;
        let secret = created["secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("siaga_") && secret.len() > 40);
        let id = created["token"]["id"].as_i64().unwrap();
        let me = server.get_json("/api/v1/me", &secret).await;
        assert_eq!(me["role"], "viewer");
        // The scheme's name in any case, as RFC 9110 has it.
        for scheme in ["BEARER", "bearer", "BeArEr"] {
            let me = server
                .client
                .get(server.url("/api/v1/me"))
                .header("authorization", format!("{scheme} {secret}"))
                .send()
                .await
                .unwrap();
            assert_eq!(me.status(), 200, "{scheme}");
        }
        let listed = server.get_json("/api/v1/tokens", &admin).await;
        assert!(
            !listed.to_string().contains(&secret),
            "secrets are never listed"
        );

        let revoked = json(
            server
                .client
                .delete(server.url(&format!("/api/v1/tokens/{id}")))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert!(revoked["revoked_at"].is_string());
        error(
            server.get("/api/v1/me", &secret).send().await.unwrap(),
            401,
            "unauthenticated",
        )
        .await;
        error(
            server
                .client
                .delete(server.url(&format!("/api/v1/tokens/{id}")))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
            409,
            "conflict",
        )
        .await;
        let bad_id = error(
            server
                .client
                .delete(server.url("/api/v1/tokens/abc"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
            400,
            "invalid_path",
        )
        .await;
        assert_eq!(bad_id["field"], "id", "{bad_id}");
        assert!(
            bad_id["message"].as_str().unwrap().contains("`id`"),
            "{bad_id}"
        );
        // Of two parameters, the one that did not parse.
        let second = error(
            server
                .client
                .delete(server.url("/api/v1/schedules/x/overrides/zz"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
            400,
            "invalid_path",
        )
        .await;
        assert_eq!(second["field"], "id", "{second}");
    }
);

both_backends!(
    bad_input_gets_the_error_shape_and_writes_nothing,
    |db: TestDb| async move {
        let t = db.app().await;
        let admin = t.token(Role::Admin).await;
        let server = t.serve().await;
        let users = || async {
            server
                .get_json("/api/v1/users", &admin)
                .await
                .as_array()
                .unwrap()
                .len()
        };
        let before = users().await;
        let post = |body: &'static str| {
            server
                .post("/api/v1/users", &admin)
                .header("content-type", "application/json")
                .body(body)
        };

        error(
            post("{\"email\": ").send().await.unwrap(),
            400,
            "malformed_json",
        )
        .await;
        let wrong_type = error(
            post(r#"{"email": "a@x.example", "name": 7, "role": "viewer"}"#)
                .send()
                .await
                .unwrap(),
            422,
            "invalid_field",
        )
        .await;
        assert_eq!(wrong_type["field"], "name");
        let unknown = error(
            post(r#"{"email": "a@x.example", "name": "A", "role": "viewer", "colour": 1}"#)
                .send()
                .await
                .unwrap(),
            422,
            "invalid_field",
        )
        .await;
        assert!(
            unknown["message"].as_str().unwrap().contains("colour"),
            "{unknown}"
        );
        let bad_role = error(
            post(r#"{"email": "a@x.example", "name": "A", "role": "root"}"#)
                .send()
                .await
                .unwrap(),
            422,
            "invalid_field",
        )
        .await;
        assert_eq!(bad_role["field"], "role");
        let missing = error(
            post(r#"{"email": "a@x.example", "role": "viewer"}"#)
                .send()
                .await
                .unwrap(),
            422,
            "invalid_field",
        )
        .await;
        assert!(
            missing["message"].as_str().unwrap().contains("name"),
            "{missing}"
        );
        assert_eq!(missing["field"], "name", "a missing field is named");
        let short = error(
            post(r#"{"email": "a@x.example", "name": "A", "role": "viewer", "password": "short"}"#)
                .send()
                .await
                .unwrap(),
            422,
            "password_too_short",
        )
        .await;
        assert_eq!(short["field"], "password");
        let not_json = server
            .post("/api/v1/users", &admin)
            .header("content-type", "text/plain")
            .body("hi")
            .send()
            .await
            .unwrap();
        error(not_json, 415, "unsupported_media_type").await;
        let huge = format!(
            r#"{{"email": "a@x.example", "name": "{}", "role": "viewer"}}"#,
            "x".repeat(2 * 1024 * 1024)
        );
        let too_big = crate::support::send_oversized(|| {
            server
                .post("/api/v1/users", &admin)
                .header("content-type", "application/json")
                .body(huge.clone())
        })
        .await;
        error(too_big, 413, "body_too_large").await;
        assert_eq!(users().await, before, "no failed request wrote anything");

        json(
            post(r#"{"email": "a@x.example", "name": "A", "role": "viewer"}"#)
                .send()
                .await
                .unwrap(),
            201,
        )
        .await;
        error(
            post(r#"{"email": "a@x.example", "name": "A", "role": "viewer"}"#)
                .send()
                .await
                .unwrap(),
            409,
            "conflict",
        )
        .await;

        error(
            server
                .get("/api/v1/nothing-here", &admin)
                .send()
                .await
                .unwrap(),
            404,
            "route_not_found",
        )
        .await;
        error(
            server
                .get("/api/v1/services/nope", &admin)
                .send()
                .await
                .unwrap(),
            404,
            "not_found",
        )
        .await;
        let limit = error(
            server
                .get("/api/v1/services?limit=abc", &admin)
                .send()
                .await
                .unwrap(),
            400,
            "invalid_query",
        )
        .await;
        assert_eq!(limit["field"], "limit");
        let range = error(
            server
                .get("/api/v1/services?limit=0", &admin)
                .send()
                .await
                .unwrap(),
            422,
            "invalid_limit",
        )
        .await;
        assert_eq!(range["field"], "limit");
        for path in [
            "/api/v1/incidents?limit=0",
            "/api/v1/incidents?limit=100000",
        ] {
            let range = error(
                server.get(path, &admin).send().await.unwrap(),
                422,
                "invalid_limit",
            )
            .await;
            assert_eq!(range["field"], "limit", "{path}");
        }
        error(
            server
                .get("/api/v1/events?cursor=@@", &admin)
                .send()
                .await
                .unwrap(),
            422,
            "invalid_cursor",
        )
        .await;
    }
);

both_backends!(lists_paginate_with_cursors, |db: TestDb| async move {
    let t = db.app().await;
    t.apply_shop().await;
    let viewer = t.token(Role::Viewer).await;
    let server = t.serve().await;
    let mut names = Vec::new();
    let mut path = "/api/v1/services?limit=4".to_string();
    let mut pages = 0;
    loop {
        let page = server.get_json(&path, &viewer).await;
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 4);
        names.extend(
            items
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/services?limit=4&cursor={cursor}"),
            None => break,
        }
    }
    let org = t.app.org().await.unwrap();
    let expected: Vec<String> = org.services.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, expected, "every service once, in order");
    assert_eq!(pages, expected.len().div_ceil(4));
});

both_backends!(
    catalogue_detail_has_owner_dependents_and_safe_runbook,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let viewer = t.token(Role::Viewer).await;
        let server = t.serve().await;
        let payments = server.get_json("/api/v1/services/payments", &viewer).await;
        assert_eq!(payments["owner_team"]["name"], "payments");
        assert!(
            payments["dependents"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d == "checkout")
        );
        assert!(
            payments["possibly_affected"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d == "storefront")
        );
        assert!(payments["runbook_html"].as_str().unwrap().contains("<h"));
        let team = server.get_json("/api/v1/teams/payments", &viewer).await;
        assert!(
            team["services"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "payments")
        );
        assert!(team["people"].as_array().unwrap().len() >= 2);
        let organisation = server.get_json("/api/v1/organisation", &viewer).await;
        assert_eq!(organisation["executives"].as_array().unwrap().len(), 3);
    }
);

both_backends!(
    config_apply_over_the_api_is_all_or_nothing,
    |db: TestDb| async move {
        let t = db.app().await;
        let admin = t.token(Role::Admin).await;
        let viewer = t.token(Role::Viewer).await;
        let server = t.serve().await;
        let body = json!({"file_name": "shop.yaml", "source": SHOP});
        error(
            server
                .post("/api/v1/config", &viewer)
                .json(&body)
                .send()
                .await
                .unwrap(),
            403,
            "forbidden",
        )
        .await;
        let applied = json(
            server
                .post("/api/v1/config", &admin)
                .json(&body)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert!(applied["changes"].as_array().unwrap().len() > 20);

        let broken = SHOP
            .replacen("lead: ", "lead: nobody-", 1)
            .replacen("tier: 1", "tier: 9", 1);
        let refused = server
            .post("/api/v1/config", &admin)
            .json(&json!({"file_name": "shop.yaml", "source": broken}))
            .send()
            .await
            .unwrap();
        let refused = error(refused, 422, "invalid_config").await;
        let issues = refused["details"].as_array().unwrap();
        assert_eq!(issues.len(), 2, "{refused}");
        assert!(issues.iter().all(|i| i["line"].as_u64().unwrap() > 0));
        let services = server.get_json("/api/v1/services", &admin).await;
        assert_eq!(
            services["items"].as_array().unwrap().len(),
            11,
            "the last good config stays live"
        );

        let check = json(server.post("/api/v1/config/validate", &viewer).json(&json!({"file_name": "x.yaml", "source": "organisation: {name: X}\nteams: [{name: t, lead: a, head: a}]"})).send().await.unwrap(), 200).await;
        assert_eq!(check["valid"], false);
        assert_eq!(check["issues"][0]["field"], "teams[0].lead");
    }
);

both_backends!(
    text_holding_a_nul_character_is_refused_naming_its_field,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let responder = t.token(Role::Responder).await;
        let server = t.serve().await;
        let declare = serde_json::json!({"title": "Refunds\u{0}slow", "severity": "SEV2"});
        let refused = error(
            server
                .post("/api/v1/incidents", &responder)
                .json(&declare)
                .send()
                .await
                .unwrap(),
            422,
            "invalid_text",
        )
        .await;
        assert_eq!(refused["field"], "title");
        let nested = serde_json::json!({"title": "Refunds slow", "severity": "SEV2", "services": ["checkout", "x\u{0}"]});
        let refused = error(
            server
                .post("/api/v1/incidents", &responder)
                .json(&nested)
                .send()
                .await
                .unwrap(),
            422,
            "invalid_text",
        )
        .await;
        assert_eq!(refused["field"], "services[1]");
        let incidents = server.get_json("/api/v1/incidents", &responder).await;
        assert_eq!(
            incidents["items"].as_array().unwrap().len(),
            0,
            "nothing stored"
        );
        let query = error(
            server
                .get("/api/v1/alerts?service=%00", &responder)
                .send()
                .await
                .unwrap(),
            400,
            "invalid_text",
        )
        .await;
        assert_eq!(query["field"], "service");
        let path = error(
            server
                .client
                .delete(server.url("/api/v1/schedules/%00/overrides/1"))
                .bearer_auth(&responder)
                .send()
                .await
                .unwrap(),
            400,
            "invalid_text",
        )
        .await;
        assert_eq!(path["field"], "name");
        // Nobody logged in: the login form and a calendar feed.
        let login = server
            .client
            .post(server.url("/login"))
            .form(&[
                ("email", "a\u{0}b@kedai.example"),
                ("password", "whatever it is"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 422);
        assert!(login.text().await.unwrap().contains("`email`"));
        let feed = server
            .client
            .get(server.url("/calendar/%00.ics"))
            .send()
            .await
            .unwrap();
        assert_eq!(feed.status(), 404);
        server.stop().await;
    }
);

/// A log-in whose password check passed as the password was being changed
/// (here a raw transaction stands in for the change) opens no session: the
/// change ends every session, and this one would have slipped past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_in_racing_a_password_change_is_refused() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let t = db.app().await;
    let user = t
        .app
        .create_user(
            &siaga::domain::event::Actor::system("test"),
            "ani@kedai.example",
            "Ani",
            Role::Responder,
            Some("the old long password"),
        )
        .await
        .unwrap();
    let mut changing = crate::support::OtherWriter::begin(&db).await;
    changing
        .write(
            "UPDATE users SET password_hash = 'changed' WHERE id = $1",
            user.id,
        )
        .await;
    changing
        .write("DELETE FROM sessions WHERE user_id = $1", user.id)
        .await;
    let logging_in = tokio::spawn({
        let app = t.app.clone();
        async move {
            app.log_in("ani@kedai.example", "the old long password", "test")
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    changing.commit().await;
    let refused = logging_in.await.unwrap();
    assert!(
        matches!(refused, Err(siaga::app::Error::Unauthenticated)),
        "{refused:?}"
    );
}
