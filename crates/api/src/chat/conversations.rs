//! Conversations as their user sees them: listed, read, started, and one turn (the user's
//! message and the assistant's answer) appended at a time.

use std::sync::Arc;

use domain::chat::{ChatMessage, ChatRole, Conversation, NewChatMessage, ToolCallRecord, conversation_title};
use web::{ApiError, ApiResult};

use crate::store::ConversationStore;

#[derive(Clone)]
pub struct ConversationService {
    store: Arc<dyn ConversationStore>,
}

impl ConversationService {
    pub fn new(store: Arc<dyn ConversationStore>) -> Self {
        Self { store }
    }

    /// The user's conversations, most recently active first.
    pub async fn list(&self, user_id: &str) -> ApiResult<Vec<Conversation>> {
        Ok(self.store.list_conversations(user_id).await?)
    }

    /// The user's conversation; 404 when it is unknown or another user's.
    pub async fn find(&self, user_id: &str, id: &str) -> ApiResult<Conversation> {
        self.store
            .find_conversation(user_id, id)
            .await?
            .ok_or(ApiError::NotFound("conversation"))
    }

    /// The conversation's last `limit` messages, oldest first.
    pub async fn recent_messages(&self, conversation: &Conversation, limit: u32) -> ApiResult<Vec<ChatMessage>> {
        Ok(self.store.recent_messages(&conversation.id, limit).await?)
    }

    /// Stores one turn in `conversation`, or in a new conversation titled after the message;
    /// returns the conversation's id.
    pub async fn append_turn(
        &self,
        user_id: &str,
        conversation: Option<Conversation>,
        message: &str,
        answer: String,
        calls: Vec<ToolCallRecord>,
    ) -> ApiResult<String> {
        let conversation = match conversation {
            Some(c) => c,
            None => {
                let now = domain::clock::now();
                let c = Conversation {
                    id: uuid::Uuid::new_v4().to_string(),
                    user_id: user_id.to_owned(),
                    title: conversation_title(message),
                    created_at: now,
                    updated_at: now,
                };
                self.store.create_conversation(&c).await?;
                c
            }
        };
        self.store
            .append_messages(
                &conversation.id,
                &[
                    NewChatMessage {
                        role: ChatRole::User,
                        content: message.to_owned(),
                        tool_calls: vec![],
                    },
                    NewChatMessage {
                        role: ChatRole::Assistant,
                        content: answer,
                        tool_calls: calls,
                    },
                ],
            )
            .await?;
        Ok(conversation.id)
    }
}
