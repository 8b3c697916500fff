//! Faults lose nothing: the audit service down or restarted mid-load, Kafka down. Every
//! operation the api confirmed ends up in the trail exactly once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

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
