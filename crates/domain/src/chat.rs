//! Conversations with the assistant: what is stored, and what a chat request answers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::validation::{ValidationError, reject_control_chars, reject_control_chars_in_text};

/// Longest user message the assistant accepts.
pub const MAX_MESSAGE_CHARS: usize = 4000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Conversation {
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    User,
    Assistant,
}

impl ChatRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(ChatRole::User),
            "assistant" => Some(ChatRole::Assistant),
            _ => None,
        }
    }
}

/// One tool the assistant called while answering, with what it returned (an `error` object
/// when the tool failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallRecord {
    pub tool: String,
    pub arguments: Value,
    pub result: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    pub id: i64,
    pub conversation_id: String,
    pub role: ChatRole,
    pub content: String,
    pub tool_calls: Vec<ToolCallRecord>,
    pub created_at: DateTime<Utc>,
}

/// A message about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChatMessage {
    pub role: ChatRole,
    pub content: String,
    pub tool_calls: Vec<ToolCallRecord>,
}

/// Body of `POST /api/{user_id}/chat`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    #[serde(default, deserialize_with = "conversation_id")]
    pub conversation_id: Option<String>,
    pub message: String,
}

/// Answer of `POST /api/{user_id}/chat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatReply {
    pub conversation_id: String,
    pub response: String,
    pub tool_calls: Vec<ToolCallRecord>,
}

/// Refused while the body is read, before the id is looked up: an id holds no control
/// character, and PostgreSQL would fail on a NUL.
fn conversation_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let id = Option::<String>::deserialize(d)?;
    if let Some(id) = &id {
        reject_control_chars("conversation_id", id).map_err(serde::de::Error::custom)?;
    }
    Ok(id)
}

/// The user's message, trimmed: not empty, at most `MAX_MESSAGE_CHARS` characters, no control
/// characters but tab and line breaks.
pub fn parse_message(message: &str) -> Result<String, ValidationError> {
    let message = message.trim();
    if message.is_empty() {
        return Err(ValidationError::new("message", "must not be empty"));
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ValidationError::new(
            "message",
            format!("must be at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    reject_control_chars_in_text("message", message)?;
    Ok(message.to_owned())
}

/// An `Idempotency-Key`: 1 to 255 characters, none of them control characters.
pub fn parse_idempotency_key(key: &str) -> Result<&str, ValidationError> {
    if key.is_empty() || key.len() > 255 || key.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "Idempotency-Key",
            "must be 1 to 255 printable characters",
        ));
    }
    Ok(key)
}

/// A conversation's title: its first message, shortened to a line.
pub fn conversation_title(first_message: &str) -> String {
    let line = first_message.lines().next().unwrap_or_default().trim();
    let mut title: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        title.push('…');
    }
    title
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_trimmed_and_bounded() {
        assert_eq!(parse_message("  add milk \n").unwrap(), "add milk");
        assert!(parse_message("   ").is_err());
        assert!(parse_message(&"x".repeat(MAX_MESSAGE_CHARS + 1)).is_err());
        assert!(parse_message(&"é".repeat(MAX_MESSAGE_CHARS)).is_ok());
    }

    #[test]
    fn messages_refuse_control_characters_but_tab_and_line_breaks() {
        assert_eq!(parse_message("add\tmilk\r\nand eggs").unwrap(), "add\tmilk\r\nand eggs");
        for bad in ["add milk\0", "add \u{1b}[2Jmilk", "add\u{8}milk"] {
            assert_eq!(parse_message(bad).unwrap_err().field, "message", "{bad:?}");
        }
    }

    #[test]
    fn a_conversation_id_with_control_characters_is_refused_when_read() {
        let ok: ChatRequest = serde_json::from_str(r#"{"conversation_id":"c-1","message":"hi"}"#).unwrap();
        assert_eq!(ok.conversation_id.as_deref(), Some("c-1"));
        let err = serde_json::from_str::<ChatRequest>(r#"{"conversation_id":"c\u0000","message":"hi"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("conversation_id: must not contain control characters"),
            "{err}"
        );
    }

    #[test]
    fn idempotency_keys_are_bounded_and_printable() {
        assert_eq!(parse_idempotency_key("7d1f-retry"), Ok("7d1f-retry"));
        assert!(parse_idempotency_key("").is_err());
        assert!(parse_idempotency_key(&"k".repeat(256)).is_err());
        assert!(parse_idempotency_key("a\tb").is_err());
    }

    #[test]
    fn titles_are_the_first_line_shortened() {
        assert_eq!(conversation_title("add milk\nand eggs"), "add milk");
        assert_eq!(conversation_title(&"a".repeat(70)).chars().count(), 61);
    }
}
