//! The reminder scan: every so often, the reminders that have come due leave through the
//! outbox as `reminder.due` events (`TaskService::send_due_reminders`). It runs in every api
//! process; a reminder goes out once however many scan (each is taken in a transaction that
//! skips rows another holds). A reminder whose time passed while no api was running goes out
//! at the first scan, marked late.

use std::future::Future;
use std::time::Duration;

use crate::tasks::TaskService;

pub struct ReminderScan {
    tasks: TaskService,
    every: Duration,
}

impl ReminderScan {
    pub fn new(tasks: TaskService, every: Duration) -> Self {
        Self {
            tasks,
            every: every.max(Duration::from_millis(100)),
        }
    }

    /// Scans at once, then every `every`, until `stop` completes.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            match self.tasks.send_due_reminders().await {
                Ok(0) => {}
                Ok(sent) => tracing::info!(sent, "reminders due: their events are in the outbox"),
                // The database is away: the next round tries again; nothing was taken.
                Err(e) => tracing::warn!(error = %e, "the reminder scan failed; trying again at the next round"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = &mut stop => return,
            }
        }
    }
}
