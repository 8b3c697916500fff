//! The chat assistant: `POST /api/{user_id}/chat`, the conversation history, and the MCP server
//! at `/mcp`. The model (or the offline assistant) reaches tasks only through `tools`, which go
//! through the same `TaskService` as REST.

pub mod agent;
pub mod conversations;
pub mod mcp;
pub mod offline;
pub mod openai;
pub mod service;
pub mod tools;
pub mod when;

use auth::Owner;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use domain::chat::{ChatMessage, ChatReply, ChatRequest, Conversation};
use serde::Serialize;
use utoipa::ToSchema;
use web::{ApiError, ApiResult, Json, Path};

use crate::ApiState;

/// Messages returned by the history endpoint at most (the newest).
const HISTORY_PAGE: u32 = 500;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/{user_id}/chat", post(chat))
        .route("/api/{user_id}/conversations", get(conversations))
        .route("/api/{user_id}/conversations/{conversation_id}/messages", get(messages))
}

/// Talk to the assistant. Optional `Idempotency-Key` header: a repeat of a request with the
/// same key gets the first answer and changes nothing. The turn runs to its end and is stored
/// even if the client goes away; the request waits for it up to the chat timeout + 15 s.
#[utoipa::path(post, path = "/api/{user_id}/chat", tag = "chat", request_body = ChatRequest,
    params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Any printable ASCII string: a repeat with the same key gets the first answer and changes nothing")),
    responses((status = 200, description = "The assistant's answer and the tools it called", body = ChatReply),
        (status = 400, description = "Malformed JSON, or an Idempotency-Key that is not printable ASCII", body = crate::openapi::ErrorBody),
        (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden),
        (status = 404, description = "No such conversation of this user (`not_found`)", body = crate::openapi::ErrorBody),
        (status = 409, description = "A request with this Idempotency-Key is still running (also one whose client went away: it runs to its end); retry shortly (`conflict`)", body = crate::openapi::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "An empty message or one over 4000 characters, a bad Idempotency-Key, or a body that is not a JSON object (`validation_failed`)", body = crate::openapi::ErrorBody),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 502, description = "The language model failed (`upstream_failed`); tools it had already called did run and are recorded in the conversation", body = crate::openapi::ErrorBody),
        (status = 503, response = crate::openapi::Unavailable),
        (status = 504, description = "The language model did not answer within the chat timeout (`upstream_timeout`); tools it had already called did run. Rarely: the turn could not be stored within 15 s more; it still is, and a retry with the same Idempotency-Key gets its answer", body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn chat(
    State(state): State<ApiState>,
    owner: Owner,
    headers: HeaderMap,
    Json(request): Json<ChatRequest>,
) -> ApiResult<Json<ChatReply>> {
    let key = match headers.get("idempotency-key") {
        Some(value) => Some(value.to_str().map_err(|_| ApiError::BadRequest {
            code: "invalid_header",
            message: "Idempotency-Key must be printable ASCII".into(),
        })?),
        None => None,
    };
    Ok(Json(state.chat.chat(&owner.user_id, request, key).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    pub conversations: Vec<Conversation>,
}

/// The user's conversations, most recently active first.
#[utoipa::path(get, path = "/api/{user_id}/conversations", tag = "chat", params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)")),
    responses((status = 200, description = "The user's conversations, most recently active first", body = ConversationList),
        (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn conversations(State(state): State<ApiState>, owner: Owner) -> ApiResult<Json<ConversationList>> {
    Ok(Json(ConversationList {
        conversations: state.conversations.list(&owner.user_id).await?,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    pub conversation: Conversation,
    pub messages: Vec<ChatMessage>,
}

/// A conversation's messages, oldest first (the newest 500).
#[utoipa::path(get, path = "/api/{user_id}/conversations/{conversation_id}/messages", tag = "chat",
    params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)"), ("conversation_id" = String, Path, description = "The conversation's id")),
    responses((status = 200, description = "The conversation and its newest 500 messages, oldest first", body = MessageList),
        (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden),
        (status = 404, description = "No such conversation of this user (`not_found`)", body = crate::openapi::ErrorBody), (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn messages(
    State(state): State<ApiState>,
    owner: Owner,
    Path((_, conversation_id)): Path<(String, String)>,
) -> ApiResult<Json<MessageList>> {
    let conversation = state.conversations.find(&owner.user_id, &conversation_id).await?;
    let messages = state.conversations.recent_messages(&conversation, HISTORY_PAGE).await?;
    Ok(Json(MessageList { conversation, messages }))
}
