use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::TaskEvent;
use events::Subscriber;

use crate::live::TrailFeed;
use crate::store::AuditStore;

/// Stores every event once: a redelivered event finds its `event_id` taken and is skipped.
/// An event older than the retention window is not stored at all: its row, and with it the
/// record that it was seen, would be (or was already) purged, and storing it again would make
/// a redelivery a second row.
pub struct AuditConsumer {
    store: Arc<dyn AuditStore>,
    retention: Duration,
    feed: Option<Arc<TrailFeed>>,
}

impl AuditConsumer {
    pub fn new(store: Arc<dyn AuditStore>, retention: Duration) -> Self {
        Self {
            store,
            retention,
            feed: None,
        }
    }

    /// Tells `feed` whose entries each batch stored, for the open streams to send at once.
    pub fn with_feed(mut self, feed: Arc<TrailFeed>) -> Self {
        self.feed = Some(feed);
        self
    }
}

#[async_trait]
impl Subscriber for AuditConsumer {
    fn name(&self) -> &'static str {
        "audit"
    }

    async fn handle(&self, events: &[TaskEvent]) -> anyhow::Result<()> {
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(self.retention)?;
        // Only task changes belong in the trail (a reminder on the wrong topic does not).
        let (events, expired): (Vec<TaskEvent>, Vec<TaskEvent>) = events
            .iter()
            .filter(|e| e.event_type.is_task_change())
            .cloned()
            .partition(|e| e.timestamp >= cutoff);
        if !expired.is_empty() {
            let ids: Vec<String> = expired.iter().map(|e| e.event_id.to_string()).collect();
            tracing::warn!(expired = ids.len(), event_ids = ?ids, %cutoff, "events older than the audit retention window skipped");
            metrics::counter!("tasktrail_audit_expired_skipped_total").increment(ids.len() as u64);
        }
        let events = &events[..];
        let stored = self.store.record(events).await?;
        let mut new_ids = Vec::with_capacity(events.len());
        let mut duplicate_ids = Vec::new();
        let mut users = std::collections::BTreeSet::new();
        for (event, new) in events.iter().zip(&stored) {
            if *new {
                new_ids.push(event.event_id.to_string());
                users.insert(event.user_id.as_str());
            } else {
                duplicate_ids.push(event.event_id.to_string())
            }
        }
        if let Some(feed) = &self.feed {
            for user_id in users {
                feed.stored(user_id);
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
