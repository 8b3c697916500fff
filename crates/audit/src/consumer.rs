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
        let mut new_ids = Vec::with_capacity(events.len());
        let mut duplicate_ids = Vec::new();
        for (event, new) in events.iter().zip(&stored) {
            if *new {
                new_ids.push(event.event_id.to_string())
            } else {
                duplicate_ids.push(event.event_id.to_string())
            }
        }
        // One line per batch, naming every event id: a line per event would cost more than
        // storing the events does.
        tracing::info!(stored = new_ids.len(), duplicates = duplicate_ids.len(), event_ids = ?new_ids,
            duplicate_event_ids = ?duplicate_ids, "audit events handled");
        metrics::counter!("tasktrail_audit_events_stored_total").increment(new_ids.len() as u64);
        metrics::counter!("tasktrail_audit_duplicates_skipped_total").increment(duplicate_ids.len() as u64);
        Ok(())
    }
}
