//! The api service's storage: users, tasks, the outbox and chat conversations, on SQLite or
//! PostgreSQL.

mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::chat::{ChatMessage, Conversation, NewChatMessage};
use domain::{NewTask, Task, TaskEdit, TaskEvent, TaskId, TaskQuery};

use events::OutboxEntry;
use sqlx::migrate::Migrator;

pub use sql::SqlApiStore;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// What claiming an Idempotency-Key found.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatClaim {
    /// The key is new and now ours: run the request.
    Claimed,
    /// A request with this key was answered before: this is its answer.
    Answered(serde_json::Value),
    /// A request with this key is running now.
    Running,
}

/// Every write that changes a task also writes its event to the outbox, in one transaction:
/// either both are stored or neither.
#[async_trait]
pub trait ApiStore: Send + Sync {
    async fn migrate(&self) -> anyhow::Result<()>;
    async fn ping(&self) -> anyhow::Result<()>;

    /// Returns false when the email is taken.
    async fn create_user(&self, user: &UserRecord) -> anyhow::Result<bool>;
    async fn find_user_by_email(&self, email: &str) -> anyhow::Result<Option<UserRecord>>;
    async fn find_user(&self, id: &str) -> anyhow::Result<Option<UserRecord>>;

    async fn list_tasks(&self, user_id: &str, query: &TaskQuery) -> anyhow::Result<Vec<Task>>;
    async fn get_task(&self, user_id: &str, id: TaskId) -> anyhow::Result<Option<Task>>;
    async fn create_task(&self, user_id: &str, task: NewTask) -> anyhow::Result<(Task, TaskEvent)>;
    /// `None` when the user has no such task.
    async fn edit_task(&self, user_id: &str, id: TaskId, edit: TaskEdit) -> anyhow::Result<Option<(Task, TaskEvent)>>;
    async fn delete_task(&self, user_id: &str, id: TaskId) -> anyhow::Result<Option<TaskEvent>>;

    /// The outbox, for the relay (see `StoreOutbox`).
    async fn pending_events(&self, limit: u32) -> anyhow::Result<Vec<OutboxEntry>>;
    async fn mark_events_delivered(&self, ids: &[i64]) -> anyhow::Result<()>;
    async fn outbox_backlog(&self) -> anyhow::Result<i64>;
    /// Takes (or confirms it still holds) the relay lock: true when this process may deliver.
    async fn lead_relay(&self) -> anyhow::Result<bool>;

    async fn create_conversation(&self, conversation: &Conversation) -> anyhow::Result<()>;
    async fn find_conversation(&self, user_id: &str, id: &str) -> anyhow::Result<Option<Conversation>>;
    /// The user's conversations, most recently active first (at most `LIST_LIMIT`).
    async fn list_conversations(&self, user_id: &str) -> anyhow::Result<Vec<Conversation>>;
    /// The conversation's last `limit` messages, oldest first.
    async fn recent_messages(&self, conversation_id: &str, limit: u32) -> anyhow::Result<Vec<ChatMessage>>;
    /// Stores one turn's messages in one transaction and marks the conversation active.
    async fn append_messages(&self, conversation_id: &str, messages: &[NewChatMessage]) -> anyhow::Result<()>;
    /// Claims a chat request's Idempotency-Key for the user (first come wins).
    async fn claim_chat_request(&self, user_id: &str, key: &str) -> anyhow::Result<ChatClaim>;
    async fn finish_chat_request(&self, user_id: &str, key: &str, response: &serde_json::Value) -> anyhow::Result<()>;
    /// Frees a claim whose request failed, so that a retry runs it.
    async fn release_chat_request(&self, user_id: &str, key: &str) -> anyhow::Result<()>;
}

/// The store seen as the relay's `Outbox`.
pub struct StoreOutbox(pub Arc<dyn ApiStore>);

#[async_trait]
impl events::Outbox for StoreOutbox {
    async fn pending(&self, limit: u32) -> anyhow::Result<Vec<OutboxEntry>> {
        self.0.pending_events(limit).await
    }
    async fn mark_delivered(&self, ids: &[i64]) -> anyhow::Result<()> {
        self.0.mark_events_delivered(ids).await
    }
    async fn backlog(&self) -> anyhow::Result<i64> {
        self.0.outbox_backlog().await
    }
    async fn lead(&self) -> anyhow::Result<bool> {
        self.0.lead_relay().await
    }
}

/// Opens the api's store on the given database.
pub fn open(database: db::Database) -> Arc<dyn ApiStore> {
    static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
    static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
    match database {
        db::Database::Sqlite(pools) => Arc::new(SqlApiStore::new(pools, &SQLITE)),
        db::Database::Postgres(pools) => Arc::new(SqlApiStore::new(pools, &POSTGRES)),
    }
}

/// Most tasks one list call returns.
pub const LIST_LIMIT: u32 = 1000;
