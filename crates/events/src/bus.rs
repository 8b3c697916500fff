use std::sync::Arc;

use async_trait::async_trait;
use domain::TaskEvent;

use crate::{Sink, Subscriber};

/// Embedded mode's transport: hands each batch to every subscriber in turn. If one fails the
/// batch fails and is delivered again to all of them (they are idempotent), as Kafka would
/// redeliver to a consumer group that did not commit.
pub struct InProcessBus {
    subscribers: Vec<Arc<dyn Subscriber>>,
}

impl InProcessBus {
    pub fn new(subscribers: Vec<Arc<dyn Subscriber>>) -> Self {
        Self { subscribers }
    }
}

#[async_trait]
impl Sink for InProcessBus {
    async fn deliver(&self, events: &[TaskEvent]) -> anyhow::Result<()> {
        for subscriber in &self.subscribers {
            let wanted: Vec<TaskEvent> = events
                .iter()
                .filter(|e| subscriber.wants(e.event_type))
                .cloned()
                .collect();
            if wanted.is_empty() {
                continue;
            }
            subscriber
                .handle(&wanted)
                .await
                .map_err(|e| e.context(format!("subscriber {} failed", subscriber.name())))?;
        }
        Ok(())
    }
}
