//! What the zero-downtime drills need beyond the default stack: the extra parts (second
//! replicas, haproxy) started for one test and stopped again whatever happens, haproxy's view
//! of its servers, each replica's metrics, and Kafka's view of a consumer group.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::stack::*;

pub const LB: &str = "http://127.0.0.1:8090";
pub const LB_STATS: &str = "http://127.0.0.1:8091/;csv";
pub const API2: &str = "http://127.0.0.1:8083";
pub const AUDIT: &str = "http://127.0.0.1:8081";
pub const AUDIT2: &str = "http://127.0.0.1:8084";

/// Runs `scripts/stack <args>` off the async threads.
pub async fn stack_async(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || stack(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

/// Extra parts of the stack for one test, stopped when dropped, also when the test fails.
pub struct Extras(&'static [&'static str]);

impl Extras {
    pub async fn start(parts: &'static [&'static str]) -> Self {
        // Made first, so that a part that fails to start is stopped with the others.
        let extras = Self(parts);
        let mut args = vec!["start"];
        args.extend_from_slice(parts);
        stack_async(&args).await;
        extras
    }
}

impl Drop for Extras {
    fn drop(&mut self) {
        let mut args = vec!["stop"];
        args.extend(self.0.iter().rev());
        let stopped = Command::new(repo_root_script("stack"))
            .args(&args)
            .env("TASKTRAIL_BIN", env!("CARGO_BIN_EXE_tasktrail"))
            .status();
        if !stopped.as_ref().is_ok_and(|s| s.success()) {
            eprintln!("scripts/stack {args:?} failed: {stopped:?}");
        }
    }
}

/// haproxy's statistics, one map per proxy/server row (`;csv` of its stats page).
pub async fn lb_stats() -> Vec<HashMap<String, String>> {
    let text = client().get(LB_STATS).send().await.unwrap().text().await.unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .map(str::to_owned)
        .collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| header.iter().cloned().zip(l.split(',').map(str::to_owned)).collect())
        .collect()
}

fn stats_row<'a>(stats: &'a [HashMap<String, String>], proxy: &str, server: &str) -> &'a HashMap<String, String> {
    stats
        .iter()
        .find(|r| r["pxname"] == proxy && r["svname"] == server)
        .unwrap_or_else(|| panic!("haproxy has no {proxy}/{server}: {stats:?}"))
}

/// A counter of haproxy's stats (0 when empty).
pub fn stat(stats: &[HashMap<String, String>], proxy: &str, server: &str, field: &str) -> u64 {
    stats_row(stats, proxy, server)[field].parse().unwrap_or(0)
}

/// How haproxy sees a server of the `api` backend: "UP", "DOWN", "UP 1/2" (going down), ...
pub async fn lb_server_status(server: &str) -> String {
    stats_row(&lb_stats().await, "api", server)["status"].clone()
}

pub async fn wait_for_lb_status(server: &str, want: &str, timeout: Duration) {
    eventually(&format!("haproxy sees {server} {want}"), timeout, || async {
        lb_server_status(server).await == want
    })
    .await;
}

/// A replica's metrics page.
pub async fn metrics(base: &str) -> Option<String> {
    client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()
}

/// Whether an api replica runs the outbox relay (None until its relay has decided).
pub async fn relay_leader(base: &str) -> Option<bool> {
    metrics(base)
        .await?
        .lines()
        .find_map(|line| line.strip_prefix("tasktrail_outbox_relay_leader "))
        .map(|value| value.trim() == "1")
}

/// The sum of a counter's series (all labels) on a replica's metrics page.
pub async fn counter(base: &str, name: &str) -> f64 {
    metrics(base)
        .await
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub async fn readyz_status(base: &str) -> Option<u16> {
    client()
        .get(format!("{base}/readyz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// The partitions of `task-events` each member of a consumer group owns, by consumer id, as
/// Kafka's own ConsumerGroupCommand reports them (empty while the group rebalances).
pub async fn group_members(group: &'static str) -> HashMap<String, Vec<i32>> {
    tokio::task::spawn_blocking(move || {
        let cache = std::env::var("TASKTRAIL_CACHE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/tasktrail"));
        let output = Command::new("java")
            .args(["-Xmx128m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp"])
            .arg(cache.join("kafka/libs/*"))
            .args([
                "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                "--bootstrap-server",
                KAFKA,
                "--describe",
                "--group",
                group,
            ])
            .output()
            .expect("run Kafka's ConsumerGroupCommand");
        let mut members: HashMap<String, Vec<i32>> = HashMap::new();
        // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let columns: Vec<&str> = line.split_whitespace().collect();
            if columns.len() == 9 && columns[1] == TOPIC && columns[6] != "-" {
                members
                    .entry(columns[6].to_owned())
                    .or_default()
                    .push(columns[2].parse().unwrap());
            }
        }
        for partitions in members.values_mut() {
            partitions.sort();
        }
        members
    })
    .await
    .unwrap()
}

/// Polls `get` until `done` holds for its value; panics with `what` after the timeout.
pub async fn wait_for_value<T, F, Fut>(what: &str, timeout: Duration, mut get: F, done: impl Fn(&T) -> bool) -> T
where
    T: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let value = get().await;
        if done(&value) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}; last seen {value:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The audit database's clock, to count what is stored from now on.
pub async fn audit_clock() -> String {
    let pool = sqlx::PgPool::connect(AUDIT_DATABASE).await.unwrap();
    let (now,): (String,) = sqlx::query_as("SELECT now()::text").fetch_one(&pool).await.unwrap();
    pool.close().await;
    now
}

/// Audit rows of events that happened since `since` (from [`audit_clock`]), and how many
/// (user, task, event type) occur in more than one row: one change stored twice, under any
/// event id, would show there.
pub async fn audit_rows_since(since: &str) -> (i64, i64) {
    let pool = sqlx::PgPool::connect(AUDIT_DATABASE).await.unwrap();
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM audit_log WHERE timestamp >= $1::timestamptz")
        .bind(since)
        .fetch_one(&pool)
        .await
        .unwrap();
    let (twice,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT 1 FROM audit_log WHERE timestamp >= $1::timestamptz \
         GROUP BY user_id, task_id, event_type HAVING count(*) > 1) AS doubled",
    )
    .bind(since)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    (rows, twice)
}

/// Every change the bench saw confirmed is in its user's trail exactly once (the bench's own
/// check), and `audit_log` holds exactly that many rows, none of them a second copy.
pub fn assert_every_change_stored_once(report: &bench::Report, rows: i64, stored_twice: i64) {
    assert_eq!(
        (report.missing, report.duplicated, report.unexpected),
        (0, 0, 0),
        "{report}"
    );
    assert_eq!(stored_twice, 0, "no change stored twice in audit_log");
    assert_eq!(
        rows, report.expected_events as i64,
        "audit_log holds exactly the confirmed changes"
    );
}
