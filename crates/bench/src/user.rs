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

/// One simulated user: its token, and the record of the events it caused.
pub struct SimUser {
    client: reqwest::Client,
    api: String,
    token: String,
    user_id: String,
    trail: Trail,
    pub http_latencies_us: Vec<u64>,
}

/// A user's audit trail as the bench sees it: the events the server owes, and when each was
/// first seen.
struct Trail {
    client: reqwest::Client,
    url: String,
    token: String,
    /// (task id, event type) -> when the operation's response arrived.
    expected: HashMap<(i64, String), Instant>,
    /// When each event was first seen in the trail. A watcher may read an event before it
    /// hears of the operation's answer; such an event counts as seen at once.
    first_seen: HashMap<(i64, String), Instant>,
    /// Where the trail read so far ends (its `tail_cursor`), and the ids read.
    tail: Option<String>,
    seen_ids: std::collections::HashSet<i64>,
}

type Expectation = ((i64, String), Instant);

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
        let trail = Trail {
            client: client.clone(),
            url: format!("{audit}/api/{}/audit", auth.user_id),
            token: auth.token.clone(),
            expected: HashMap::new(),
            first_seen: HashMap::new(),
            tail: None,
            seen_ids: Default::default(),
        };
        Ok(Self {
            client,
            api,
            token: auth.token,
            user_id: auth.user_id,
            trail,
            http_latencies_us: Vec::new(),
        })
    }

    /// Loops create, update, complete, delete until the deadline. With a pace, each operation
    /// has an intended start time and its latency counts from then, so a slow server cannot
    /// hide its queueing (no coordinated omission). An observer's trail is watched by a task of
    /// its own, so that waiting for an event never moves the next operation's start.
    pub async fn run_until(mut self, deadline: Instant, totals: Arc<Totals>, schedule: Schedule) -> (Self, bool) {
        let watcher = schedule.observer.then(|| {
            let (sender, expectations) = tokio::sync::mpsc::unbounded_channel();
            let placeholder = self.trail.empty_copy();
            let trail = std::mem::replace(&mut self.trail, placeholder);
            (sender, tokio::spawn(trail.watch(expectations, totals.clone())))
        });
        let sender = watcher.as_ref().map(|(sender, _)| sender.clone());
        let mut next_start = Instant::now() + schedule.offset;
        let mut round = 0u64;
        while Instant::now() < deadline {
            round += 1;
            if let Err(e) = self
                .one_round(round, &totals, &mut next_start, schedule.interval, sender.as_ref())
                .await
            {
                totals.failed(&e);
                warn_line(&format!("operation failed: {e:#}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        drop(sender);
        if let Some((sender, handle)) = watcher {
            drop(sender);
            match handle.await {
                Ok(trail) => self.trail = trail,
                Err(e) => warn_line(&format!("a trail watcher failed: {e}")),
            }
        }
        (self, schedule.observer)
    }

    async fn one_round(
        &mut self,
        round: u64,
        totals: &Totals,
        next_start: &mut Instant,
        interval: Option<Duration>,
        watcher: Option<&Watcher>,
    ) -> anyhow::Result<()> {
        let tasks = format!("{}/api/{}/tasks", self.api, self.user_id);
        let create = self
            .client
            .post(&tasks)
            .json(&json!({"title": format!("bench task {round}"), "description": "load"}));
        let created: TaskResponse = self
            .op(create, "created", None, totals, next_start, interval, watcher)
            .await?
            .json()
            .await?;
        let id = created.id;
        self.expect((id, "created".into()), Instant::now(), watcher);
        let task = format!("{tasks}/{id}");
        let update = self
            .client
            .put(&task)
            .json(&json!({"title": format!("bench task {round} (edited)")}));
        self.op(update, "updated", Some(id), totals, next_start, interval, watcher)
            .await?;
        self.op(
            self.client.patch(format!("{task}/complete")),
            "completed",
            Some(id),
            totals,
            next_start,
            interval,
            watcher,
        )
        .await?;
        self.op(
            self.client.delete(&task),
            "deleted",
            Some(id),
            totals,
            next_start,
            interval,
            watcher,
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
        watcher: Option<&Watcher>,
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
            self.expect((id, event_type.to_owned()), Instant::now(), watcher);
        }
        Ok(response)
    }

    /// Notes an event the server owes us; an observer's watcher times its arrival.
    fn expect(&mut self, key: (i64, String), answered: Instant, watcher: Option<&Watcher>) {
        match watcher {
            // The watcher owns the trail until the run ends; it records the expectation.
            Some(watcher) => {
                let _ = watcher.send((key, answered));
            }
            None => {
                self.trail.expected.insert(key, answered);
            }
        }
    }

    /// Waits for the remaining events, then checks the whole trail from the start.
    pub async fn settle(self, deadline: Instant, observer: bool) -> Settled {
        self.trail.settle(deadline, observer, self.http_latencies_us).await
    }
}

type Watcher = tokio::sync::mpsc::UnboundedSender<Expectation>;

impl Trail {
    /// Every event of the trail, counted by (task, type), read from its start.
    async fn read_whole_trail(&self) -> anyhow::Result<HashMap<(i64, String), usize>> {
        let mut counts: HashMap<(i64, String), usize> = HashMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = self
                .client
                .get(&self.url)
                .query(&[("limit", "500")])
                .bearer_auth(&self.token);
            if let Some(c) = &cursor {
                request = request.query(&[("cursor", c)]);
            }
            let page: AuditPage = request.send().await?.error_for_status()?.json().await?;
            for e in page.events {
                *counts.entry((e.task_id, e.event_type)).or_default() += 1;
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(counts),
            }
        }
    }

    fn empty_copy(&self) -> Self {
        Self {
            client: self.client.clone(),
            url: self.url.clone(),
            token: self.token.clone(),
            expected: HashMap::new(),
            first_seen: HashMap::new(),
            tail: None,
            seen_ids: Default::default(),
        }
    }

    /// An observer's watcher: polls the trail while any expected event is unseen (after 2, 5,
    /// 10, 20, then every 50 ms), timing each from its operation's answer. Runs beside the
    /// operations, so its waits never delay them; ends when the user stops operating.
    async fn watch(
        mut self,
        mut expectations: tokio::sync::mpsc::UnboundedReceiver<Expectation>,
        totals: Arc<Totals>,
    ) -> Self {
        let waits = || [2u64, 5, 10, 20].into_iter().chain(std::iter::repeat(50));
        let mut backoff = waits();
        let mut pending: Vec<(i64, String)> = Vec::new();
        // Whether the user still operates. Once it stops, the events still owed are watched
        // to the end: left to the final check, they would be timed from when the slowest
        // user's last round ended, not from when they were stored.
        let mut operating = true;
        loop {
            if pending.is_empty() {
                if !operating {
                    return self;
                }
                // Nothing owed: wait for the next operation (or the end of the run).
                match expectations.recv().await {
                    Some((key, answered)) => {
                        self.expected.insert(key.clone(), answered);
                        pending.push(key);
                        backoff = waits();
                    }
                    None => return self,
                }
            }
            while let Ok((key, answered)) = expectations.try_recv() {
                self.expected.insert(key.clone(), answered);
                pending.push(key);
            }
            let wait = tokio::time::sleep(Duration::from_millis(backoff.next().unwrap_or(50)));
            tokio::select! {
                more = expectations.recv(), if operating => match more {
                    Some((key, answered)) => {
                        self.expected.insert(key.clone(), answered);
                        pending.push(key);
                        continue;
                    }
                    None => {
                        operating = false;
                        continue;
                    }
                },
                _ = wait => {}
            }
            if let Err(e) = self.poll().await {
                bump(&totals.trail_errors);
                warn_line(&format!("reading the trail failed: {e:#}"));
            }
            pending.retain(|key| !self.first_seen.contains_key(key));
            // An event not seen in 10 s is left to the final check (it counts as missing there
            // if it never comes); the watcher goes on with the others.
            let now = Instant::now();
            pending.retain(|key| {
                self.expected
                    .get(key)
                    .is_some_and(|at| now.duration_since(*at) < Duration::from_secs(10))
            });
        }
    }

    /// Reads what the trail has stored since the last read (its `tail_cursor`, which also
    /// catches events stored late) and notes when each expected event first appears.
    async fn poll(&mut self) -> anyhow::Result<()> {
        loop {
            let mut query = vec![("limit", "500".to_owned())];
            if let Some(c) = &self.tail {
                query.push(("cursor", c.clone()));
            }
            let page: AuditPage = self
                .client
                .get(&self.url)
                .query(&query)
                .bearer_auth(&self.token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let now = Instant::now();
            for e in &page.events {
                if self.seen_ids.insert(e.id) {
                    self.first_seen.entry((e.task_id, e.event_type.clone())).or_insert(now);
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
    async fn settle(mut self, deadline: Instant, observer: bool, http_latencies_us: Vec<u64>) -> Settled {
        let unseen = |trail: &Self| trail.expected.keys().any(|k| !trail.first_seen.contains_key(k));
        while unseen(&self) && Instant::now() < deadline {
            if self.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            if unseen(&self) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // A read that fails (a 503 while the server is overloaded) proves nothing either way:
        // it is tried again before this user's events are counted as missing.
        let mut counts = None;
        for attempt in 1..=FINAL_READS {
            match self.read_whole_trail().await {
                Ok(read) => {
                    counts = Some(read);
                    break;
                }
                Err(e) => {
                    warn_line(&format!("final trail read {attempt} of {FINAL_READS} failed: {e:#}"));
                    if attempt < FINAL_READS {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
        let complete_read = counts.is_some();
        let counts = counts.unwrap_or_default();
        let missing = if complete_read {
            self.expected.keys().filter(|k| !counts.contains_key(*k)).count()
        } else {
            self.expected.len()
        };
        Settled {
            http_latencies_us,
            // Only observers watched closely enough for their timings to mean something.
            audit_latencies_us: if observer {
                self.expected
                    .iter()
                    .filter_map(|(key, answered)| {
                        self.first_seen
                            .get(key)
                            .map(|seen| seen.saturating_duration_since(*answered))
                    })
                    .map(|d| d.as_micros() as u64)
                    .collect()
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

/// Tries of a user's final trail read before its events count as missing.
const FINAL_READS: u32 = 3;

fn warn_line(message: &str) {
    eprintln!("  ! {message}");
}
