//! The durable job queue and its runner, on both backends.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use siaga::domain::event::{Actor, NewEvent, Subject};
use siaga::domain::job::{Backoff, Job, JobState, NewJob};
use siaga::store::{EventFilter, Store};
use siaga::workers::JobRunner;

use crate::both_backends;
use crate::support::{TestDb, start_time};

fn job(kind: &str) -> NewJob {
    NewJob::new(kind, json!({ "k": kind }), start_time())
}

both_backends!(
    a_job_is_claimed_by_one_of_two_concurrent_workers,
    |db: TestDb| async move {
        let store = db.store().await;
        let mut tx = store.write().await.unwrap();
        for i in 0..40 {
            tx.enqueue_job(start_time(), &job(&format!("kind-{i}")))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();

        // Two workers on their own connections claim in small batches until
        // the queue is empty; every job must go to exactly one of them.
        let claim_all = |worker: &'static str, store: siaga::store::Store| async move {
            let mut claimed = Vec::new();
            loop {
                let mut tx = store.write().await.unwrap();
                let jobs = tx
                    .claim_jobs(start_time(), worker, SignedDuration::from_secs(60), 3, &[])
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                if jobs.is_empty() {
                    return claimed;
                }
                claimed.extend(jobs.into_iter().map(|j| j.id));
                tokio::task::yield_now().await;
            }
        };
        let other = db.store().await;
        let (a, b) = tokio::join!(
            tokio::spawn(claim_all("a", store.clone())),
            tokio::spawn(claim_all("b", other))
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let a_set: BTreeSet<i64> = a.iter().copied().collect();
        let b_set: BTreeSet<i64> = b.iter().copied().collect();
        assert!(a_set.is_disjoint(&b_set), "a job was claimed twice");
        assert_eq!(a.len() + b.len(), 40, "every job was claimed");
    }
);

both_backends!(unique_keys_keep_one_live_job, |db: TestDb| async move {
    let store = db.store().await;
    let keyed = NewJob {
        unique_key: Some("escalate:alert-1".into()),
        ..job("escalate")
    };
    let mut tx = store.write().await.unwrap();
    let first = tx.enqueue_job(start_time(), &keyed).await.unwrap();
    assert!(first.is_some());
    assert_eq!(
        tx.enqueue_job(start_time(), &keyed).await.unwrap(),
        None,
        "second live job with the key is refused"
    );
    let claimed = tx
        .claim_jobs(start_time(), "w", SignedDuration::from_secs(60), 10, &[])
        .await
        .unwrap();
    assert!(
        tx.complete_job(&claimed[0], "w", start_time())
            .await
            .unwrap()
    );
    assert!(
        tx.enqueue_job(start_time(), &keyed)
            .await
            .unwrap()
            .is_some(),
        "a finished job frees its key"
    );
    tx.commit().await.unwrap();
});

both_backends!(
    cancelling_a_running_job_frees_its_key_and_refuses_its_completion,
    |db: TestDb| async move {
        let store = db.store().await;
        let keyed = NewJob {
            unique_key: Some("escalation:9".into()),
            ..job("escalation.step")
        };
        let mut tx = store.write().await.unwrap();
        tx.enqueue_job(start_time(), &keyed).await.unwrap().unwrap();
        let claimed = tx
            .claim_jobs(start_time(), "w", SignedDuration::from_secs(60), 10, &[])
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(tx.cancel_job("escalation:9", start_time()).await.unwrap());
        assert!(
            tx.enqueue_job(start_time(), &keyed)
                .await
                .unwrap()
                .is_some(),
            "the key is free for a successor"
        );
        assert!(
            !tx.complete_job(&claimed[0], "w", start_time())
                .await
                .unwrap(),
            "the cancelled job cannot complete"
        );
        assert!(
            !tx.cancel_job("no-such-key", start_time()).await.unwrap(),
            "nothing to cancel"
        );
        tx.commit().await.unwrap();
    }
);

// A batch's writes and jobs go together (on PostgreSQL in one
// statement): the jobs a live unique key keeps out are left out of the
// ids returned, the rest are stored with the writes, in a plain write and
// in an inline one alike.
both_backends!(
    jobs_are_enqueued_with_a_set_of_writes,
    |db: TestDb| async move {
        let store = db.store().await;
        let keyed = NewJob {
            unique_key: Some("escalate:alert-7".into()),
            ..job("escalate")
        };
        let mut tx = store.write().await.unwrap();
        tx.enqueue_job(start_time(), &keyed).await.unwrap();
        tx.commit().await.unwrap();
        for inline in [false, true] {
            let mut tx = if inline {
                store.write_inline().await.unwrap()
            } else {
                store.write().await.unwrap()
            };
            let event = NewEvent::new(
                &Actor::system("test"),
                "test.batched",
                Subject::new("test", i64::from(inline)),
            );
            let events = [event];
            let mut writes = tx.writes();
            writes.events(start_time(), &events);
            let fresh = job(if inline { "inline" } else { "plain" });
            let ids = tx
                .apply_and_enqueue(writes, start_time(), &[keyed.clone(), fresh])
                .await
                .unwrap();
            assert_eq!(
                ids.len(),
                1,
                "inline {inline}: the keyed job is live already"
            );
            tx.commit().await.unwrap();
            let mut tx = store.read().await.unwrap();
            let stored = tx.job(ids[0]).await.unwrap();
            assert_eq!(stored.kind, if inline { "inline" } else { "plain" });
            let logged = tx
                .list_events(&EventFilter {
                    subject_kind: Some("test".into()),
                    limit: 10,
                    ..EventFilter::default()
                })
                .await
                .unwrap();
            assert_eq!(logged.len(), 1 + usize::from(inline), "inline {inline}");
        }
    }
);

both_backends!(jobs_survive_a_restart, |db: TestDb| async move {
    let store = db.store().await;
    let mut tx = store.write().await.unwrap();
    let id = tx
        .enqueue_job(start_time(), &job("remind"))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    // A claimed job whose worker dies mid-run...
    let mut tx = store.write().await.unwrap();
    let first = tx
        .claim_jobs(start_time(), "dies", SignedDuration::from_secs(30), 10, &[])
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    tx.commit().await.unwrap();
    store.close().await;
    drop(store);

    // ...is still there after a restart, and claimed again once its lease ran out.
    let store = db.store().await;
    let mut tx = store.write().await.unwrap();
    let early = tx
        .claim_jobs(
            start_time() + SignedDuration::from_secs(10),
            "new",
            SignedDuration::from_secs(30),
            10,
            &[],
        )
        .await
        .unwrap();
    assert!(early.is_empty(), "the lease still holds");
    let later = tx
        .claim_jobs(
            start_time() + SignedDuration::from_secs(31),
            "new",
            SignedDuration::from_secs(30),
            10,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].id, later[0].attempts, later[0].kind.as_str()),
        (id, 2, "remind")
    );
    let late = start_time() + SignedDuration::from_secs(40);
    assert!(
        !tx.renew_job_lease(&first[0], "dies", late).await.unwrap(),
        "the old worker cannot take its lease back"
    );
    assert!(
        !tx.complete_job(&first[0], "dies", late).await.unwrap(),
        "the old worker no longer holds it"
    );
    // Even a worker of the same name cannot complete an older claim.
    let mut stale = later[0].clone();
    stale.attempts = 1;
    assert!(!tx.complete_job(&stale, "new", late).await.unwrap());
    assert!(tx.renew_job_lease(&later[0], "new", late).await.unwrap());
    assert!(tx.complete_job(&later[0], "new", late).await.unwrap());
    tx.commit().await.unwrap();
});

both_backends!(
    failed_jobs_retry_with_backoff_then_go_dead,
    |db: TestDb| async move {
        let t = db.app().await;
        let mut tx = t.app.store.write().await.unwrap();
        let id = tx
            .enqueue_job(
                t.clock.now(),
                &NewJob {
                    max_attempts: 3,
                    ..NewJob::new("no-such-kind", json!({}), t.clock.now())
                },
            )
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
        let runner = JobRunner {
            backoff: Backoff {
                base: SignedDuration::from_secs(10),
                max: SignedDuration::from_secs(600),
                jitter: 0.0,
            },
            ..JobRunner::default()
        };

        assert_eq!(runner.run_once(&t.app, t.clock.now()).await.unwrap(), 1);
        let job = t.app.store.read().await.unwrap().job(id).await.unwrap();
        assert_eq!((job.state, job.attempts), (JobState::Pending, 1));
        assert!(
            job.last_error
                .as_deref()
                .unwrap()
                .contains("no handler for job kind `no-such-kind`")
        );
        assert_eq!(
            job.run_at,
            t.clock.now() + SignedDuration::from_secs(10),
            "first retry after the base delay"
        );

        // Not due before its retry time.
        t.clock.advance(SignedDuration::from_secs(9));
        assert_eq!(runner.run_once(&t.app, t.clock.now()).await.unwrap(), 0);
        t.clock.advance(SignedDuration::from_secs(1));
        assert_eq!(runner.run_once(&t.app, t.clock.now()).await.unwrap(), 1);
        let job = t.app.store.read().await.unwrap().job(id).await.unwrap();
        assert_eq!(
            job.run_at,
            t.clock.now() + SignedDuration::from_secs(20),
            "the delay doubles"
        );

        t.clock.advance(SignedDuration::from_secs(20));
        assert_eq!(runner.run_once(&t.app, t.clock.now()).await.unwrap(), 1);
        let job = t.app.store.read().await.unwrap().job(id).await.unwrap();
        assert_eq!(
            (job.state, job.attempts),
            (JobState::Dead, 3),
            "dead after its last attempt"
        );
        t.clock.advance(SignedDuration::from_hours(1));
        assert_eq!(
            runner.run_once(&t.app, t.clock.now()).await.unwrap(),
            0,
            "dead jobs are not run"
        );

        let dead = t.app.jobs(Some(JobState::Dead), None, None).await.unwrap();
        assert_eq!(dead.items.iter().map(|j| j.id).collect::<Vec<_>>(), [id]);
        assert_eq!(t.app.queue_depth().await.unwrap().dead, 1);

        // An admin can give it another go.
        let retried = t
            .app
            .retry_dead_job(&siaga::domain::event::Actor::system("test"), id)
            .await
            .unwrap();
        assert_eq!((retried.state, retried.attempts), (JobState::Pending, 0));
        assert!(matches!(
            t.app
                .retry_dead_job(&siaga::domain::event::Actor::system("test"), id)
                .await,
            Err(siaga::app::Error::Conflict(_))
        ));
    }
);

/// Enqueues `job` due at the start time, commits, and claims it as `w`.
async fn enqueue_and_claim(store: &Store, job: &NewJob) -> Job {
    let mut tx = store.write().await.unwrap();
    tx.enqueue_job(start_time(), job).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write().await.unwrap();
    let mut claimed = tx
        .claim_jobs(start_time(), "w", SignedDuration::from_secs(60), 1, &[])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.len(), 1, "the job just enqueued is claimed");
    claimed.remove(0)
}

/// Fails `claimed`'s attempt, retrying at `retry_at` if it has attempts
/// left, and commits; returns the job's state after.
async fn fail_attempt(store: &Store, claimed: &Job, retry_at: Timestamp) -> Option<JobState> {
    let mut tx = store.write().await.unwrap();
    let state = tx
        .fail_job(claimed, "w", start_time(), "boom", Some(retry_at))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    state
}

both_backends!(
    a_failed_attempt_tells_the_runner_when_to_retry,
    |db: TestDb| async move {
        let store = db.store().await;
        let claimed = enqueue_and_claim(&store, &job("flaky")).await;
        assert_eq!(
            store.untaken_jobs_due(),
            Some(start_time()),
            "the enqueue's own news"
        );

        let retry_at = start_time() + SignedDuration::from_secs(30);
        let state = fail_attempt(&store, &claimed, retry_at).await;
        assert_eq!(state, Some(JobState::Pending));
        // Without this the runner would find the retry only at its next
        // look, up to its idle wait late.
        assert_eq!(store.untaken_jobs_due(), Some(retry_at));
    }
);

both_backends!(
    a_last_failed_attempt_leaves_the_runner_asleep,
    |db: TestDb| async move {
        let store = db.store().await;
        let once = NewJob {
            max_attempts: 1,
            ..job("fragile")
        };
        let claimed = enqueue_and_claim(&store, &once).await;
        assert_eq!(store.untaken_jobs_due(), Some(start_time()));

        let retry_at = start_time() + SignedDuration::from_secs(30);
        let state = fail_attempt(&store, &claimed, retry_at).await;
        assert_eq!(state, Some(JobState::Dead));
        assert_eq!(store.untaken_jobs_due(), None, "a dead job falls due never");

        // Retrying it by hand makes it due now, and says so.
        let mut tx = store.write().await.unwrap();
        let retried = tx.retry_dead_job(claimed.id, start_time()).await.unwrap();
        tx.commit().await.unwrap();
        assert!(retried.is_some());
        assert_eq!(store.untaken_jobs_due(), Some(start_time()));
        // A second retry finds no dead job and has no news.
        let mut tx = store.write().await.unwrap();
        let again = tx.retry_dead_job(claimed.id, start_time()).await.unwrap();
        tx.commit().await.unwrap();
        assert!(again.is_none());
        assert_eq!(store.untaken_jobs_due(), None);
    }
);

both_backends!(
    periodic_jobs_reschedule_themselves,
    |db: TestDb| async move {
        let t = db.app().await;
        siaga::workers::jobs::schedule_periodic_jobs(&t.app)
            .await
            .unwrap();
        siaga::workers::jobs::schedule_periodic_jobs(&t.app)
            .await
            .unwrap();
        let kinds = |jobs: &[siaga::domain::job::Job]| -> BTreeSet<String> {
            jobs.iter().map(|j| j.kind.clone()).collect()
        };
        let periodic: BTreeSet<String> = ["jobs.purge", "messages.purge", "sessions.purge"]
            .map(String::from)
            .into();
        let pending = t
            .app
            .jobs(Some(JobState::Pending), None, None)
            .await
            .unwrap();
        assert_eq!(pending.items.len(), 3, "scheduling twice keeps one of each");
        assert_eq!(kinds(&pending.items), periodic);
        let runner = JobRunner::default();
        assert_eq!(runner.run_once(&t.app, t.clock.now()).await.unwrap(), 3);
        let pending = t
            .app
            .jobs(Some(JobState::Pending), None, None)
            .await
            .unwrap();
        assert_eq!(kinds(&pending.items), periodic);
        for job in &pending.items {
            assert_eq!(job.run_at, t.clock.now() + SignedDuration::from_hours(1));
        }
        let done = t.app.jobs(Some(JobState::Done), None, None).await.unwrap();
        assert_eq!(kinds(&done.items), periodic);
    }
);

both_backends!(
    finished_jobs_are_purged_once_kept_long_enough,
    |db: TestDb| async move {
        let t = db.app().await;
        let now = t.clock.now();
        let worker = "test-worker";
        let lease = SignedDuration::from_secs(60);
        // Finished a week ago: one done, one dead, and more cancelled ones
        // than one purge transaction takes.
        let mut tx = t.app.store.write().await.unwrap();
        for kind in ["old-done", "old-dead"] {
            tx.enqueue_job(
                now,
                &NewJob {
                    max_attempts: 1,
                    ..NewJob::new(kind, json!({}), now)
                },
            )
            .await
            .unwrap();
        }
        let cancelled: Vec<NewJob> = (0..2_345)
            .map(|i| NewJob {
                unique_key: Some(format!("cancelled-{i}")),
                ..NewJob::new(
                    "old-cancelled",
                    json!({}),
                    now + SignedDuration::from_hours(1),
                )
            })
            .collect();
        tx.enqueue_jobs(now, &cancelled).await.unwrap();
        for i in 0..cancelled.len() {
            assert!(tx.cancel_job(&format!("cancelled-{i}"), now).await.unwrap());
        }
        for job in tx.claim_jobs(now, worker, lease, 10, &[]).await.unwrap() {
            match job.kind.as_str() {
                "old-done" => assert!(tx.complete_job(&job, worker, now).await.unwrap()),
                _ => {
                    let state = tx
                        .fail_job(&job, worker, now, "no", Some(now))
                        .await
                        .unwrap();
                    assert_eq!(state, Some(JobState::Dead));
                }
            }
        }
        tx.commit().await.unwrap();
        // Finished a day later: not old enough yet.
        t.clock.advance(SignedDuration::from_hours(24));
        let later = t.clock.now();
        let mut tx = t.app.store.write().await.unwrap();
        tx.enqueue_job(later, &NewJob::new("recent-done", json!({}), later))
            .await
            .unwrap();
        let claimed = tx.claim_jobs(later, worker, lease, 10, &[]).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(tx.complete_job(&claimed[0], worker, later).await.unwrap());
        tx.commit().await.unwrap();

        t.clock.advance(SignedDuration::from_hours(6 * 24 + 1));
        siaga::workers::jobs::schedule_periodic_jobs(&t.app)
            .await
            .unwrap();
        let runner = JobRunner {
            keep_finished: SignedDuration::from_hours(7 * 24),
            ..JobRunner::default()
        };
        assert_eq!(runner.run_once(&t.app, t.clock.now()).await.unwrap(), 3);

        let left = |state| {
            let app = t.app.clone();
            async move {
                let mut kinds = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let page = app
                        .jobs(Some(state), cursor.as_deref(), None)
                        .await
                        .unwrap();
                    kinds.extend(page.items.iter().map(|j| j.kind.clone()));
                    match page.next_cursor {
                        Some(next) => cursor = Some(next),
                        None => return kinds,
                    }
                }
            }
        };
        assert_eq!(
            left(JobState::Cancelled).await,
            Vec::<String>::new(),
            "all 2,345 purged"
        );
        assert_eq!(left(JobState::Dead).await, ["old-dead"], "dead jobs stay");
        let mut done = left(JobState::Done).await;
        done.sort();
        assert_eq!(
            done,
            [
                "jobs.purge",
                "messages.purge",
                "recent-done",
                "sessions.purge"
            ],
            "the week-old done job went; the day-old one and the purges just run stay"
        );
    }
);

both_backends!(
    a_slow_receiver_does_not_hold_up_the_deliveries_beside_it,
    |db: TestDb| async move {
        use axum::routing::post;
        use std::sync::{Arc, Mutex};
        use std::time::{Duration, Instant};
        // `/slow` answers after two seconds; every request's arrival and
        // answer are logged in order.
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let hook = |name: &'static str, hold: Duration| {
            let log = log.clone();
            post(move || async move {
                log.lock().unwrap().push(format!("{name} arrived"));
                tokio::time::sleep(hold).await;
                log.lock().unwrap().push(format!("{name} answered"));
                "ok"
            })
        };
        let receiver = axum::Router::new()
            .route("/slow", hook("slow", Duration::from_secs(2)))
            .route("/fast", hook("fast", Duration::ZERO));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, receiver).await });

        let t = db.app().await;
        let delivery = |id: &str, path: &str| {
            NewJob::new(
                "notification.deliver",
                json!({
                    "id": id, "person": "someone", "channel": "webhook",
                    "address": format!("{url}{path}"), "title": "Checkout is down", "text": "…",
                }),
                t.clock.now(),
            )
        };
        let mut tx = t.app.store.write().await.unwrap();
        tx.enqueue_job(t.clock.now(), &delivery("slow-1", "/slow"))
            .await
            .unwrap();
        tx.enqueue_job(t.clock.now(), &delivery("fast-1", "/fast"))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let started = Instant::now();
        let ran = JobRunner::default()
            .run_once(&t.app, t.clock.now())
            .await
            .unwrap();
        assert_eq!(ran, 2);
        assert!(started.elapsed() >= Duration::from_secs(2));
        let log = log.lock().unwrap().clone();
        let at = |entry: &str| log.iter().position(|e| e == entry).unwrap();
        assert!(
            at("fast answered") < at("slow answered"),
            "the fast delivery went out while the slow one was held: {log:?}"
        );
    }
);

both_backends!(
    received_messages_are_purged_once_kept_long_enough,
    |db: TestDb| async move {
        use siaga::domain::auth::Role;
        use siaga::domain::org::IntegrationKind;
        let t = db.app().await;
        t.apply_shop().await;
        let org = t.app.org().await.unwrap();
        let key = org.service("storefront").unwrap().integrations[0]
            .key
            .clone()
            .unwrap();
        let target = t
            .app
            .integration_for_key(&key, IntegrationKind::Generic)
            .await
            .unwrap();
        let trigger = async |summary: &str| {
            let body = json!({"action": "trigger", "dedup_key": "slow-pages", "summary": summary});
            let signals =
                siaga::formats::generic::parse(body.to_string().as_bytes(), &Default::default())
                    .unwrap();
            let ingested = t
                .app
                .ingest(&target, "generic", body.to_string(), signals)
                .await
                .unwrap();
            ingested[0].alert_id.unwrap()
        };
        let alert_id = trigger("first").await;
        trigger("second").await;
        t.clock.advance(SignedDuration::from_hours(29 * 24));
        trigger("a month on").await;
        t.clock.advance(SignedDuration::from_hours(2 * 24));

        siaga::workers::jobs::schedule_periodic_jobs(&t.app)
            .await
            .unwrap();
        JobRunner::default()
            .run_once(&t.app, t.clock.now())
            .await
            .unwrap();
        let detail = t.app.alert_detail(alert_id).await.unwrap();
        let bodies: Vec<&str> = detail.events.iter().map(|e| e.body.as_str()).collect();
        assert_eq!(
            bodies.len(),
            1,
            "only the event of 2 days ago is left: {bodies:?}"
        );
        assert!(bodies[0].contains("a month on"), "{bodies:?}");
        assert_eq!(
            detail.alert.event_count, 3,
            "the alert still counts all three"
        );
        assert_eq!(detail.alert.summary, "a month on");

        // Its page says why it lists fewer events than it counts.
        let server = t.serve().await;
        let cookie = t
            .web_session(&server, "viewer@k.example", Role::Viewer)
            .await;
        let page = server.page(&cookie, &format!("/alerts/{alert_id}")).await;
        assert!(page.contains("id=\"timeline-partial\""), "{page}");
        assert!(page.contains("1 of 3 received events listed"), "{page}");
    }
);

both_backends!(
    a_worker_takes_back_its_own_lapsed_claims_but_not_the_jobs_it_runs,
    |db: TestDb| async move {
        // Recording a job's outcome can fail (the database away for a
        // moment): the claim stays under this worker's name, its lease
        // lapses, and the job must run again, here too, not only on
        // another replica.
        let store = db.store().await;
        let lease = SignedDuration::from_secs(30);
        let mut tx = store.write().await.unwrap();
        let lost = tx
            .enqueue_job(start_time(), &job("lost"))
            .await
            .unwrap()
            .unwrap();
        let busy = tx
            .enqueue_job(start_time(), &job("busy"))
            .await
            .unwrap()
            .unwrap();
        let claimed = tx
            .claim_jobs(start_time(), "me", lease, 10, &[])
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        tx.commit().await.unwrap();

        let later = start_time() + SignedDuration::from_secs(31);
        let mut tx = store.write().await.unwrap();
        let again = tx
            .claim_jobs(later, "me", lease, 10, &[busy])
            .await
            .unwrap();
        let ids: Vec<i64> = again.iter().map(|j| j.id).collect();
        assert_eq!(ids, [lost], "the lost claim, not the job still running");
        assert_eq!(again[0].attempts, 2);
        tx.commit().await.unwrap();
    }
);
