use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{Outbox, Sink};

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub batch_size: u32,
    /// How often to look at the outbox when nobody signals new events (another process may
    /// have written them, or a signal was missed across a restart).
    pub idle_poll: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// How often a standby relay (another process holds the relay lock) tries to take over.
    pub standby_poll: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 2000,
            idle_poll: Duration::from_millis(500),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(10),
            standby_poll: Duration::from_secs(2),
        }
    }
}

/// Delivers the outbox to a sink in outbox order, one batch at a time. A batch is removed from
/// the outbox only after the sink accepted all of it; on failure the same batch is retried with
/// exponential backoff, so nothing is skipped and per-user order holds. Because the outbox is
/// a table, a crash or restart resumes where delivery stopped.
pub struct OutboxRelay {
    outbox: Arc<dyn Outbox>,
    sink: Arc<dyn Sink>,
    wakeup: Arc<Notify>,
    config: RelayConfig,
}

impl OutboxRelay {
    pub fn new(outbox: Arc<dyn Outbox>, sink: Arc<dyn Sink>, wakeup: Arc<Notify>, config: RelayConfig) -> Self {
        Self {
            outbox,
            sink,
            wakeup,
            config,
        }
    }

    pub async fn run(self, stop: CancellationToken) {
        tracing::info!(batch_size = self.config.batch_size, "outbox relay started");
        let mut backoff = self.backoff();
        let mut backlog_updated = Instant::now() - Duration::from_secs(60);
        let mut leading: Option<bool> = None;
        while !stop.is_cancelled() {
            let lead = match self.outbox.lead().await {
                Ok(lead) => lead,
                Err(e) => {
                    // The database is away: nobody can deliver now, and this is no handover.
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "cannot tell whether this process runs the relay; retrying"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.standby_poll.min(Duration::from_secs(1))) => {}
                        _ = stop.cancelled() => {}
                    }
                    continue;
                }
            };
            if leading != Some(lead) {
                if lead {
                    tracing::info!("this process now runs the outbox relay");
                } else {
                    tracing::info!("another process runs the outbox relay; standing by");
                }
                metrics::gauge!("tasktrail_outbox_relay_leader").set(if lead { 1.0 } else { 0.0 });
                leading = Some(lead);
            }
            if !lead {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.standby_poll) => {}
                    _ = stop.cancelled() => {}
                }
                continue;
            }
            if backlog_updated.elapsed() >= Duration::from_secs(1) {
                if let Ok(n) = self.outbox.backlog().await {
                    metrics::gauge!("tasktrail_outbox_backlog").set(n as f64);
                }
                backlog_updated = Instant::now();
            }
            match self.deliver_one_batch().await {
                Ok(0) => {
                    backoff = self.backoff();
                    tokio::select! {
                        _ = self.wakeup.notified() => {}
                        _ = tokio::time::sleep(self.config.idle_poll) => {}
                        _ = stop.cancelled() => {}
                    }
                }
                Ok(_) => backoff = self.backoff(),
                Err(e) => {
                    metrics::counter!("tasktrail_outbox_delivery_failures_total").increment(1);
                    let wait = backoff.next().unwrap_or(self.config.max_backoff);
                    tracing::warn!(
                        error = format!("{e:#}"),
                        retry_in_ms = wait.as_millis() as u64,
                        "outbox delivery failed; will retry"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.cancelled() => {}
                    }
                }
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// Returns how many events were delivered.
    async fn deliver_one_batch(&self) -> anyhow::Result<usize> {
        let batch = self.outbox.pending(self.config.batch_size).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let events: Vec<_> = batch.iter().map(|e| e.event.clone()).collect();
        self.sink.deliver(&events).await?;
        let ids: Vec<i64> = batch.iter().map(|e| e.id).collect();
        // If this fails the batch is delivered again later: harmless, consumers are idempotent.
        self.outbox.mark_delivered(&ids).await?;
        let now = chrono::Utc::now();
        for event in &events {
            let lag = (now - event.timestamp).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
            metrics::histogram!("tasktrail_event_delivery_lag_seconds").record(lag);
            tracing::debug!(event_id = %event.event_id, event_type = event.event_type.as_str(), "event delivered");
        }
        metrics::counter!("tasktrail_outbox_delivered_total").increment(events.len() as u64);
        Ok(events.len())
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.config.min_backoff)
            .with_max_delay(self.config.max_backoff)
            .with_jitter()
            .without_max_times()
            .build()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use domain::{EventType, NewTask, TaskEvent};

    use super::*;
    use crate::OutboxEntry;

    /// An in-memory outbox, only to exercise the relay's retry and ordering rules.
    #[derive(Default)]
    struct MemoryOutbox(Mutex<Vec<OutboxEntry>>);

    #[async_trait]
    impl Outbox for MemoryOutbox {
        async fn pending(&self, limit: u32) -> anyhow::Result<Vec<OutboxEntry>> {
            Ok(self.0.lock().unwrap().iter().take(limit as usize).cloned().collect())
        }
        async fn mark_delivered(&self, ids: &[i64]) -> anyhow::Result<()> {
            self.0.lock().unwrap().retain(|e| !ids.contains(&e.id));
            Ok(())
        }
        async fn backlog(&self) -> anyhow::Result<i64> {
            Ok(self.0.lock().unwrap().len() as i64)
        }
        async fn lead(&self) -> anyhow::Result<bool> {
            Ok(true)
        }
    }

    /// Fails its first `failures` deliveries, then records what it receives.
    struct FlakySink {
        failures: Mutex<u32>,
        received: Mutex<Vec<i32>>,
    }

    #[async_trait]
    impl Sink for FlakySink {
        async fn deliver(&self, events: &[TaskEvent]) -> anyhow::Result<()> {
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                anyhow::bail!("sink down");
            }
            self.received.lock().unwrap().extend(events.iter().map(|e| e.task_id));
            Ok(())
        }
    }

    fn entry(id: i64) -> OutboxEntry {
        let task = NewTask::parse(domain::task::CreateTaskRequest {
            title: "t".into(),
            ..Default::default()
        })
        .unwrap()
        .into_task(id as i32, "u".into(), domain::clock::now());
        OutboxEntry {
            id,
            event: TaskEvent::record(EventType::Created, &task, domain::clock::now(), id),
        }
    }

    #[tokio::test]
    async fn retries_a_failing_sink_and_delivers_everything_once_in_order() {
        let outbox = Arc::new(MemoryOutbox(Mutex::new((1..=1200).map(entry).collect())));
        let sink = Arc::new(FlakySink {
            failures: Mutex::new(3),
            received: Mutex::new(vec![]),
        });
        let config = RelayConfig {
            min_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..Default::default()
        };
        let relay = OutboxRelay::new(outbox.clone(), sink.clone(), Arc::new(Notify::new()), config);
        let stop = CancellationToken::new();
        let handle = tokio::spawn(relay.run(stop.clone()));
        for _ in 0..200 {
            if outbox.backlog().await.unwrap() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
        handle.await.unwrap();
        assert_eq!(*sink.received.lock().unwrap(), (1..=1200).collect::<Vec<i32>>());
        assert_eq!(outbox.backlog().await.unwrap(), 0);
    }
}
