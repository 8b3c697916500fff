//! The distributed transport's sending half: events go to Kafka through the Dapr sidecar's
//! bulk publish API (`/v1.0-alpha1/publish/bulk`, implemented for Kafka: one produce request
//! per partition for a whole request), keyed by user so that one user's events stay on one
//! partition in order.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use domain::TaskEvent;
use futures::TryStreamExt;
use serde::Serialize;
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
    /// How many bulk publish requests are in flight at once.
    pub concurrency: usize,
    /// Most events in one bulk publish request.
    pub bulk_size: usize,
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
                "{}/v1.0-alpha1/publish/bulk/{}/{topic}",
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

    /// One bulk publish request: answered 2xx only when Kafka has every event of it.
    async fn publish(&self, url: &str, request: BulkRequest) -> anyhow::Result<()> {
        let BulkRequest {
            body,
            count,
            first_event_id,
        } = request;
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .with_context(|| format!("publishing {count} events to the Dapr sidecar"))?;
        let status = response.status();
        if status.is_success() {
            metrics::histogram!("tasktrail_publish_bulk_size").record(count as f64);
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(1000).collect();
        anyhow::bail!("Dapr bulk publish of {count} events (first {first_event_id}) answered {status}: {body}")
    }
}

/// daprd refuses request bodies over 4 MB by default (`--max-body-size`); a request stays well
/// under that whatever its events hold (one event is at most a few kB).
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The JSON body of one bulk publish request.
struct BulkRequest {
    body: Vec<u8>,
    count: usize,
    first_event_id: String,
}

/// Packs events into request bodies of at most `max_count` entries and, unless a single entry
/// is larger, `max_bytes` bytes.
fn bulk_requests(events: &[&TaskEvent], max_count: usize, max_bytes: usize) -> anyhow::Result<Vec<BulkRequest>> {
    let mut requests: Vec<BulkRequest> = Vec::new();
    for event in events {
        let entry = serde_json::to_vec(&BulkEntry::new(event)).context("encoding an event")?;
        let fits = requests
            .last()
            .is_some_and(|r| r.count < max_count && r.body.len() + 1 + entry.len() < max_bytes);
        if !fits {
            requests.push(BulkRequest {
                body: vec![b'['],
                count: 0,
                first_event_id: event.event_id.to_string(),
            });
        }
        let request = requests.last_mut().expect("pushed above");
        if request.count > 0 {
            request.body.push(b',');
        }
        request.body.extend_from_slice(&entry);
        request.count += 1;
    }
    for request in &mut requests {
        request.body.push(b']');
    }
    Ok(requests)
}

/// An entry of a bulk publish request. Its metadata are those of a single publish: the
/// partition key and the CloudEvent id (the consumers' deduplication key).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BulkEntry<'a> {
    entry_id: String,
    event: &'a TaskEvent,
    content_type: &'static str,
    metadata: EntryMetadata<'a>,
}

#[derive(Serialize)]
struct EntryMetadata<'a> {
    #[serde(rename = "partitionKey")]
    partition_key: &'a str,
    #[serde(rename = "cloudevent.id")]
    cloudevent_id: String,
}

impl<'a> BulkEntry<'a> {
    fn new(event: &'a TaskEvent) -> Self {
        let id = event.event_id.to_string();
        Self {
            entry_id: id.clone(),
            event,
            content_type: "application/json",
            metadata: EntryMetadata {
                partition_key: &event.user_id,
                cloudevent_id: id,
            },
        }
    }
}

#[async_trait]
impl Sink for DaprPublisher {
    /// Publishes the batch in rounds: round k holds each user's k-th event, and starts only
    /// when Kafka has all of round k-1. So a user's event is sent only after all its earlier
    /// ones were accepted, and a request that fails in part (which Kafka may have taken some
    /// of) never puts a user's later event before an earlier one. On any failure the batch
    /// fails and is retried whole; events already published then reach Kafka twice, which the
    /// consumers absorb (they are idempotent on `event_id`).
    async fn deliver(&self, events: &[TaskEvent]) -> anyhow::Result<()> {
        for round in rounds(events) {
            let (changes, reminders): (Vec<&TaskEvent>, Vec<&TaskEvent>) =
                round.into_iter().partition(|event| event.event_type.is_task_change());
            let pack = |events: &[&TaskEvent]| bulk_requests(events, self.config.bulk_size, MAX_REQUEST_BYTES);
            let requests = pack(&changes)?
                .into_iter()
                .map(|r| (self.publish_url.as_str(), r))
                .chain(pack(&reminders)?.into_iter().map(|r| (self.reminders_url.as_str(), r)));
            futures::stream::iter(requests.map(Ok))
                .try_for_each_concurrent(self.config.concurrency, |(url, request)| self.publish(url, request))
                .await?;
        }
        Ok(())
    }
}

/// Splits events into rounds: round k holds each user's k-th event, in outbox order.
fn rounds(events: &[TaskEvent]) -> Vec<Vec<&TaskEvent>> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut rounds: Vec<Vec<&TaskEvent>> = Vec::new();
    for event in events {
        let k = seen.entry(event.user_id.as_str()).or_insert(0);
        if *k == rounds.len() {
            rounds.push(Vec::new());
        }
        rounds[*k].push(event);
        *k += 1;
    }
    rounds
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use domain::{EventType, NewTask, TaskEvent};
    use proptest::prelude::*;

    use super::{BulkEntry, bulk_requests, rounds};

    fn event(user: &str, task_id: i32) -> TaskEvent {
        let task = NewTask::parse(domain::task::CreateTaskRequest {
            title: "t".into(),
            ..Default::default()
        })
        .unwrap()
        .into_task(task_id, user.into(), domain::clock::now());
        TaskEvent::record(EventType::Created, &task, domain::clock::now(), 1)
    }

    fn ids(rounds: Vec<Vec<&TaskEvent>>) -> Vec<Vec<(String, i32)>> {
        rounds
            .into_iter()
            .map(|r| r.into_iter().map(|e| (e.user_id.clone(), e.task_id)).collect())
            .collect()
    }

    #[test]
    fn each_round_holds_each_users_next_event() {
        let events = vec![
            event("a", 1),
            event("b", 2),
            event("a", 3),
            event("c", 4),
            event("a", 5),
            event("b", 6),
        ];
        assert_eq!(
            ids(rounds(&events)),
            vec![
                vec![("a".into(), 1), ("b".into(), 2), ("c".into(), 4)],
                vec![("a".into(), 3), ("b".into(), 6)],
                vec![("a".into(), 5)],
            ]
        );
        assert!(rounds(&[]).is_empty());
    }

    proptest! {
        /// Whatever the mix: every event in exactly one round, no user twice in a round, and
        /// each user's events in outbox order from round to round.
        #[test]
        fn rounds_keep_every_event_and_each_users_order(users in proptest::collection::vec(0u8..6, 0..60)) {
            let events: Vec<TaskEvent> = users
                .iter()
                .enumerate()
                .map(|(n, u)| event(&format!("user{u}"), n as i32))
                .collect();
            let rounds = ids(rounds(&events));
            let mut by_user: HashMap<String, Vec<i32>> = HashMap::new();
            for round in &rounds {
                let distinct: HashSet<&String> = round.iter().map(|(u, _)| u).collect();
                prop_assert_eq!(distinct.len(), round.len());
                for (user, n) in round {
                    by_user.entry(user.clone()).or_default().push(*n);
                }
            }
            prop_assert_eq!(by_user.values().map(Vec::len).sum::<usize>(), events.len());
            for (user, ns) in by_user {
                let expected: Vec<i32> = events.iter().filter(|e| e.user_id == user).map(|e| e.task_id).collect();
                prop_assert_eq!(ns, expected);
            }
        }
    }

    /// Requests hold at most the count, and stay under the byte bound; together they are the
    /// events, in order, as JSON arrays of entries.
    #[test]
    fn bulk_requests_are_bounded_by_count_and_bytes() {
        let events: Vec<TaskEvent> = (0..10).map(|n| event(&format!("u{n}"), n)).collect();
        let refs: Vec<&TaskEvent> = events.iter().collect();
        let entry_bytes = serde_json::to_vec(&BulkEntry::new(&events[0])).unwrap().len();
        for (max_count, max_bytes, expected) in [
            (500, 1 << 20, vec![10]),
            (4, 1 << 20, vec![4, 4, 2]),
            // Room for three entries (and the brackets and commas), not four.
            (500, 3 * entry_bytes + 10, vec![3, 3, 3, 1]),
            // An entry larger than the bound still goes, alone.
            (500, 10, vec![1; 10]),
        ] {
            let requests = bulk_requests(&refs, max_count, max_bytes).unwrap();
            assert_eq!(requests.iter().map(|r| r.count).collect::<Vec<_>>(), expected);
            let mut ids = Vec::new();
            for request in &requests {
                let entries: Vec<serde_json::Value> = serde_json::from_slice(&request.body).unwrap();
                assert_eq!(entries.len(), request.count);
                assert_eq!(entries[0]["entryId"], request.first_event_id.as_str());
                if request.count > 1 {
                    assert!(request.body.len() < max_bytes, "{} bytes", request.body.len());
                }
                ids.extend(entries.iter().map(|e| e["entryId"].as_str().unwrap().to_owned()));
            }
            let expected_ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
            assert_eq!(ids, expected_ids);
        }
    }

    /// The shape daprd's bulk publish API reads (`bulkPublishMessageEntry` in daprd 1.14).
    #[test]
    fn a_bulk_entry_carries_the_partition_key_and_the_cloudevent_id() {
        let event = event("ada", 7);
        let entry = serde_json::to_value(BulkEntry::new(&event)).unwrap();
        let id = event.event_id.to_string();
        assert_eq!(entry["entryId"], id.as_str());
        assert_eq!(entry["contentType"], "application/json");
        assert_eq!(entry["metadata"]["partitionKey"], "ada");
        assert_eq!(entry["metadata"]["cloudevent.id"], id.as_str());
        assert_eq!(entry["event"], serde_json::to_value(&event).unwrap());
    }
}
