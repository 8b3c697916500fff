use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use crate::bump;

#[derive(Default)]
pub struct Totals {
    pub ops: AtomicU64,
    pub errors: AtomicU64,
    /// Failed operations by cause: the HTTP status, or the kind of transport error.
    pub failures: Mutex<BTreeMap<String, u64>>,
    /// Observers' trail reads that failed during the run (they are retried).
    pub trail_errors: AtomicU64,
}

impl Totals {
    fn failed(&self, e: &anyhow::Error) {
        bump(&self.errors);
        *self.failures.lock().unwrap().entry(cause(e)).or_default() += 1;
    }
}

/// An operation answered with a status other than 2xx.
#[derive(Debug)]
struct StatusFailure {
    operation: String,
    status: reqwest::StatusCode,
    body: String,
}

impl std::fmt::Display for StatusFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} answered {}: {}", self.operation, self.status, self.body)
    }
}

impl std::error::Error for StatusFailure {}

fn cause(e: &anyhow::Error) -> String {
    if let Some(failure) = e.downcast_ref::<StatusFailure>() {
        return failure.status.as_u16().to_string();
    }
    match e.downcast_ref::<reqwest::Error>() {
        Some(e) if e.is_connect() => "connect error",
        Some(e) if e.is_timeout() => "timeout",
        Some(e) if e.is_body() || e.is_decode() => "broken response body",
        Some(_) => "request error",
        None => "other",
    }
    .to_owned()
}

/// One simulated user: its token, the events it caused, and what its trail has shown so far.
pub struct SimUser {
    client: reqwest::Client,
    api: String,
    audit: String,
    user_id: String,
    token: String,
    /// (task id, event type) -> when the operation's response arrived.
    expected: HashMap<(i64, String), Instant>,
    /// When each expected event was first seen in the trail.
    seen_after: HashMap<(i64, String), Duration>,
    /// Where the trail read so far ends (its `tail_cursor`), and the ids read.
    tail: Option<String>,
    seen_ids: std::collections::HashSet<i64>,
    pub http_latencies_us: Vec<u64>,
    /// Observers time op-to-audit; the others are only checked at the end.
    observer: bool,
}

/// When one user acts: every `interval` (unpaced when `None`), first after `offset`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub interval: Option<Duration>,
    pub offset: Duration,
    pub observer: bool,
}

#[derive(Deserialize)]
struct AuthResponse {
    user_id: String,
    token: String,
}

#[derive(Deserialize)]
struct TaskResponse {
    id: i64,
}

#[derive(Deserialize)]
struct AuditPage {
    events: Vec<AuditEntry>,
    next_cursor: Option<String>,
    tail_cursor: Option<String>,
}

#[derive(Deserialize)]
struct AuditEntry {
    id: i64,
    task_id: i64,
    event_type: String,
}

/// What one user contributes to the report.
pub struct Settled {
    pub http_latencies_us: Vec<u64>,
    pub audit_latencies_us: Vec<u64>,
    pub expected: usize,
    pub missing: usize,
    pub duplicated: usize,
    pub unexpected: usize,
}

impl SimUser {
    pub async fn sign_up(client: reqwest::Client, api: String, audit: String, email: String) -> anyhow::Result<Self> {
        let response = client
            .post(format!("{api}/api/auth/signup"))
            .json(&json!({"email": email, "password": "bench-password-123"}))
            .send()
            .await?;
        let status = response.status();
        anyhow::ensure!(
            status.is_success(),
            "sign-up answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
        let auth: AuthResponse = response.json().await?;
        Ok(Self {
            client,
            api,
            audit,
            user_id: auth.user_id,
            token: auth.token,
            expected: HashMap::new(),
            seen_after: HashMap::new(),
            tail: None,
            seen_ids: Default::default(),
            http_latencies_us: Vec::new(),
            observer: false,
        })
    }

    /// Loops create, update, complete, delete until the deadline. With a pace, each operation
    /// has an intended start time and its latency counts from then, so a slow server cannot
    /// hide its queueing (no coordinated omission).
    pub async fn run_until(mut self, deadline: Instant, totals: Arc<Totals>, schedule: Schedule) -> Self {
        self.observer = schedule.observer;
        let mut next_start = Instant::now() + schedule.offset;
        let mut round = 0u64;
        while Instant::now() < deadline {
            round += 1;
            if let Err(e) = self.one_round(round, &totals, &mut next_start, schedule.interval).await {
                totals.failed(&e);
                warn_line(&format!("operation failed: {e:#}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        self
    }

    async fn one_round(
        &mut self,
        round: u64,
        totals: &Totals,
        next_start: &mut Instant,
        interval: Option<Duration>,
    ) -> anyhow::Result<()> {
        let tasks = format!("{}/api/{}/tasks", self.api, self.user_id);
        let create = self
            .client
            .post(&tasks)
            .json(&json!({"title": format!("bench task {round}"), "description": "load"}));
        let created: TaskResponse = self
            .op(create, "created", None, totals, next_start, interval)
            .await?
            .json()
            .await?;
        let id = created.id;
        self.expect((id, "created".into()), Instant::now(), totals).await;
        self.after_watching(next_start);
        let task = format!("{tasks}/{id}");
        let update = self
            .client
            .put(&task)
            .json(&json!({"title": format!("bench task {round} (edited)")}));
        self.op(update, "updated", Some(id), totals, next_start, interval)
            .await?;
        self.op(
            self.client.patch(format!("{task}/complete")),
            "completed",
            Some(id),
            totals,
            next_start,
            interval,
        )
        .await?;
        self.op(
            self.client.delete(&task),
            "deleted",
            Some(id),
            totals,
            next_start,
            interval,
        )
        .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn op(
        &mut self,
        request: reqwest::RequestBuilder,
        event_type: &str,
        task_id: Option<i64>,
        totals: &Totals,
        next_start: &mut Instant,
        interval: Option<Duration>,
    ) -> anyhow::Result<reqwest::Response> {
        let intended = match interval {
            Some(interval) => {
                tokio::time::sleep_until((*next_start).into()).await;
                let intended = *next_start;
                *next_start += interval;
                intended
            }
            None => Instant::now(),
        };
        let response = request.bearer_auth(&self.token).send().await?;
        self.http_latencies_us.push(intended.elapsed().as_micros() as u64);
        let status = response.status();
        if !status.is_success() {
            return Err(StatusFailure {
                operation: event_type.to_owned(),
                status,
                body: response.text().await.unwrap_or_default(),
            }
            .into());
        }
        bump(&totals.ops);
        if let Some(id) = task_id {
            self.expect((id, event_type.to_owned()), Instant::now(), totals).await;
            self.after_watching(next_start);
        }
        Ok(response)
    }

    /// An observer's next operation is due no earlier than when it finished watching: the time
    /// spent watching its trail is its own choice, not queueing in the server, and must not
    /// count as the next operation's latency.
    fn after_watching(&self, next_start: &mut Instant) {
        if self.observer {
            *next_start = (*next_start).max(Instant::now());
        }
    }

    /// Notes an event the server owes us; observers wait to see it.
    async fn expect(&mut self, key: (i64, String), answered: Instant, totals: &Totals) {
        self.expected.insert(key.clone(), answered);
        if self.observer {
            self.watch_until_seen(&key, totals).await;
        }
    }

    /// Observers poll their trail every 50 ms until the event shows, timing op-to-audit.
    async fn watch_until_seen(&mut self, key: &(i64, String), totals: &Totals) {
        let give_up = Instant::now() + Duration::from_secs(10);
        // Short waits first: most events show within milliseconds.
        let mut waits = [2u64, 5, 10, 20].into_iter().chain(std::iter::repeat(50));
        while !self.seen_after.contains_key(key) && Instant::now() < give_up {
            if let Err(e) = self.poll_trail().await {
                bump(&totals.trail_errors);
                warn_line(&format!("reading the trail failed: {e:#}"));
            }
            if !self.seen_after.contains_key(key) {
                tokio::time::sleep(Duration::from_millis(waits.next().unwrap_or(50))).await;
            }
        }
    }

    /// Reads what the trail has stored since the last read (its `tail_cursor`, which also
    /// catches events stored late) and notes when each expected event first appears.
    async fn poll_trail(&mut self) -> anyhow::Result<()> {
        loop {
            let mut query = vec![("limit", "500".to_owned())];
            if let Some(c) = &self.tail {
                query.push(("cursor", c.clone()));
            }
            let page: AuditPage = self
                .client
                .get(format!("{}/api/{}/audit", self.audit, self.user_id))
                .query(&query)
                .bearer_auth(&self.token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let now = Instant::now();
            for e in &page.events {
                if !self.seen_ids.insert(e.id) {
                    continue;
                }
                let key = (e.task_id, e.event_type.clone());
                if let Some(at) = self.expected.get(&key) {
                    self.seen_after
                        .entry(key)
                        .or_insert_with(|| now.saturating_duration_since(*at));
                }
            }
            if page.tail_cursor.is_some() {
                self.tail = page.tail_cursor;
            }
            if page.next_cursor.is_none() {
                return Ok(());
            }
        }
    }

    /// Waits for the remaining events, then checks the whole trail from the start: every
    /// expected event exactly once.
    pub async fn settle(mut self, deadline: Instant) -> Settled {
        while self.seen_after.len() < self.expected.len() && Instant::now() < deadline {
            if self.poll_trail().await.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            if self.seen_after.len() < self.expected.len() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let mut counts: HashMap<(i64, String), usize> = HashMap::new();
        let mut cursor: Option<String> = None;
        let mut complete_read = true;
        loop {
            let mut request = self
                .client
                .get(format!("{}/api/{}/audit", self.audit, self.user_id))
                .query(&[("limit", "500")])
                .bearer_auth(&self.token);
            if let Some(c) = &cursor {
                request = request.query(&[("cursor", c)]);
            }
            let page: AuditPage = match async { request.send().await?.error_for_status()?.json().await }.await {
                Ok(p) => p,
                Err(e) => {
                    warn_line(&format!("final trail read failed: {e}"));
                    complete_read = false;
                    break;
                }
            };
            for e in page.events {
                *counts.entry((e.task_id, e.event_type)).or_default() += 1;
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let missing = if complete_read {
            self.expected.keys().filter(|k| !counts.contains_key(*k)).count()
        } else {
            self.expected.len()
        };
        Settled {
            http_latencies_us: std::mem::take(&mut self.http_latencies_us),
            // Only observers watched closely enough for their timings to mean something.
            audit_latencies_us: if self.observer {
                self.seen_after.values().map(|d| d.as_micros() as u64).collect()
            } else {
                Vec::new()
            },
            expected: self.expected.len(),
            missing,
            duplicated: counts.values().filter(|n| **n > 1).map(|n| n - 1).sum(),
            unexpected: counts.keys().filter(|k| !self.expected.contains_key(*k)).count(),
        }
    }
}

fn warn_line(message: &str) {
    eprintln!("  ! {message}");
}
