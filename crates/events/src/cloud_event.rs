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
