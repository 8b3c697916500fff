//! The distributed transport's receiving half: the routes a Dapr sidecar calls on a consuming
//! service. `GET /dapr/subscribe` declares the subscription; the sidecar then POSTs messages to
//! the route and acts on the status we answer. With bulk subscribe on, the sidecar gathers up to
//! `max_messages` of a partition's messages (waiting at most `max_await_ms`) into one request,
//! and the subscriber handles them as one batch (one multi-row insert for the audit log).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use domain::TaskEvent;

use crate::Subscriber;
use crate::cloud_event::{Unreadable, parse_event};

#[derive(Debug, Clone)]
pub struct DaprSubscription {
    pub pubsub: String,
    pub topic: String,
    /// The path the sidecar delivers to, e.g. `/events/task-events`.
    pub route: String,
    /// Where the sidecar sends messages we answer `DROP` for.
    pub dead_letter_topic: Option<String>,
    pub bulk: Option<BulkSubscribe>,
}

#[derive(Debug, Clone, Copy)]
pub struct BulkSubscribe {
    pub max_messages: u32,
    pub max_await_ms: u32,
}

impl DaprSubscription {
    /// The declaration the sidecar reads. No `consumerGroup`: each app consumes in its own
    /// group (the app id), so audit and notify both see every event.
    fn declaration(&self) -> Value {
        let mut subscription = json!({
            "pubsubname": self.pubsub,
            "topic": self.topic,
            "route": self.route,
        });
        if let Some(dlq) = &self.dead_letter_topic {
            subscription["deadLetterTopic"] = json!(dlq);
        }
        if let Some(bulk) = self.bulk {
            subscription["bulkSubscribe"] = json!({
                "enabled": true,
                "maxMessagesCount": bulk.max_messages,
                "maxAwaitDurationMs": bulk.max_await_ms,
            });
        }
        json!([subscription])
    }
}

struct Handler {
    declaration: Value,
    subscriber: Arc<dyn Subscriber>,
}

pub fn subscription_router(subscription: DaprSubscription, subscriber: Arc<dyn Subscriber>) -> Router {
    let route = subscription.route.clone();
    let handler = Arc::new(Handler {
        declaration: subscription.declaration(),
        subscriber,
    });
    Router::new()
        .route("/dapr/subscribe", get(declare))
        .route(&route, post(receive))
        .with_state(handler)
}

async fn declare(State(handler): State<Arc<Handler>>) -> Json<Value> {
    Json(handler.declaration.clone())
}

/// Answers with the sidecar's status vocabulary: SUCCESS when the event is handled (or was
/// already), RETRY when handling failed for a reason that may pass (a database down), DROP
/// when the message can never be read (the sidecar moves it to the dead-letter topic instead
/// of blocking the partition with endless retries).
async fn receive(State(handler): State<Arc<Handler>>, body: Bytes) -> Json<Value> {
    let message: Value = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(e) => {
            let status = handler.drop_unreadable(&Unreadable(format!("the message is not JSON: {e}")), &body);
            return Json(json!({ "status": status }));
        }
    };
    match message.get("entries").and_then(Value::as_array) {
        Some(entries) => Json(handler.receive_bulk(entries).await),
        None => Json(json!({ "status": handler.receive_one(&message, &body).await })),
    }
}

impl Handler {
    async fn receive_one(&self, message: &Value, body: &[u8]) -> &'static str {
        let status = match parse_event(message) {
            Err(reason) => self.drop_unreadable(&reason, body),
            Ok(event) => self.handle(std::slice::from_ref(&event)).await,
        };
        self.count(status, 1);
        status
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
                    self.count(status, 1);
                    statuses.push(json!({ "entryId": entry_id, "status": status }));
                }
            }
        }
        if !events.is_empty() {
            let status = self.handle(&events).await;
            self.count(status, events.len() as u64);
            statuses.extend(
                readable
                    .into_iter()
                    .map(|id| json!({ "entryId": id, "status": status })),
            );
        }
        json!({ "statuses": statuses })
    }

    async fn handle(&self, events: &[TaskEvent]) -> &'static str {
        match self.subscriber.handle(events).await {
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
        }
    }

    fn drop_unreadable(&self, reason: &Unreadable, message: &[u8]) -> &'static str {
        tracing::warn!(subscriber = self.subscriber.name(), %reason,
            message = %String::from_utf8_lossy(&message[..message.len().min(512)]),
            "dropping an unreadable message (to the dead-letter topic)");
        "DROP"
    }

    fn count(&self, status: &'static str, n: u64) {
        metrics::counter!("tasktrail_events_received_total", "subscriber" => self.subscriber.name(), "status" => status)
            .increment(n);
    }
}
