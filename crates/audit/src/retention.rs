use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::AuditStore;

/// Deletes audit entries older than the retention window, in batches so that no single
/// statement holds the table for long, on a timer.
pub struct RetentionPurger {
    store: Arc<dyn AuditStore>,
    retention: Duration,
    interval: Duration,
    batch: u32,
}

/// At most this many batches per run; the next run continues.
const MAX_BATCHES_PER_RUN: u32 = 100;

impl RetentionPurger {
    pub fn new(store: Arc<dyn AuditStore>, retention: Duration, interval: Duration) -> Self {
        Self {
            store,
            retention,
            interval,
            batch: 1000,
        }
    }

    /// Purges once; returns how many entries went.
    pub async fn purge_once(&self) -> anyhow::Result<u64> {
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(self.retention)?;
        let mut total = 0;
        for _ in 0..MAX_BATCHES_PER_RUN {
            let n = self.store.purge_before(cutoff, self.batch).await?;
            total += n;
            if n < u64::from(self.batch) {
                break;
            }
        }
        metrics::counter!("tasktrail_audit_purged_total").increment(total);
        if total > 0 {
            tracing::info!(purged = total, %cutoff, "audit retention purge");
        }
        Ok(total)
    }

    pub async fn run(self, stop: CancellationToken) {
        loop {
            if let Err(e) = self.purge_once().await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "audit retention purge failed; will retry next interval"
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = stop.cancelled() => break,
            }
        }
    }
}
