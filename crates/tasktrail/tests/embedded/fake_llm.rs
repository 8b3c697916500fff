//! A scripted OpenAI-compatible Chat Completions server: the only fake in the test suite. Each
//! request takes the next scripted answer and is recorded for the test to inspect.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

pub enum Scripted {
    /// 200 with this Chat Completions body.
    Answer(Value),
    /// This status with an error body.
    Fail(StatusCode),
    /// Waits this long, then answers.
    Slow(Duration, Value),
}

#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Scripted>>,
    requests: Mutex<Vec<Value>>,
}

pub struct FakeLlm {
    pub base_url: String,
    script: Arc<Script>,
}

impl FakeLlm {
    pub async fn start(answers: Vec<Scripted>) -> Self {
        let script = Arc::new(Script {
            answers: Mutex::new(answers.into()),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base_url: format!("http://{addr}/v1"),
            script,
        }
    }

    /// The request bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.script.requests.lock().unwrap().clone()
    }
}

async fn complete(State(script): State<Arc<Script>>, axum::Json(body): axum::Json<Value>) -> Response {
    script.requests.lock().unwrap().push(body);
    let next = script.answers.lock().unwrap().pop_front();
    match next {
        Some(Scripted::Answer(answer)) => axum::Json(answer).into_response(),
        Some(Scripted::Fail(status)) => {
            (status, axum::Json(json!({"error": {"message": "scripted failure"}}))).into_response()
        }
        Some(Scripted::Slow(delay, answer)) => {
            tokio::time::sleep(delay).await;
            axum::Json(answer).into_response()
        }
        None => (StatusCode::INTERNAL_SERVER_ERROR, "the script has no more answers").into_response(),
    }
}

/// A Chat Completions answer asking for these tool calls `(name, arguments)`.
pub fn tool_calls(calls: &[(&str, Value)]) -> Value {
    let calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, arguments))| {
            json!({"id": format!("call_{i}"), "type": "function",
                   "function": {"name": name, "arguments": arguments.to_string()}})
        })
        .collect();
    json!({"id": "chatcmpl-test", "object": "chat.completion", "model": "scripted",
           "choices": [{"index": 0, "finish_reason": "tool_calls",
                        "message": {"role": "assistant", "content": null, "tool_calls": calls}}]})
}

/// A final Chat Completions answer with this text.
pub fn text(content: &str) -> Value {
    json!({"id": "chatcmpl-test", "object": "chat.completion", "model": "scripted",
           "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content}}]})
}
