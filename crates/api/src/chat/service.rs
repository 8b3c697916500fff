//! One chat turn: the user's message, the agent's answer and the tools it used, stored so that
//! the server keeps nothing between requests; a repeated Idempotency-Key gets the first answer.

use std::sync::Arc;
use std::time::Duration;

use domain::chat::{ChatReply, ChatRequest, Conversation, parse_idempotency_key, parse_message};
use web::{ApiError, ApiResult};

use super::agent::{Agent, AgentError};
use super::conversations::ConversationService;
use super::tools::{TaskTools, TurnTools};
use crate::rate_limit::RateLimiter;
use crate::store::{ChatClaim, ChatRequestStore};
use crate::tasks::TaskService;

#[derive(Debug, Clone, Copy)]
pub struct ChatLimits {
    /// The whole turn, every model call and tool included.
    pub turn_timeout: Duration,
    /// Earlier messages sent to the model with each turn.
    pub history_messages: u32,
    /// Chat requests one user may make per minute (each may cost several paid model calls).
    pub requests_per_minute: u32,
}

pub struct ChatService {
    conversations: ConversationService,
    requests: Arc<dyn ChatRequestStore>,
    tasks: TaskService,
    agent: Agent,
    limits: ChatLimits,
    per_user: RateLimiter,
}

impl ChatService {
    pub fn new(
        conversations: ConversationService,
        requests: Arc<dyn ChatRequestStore>,
        tasks: TaskService,
        agent: Agent,
        limits: ChatLimits,
    ) -> Self {
        Self {
            conversations,
            requests,
            tasks,
            agent,
            per_user: RateLimiter::per_minute(limits.requests_per_minute),
            limits,
        }
    }

    pub async fn chat(
        &self,
        user_id: &str,
        request: ChatRequest,
        idempotency_key: Option<&str>,
    ) -> ApiResult<ChatReply> {
        // Counted before anything else: a refused or failing request still cost its turn.
        self.per_user.take(user_id)?.keep();
        let message = parse_message(&request.message)?;
        let conversation = match &request.conversation_id {
            Some(id) => Some(self.conversations.find(user_id, id).await?),
            None => None,
        };
        let Some(key) = idempotency_key else {
            return self.turn(user_id, conversation, &message).await;
        };
        let key = parse_idempotency_key(key)?;
        match self.requests.claim(user_id, key).await? {
            ChatClaim::Answered(reply) => return serde_json::from_value(reply).map_err(ApiError::internal),
            ChatClaim::Running => {
                return Err(ApiError::Conflict(
                    "a chat request with this Idempotency-Key is still running; retry shortly".into(),
                ));
            }
            ChatClaim::Claimed => {}
        }
        let outcome = self.turn(user_id, conversation, &message).await;
        match &outcome {
            Ok(reply) => {
                let stored = serde_json::to_value(reply).map_err(ApiError::internal)?;
                self.requests.finish(user_id, key, &stored).await?;
            }
            // A failed request may be retried with the same key.
            Err(_) => self.requests.release(user_id, key).await?,
        }
        outcome
    }

    async fn turn(&self, user_id: &str, conversation: Option<Conversation>, message: &str) -> ApiResult<ChatReply> {
        let history = match &conversation {
            Some(c) => {
                self.conversations
                    .recent_messages(c, self.limits.history_messages)
                    .await?
            }
            None => Vec::new(),
        };
        let tools = TurnTools::new(TaskTools::new(self.tasks.clone(), user_id.to_owned()));
        let answer = tokio::time::timeout(self.limits.turn_timeout, self.agent.reply(&history, message, &tools)).await;
        let calls = tools.calls();
        let (text, failure) = match answer {
            Ok(Ok(reply)) => (reply.text, None),
            Ok(Err(AgentError::Upstream(detail))) => {
                // The model server's words (its error body, perhaps our request echoed back)
                // are for operators: logged, not passed on.
                tracing::warn!(%detail, "the language model failed");
                let message = "the assistant's language model failed; try again shortly".to_owned();
                (String::new(), Some(ApiError::BadGateway(message)))
            }
            Ok(Err(AgentError::Timeout)) | Err(_) => {
                let seconds = self.limits.turn_timeout.as_secs_f64();
                let message = format!("the assistant's language model did not answer within {seconds} s");
                (String::new(), Some(ApiError::GatewayTimeout(message)))
            }
        };
        if let Some(failure) = failure {
            if calls.is_empty() {
                // Nothing was done: nothing is stored, the client may simply retry.
                return Err(failure);
            }
            // Some tools ran before the failure; their changes are real (and their events
            // committed), so the conversation records them rather than pretend otherwise.
            let note = format!("(The assistant stopped before finishing: {failure}. The tool calls above did run.)");
            self.conversations
                .append_turn(user_id, conversation, message, note, calls)
                .await?;
            return Err(failure);
        }
        let conversation_id = self
            .conversations
            .append_turn(user_id, conversation, message, text.clone(), calls.clone())
            .await?;
        Ok(ChatReply {
            conversation_id,
            response: text,
            tool_calls: calls,
        })
    }
}
