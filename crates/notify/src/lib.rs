//! The notification service: one email to the owner of each completed task, exactly once
//! (`flow`: a queue whose rows are the claims, and its sender), the record of each
//! (`store`, read at `GET /api/{user_id}/notifications`: `activity`), and the emails and their
//! transports (`mail`).

pub mod activity;
pub mod flow;
pub mod mail;
pub mod store;

use async_trait::async_trait;
use domain::{EventType, TaskEvent};
use events::Subscriber;

pub use flow::{NotifyConsumer, NotifySettings, Recipients, Sender, notifications};

/// Distributed mode's notify service until its flow (claims in the Dapr state store, the owner
/// through the sidecar) is built: it logs each completion and sends nothing.
#[derive(Default)]
pub struct CompletionLogger;

#[async_trait]
impl Subscriber for CompletionLogger {
    fn name(&self) -> &'static str {
        "notify"
    }

    async fn handle(&self, events: &[TaskEvent]) -> anyhow::Result<()> {
        for event in events.iter().filter(|e| e.event_type == EventType::Completed) {
            tracing::info!(event_id = %event.event_id, user_id = %event.user_id, task_id = event.task_id,
                "task completed; distributed mode does not email yet (embedded mode does)");
        }
        Ok(())
    }
}
