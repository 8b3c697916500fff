//! The distributed transport's receiving half: the route a Dapr sidecar delivers to on a
//! consuming service, answering with the sidecar's status vocabulary. The subscription itself
//! (topic, route, dead-letter topic, bulk delivery) is a declarative Dapr `Subscription`
//! resource (deploy/dapr/local/subscription.yaml, and the Helm chart's), so that a deployment
//! changes it without a new build and there is one source of truth: we serve no
//! `GET /dapr/subscribe` (a 404 there tells the sidecar the app declares nothing itself; a
//! programmatic subscription would silently override the declarative one). With bulk delivery
//! on, the sidecar gathers a partition's messages into one request and the subscriber handles
//! them as one batch (one multi-row insert for the audit log).
//!
//! When the sidecar is given an app API token (`APP_API_TOKEN` on daprd), it sends it in the
//! `dapr-api-token` header of every request to the app; with the same token configured here,
//! a delivery without it is refused with 401 before anything is read, so nobody who can reach
//! the port can forge events.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use domain::TaskEvent;

use crate::Subscriber;
use crate::cloud_event::{Unreadable, parse_event, read_message};

/// Where the sidecar delivers, as the `Subscription` resource names it.
#[derive(Debug, Clone)]
pub struct DaprSubscription {
    /// The path the sidecar delivers to, e.g. `/events/task-events`.
    pub route: String,
    /// The token the sidecar sends in `dapr-api-token`; when set, deliveries without it are
    /// refused. `None` accepts anyone who can reach the port.
    pub app_api_token: Option<String>,
}

/// The header daprd puts its app API token in (dapr: pkg/runtime/security/consts).
pub const APP_API_TOKEN_HEADER: &str = "dapr-api-token";

struct Handler {
    subscriber: Arc<dyn Subscriber>,
}

pub fn subscription_router(subscription: DaprSubscription, subscriber: Arc<dyn Subscriber>) -> Router {
    let router = Router::new()
        .route(&subscription.route, post(receive))
        .with_state(Arc::new(Handler { subscriber }));
    match subscription.app_api_token {
        // route_layer: only the routes above need the token; unknown paths stay 404.
        Some(token) => router.route_layer(middleware::from_fn_with_state(
            Arc::<str>::from(token),
            require_app_api_token,
        )),
        None => router,
    }
}

/// Middleware (`from_fn_with_state` with the token) for routes only the Dapr sidecar may call:
/// event deliveries, and service invocations from other apps through it. A request without
/// the sidecar's app API token answers 401 and goes no further.
pub async fn require_app_api_token(State(expected): State<Arc<str>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(APP_API_TOKEN_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if constant_time_eq(given, expected.as_bytes()) {
        return next.run(request).await;
    }
    tracing::warn!(path = %request.uri().path(), "refusing a call without the sidecar's app API token");
    metrics::counter!("tasktrail_sidecar_calls_refused_total").increment(1);
    let body = json!({"error": {"code": "unauthorized",
        "message": "only the Dapr sidecar may call this route, with its app API token (dapr-api-token header)"}});
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// Compares without stopping at the first difference, so the time taken says nothing about
/// how much of a guess was right (only whether its length was).
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= e ^ given.get(i).copied().unwrap_or(!e);
    }
    diff == 0
}

/// Answers with the sidecar's status vocabulary: SUCCESS when the event is handled (or was
/// already), RETRY when handling failed for a reason that may pass (a database down), DROP
/// when the message can never be read (the sidecar moves it to the dead-letter topic instead
/// of blocking the partition with endless retries).
async fn receive(State(handler): State<Arc<Handler>>, body: Bytes) -> Json<Value> {
    let message = match read_message(&body) {
        Ok(message) => message,
        Err(reason) => return Json(json!({ "status": handler.drop_unreadable(&reason, &body) })),
    };
    match message.get("entries").and_then(Value::as_array) {
        Some(entries) => Json(handler.receive_bulk(entries).await),
        None => Json(json!({ "status": handler.receive_one(&message, &body).await })),
    }
}

impl Handler {
    async fn receive_one(&self, message: &Value, body: &[u8]) -> &'static str {
        match parse_event(message) {
            Err(reason) => self.drop_unreadable(&reason, body),
            Ok(event) => self.handle(std::slice::from_ref(&event)).await,
        }
    }

    /// One status per entry: DROP for unreadable entries; the readable ones are handled as one
    /// batch and share its outcome.
    async fn receive_bulk(&self, entries: &[Value]) -> Value {
        let mut statuses = Vec::with_capacity(entries.len());
        let mut events = Vec::with_capacity(entries.len());
        let mut readable = Vec::with_capacity(entries.len());
        for entry in entries {
            let entry_id = entry.get("entryId").cloned().unwrap_or(Value::Null);
            match parse_event(entry.get("event").unwrap_or(&Value::Null)) {
                Ok(event) => {
                    events.push(event);
                    readable.push(entry_id);
                }
                Err(reason) => {
                    let status = self.drop_unreadable(&reason, entry.to_string().as_bytes());
                    statuses.push(json!({ "entryId": entry_id, "status": status }));
                }
            }
        }
        if !events.is_empty() {
            let status = self.handle(&events).await;
            statuses.extend(
                readable
                    .into_iter()
                    .map(|id| json!({ "entryId": id, "status": status })),
            );
        }
        json!({ "statuses": statuses })
    }

    async fn handle(&self, events: &[TaskEvent]) -> &'static str {
        let status = match self.subscriber.handle(events).await {
            Ok(()) => "SUCCESS",
            Err(e) => {
                let event_ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
                tracing::warn!(
                    subscriber = self.subscriber.name(),
                    ?event_ids,
                    error = format!("{e:#}"),
                    "handling failed; asking the sidecar to redeliver"
                );
                "RETRY"
            }
        };
        self.count(status, events.len() as u64);
        status
    }

    fn drop_unreadable(&self, reason: &Unreadable, message: &[u8]) -> &'static str {
        tracing::warn!(subscriber = self.subscriber.name(), %reason,
            message = %String::from_utf8_lossy(&message[..message.len().min(512)]),
            "dropping an unreadable message (to the dead-letter topic)");
        self.count("DROP", 1);
        "DROP"
    }

    fn count(&self, status: &'static str, n: u64) {
        metrics::counter!("tasktrail_events_received_total", "subscriber" => self.subscriber.name(), "status" => status)
            .increment(n);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use axum::body::Body;
    use axum::http::Request;
    use domain::{EventType, NewTask};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    /// Records what it handles; fails while `down` is set (a database outage).
    #[derive(Default)]
    struct Recorder {
        down: Mutex<bool>,
        handled: Mutex<Vec<Vec<i32>>>,
    }

    #[async_trait]
    impl Subscriber for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        async fn handle(&self, events: &[TaskEvent]) -> anyhow::Result<()> {
            anyhow::ensure!(!*self.down.lock().unwrap(), "database down");
            self.handled
                .lock()
                .unwrap()
                .push(events.iter().map(|e| e.task_id).collect());
            Ok(())
        }
    }

    fn event(task_id: i32) -> Value {
        let task = NewTask::parse(domain::task::CreateTaskRequest {
            title: "t".into(),
            ..Default::default()
        })
        .unwrap()
        .into_task(task_id, "u1".into(), domain::clock::now());
        serde_json::to_value(TaskEvent::record(EventType::Created, &task, domain::clock::now(), 1)).unwrap()
    }

    fn app(recorder: Arc<Recorder>) -> Router {
        subscription_router(
            DaprSubscription {
                route: "/events/task-events".into(),
                app_api_token: None,
            },
            recorder,
        )
    }

    fn app_with_token(recorder: Arc<Recorder>) -> Router {
        subscription_router(
            DaprSubscription {
                route: "/events/task-events".into(),
                app_api_token: Some("s3cret-token".into()),
            },
            recorder,
        )
    }

    async fn deliver_with(app: &Router, token: Option<&str>) -> (axum::http::StatusCode, Value) {
        let mut request = Request::builder()
            .method("POST")
            .uri("/events/task-events")
            .header("content-type", "application/cloudevents+json");
        if let Some(token) = token {
            request = request.header(APP_API_TOKEN_HEADER, token);
        }
        let body = json!({"id": "1", "data": event(7)}).to_string();
        let response = app
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn with_a_token_a_delivery_without_it_is_refused_and_not_handled() {
        let recorder = Arc::new(Recorder::default());
        let app = app_with_token(recorder.clone());
        let (status, body) = deliver_with(&app, None).await;
        assert_eq!(status, axum::http::StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(body["error"]["message"].as_str().unwrap().contains("dapr-api-token"));
        assert!(recorder.handled.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn with_a_token_a_wrong_one_is_refused() {
        let recorder = Arc::new(Recorder::default());
        let app = app_with_token(recorder.clone());
        for wrong in ["s3cret-toke", "s3cret-tokeN", "s3cret-token2", ""] {
            let (status, body) = deliver_with(&app, Some(wrong)).await;
            assert_eq!(status, axum::http::StatusCode::UNAUTHORIZED, "{wrong:?}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
        assert!(recorder.handled.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn with_a_token_the_right_one_is_handled() {
        let recorder = Arc::new(Recorder::default());
        let app = app_with_token(recorder.clone());
        let (status, body) = deliver_with(&app, Some("s3cret-token")).await;
        assert_eq!(status, axum::http::StatusCode::OK);
        assert_eq!(body["status"], "SUCCESS");
        assert_eq!(*recorder.handled.lock().unwrap(), vec![vec![7]]);
        // Other paths are not ours: still 404, not 401.
        let request = Request::builder().uri("/dapr/subscribe").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), axum::http::StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn without_a_token_deliveries_are_accepted_as_before() {
        let recorder = Arc::new(Recorder::default());
        let (status, _) = deliver_with(&app(recorder.clone()), None).await;
        assert_eq!(status, axum::http::StatusCode::OK);
        assert_eq!(*recorder.handled.lock().unwrap(), vec![vec![7]]);
    }

    async fn send(app: &Router, method: &str, uri: &str, body: Value) -> Value {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/cloudevents+json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert!(response.status().is_success());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// The declarative Subscription resource is the only one: a programmatic declaration
    /// would override it in the sidecar.
    #[tokio::test]
    async fn declares_no_programmatic_subscription() {
        let request = Request::builder().uri("/dapr/subscribe").body(Body::empty()).unwrap();
        let response = app(Arc::default()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), axum::http::StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn answers_success_retry_or_drop() {
        let recorder = Arc::new(Recorder::default());
        let app = app(recorder.clone());
        let route = "/events/task-events";
        assert_eq!(
            send(&app, "POST", route, json!({"id": "1", "data": event(1)})).await["status"],
            "SUCCESS"
        );
        *recorder.down.lock().unwrap() = true;
        assert_eq!(
            send(&app, "POST", route, json!({"id": "2", "data": event(2)})).await["status"],
            "RETRY"
        );
        *recorder.down.lock().unwrap() = false;
        assert_eq!(
            send(&app, "POST", route, json!({"id": "3", "data": {"nope": 1}})).await["status"],
            "DROP"
        );
        assert_eq!(*recorder.handled.lock().unwrap(), vec![vec![1]]);
    }

    #[tokio::test]
    async fn a_bulk_delivery_is_one_batch_with_a_status_per_entry() {
        let recorder = Arc::new(Recorder::default());
        let app = app(recorder.clone());
        let bulk = json!({"id": "b", "type": "com.dapr.event.sent.bulk", "entries": [
            {"entryId": "0", "event": {"id": "a", "data": event(1)}, "contentType": "application/cloudevents+json"},
            {"entryId": "1", "event": {"id": "b", "data": "not an event"}, "contentType": "application/cloudevents+json"},
            {"entryId": "2", "event": {"id": "c", "data": event(3)}, "contentType": "application/cloudevents+json"},
        ]});
        let answer = send(&app, "POST", "/events/task-events", bulk.clone()).await;
        let statuses: Vec<(String, String)> = answer["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["entryId"].as_str().unwrap().into(),
                    s["status"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            statuses,
            [
                ("1".into(), "DROP".into()),
                ("0".into(), "SUCCESS".into()),
                ("2".into(), "SUCCESS".into())
            ]
        );
        assert_eq!(*recorder.handled.lock().unwrap(), vec![vec![1, 3]]);

        *recorder.down.lock().unwrap() = true;
        let answer = send(&app, "POST", "/events/task-events", bulk).await;
        let retried: Vec<&str> = answer["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "RETRY")
            .map(|s| s["entryId"].as_str().unwrap())
            .collect();
        assert_eq!(retried, ["0", "2"]);
    }
}
