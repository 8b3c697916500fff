use std::sync::Arc;

use async_trait::async_trait;
use domain::TaskEvent;

use crate::{Sink, Subscriber};

/// Embedded mode's transport: hands each batch to every subscriber, all at once (the trail
/// does not wait for notify's work on the same batch). If one fails the batch fails and is
/// delivered again to all of them (they are idempotent), as Kafka would redeliver to a
/// consumer group that did not commit.
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
        let deliveries = self.subscribers.iter().map(|subscriber| async move {
            let wanted: Vec<TaskEvent> = events
                .iter()
                .filter(|e| subscriber.wants(e.event_type))
                .cloned()
                .collect();
            if wanted.is_empty() {
                return Ok(());
            }
            subscriber
                .handle(&wanted)
                .await
                .map_err(|e| e.context(format!("subscriber {} failed", subscriber.name())))
        });
        futures::future::try_join_all(deliveries).await?;
        Ok(())
    }
}
