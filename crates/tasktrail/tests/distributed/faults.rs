//! Faults lose nothing: the audit service down or restarted mid-load, Kafka down, PostgreSQL
//! crashed and restarted. Every operation the api confirmed ends up in the trail exactly once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::replicas::AUDIT;
use crate::stack::*;

/// `per_user` operations for each user, the users in parallel: creates, every second one
/// followed by completing the task it created. Returns how many events each user should have.
async fn operate(http: &reqwest::Client, users: &[User], per_user: usize, pause: Duration) -> Vec<usize> {
    let runs = users.iter().map(|user| async move {
        let mut done = 0;
        let mut last_task = None;
        while done < per_user {
            let (method, path, body) = match last_task.take() {
                Some(id) if done % 2 == 1 => (Method::PATCH, format!("/api/{}/tasks/{id}/complete", user.id), None),
                _ => (
                    Method::POST,
                    format!("/api/{}/tasks", user.id),
                    Some(json!({"title": format!("op {done}")})),
                ),
            };
            let (status, body) = call(http, API, method.clone(), &path, Some(&user.token), body).await;
            assert!(status.is_success(), "{method} {path} answered {status}: {body}");
            if method == Method::POST {
                last_task = Some(body["id"].as_i64().unwrap());
            }
            done += 1;
            tokio::time::sleep(pause).await;
        }
        done
    });
    futures::future::join_all(runs).await
}

async fn users(http: &reqwest::Client, n: usize) -> Vec<User> {
    let mut users = Vec::with_capacity(n);
    for _ in 0..n {
        users.push(new_user(http).await);
    }
    users
}

/// Waits until every user's trail holds its expected count, then checks it holds exactly
/// that many distinct events: none lost, none twice.
async fn assert_all_stored_once(http: &reqwest::Client, users: &[User], expected: &[usize], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for (user, &count) in users.iter().zip(expected) {
        let left = deadline.saturating_duration_since(Instant::now());
        let trail = wait_for_user_trail(http, user, count, left).await;
        assert_eq!(
            trail.len(),
            count,
            "user {} has {} of {count} events",
            user.id,
            trail.len()
        );
        let distinct: HashSet<&str> = trail.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
        assert_eq!(distinct.len(), count);
    }
    // Late duplicates would show up now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (user, &count) in users.iter().zip(expected) {
        assert_eq!(trail(http, API, user).await.len(), count, "no event stored twice");
    }
}

async fn stack_async(args: &'static [&'static str]) -> String {
    tokio::task::spawn_blocking(move || stack(args)).await.unwrap()
}

/// The audit service is stopped while 200 operations happen, then started again: the api
/// keeps answering, and all 200 events are stored, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_service_down_during_200_operations_loses_nothing() {
    let _turn = exclusive_stack().await;
    let http = client();
    let users = users(&http, 20).await;

    stack_async(&["stop", "audit"]).await;
    let (status, body) = call(
        &http,
        API,
        Method::GET,
        &format!("/api/{}/audit", users[0].id),
        Some(&users[0].token),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the proxy says the audit service is away: {body}"
    );
    let expected = operate(&http, &users, 10, Duration::ZERO).await;
    assert_eq!(expected.iter().sum::<usize>(), 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack_async(&["start", "audit"]).await;

    assert_all_stored_once(&http, &users, &expected, Duration::from_secs(60)).await;
}

/// Kafka is stopped while operations happen: the api answers 2xx and the outbox grows; Kafka
/// started again: the backlog drains and every event is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_down_grows_the_outbox_and_loses_nothing() {
    let _turn = exclusive_stack().await;
    let http = client();
    let users = users(&http, 10).await;
    eventually("an empty outbox before the test", Duration::from_secs(30), || async {
        outbox_backlog().await == 0
    })
    .await;

    stack_async(&["stop", "kafka"]).await;
    let expected = operate(&http, &users, 6, Duration::ZERO).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let backlog = outbox_backlog().await;
    assert!(
        backlog >= 60,
        "the outbox holds the events Kafka could not take: {backlog}"
    );
    stack_async(&["start", "kafka"]).await;

    assert_all_stored_once(&http, &users, &expected, Duration::from_secs(90)).await;
    eventually("the outbox drained", Duration::from_secs(30), || async {
        outbox_backlog().await == 0
    })
    .await;
}

/// SIGTERM to the audit service in the middle of a load, then a restart: nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_to_the_audit_service_mid_load_loses_nothing() {
    let _turn = exclusive_stack().await;
    let http = client();
    let users = users(&http, 20).await;

    let load = {
        let (http, users) = (http.clone(), users.clone());
        tokio::spawn(async move { operate(&http, &users, 30, Duration::from_millis(100)).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stack_async(&["stop", "audit", "TERM"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stack_async(&["start", "audit"]).await;
    let expected = load.await.unwrap();
    assert_eq!(expected.iter().sum::<usize>(), 600);

    assert_all_stored_once(&http, &users, &expected, Duration::from_secs(60)).await;
}

/// A change as the trail shows it: the event type, and what tells it apart from the user's other
/// changes (the title, unique per attempt, for `created` and `updated`; the task id for
/// `completed` and `deleted`, which happen once per task).
type Change = (String, String);

fn change_of(event: &serde_json::Value) -> Change {
    let event_type = event["event_type"].as_str().map(str::to_owned);
    let ident = match event_type.as_deref() {
        Some("created" | "updated") => event["event_data"]["task_data"]["title"].as_str().map(str::to_owned),
        _ => event["task_id"].as_i64().map(|id| id.to_string()),
    };
    let (Some(event_type), Some(ident)) = (event_type, ident) else {
        panic!("a trail entry without its type, title or task id: {event}");
    };
    (event_type, ident)
}

/// What one user's load saw.
#[derive(Default)]
struct Ledger {
    /// Changes the api confirmed with a 2xx, or that a read after a 503 showed were made: each
    /// must be in the trail exactly once.
    confirmed: Vec<Change>,
    /// When each confirmation came.
    confirmed_at: Vec<Instant>,
    /// Changes answered 503: made or not (a commit can land just before the connection drops),
    /// so each may be in the trail, at most once.
    unconfirmed: HashSet<Change>,
    /// 503 answers (each with code `unavailable` and a Retry-After).
    unavailable: usize,
    /// Answers no client should get: a 500, a 503 without Retry-After, a dropped connection.
    wrong: Vec<String>,
}

impl Ledger {
    fn confirm(&mut self, event_type: &str, ident: impl ToString) {
        self.confirmed.push((event_type.to_owned(), ident.to_string()));
        self.confirmed_at.push(Instant::now());
    }
}

enum Reply {
    /// Any answer below 500 (the caller judges it).
    Answered(StatusCode, serde_json::Value),
    /// 503 `unavailable`: retry after the pause it asked for.
    Unavailable(Duration),
    /// Recorded in the ledger's `wrong`; the user's load stops.
    Wrong,
}

async fn request(
    http: &reqwest::Client,
    user: &User,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
    ledger: &mut Ledger,
) -> Reply {
    let mut request = http
        .request(method.clone(), format!("{API}{path}"))
        .bearer_auth(&user.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            ledger.wrong.push(format!("{method} {path}: no answer: {e}"));
            return Reply::Wrong;
        }
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let text = response.text().await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    match (status, retry_after) {
        (StatusCode::SERVICE_UNAVAILABLE, Some(secs)) if body["error"]["code"] == "unavailable" => {
            ledger.unavailable += 1;
            Reply::Unavailable(Duration::from_secs(secs))
        }
        (status, _) if status.is_server_error() => {
            ledger.wrong.push(format!(
                "{method} {path} answered {status} (Retry-After {retry_after:?}): {body}"
            ));
            Reply::Wrong
        }
        (status, _) => Reply::Answered(status, body),
    }
}

/// How often one operation is tried before the load gives up on it (a 503 asks for 2 s).
const TRIES: usize = 15;

/// One user's load: `cycles` times create a task, rename it, complete it, delete it, pausing
/// between operations. A 503 is not a confirmation: the operation is tried again after the
/// pause the answer asks for, as a new attempt (a new title), or, for completing and deleting,
/// after finding out whether the earlier attempt was made. Stops at the first wrong answer.
async fn operate_through_outage(http: reqwest::Client, user: User, cycles: usize, pause: Duration) -> Ledger {
    let mut ledger = Ledger::default();
    let tasks = format!("/api/{}/tasks", user.id);
    'cycles: for cycle in 0..cycles {
        let mut id = None;
        for attempt in 0..TRIES {
            let title = format!("cycle {cycle} created {attempt}");
            let body = json!({ "title": title });
            match request(&http, &user, Method::POST, &tasks, Some(body), &mut ledger).await {
                Reply::Answered(StatusCode::CREATED, task) => {
                    ledger.confirm("created", title);
                    id = task["id"].as_i64();
                    break;
                }
                Reply::Unavailable(wait) => {
                    ledger.unconfirmed.insert(("created".into(), title));
                    tokio::time::sleep(wait).await;
                }
                Reply::Answered(status, body) => {
                    ledger.wrong.push(format!("POST {tasks} answered {status}: {body}"));
                    break 'cycles;
                }
                Reply::Wrong => break 'cycles,
            }
        }
        let Some(id) = id else {
            ledger
                .wrong
                .push(format!("POST {tasks}: still 503 after {TRIES} tries"));
            break;
        };
        let task = format!("{tasks}/{id}");
        tokio::time::sleep(pause).await;

        let mut renamed = false;
        for attempt in 0..TRIES {
            let title = format!("cycle {cycle} updated {attempt}");
            let body = json!({ "title": title });
            match request(&http, &user, Method::PUT, &task, Some(body), &mut ledger).await {
                Reply::Answered(StatusCode::OK, _) => {
                    ledger.confirm("updated", title);
                    renamed = true;
                    break;
                }
                Reply::Unavailable(wait) => {
                    ledger.unconfirmed.insert(("updated".into(), title));
                    tokio::time::sleep(wait).await;
                }
                Reply::Answered(status, body) => {
                    ledger.wrong.push(format!("PUT {task} answered {status}: {body}"));
                    break 'cycles;
                }
                Reply::Wrong => break 'cycles,
            }
        }
        if !renamed {
            ledger.wrong.push(format!("PUT {task}: still 503 after {TRIES} tries"));
            break;
        }
        tokio::time::sleep(pause).await;

        // Completing toggles: before trying again, read whether the 503'd attempt was made.
        let complete = format!("{task}/complete");
        let mut completed = false;
        let mut unsure = false;
        for _ in 0..TRIES {
            let (method, path) = if unsure {
                (Method::GET, &task)
            } else {
                (Method::PATCH, &complete)
            };
            match request(&http, &user, method.clone(), path, None, &mut ledger).await {
                Reply::Answered(StatusCode::OK, state) if state["completed"] == true => {
                    ledger.confirm("completed", id);
                    completed = true;
                    break;
                }
                Reply::Answered(StatusCode::OK, state) if method == Method::GET && state["completed"] == false => {
                    unsure = false
                }
                Reply::Unavailable(wait) => {
                    if method == Method::PATCH {
                        ledger.unconfirmed.insert(("completed".into(), id.to_string()));
                        unsure = true;
                    }
                    tokio::time::sleep(wait).await;
                }
                Reply::Answered(status, body) => {
                    ledger.wrong.push(format!("{method} {path} answered {status}: {body}"));
                    break 'cycles;
                }
                Reply::Wrong => break 'cycles,
            }
        }
        if !completed {
            ledger
                .wrong
                .push(format!("PATCH {complete}: not done after {TRIES} tries"));
            break;
        }
        tokio::time::sleep(pause).await;

        // A 404 after a 503 means the 503'd attempt was made.
        let mut deleted = false;
        let mut unsure = false;
        for _ in 0..TRIES {
            match request(&http, &user, Method::DELETE, &task, None, &mut ledger).await {
                Reply::Answered(StatusCode::NO_CONTENT, _) => deleted = true,
                Reply::Answered(StatusCode::NOT_FOUND, _) if unsure => deleted = true,
                Reply::Unavailable(wait) => {
                    ledger.unconfirmed.insert(("deleted".into(), id.to_string()));
                    unsure = true;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Reply::Answered(status, body) => {
                    ledger.wrong.push(format!("DELETE {task} answered {status}: {body}"));
                    break 'cycles;
                }
                Reply::Wrong => break 'cycles,
            }
            ledger.confirm("deleted", id);
            break;
        }
        if !deleted {
            ledger
                .wrong
                .push(format!("DELETE {task}: still 503 after {TRIES} tries"));
            break;
        }
        tokio::time::sleep(pause).await;
    }
    ledger
}

/// PostgreSQL (the whole local cluster) stopped as by a crash, `pg_ctlcluster stop -m
/// immediate`, until `end`, or until dropped: a failing test never leaves the server down (other
/// test suites use it too).
struct PostgresOutage {
    ended: bool,
}

impl PostgresOutage {
    async fn begin() -> Self {
        let outage = PostgresOutage { ended: false };
        stack_async(&["stop", "postgres", "KILL"]).await;
        outage
    }

    async fn end(mut self) {
        stack_async(&["start", "postgres"]).await;
        self.ended = true;
    }
}

impl Drop for PostgresOutage {
    fn drop(&mut self) {
        if !self.ended {
            // No panic here: this may run while a panic unwinds.
            let started = std::process::Command::new(repo_root_script("stack"))
                .args(["start", "postgres"])
                .status();
            eprintln!("PostgreSQL started again after a failed drill: {started:?}");
        }
    }
}

async fn ready(http: &reqwest::Client, base: &str) -> StatusCode {
    match http.get(format!("{base}/readyz")).send().await {
        Ok(response) => response.status(),
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}

/// PostgreSQL, which the api and the audit service both use, crashes (`-m immediate`) for 8 s
/// while 20 users work, then starts again. No answer is a 500: requests the outage catches get
/// 503 `unavailable` with Retry-After, and the load tries them again later. Every operation the
/// api confirmed is in the trail exactly once; an operation answered 503 at most once. A trail
/// read during the outage gets 200 (late) or 503, no other answer. Both services report not
/// ready during the outage and ready after it, without being restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_answers_503_and_loses_nothing() {
    let _turn = exclusive_stack().await;
    let http = client();
    let users = users(&http, 20).await;
    let pids = [part_pid("api"), part_pid("audit")];
    assert!(pids.iter().all(Option::is_some), "api and audit run: {pids:?}");

    let load: Vec<_> = users
        .iter()
        .map(|user| {
            tokio::spawn(operate_through_outage(
                http.clone(),
                user.clone(),
                8,
                Duration::from_millis(150),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let outage = PostgresOutage::begin().await;
    // A trail read waits for the audit database as long as the pool lets it: it may be
    // answered after PostgreSQL is back, or get 503; nothing else.
    let read = {
        let (http, user) = (http.clone(), users[0].clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut ledger = Ledger::default();
            let path = format!("/api/{}/audit", user.id);
            match request(&http, &user, Method::GET, &path, None, &mut ledger).await {
                Reply::Answered(StatusCode::OK, _) | Reply::Unavailable(_) => {}
                Reply::Answered(status, body) => ledger.wrong.push(format!("GET {path} answered {status}: {body}")),
                Reply::Wrong => {}
            }
            ledger.wrong
        })
    };
    let probe = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        futures::join!(ready(&http, API), ready(&http, AUDIT))
    };
    let (during, ()) = futures::join!(probe, tokio::time::sleep(Duration::from_secs(8)));
    outage.end().await;
    let back = Instant::now();

    eventually("api and audit ready again", Duration::from_secs(30), || async {
        futures::join!(ready(&http, API), ready(&http, AUDIT)) == (StatusCode::OK, StatusCode::OK)
    })
    .await;
    let ready_after = back.elapsed();
    let mut ledgers = Vec::new();
    for run in load {
        ledgers.push(run.await.unwrap());
    }

    let read_wrong = read.await.unwrap();
    let wrong: Vec<&String> = ledgers.iter().flat_map(|l| &l.wrong).chain(&read_wrong).collect();
    assert!(wrong.is_empty(), "answers no client should get:\n{wrong:#?}");
    assert_eq!(
        during,
        (StatusCode::SERVICE_UNAVAILABLE, StatusCode::SERVICE_UNAVAILABLE),
        "api and audit not ready while PostgreSQL is down"
    );
    assert_eq!(
        [part_pid("api"), part_pid("audit")],
        pids,
        "api and audit recovered in the same processes"
    );
    let unavailable: usize = ledgers.iter().map(|l| l.unavailable).sum();
    let confirmed: usize = ledgers.iter().map(|l| l.confirmed.len()).sum();
    let confirmed_after = ledgers
        .iter()
        .flat_map(|l| &l.confirmed_at)
        .filter(|at| **at > back)
        .count();
    assert_eq!(confirmed, 20 * 8 * 4, "every user did all its operations");
    assert!(
        unavailable > 0,
        "the outage caught requests (else this drill proves nothing)"
    );
    assert!(confirmed_after > 0, "operations confirmed after PostgreSQL came back");

    // Every confirmed change arrives (a made-but-unconfirmed one may arrive later still; the
    // outbox empty and a pause let it, and any late duplicate, show up before the final look).
    eventually("every confirmed change in the trail", Duration::from_secs(90), || {
        let (http, users, ledgers) = (&http, &users, &ledgers);
        async move {
            for (user, ledger) in users.iter().zip(ledgers) {
                let seen: HashSet<Change> = trail(http, API, user).await.iter().map(change_of).collect();
                if !ledger.confirmed.iter().all(|c| seen.contains(c)) {
                    return false;
                }
            }
            true
        }
    })
    .await;
    eventually("an empty outbox", Duration::from_secs(30), || async {
        outbox_backlog().await == 0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut landed_unconfirmed = 0;
    for (user, ledger) in users.iter().zip(&ledgers) {
        let events = trail(&http, API, user).await;
        let ids: HashSet<&str> = events.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), events.len(), "user {}: an event id stored twice", user.id);
        let mut times: HashMap<Change, usize> = HashMap::new();
        for event in &events {
            *times.entry(change_of(event)).or_default() += 1;
        }
        for change in &ledger.confirmed {
            assert_eq!(
                times.get(change).copied().unwrap_or(0),
                1,
                "user {}: confirmed change {change:?} in the trail once",
                user.id
            );
        }
        let confirmed: HashSet<&Change> = ledger.confirmed.iter().collect();
        for (change, n) in &times {
            if confirmed.contains(change) {
                continue;
            }
            assert!(
                ledger.unconfirmed.contains(change),
                "user {}: {change:?} in the trail, but nobody asked for it",
                user.id
            );
            assert_eq!(
                *n, 1,
                "user {}: unconfirmed change {change:?} stored {n} times",
                user.id
            );
            landed_unconfirmed += 1;
        }
    }
    eprintln!(
        "PostgreSQL restart drill: {confirmed} operations confirmed ({confirmed_after} after the restart), \
         {unavailable} answers 503, {landed_unconfirmed} changes answered 503 but made; ready {ready_after:?} \
         after PostgreSQL was back"
    );
}
