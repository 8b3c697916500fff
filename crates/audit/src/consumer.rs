use std::sync::Arc;

use async_trait::async_trait;
use domain::TaskEvent;
use events::Subscriber;

use crate::store::AuditStore;

/// Stores every event once: a redelivered event finds its `event_id` taken and is skipped.
pub struct AuditConsumer {
    store: Arc<dyn AuditStore>,
}

impl AuditConsumer {
    pub fn new(store: Arc<dyn AuditStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Subscriber for AuditConsumer {
    fn name(&self) -> &'static str {
        "audit"
    }

    async fn handle(&self, events: &[TaskEvent]) -> anyhow::Result<()> {
        let stored = self.store.record(events).await?;
        let mut duplicates = 0u64;
        for (event, new) in events.iter().zip(&stored) {
            if !new {
                duplicates += 1;
            }
            tracing::info!(event_id = %event.event_id, event_type = event.event_type.as_str(), duplicate = !new, "audit event handled");
        }
        metrics::counter!("tasktrail_audit_events_stored_total").increment(events.len() as u64 - duplicates);
        metrics::counter!("tasktrail_audit_duplicates_skipped_total").increment(duplicates);
        Ok(())
    }
}
