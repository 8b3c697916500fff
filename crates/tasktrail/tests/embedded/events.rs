use std::sync::Arc;

use events::Subscriber;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Backend, TestApp, event_types};
use crate::on_both_backends;

on_both_backends!(
    each_operation_gives_exactly_one_audit_entry,
    concurrent_users_lose_nothing,
    a_redelivered_event_gives_one_row,
    one_users_concurrent_changes_are_numbered_in_commit_order,
    an_event_that_arrives_late_is_listed_after_the_tail_cursor
);

async fn each_operation_gives_exactly_one_audit_entry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    let task = app.create_task(&ada, "buy milk").await;
    let id = task["id"].as_i64().unwrap();
    let path = format!("/api/{}/tasks/{id}", ada.id);
    let (s, _) = app
        .call(
            Method::PUT,
            &path,
            Some(&ada.token),
            Some(json!({"description": "oat"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, done) = app
        .call(Method::PATCH, &format!("{path}/complete"), Some(&ada.token), None)
        .await;
    assert_eq!((s, done["completed"].as_bool()), (StatusCode::OK, Some(true)));
    let (s, _) = app
        .call(Method::PATCH, &format!("{path}/complete"), Some(&ada.token), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.call(Method::DELETE, &path, Some(&ada.token), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let trail = app.wait_for_trail(&ada, 5).await;
    assert_eq!(
        event_types(&trail),
        ["created", "updated", "completed", "updated", "deleted"]
    );
    // Let any stray duplicate arrive before counting again.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.trail(&ada).await.len(), 5);

    let entry = &trail[2];
    let keys: Vec<&str> = entry.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 7, "{entry}");
    for key in [
        "id",
        "event_id",
        "event_type",
        "user_id",
        "task_id",
        "event_data",
        "timestamp",
    ] {
        assert!(entry.get(key).is_some(), "audit entry lacks {key}: {entry}");
    }
    let event = &entry["event_data"];
    assert_eq!(event["event_id"], entry["event_id"]);
    assert_eq!(event["user_id"], ada.id.as_str());
    assert_eq!(event["task_id"], id);
    assert_eq!(event["event_type"], "completed");
    assert_eq!(event["task_data"]["title"], "buy milk");
    assert_eq!(event["task_data"]["description"], "oat");
    assert_eq!(event["task_data"]["completed"], true);
    assert!(
        uuid::Uuid::parse_str(event["event_id"].as_str().unwrap())
            .unwrap()
            .get_version_num()
            == 4
    );
    assert!(chrono::DateTime::parse_from_rfc3339(event["timestamp"].as_str().unwrap()).is_ok());
    // The deleted event carries the task's last state.
    assert_eq!(trail[4]["event_data"]["task_data"]["description"], "oat");

    // Bob sees none of it, and cannot read Ada's trail.
    assert!(app.trail(&bob).await.is_empty());
    let (s, _) = app
        .call(Method::GET, &format!("/api/{}/audit", ada.id), Some(&bob.token), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn concurrent_users_lose_nothing(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    const USERS: usize = 40;
    const TASKS_EACH: usize = 10;
    let mut handles = Vec::new();
    for _ in 0..USERS {
        let app = app.clone();
        handles.push(tokio::spawn(async move {
            let user = app.signup().await;
            for i in 0..TASKS_EACH {
                let task = app.create_task(&user, &format!("task {i}")).await;
                let path = format!("/api/{}/tasks/{}/complete", user.id, task["id"]);
                let (s, _) = app.call(Method::PATCH, &path, Some(&user.token), None).await;
                assert_eq!(s, StatusCode::OK);
            }
            user
        }));
    }
    let users: Vec<_> = futures::future::join_all(handles)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for user in &users {
        let trail = app.wait_for_trail(user, TASKS_EACH * 2).await;
        assert_eq!(trail.len(), TASKS_EACH * 2, "user {} lost events", user.id);
        let mut ids: Vec<&str> = trail.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), TASKS_EACH * 2);
        assert!(trail.iter().all(|e| e["user_id"] == user.id.as_str()));
    }
}

async fn a_redelivered_event_gives_one_row(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    app.create_task(&ada, "once").await;
    let trail = app.wait_for_trail(&ada, 1).await;
    let event: domain::TaskEvent = serde_json::from_value(trail[0]["event_data"].clone()).unwrap();

    // The same event delivered again, twice in one batch and once more: still one row.
    let store = audit::store::open(db::Database::connect(&app.audit_database_url(), 2).await.unwrap());
    let consumer = audit::AuditConsumer::new(store.clone(), std::time::Duration::from_secs(7 * 24 * 3600));
    consumer.handle(&[event.clone(), event.clone()]).await.unwrap();
    consumer.handle(std::slice::from_ref(&event)).await.unwrap();
    assert_eq!(store.record(&[event]).await.unwrap(), vec![false]);
    assert_eq!(app.trail(&ada).await.len(), 1);
}

/// One user's changes racing each other (two browser tabs, chat beside the UI): each event gets
/// the user's next number, 1, 2, 3... with none missing or repeated, and the trail lists them
/// in that order with timestamps that never go back.
async fn one_users_concurrent_changes_are_numbered_in_commit_order(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let ada = app.signup().await;
    let mut tasks = Vec::new();
    for i in 0..5 {
        tasks.push(
            app.create_task(&ada, &format!("task {i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // 60 changes at once: creates, edits and completions of the same few tasks.
    let changes = (0..60).map(|i| {
        let (app, ada, task) = (app.clone(), ada.clone(), tasks[i % tasks.len()]);
        tokio::spawn(async move {
            let (method, path, body) = match i % 3 {
                0 => (
                    Method::POST,
                    format!("/api/{}/tasks", ada.id),
                    Some(json!({"title": format!("new {i}")})),
                ),
                1 => (
                    Method::PUT,
                    format!("/api/{}/tasks/{task}", ada.id),
                    Some(json!({"description": format!("edit {i}")})),
                ),
                _ => (Method::PATCH, format!("/api/{}/tasks/{task}/complete", ada.id), None),
            };
            let (status, body) = app.call(method, &path, Some(&ada.token), body).await;
            assert!(status.is_success(), "{path}: {status} {body}");
        })
    });
    for change in futures::future::join_all(changes).await {
        change.unwrap();
    }

    let trail = app.wait_for_trail(&ada, 65).await;
    let numbers: Vec<i64> = trail
        .iter()
        .map(|e| {
            e["event_data"]["task_data"]["sequence"]
                .as_i64()
                .expect("every event is numbered")
        })
        .collect();
    assert_eq!(
        numbers,
        (1..=65).collect::<Vec<i64>>(),
        "the trail in number order, none missing"
    );
    let times: Vec<chrono::DateTime<chrono::Utc>> = trail
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "a later number never has an earlier timestamp: {times:?}"
    );
    // Another user's numbers start at 1 of their own.
    let bob = app.signup().await;
    app.create_task(&bob, "first").await;
    assert_eq!(
        app.wait_for_trail(&bob, 1).await[0]["event_data"]["task_data"]["sequence"],
        1
    );
}

/// An event stored late (redelivered from a dead-letter topic, or held up behind a fault) with
/// an old timestamp: a reader following the trail with `tail_cursor` still gets it.
async fn an_event_that_arrives_late_is_listed_after_the_tail_cursor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    app.create_task(&ada, "on time").await;
    let trail = app.wait_for_trail(&ada, 1).await;
    let path = format!("/api/{}/audit", ada.id);
    let (status, page) = app.call(Method::GET, &path, Some(&ada.token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["next_cursor"], serde_json::Value::Null, "one page");
    let tail = page["tail_cursor"].as_str().expect("a tail cursor").to_owned();
    let (_, nothing_new) = app
        .call(Method::GET, &format!("{path}?cursor={tail}"), Some(&ada.token), None)
        .await;
    assert_eq!(nothing_new["events"], json!([]));
    assert_eq!(
        nothing_new["tail_cursor"],
        tail.as_str(),
        "an empty page keeps the position"
    );

    // The late event: produced an hour before the one already shown.
    let mut late: domain::TaskEvent = serde_json::from_value(trail[0]["event_data"].clone()).unwrap();
    late.event_id = uuid::Uuid::new_v4();
    late.event_type = domain::EventType::Updated;
    late.timestamp -= chrono::Duration::hours(1);
    let store = audit::store::open(db::Database::connect(&app.audit_database_url(), 2).await.unwrap());
    let consumer = audit::AuditConsumer::new(store, std::time::Duration::from_secs(7 * 24 * 3600));
    consumer.handle(std::slice::from_ref(&late)).await.unwrap();

    let (status, page) = app
        .call(Method::GET, &format!("{path}?cursor={tail}"), Some(&ada.token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "the late event follows the cursor: {page}");
    assert_eq!(events[0]["event_id"], late.event_id.to_string());
    assert_ne!(page["tail_cursor"], tail.as_str(), "the tail moved past it");
}
