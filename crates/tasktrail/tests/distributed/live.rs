//! Issue 13 on the stack: the live trail through the api's origin, and a recurring task's
//! next occurrence travelling through Kafka, unaffected by a redelivered completion. (The
//! stream does not go through Dapr service invocation: daprd 1.14 holds a streamed answer
//! until it ends; see `--audit-stream-url`.)

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::stack::*;

#[path = "../common/sse.rs"]
mod sse;
use sse::SseReader;

async fn open_stream(http: &reqwest::Client, url: String, user: &User) -> SseReader {
    let response = http.get(url).bearer_auth(&user.token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    SseReader::new(response)
}

/// A change reaches a stream opened through the api's origin within seconds: the api passes
/// it on as it comes; a reconnect with Last-Event-ID resumes after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_trail_streams_through_the_api() {
    let _turn = exclusive_stack().await;
    let http = reqwest::Client::new();
    let ada = new_user(&http).await;
    let path = format!("/api/{}/audit/stream", ada.id);
    let mut through_api = open_stream(&http, format!("{API}{path}"), &ada).await;
    let task = create_task(&http, API, &ada, "streamed").await;
    let event = through_api.expect_event(Duration::from_secs(10)).await;
    assert_eq!(event.event, "audit");
    assert_eq!(event.data["event_type"], "created");
    assert_eq!(event.data["task_id"], task["id"]);
    let last_seen = event.id;
    drop(through_api);

    // Resumed through the api's origin: Last-Event-ID reaches the audit service.
    let (status, body) = call(
        &http,
        API,
        Method::PUT,
        &format!("/api/{}/tasks/{}", ada.id, task["id"]),
        Some(&ada.token),
        Some(json!({"title": "renamed"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = http
        .get(format!("{API}{path}"))
        .bearer_auth(&ada.token)
        .header("Last-Event-ID", &last_seen)
        .send()
        .await
        .unwrap();
    let mut resumed = SseReader::new(response);
    let event = resumed.expect_event(Duration::from_secs(10)).await;
    assert_eq!(event.data["event_type"], "updated", "the next after {last_seen}");
}

/// Completing a weekly task through the api makes its next occurrence once; the completed
/// event published again (a redelivery) makes no other; the trail, through Kafka, holds the
/// new task's `created` naming the task it continues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recurring_task_continues_once_through_kafka() {
    let _turn = exclusive_stack().await;
    let http = client();
    let ada = new_user(&http).await;
    let tasks = format!("/api/{}/tasks", ada.id);
    let (status, first) = call(
        &http,
        API,
        Method::POST,
        &tasks,
        Some(&ada.token),
        Some(json!({"title": "weekly review", "due_date": "2030-01-07T09:00:00Z", "recurrence": "weekly"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, done) = call(
        &http,
        API,
        Method::PATCH,
        &format!("{tasks}/{}/complete", first["id"]),
        Some(&ada.token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let trail = wait_for_user_trail(&http, &ada, 3, Duration::from_secs(10)).await;
    assert_eq!(event_types(&trail), ["created", "completed", "created"]);
    assert_eq!(trail[2]["task_id"], done["continued_by"]);
    assert_eq!(trail[2]["event_data"]["task_data"]["continues"], first["id"]);
    assert_eq!(trail[2]["event_data"]["task_data"]["due_date"], "2030-01-14T09:00:00Z");

    // The completion once more on Kafka, as a retrying relay would send it.
    let completed = trail[1]["event_data"].clone();
    let response = http
        .post(format!("{API_SIDECAR}/v1.0/publish/kafka-pubsub/{TOPIC}"))
        .query(&[
            ("metadata.partitionKey", ada.id.as_str()),
            ("metadata.cloudevent.id", completed["event_id"].as_str().unwrap()),
        ])
        .json(&completed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    create_task(&http, API, &ada, "marker").await;
    let trail = wait_for_user_trail(&http, &ada, 4, Duration::from_secs(10)).await;
    assert_eq!(trail.len(), 4, "{trail:#?}");
    let (_, list) = call(&http, API, Method::GET, &tasks, Some(&ada.token), None).await;
    let list: &Vec<Value> = list.as_array().unwrap();
    assert_eq!(list.len(), 3, "two occurrences and the marker: {list:#?}");
}
