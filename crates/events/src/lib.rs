//! How task events travel: the outbox the api writes them to, the relay that delivers them
//! in order to a sink, and the transports: the in-process bus (embedded mode), or the Dapr
//! publisher and the Dapr subscription routes (distributed mode, Kafka behind the sidecars).
//! The api side and the audit side meet only through `TaskEvent` and these traits.

mod bus;
mod cloud_event;
mod dapr_publisher;
mod dapr_subscription;
mod relay;

use async_trait::async_trait;
use domain::{EventType, TaskEvent};

pub use bus::InProcessBus;
pub use dapr_publisher::{DaprPublisher, DaprPublisherConfig};
pub use dapr_subscription::{APP_API_TOKEN_HEADER, DaprSubscription, require_app_api_token, subscription_router};
pub use relay::{OutboxRelay, RelayConfig};

/// An event waiting in the outbox; `id` orders the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub id: i64,
    pub event: TaskEvent,
}

/// The api's side of the outbox: rows written in the same transaction as the task change.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// The oldest undelivered events, in outbox order.
    async fn pending(&self, limit: u32) -> anyhow::Result<Vec<OutboxEntry>>;
    async fn mark_delivered(&self, ids: &[i64]) -> anyhow::Result<()>;
    /// How many events wait for delivery.
    async fn backlog(&self) -> anyhow::Result<i64>;
    /// Whether this process may deliver now. Several api replicas share one outbox; only the
    /// one holding the relay lock delivers, so one user's events are never published by two
    /// relays at once. Asked before every batch; a lost lock is noticed there.
    async fn lead(&self) -> anyhow::Result<bool>;
}

/// Where the relay hands events: all-or-nothing per batch, in the order given. A failed batch
/// is delivered again, so everything downstream must be idempotent on `event_id`.
#[async_trait]
pub trait Sink: Send + Sync {
    async fn deliver(&self, events: &[TaskEvent]) -> anyhow::Result<()>;
}

/// A consumer of task events (audit, notify). Must tolerate the same event more than once.
#[async_trait]
pub trait Subscriber: Send + Sync {
    fn name(&self) -> &'static str;
    /// The events it is given on the in-process bus: task changes (`task-events`) unless it
    /// says otherwise. (In distributed mode its subscriptions say the same to the sidecar.)
    fn wants(&self, event_type: EventType) -> bool {
        event_type.is_task_change()
    }
    async fn handle(&self, events: &[TaskEvent]) -> anyhow::Result<()>;
}
