//! The distributed transport's sending half: events go to Kafka through the Dapr sidecar's
//! HTTP publish API, keyed by user so that one user's events stay on one partition in order.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use domain::TaskEvent;
use futures::TryStreamExt;
use tokio_util::sync::CancellationToken;

use crate::Sink;

#[derive(Debug, Clone)]
pub struct DaprPublisherConfig {
    /// The sidecar's HTTP address, e.g. `http://127.0.0.1:3500`.
    pub sidecar_url: String,
    pub pubsub: String,
    /// Where task changes go (`task-events`).
    pub topic: String,
    /// Where `reminder.due` events go (`reminders`).
    pub reminders_topic: String,
    /// How many users' events are published at once. Each user's own events are published one
    /// after another, in outbox order.
    pub concurrency: usize,
    pub request_timeout: Duration,
}

pub struct DaprPublisher {
    http: reqwest::Client,
    config: DaprPublisherConfig,
    publish_url: String,
    reminders_url: String,
}

impl DaprPublisher {
    pub fn new(config: DaprPublisherConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .pool_max_idle_per_host(config.concurrency)
            .build()
            .context("building the Dapr HTTP client")?;
        let url = |topic: &str| {
            format!(
                "{}/v1.0/publish/{}/{topic}",
                config.sidecar_url.trim_end_matches('/'),
                config.pubsub,
            )
        };
        let (publish_url, reminders_url) = (url(&config.topic), url(&config.reminders_topic));
        Ok(Self {
            http,
            config,
            publish_url,
            reminders_url,
        })
    }

    /// Waits until the sidecar reports its outbound side (components, pub/sub) ready. Returns
    /// false if stopped first. The api serves requests meanwhile; events wait in the outbox.
    pub async fn wait_until_ready(&self, stop: &CancellationToken) -> bool {
        let url = format!(
            "{}/v1.0/healthz/outbound",
            self.config.sidecar_url.trim_end_matches('/')
        );
        let started = Instant::now();
        let mut last_report = started;
        loop {
            match self.http.get(&url).timeout(Duration::from_secs(2)).send().await {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(sidecar = %self.config.sidecar_url, waited_ms = started.elapsed().as_millis() as u64, "Dapr sidecar ready");
                    return true;
                }
                outcome => {
                    if last_report.elapsed() >= Duration::from_secs(10) {
                        let status = match outcome {
                            Ok(r) => r.status().to_string(),
                            Err(e) => e.to_string(),
                        };
                        tracing::warn!(sidecar = %self.config.sidecar_url, %status, waited_s = started.elapsed().as_secs(),
                            "waiting for the Dapr sidecar; events wait in the outbox");
                        last_report = Instant::now();
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.cancelled() => return false,
            }
        }
    }

    async fn publish(&self, event: &TaskEvent) -> anyhow::Result<()> {
        let event_id = event.event_id.to_string();
        let response = self
            .http
            .post(if event.event_type.is_task_change() {
                &self.publish_url
            } else {
                &self.reminders_url
            })
            .query(&[
                ("metadata.partitionKey", event.user_id.as_str()),
                ("metadata.cloudevent.id", event_id.as_str()),
            ])
            .json(event)
            .send()
            .await
            .with_context(|| format!("publishing event {event_id} to the Dapr sidecar"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!("Dapr publish of event {event_id} answered {status}: {body}")
    }
}

#[async_trait]
impl Sink for DaprPublisher {
    /// Publishes every user's events in order, several users at a time. On any failure the
    /// batch fails and is retried whole; events already published then reach Kafka twice,
    /// which the consumers absorb (they are idempotent on `event_id`).
    async fn deliver(&self, events: &[TaskEvent]) -> anyhow::Result<()> {
        futures::stream::iter(per_user_in_order(events).into_iter().map(Ok))
            .try_for_each_concurrent(self.config.concurrency, |chain| async move {
                for event in chain {
                    self.publish(event).await?;
                }
                anyhow::Ok(())
            })
            .await
    }
}

/// Splits events into one sequence per user, keeping their order within each user.
fn per_user_in_order(events: &[TaskEvent]) -> Vec<Vec<&TaskEvent>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut chains: Vec<Vec<&TaskEvent>> = Vec::new();
    for event in events {
        let i = *index.entry(event.user_id.as_str()).or_insert_with(|| {
            chains.push(Vec::new());
            chains.len() - 1
        });
        chains[i].push(event);
    }
    chains
}

#[cfg(test)]
mod tests {
    use domain::{EventType, NewTask, TaskEvent};

    use super::per_user_in_order;

    fn event(user: &str, task_id: i32) -> TaskEvent {
        let task = NewTask::parse(domain::task::CreateTaskRequest {
            title: "t".into(),
            ..Default::default()
        })
        .unwrap()
        .into_task(task_id, user.into(), domain::clock::now());
        TaskEvent::record(EventType::Created, &task, domain::clock::now(), 1)
    }

    #[test]
    fn keeps_each_users_events_in_order_and_loses_none() {
        let events = vec![
            event("a", 1),
            event("b", 2),
            event("a", 3),
            event("c", 4),
            event("b", 5),
        ];
        let chains: Vec<Vec<(String, i32)>> = per_user_in_order(&events)
            .into_iter()
            .map(|c| c.into_iter().map(|e| (e.user_id.clone(), e.task_id)).collect())
            .collect();
        assert_eq!(
            chains,
            vec![
                vec![("a".into(), 1), ("a".into(), 3)],
                vec![("b".into(), 2), ("b".into(), 5)],
                vec![("c".into(), 4)],
            ]
        );
    }
}
