//! What a user and an operator see when everything is up: each change is one record on Kafka's
//! `task-events` and one row in the audit trail; duplicates collapse; poison is set aside.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::stack::*;

/// AC1, AC2, US3: create, update, complete, delete through the api; four records on Kafka
/// (key = user id, exact schema, CloudEvent id = event id, one partition so in order) and four
/// rows in the trail within 5 s, visible through the api's origin to the owner only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_is_one_kafka_record_and_one_audit_entry() {
    let _turn = exclusive_stack().await;
    let http = client();
    let kafka = KafkaReader::connect().await;
    assert_eq!(kafka.partitions(TOPIC).await, vec![0, 1, 2, 3, 4, 5]);
    let status = stack(&["status"]);
    assert!(status.contains("kafka        healthy"), "{status}");
    let description = std::process::Command::new(repo_root_script("kafka"))
        .arg("status")
        .output()
        .unwrap();
    let description = String::from_utf8_lossy(&description.stdout);
    assert!(description.contains("PartitionCount: 6"), "{description}");
    assert!(description.contains("retention.ms=604800000"), "{description}");
    let from = kafka.end_offsets(TOPIC).await;

    let user = new_user(&http).await;
    let tasks = format!("/api/{}/tasks", user.id);
    let (status, task) = call(
        &http,
        API,
        Method::POST,
        &tasks,
        Some(&user.token),
        Some(json!({"title": "buy milk", "description": "2 litres"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let task_path = format!("{tasks}/{}", task["id"]);
    let (status, body) = call(
        &http,
        API,
        Method::PUT,
        &task_path,
        Some(&user.token),
        Some(json!({"title": "buy oat milk"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        &http,
        API,
        Method::PATCH,
        &format!("{task_path}/complete"),
        Some(&user.token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(&http, API, Method::DELETE, &task_path, Some(&user.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let trail = wait_for_user_trail(&http, &user, 4, Duration::from_secs(5)).await;
    assert_eq!(
        event_types(&trail),
        ["created", "updated", "completed", "deleted"],
        "{trail:#?}"
    );
    for entry in &trail {
        assert_eq!(entry["user_id"], user.id.as_str());
        assert_eq!(entry["task_id"], task["id"]);
        let data = &entry["event_data"];
        let mut keys: Vec<&str> = data.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            ["event_id", "event_type", "task_data", "task_id", "timestamp", "user_id"]
        );
    }
    assert_eq!(trail[3]["event_data"]["task_data"]["title"], "buy oat milk");
    assert_eq!(trail[2]["event_data"]["task_data"]["completed"], true);

    // The records on Kafka, read by a real consumer.
    let records: Vec<KafkaRecord> = kafka
        .records_since(TOPIC, &from)
        .await
        .into_iter()
        .filter(|r| r.key.as_deref() == Some(user.id.as_str()))
        .collect();
    assert_eq!(records.len(), 4, "{records:#?}");
    let partitions: HashSet<i32> = records.iter().map(|r| r.partition).collect();
    assert_eq!(partitions.len(), 1, "one user's events share a partition: {records:#?}");
    for (record, entry) in records.iter().zip(&trail) {
        let event = &record.value["data"];
        assert_eq!(
            event, &entry["event_data"],
            "Kafka carries the same event the trail shows"
        );
        assert_eq!(
            record.value["id"], event["event_id"],
            "the CloudEvent id is the event id"
        );
        assert_eq!(record.value["datacontenttype"], "application/json");
        assert!(
            record.headers.contains(&("partitionKey".into(), user.id.clone())),
            "{:?}",
            record.headers
        );
    }

    // The trail through the api's origin is the owner's alone.
    let stranger = new_user(&http).await;
    let (status, body) = call(
        &http,
        API,
        Method::GET,
        &format!("/api/{}/audit", user.id),
        Some(&stranger.token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = call(&http, API, Method::GET, &format!("/api/{}/audit", user.id), None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(trail_of(&http, &stranger).await.is_empty());
}

/// The same event published twice gives one row; a poison message on a user's partition goes
/// to the dead-letter topic and the events after it on that partition are still stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_is_stored_once_and_a_poison_message_is_dead_lettered() {
    let _turn = exclusive_stack().await;
    let http = client();
    let kafka = KafkaReader::connect().await;
    let dlq_from = kafka.end_offsets(DEAD_LETTER_TOPIC).await;
    let user = new_user(&http).await;

    create_task(&http, API, &user, "first").await;
    let trail = wait_for_user_trail(&http, &user, 1, Duration::from_secs(5)).await;
    assert_eq!(trail.len(), 1);
    let event = trail[0]["event_data"].clone();

    // Publish the very same event again through the sidecar, as a retrying relay would.
    publish(&event, &user.id, event["event_id"].as_str().unwrap()).await;
    // A message that can never be a task event, on the same partition (same key).
    let marker = format!("poison-{}", uuid::Uuid::new_v4());
    publish(
        &json!({"not_an_event": marker}),
        &user.id,
        &uuid::Uuid::new_v4().to_string(),
    )
    .await;

    create_task(&http, API, &user, "second").await;
    let trail = wait_for_user_trail(&http, &user, 2, Duration::from_secs(10)).await;
    assert_eq!(
        trail.len(),
        2,
        "the event after the poison message is stored: {trail:#?}"
    );
    assert_eq!(trail[1]["event_data"]["task_data"]["title"], "second");
    // Give the duplicate every chance to show up as a second row.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let trail = trail_of(&http, &user).await;
    assert_eq!(trail.len(), 2, "the duplicate left one row: {trail:#?}");
    let rows = audit_rows_per_event(&[event["event_id"].as_str().unwrap().parse().unwrap()]).await;
    assert_eq!(rows.values().copied().collect::<Vec<_>>(), vec![1]);

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let dead = loop {
        let dead = kafka.records_since(DEAD_LETTER_TOPIC, &dlq_from).await;
        if dead.iter().any(|r| r.value.to_string().contains(marker.as_str())) {
            break dead;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the poison message reaches task-events-dlq: {dead:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        !dead
            .iter()
            .any(|r| r.value.to_string().contains(event["event_id"].as_str().unwrap())),
        "only the poison message is dead-lettered: {dead:#?}"
    );
}

/// Only the audit service's sidecar may deliver: a well-formed CloudEvent POSTed straight to the
/// audit port, without the sidecar's app API token or with a wrong one, is refused with 401 and
/// leaves no row; the user's real events, through the sidecar, are still stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_forged_around_the_sidecar_is_refused() {
    let _turn = exclusive_stack().await;
    let http = client();
    let user = new_user(&http).await;
    create_task(&http, API, &user, "real").await;
    let trail = wait_for_user_trail(&http, &user, 1, Duration::from_secs(5)).await;

    let mut forged = trail[0]["event_data"].clone();
    let forged_id = uuid::Uuid::new_v4();
    forged["event_id"] = json!(forged_id.to_string());
    forged["task_data"]["title"] = json!("forged");
    let cloud_event = json!({
        "specversion": "1.0", "id": forged_id.to_string(), "source": "api",
        "type": "com.dapr.event.sent", "topic": TOPIC, "pubsubname": "kafka-pubsub",
        "datacontenttype": "application/json", "data": forged,
    });
    for token in [None, Some("not-the-token")] {
        let mut request = http
            .post(format!("{}/events/{TOPIC}", crate::replicas::AUDIT))
            .header("content-type", "application/cloudevents+json")
            .body(cloud_event.to_string());
        if let Some(token) = token {
            request = request.header("dapr-api-token", token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "token {token:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    }

    create_task(&http, API, &user, "real again").await;
    let trail = wait_for_user_trail(&http, &user, 2, Duration::from_secs(10)).await;
    // Give a forged row every chance to show up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let trail_now = trail_of(&http, &user).await;
    assert_eq!(trail_now.len(), 2, "{trail_now:#?}");
    let titles: Vec<&Value> = trail.iter().map(|e| &e["event_data"]["task_data"]["title"]).collect();
    assert_eq!(titles, [&json!("real"), &json!("real again")]);
    assert!(audit_rows_per_event(&[forged_id]).await.is_empty());
}

/// Publishes through the api's sidecar exactly as the relay does.
async fn publish(body: &Value, partition_key: &str, cloud_event_id: &str) {
    let response = client()
        .post(format!("{API_SIDECAR}/v1.0/publish/kafka-pubsub/{TOPIC}"))
        .query(&[
            ("metadata.partitionKey", partition_key),
            ("metadata.cloudevent.id", cloud_event_id),
        ])
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "{:?}", response.text().await);
}

async fn trail_of(http: &reqwest::Client, user: &User) -> Vec<Value> {
    trail(http, API, user).await
}
