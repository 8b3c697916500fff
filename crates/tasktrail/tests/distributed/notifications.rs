//! Completion emails in distributed mode: the event goes api → Kafka → notify's sidecar →
//! notify, which asks the api for the owner's address through the sidecars and sends to the
//! stack's Mailpit (read back through its HTTP API). One email per completion, to its owner
//! only, none for a redelivered event, none when switched off, and sent once SMTP is back.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::stack::*;

const MAILPIT: &str = "http://127.0.0.1:8025";

/// The messages Mailpit holds for `address`, newest first, each in full.
async fn mail_to(http: &reqwest::Client, address: &str) -> Vec<Value> {
    let found: Value = http
        .get(format!("{MAILPIT}/api/v1/search"))
        .query(&[("query", format!("to:\"{address}\""))])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut full = Vec::new();
    for summary in found["messages"].as_array().cloned().unwrap_or_default() {
        let id = summary["ID"].as_str().unwrap();
        let message = http.get(format!("{MAILPIT}/api/v1/message/{id}")).send().await.unwrap();
        full.push(message.json().await.unwrap());
    }
    full
}

async fn email_of(http: &reqwest::Client, user: &User) -> String {
    let (_, me) = call(http, API, Method::GET, "/api/auth/me", Some(&user.token), None).await;
    me["email"].as_str().unwrap().to_owned()
}

async fn complete(http: &reqwest::Client, user: &User, task: &Value) {
    let path = format!("/api/{}/tasks/{}/complete", user.id, task["id"]);
    let (status, body) = call(http, API, Method::PATCH, &path, Some(&user.token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The user's notifications, read through the api's public origin (proxied to notify).
async fn notifications(http: &reqwest::Client, user: &User) -> Vec<Value> {
    let path = format!("/api/{}/notifications", user.id);
    let (status, page) = call(http, API, Method::GET, &path, Some(&user.token), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["notifications"].as_array().unwrap().clone()
}

/// Waits until the user has `count` notifications, none of them pending.
async fn settled(http: &reqwest::Client, user: &User, count: usize, timeout: Duration) -> Vec<Value> {
    eventually(
        &format!("{count} settled notifications of {}", user.id),
        timeout,
        || async {
            let list = notifications(http, user).await;
            list.len() == count && list.iter().all(|n| n["status"] != "pending")
        },
    )
    .await;
    notifications(http, user).await
}

/// Publishes through the api's sidecar exactly as the relay does: a redelivery.
async fn publish_again(event: &Value) {
    let response = client()
        .post(format!("{API_SIDECAR}/v1.0/publish/kafka-pubsub/{TOPIC}"))
        .query(&[
            ("metadata.partitionKey", event["user_id"].as_str().unwrap()),
            ("metadata.cloudevent.id", event["event_id"].as_str().unwrap()),
        ])
        .json(event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// One completion, one email to the owner with the subject and the link to the UI; the same
/// event delivered again sends nothing; another user sees and gets none of it; switched off,
/// the next completion is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_through_kafka_emails_its_owner_once() {
    let _turn = exclusive_stack().await;
    let http = client();
    let ada = new_user(&http).await;
    let bob = new_user(&http).await;
    let ada_email = email_of(&http, &ada).await;

    let task = create_task(&http, API, &ada, "water the plants").await;
    complete(&http, &ada, &task).await;
    let list = settled(&http, &ada, 1, Duration::from_secs(15)).await;
    assert_eq!(list[0]["status"], "sent", "{list:?}");
    assert_eq!(list[0]["recipient"], ada_email.as_str());
    assert_eq!(list[0]["task_title"], "water the plants");

    let mail = mail_to(&http, &ada_email).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(mail[0]["Subject"], "Completed: water the plants");
    assert_eq!(mail[0]["From"]["Address"], "noreply@tasktrail.localhost");
    let text = mail[0]["Text"].as_str().unwrap();
    assert!(text.contains("http://127.0.0.1:8080/"), "links to the UI: {text}");

    // Bob sees none of it and may not read Ada's list.
    assert!(notifications(&http, &bob).await.is_empty());
    let (status, _) = call(
        &http,
        API,
        Method::GET,
        &format!("/api/{}/notifications", ada.id),
        Some(&bob.token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The completed event once more, as a retrying relay would publish it; then a marker
    // completion behind it on the same partition, so that its email proves the duplicate was
    // consumed before it.
    let trail = wait_for_user_trail(&http, &ada, 2, Duration::from_secs(10)).await;
    let completed = trail.iter().find(|e| e["event_type"] == "completed").unwrap()["event_data"].clone();
    publish_again(&completed).await;
    let marker = create_task(&http, API, &ada, "after the duplicate").await;
    complete(&http, &ada, &marker).await;
    let list = settled(&http, &ada, 2, Duration::from_secs(15)).await;
    assert_eq!(list[0]["task_title"], "after the duplicate", "newest first: {list:?}");
    let mail = mail_to(&http, &ada_email).await;
    let subjects: Vec<&str> = mail.iter().map(|m| m["Subject"].as_str().unwrap()).collect();
    assert_eq!(
        subjects,
        ["Completed: after the duplicate", "Completed: water the plants"],
        "the redelivered event sent nothing"
    );

    // Switched off: recorded as skipped, nothing sent.
    let (status, body) = call(
        &http,
        API,
        Method::PUT,
        &format!("/api/{}/preferences", ada.id),
        Some(&ada.token),
        Some(json!({"completion_emails": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let quiet = create_task(&http, API, &ada, "quietly done").await;
    complete(&http, &ada, &quiet).await;
    let list = settled(&http, &ada, 3, Duration::from_secs(15)).await;
    assert_eq!(list[0]["status"], "skipped", "{list:?}");
    assert_eq!(mail_to(&http, &ada_email).await.len(), 2);
    assert!(mail_to(&http, &email_of(&http, &bob).await).await.is_empty());
}

/// SMTP down when the task is completed: the notification waits, retrying, and the email goes
/// out once after the server is back. The audit trail never waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_delays_the_email_and_sends_it_once() {
    let _turn = exclusive_stack().await;
    let http = client();
    let ada = new_user(&http).await;
    let ada_email = email_of(&http, &ada).await;
    let task = create_task(&http, API, &ada, "sent later").await;

    stack(&["stop", "mailpit"]);
    complete(&http, &ada, &task).await;
    wait_for_user_trail(&http, &ada, 2, Duration::from_secs(10)).await;
    eventually("a failed attempt", Duration::from_secs(10), || async {
        let list = notifications(&http, &ada).await;
        list.len() == 1 && list[0]["status"] == "pending" && list[0]["attempts"].as_i64() >= Some(1)
    })
    .await;
    stack(&["start", "mailpit"]);

    let list = settled(&http, &ada, 1, Duration::from_secs(30)).await;
    assert_eq!(list[0]["status"], "sent", "{list:?}");
    assert!(list[0]["attempts"].as_i64().unwrap() >= 2, "{list:?}");
    let mail = mail_to(&http, &ada_email).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(mail[0]["Subject"], "Completed: sent later");
}

/// A reminder on the stack: the Dapr cron binding ticks the api's scan, the `reminder.due`
/// event goes through Kafka's `reminders` topic to notify, and the owner gets one email; the
/// audit trail never holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_reminder_travels_through_kafka_to_its_owners_inbox() {
    let _turn = exclusive_stack().await;
    let http = client();
    let ada = new_user(&http).await;
    let ada_email = email_of(&http, &ada).await;
    let remind_at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (status, task) = call(
        &http,
        API,
        Method::POST,
        &format!("/api/{}/tasks", ada.id),
        Some(&ada.token),
        Some(json!({"title": "renew the passport", "remind_at": remind_at})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    // The cron binding ticks every 5 s.
    let list = settled(&http, &ada, 1, Duration::from_secs(30)).await;
    assert_eq!(
        (list[0]["kind"].clone(), list[0]["status"].clone()),
        (json!("reminder"), json!("sent")),
        "{list:?}"
    );
    let mail = mail_to(&http, &ada_email).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(mail[0]["Subject"], "Reminder: renew the passport");
    let trail = wait_for_user_trail(&http, &ada, 1, Duration::from_secs(10)).await;
    assert_eq!(event_types(&trail), ["created"]);
    // Later ticks send nothing more.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(mail_to(&http, &ada_email).await.len(), 1);
}
