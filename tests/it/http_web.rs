//! The web pages over HTTP: login, sessions, CSRF, the catalogue pages.

use serde_json::json;
use siaga::domain::auth::Role;
use siaga::domain::event::Actor;

use crate::both_backends;
use crate::support::{TestDb, TestServer, error, json};

const PASSWORD: &str = "correct horse battery";

async fn log_in(server: &TestServer, email: &str, password: &str) -> reqwest::Response {
    server
        .client
        .post(server.url("/login"))
        .form(&[("email", email), ("password", password), ("next", "/teams")])
        .send()
        .await
        .unwrap()
}

fn session_cookie(response: &reqwest::Response) -> String {
    let header = response
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap();
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Lax") && header.contains("Secure"),
        "{header}"
    );
    header.split(';').next().unwrap().to_string()
}

both_backends!(login_session_csrf_and_logout, |db: TestDb| async move {
    let t = db.app().await;
    t.apply_shop().await;
    t.app
        .create_user(
            &Actor::system("test"),
            "ops@kedai.example",
            "Ops",
            Role::Admin,
            Some(PASSWORD),
        )
        .await
        .unwrap();
    let server = t.serve().await;

    let anonymous = server
        .client
        .get(server.url("/services"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/login?next=%2Fservices");

    let wrong = log_in(&server, "ops@kedai.example", "wrong password!").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong.text().await.unwrap().contains("flash-error"));
    let unknown = log_in(&server, "nobody@kedai.example", PASSWORD).await;
    assert_eq!(unknown.status(), 401);

    let ok = log_in(&server, "OPS@kedai.example", PASSWORD).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(
        ok.headers()["location"],
        "/teams",
        "back to where the user was going"
    );
    let cookie = session_cookie(&ok);

    let page = server
        .client
        .get(server.url("/services"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // Only this server's scripts and styles run, in no other site's frame.
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(page.headers()["referrer-policy"], "same-origin");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("data-service=\"checkout\"") && html.contains("svg id=\"dependency-graph\"")
    );
    assert!(
        !html.contains(" style=\""),
        "no inline styles, which the policy refuses"
    );

    // The session works for the API, and its unsafe requests need the CSRF token.
    let me = json(
        server
            .client
            .get(server.url("/api/v1/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(me["user"]["email"], "ops@kedai.example");
    let no_csrf = server
        .client
        .post(server.url("/api/v1/tokens"))
        .header("cookie", &cookie)
        .json(&json!({"name": "x", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    error(no_csrf, 403, "csrf_token_mismatch").await;
    let csrf = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let with_csrf = server
        .client
        .post(server.url("/api/v1/tokens"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "x", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    json(with_csrf, 201).await;

    // Another site cannot post forms here, not even the login form.
    let cross = server
        .client
        .post(server.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("email", "ops@kedai.example"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    error(cross, 403, "cross_site_request").await;

    let forged = server
        .client
        .post(server.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let out = server
        .client
        .post(server.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = server
        .client
        .get(server.url("/services"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303, "the old cookie no longer works");
});

both_backends!(
    pages_render_catalogue_and_refuse_non_admins_the_audit_log,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        t.app
            .create_user(
                &Actor::system("test"),
                "viewer@kedai.example",
                "Viewer",
                Role::Viewer,
                Some(PASSWORD),
            )
            .await
            .unwrap();
        let server = t.serve().await;
        let cookie = session_cookie(&log_in(&server, "viewer@kedai.example", PASSWORD).await);
        let get = |path: &'static str| {
            server
                .client
                .get(server.url(path))
                .header("cookie", cookie.clone())
                .send()
        };

        let service = get("/services/checkout").await.unwrap();
        assert_eq!(service.status(), 200);
        let html = service.text().await.unwrap();
        assert!(html.contains("id=\"runbook\""), "rendered runbook");
        assert!(html.contains("id=\"owner\""));
        let team = get("/teams/payments").await.unwrap().text().await.unwrap();
        assert!(team.contains("id=\"lead\"") && team.contains("id=\"members\""));
        let people = get("/people").await.unwrap().text().await.unwrap();
        assert!(people.matches("data-person=").count() >= 10);
        let person = get("/people/aisyah").await.unwrap();
        assert_eq!(person.status(), 200);
        assert_eq!(get("/services/nope").await.unwrap().status(), 404);
        let audit = get("/audit").await.unwrap();
        assert_eq!(audit.status(), 403);
        assert!(
            !get("/teams")
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                .contains("Audit log"),
            "no audit link for viewers"
        );
    }
);

both_backends!(password_guessing_is_slowed_down, |db: TestDb| async move {
    let t = db.app().await;
    t.app
        .create_user(
            &Actor::system("test"),
            "ops@kedai.example",
            "Ops",
            Role::Admin,
            Some(PASSWORD),
        )
        .await
        .unwrap();
    let server = t.serve().await;
    for _ in 0..siaga::app::auth::LOGIN_FAILURES_ALLOWED {
        assert_eq!(
            log_in(&server, "ops@kedai.example", "guess guess guess")
                .await
                .status(),
            401
        );
    }
    let refused = log_in(&server, "ops@kedai.example", PASSWORD).await;
    assert_eq!(refused.status(), 429, "even the right password waits");
    let wait: i64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= siaga::app::auth::LOGIN_WINDOW.as_secs());
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Too many failed attempts")
    );
    // Other accounts are not locked out by it.
    assert_eq!(
        log_in(&server, "someone@kedai.example", "whatever it is")
            .await
            .status(),
        401
    );
    // Nor is the account from elsewhere: a guesser who knows a responder's
    // email cannot keep them out mid-incident.
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let from_elsewhere = elsewhere
        .post(server.url("/login"))
        .form(&[
            ("email", "ops@kedai.example"),
            ("password", PASSWORD),
            ("next", "/teams"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(from_elsewhere.status(), 303);
    // One client spraying a password over many accounts is stopped too.
    let sprayer = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 3]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let spray = |i: usize| {
        sprayer
            .post(server.url("/login"))
            .form(&[
                ("email", format!("user{i}@kedai.example")),
                ("password", "Summer2026!".into()),
            ])
            .send()
    };
    for i in 0..siaga::app::auth::LOGIN_FAILURES_PER_CLIENT {
        assert_eq!(spray(i).await.unwrap().status(), 401);
    }
    assert_eq!(spray(999).await.unwrap().status(), 429);

    t.clock.advance(siaga::app::auth::LOGIN_WINDOW);
    assert_eq!(
        log_in(&server, "ops@kedai.example", PASSWORD)
            .await
            .status(),
        303
    );
});

both_backends!(
    alert_pages_show_the_timeline_and_act_with_csrf,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        t.app
            .create_user(
                &Actor::system("test"),
                "oncall@kedai.example",
                "On Call",
                Role::Responder,
                Some(PASSWORD),
            )
            .await
            .unwrap();
        let org = t.app.org().await.unwrap();
        let key = org
            .service("payments")
            .unwrap()
            .integrations
            .iter()
            .find(|i| i.name == "gateway-monitors")
            .unwrap()
            .key
            .clone()
            .unwrap();
        let server = t.serve().await;
        let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "gw-5xx",
        "payload": {"summary": "Gateway <b>5xx</b> above 2%", "source": "probe", "severity": "critical"},
        "links": [{"href": "https://grafana.kedai.example/d/gw", "text": "Gateway dashboard"},
                  {"href": " JavaScript:alert(document.cookie)", "text": "Innocent link"}]});
        assert_eq!(
            server
                .client
                .post(server.url("/v2/enqueue"))
                .json(&event)
                .send()
                .await
                .unwrap()
                .status(),
            202
        );
        let cookie = session_cookie(&log_in(&server, "oncall@kedai.example", PASSWORD).await);
        let get = |path: String| {
            server
                .client
                .get(server.url(&path))
                .header("cookie", cookie.clone())
                .send()
        };

        let list = get("/alerts".into()).await.unwrap().text().await.unwrap();
        assert!(
            list.contains("Gateway &#60;b&#62;5xx&#60;/b&#62; above 2%")
                || list.contains("Gateway &lt;b&gt;5xx&lt;/b&gt; above 2%"),
            "escaped summary: {list}"
        );
        assert!(!list.contains("<b>5xx</b>"), "summaries are escaped");
        let id = list
            .split("data-alert=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let filtered = get("/alerts?severity=info".into())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(filtered.contains("No alerts match"));
        assert_eq!(
            get("/alerts?status=sleepy".into()).await.unwrap().status(),
            422
        );
        let recent = get("/alerts?since=1h".into())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(recent.contains(&format!("data-alert=\"{id}\"")), "{recent}");
        assert!(
            recent.contains("<option value=\"1h\" selected>"),
            "{recent}"
        );
        assert_eq!(
            get("/alerts?since=fortnight".into())
                .await
                .unwrap()
                .status(),
            422
        );

        let page = get(format!("/alerts/{id}"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("id=\"timeline\"") && page.contains("opened"));
        assert!(page.contains("<a href=\"https://grafana.kedai.example/d/gw\""));
        // An address that is not a web page is shown, never made a link.
        assert!(page.contains("Innocent link"));
        assert!(
            !page.to_lowercase().contains("href=\" javascript:"),
            "a javascript: link would run in siaga's origin"
        );
        assert!(
            page.contains("id=\"runbook\""),
            "the service's runbook is on the alert page"
        );
        let csrf = page
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();

        let forged = server
            .client
            .post(server.url(&format!("/alerts/{id}/acknowledge")))
            .header("cookie", &cookie)
            .form(&[("csrf_token", "nope")])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        // A form missing its field, and a page whose id is no number, get
        // pages that say so, not plain text or the API's JSON.
        let unreadable = server
            .client
            .post(server.url(&format!("/alerts/{id}/acknowledge")))
            .header("cookie", &cookie)
            .form(&[("something", "else")])
            .send()
            .await
            .unwrap();
        assert_eq!(unreadable.status(), 422);
        assert!(
            unreadable.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let text = unreadable.text().await.unwrap();
        assert!(
            text.contains("That form could not be read") && text.contains("csrf_token"),
            "{text}"
        );
        let no_number = get("/alerts/abc".into()).await.unwrap();
        assert_eq!(no_number.status(), 404);
        assert!(
            no_number.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(
            no_number
                .text()
                .await
                .unwrap()
                .contains("There is no such page")
        );
        let acked = server
            .client
            .post(server.url(&format!("/alerts/{id}/acknowledge")))
            .header("cookie", &cookie)
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(acked.status(), 303);
        let page = get(format!("/alerts/{id}"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("acknowledged") && page.contains("oncall@kedai.example"),
            "{page}"
        );
        let resolved = server
            .client
            .post(server.url(&format!("/alerts/{id}/resolve")))
            .header("cookie", &cookie)
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resolved.status(), 303);
        assert!(
            get("/alerts".into())
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                .contains("No alerts match")
        );
        assert_eq!(get("/alerts/999999".into()).await.unwrap().status(), 404);

        // How far back: the resolved alert drops out of the last hour.
        let resolved_since = |since: &'static str| {
            let get = &get;
            async move {
                get(format!("/alerts?status=resolved&since={since}"))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            }
        };
        let marker = format!("data-alert=\"{id}\"");
        assert!(resolved_since("1h").await.contains(&marker));
        t.clock.advance(jiff::SignedDuration::from_hours(2));
        assert!(!resolved_since("1h").await.contains(&marker));
        assert!(resolved_since("24h").await.contains(&marker));
    }
);

both_backends!(
    the_alerts_page_says_when_it_shows_only_the_newest,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let org = t.app.org().await.unwrap();
        let key = org
            .services
            .iter()
            .flat_map(|s| &s.integrations)
            .find(|i| i.kind == siaga::domain::org::IntegrationKind::Generic)
            .and_then(|i| i.key.clone())
            .unwrap();
        let server = t.serve().await;
        let storm: Vec<serde_json::Value> = (0..201)
            .map(|i| json!({"action": "trigger", "dedup_key": format!("storm-{i}"), "summary": format!("Node {i} down")}))
            .collect();
        let sent = server
            .client
            .post(server.url("/api/v1/integrations/generic"))
            .bearer_auth(&key)
            .json(&json!({ "events": storm }))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200);
        let cookie = t
            .web_session(&server, "duty@kedai.example", Role::Viewer)
            .await;
        let page = server.page(&cookie, "/alerts").await;
        assert_eq!(page.matches("data-alert=\"").count(), 200);
        assert!(page.contains("id=\"more-alerts\""), "{page}");
        assert!(page.contains("Node 200 down"), "the newest first");
        let narrow = server.page(&cookie, "/alerts?severity=critical").await;
        assert!(!narrow.contains("id=\"more-alerts\""));
    }
);

both_backends!(
    a_service_page_starts_and_ends_maintenance_and_shows_its_alert_sources,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let server = t.serve().await;
        let responder = t
            .web_session(&server, "duty@kedai.example", Role::Responder)
            .await;
        let page = server.page(&responder, "/services/checkout").await;
        assert!(page.contains("No window now or ahead."), "{page}");
        let csrf = crate::support::csrf_of(&page);
        let start = |form: Vec<(&'static str, String)>| {
            server
                .client
                .post(server.url("/services/checkout/maintenance"))
                .header("cookie", &responder)
                .form(&form)
                .send()
        };

        // A duration that is none: a page naming the field, nothing stored.
        let refused = start(vec![
            ("csrf_token", csrf.clone()),
            ("duration", "soon".into()),
            ("reason", "upgrade".into()),
        ])
        .await
        .unwrap();
        assert_eq!(refused.status(), 422);
        assert!(refused.text().await.unwrap().contains("duration"));
        let forged = start(vec![
            ("csrf_token", "forged".into()),
            ("duration", "2h".into()),
            ("reason", "upgrade".into()),
        ])
        .await
        .unwrap();
        assert_eq!(forged.status(), 403);
        assert!(
            t.app
                .maintenance_windows(Some("checkout"))
                .await
                .unwrap()
                .is_empty()
        );

        // From now for two hours; one ahead, in the organisation's zone
        // (Kuala Lumpur, UTC+8).
        let now = start(vec![
            ("csrf_token", csrf.clone()),
            ("duration", "2h".into()),
            ("reason", "card vault upgrade".into()),
        ])
        .await
        .unwrap();
        assert_eq!(now.status(), 303);
        let ahead = start(vec![
            ("csrf_token", csrf.clone()),
            ("from", "2026-11-03T01:00".into()),
            ("duration", "90m".into()),
            ("reason", "index rebuild".into()),
        ])
        .await
        .unwrap();
        assert_eq!(ahead.status(), 303);
        let windows = t.app.maintenance_windows(Some("checkout")).await.unwrap();
        assert_eq!(windows.len(), 2);
        assert_eq!(windows[0].starts_at, t.clock.now());
        assert_eq!(
            windows[0].ends_at,
            t.clock.now() + jiff::SignedDuration::from_hours(2)
        );
        assert_eq!(
            windows[1].starts_at,
            "2026-11-02T17:00:00Z".parse::<jiff::Timestamp>().unwrap()
        );
        assert_eq!(
            windows[1].ends_at,
            "2026-11-02T18:30:00Z".parse::<jiff::Timestamp>().unwrap()
        );
        let page = server.page(&responder, "/services/checkout").await;
        assert!(page.contains("card vault upgrade"));
        assert_eq!(
            page.matches("in effect</span>").count(),
            1,
            "only the window from now is in effect: {page}"
        );
        assert!(page.contains("2026-11-03 01:00 +08"), "{page}");

        // Ending the one in effect.
        let id = windows[0].id.unwrap();
        let ended = server
            .client
            .post(server.url(&format!("/services/checkout/maintenance/{id}/cancel")))
            .header("cookie", &responder)
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(ended.status(), 303);
        let left = t.app.maintenance_windows(Some("checkout")).await.unwrap();
        assert!(left.iter().all(|w| w.id != Some(id)), "ended: {left:?}");
        let page = server.page(&responder, "/services/checkout").await;
        assert!(!page.contains("card vault upgrade"), "{page}");
        assert!(page.contains("index rebuild"));

        // A window from the config file is shown, with no button.
        let inventory = server.page(&responder, "/services/inventory").await;
        assert!(inventory.contains("CHG-1042"), "{inventory}");
        assert!(inventory.contains("from the config file"));
        assert!(!inventory.contains("/maintenance/"), "no end button");

        // Alert sources: where each sends; keys for admins only.
        let keys: Vec<String> = t
            .app
            .integrations(
                &t.app
                    .authenticate_token(&t.token(Role::Admin).await)
                    .await
                    .unwrap(),
            )
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.service == "checkout")
            .map(|i| i.key)
            .collect();
        assert!(!keys.is_empty());
        assert!(page.contains("https://siaga.kedai.example/api/v1/integrations/alertmanager"));
        for key in &keys {
            assert!(!page.contains(key.as_str()), "a responder sees no key");
        }
        let admin = t
            .web_session(&server, "ops@kedai.example", Role::Admin)
            .await;
        let as_admin = server.page(&admin, "/services/checkout").await;
        for key in &keys {
            assert!(as_admin.contains(key.as_str()), "an admin sees {key}");
        }

        // Viewers see the windows but get no form, and cannot post one.
        let viewer = t
            .web_session(&server, "viewer@kedai.example", Role::Viewer)
            .await;
        let as_viewer = server.page(&viewer, "/services/checkout").await;
        assert!(as_viewer.contains("index rebuild"));
        assert!(!as_viewer.contains("Start a window"));
        let refused = server
            .client
            .post(server.url("/services/checkout/maintenance"))
            .header("cookie", &viewer)
            .form(&[
                ("csrf_token", crate::support::csrf_of(&as_viewer).as_str()),
                ("duration", "1h"),
                ("reason", "mine"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
        assert_eq!(
            t.app
                .maintenance_windows(Some("checkout"))
                .await
                .unwrap()
                .len(),
            1,
            "nothing stored (the one ended is no longer listed)"
        );
        server.stop().await;
    }
);

// A form's button pressed after the session ended leads, through the log
// in, back to the page the form was on (the POST's body cannot come
// along), not to the address that only takes a button; a visit to such an
// address is a page saying so, and the API answers in its error shape.
both_backends!(
    a_button_pressed_after_the_session_ended_leads_back_to_its_page,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let server = t.serve().await;
        let post = |referer: Option<&str>| {
            let mut request = server
                .client
                .post(server.url("/alerts/5/acknowledge"))
                .form(&[("csrf_token", "stale")]);
            if let Some(referer) = referer {
                request = request.header("referer", referer);
            }
            request.send()
        };
        let from_list = post(Some(&server.url("/alerts?status=triggered")))
            .await
            .unwrap();
        assert_eq!(from_list.status(), 303);
        assert_eq!(
            from_list.headers()["location"],
            "/login?next=%2Falerts%3Fstatus%3Dtriggered"
        );
        let without = post(None).await.unwrap();
        assert_eq!(without.headers()["location"], "/login?next=%2Falerts%2F5");

        let visit = server
            .client
            .get(server.url("/alerts/5/acknowledge"))
            .send()
            .await
            .unwrap();
        assert_eq!(visit.status(), 405);
        assert!(
            visit.text().await.unwrap().contains("takes a form"),
            "a page, not an empty answer"
        );
        let admin = t.token(Role::Admin).await;
        crate::support::error(
            server
                .client
                .put(server.url("/api/v1/alerts"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
            405,
            "method_not_allowed",
        )
        .await;
        server.stop().await;
    }
);

// Pages read their addresses as people and tools write them: a parameter
// a page does not use (a link tracker's) is no error, and one that makes
// no sense is a page saying which, not the API's JSON.
both_backends!(
    pages_answer_odd_addresses_with_pages,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let server = t.serve().await;
        let cookie = t
            .web_session(&server, "viewer@kedai.example", Role::Viewer)
            .await;
        let get = |path: &'static str| {
            server
                .client
                .get(server.url(path))
                .header("cookie", &cookie)
                .send()
        };
        let tracked = get("/incidents?utm_source=slack").await.unwrap();
        assert_eq!(tracked.status(), 200);
        let doubled = get("/alerts?status=resolved&status=triggered")
            .await
            .unwrap();
        assert_eq!(doubled.status(), 400);
        assert!(
            doubled.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = doubled.text().await.unwrap();
        assert!(page.contains("does not know"), "{page}");
        // A service the config does not have stays the filter shown.
        let gone = get("/alerts?service=retired-shop").await.unwrap();
        assert_eq!(gone.status(), 200);
        assert!(
            gone.text()
                .await
                .unwrap()
                .contains("<option value=\"retired-shop\" selected>"),
            "the filter keeps the service asked for"
        );
        let bad_number = get("/incidents/new?alert=abc").await.unwrap();
        assert_eq!(bad_number.status(), 400);
        assert!(bad_number.text().await.unwrap().contains("alert"));
    }
);
