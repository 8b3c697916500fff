//! Reading a task event out of what the Dapr sidecar delivers: a CloudEvent whose `data` is
//! the event as a JSON object, as a JSON string (published without a JSON content type), or
//! base64 in `data_base64`; a raw payload (the event itself) is accepted too.

use base64::Engine;
use domain::TaskEvent;
use serde::Deserialize;
use serde_json::Value;

/// Why a message can never become a task event: redelivering it would not help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The body the sidecar POSTed, as JSON: one CloudEvent or a bulk delivery.
pub fn read_message(body: &[u8]) -> Result<Value, Unreadable> {
    serde_json::from_slice(body).map_err(|e| Unreadable(format!("the message is not JSON: {e}")))
}

/// The task event in one message (a single delivery, or a bulk delivery's entry).
pub fn parse_event(envelope: &Value) -> Result<TaskEvent, Unreadable> {
    let fields = match envelope {
        Value::Object(fields) => fields,
        // A CloudEvent serialised as a string, as a bulk entry may carry it.
        Value::String(text) => {
            let inner = read_message(text.as_bytes())?;
            return match inner {
                Value::Object(_) => parse_event(&inner),
                _ => Err(Unreadable("the message is not a JSON object".into())),
            };
        }
        _ => return Err(Unreadable("the message is not a JSON object".into())),
    };
    let event = if let Some(data) = fields.get("data") {
        match data {
            Value::String(text) => serde_json::from_str(text),
            other => TaskEvent::deserialize(other),
        }
    } else if let Some(encoded) = fields.get("data_base64") {
        let encoded = encoded
            .as_str()
            .ok_or_else(|| Unreadable("data_base64 is not a string".into()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| Unreadable(format!("data_base64 is not base64: {e}")))?;
        serde_json::from_slice(&bytes)
    } else if fields.contains_key("event_id") {
        TaskEvent::deserialize(envelope)
    } else {
        return Err(Unreadable("the CloudEvent has neither data nor data_base64".into()));
    };
    event.map_err(|e| Unreadable(format!("the data is not a task event: {e}")))
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use serde_json::json;

    use super::*;

    fn event_json() -> Value {
        json!({"event_id":"6f1c1c36-9a53-4a39-9a49-5b3c4f3c2a11","event_type":"completed",
               "timestamp":"2026-01-30T10:00:00Z","user_id":"u1","task_id":7,
               "task_data":{"title":"buy milk","description":"","completed":true}})
    }

    #[test]
    fn reads_data_as_an_object_a_string_base64_or_raw() {
        let as_object = json!({"id":"x","specversion":"1.0","data": event_json()});
        let as_string = json!({"id":"x","data": event_json().to_string()});
        let as_base64 = json!({"id":"x","data_base64":
            base64::engine::general_purpose::STANDARD.encode(event_json().to_string())});
        for body in [as_object, as_string, as_base64, event_json()] {
            let event = parse_event(&body).unwrap();
            assert_eq!(event.task_id, 7);
            assert_eq!(event.user_id, "u1");
            assert!(event.task_data.completed);
        }
    }

    #[test]
    fn rejects_what_can_never_be_an_event() {
        for body in [
            "not json".to_string(),
            "[1,2]".to_string(),
            json!({"id":"x"}).to_string(),
            json!({"data":{"hello":"world"}}).to_string(),
            json!({"data":"{broken"}).to_string(),
            json!({"data_base64":"***"}).to_string(),
        ] {
            assert!(
                read_message(body.as_bytes()).and_then(|m| parse_event(&m)).is_err(),
                "{body}"
            );
        }
    }
}

/// Arbitrary bytes in, as the sidecar (or anyone who can reach the port) might send them:
/// the parser never panics, and through the subscription route an unreadable message is
/// DROP and never reaches the subscriber.
#[cfg(test)]
mod hostile {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use base64::Engine;
    use http_body_util::BodyExt;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};
    use serde_json::json;
    use tower::ServiceExt;

    use super::*;
    use crate::{DaprSubscription, Subscriber, subscription_router};

    /// Fixed seed and no regression files: CI runs the same cases every time.
    fn config(cases: u32) -> Config {
        Config {
            cases,
            rng_algorithm: RngAlgorithm::ChaCha,
            rng_seed: RngSeed::Fixed(11),
            failure_persistence: None,
            ..Config::default()
        }
    }

    fn event_json(task_id: i64) -> Value {
        json!({"event_id":"6f1c1c36-9a53-4a39-9a49-5b3c4f3c2a11","event_type":"completed",
               "timestamp":"2026-01-30T10:00:00Z","user_id":"u1","task_id":task_id,
               "task_data":{"title":"buy milk","description":"","completed":true}})
    }

    /// Any JSON value, nested up to 6 deep, with the real field names among the keys.
    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            proptest::sample::select(vec![
                "data",
                "data_base64",
                "entries",
                "entryId",
                "event",
                "event_id",
                "event_type",
                "timestamp",
                "user_id",
                "task_id",
                "task_data",
                "title",
                "completed",
                "id",
                "specversion",
            ])
            .prop_map(str::to_owned),
            any::<String>(),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            any::<String>().prop_map(Value::from),
            Just(json!("6f1c1c36-9a53-4a39-9a49-5b3c4f3c2a11")),
            Just(json!("created")),
            Just(json!("2026-01-30T10:00:00Z")),
        ];
        leaf.prop_recursive(6, 48, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
                proptest::collection::vec((key.clone(), inner), 0..5)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    /// A task event with one field replaced by anything (or removed), or intact.
    fn event_ish() -> impl Strategy<Value = Value> {
        let field = proptest::sample::select(vec![
            "event_id",
            "event_type",
            "timestamp",
            "user_id",
            "task_id",
            "task_data",
        ]);
        prop_oneof![
            4 => (-3i64..1_000_000).prop_map(event_json),
            1 => (field.clone(), json_value()).prop_map(|(f, v)| {
                let mut e = event_json(1);
                e[f] = v;
                e
            }),
            1 => field.prop_map(|f| {
                let mut e = event_json(1);
                e.as_object_mut().unwrap().remove(f);
                e
            }),
            1 => Just(json!({"event_id": "6f1c1c36-9a53-4a39-9a49-5b3c4f3c2a11", "task_id": 1e300})),
        ]
    }

    /// A CloudEvent around an event-ish value: as an object, a JSON string, base64, raw.
    fn envelope() -> impl Strategy<Value = Value> {
        prop_oneof![
            event_ish().prop_map(|e| json!({"id": "x", "specversion": "1.0", "data": e})),
            event_ish().prop_map(|e| json!({"id": "x", "data": e.to_string()})),
            event_ish().prop_map(|e| json!({"id": "x", "data_base64":
                base64::engine::general_purpose::STANDARD.encode(e.to_string())})),
            any::<Vec<u8>>().prop_map(|b| json!({"data_base64":
                base64::engine::general_purpose::STANDARD.encode(b)})),
            any::<String>().prop_map(|s| json!({"data_base64": s})),
            any::<String>().prop_map(|s| json!({"data": s})),
            json_value().prop_map(|v| json!({"data": v})),
            json_value().prop_map(|v| json!({"data_base64": v})),
            event_ish(),
            event_ish().prop_map(|e| Value::String(json!({"data": e}).to_string())),
            json_value(),
        ]
    }

    fn bulk() -> impl Strategy<Value = Value> {
        let entry = prop_oneof![
            4 => (any::<u16>(), envelope()).prop_map(|(id, e)| json!({"entryId": id.to_string(), "event": e})),
            1 => json_value(),
        ];
        proptest::collection::vec(entry, 0..6).prop_map(|entries| json!({"id": "b", "entries": entries}))
    }

    /// A message body: well-formed shapes, the same cut short or with a byte changed,
    /// non-UTF-8, deep nesting, and plain noise.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        let shaped = prop_oneof![envelope(), bulk()].prop_map(|v| serde_json::to_vec(&v).unwrap());
        prop_oneof![
            4 => shaped.clone(),
            1 => (shaped.clone(), any::<prop::sample::Index>()).prop_map(|(b, i)| b[..i.index(b.len() + 1)].to_vec()),
            1 => (shaped, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut b, i, x)| {
                if !b.is_empty() {
                    let at = i.index(b.len());
                    b[at] = x;
                }
                b
            }),
            1 => Just(b"{\"data\": \"\xff\xfe\"}".to_vec()),
            1 => Just(br#"{"data": {"event_id": "6f1c1c36-9a53-4a39-9a49-5b3c4f3c2a11", "task_id": 99999999999999999999}}"#.to_vec()),
            1 => Just(br#"{"data": {"task_id": 1e400}}"#.to_vec()),
            1 => (1usize..5000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()),
            1 => (1usize..3000).prop_map(|n| format!("{}1{}", "{\"data\":".repeat(n), "}".repeat(n)).into_bytes()),
            1 => any::<Vec<u8>>(),
        ]
    }

    /// What a message must come to, by the parser alone: per entry (bulk) or for the whole.
    fn expected(body: &[u8]) -> Vec<Result<i32, Unreadable>> {
        let Ok(message) = read_message(body) else {
            return vec![Err(Unreadable("unreadable".into()))];
        };
        match message.get("entries").and_then(Value::as_array) {
            Some(entries) => entries
                .iter()
                .map(|e| parse_event(e.get("event").unwrap_or(&Value::Null)).map(|e| e.task_id))
                .collect(),
            None => vec![parse_event(&message).map(|e| e.task_id)],
        }
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<i32>>);

    #[async_trait]
    impl Subscriber for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        async fn handle(&self, events: &[TaskEvent]) -> anyhow::Result<()> {
            self.0.lock().unwrap().extend(events.iter().map(|e| e.task_id));
            Ok(())
        }
    }

    #[test]
    fn the_parser_takes_any_bytes_without_panicking() {
        let mut runner = TestRunner::new(config(2000));
        runner
            .run(&body(), |body| {
                if let Ok(message) = read_message(&body) {
                    let _ = parse_event(&message);
                    if let Some(entries) = message.get("entries").and_then(Value::as_array) {
                        for entry in entries {
                            let _ = parse_event(entry.get("event").unwrap_or(&Value::Null));
                        }
                    }
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn the_route_drops_what_it_cannot_read_and_hands_on_only_the_rest() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut runner = TestRunner::new(config(1000));
        let (dropped, handled) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
        runner
            .run(&body(), |body| {
                let recorder = Arc::new(Recorder::default());
                let app = subscription_router(
                    DaprSubscription {
                        route: "/events/task-events".into(),
                        app_api_token: None,
                    },
                    recorder.clone(),
                );
                let request = Request::post("/events/task-events")
                    .header("content-type", "application/cloudevents+json")
                    .body(Body::from(body.clone()))
                    .unwrap();
                let (status, answer) = runtime.block_on(async move {
                    let response = app.oneshot(request).await.unwrap();
                    let status = response.status();
                    (status, response.into_body().collect().await.unwrap().to_bytes())
                });
                prop_assert_eq!(status, StatusCode::OK);
                let answer: Value = serde_json::from_slice(&answer).unwrap();
                let expected = expected(&body);
                let statuses: Vec<&str> = match answer.get("statuses") {
                    Some(statuses) => statuses
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s["status"].as_str().unwrap())
                        .collect(),
                    None => vec![answer["status"].as_str().unwrap()],
                };
                // Unreadable entries come first (DROP), then the readable batch (SUCCESS).
                let want_dropped = expected.iter().filter(|e| e.is_err()).count();
                let want_handled: Vec<i32> = expected.iter().filter_map(|e| e.clone().ok()).collect();
                prop_assert_eq!(statuses.len(), expected.len(), "{}", answer);
                prop_assert_eq!(statuses.iter().filter(|s| **s == "DROP").count(), want_dropped);
                prop_assert_eq!(statuses.iter().filter(|s| **s == "SUCCESS").count(), want_handled.len());
                prop_assert_eq!(&*recorder.0.lock().unwrap(), &want_handled);
                dropped.set(dropped.get() + want_dropped);
                handled.set(handled.get() + want_handled.len());
                Ok(())
            })
            .unwrap();
        // The generators reach both outcomes, often.
        let (dropped, handled) = (dropped.get(), handled.get());
        assert!(dropped > 100, "{dropped} dropped");
        assert!(handled > 100, "{handled} handled");
    }
}
