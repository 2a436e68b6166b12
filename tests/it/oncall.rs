//! On-call over the API, the CLI, the pages and calendar feeds. The test
//! clock stands at Monday 2026-11-02 09:00 UTC (17:00 in Kuala Lumpur).

use serde_json::{Value, json};
use siaga::domain::auth::Role;
use siaga::domain::event::Actor;

use crate::both_backends;
use crate::support::{TestDb, error, json};

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

        let now = json(
            server.get("/api/v1/oncall", &viewer).send().await.unwrap(),
            200,
        )
        .await;
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
        let night = json(
            server
                .get("/api/v1/oncall?at=2026-11-02T14:00:00Z", &viewer)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(
            on_call(&night, "platform-follow-the-sun")["shift"]["person"],
            "priya",
            "22:00 in Kuala Lumpur is London's"
        );

        let week = json(server.get("/api/v1/schedules/payments-primary?from=2026-11-01T00:00:00Z&to=2026-11-16T02:00:00Z", &viewer).send().await.unwrap(), 200).await;
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
        let schedules = json(
            server
                .get("/api/v1/schedules", &viewer)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let feed = schedules
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "payments-primary")
            .unwrap()["feed_url"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(feed.starts_with("/calendar/") && feed.len() > 50);
        let ics = server.client.get(server.url(&feed)).send().await.unwrap();
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
        let mine = json(
            server
                .get("/api/v1/people/zul/calendar", &admin)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let personal = server
            .client
            .get(server.url(mine["feed_url"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(personal.contains("zul (payments-primary)"), "{personal}");
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
        assert_eq!(
            get("/schedules/payments-primary?week=someday".into())
                .await
                .unwrap()
                .status(),
            422
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
