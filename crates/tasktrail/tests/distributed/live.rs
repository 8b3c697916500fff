//! Issue 13 on the stack: the live trail through the api's origin, and a recurring task's
//! next occurrence travelling through Kafka, unaffected by a redelivered completion. (The
//! stream does not go through Dapr service invocation: daprd 1.14 holds a streamed answer
//! until it ends; see `--audit-stream-url`.)

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::replicas::{API2, Extras};
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

/// Two api replicas (each beside its sidecar, each ticked by the cron binding, one relay
/// lease): reminders due at once go out once each, and a weekly task completed through both
/// replicas at the same moment continues once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_replicas_send_each_reminder_and_continue_each_series_once() {
    let _turn = exclusive_stack().await;
    let _extras = Extras::start(&["api2", "api2-dapr"]).await;
    let http = client();
    let ada = new_user(&http).await;
    let tasks = format!("/api/{}/tasks", ada.id);
    let at = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
    for n in 0..10 {
        let base = if n % 2 == 0 { API } else { API2 };
        let (status, body) = call(
            &http,
            base,
            Method::POST,
            &tasks,
            Some(&ada.token),
            Some(json!({"title": format!("reminder {n}"), "remind_at": at})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, weekly) = call(
        &http,
        API,
        Method::POST,
        &tasks,
        Some(&ada.token),
        Some(json!({"title": "weekly", "due_date": "2030-01-07T09:00:00Z", "recurrence": "weekly"})),
    )
    .await;
    let path = format!("{tasks}/{}", weekly["id"]);
    let done = json!({"completed": true});
    let (first, second) = tokio::join!(
        call(&http, API, Method::PUT, &path, Some(&ada.token), Some(done.clone())),
        call(&http, API2, Method::PUT, &path, Some(&ada.token), Some(done.clone())),
    );
    assert_eq!((first.0, second.0), (StatusCode::OK, StatusCode::OK));

    // Ten reminders, each once (the binding ticks every 5 s on both replicas).
    let notifications = format!("/api/{}/notifications", ada.id);
    eventually("ten reminders sent", Duration::from_secs(30), || async {
        let (_, page) = call(&http, API, Method::GET, &notifications, Some(&ada.token), None).await;
        let sent = page["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "reminder" && n["status"] == "sent")
            .count();
        sent >= 10
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (_, page) = call(&http, API, Method::GET, &notifications, Some(&ada.token), None).await;
    let mut titles: Vec<String> = page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "reminder")
        .map(|n| n["task_title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    assert_eq!(titles, (0..10).map(|n| format!("reminder {n}")).collect::<Vec<_>>());

    let (_, list) = call(
        &http,
        API,
        Method::GET,
        &format!("{tasks}?q=weekly"),
        Some(&ada.token),
        None,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 2, "one next occurrence: {list:#}");
}
