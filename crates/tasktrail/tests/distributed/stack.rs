//! The local stack (scripts/stack), started once per test run with this build's binary, and
//! what the tests need to look at it: HTTP as a user, Kafka as a consumer, the databases.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};

#[path = "../common/http_client.rs"]
mod http_client;
pub use http_client::*;

pub const API: &str = "http://127.0.0.1:8080";
pub const API_SIDECAR: &str = "http://127.0.0.1:3500";
pub const KAFKA: &str = "127.0.0.1:9092";
pub const TOPIC: &str = "task-events";
pub const DEAD_LETTER_TOPIC: &str = "task-events-dlq";
pub const API_DATABASE: &str = "postgres://tasktrail:tasktrail@127.0.0.1:5432/tasktrail_api";
pub const AUDIT_DATABASE: &str = "postgres://tasktrail:tasktrail@127.0.0.1:5432/tasktrail_audit";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn repo_root_script(name: &str) -> PathBuf {
    repo_root().join("scripts").join(name)
}

/// Runs `scripts/stack <args>`; panics with its output if it fails.
pub fn stack(args: &[&str]) -> String {
    script("stack", args)
}

/// Runs `scripts/<name> <args>`; panics with its output if it fails.
fn script(name: &str, args: &[&str]) -> String {
    let output = Command::new(repo_root_script(name))
        .args(args)
        .env("TASKTRAIL_BIN", env!("CARGO_BIN_EXE_tasktrail"))
        .output()
        .expect("scripts/stack runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "scripts/{name} {args:?} failed:\n{text}");
    text
}

/// The pid `scripts/stack` recorded for a part it started, if the part is running.
pub fn part_pid(part: &str) -> Option<u32> {
    let cache = std::env::var_os("TASKTRAIL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/tasktrail"));
    let pid: u32 = std::fs::read_to_string(cache.join("stack").join(format!("{part}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    PathBuf::from(format!("/proc/{pid}")).exists().then_some(pid)
}

static STARTED: OnceLock<()> = OnceLock::new();
static TURN: Mutex<()> = Mutex::const_new(());

/// The stack, running this build's binary, for one test at a time: restarts the three services
/// and their sidecars once per test run (a sidecar reads its app's subscriptions only when it
/// starts; Kafka and PostgreSQL stay up), then brings everything up.
pub async fn exclusive_stack() -> MutexGuard<'static, ()> {
    let turn = TURN.lock().await;
    STARTED.get_or_init(|| {
        // The drills' extra parts too, in case an earlier run was killed before stopping them.
        // All at once: each service drains for a few seconds before it exits.
        std::thread::scope(|threads| {
            for part in [
                "lb",
                "api2",
                "audit2",
                "api",
                "audit",
                "notify",
                "api2-dapr",
                "audit2-dapr",
                "api-dapr",
                "audit-dapr",
                "notify-dapr",
            ] {
                threads.spawn(move || stack(&["stop", part]));
            }
        });
        // Records an earlier run left unread (the drills' load) would keep notify busy for its
        // first minute, and this run's emails would wait behind them.
        stack(&["start", "kafka"]);
        script("kafka", &["skip-backlog"]);
        stack(&["up"]);
    });
    // A test that failed half-way may have left a part stopped.
    stack(&["up"]);
    turn
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub async fn new_user(http: &reqwest::Client) -> User {
    signup(http, API).await
}

/// Polls the user's trail (through the api's origin) until it holds `count` entries.
pub async fn wait_for_user_trail(http: &reqwest::Client, user: &User, count: usize, timeout: Duration) -> Vec<Value> {
    wait_for_trail(http, API, user, count, timeout).await
}

/// One record of a Kafka topic as a consumer sees it.
#[derive(Debug, Clone)]
pub struct KafkaRecord {
    pub partition: i32,
    pub key: Option<String>,
    pub value: Value,
    pub headers: Vec<(String, String)>,
}

/// A real Kafka client that reads topics from recorded offsets onwards.
pub struct KafkaReader {
    client: Client,
}

impl KafkaReader {
    pub async fn connect() -> Self {
        let client = ClientBuilder::new(vec![KAFKA.to_owned()])
            .build()
            .await
            .expect("connect to Kafka");
        Self { client }
    }

    pub async fn partitions(&self, topic: &str) -> Vec<i32> {
        let topics = self.client.list_topics().await.expect("list topics");
        let mut partitions: Vec<i32> = topics
            .into_iter()
            .find(|t| t.name == topic)
            .unwrap_or_else(|| panic!("topic {topic} exists"))
            .partitions
            .into_iter()
            .collect();
        partitions.sort();
        partitions
    }

    /// The end offset of every partition: where records written from now on will start.
    pub async fn end_offsets(&self, topic: &str) -> Vec<(i32, i64)> {
        let mut offsets = Vec::new();
        for partition in self.partitions(topic).await {
            let client = self
                .client
                .partition_client(topic, partition, UnknownTopicHandling::Error)
                .await
                .unwrap();
            offsets.push((partition, client.get_offset(OffsetAt::Latest).await.unwrap()));
        }
        offsets
    }

    /// Every record written to the topic after `from`.
    pub async fn records_since(&self, topic: &str, from: &[(i32, i64)]) -> Vec<KafkaRecord> {
        let mut records = Vec::new();
        for &(partition, start) in from {
            let client = self
                .client
                .partition_client(topic, partition, UnknownTopicHandling::Error)
                .await
                .unwrap();
            let end = client.get_offset(OffsetAt::Latest).await.unwrap();
            let mut offset = start;
            while offset < end {
                let (batch, _) = client.fetch_records(offset, 1..10_000_000, 500).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                for r in batch {
                    offset = r.offset + 1;
                    let value = r.record.value.as_deref().unwrap_or_default();
                    records.push(KafkaRecord {
                        partition,
                        key: r.record.key.map(|k| String::from_utf8_lossy(&k).into_owned()),
                        value: serde_json::from_slice(value)
                            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(value).into_owned())),
                        headers: r
                            .record
                            .headers
                            .into_iter()
                            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                            .collect(),
                    });
                }
            }
        }
        records
    }
}

/// How many events wait in the api's outbox (read from its database).
pub async fn outbox_backlog() -> i64 {
    let pool = sqlx::PgPool::connect(API_DATABASE).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

/// How many audit rows carry each of these event ids (read from the audit database).
pub async fn audit_rows_per_event(event_ids: &[uuid::Uuid]) -> std::collections::HashMap<uuid::Uuid, i64> {
    let pool = sqlx::PgPool::connect(AUDIT_DATABASE).await.unwrap();
    let rows: Vec<(uuid::Uuid, i64)> =
        sqlx::query_as("SELECT event_id, count(*) FROM audit_log WHERE event_id = ANY($1) GROUP BY event_id")
            .bind(event_ids)
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    rows.into_iter().collect()
}

/// Waits until `check` holds, polling; panics with `what` after the timeout.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
