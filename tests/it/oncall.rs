//! On-call over the API, the CLI, the pages and calendar feeds. The test
//! clock stands at Monday 2026-11-02 09:00 UTC (17:00 in Kuala Lumpur).

use serde_json::{Value, json};
use siaga::domain::auth::Role;
use siaga::domain::event::Actor;

use crate::both_backends;
use crate::support::{TestDb, between, csrf_of, error, json};

fn on_call<'a>(entries: &'a Value, schedule: &str) -> &'a Value {
    entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["schedule"] == schedule)
        .unwrap()
}

both_backends!(
    who_is_on_call_overrides_and_feeds,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let viewer = t.token(Role::Viewer).await;
        let responder = t.token(Role::Responder).await;
        let admin = t.token(Role::Admin).await;
        let server = t.serve().await;

        let now = server.get_json("/api/v1/oncall", &viewer).await;
        assert_eq!(on_call(&now, "payments-primary")["shift"]["person"], "zul");
        assert_eq!(
            on_call(&now, "payments-primary")["shift"]["end"],
            "2026-11-09T02:00:00Z",
            "weekly, Monday 10:00 in Kuala Lumpur"
        );
        assert_eq!(
            on_call(&now, "storefront-primary")["shift"]["person"],
            "nurul"
        );
        assert_eq!(
            on_call(&now, "platform-follow-the-sun")["shift"]["person"],
            "karhoe",
            "Kuala Lumpur days win over London"
        );
        let night = server
            .get_json("/api/v1/oncall?at=2026-11-02T14:00:00Z", &viewer)
            .await;
        assert_eq!(
            on_call(&night, "platform-follow-the-sun")["shift"]["person"],
            "priya",
            "22:00 in Kuala Lumpur is London's"
        );

        let week = server.get_json("/api/v1/schedules/payments-primary?from=2026-11-01T00:00:00Z&to=2026-11-16T02:00:00Z", &viewer).await;
        let people: Vec<&str> = week["shifts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["person"].as_str().unwrap())
            .collect();
        assert_eq!(people, ["zul", "putu"]);
        assert_eq!(
            week["gaps"][0]["end"], "2026-11-02T02:00:00Z",
            "nobody before the rotation starts"
        );
        error(server.get("/api/v1/schedules/payments-primary?from=2026-11-02T00:00:00Z&to=2027-11-02T00:00:00Z", &viewer).send().await.unwrap(), 422, "range_too_long").await;
        let missing = error(
            server
                .get("/api/v1/schedules/payment-primary", &viewer)
                .send()
                .await
                .unwrap(),
            404,
            "not_found",
        )
        .await;
        assert!(
            missing["message"]
                .as_str()
                .unwrap()
                .contains("did you mean `payments-primary`?")
        );

        // Overrides: putu takes Tuesday; weijie takes two hours of that; the later wins.
        let path = "/api/v1/schedules/payments-primary/overrides";
        let take = |person: &str, from: &str, to: &str| json!({"person": person, "starts_at": from, "ends_at": to, "reason": "swap"});
        error(
            server
                .post(path, &viewer)
                .json(&take(
                    "putu",
                    "2026-11-03T00:00:00Z",
                    "2026-11-03T12:00:00Z",
                ))
                .send()
                .await
                .unwrap(),
            403,
            "forbidden",
        )
        .await;
        let first = json(
            server
                .post(path, &responder)
                .json(&take(
                    "putu",
                    "2026-11-03T00:00:00Z",
                    "2026-11-03T12:00:00Z",
                ))
                .send()
                .await
                .unwrap(),
            201,
        )
        .await;
        json(
            server
                .post(path, &responder)
                .json(&take(
                    "weijie",
                    "2026-11-03T05:00:00Z",
                    "2026-11-03T07:00:00Z",
                ))
                .send()
                .await
                .unwrap(),
            201,
        )
        .await;
        let at = |t: &'static str| {
            server
                .get(&format!("/api/v1/oncall?at={t}"), &viewer)
                .send()
        };
        assert_eq!(
            on_call(
                &json(at("2026-11-03T04:00:00Z").await.unwrap(), 200).await,
                "payments-primary"
            )["shift"]["person"],
            "putu"
        );
        assert_eq!(
            on_call(
                &json(at("2026-11-03T06:00:00Z").await.unwrap(), 200).await,
                "payments-primary"
            )["shift"]["person"],
            "weijie"
        );
        assert_eq!(
            on_call(
                &json(at("2026-11-03T13:00:00Z").await.unwrap(), 200).await,
                "payments-primary"
            )["shift"]["person"],
            "zul"
        );

        let inverted = error(
            server
                .post(path, &responder)
                .json(&take(
                    "putu",
                    "2026-11-05T00:00:00Z",
                    "2026-11-04T00:00:00Z",
                ))
                .send()
                .await
                .unwrap(),
            422,
            "invalid_range",
        )
        .await;
        assert_eq!(inverted["field"], "ends_at");
        // Shorter than the millisecond it is stored to: empty, refused.
        let instant = error(
            server
                .post(path, &responder)
                .json(&take(
                    "putu",
                    "2026-11-05T00:00:00.0001Z",
                    "2026-11-05T00:00:00.0009Z",
                ))
                .send()
                .await
                .unwrap(),
            422,
            "invalid_range",
        )
        .await;
        assert_eq!(instant["field"], "ends_at");
        error(
            server
                .post(path, &responder)
                .json(&take(
                    "putu",
                    "2026-11-03T10:00:00Z",
                    "2026-11-03T14:00:00Z",
                ))
                .send()
                .await
                .unwrap(),
            409,
            "conflict",
        )
        .await;
        let typo = error(
            server
                .post(path, &responder)
                .json(&take(
                    "zull",
                    "2026-11-05T00:00:00Z",
                    "2026-11-05T04:00:00Z",
                ))
                .send()
                .await
                .unwrap(),
            422,
            "unknown_person",
        )
        .await;
        assert!(
            typo["message"]
                .as_str()
                .unwrap()
                .contains("did you mean `zul`?")
        );
        let id = first["id"].as_i64().unwrap();
        let removed = server
            .client
            .delete(server.url(&format!("{path}/{id}")))
            .bearer_auth(&responder)
            .send()
            .await
            .unwrap();
        assert_eq!(removed.status(), 204);
        assert_eq!(
            on_call(
                &json(at("2026-11-03T04:00:00Z").await.unwrap(), 200).await,
                "payments-primary"
            )["shift"]["person"],
            "zul"
        );

        // Calendar feeds: secret URLs, valid iCalendar, no login needed.
        let schedules = server.get_json("/api/v1/schedules", &responder).await;
        let feed = schedules
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "payments-primary")
            .unwrap()["feed_url"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            feed.starts_with("https://siaga.kedai.example/calendar/") && feed.len() > 70,
            "a full URL under the shop's base_url: {feed}"
        );
        let ics = server
            .client
            .get(server.url(on_this_server(&feed)))
            .send()
            .await
            .unwrap();
        assert_eq!(
            ics.headers()["content-type"],
            "text/calendar; charset=utf-8"
        );
        let ics = ics.text().await.unwrap();
        assert!(
            ics.starts_with("BEGIN:VCALENDAR\r\n")
                && ics.contains("SUMMARY:On call: payments-primary (zul)"),
            "{ics}"
        );
        assert_eq!(
            server
                .client
                .get(server.url("/calendar/guessed.ics"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        let mine = server.get_json("/api/v1/people/zul/calendar", &admin).await;
        let personal = server
            .get_text(on_this_server(mine["feed_url"].as_str().unwrap()))
            .await;
        assert!(
            personal.contains("SUMMARY:On call: payments-primary\r\n"),
            "{personal}"
        );
        error(
            server
                .get("/api/v1/people/zul/calendar", &viewer)
                .send()
                .await
                .unwrap(),
            403,
            "forbidden",
        )
        .await;

        let log = t.app.events(Default::default()).await.unwrap();
        assert!(
            log.items
                .iter()
                .any(|e| e.action == "schedule_override.deleted")
        );
    }
);

both_backends!(
    schedule_pages_show_the_week_and_take_shifts,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let password = "a good long password";
        t.app
            .create_user(
                &Actor::system("test"),
                "zul@kedai.example",
                "Zul",
                Role::Responder,
                Some(password),
            )
            .await
            .unwrap();
        let server = t.serve().await;
        let cookie = server.log_in("zul@kedai.example", password).await;
        let get = |path: String| {
            server
                .client
                .get(server.url(&path))
                .header("cookie", cookie.clone())
                .send()
        };

        let list = get("/schedules".into())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(list.contains("data-schedule=\"payments-primary\""));
        let week = get("/schedules/payments-primary".into())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            week.contains("id=\"week\"") && week.contains("Mon 02 Nov"),
            "{week}"
        );
        assert!(
            week.contains("00:00–10:00</span> <strong>nobody</strong>"),
            "the gap before the rotation starts: {week}"
        );
        let load_table = |html: &str| between(html, "<table id=\"load\">", "</table>").to_string();
        // The week in Kuala Lumpur runs from Sunday 16:00 UTC; Zul starts
        // Monday 02:00 UTC and carries the rest of it.
        assert!(
            load_table(&week).contains(
                "<tbody><tr><td>Ahmad Zulkifli bin Osman</td><td>158.0</td></tr></tbody>"
            ),
            "{}",
            load_table(&week)
        );
        // Zul's login is no person's email: the form asks whom.
        assert!(
            week.contains("<select name=\"person\" required><option value=\"\">choose…</option>"),
            "{week}"
        );
        // Putu's is: the form starts at Putu.
        let putu = t
            .web_session(&server, "putu.saraswati@kedai.example", Role::Responder)
            .await;
        let putus = server.page(&putu, "/schedules/payments-primary").await;
        assert!(
            putus.contains("<option value=\"putu\" selected>"),
            "{putus}"
        );
        let csrf = week
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        let form = [
            ("csrf_token", csrf.as_str()),
            ("person", "putu"),
            ("from", "2026-11-04T09:00"),
            ("to", "2026-11-04T18:00"),
            ("reason", "dentist"),
        ];
        let taken = server
            .client
            .post(server.url("/schedules/payments-primary/overrides"))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(taken.status(), 303);
        let week = get(taken.headers()["location"].to_str().unwrap().to_string())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            week.contains("09:00–18:00 Putu") || week.contains("dentist"),
            "{week}"
        );
        assert!(
            week.contains("<span class=\"tag\">override</span>"),
            "{week}"
        );
        let load = load_table(&week);
        assert!(
            load.contains("<tr><td>Ahmad Zulkifli bin Osman</td><td>149.0</td></tr><tr><td>Putu Ayu Saraswati</td><td>9.0</td></tr>"),
            "the override's nine hours move to Putu, most first: {load}"
        );
        for week in ["someday", "9999-12-31", "-009999-01-01", "1969-12-31"] {
            assert_eq!(
                get(format!("/schedules/payments-primary?week={week}"))
                    .await
                    .unwrap()
                    .status(),
                422,
                "{week}"
            );
        }

        // The override is removed from the page, back to the same week.
        let id = between(&week, "<li data-override=\"", "\"").to_string();
        assert!(
            week.contains(&format!(
                "action=\"/schedules/payments-primary/overrides/{id}/delete\""
            )),
            "a remove button for responders: {week}"
        );
        let remove = |cookie: &str, csrf: &str| {
            server
                .client
                .post(server.url(&format!(
                    "/schedules/payments-primary/overrides/{id}/delete"
                )))
                .header("cookie", cookie)
                .form(&[("csrf_token", csrf), ("week", "2026-11-02")])
                .send()
        };
        t.app
            .create_user(
                &Actor::system("test"),
                "viewer@kedai.example",
                "V",
                Role::Viewer,
                Some(password),
            )
            .await
            .unwrap();
        let viewer = server.log_in("viewer@kedai.example", password).await;
        let seen = server
            .client
            .get(server.url("/schedules/payments-primary?week=2026-11-02"))
            .header("cookie", &viewer)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            seen.contains("data-override") && !seen.contains("/delete\""),
            "viewers see no button: {seen}"
        );
        let viewer_csrf = csrf_of(&seen);
        assert_eq!(remove(&viewer, &viewer_csrf).await.unwrap().status(), 403);
        assert_eq!(remove(&cookie, "forged").await.unwrap().status(), 403);
        let removed = remove(&cookie, &csrf).await.unwrap();
        assert_eq!(removed.status(), 303);
        assert_eq!(
            removed.headers()["location"],
            "/schedules/payments-primary?week=2026-11-02"
        );
        let week = get("/schedules/payments-primary?week=2026-11-02".into())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!week.contains("data-override"), "{week}");
        assert!(
            load_table(&week).contains("<td>158.0</td>"),
            "Zul's week again"
        );
        let log = t.app.events(Default::default()).await.unwrap();
        assert!(
            log.items
                .iter()
                .any(|e| e.action == "schedule_override.deleted")
        );
        assert_eq!(
            remove(&cookie, &csrf).await.unwrap().status(),
            404,
            "already gone"
        );
    }
);

#[test]
fn config_validate_warns_about_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gappy.yaml");
    std::fs::write(
        &file,
        "organisation: {name: K}\npeople: [{handle: a, name: A, email: a@k.example}]\nschedules:\n  - name: office\n    layers:\n      - participants: [a]\n        rotation: weekly\n        start: 2020-01-06T00:00\n        restrictions: [{days: [mon, tue, wed, thu, fri], from: \"09:00\", to: \"17:00\"}]\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_siaga"))
        .args(["config", "validate"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: schedule office: nobody is on call for"),
        "{stderr}"
    );

    // Twelve exact hours in London: its handoffs leave 08:00 and 20:00
    // when the clocks change.
    std::fs::write(
        &file,
        "organisation: {name: K}\npeople: [{handle: a, name: A, email: a@k.example}, {handle: b, name: B, email: b@k.example}]\nschedules:\n  - name: halves\n    time_zone: Europe/London\n    layers:\n      - name: twelve\n        participants: [a, b]\n        rotation: 12h\n        start: 2020-01-06T08:00\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_siaga"))
        .args(["config", "validate"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: schedule halves: layer twelve rotates every 12h, exact hours: when the clocks in Europe/London change"),
        "{stderr}"
    );

    std::fs::write(&file, "organisation: {name: K}\npeople: [{handle: a, name: A, email: a@k.example}]\nschedules:\n  - name: office\n    time_zone: Mars/Base\n    layers:\n      - participants: [b]\n        rotation: fortnightly\n        start: soon\n        restrictions: [{days: [moonday], from: \"9\", to: \"17:00\"}]\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_siaga"))
        .args(["config", "validate"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    for field in [
        "schedules[0].time_zone",
        "participants[0]",
        ".rotation",
        ".start",
        "days[0]",
        "restrictions[0].from",
    ] {
        assert!(stderr.contains(field), "{field} missing from: {stderr}");
    }
    assert!(stderr.contains("did you mean `monday`?"), "{stderr}");
}

/// The events of an iCalendar document, read by a real parser (the `ical`
/// crate): (UID, DTSTART, DTEND, SUMMARY) each.
/// The path of a feed URL under the shop's `base_url`, to fetch it from
/// the test server.
fn on_this_server(feed: &str) -> &str {
    feed.strip_prefix("https://siaga.kedai.example")
        .unwrap_or_else(|| panic!("{feed} is not under the shop's base_url"))
}

fn parse_feed(text: &str) -> (Vec<(String, String)>, Vec<[String; 4]>) {
    let mut calendars = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
    let calendar = calendars
        .next()
        .expect("one calendar")
        .unwrap_or_else(|e| panic!("not valid iCalendar ({e}): {text}"));
    assert!(calendars.next().is_none(), "exactly one calendar");
    let value = |props: &[ical::property::Property], name: &str| {
        props
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.clone())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    let properties = calendar
        .properties
        .iter()
        .map(|p| (p.name.clone(), p.value.clone().unwrap_or_default()))
        .collect();
    let events = calendar
        .events
        .iter()
        .map(|e| ["UID", "DTSTART", "DTEND", "SUMMARY"].map(|name| value(&e.properties, name)))
        .collect();
    (properties, events)
}

both_backends!(
    calendar_feeds_are_for_responders_stable_and_rotatable,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        // Made with the config, so reading a feed URL never writes.
        let token = t
            .app
            .store
            .read()
            .await
            .unwrap()
            .feed_token("schedule", "payments-primary")
            .await
            .unwrap();
        assert!(token.is_some(), "the config apply made the feed");
        let viewer = t.token(Role::Viewer).await;
        let responder = t.token(Role::Responder).await;
        let admin = t.token(Role::Admin).await;
        let server = t.serve().await;
        let feed_of = |schedules: &Value, name: &str| {
            schedules
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .unwrap()["feed_url"]
                .clone()
        };
        let seen = server.get_json("/api/v1/schedules", &viewer).await;
        assert_eq!(
            feed_of(&seen, "payments-primary"),
            Value::Null,
            "viewers get no feed URL"
        );
        assert!(seen[0]["on_call"].is_object(), "but the schedule itself");
        let seen = server.get_json("/api/v1/schedules", &responder).await;
        let feed = feed_of(&seen, "payments-primary")
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            feed,
            format!(
                "https://siaga.kedai.example/calendar/{}.ics",
                token.unwrap()
            )
        );

        let fetch = |feed: String| {
            let client = server.client.clone();
            let url = server.url(on_this_server(&feed));
            async move {
                let response = client.get(url).send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        let (status, text) = fetch(feed.clone()).await;
        assert_eq!(status, 200);
        let (calendar, events) = parse_feed(&text);
        assert!(calendar.contains(&("X-WR-CALNAME".into(), "payments-primary".into())));
        // Weekly from Monday 2026-11-02 10:00 in Kuala Lumpur (02:00 UTC).
        assert_eq!(events[0][1], "20261102T020000Z");
        assert_eq!(events[0][2], "20261109T020000Z");
        assert_eq!(events[0][3], "On call: payments-primary (zul)");
        assert_eq!(events[1][3], "On call: payments-primary (putu)");
        for pair in events.windows(2) {
            assert_eq!(pair[0][2], pair[1][1], "contiguous shifts");
        }
        let uids: std::collections::BTreeSet<&String> = events.iter().map(|e| &e[0]).collect();
        assert_eq!(uids.len(), events.len(), "unique UIDs");

        // Twenty days on, the first shift is still in the feed's past: same
        // UID, same true start (not clipped to where the feed now begins).
        t.clock.advance(jiff::SignedDuration::from_hours(24 * 20));
        let (_, later) = parse_feed(&fetch(feed.clone()).await.1);
        assert_eq!(later[0], events[0], "the same event, unchanged");
        for event in &later {
            if let Some(before) = events.iter().find(|e| e[1] == event[1]) {
                assert_eq!(
                    before[0], event[0],
                    "a shift keeps its UID as the window slides"
                );
            }
        }

        // The person's own feed names the schedule, not the person again.
        let mine = server.get_json("/api/v1/people/zul/calendar", &admin).await;
        let (calendar, personal) =
            parse_feed(&fetch(mine["feed_url"].as_str().unwrap().into()).await.1);
        assert!(
            calendar.contains(&(
                "X-WR-CALNAME".into(),
                "Ahmad Zulkifli bin Osman on call".into()
            )),
            "{calendar:?}"
        );
        assert!(!personal.is_empty());
        assert!(
            personal.iter().all(|e| e[3] == "On call: payments-primary"),
            "{personal:?}"
        );

        // Rotation: responders only; the old URL stops working at once.
        let path = "/api/v1/schedules/payments-primary/feed/rotate";
        error(
            server.post(path, &viewer).send().await.unwrap(),
            403,
            "forbidden",
        )
        .await;
        error(
            server
                .post("/api/v1/schedules/payment-primary/feed/rotate", &responder)
                .send()
                .await
                .unwrap(),
            404,
            "not_found",
        )
        .await;
        let rotated = json(server.post(path, &responder).send().await.unwrap(), 200).await;
        let fresh = rotated["feed_url"].as_str().unwrap().to_string();
        assert_ne!(fresh, feed);
        assert_eq!(fetch(feed.clone()).await.0, 404, "the old URL is dead");
        assert_eq!(fetch(fresh.clone()).await.0, 200);
        let seen = server.get_json("/api/v1/schedules", &responder).await;
        assert_eq!(feed_of(&seen, "payments-primary"), fresh.as_str());
        let log = t.app.events(Default::default()).await.unwrap();
        let event = log
            .items
            .iter()
            .find(|e| e.action == "calendar_feed.rotated")
            .expect("the rotation is recorded");
        let recorded = serde_json::to_string(event).unwrap();
        let secret = fresh
            .trim_start_matches("https://siaga.kedai.example/calendar/")
            .trim_end_matches(".ics");
        assert!(!recorded.contains(secret), "not the token: {recorded}");

        // A person's own feed: rotated by them (by email) or an admin.
        let own = mine["feed_url"].as_str().unwrap().to_string();
        let rotate_own = "/api/v1/people/zul/calendar/rotate";
        error(
            server.post(rotate_own, &responder).send().await.unwrap(),
            403,
            "forbidden",
        )
        .await;
        error(
            server
                .post("/api/v1/people/zulu/calendar/rotate", &admin)
                .send()
                .await
                .unwrap(),
            404,
            "not_found",
        )
        .await;
        let zul = t
            .token_as("zulkifli.osman@kedai.example", Role::Viewer)
            .await;
        let rotated = json(server.post(rotate_own, &zul).send().await.unwrap(), 200).await;
        let own_fresh = rotated["feed_url"].as_str().unwrap().to_string();
        assert_ne!(own_fresh, own);
        assert_eq!(fetch(own.clone()).await.0, 404, "the old URL is dead");
        assert_eq!(fetch(own_fresh.clone()).await.0, 200);
        let listed = server.get_json("/api/v1/people/zul/calendar", &admin).await;
        assert_eq!(listed["feed_url"], own_fresh.as_str());
        assert_eq!(
            fetch(fresh.clone()).await.0,
            200,
            "the schedule's feed is untouched"
        );

        // Re-applying the config keeps the rotated URLs.
        t.apply_shop().await;
        assert_eq!(fetch(fresh).await.0, 200);
        assert_eq!(fetch(own_fresh).await.0, 200);
        server.stop().await;
    }
);

both_backends!(
    calendar_feeds_get_new_addresses_from_their_pages,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let server = t.serve().await;
        let status = |feed: String| {
            let request = server.client.get(server.url(on_this_server(&feed)));
            async move { request.send().await.unwrap().status().as_u16() }
        };
        let feed_on = |html: &str| between(html, "<code id=\"feed-url\">", "</code>").to_string();
        let rotate = |cookie: &str, path: &str, csrf: String| {
            server
                .client
                .post(server.url(path))
                .header("cookie", cookie)
                .form(&[("csrf_token", csrf)])
                .send()
        };

        // A person's own feed: on their page for them and for admins only.
        let zul = t
            .web_session(&server, "zulkifli.osman@kedai.example", Role::Viewer)
            .await;
        let other = t
            .web_session(&server, "duty@kedai.example", Role::Responder)
            .await;
        let admin = t
            .web_session(&server, "boss@kedai.example", Role::Admin)
            .await;
        let page = server.page(&zul, "/people/zul").await;
        let own = feed_on(&page);
        assert_eq!(
            page.matches(&own).count(),
            1,
            "the feed is shown once, in the page, not in its title: {page}"
        );
        assert!(
            own.starts_with("https://siaga.kedai.example/calendar/") && own.ends_with(".ics"),
            "{page}"
        );
        assert_eq!(feed_on(&server.page(&admin, "/people/zul").await), own);
        let seen_by_other = server.page(&other, "/people/zul").await;
        assert!(
            !seen_by_other.contains("id=\"feed\"") && !seen_by_other.contains(&own),
            "another responder sees no feed: {seen_by_other}"
        );
        let refused = rotate(
            &other,
            "/people/zul/calendar/rotate",
            csrf_of(&seen_by_other),
        )
        .await
        .unwrap();
        assert_eq!(refused.status(), 403);
        let stale = rotate(&zul, "/people/zul/calendar/rotate", "not-the-token".into())
            .await
            .unwrap();
        assert_eq!(stale.status(), 403, "a form without the session's token");
        assert_eq!(
            status(own.clone()).await,
            200,
            "refused rotations change nothing"
        );

        let rotated = rotate(&zul, "/people/zul/calendar/rotate", csrf_of(&page))
            .await
            .unwrap();
        assert_eq!(rotated.status(), 303);
        assert_eq!(rotated.headers()["location"], "/people/zul#feed");
        let fresh = feed_on(&server.page(&zul, "/people/zul").await);
        assert_ne!(fresh, own);
        assert_eq!(status(own).await, 404, "the old address is dead");
        assert_eq!(status(fresh).await, 200);

        // A schedule's feed: responders rotate it from the schedule page.
        let page = server.page(&other, "/schedules/payments-primary").await;
        let schedule_feed = feed_on(&page);
        let rotated = rotate(
            &other,
            "/schedules/payments-primary/calendar/rotate",
            csrf_of(&page),
        )
        .await
        .unwrap();
        assert_eq!(rotated.status(), 303);
        assert_eq!(
            rotated.headers()["location"],
            "/schedules/payments-primary#feed"
        );
        let fresh = feed_on(&server.page(&other, "/schedules/payments-primary").await);
        assert_ne!(fresh, schedule_feed);
        assert_eq!(status(schedule_feed).await, 404);
        assert_eq!(status(fresh).await, 200);
        let viewer_page = server.page(&zul, "/schedules/payments-primary").await;
        let refused = rotate(
            &zul,
            "/schedules/payments-primary/calendar/rotate",
            csrf_of(&viewer_page),
        )
        .await
        .unwrap();
        assert_eq!(
            refused.status(),
            403,
            "viewers cannot rotate a schedule's feed"
        );
        server.stop().await;
    }
);

/// An office-hours schedule (gaps every night and weekend) and one where
/// Aisyah holds five days in six.
const QUALITY: &str = r#"
organisation: {name: K, time_zone: UTC}
people:
  - {handle: a, name: Aisyah, email: a@k.example}
  - {handle: b, name: Budi, email: b@k.example}
schedules:
  - name: office
    layers:
      - participants: [a, b]
        rotation: weekly
        start: "2026-11-02T00:00"
        restrictions: [{days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}]
  - name: lopsided
    layers:
      - {participants: [a, a, a, a, a, b], rotation: daily, start: "2026-11-02T00:00"}
"#;

both_backends!(
    a_schedule_declared_again_gets_a_new_feed_url,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply("quality.yaml", QUALITY).await;
        let feed = || t.app.feed_url("schedule", "lopsided");
        let first = feed().await.unwrap().expect("made with the config");
        let without = QUALITY
            .split("  - name: lopsided")
            .next()
            .unwrap()
            .to_string();
        t.apply("quality.yaml", &without).await;
        assert_eq!(feed().await.unwrap(), None, "forgotten with its schedule");
        t.apply("quality.yaml", QUALITY).await;
        let again = feed().await.unwrap().expect("made again");
        assert_ne!(
            again, first,
            "a URL that may have leaked does not come back"
        );
        assert!(
            t.app
                .feed_url("schedule", "office")
                .await
                .unwrap()
                .is_some(),
            "the others keep theirs"
        );
    }
);

both_backends!(
    schedule_quality_looks_four_weeks_ahead,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply("quality.yaml", QUALITY).await;
        let viewer = t.token(Role::Viewer).await;
        let server = t.serve().await;
        let quality = server
            .get_json("/api/v1/schedules/lopsided/quality", &viewer)
            .await;
        assert_eq!(quality["gaps"], json!([]));
        assert_eq!(
            quality["overloaded"],
            json!([{"person": "a", "hours": 576.0, "others_average_hours": 96.0}]),
            "{quality}"
        );
        let office = server
            .get_json("/api/v1/schedules/office/quality", &viewer)
            .await;
        assert_eq!(
            office["gaps"].as_array().unwrap().len(),
            20,
            "every weekday night and weekend"
        );
        assert_eq!(office["gaps"][0]["start"], "2026-11-02T17:00:00Z");
        assert_eq!(office["overloaded"], json!([]), "a and b alternate weeks");

        t.app
            .create_user(
                &Actor::system("test"),
                "v@k.example",
                "V",
                Role::Viewer,
                Some("a long enough password"),
            )
            .await
            .unwrap();
        let cookie = server.log_in("v@k.example", "a long enough password").await;
        let page = |path: &str| {
            let request = server
                .client
                .get(server.url(path))
                .header("cookie", &cookie);
            async move { request.send().await.unwrap().text().await.unwrap() }
        };
        let list = page("/schedules").await;
        let row =
            |name: &str| between(&list, &format!("data-schedule=\"{name}\""), "</tr>").to_string();
        assert!(
            row("office")
                .contains("gaps: 512 h</span> <span class=\"muted\">first Mon 02 Nov 17:00"),
            "{}",
            row("office")
        );
        assert!(row("lopsided").contains("no gaps"), "{}", row("lopsided"));

        let office = page("/schedules/office").await;
        let ahead = between(&office, "id=\"quality-ahead\"", "<h2>");
        assert!(
            ahead.contains("Nobody is on call for 512 h in the next 4 weeks"),
            "{ahead}"
        );
        assert!(
            ahead.contains("<li>Mon 02 Nov 17:00 – Tue 03 Nov 09:00</li>"),
            "{ahead}"
        );
        assert!(ahead.contains("<li>and 10 more</li>"), "{ahead}");
        assert!(!office.contains("feed"), "no calendar feed for viewers");
        let lopsided = page("/schedules/lopsided").await;
        assert!(
            lopsided.contains("Aisyah is on call for 576.0 h in the next 4 weeks, more than twice the others&#39; average of 96.0 h."),
            "{lopsided}"
        );
        let table = between(&lopsided, "id=\"load-ahead\"", "</table>");
        assert!(
            table.contains("<tr><td>Aisyah</td><td>576.0</td></tr>"),
            "{table}"
        );
        assert!(
            table.contains("<tr><td>Budi</td><td>96.0</td></tr>"),
            "{table}"
        );
        server.stop().await;
    }
);

#[test]
fn config_validate_warns_about_lopsided_load_and_locates_empty_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quality.yaml");
    std::fs::write(&file, QUALITY).unwrap();
    let validate = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_siaga"))
            .args(["config", "validate"])
            .arg(&file)
            .output()
            .unwrap()
    };
    let out = validate();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "warnings only: {stderr}");
    assert!(
        stderr.contains("warning: schedule office: nobody is on call for"),
        "{stderr}"
    );
    let lopsided: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: schedule lopsided:"))
        .collect();
    assert_eq!(lopsided.len(), 1, "{stderr}");
    assert!(
        lopsided[0].contains(": a is on call for")
            && lopsided[0].contains("in the next 4 weeks, more than twice the others' average of"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("schedule office: a is"),
        "alternating weeks are fair: {stderr}"
    );

    assert!(
        !stderr.contains("base_url"),
        "no policy pages anyone: {stderr}"
    );
    let paging = format!(
        "{QUALITY}escalation_policies:\n  - name: office\n    levels: [{{notify: [\"schedule:office\"], wait: 5m}}]\n"
    );
    std::fs::write(&file, &paging).unwrap();
    let stderr = String::from_utf8_lossy(&validate().stderr).to_string();
    assert!(
        stderr.contains("warning: organisation.base_url is not set: pages carry their acknowledge links as paths"),
        "{stderr}"
    );
    std::fs::write(&file, QUALITY).unwrap();

    let shop = dir.path().join("shop.yaml");
    std::fs::write(&shop, crate::support::SHOP).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_siaga"))
        .args(["config", "validate"])
        .arg(&shop)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(
        !stderr.contains("more than twice"),
        "the example shop is balanced: {stderr}"
    );
    assert!(!stderr.contains("base_url"), "the shop sets it: {stderr}");

    // A rotation with nobody in it is an error, located in the file.
    let empty = QUALITY.replace("participants: [a, b]", "participants: []");
    std::fs::write(&file, &empty).unwrap();
    let out = validate();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = empty
        .lines()
        .position(|l| l.contains("participants: []"))
        .unwrap()
        + 1;
    assert!(
        stderr.contains(&format!("quality.yaml:{line}:")),
        "the line of the empty list ({line}): {stderr}"
    );
    assert!(
        stderr.contains(
            "schedules[0].layers[0].participants: a rotation needs at least one participant"
        ),
        "{stderr}"
    );
}

both_backends!(
    one_persons_overlapping_overrides_race_to_one,
    |db: TestDb| async move {
        // Two replicas (apps on one database) take the same hours for the
        // same person at once: exactly one override may be stored.
        let replicas = [db.app().await, db.app().await];
        replicas[0].apply_shop().await;
        let callers = [
            replicas[0].caller(Role::Responder).await,
            replicas[1].caller(Role::Responder).await,
        ];
        let mut attempts = tokio::task::JoinSet::new();
        for i in 0..8 {
            let (app, caller) = (replicas[i % 2].app.clone(), callers[i % 2].clone());
            attempts.spawn(async move {
                app.create_override(
                    &caller,
                    "payments-primary",
                    "putu",
                    "2026-11-03T00:00:00Z".parse().unwrap(),
                    "2026-11-03T12:00:00Z".parse().unwrap(),
                    "race",
                )
                .await
            });
        }
        let results = attempts.join_all().await;
        let taken = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(taken, 1, "{results:?}");
        for refused in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(refused, siaga::app::Error::Conflict(_)),
                "{refused:?}"
            );
        }
        let stored = replicas[1]
            .app
            .store
            .read()
            .await
            .unwrap()
            .overrides(
                Some("payments-primary"),
                "2026-11-03T00:00:00Z".parse().unwrap(),
                "2026-11-04T00:00:00Z".parse().unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(stored.len(), 1, "{stored:?}");
    }
);

both_backends!(
    a_shift_that_never_hands_over_has_no_end,
    |db: TestDb| async move {
        let t = db.app().await;
        // Two schedules of one person each: one since long before the test
        // clock (Monday 2026-11-02 09:00 UTC), one since the week before.
        let shop = crate::support::SHOP.replace(
            "\nschedules:\n",
            "\nschedules:\n  - name: catalog-alone\n    time_zone: Asia/Kuala_Lumpur\n    layers:\n      - name: always\n        participants: [budi]\n        rotation: weekly\n        start: 2025-01-06T09:00\n  - name: catalog-new\n    time_zone: Asia/Kuala_Lumpur\n    layers:\n      - name: always\n        participants: [dewi]\n        rotation: daily\n        start: 2026-10-26T09:00\n",
        );
        t.apply("shop.yaml", &shop).await;
        let responder = t.caller(Role::Responder).await;
        t.app
            .create_override(
                &responder,
                "catalog-alone",
                "putu",
                "2026-11-02T10:00:00Z".parse().unwrap(),
                "2026-11-02T12:00:00Z".parse().unwrap(),
                "cover",
            )
            .await
            .unwrap();
        let viewer = t.token(Role::Viewer).await;
        let server = t.serve().await;

        let now = server.get_json("/api/v1/oncall", &viewer).await;
        let alone = &on_call(&now, "catalog-alone")["shift"];
        assert_eq!(alone["person"], "budi");
        assert_eq!(alone["start"], Value::Null, "over a year ago: {alone}");
        assert_eq!(
            alone["end"], "2026-11-02T10:00:00Z",
            "the override: {alone}"
        );
        let new = &on_call(&now, "catalog-new")["shift"];
        assert_eq!(new["person"], "dewi");
        assert_eq!(new["start"], "2026-10-26T01:00:00Z", "{new}");
        assert_eq!(new["end"], Value::Null, "nobody takes over: {new}");
        // A shift a month's window would have clipped on both sides.
        assert_eq!(
            on_call(&now, "payments-primary")["shift"]["start"],
            "2026-11-02T02:00:00Z"
        );

        let during = server
            .get_json("/api/v1/oncall?at=2026-11-02T11:00:00Z", &viewer)
            .await;
        let covered = &on_call(&during, "catalog-alone")["shift"];
        assert_eq!(covered["person"], "putu");
        assert_eq!(covered["start"], "2026-11-02T10:00:00Z");
        assert_eq!(covered["end"], "2026-11-02T12:00:00Z");
        let after = server
            .get_json("/api/v1/oncall?at=2026-11-02T13:00:00Z", &viewer)
            .await;
        let back = &on_call(&after, "catalog-alone")["shift"];
        assert_eq!(back["person"], "budi");
        assert_eq!(back["start"], "2026-11-02T12:00:00Z");
        assert_eq!(back["end"], Value::Null, "{back}");

        let schedules = server.get_json("/api/v1/schedules", &viewer).await;
        let view = |name: &str| {
            schedules
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .unwrap()
                .clone()
        };
        assert_eq!(view("catalog-alone")["next"]["person"], "putu");
        assert_eq!(view("catalog-new")["on_call"]["end"], Value::Null);
        assert_eq!(view("catalog-new")["next"], Value::Null, "nobody is next");

        let cookie = t
            .web_session(&server, "viewer-web@test.example", Role::Viewer)
            .await;
        let page = server.page(&cookie, "/schedules").await;
        let row = between(&page, "data-schedule=\"catalog-new\"", "</tr>");
        assert!(row.contains("further notice"), "{row}");
    }
);

// Listing schedules with their feed URLs reads on one connection: with the
// pool all but full (responders loading the schedules page together, each
// holding one), it still answers, where a second connection per request
// left every request waiting on the others.
both_backends!(
    schedules_with_feeds_are_listed_on_one_connection,
    |db: TestDb| async move {
        let t = db.app().await;
        t.apply_shop().await;
        let responder = t.caller(Role::Responder).await;
        let mut held = Vec::new();
        for _ in 1..t.app.store.read_connections() {
            held.push(t.app.store.read().await.unwrap());
        }
        let listed = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            t.app.schedules(&responder),
        )
        .await
        .expect("the schedules waited for a second connection")
        .unwrap();
        assert!(listed.iter().all(|s| s.feed_url.is_some()), "{listed:?}");
        drop(held);
    }
);

// Taking an override out keeps what already happened: one under way ends
// now (who covered the last hour still did), one over is refused, one not
// begun is removed. The log says what it was.
both_backends!(
    removing_an_override_keeps_the_shifts_already_covered,
    |db: TestDb| async move {
        use jiff::SignedDuration;
        let t = db.app().await;
        t.apply_shop().await;
        let responder = t.caller(Role::Responder).await;
        let now = t.clock.now();
        let hours = |h: i64| now + SignedDuration::from_hours(h);
        let on_call_at = |at: jiff::Timestamp| {
            let app = t.app.clone();
            async move {
                app.on_call_at(Some(at))
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|entry| entry.schedule == "payments-primary")
                    .and_then(|entry| entry.shift)
                    .map(|shift| shift.person)
            }
        };
        let rotation = on_call_at(hours(-1)).await.unwrap();
        assert_ne!(rotation, "putu");
        let running = t
            .app
            .create_override(
                &responder,
                "payments-primary",
                "putu",
                hours(-2),
                hours(2),
                "swap",
            )
            .await
            .unwrap();
        t.app
            .delete_override(&responder, "payments-primary", running.id)
            .await
            .unwrap();
        assert_eq!(
            on_call_at(hours(-1)).await.as_deref(),
            Some("putu"),
            "the past stays"
        );
        assert_eq!(
            on_call_at(hours(1)).await,
            Some(rotation.clone()),
            "ended now"
        );
        let over = t
            .app
            .delete_override(&responder, "payments-primary", running.id)
            .await
            .unwrap_err();
        assert!(
            matches!(&over, siaga::app::Error::Conflict(message) if message.contains("past shifts stay")),
            "{over:?}"
        );
        let ahead = t
            .app
            .create_override(
                &responder,
                "payments-primary",
                "putu",
                hours(3),
                hours(4),
                "swap",
            )
            .await
            .unwrap();
        t.app
            .delete_override(&responder, "payments-primary", ahead.id)
            .await
            .unwrap();
        assert_eq!(on_call_at(hours(3)).await, Some(rotation));
        let log = crate::support::event_log(&t).await;
        let ended = log
            .iter()
            .find(|e| e.action == "schedule_override.ended")
            .unwrap();
        assert_eq!(
            ended.before.as_ref().unwrap()["ends_at"],
            hours(2).to_string()
        );
        assert_eq!(ended.after.as_ref().unwrap()["ends_at"], now.to_string());
        let deleted = log
            .iter()
            .find(|e| e.action == "schedule_override.deleted")
            .unwrap();
        assert_eq!(deleted.before.as_ref().unwrap()["person"], "putu");
    }
);

// Overrides are bounded: none shorter than a minute, and at most
// MAX_LIVE_OVERRIDES not yet over per schedule, since every look at who is
// on call weighs each against the others.
both_backends!(
    overrides_are_at_least_a_minute_and_bounded_in_number,
    |db: TestDb| async move {
        use jiff::SignedDuration;
        use siaga::app::schedules::MAX_LIVE_OVERRIDES;
        let t = db.app().await;
        t.apply_shop().await;
        let responder = t.caller(Role::Responder).await;
        let now = t.clock.now();
        let short = t
            .app
            .create_override(
                &responder,
                "payments-primary",
                "putu",
                now,
                now + SignedDuration::from_secs(30),
                "blink",
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&short, siaga::app::Error::Invalid { code, .. } if *code == "range_too_short"),
            "{short:?}"
        );
        // A script's minute-long shifts, up to the bound.
        let mut tx = t.app.store.write().await.unwrap();
        for i in 0..MAX_LIVE_OVERRIDES as i64 {
            let start = now + SignedDuration::from_mins(i + 1);
            tx.insert_override(
                now,
                "payments-primary",
                "putu",
                start,
                start + SignedDuration::from_mins(1),
                "script",
                "test",
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let over = t
            .app
            .create_override(
                &responder,
                "payments-primary",
                "nurul",
                now + SignedDuration::from_hours(24),
                now + SignedDuration::from_hours(25),
                "one more",
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&over, siaga::app::Error::Conflict(message) if message.contains("the most it may have")),
            "{over:?}"
        );
    }
);

// "On call until" says when the person is free: an override of theirs
// that ends where their own rotation goes on is no handoff.
both_backends!(
    on_call_until_runs_across_an_override_of_the_same_person,
    |db: TestDb| async move {
        use jiff::SignedDuration;
        let t = db.app().await;
        t.apply_shop().await;
        let responder = t.caller(Role::Responder).await;
        let now = t.clock.now();
        let before = t.app.on_call_at(Some(now)).await.unwrap();
        let rotation = before
            .iter()
            .find(|e| e.schedule == "payments-primary")
            .and_then(|e| e.shift.clone())
            .unwrap();
        assert_eq!(rotation.person, "zul");
        t.app
            .create_override(
                &responder,
                "payments-primary",
                "zul",
                now,
                now + SignedDuration::from_hours(2),
                "covering for the handover",
            )
            .await
            .unwrap();
        let after = t.app.on_call_at(Some(now)).await.unwrap();
        let shift = after
            .iter()
            .find(|e| e.schedule == "payments-primary")
            .and_then(|e| e.shift.clone())
            .unwrap();
        assert_eq!(shift.person, "zul");
        assert!(shift.override_id.is_some(), "the piece covering now");
        assert_eq!((shift.start, shift.end), (rotation.start, rotation.end));
    }
);
