use std::sync::Arc;

use events::Subscriber;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Backend, TestApp, event_types};
use crate::on_both_backends;

on_both_backends!(
    each_operation_gives_exactly_one_audit_entry,
    concurrent_users_lose_nothing,
    a_redelivered_event_gives_one_row
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
