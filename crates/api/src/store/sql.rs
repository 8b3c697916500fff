//! `ApiStore` written once for both databases; only `Dialect` SQL differs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use db::{Dialect, Pools};
use domain::{NewTask, Priority, Recurrence, SortKey, StatusFilter, Task, TaskEdit, TaskEvent, TaskId, TaskQuery};
use sqlx::migrate::Migrator;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

use super::{ApiStore, ChatClaim, LIST_LIMIT, UserRecord};
use domain::chat::{ChatMessage, ChatRole, Conversation, NewChatMessage, ToolCallRecord};
use events::OutboxEntry;

pub struct SqlApiStore<DB: sqlx::Database> {
    pools: Pools<DB>,
    migrator: &'static Migrator,
    /// The connection holding the relay lock while this process holds it (the lock lives as
    /// long as the connection), and when that connection was last seen alive.
    relay_lock: tokio::sync::Mutex<Option<(DB::Connection, std::time::Instant)>>,
}

impl<DB: sqlx::Database> SqlApiStore<DB> {
    pub fn new(pools: Pools<DB>, migrator: &'static Migrator) -> Self {
        Self {
            pools,
            migrator,
            relay_lock: tokio::sync::Mutex::new(None),
        }
    }
}

/// How often the relay confirms that the connection holding its lock is alive.
const RELAY_LOCK_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(FromRow)]
pub struct LockRow {
    taken: bool,
}

#[derive(FromRow)]
pub struct TaskRow {
    id: i32,
    user_id: String,
    title: String,
    description: String,
    completed: bool,
    priority: String,
    tags: Json<Vec<String>>,
    due_date: Option<DateTime<Utc>>,
    recurrence: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<TaskRow> for Task {
    fn from(r: TaskRow) -> Self {
        Task {
            id: r.id,
            user_id: r.user_id,
            title: r.title,
            description: r.description,
            completed: r.completed,
            priority: Priority::parse(&r.priority).unwrap_or_default(),
            tags: r.tags.0,
            due_date: r.due_date,
            recurrence: r.recurrence.as_deref().and_then(Recurrence::parse),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(FromRow)]
pub struct OutboxRow {
    id: i64,
    payload: Json<TaskEvent>,
}

#[derive(FromRow)]
pub struct CountRow {
    n: i64,
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

#[derive(FromRow)]
pub struct ChatRequestRow {
    response: Option<Json<serde_json::Value>>,
}

const CONVERSATION_COLUMNS: &str = "id, user_id, title, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "id, conversation_id, role, content, tool_calls, created_at";

const TASK_COLUMNS: &str =
    "id, user_id, title, description, completed, priority, tags, due_date, recurrence, created_at, updated_at";

fn json(value: &impl serde::Serialize) -> anyhow::Result<Json<serde_json::Value>> {
    Ok(Json(serde_json::to_value(value)?))
}

fn order_by(sort: SortKey) -> &'static str {
    match sort {
        SortKey::Created => "created_at DESC, id DESC",
        SortKey::Title => "LOWER(title), id",
        SortKey::DueDate => "due_date IS NULL, due_date, id",
        SortKey::Priority => {
            "CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, created_at DESC, id DESC"
        }
    }
}

/// `%needle%` for LIKE, with the user's own `%`, `_` and `\` taken literally.
fn like_pattern(needle: &str) -> String {
    let escaped = needle
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[async_trait]
impl<DB> ApiStore for SqlApiStore<DB>
where
    DB: Dialect,
    DB::Connection: sqlx::migrate::Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i32: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> Json<serde_json::Value>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<bool>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'q> Option<DateTime<Utc>>: Encode<'q, DB>,
    for<'r> TaskRow: FromRow<'r, DB::Row>,
    for<'r> UserRecord: FromRow<'r, DB::Row>,
    for<'r> OutboxRow: FromRow<'r, DB::Row>,
    for<'r> CountRow: FromRow<'r, DB::Row>,
    for<'r> ConversationRow: FromRow<'r, DB::Row>,
    for<'r> MessageRow: FromRow<'r, DB::Row>,
    for<'r> ChatRequestRow: FromRow<'r, DB::Row>,
    for<'r> LockRow: FromRow<'r, DB::Row>,
{
    async fn migrate(&self) -> anyhow::Result<()> {
        db::migrate(&self.pools.writer, self.migrator, "_tasktrail_api_migrations").await
    }

    async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pools.reader).await?;
        Ok(())
    }

    async fn create_user(&self, user: &UserRecord) -> anyhow::Result<bool> {
        let result =
            sqlx::query("INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(user.id.clone())
                .bind(user.email.clone())
                .bind(user.name.clone())
                .bind(user.password_hash.clone())
                .bind(user.created_at)
                .execute(&self.pools.writer)
                .await;
        match result {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn find_user_by_email(&self, email: &str) -> anyhow::Result<Option<UserRecord>> {
        Ok(
            sqlx::query_as("SELECT id, email, name, password_hash, created_at FROM users WHERE email = $1")
                .bind(email.to_owned())
                .fetch_optional(&self.pools.reader)
                .await?,
        )
    }

    async fn find_user(&self, id: &str) -> anyhow::Result<Option<UserRecord>> {
        Ok(
            sqlx::query_as("SELECT id, email, name, password_hash, created_at FROM users WHERE id = $1")
                .bind(id.to_owned())
                .fetch_optional(&self.pools.reader)
                .await?,
        )
    }

    async fn list_tasks(&self, user_id: &str, query: &TaskQuery) -> anyhow::Result<Vec<Task>> {
        let completed = match query.status {
            StatusFilter::All => None,
            StatusFilter::Pending => Some(false),
            StatusFilter::Completed => Some(true),
        };
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE user_id = $1 \
             AND ($2 IS NULL OR completed = $2) \
             AND ($3 IS NULL OR LOWER(title) LIKE $3 ESCAPE '\\' OR LOWER(description) LIKE $3 ESCAPE '\\') \
             AND ($4 IS NULL OR priority = $4) \
             AND ($5 IS NULL OR {tag}) \
             ORDER BY {order} LIMIT {LIST_LIMIT}",
            tag = DB::tags_contain(5),
            order = order_by(query.sort),
        );
        let rows: Vec<TaskRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user_id.to_owned())
            .bind(completed)
            .bind(query.q.as_deref().filter(|q| !q.is_empty()).map(like_pattern))
            .bind(query.priority.map(|p| p.as_str().to_owned()))
            .bind(query.tag.as_deref().map(|t| t.trim().to_lowercase()))
            .fetch_all(&self.pools.reader)
            .await?;
        Ok(rows.into_iter().map(Task::from).collect())
    }

    async fn get_task(&self, user_id: &str, id: TaskId) -> anyhow::Result<Option<Task>> {
        let row: Option<TaskRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2"
        )))
        .bind(id)
        .bind(user_id.to_owned())
        .fetch_optional(&self.pools.reader)
        .await?;
        Ok(row.map(Task::from))
    }

    async fn create_task(&self, user_id: &str, new: NewTask) -> anyhow::Result<(Task, TaskEvent)> {
        let now = domain::clock::now();
        let mut tx = self.pools.writer.begin().await?;
        let row: TaskRow = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO tasks (user_id, title, description, completed, priority, tags, due_date, recurrence, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {TASK_COLUMNS}"
        )))
        .bind(user_id.to_owned())
        .bind(new.title)
        .bind(new.description)
        .bind(false)
        .bind(new.priority.as_str().to_owned())
        .bind(json(&new.tags)?)
        .bind(new.due_date)
        .bind(new.recurrence.map(|r| r.as_str().to_owned()))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let task = Task::from(row);
        let event = TaskEvent::record(domain::EventType::Created, &task, now);
        insert_outbox(&mut *tx, &event).await?;
        tx.commit().await?;
        Ok((task, event))
    }

    async fn edit_task(&self, user_id: &str, id: TaskId, edit: TaskEdit) -> anyhow::Result<Option<(Task, TaskEvent)>> {
        let mut tx = self.pools.writer.begin().await?;
        let row: Option<TaskRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2{}",
            DB::FOR_UPDATE
        )))
        .bind(id)
        .bind(user_id.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut task = Task::from(row);
        let now = domain::clock::now();
        let event_type = task.edit(edit, now);
        sqlx::query(
            "UPDATE tasks SET title = $1, description = $2, completed = $3, priority = $4, tags = $5, \
             due_date = $6, recurrence = $7, updated_at = $8 WHERE id = $9",
        )
        .bind(task.title.clone())
        .bind(task.description.clone())
        .bind(task.completed)
        .bind(task.priority.as_str().to_owned())
        .bind(json(&task.tags)?)
        .bind(task.due_date)
        .bind(task.recurrence.map(|r| r.as_str().to_owned()))
        .bind(now)
        .bind(task.id)
        .execute(&mut *tx)
        .await?;
        let event = TaskEvent::record(event_type, &task, now);
        insert_outbox(&mut *tx, &event).await?;
        tx.commit().await?;
        Ok(Some((task, event)))
    }

    async fn delete_task(&self, user_id: &str, id: TaskId) -> anyhow::Result<Option<TaskEvent>> {
        let mut tx = self.pools.writer.begin().await?;
        let row: Option<TaskRow> = sqlx::query_as(AssertSqlSafe(format!(
            "DELETE FROM tasks WHERE id = $1 AND user_id = $2 RETURNING {TASK_COLUMNS}"
        )))
        .bind(id)
        .bind(user_id.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let event = TaskEvent::record(domain::EventType::Deleted, &Task::from(row), domain::clock::now());
        insert_outbox(&mut *tx, &event).await?;
        tx.commit().await?;
        Ok(Some(event))
    }

    async fn pending_events(&self, limit: u32) -> anyhow::Result<Vec<OutboxEntry>> {
        let rows: Vec<OutboxRow> = sqlx::query_as("SELECT id, payload FROM outbox ORDER BY id LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pools.reader)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| OutboxEntry {
                id: r.id,
                event: r.payload.0,
            })
            .collect())
    }

    async fn mark_events_delivered(&self, ids: &[i64]) -> anyhow::Result<()> {
        let sql = format!("DELETE FROM outbox WHERE id IN ({})", DB::json_integers(1));
        sqlx::query(AssertSqlSafe(sql))
            .bind(json(&ids)?)
            .execute(&self.pools.writer)
            .await?;
        Ok(())
    }

    async fn outbox_backlog(&self) -> anyhow::Result<i64> {
        let row: CountRow = sqlx::query_as("SELECT COUNT(*) AS n FROM outbox")
            .fetch_one(&self.pools.reader)
            .await?;
        Ok(row.n)
    }

    async fn lead_relay(&self) -> anyhow::Result<bool> {
        let Some(try_lock) = DB::TRY_RELAY_LOCK else {
            return Ok(true);
        };
        let mut held = self.relay_lock.lock().await;
        if let Some((connection, seen_alive)) = held.as_mut() {
            // Asked before every batch; a round trip per batch would cost the database more
            // than a second's delay in noticing a lost lock.
            if seen_alive.elapsed() < RELAY_LOCK_CHECK {
                return Ok(true);
            }
            match sqlx::query("SELECT 1").execute(&mut *connection).await {
                Ok(_) => {
                    *seen_alive = std::time::Instant::now();
                    return Ok(true);
                }
                Err(e) => {
                    // The lock went with the connection; another process may take over.
                    tracing::warn!(error = %e, "lost the connection holding the relay lock");
                    *held = None;
                }
            }
        }
        // A connection of its own, outside the pool's accounting, held for as long as we lead.
        let mut connection = self.pools.writer.acquire().await?.detach();
        let row: LockRow = sqlx::query_as(try_lock).fetch_one(&mut connection).await?;
        if row.taken {
            *held = Some((connection, std::time::Instant::now()));
        }
        Ok(row.taken)
    }

    async fn create_conversation(&self, c: &Conversation) -> anyhow::Result<()> {
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

    async fn find_conversation(&self, user_id: &str, id: &str) -> anyhow::Result<Option<Conversation>> {
        let row: Option<ConversationRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND user_id = $2"
        )))
        .bind(id.to_owned())
        .bind(user_id.to_owned())
        .fetch_optional(&self.pools.reader)
        .await?;
        Ok(row.map(Conversation::from))
    }

    async fn list_conversations(&self, user_id: &str) -> anyhow::Result<Vec<Conversation>> {
        let rows: Vec<ConversationRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE user_id = $1 \
             ORDER BY updated_at DESC, id LIMIT {LIST_LIMIT}"
        )))
        .bind(user_id.to_owned())
        .fetch_all(&self.pools.reader)
        .await?;
        Ok(rows.into_iter().map(Conversation::from).collect())
    }

    async fn recent_messages(&self, conversation_id: &str, limit: u32) -> anyhow::Result<Vec<ChatMessage>> {
        let rows: Vec<MessageRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 ORDER BY id DESC LIMIT {limit}"
        )))
        .bind(conversation_id.to_owned())
        .fetch_all(&self.pools.reader)
        .await?;
        Ok(rows.into_iter().rev().map(ChatMessage::from).collect())
    }

    async fn append_messages(&self, conversation_id: &str, messages: &[NewChatMessage]) -> anyhow::Result<()> {
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

    async fn claim_chat_request(&self, user_id: &str, key: &str) -> anyhow::Result<ChatClaim> {
        let claimed: Option<CountRow> = sqlx::query_as(
            "INSERT INTO chat_requests (user_id, idempotency_key, response, created_at) VALUES ($1, $2, NULL, $3) \
             ON CONFLICT DO NOTHING RETURNING CAST(1 AS BIGINT) AS n",
        )
        .bind(user_id.to_owned())
        .bind(key.to_owned())
        .bind(domain::clock::now())
        .fetch_optional(&self.pools.writer)
        .await?;
        if claimed.is_some() {
            return Ok(ChatClaim::Claimed);
        }
        let row: Option<ChatRequestRow> =
            sqlx::query_as("SELECT response FROM chat_requests WHERE user_id = $1 AND idempotency_key = $2")
                .bind(user_id.to_owned())
                .bind(key.to_owned())
                .fetch_optional(&self.pools.writer)
                .await?;
        Ok(match row.and_then(|r| r.response) {
            Some(Json(response)) => ChatClaim::Answered(response),
            None => ChatClaim::Running,
        })
    }

    async fn finish_chat_request(&self, user_id: &str, key: &str, response: &serde_json::Value) -> anyhow::Result<()> {
        sqlx::query("UPDATE chat_requests SET response = $1 WHERE user_id = $2 AND idempotency_key = $3")
            .bind(Json(response.clone()))
            .bind(user_id.to_owned())
            .bind(key.to_owned())
            .execute(&self.pools.writer)
            .await?;
        Ok(())
    }

    async fn release_chat_request(&self, user_id: &str, key: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM chat_requests WHERE user_id = $1 AND idempotency_key = $2")
            .bind(user_id.to_owned())
            .bind(key.to_owned())
            .execute(&self.pools.writer)
            .await?;
        Ok(())
    }
}

async fn insert_outbox<'c, DB, E>(executor: E, event: &TaskEvent) -> anyhow::Result<()>
where
    DB: sqlx::Database,
    E: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> Json<serde_json::Value>: Encode<'q, DB> + Type<DB>,
{
    sqlx::query("INSERT INTO outbox (event_id, user_id, payload, created_at) VALUES ($1, $2, $3, $4)")
        .bind(event.event_id)
        .bind(event.user_id.clone())
        .bind(json(event)?)
        .bind(event.timestamp)
        .execute(executor)
        .await?;
    Ok(())
}
