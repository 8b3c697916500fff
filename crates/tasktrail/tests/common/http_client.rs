//! Talking to a running tasktrail over HTTP as a user would; shared by the embedded and the
//! distributed end-to-end tests.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
}

pub async fn signup(client: &reqwest::Client, base: &str) -> User {
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let (status, body) = call(
        client,
        base,
        Method::POST,
        "/api/auth/signup",
        None,
        Some(json!({"email": email, "password": "correct horse"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    User {
        id: body["user_id"].as_str().unwrap().into(),
        token: body["token"].as_str().unwrap().into(),
    }
}

pub async fn call(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// Creates a task through the REST API; panics unless it is created.
pub async fn create_task(client: &reqwest::Client, base: &str, user: &User, title: &str) -> Value {
    let (status, task) = call(
        client,
        base,
        Method::POST,
        &format!("/api/{}/tasks", user.id),
        Some(&user.token),
        Some(json!({"title": title})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    task
}

/// The user's whole trail, every page, oldest first.
pub async fn trail(client: &reqwest::Client, base: &str, user: &User) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/{}/audit?limit=500&cursor={c}", user.id),
            None => format!("/api/{}/audit?limit=500", user.id),
        };
        let (status, page) = call(client, base, Method::GET, &path, Some(&user.token), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return events,
        }
    }
}

/// Polls the trail until it holds `count` entries or the timeout passes; returns what it holds.
pub async fn wait_for_trail(
    client: &reqwest::Client,
    base: &str,
    user: &User,
    count: usize,
    timeout: Duration,
) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let events = trail(client, base, user).await;
        if events.len() >= count || Instant::now() >= deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn event_types(trail: &[Value]) -> Vec<&str> {
    trail.iter().map(|e| e["event_type"].as_str().unwrap()).collect()
}
