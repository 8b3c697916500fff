//! Who has new trail entries: the consumer says whose events it has just stored, and each
//! open stream (`stream`) of that user wakes and reads them. Only this process's consumer is
//! heard; entries stored by another replica are found by the streams' periodic look.

use std::sync::Arc;

use tokio::sync::broadcast;

pub struct TrailFeed {
    stored: broadcast::Sender<Arc<str>>,
}

impl Default for TrailFeed {
    fn default() -> Self {
        // A stream that falls this far behind hears `Lagged` and simply looks.
        let (stored, _) = broadcast::channel(1024);
        Self { stored }
    }
}

impl TrailFeed {
    /// Entries of `user_id` were just committed.
    pub fn stored(&self, user_id: &str) {
        // No stream open: nobody to tell.
        let _ = self.stored.send(Arc::from(user_id));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.stored.subscribe()
    }
}
