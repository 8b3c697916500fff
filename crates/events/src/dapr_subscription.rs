//! The distributed transport's receiving half: the routes a Dapr sidecar calls on a consuming
//! service. `GET /dapr/subscribe` declares the subscription; the sidecar then POSTs each
//! message to the route, one at a time per partition, and acts on the status we answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::Subscriber;
use crate::cloud_event::parse_delivery;

#[derive(Debug, Clone)]
pub struct DaprSubscription {
    pub pubsub: String,
    pub topic: String,
    /// The path the sidecar delivers to, e.g. `/events/task-events`.
    pub route: String,
    /// Where the sidecar sends messages we answer `DROP` for.
    pub dead_letter_topic: Option<String>,
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
    let subscriber = handler.subscriber.name();
    let status = match parse_delivery(&body) {
        Err(reason) => {
            tracing::warn!(subscriber, %reason, message = %String::from_utf8_lossy(&body[..body.len().min(512)]),
                "dropping an unreadable message (to the dead-letter topic)");
            "DROP"
        }
        Ok(event) => match handler.subscriber.handle(std::slice::from_ref(&event)).await {
            Ok(()) => "SUCCESS",
            Err(e) => {
                tracing::warn!(subscriber, event_id = %event.event_id, error = format!("{e:#}"),
                    "handling failed; asking the sidecar to redeliver");
                "RETRY"
            }
        },
    };
    metrics::counter!("tasktrail_events_received_total", "subscriber" => subscriber, "status" => status).increment(1);
    Json(json!({ "status": status }))
}
