//! The notification service. For now only its consumer exists and it only logs what it would
//! send: emailing the owner of a completed task (SMTP, one email per event) is its own issue.

pub mod mail;

use async_trait::async_trait;
use domain::{EventType, TaskEvent};
use events::Subscriber;

#[derive(Default)]
pub struct NotifyConsumer;

#[async_trait]
impl Subscriber for NotifyConsumer {
    fn name(&self) -> &'static str {
        "notify"
    }

    async fn handle(&self, events: &[TaskEvent]) -> anyhow::Result<()> {
        for event in events.iter().filter(|e| e.event_type == EventType::Completed) {
            tracing::info!(event_id = %event.event_id, user_id = %event.user_id, task_id = event.task_id,
                "task completed; email notification not sent (SMTP delivery is not implemented yet)");
        }
        Ok(())
    }
}
