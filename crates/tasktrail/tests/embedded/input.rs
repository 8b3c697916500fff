use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, event_types};
use crate::on_both_backends;

on_both_backends!(
    bad_input_is_refused_and_changes_nothing,
    hostile_looking_text_is_stored_verbatim
);

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let response = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let existing = app.create_task(&ada, "existing").await;
    let tasks = format!("/api/{}/tasks", ada.id);
    let one = format!("{tasks}/{}", existing["id"]);
    let big = format!("{{\"title\":\"{}\"}}", "x".repeat(3 * 1024 * 1024));

    let cases: Vec<(Method, String, &str, Vec<u8>, StatusCode)> = vec![
        (
            Method::POST,
            tasks.clone(),
            "application/json",
            b"{\"title\": \"unterminated".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            tasks.clone(),
            "application/json",
            b"not json at all".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            tasks.clone(),
            "application/json",
            b"".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            tasks.clone(),
            "text/plain",
            b"{\"title\":\"x\"}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Method::POST,
            tasks.clone(),
            "application/json",
            br#"{"title": 42}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            tasks.clone(),
            "application/json",
            br#"{"title": ["a"]}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            tasks.clone(),
            "application/json",
            br#"{"description": "no title"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            tasks.clone(),
            "application/json",
            br#"{"title": ""}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            tasks.clone(),
            "application/json",
            br#"{"title": "   "}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            tasks.clone(),
            "application/json",
            json!({"title": "x".repeat(201)}).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            tasks.clone(),
            "application/json",
            json!({"title": "ok", "description": "d".repeat(1001)})
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            tasks.clone(),
            "application/json",
            br#"{"title": "ok", "priority": "urgent"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            tasks.clone(),
            "application/json",
            br#"{"title": "ok", "due_date": "next week"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            one.clone(),
            "application/json",
            br#"{"title": ""}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            one.clone(),
            "application/json",
            br#"{"completed": "yes"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            one.clone(),
            "application/json",
            br#"{}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            one.clone(),
            "application/json",
            json!({"description": "d".repeat(1001)}).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PUT,
            format!("{tasks}/not-a-number"),
            "application/json",
            br#"{"title": "x"}"#.to_vec(),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            format!("{tasks}?status=archived"),
            "application/json",
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            format!("{tasks}?sort=random"),
            "application/json",
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            format!("/api/{}/audit?limit=0", ada.id),
            "application/json",
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            format!("/api/{}/audit?limit=abc", ada.id),
            "application/json",
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            format!("/api/{}/audit?cursor=%27%20OR%201%3D1", ada.id),
            "application/json",
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            format!("/api/{}/audit?from=yesterday", ada.id),
            "application/json",
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::DELETE,
            format!("{tasks}/999999"),
            "application/json",
            vec![],
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, content_type, body, expected) in cases {
        let label = format!("{method} {path} ({} bytes)", body.len());
        let (status, body) = raw(&app, method, &path, &ada.token, content_type, body).await;
        assert_eq!(status, expected, "{label}: {body}");
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{label}: not the error shape: {body}"
        );
    }

    // 3 MB: the server answers 413 without reading it all and closes the connection, so this
    // goes on a connection of its own.
    let response = reqwest::Client::new()
        .post(format!("{}{tasks}", app.base))
        .bearer_auth(&ada.token)
        .header("content-type", "application/json")
        .header("connection", "close")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");

    // Nothing was written: the one task is unchanged and no event was recorded. A last valid
    // change is a marker: events are delivered in order, so any event from a refused request
    // would arrive before it.
    let (_, list) = app.call(Method::GET, &tasks, Some(&ada.token), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0], existing);
    app.create_task(&ada, "marker").await;
    let trail = app.wait_for_trail(&ada, 2).await;
    assert_eq!(event_types(&trail), ["created", "created"]);
    assert_eq!(trail[1]["event_data"]["task_data"]["title"], "marker");
}

async fn hostile_looking_text_is_stored_verbatim(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let titles = [
        "'; DROP TABLE tasks; --",
        "Robert'); DELETE FROM audit_log WHERE ('1'='1",
        "100% done_ok \\ %_",
        "買い物 🥛 — ça coûte 5€",
        "<script>alert(1)</script>",
    ];
    for title in titles {
        let task = app.create_task(&ada, title).await;
        assert_eq!(task["title"], title);
    }
    let (_, list) = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks?sort=title", ada.id),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), titles.len());
    // Search treats % and _ literally.
    let (_, found) = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks?q=%25%20done_", ada.id),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    let (_, found) = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks?q=%F0%9F%A5%9B", ada.id),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(found[0]["title"], titles[3]);
    let trail = app.wait_for_trail(&ada, titles.len()).await;
    assert_eq!(trail.len(), titles.len());
    assert_eq!(trail[1]["event_data"]["task_data"]["title"], titles[1]);
}
