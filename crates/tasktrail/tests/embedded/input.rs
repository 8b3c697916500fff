use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, event_types};
use crate::on_both_backends;

on_both_backends!(
    bad_input_is_refused_and_changes_nothing,
    hostile_looking_text_is_stored_verbatim,
    a_body_that_is_not_a_json_object_is_refused,
    a_wrong_method_is_405_with_allow,
    control_characters_are_refused_before_anything_runs
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

fn assert_error(label: &str, status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{label}: {body}");
    assert_eq!(body["error"]["code"], code, "{label}: {body}");
    assert!(
        body["error"]["message"].is_string(),
        "{label}: not the error shape: {body}"
    );
}

/// The user's tasks and conversations, to compare before and after refused requests.
async fn written(app: &TestApp, user: &crate::harness::User) -> (Value, Value) {
    let (_, tasks) = app
        .call(Method::GET, &format!("/api/{}/tasks", user.id), Some(&user.token), None)
        .await;
    let (_, conversations) = app
        .call(
            Method::GET,
            &format!("/api/{}/conversations", user.id),
            Some(&user.token),
            None,
        )
        .await;
    (tasks, conversations)
}

/// Nothing but `expected` reached the trail: a last valid change is a marker, and events are
/// delivered in order, so an event from a refused request would arrive before it.
async fn assert_trail_then_marker(app: &TestApp, user: &crate::harness::User, expected: &[&str]) {
    app.create_task(user, "marker").await;
    let trail = app.wait_for_trail(user, expected.len() + 1).await;
    let mut types = expected.to_vec();
    types.push("created");
    assert_eq!(event_types(&trail), types);
    assert_eq!(trail.last().unwrap()["event_data"]["task_data"]["title"], "marker");
}

/// serde fills a struct from an array in field order: `["a","list"]` used to create a task
/// titled "a", `["new"]` to rename one, and an array of credentials to sign up and log in.
async fn a_body_that_is_not_a_json_object_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let existing = app.create_task(&ada, "existing").await;
    let tasks = format!("/api/{}/tasks", ada.id);
    let one = format!("{tasks}/{}", existing["id"]);
    let chat = format!("/api/{}/chat", ada.id);
    let (status, body) = app
        .post_anonymously(
            "/api/auth/signup",
            json!({"email": "bob@example.com", "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let before = written(&app, &ada).await;

    let cases: Vec<(Method, &str, Value)> = vec![
        (Method::POST, &tasks, json!(["a", "list"])),
        (Method::POST, &tasks, json!([])),
        (Method::POST, &tasks, json!("a")),
        (Method::POST, &tasks, json!(42)),
        (Method::POST, &tasks, json!(null)),
        (Method::PUT, &one, json!(["renamed"])),
        (Method::PUT, &one, json!([null, null, true])),
        (Method::POST, &chat, json!([null, "add buy milk"])),
        (Method::POST, &chat, json!(["add buy milk"])),
        (
            Method::POST,
            "/api/auth/signup",
            json!(["eve@example.com", "correct horse", "Eve"]),
        ),
        (
            Method::POST,
            "/api/auth/login",
            json!(["bob@example.com", "correct horse"]),
        ),
    ];
    for (method, path, body) in cases {
        let label = format!("{method} {path} {body}");
        let (status, answer) = raw(
            &app,
            method,
            path,
            &ada.token,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
        assert_error(
            &label,
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(
            answer["error"]["message"].as_str().unwrap().contains("a JSON object"),
            "{label}: {answer}"
        );
    }

    assert_eq!(written(&app, &ada).await, before);
    // Eve's account was not created: the address is still free.
    let (status, body) = app
        .post_anonymously(
            "/api/auth/signup",
            json!({"email": "eve@example.com", "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_trail_then_marker(&app, &ada, &["created"]).await;
}

async fn a_wrong_method_is_405_with_allow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let existing = app.create_task(&ada, "existing").await;
    let tasks = format!("/api/{}/tasks", ada.id);
    let one = format!("{tasks}/{}", existing["id"]);
    let before = written(&app, &ada).await;

    let cases: Vec<(Method, String, &[&str])> = vec![
        (Method::PATCH, tasks.clone(), &["GET", "HEAD", "POST"]),
        (Method::DELETE, tasks.clone(), &["GET", "HEAD", "POST"]),
        (Method::POST, one.clone(), &["DELETE", "GET", "HEAD", "PUT"]),
        (Method::PUT, format!("{one}/complete"), &["PATCH"]),
        (Method::DELETE, "/api/auth/login".into(), &["POST"]),
        (Method::GET, "/api/auth/signup".into(), &["POST"]),
        (Method::GET, format!("/api/{}/chat", ada.id), &["POST"]),
    ];
    for (method, path, allowed) in cases {
        let label = format!("{method} {path}");
        let response = app
            .client
            .request(method, format!("{}{path}", app.base))
            .bearer_auth(&ada.token)
            .json(&json!({"title": "x"}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let allow = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_error(
            &label,
            status,
            &body,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
        let mut listed: Vec<&str> = allow.split(',').map(str::trim).collect();
        listed.sort_unstable();
        assert_eq!(listed, allowed, "{label}: Allow: {allow}");
    }

    assert_eq!(written(&app, &ada).await, before);
    assert_trail_then_marker(&app, &ada, &["created"]).await;
}

/// NUL and other control characters are refused, naming the field, before any tool runs or
/// anything is stored (PostgreSQL refused NUL only after the chat tools had run: a 500).
/// Descriptions and chat messages keep tab and line breaks.
async fn control_characters_are_refused_before_anything_runs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let existing = app.create_task(&ada, "existing").await;
    let tasks = format!("/api/{}/tasks", ada.id);
    let one = format!("{tasks}/{}", existing["id"]);
    let chat = format!("/api/{}/chat", ada.id);
    let before = written(&app, &ada).await;

    let bodies: Vec<(Method, &str, Value, &str)> = vec![
        (Method::POST, &tasks, json!({"title": "buy\u{0}milk"}), "title"),
        (Method::POST, &tasks, json!({"title": "buy\u{1b}[31mmilk"}), "title"),
        (Method::POST, &tasks, json!({"title": "buy\nmilk"}), "title"),
        (
            Method::POST,
            &tasks,
            json!({"title": "ok", "description": "a\u{0}b"}),
            "description",
        ),
        (
            Method::POST,
            &tasks,
            json!({"title": "ok", "description": "bell\u{7}"}),
            "description",
        ),
        (
            Method::POST,
            &tasks,
            json!({"title": "ok", "tags": ["home", "a\u{0}"]}),
            "tags",
        ),
        (Method::POST, &tasks, json!({"title": "ok", "tags": ["a\tb"]}), "tags"),
        (Method::PUT, &one, json!({"title": "x\u{0}"}), "title"),
        (Method::PUT, &one, json!({"description": "\u{0}"}), "description"),
        (Method::PUT, &one, json!({"tags": ["\u{85}"]}), "tags"),
        // The offline assistant would run add_task before the message is stored.
        (Method::POST, &chat, json!({"message": "add buy milk\u{0}"}), "message"),
        (Method::POST, &chat, json!({"message": "add \u{1b}[2Jmilk"}), "message"),
        (
            Method::POST,
            &chat,
            json!({"conversation_id": "c\u{0}", "message": "add buy milk"}),
            "conversation_id",
        ),
        (
            Method::POST,
            "/api/auth/signup",
            json!({"email": "eve@example.com", "password": "correct horse", "name": "Eve\u{0}"}),
            "name",
        ),
    ];
    for (method, path, body, field) in bodies {
        let label = format!("{method} {path} {body}");
        let (status, answer) = app.call(method, path, Some(&ada.token), Some(body)).await;
        assert_error(
            &label,
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{field}: ")),
            "{label}: names {field}: {answer}"
        );
    }

    // A login is looked up, not stored, but a NUL must not reach the database either.
    let (status, answer) = app
        .post_anonymously(
            "/api/auth/login",
            json!({"email": "ada\u{0}@example.com", "password": "correct horse"}),
        )
        .await;
    assert!(status.is_client_error(), "login: {status} {answer}");
    assert!(answer["error"]["code"].is_string(), "login: {answer}");

    // Query strings and path ids reach SQL too.
    let queries: Vec<(String, StatusCode, &str)> = vec![
        (format!("{tasks}?q=milk%00"), StatusCode::BAD_REQUEST, "invalid_query"),
        (format!("{tasks}?tag=%00"), StatusCode::BAD_REQUEST, "invalid_query"),
        (format!("{tasks}?q=%1B"), StatusCode::BAD_REQUEST, "invalid_query"),
        (
            format!("/api/{}/audit?event_type=created%00", ada.id),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            format!("/api/{}/conversations/c%00/messages", ada.id),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (path, expected, code) in queries {
        let (status, answer) = app.call(Method::GET, &path, Some(&ada.token), None).await;
        assert_error(&path, status, &answer, expected, code);
    }
    let (status, answer) = app
        .call(Method::GET, &format!("{tasks}?q=a%09b%0Ac"), Some(&ada.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "a tab or newline in a search is fine: {answer}");

    assert_eq!(written(&app, &ada).await, before);
    let (status, body) = app
        .post_anonymously(
            "/api/auth/signup",
            json!({"email": "eve@example.com", "password": "correct horse", "name": "Eve"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "Eve's address is still free: {body}");

    // Free text keeps its tabs and line breaks.
    let text = "first line\n\tindented\r\nlast";
    let (status, task) = app
        .call(
            Method::POST,
            &tasks,
            Some(&ada.token),
            Some(json!({"title": "multi-line", "description": text})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    assert_eq!(task["description"], text);
    let (status, reply) = app
        .call(
            Method::POST,
            &chat,
            Some(&ada.token),
            Some(json!({"message": "hello\n\tthere"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_trail_then_marker(&app, &ada, &["created", "created"]).await;
}
