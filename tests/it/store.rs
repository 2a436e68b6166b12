//! The store contract, on SQLite and PostgreSQL alike.

use jiff::SignedDuration;
use serde_json::json;
use siaga::domain::auth::Role;
use siaga::domain::event::{Actor, NewEvent, Subject};
use siaga::store::{EventFilter, StoreError};

use crate::both_backends;
use crate::support::{SHOP, TestDb, start_time};

both_backends!(
    events_append_and_page_newest_first,
    |db: TestDb| async move {
        let store = db.store().await;
        let actor = Actor::system("test");
        let mut tx = store.write().await.unwrap();
        for i in 0..5 {
            tx.append_event(
                start_time(),
                NewEvent::new(&actor, "thing.changed", Subject::new("thing", i))
                    .after(json!({ "n": i })),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();

        let mut tx = store.read().await.unwrap();
        let first = tx
            .list_events(&EventFilter {
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        // limit + 1 rows tell the caller there is more.
        assert_eq!(first.len(), 3);
        assert_eq!(first[0].subject.id, "4");
        assert_eq!(first[0].after, Some(json!({ "n": 4 })));
        assert_eq!(first[0].actor, actor);
        let older = tx
            .list_events(&EventFilter {
                before_id: Some(first[1].id),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let ids: Vec<&str> = older.iter().map(|e| e.subject.id.as_str()).collect();
        assert_eq!(ids, ["2", "1", "0"]);
        let one = tx
            .list_events(&EventFilter {
                subject_kind: Some("thing".into()),
                subject_id: Some("3".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(one.len(), 1);
        let after = tx.events_after(first[1].id, 10).await.unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].id, first[0].id);
    }
);

both_backends!(
    events_cannot_be_changed_or_deleted,
    |db: TestDb| async move {
        let store = db.store().await;
        let mut tx = store.write().await.unwrap();
        tx.append_event(
            start_time(),
            NewEvent::new(&Actor::system("t"), "x.y", Subject::new("x", 1)),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        // The store offers no way to change events; the database refuses too.
        let url = db.url.clone();
        let refused = raw_execute(&url, "UPDATE events SET action = 'forged'").await;
        assert!(refused.is_err(), "an UPDATE on the event log must fail");
        let refused = raw_execute(&url, "DELETE FROM events").await;
        assert!(refused.is_err(), "a DELETE on the event log must fail");
    }
);

/// Ends every other connection to the PostgreSQL database at `url`, as a
/// server restart would, and returns once they are gone.
async fn end_other_connections(url: &str) {
    use sqlx::Connection;
    let others =
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SELECT pg_terminate_backend(pid) {others}"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    loop {
        let left: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {others}")))
                .fetch_one(&mut conn)
                .await
                .unwrap();
        if left == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn raw_execute(url: &str, sql: &str) -> Result<(), String> {
    use sqlx::Connection;
    let statement = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()));
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url)
            .await
            .map_err(|e| e.to_string())?;
        statement
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else {
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .map_err(|e| e.to_string())?;
        statement
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

both_backends!(users_tokens_and_sessions, |db: TestDb| async move {
    let store = db.store().await;
    let now = start_time();
    let mut tx = store.write().await.unwrap();
    let user = tx
        .insert_user(now, "a@x.example", "A", Role::Responder, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // A failed statement ends a PostgreSQL transaction, so the conflict
    // gets one of its own.
    let mut tx = store.write().await.unwrap();
    let duplicate = tx
        .insert_user(now, "a@x.example", "A again", Role::Viewer, None)
        .await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(ref m)) if m.contains("a@x.example")),
        "{duplicate:?}"
    );
    drop(tx);

    let mut tx = store.write().await.unwrap();
    let token = tx
        .insert_api_token(now, user.id, "ci", Role::Viewer, "digest-1")
        .await
        .unwrap();
    let (found, owner) = tx.api_token_by_secret("digest-1").await.unwrap();
    assert_eq!(
        (found.id, owner.id, found.role),
        (token.id, user.id, Role::Viewer)
    );
    assert!(tx.revoke_api_token(token.id, now).await.unwrap());
    assert!(
        !tx.revoke_api_token(token.id, now).await.unwrap(),
        "revoking twice reports it"
    );
    assert!(matches!(
        tx.api_token_by_secret("digest-1").await,
        Err(StoreError::NotFound)
    ));

    let expires = now + SignedDuration::from_hours(1);
    tx.insert_session(now, user.id, "session-1", "csrf-1", expires)
        .await
        .unwrap();
    let (session, _) = tx.session_by_secret("session-1", now).await.unwrap();
    assert_eq!(session.csrf_token, "csrf-1");
    assert!(
        matches!(
            tx.session_by_secret("session-1", expires).await,
            Err(StoreError::NotFound)
        ),
        "expired sessions are not found"
    );
    assert_eq!(tx.purge_expired_sessions(expires).await.unwrap(), 1);
    tx.commit().await.unwrap();
});

both_backends!(
    config_ids_are_stable_across_reloads,
    |db: TestDb| async move {
        let t = db.app().await;
        let actor = Actor::system("test");
        let first = t.app.apply_config(&actor, "shop.yaml", SHOP).await.unwrap();
        assert!(first.changes.iter().all(|c| c.change == "created"));
        let org = t.app.org().await.unwrap();
        let checkout_id = org.service("checkout").unwrap().id;
        let search_id = org.service("search").unwrap().id;
        assert!(checkout_id > 0);

        // The same file again changes nothing but records the revision.
        let again = t.app.apply_config(&actor, "shop.yaml", SHOP).await.unwrap();
        assert!(again.changes.is_empty(), "{:?}", again.changes);
        assert!(again.revision.id > first.revision.id);

        // Remove search (and its mentions), edit checkout.
        let without_search = remove_service(SHOP, "search").replace(
            "description: Cart-to-order flow",
            "description: The cart-to-order flow",
        );
        let applied = t
            .app
            .apply_config(&actor, "shop.yaml", &without_search)
            .await
            .unwrap();
        let changed: Vec<(String, String)> = applied
            .changes
            .iter()
            .map(|c| (c.name.clone(), c.change.clone()))
            .collect();
        assert!(
            changed.contains(&("search".into(), "archived".into())),
            "{changed:?}"
        );
        let org = t.app.org().await.unwrap();
        assert!(org.service("search").is_none());
        assert_eq!(org.service("checkout").unwrap().id, checkout_id);

        // Declared again, it comes back with its old id.
        let applied = t.app.apply_config(&actor, "shop.yaml", SHOP).await.unwrap();
        assert!(
            applied
                .changes
                .iter()
                .any(|c| c.name == "search" && c.change == "restored")
        );
        assert_eq!(
            t.app.org().await.unwrap().service("search").unwrap().id,
            search_id
        );
    }
);

/// The shop config without one service: its entry and every mention of it.
pub fn remove_service(config: &str, name: &str) -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in config.lines() {
        if line.starts_with("  - name: ") {
            skipping = line.trim_end() == format!("  - name: {name}");
        } else if !line.starts_with(' ') && !line.is_empty() {
            skipping = false;
        }
        if !skipping {
            out.push(line.to_string());
        }
    }
    out.join("\n")
        .replace(&format!(", {name}]"), "]")
        .replace(&format!("[{name}, "), "[")
        .replace(&format!(", {name},"), ",")
        .replace(&format!("      - {name}\n"), "")
}

both_backends!(invalid_config_writes_nothing, |db: TestDb| async move {
    let t = db.app().await;
    t.apply_shop().await;
    let before_events = t.app.events(Default::default()).await.unwrap().items[0].id;
    let before = t.app.org().await.unwrap();
    let broken = SHOP.replacen("owner: payments", "owner: paymnts", 1);
    let error = t
        .app
        .apply_config(&Actor::system("test"), "shop.yaml", &broken)
        .await
        .unwrap_err();
    let siaga::app::Error::Config(errors) = error else {
        panic!("expected config errors, got {error:?}")
    };
    assert_eq!(errors.issues[0].suggestion.as_deref(), Some("payments"));
    assert_eq!(
        t.app.org().await.unwrap(),
        before,
        "the last good config stays live"
    );
    assert_eq!(
        t.app.events(Default::default()).await.unwrap().items[0].id,
        before_events,
        "no events appended"
    );
});

both_backends!(
    reserved_ids_are_never_handed_out_twice,
    |db: TestDb| async move {
        use siaga::store::IdSequence;
        let store = db.store().await;
        let mut tx = store.write().await.unwrap();
        let [groups, alerts] = tx
            .reserve_ids([(IdSequence::AlertGroups, 3), (IdSequence::Alerts, 0)])
            .await
            .unwrap();
        assert_eq!(groups.len(), 3);
        assert!(alerts.is_empty());
        assert!(groups.windows(2).all(|w| w[0] < w[1]), "{groups:?}");
        // Reserved again in the same transaction, before anything is
        // written: fresh ids.
        let [again] = tx
            .reserve_ids([(IdSequence::AlertGroups, 2)])
            .await
            .unwrap();
        assert!(again.iter().all(|id| !groups.contains(id)), "{again:?}");
        tx.commit().await.unwrap();
        // And in the next transaction, with ids written in between.
        let mut tx = store.write().await.unwrap();
        let [later, messages] = tx
            .reserve_ids([
                (IdSequence::AlertGroups, 2),
                (IdSequence::InboundMessages, 1),
            ])
            .await
            .unwrap();
        assert!(later.iter().all(|id| *id > again[1]), "{later:?}");
        assert_eq!(messages.len(), 1);
        tx.commit().await.unwrap();
        // Each list comes from its own table's counter, whatever else is
        // asked with it.
        let mut tx = store.write().await.unwrap();
        let [alerts] = tx.reserve_ids([(IdSequence::Alerts, 50)]).await.unwrap();
        let [next_messages, next_groups, next_alerts] = tx
            .reserve_ids([
                (IdSequence::InboundMessages, 2),
                (IdSequence::AlertGroups, 3),
                (IdSequence::Alerts, 4),
            ])
            .await
            .unwrap();
        let following = |last: i64, count: i64| (last + 1..=last + count).collect::<Vec<_>>();
        assert_eq!(next_messages, following(messages[0], 2));
        assert_eq!(next_groups, following(later[1], 3));
        assert_eq!(next_alerts, following(alerts[49], 4));
        tx.commit().await.unwrap();
    }
);

/// Connections in steady use are not pinged before each transaction, but
/// one left idle is: when the database server closed the pool's
/// connections (a restart, a failover, an idle timeout), the next request
/// gets a fresh one instead of an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_closed_by_the_server_are_replaced_after_idling() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let store = db.store().await;
    store.ping().await.unwrap();
    let mut tx = store.write_replayable().await.unwrap();
    tx.latest_config_revision().await.unwrap();
    tx.commit().await.unwrap();
    end_other_connections(&db.url).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    store.ping().await.expect("the main pool reconnects");
    let mut tx = store
        .write_replayable()
        .await
        .expect("the replayable pool reconnects");
    tx.latest_config_revision().await.unwrap();
    tx.commit().await.unwrap();
}

both_backends!(
    writes_sent_together_land_in_order_or_not_at_all,
    |db: TestDb| async move {
        use siaga::store::InboundMessage;
        let store = db.store().await;
        let actor = Actor::system("test");
        // More events than one statement carries: several statements, each
        // sent on its own (rows of one table keep their order).
        let events: Vec<NewEvent> = (0..8000)
            .map(|i| NewEvent::new(&actor, "thing.changed", Subject::new("thing", i)))
            .collect();
        let message = |id| InboundMessage {
            id,
            received_at: start_time(),
            service: "checkout",
            integration: "prometheus",
            format: "generic",
            body: "{}",
        };
        let first = [message(1)];
        let mut tx = store.write().await.unwrap();
        let mut writes = tx.writes();
        writes.inbound_messages(&first);
        writes.events(start_time(), &events);
        tx.apply(writes).await.unwrap();
        tx.commit().await.unwrap();

        let subjects: Vec<String> = all_events(&store)
            .await
            .iter()
            .rev()
            .map(|e| e.subject.id.clone())
            .collect();
        let expected: Vec<String> = (0..8000).map(|i: i32| i.to_string()).collect();
        assert_eq!(subjects, expected, "ids follow the order given");

        // A refused row fails the whole set, the statements sent with it
        // and those before it.
        let again = [message(1)];
        let mut tx = store.write().await.unwrap();
        let mut writes = tx.writes();
        writes.events(start_time(), &events[..3]);
        writes.inbound_messages(&again);
        let refused = tx.apply(writes).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "a second message with id 1 collides: {refused:?}"
        );
        drop(tx);
        assert_eq!(
            all_events(&store).await.len(),
            8000,
            "nothing of the refused set was kept"
        );
    }
);

/// Every event of the log (up to 9,000), newest first.
async fn all_events(store: &siaga::store::Store) -> Vec<siaga::domain::event::Event> {
    let mut tx = store.read().await.unwrap();
    tx.list_events(&EventFilter {
        limit: 9000,
        ..Default::default()
    })
    .await
    .unwrap()
}

both_backends!(
    received_messages_are_purged_oldest_first_with_their_events,
    |db: TestDb| async move {
        use siaga::store::{InboundEvent, InboundMessage};
        let store = db.store().await;
        let old = start_time();
        let new = old + SignedDuration::from_hours(2);
        // By id: five old, two new, then one old again (a PostgreSQL
        // replica's batch can land its ids after another's).
        let times = [old, old, old, old, old, new, new, old];
        let messages: Vec<InboundMessage> = (1..)
            .zip(times)
            .map(|(id, received_at)| InboundMessage {
                id,
                received_at,
                service: "checkout",
                integration: "prometheus",
                format: "generic",
                body: "{}",
            })
            .collect();
        let events: Vec<InboundEvent> = messages
            .iter()
            .flat_map(|m| [m; 2])
            .map(|m| InboundEvent {
                message_id: m.id,
                alert_id: Some(42),
                received_at: m.received_at,
                action: "trigger",
                dedup_key: "disk-full",
                outcome: "repeated",
            })
            .collect();
        let mut tx = store.write().await.unwrap();
        let mut writes = tx.writes();
        writes.inbound_messages(&messages);
        writes.inbound_events(&events);
        tx.apply(writes).await.unwrap();
        tx.commit().await.unwrap();

        let listed = async || {
            let mut tx = store.read().await.unwrap();
            let mut ids: Vec<i64> = tx
                .alert_events(42, 100)
                .await
                .unwrap()
                .iter()
                .map(|e| e.message_id)
                .collect();
            ids.dedup();
            ids
        };
        let purge = async |before, limit| {
            let mut tx = store.write().await.unwrap();
            let purged = tx.purge_received_messages(before, limit).await.unwrap();
            tx.commit().await.unwrap();
            purged
        };
        // The newest events, oldest of them first.
        let newest: Vec<i64> = store
            .read()
            .await
            .unwrap()
            .alert_events(42, 5)
            .await
            .unwrap()
            .iter()
            .map(|e| e.message_id)
            .collect();
        assert_eq!(newest, [6, 7, 7, 8, 8]);
        let an_hour_on = old + SignedDuration::from_hours(1);
        assert_eq!(purge(an_hour_on, 2).await, 2, "the two oldest");
        assert_eq!(listed().await, [3, 4, 5, 6, 7, 8]);
        assert_eq!(purge(an_hour_on, 2).await, 2);
        assert_eq!(
            purge(an_hour_on, 2).await,
            1,
            "the last before the first kept"
        );
        assert_eq!(purge(an_hour_on, 2).await, 0);
        assert_eq!(
            listed().await,
            [6, 7, 8],
            "the old one after a kept one waits"
        );
        assert_eq!(purge(new + SignedDuration::from_hours(1), 10).await, 3);
        assert_eq!(listed().await, Vec::<i64>::new());
    }
);

/// A pooled connection the server closed a moment after its last use (a
/// restart, a failover, `pg_terminate_backend`) is not pinged before use,
/// but the transaction that finds it broken is begun afresh on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_begun_on_a_closed_connection_starts_again_on_a_fresh_one() {
    let Some(db) = TestDb::new(crate::support::Backend::Postgres).await else {
        return;
    };
    let store = db.store().await;
    // Several connections in the pool, all used a moment ago.
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut tx = store.write().await.unwrap();
        tx.latest_config_revision().await.unwrap();
        open.push(tx);
    }
    for tx in open {
        tx.commit().await.unwrap();
    }
    end_other_connections(&db.url).await;
    for round in 0..4 {
        let mut tx = store
            .write()
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        tx.latest_config_revision()
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        tx.commit().await.unwrap();
        let mut tx = store
            .read()
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        tx.latest_config_revision().await.unwrap();
    }
}

// The installation id is made once and kept: every start (and every
// replica) of one database has the same.
both_backends!(
    the_installation_id_is_made_once_and_kept,
    |db: TestDb| async move {
        let first = db.store().await;
        let again = db.store().await;
        assert_eq!(first.installation().len(), 12);
        assert_eq!(first.installation(), again.installation());
    }
);
