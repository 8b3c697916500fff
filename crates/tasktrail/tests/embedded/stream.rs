//! The live trail (`GET /api/{user_id}/audit/stream`): each change arrives on an open stream
//! at once; a reconnect with `Last-Event-ID` resumes with nothing skipped or repeated; only the
//! caller's own entries; the stream ends when the token expires and when the server stops.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, User};
use crate::on_both_backends;

#[path = "../common/sse.rs"]
mod sse;
use sse::{Next, SseReader};

on_both_backends!(
    each_change_reaches_an_open_stream_at_once,
    a_reconnect_resumes_after_the_last_event_it_saw,
    a_stream_carries_only_its_owners_entries_and_refuses_bad_requests,
    the_stream_ends_when_the_token_expires,
    the_stream_ends_when_the_server_shuts_down
);

async fn open(app: &TestApp, user: &User, last_event_id: Option<&str>, query: &str) -> reqwest::Response {
    let mut request = app
        .client
        .get(format!("{}/api/{}/audit/stream{query}", app.base, user.id))
        .bearer_auth(&user.token);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    request.send().await.unwrap()
}

async fn stream(app: &TestApp, user: &User, last_event_id: Option<&str>) -> SseReader {
    let response = open(app, user, last_event_id, "").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    SseReader::new(response)
}

async fn rename(app: &TestApp, user: &User, task: &Value, title: &str) {
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/{}/tasks/{}", user.id, task["id"]),
            Some(&user.token),
            Some(json!({ "title": title })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// An operation appears on an open stream within 250 ms (the median of five, so that one
/// slow moment on a busy machine does not decide it), as the entry the trail lists.
async fn each_change_reaches_an_open_stream_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let task = app.create_task(&ada, "before the stream").await;
    app.wait_for_trail(&ada, 1).await;
    // Opened after the first change was stored: the stream starts at the end of the trail.
    let mut live = stream(&app, &ada, None).await;
    let mut delays = Vec::new();
    for n in 0..5 {
        let started = Instant::now();
        rename(&app, &ada, &task, &format!("title {n}")).await;
        let event = live.expect_event(Duration::from_secs(5)).await;
        delays.push(started.elapsed());
        assert_eq!(event.event, "audit");
        assert_eq!(event.data["event_type"], "updated");
        assert_eq!(event.data["event_data"]["task_data"]["title"], format!("title {n}"));
        assert_eq!(event.id, event.data["id"].to_string());
    }
    delays.sort();
    assert!(delays[2] < Duration::from_millis(250), "{delays:?}");
    // The same entries the trail lists.
    let trail = app.wait_for_trail(&ada, 6).await;
    assert_eq!(trail.len(), 6);
}

/// Two events read, the connection dropped, three changes made meanwhile: the reconnect with
/// the last id seen gets exactly those three, in order.
async fn a_reconnect_resumes_after_the_last_event_it_saw(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let mut live = stream(&app, &ada, None).await;
    let task = app.create_task(&ada, "one").await;
    rename(&app, &ada, &task, "two").await;
    let first = live.expect_event(Duration::from_secs(5)).await;
    let second = live.expect_event(Duration::from_secs(5)).await;
    assert_eq!(first.data["event_type"], "created");
    drop(live);
    for title in ["three", "four", "five"] {
        rename(&app, &ada, &task, title).await;
    }
    let mut resumed = stream(&app, &ada, Some(&second.id)).await;
    let mut titles = Vec::new();
    for _ in 0..3 {
        let event = resumed.expect_event(Duration::from_secs(5)).await;
        titles.push(
            event.data["event_data"]["task_data"]["title"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(titles, ["three", "four", "five"]);
    assert!(
        matches!(resumed.next(Duration::from_millis(300)).await, Next::Quiet),
        "nothing repeated"
    );
    // From the very start: Last-Event-ID 0 replays the whole trail.
    let mut replay = stream(&app, &ada, Some("0")).await;
    assert_eq!(replay.expect_event(Duration::from_secs(5)).await.id, first.id);
}

async fn a_stream_carries_only_its_owners_entries_and_refuses_bad_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    let mut ada_live = stream(&app, &ada, None).await;
    let mut completed_only = SseReader::new(open(&app, &ada, None, "?event_type=completed").await);
    let bobs = app.create_task(&bob, "bob's").await;
    let adas = app.create_task(&ada, "ada's").await;
    let event = ada_live.expect_event(Duration::from_secs(5)).await;
    assert_eq!(event.data["event_data"]["task_data"]["title"], "ada's");
    assert_eq!(event.data["user_id"], ada.id.as_str());
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/{}/tasks/{}/complete", ada.id, adas["id"]),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let completed = completed_only.expect_event(Duration::from_secs(5)).await;
    assert_eq!(completed.data["event_type"], "completed", "the filter skips `created`");
    let _ = bobs;

    // Someone else's stream, no token, an id this API never gave, a wrong type.
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/api/{}/audit/stream", bob.id),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app
        .call(Method::GET, &format!("/api/{}/audit/stream", ada.id), None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for (last, query) in [(Some("banana"), ""), (Some("-4"), ""), (None, "?event_type=renamed")] {
        let response = open(&app, &ada, last, query).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{last:?} {query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_failed", "{body}");
    }
    let response = app
        .client
        .post(format!("{}/api/{}/audit/stream", app.base, ada.id))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn the_stream_ends_when_the_token_expires(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--token-ttl", "2s"]).await;
    let ada = app.signup().await;
    let mut live = stream(&app, &ada, None).await;
    let opened = Instant::now();
    let ended = loop {
        match live.next(Duration::from_secs(6)).await {
            Next::Event(_) => continue,
            Next::Ended => break opened.elapsed(),
            Next::Quiet => panic!("still open 6 s after its 2 s token"),
        }
    };
    assert!(ended <= Duration::from_secs(3), "{ended:?}");
    // Tokens are still accepted for 30 s of clock skew after they expire; a stream opened
    // with one then ends at once.
    let mut late = stream(&app, &ada, None).await;
    assert!(matches!(late.next(Duration::from_secs(2)).await, Next::Ended));
}

/// Shutdown does not wait for open streams: they end once the server stops accepting, and
/// the server stops.
async fn the_stream_ends_when_the_server_shuts_down(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let mut live = stream(&app, &ada, None).await;
    app.create_task(&ada, "seen").await;
    live.expect_event(Duration::from_secs(5)).await;
    let asked = Instant::now();
    app.shutdown();
    assert!(
        matches!(live.next(Duration::from_secs(5)).await, Next::Ended),
        "the stream ends"
    );
    assert!(asked.elapsed() < Duration::from_secs(5));
}
