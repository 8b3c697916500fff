use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Connection;

use crate::harness::{self, Backend, ServerProcess, TestApp, User, event_types};
use crate::on_both_backends;

on_both_backends!(
    an_audit_store_outage_loses_nothing,
    a_hard_kill_after_commits_loses_nothing,
    an_outbox_row_that_does_not_decode_is_set_aside_and_the_rest_delivered
);

/// Makes the audit store refuse writes until the returned guard is released: an exclusive
/// transaction on SQLite, an exclusive table lock on PostgreSQL. Real locks on the real files.
enum AuditLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl AuditLock {
    async fn take(audit_url: &str) -> Self {
        if audit_url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(audit_url).await.unwrap();
            sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await.unwrap();
            sqlx::query("INSERT INTO audit_log (event_id, timestamp) VALUES (x'00', '1970-01-01T00:00:00+00:00')")
                .execute(&mut conn)
                .await
                .unwrap();
            AuditLock::Sqlite(conn)
        } else {
            let mut conn = sqlx::PgConnection::connect(audit_url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
            sqlx::query("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
                .execute(&mut conn)
                .await
                .unwrap();
            AuditLock::Postgres(conn)
        }
    }

    async fn release(self) {
        match self {
            AuditLock::Sqlite(mut c) => sqlx::query("ROLLBACK").execute(&mut c).await.map(|_| ()).unwrap(),
            AuditLock::Postgres(mut c) => sqlx::query("ROLLBACK").execute(&mut c).await.map(|_| ()).unwrap(),
        }
    }
}

async fn outbox_backlog(api_url: &str) -> i64 {
    let outbox = api::store::relay_outbox(db::Database::connect(api_url, 1).await.unwrap());
    outbox.backlog().await.unwrap()
}

/// Create, update, complete and delete `rounds` tasks; every call must succeed.
async fn churn(client: &reqwest::Client, base: &str, user: &User, rounds: usize) -> usize {
    for i in 0..rounds {
        let (s, task) = harness::call(
            client,
            base,
            Method::POST,
            &format!("/api/{}/tasks", user.id),
            Some(&user.token),
            Some(json!({"title": format!("t{i}")})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let path = format!("/api/{}/tasks/{}", user.id, task["id"]);
        let (s, _) = harness::call(
            client,
            base,
            Method::PUT,
            &path,
            Some(&user.token),
            Some(json!({"title": format!("t{i}!")})),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = harness::call(
            client,
            base,
            Method::PATCH,
            &format!("{path}/complete"),
            Some(&user.token),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = harness::call(client, base, Method::DELETE, &path, Some(&user.token), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    rounds * 4
}

fn assert_each_once(trail: &[serde_json::Value], expected: usize) {
    assert_eq!(
        trail.len(),
        expected,
        "trail holds {} of {expected} events",
        trail.len()
    );
    let mut ids: Vec<&str> = trail.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), expected, "an event is stored twice");
}

async fn an_audit_store_outage_loses_nothing(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let ada = app.signup().await;
    let lock = AuditLock::take(&app.audit_database_url()).await;

    // The api keeps answering while the audit store is unavailable; events queue in the outbox.
    let expected = churn(&app.client, &app.base, &ada, 25).await;
    let backlog = outbox_backlog(&app.api_database_url()).await;
    assert!(
        backlog > 0,
        "events should wait in the outbox while the audit store is locked"
    );
    let (s, body) = app
        .call(Method::GET, &format!("/api/{}/tasks", ada.id), Some(&ada.token), None)
        .await;
    assert_eq!((s, body), (StatusCode::OK, json!([])));

    lock.release().await;
    let trail = harness::wait_for_trail(&app.client, &app.base, &ada, expected, Duration::from_secs(30)).await;
    assert_each_once(&trail, expected);
    assert_eq!(
        &event_types(&trail)[..4],
        ["created", "updated", "completed", "deleted"]
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while outbox_backlog(&app.api_database_url()).await > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(outbox_backlog(&app.api_database_url()).await, 0);
}

async fn a_hard_kill_after_commits_loses_nothing(backend: Backend) {
    let data_dir = harness::fresh_dir();
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(harness::fresh_postgres_database().await),
    };
    let client = reqwest::Client::new();
    let mut server = ServerProcess::start(&data_dir, database_url.as_deref()).await;
    let audit_url = database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("audit.sqlite").display()));
    let api_url = database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("api.sqlite").display()));
    let ada = harness::signup(&client, &server.base).await;

    // Some events delivered, then the audit store stalls so the rest wait in the outbox.
    let mut expected = churn(&client, &server.base, &ada, 3).await;
    harness::wait_for_trail(&client, &server.base, &ada, expected, Duration::from_secs(5)).await;
    let lock = AuditLock::take(&audit_url).await;
    expected += churn(&client, &server.base, &ada, 10).await;
    let backlog = outbox_backlog(&api_url).await;
    assert!(backlog > 0);

    server.kill_hard();
    lock.release().await;
    assert_eq!(outbox_backlog(&api_url).await, backlog, "the outbox survives SIGKILL");

    let server = ServerProcess::start(&data_dir, database_url.as_deref()).await;
    let trail = harness::wait_for_trail(&client, &server.base, &ada, expected, Duration::from_secs(20)).await;
    assert_each_once(&trail, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_exits_cleanly() {
    let data_dir = harness::fresh_dir();
    let client = reqwest::Client::new();
    let mut server = ServerProcess::start(&data_dir, None).await;
    let ada = harness::signup(&client, &server.base).await;

    let mut in_flight = Vec::new();
    for i in 0..30 {
        let (client, base, ada) = (client.clone(), server.base.clone(), ada.clone());
        in_flight.push(tokio::spawn(async move {
            client
                .post(format!("{base}/api/{}/tasks", ada.id))
                .bearer_auth(&ada.token)
                .json(&json!({"title": format!("in flight {i}")}))
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let status = server.terminate(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status after SIGTERM: {status}");

    let mut created = 0;
    for handle in in_flight {
        match handle.await.unwrap() {
            Ok(s) => {
                assert_eq!(s, StatusCode::CREATED, "an accepted request must complete");
                created += 1;
            }
            Err(e) => assert!(e.is_connect() || e.is_request(), "unexpected failure: {e}"),
        }
    }
    let server = ServerProcess::start(&data_dir, None).await;
    let (_, tasks) = harness::call(
        &client,
        &server.base,
        Method::GET,
        &format!("/api/{}/tasks", ada.id),
        Some(&ada.token),
        None,
    )
    .await;
    assert_eq!(tasks.as_array().unwrap().len(), created);
    let trail = harness::wait_for_trail(&client, &server.base, &ada, created, Duration::from_secs(10)).await;
    assert_each_once(&trail, created);
}

/// Whether the server's relay reports itself the leader (None until it has decided).
async fn relay_leader(client: &reqwest::Client, base: &str) -> Option<bool> {
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("tasktrail_outbox_relay_leader "))
        .map(|value| value.trim() == "1")
}

/// Two processes on one PostgreSQL database (as two api replicas): exactly one runs the relay;
/// when it is killed, the other takes over and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_relay_among_replicas_and_the_standby_takes_over() {
    let database = harness::fresh_postgres_database().await;
    let mut first = ServerProcess::start(&harness::fresh_dir(), Some(&database)).await;
    let second = ServerProcess::start(&harness::fresh_dir(), Some(&database)).await;
    let client = reqwest::Client::new();

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let leaders = loop {
        let leaders = (
            relay_leader(&client, &first.base).await,
            relay_leader(&client, &second.base).await,
        );
        if leaders.0.is_some() && leaders.1.is_some() || std::time::Instant::now() > deadline {
            break leaders;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        leaders,
        (Some(true), Some(false)),
        "the first to start leads, the other stands by"
    );

    // Changes made through the standby are delivered by the leader.
    let user = harness::signup(&client, &second.base).await;
    for i in 0..5 {
        harness::create_task(&client, &second.base, &user, &format!("before {i}")).await;
    }
    let trail = harness::wait_for_trail(&client, &second.base, &user, 5, Duration::from_secs(5)).await;
    assert_eq!(trail.len(), 5);

    first.kill_hard();
    for i in 0..5 {
        harness::create_task(&client, &second.base, &user, &format!("after {i}")).await;
    }
    let trail = harness::wait_for_trail(&client, &second.base, &user, 10, Duration::from_secs(15)).await;
    assert_eq!(trail.len(), 10, "the standby took over and delivered everything");
    assert_eq!(relay_leader(&client, &second.base).await, Some(true));
}

/// PostgreSQL cutting the app's connections while users work (what a database restart or a
/// failover does to them): every request answers its success or 503 `unavailable` with
/// `Retry-After`, never 500; every acknowledged task is stored, and every stored task has
/// exactly one audit entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_by_the_database_answer_503_never_500() {
    let app = Arc::new(TestApp::spawn(Backend::Postgres).await);
    let ada = app.signup().await;
    let database = app.api_database_url().rsplit_once('/').unwrap().1.to_owned();
    let admin = std::env::var("TASKTRAIL_TEST_DATABASE_URL").unwrap();
    let mut admin = sqlx::PgConnection::connect(&admin).await.unwrap();

    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (app, ada) = (app.clone(), ada.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for i in 0..40 {
                    let response = app
                        .client
                        .post(format!("{}/api/{}/tasks", app.base, ada.id))
                        .bearer_auth(&ada.token)
                        .json(&json!({"title": format!("w{w} t{i}")}))
                        .send()
                        .await
                        .unwrap();
                    let retry_after = response.headers().get("retry-after").is_some();
                    let status = response.status();
                    let body: serde_json::Value = response.json().await.unwrap();
                    answers.push((status, retry_after, body));
                }
                answers
            })
        })
        .collect();
    let mut cut = 0;
    while !workers.iter().all(|w| w.is_finished()) && cut < 400 {
        // The app's connections only: an autovacuum worker on the busy database is the
        // superuser's, which we may not (and need not) terminate.
        let killed: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        )
        .bind(&database)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        cut += killed.len();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(cut > 0, "no connection was cut");

    let mut acknowledged = Vec::new();
    let mut unavailable = 0;
    for worker in workers {
        for (status, retry_after, body) in worker.await.unwrap() {
            match status {
                StatusCode::CREATED => acknowledged.push(body["id"].as_i64().unwrap()),
                StatusCode::SERVICE_UNAVAILABLE => {
                    assert_eq!(body["error"]["code"], "unavailable", "{body}");
                    assert!(retry_after, "a 503 says when to retry");
                    unavailable += 1;
                }
                other => panic!("answered {other}: {body}"),
            }
        }
    }
    eprintln!(
        "{cut} connections cut: {} tasks acknowledged, {unavailable} answers 503",
        acknowledged.len()
    );
    // A 503 may still have committed (the answer was lost with the connection): count what
    // is stored, which must hold every acknowledged task.
    let (s, tasks) = app
        .call(Method::GET, &format!("/api/{}/tasks", ada.id), Some(&ada.token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{tasks}");
    let stored: Vec<i64> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged task {id} is not stored");
    }
    let trail = harness::wait_for_trail(&app.client, &app.base, &ada, stored.len(), Duration::from_secs(60)).await;
    assert_each_once(&trail, stored.len());
}

/// Writes an outbox row whose payload is JSON but no task event (a bug, a hand edit, a
/// downgrade), ahead of everything written after it.
async fn insert_undecodable_outbox_row(api_url: &str) {
    let sql = "INSERT INTO outbox (event_id, user_id, payload, created_at) VALUES ($1, 'nobody', '{\"not\": \"an event\"}', $2)";
    if api_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(api_url).await.unwrap();
        sqlx::query(sql)
            .bind(uuid::Uuid::new_v4())
            .bind(chrono::Utc::now())
            .execute(&mut conn)
            .await
            .unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(api_url).await.unwrap();
        sqlx::query(sql)
            .bind(uuid::Uuid::new_v4())
            .bind(chrono::Utc::now())
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

async fn dead_letters(api_url: &str) -> Vec<(i64, String)> {
    let sql = "SELECT outbox_id, payload FROM outbox_dead_letters ORDER BY outbox_id";
    if api_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(api_url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(api_url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
    }
}

async fn an_outbox_row_that_does_not_decode_is_set_aside_and_the_rest_delivered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    insert_undecodable_outbox_row(&app.api_database_url()).await;
    app.create_task(&ada, "behind the bad row").await;

    let trail = app.wait_for_trail(&ada, 1).await;
    assert_eq!(
        event_types(&trail),
        ["created"],
        "the event behind the bad row is delivered"
    );
    let set_aside = dead_letters(&app.api_database_url()).await;
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    assert!(
        set_aside[0].1.contains("an event"),
        "the payload is kept: {set_aside:?}"
    );
    assert_eq!(outbox_backlog(&app.api_database_url()).await, 0);
}

/// The relay leader's lock connection is cut (a network blip, the database killing the
/// session) and a second process takes the lease: the old leader, which has not noticed yet,
/// gets nothing more to publish, and the new one delivers everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_lost_its_lock_publishes_nothing_more() {
    let url = harness::fresh_postgres_database().await;
    let database = db::Database::connect(&url, 4).await.unwrap();
    database.migrate(&api::store::MIGRATIONS).await.unwrap();
    let old_leader = api::store::relay_outbox(db::Database::connect(&url, 2).await.unwrap());
    let new_leader = api::store::relay_outbox(db::Database::connect(&url, 2).await.unwrap());
    assert!(old_leader.lead().await.unwrap());
    assert!(!new_leader.lead().await.unwrap(), "one leader at a time");

    let admin = std::env::var("TASKTRAIL_TEST_DATABASE_URL").unwrap();
    let mut admin = sqlx::PgConnection::connect(&admin).await.unwrap();
    let name = url.rsplit_once('/').unwrap().1;
    let cut: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = $1",
    )
    .bind(name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(cut.len(), 1, "the lock's session was cut");
    // The server ends the session asynchronously; the lock is free once the new one gets it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !new_leader.lead().await.unwrap() {
        assert!(std::time::Instant::now() < deadline, "the lock was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let tasks = api::store::open(database).tasks;
    let request = domain::task::CreateTaskRequest {
        title: "after the handover".into(),
        ..Default::default()
    };
    let (task, _) = tasks
        .create_task("ada", domain::NewTask::parse(request).unwrap())
        .await
        .unwrap();

    // The old leader still believes it leads (nothing has told it otherwise)...
    assert!(old_leader.lead().await.unwrap());
    // ...but its next read fails instead of handing it the new event to publish.
    let stale = old_leader.pending(100).await;
    assert!(stale.is_err(), "a stale leader read {:?}", stale.map(|b| b.len()));
    assert!(!old_leader.lead().await.unwrap(), "and then it stands by");
    assert!(
        old_leader.mark_delivered(&[1]).await.is_err(),
        "nor may it clear the outbox"
    );

    let batch = new_leader.pending(100).await.unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].event.task_id, task.id);
    new_leader.mark_delivered(&[batch[0].id]).await.unwrap();
    assert_eq!(new_leader.backlog().await.unwrap(), 0);
}
