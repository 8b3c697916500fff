use async_trait::async_trait;
use chrono::{DateTime, Utc};
use db::{Dialect, Pools};
use domain::chat::{ChatMessage, ChatRole, Conversation, NewChatMessage, ToolCallRecord};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow};

use super::{LIST_LIMIT, json};

#[async_trait]
pub trait ConversationStore: Send + Sync {
    async fn create_conversation(&self, conversation: &Conversation) -> db::Result<()>;
    async fn find_conversation(&self, user_id: &str, id: &str) -> db::Result<Option<Conversation>>;
    /// The user's conversations, most recently active first (at most `LIST_LIMIT`).
    async fn list_conversations(&self, user_id: &str) -> db::Result<Vec<Conversation>>;
    /// The conversation's last `limit` messages, oldest first.
    async fn recent_messages(&self, conversation_id: &str, limit: u32) -> db::Result<Vec<ChatMessage>>;
    /// Stores one turn's messages in one transaction and marks the conversation active.
    async fn append_messages(&self, conversation_id: &str, messages: &[NewChatMessage]) -> db::Result<()>;
}

pub struct SqlConversations<DB: sqlx::Database> {
    pub(super) pools: Pools<DB>,
}

#[derive(FromRow)]
pub struct ConversationRow {
    id: String,
    user_id: String,
    title: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ConversationRow> for Conversation {
    fn from(r: ConversationRow) -> Self {
        Conversation {
            id: r.id,
            user_id: r.user_id,
            title: r.title,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(FromRow)]
pub struct MessageRow {
    id: i64,
    conversation_id: String,
    role: String,
    content: String,
    tool_calls: Json<Vec<ToolCallRecord>>,
    created_at: DateTime<Utc>,
}

impl From<MessageRow> for ChatMessage {
    fn from(r: MessageRow) -> Self {
        ChatMessage {
            id: r.id,
            conversation_id: r.conversation_id,
            role: ChatRole::parse(&r.role).unwrap_or(ChatRole::Assistant),
            content: r.content,
            tool_calls: r.tool_calls.0,
            created_at: r.created_at,
        }
    }
}

const CONVERSATION_COLUMNS: &str = "id, user_id, title, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "id, conversation_id, role, content, tool_calls, created_at";

#[db::sql_bounds(ConversationRow, MessageRow)]
#[async_trait]
impl<DB: Dialect> ConversationStore for SqlConversations<DB> {
    async fn create_conversation(&self, c: &Conversation) -> db::Result<()> {
        sqlx::query(
            "INSERT INTO conversations (id, user_id, title, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(c.id.clone())
        .bind(c.user_id.clone())
        .bind(c.title.clone())
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&self.pools.writer)
        .await?;
        Ok(())
    }

    async fn find_conversation(&self, user_id: &str, id: &str) -> db::Result<Option<Conversation>> {
        let row: Option<ConversationRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND user_id = $2"
        )))
        .bind(id.to_owned())
        .bind(user_id.to_owned())
        .fetch_optional(&self.pools.reader)
        .await?;
        Ok(row.map(Conversation::from))
    }

    async fn list_conversations(&self, user_id: &str) -> db::Result<Vec<Conversation>> {
        let rows: Vec<ConversationRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE user_id = $1 \
             ORDER BY updated_at DESC, id LIMIT {LIST_LIMIT}"
        )))
        .bind(user_id.to_owned())
        .fetch_all(&self.pools.reader)
        .await?;
        Ok(rows.into_iter().map(Conversation::from).collect())
    }

    async fn recent_messages(&self, conversation_id: &str, limit: u32) -> db::Result<Vec<ChatMessage>> {
        let rows: Vec<MessageRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 ORDER BY id DESC LIMIT {limit}"
        )))
        .bind(conversation_id.to_owned())
        .fetch_all(&self.pools.reader)
        .await?;
        Ok(rows.into_iter().rev().map(ChatMessage::from).collect())
    }

    async fn append_messages(&self, conversation_id: &str, messages: &[NewChatMessage]) -> db::Result<()> {
        let now = domain::clock::now();
        let mut tx = self.pools.writer.begin().await?;
        for message in messages {
            sqlx::query(
                "INSERT INTO messages (conversation_id, role, content, tool_calls, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(conversation_id.to_owned())
            .bind(message.role.as_str().to_owned())
            .bind(message.content.clone())
            .bind(json(&message.tool_calls)?)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE conversations SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(conversation_id.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
