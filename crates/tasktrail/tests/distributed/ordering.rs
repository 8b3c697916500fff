//! One user's changes racing each other through the distributed path: numbered in commit
//! order, on Kafka in that order, and in the trail in that order.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::stack::*;

/// 40 changes by one user at once (creates, edits, completions of the same tasks): Kafka's
/// records for the user, read by a real consumer, carry the numbers 1..=45 in offset order, and
/// the trail lists them in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_racing_changes_reach_kafka_and_the_trail_in_number_order() {
    let _turn = exclusive_stack().await;
    let http = client();
    let kafka = KafkaReader::connect().await;
    let from = kafka.end_offsets(TOPIC).await;
    let user = new_user(&http).await;
    let mut tasks = Vec::new();
    for i in 0..5 {
        let task = create_task(&http, API, &user, &format!("task {i}")).await;
        tasks.push(task["id"].as_i64().unwrap());
    }
    let changes = (0..40).map(|i| {
        let (http, user, task) = (http.clone(), user.clone(), tasks[i % tasks.len()]);
        async move {
            let (method, path, body) = match i % 3 {
                0 => (
                    Method::POST,
                    format!("/api/{}/tasks", user.id),
                    Some(json!({"title": format!("new {i}")})),
                ),
                1 => (
                    Method::PUT,
                    format!("/api/{}/tasks/{task}", user.id),
                    Some(json!({"description": format!("edit {i}")})),
                ),
                _ => (Method::PATCH, format!("/api/{}/tasks/{task}/complete", user.id), None),
            };
            let (status, body) = call(&http, API, method, &path, Some(&user.token), body).await;
            assert!(status.is_success(), "{path}: {status} {body}");
        }
    });
    futures::future::join_all(changes).await;

    let trail = wait_for_user_trail(&http, &user, 45, Duration::from_secs(30)).await;
    let in_trail: Vec<i64> = trail
        .iter()
        .map(|e| e["event_data"]["task_data"]["sequence"].as_i64().expect("numbered"))
        .collect();
    assert_eq!(in_trail, (1..=45).collect::<Vec<i64>>(), "the trail in number order");

    let on_kafka: Vec<i64> = kafka
        .records_since(TOPIC, &from)
        .await
        .into_iter()
        .filter(|r| r.key.as_deref() == Some(user.id.as_str()))
        .map(|r| r.value["data"]["task_data"]["sequence"].as_i64().expect("numbered"))
        .collect();
    // The relay may publish a batch again (a retry after a partial failure): a repeat is
    // allowed, but each number's first appearance comes in order.
    let mut seen = std::collections::HashSet::new();
    let first_appearances: Vec<i64> = on_kafka.iter().copied().filter(|n| seen.insert(*n)).collect();
    assert_eq!(
        first_appearances,
        (1..=45).collect::<Vec<i64>>(),
        "in offset order, every number, rising: {on_kafka:?}"
    );
}
