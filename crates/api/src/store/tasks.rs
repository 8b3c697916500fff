//! Where a task is written with its event: every change to a task and the event describing
//! it are committed in one transaction (`SqlOutbox::append`), so neither exists without the
//! other.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use db::{Dialect, Pools};
use domain::{
    DueFilter, EventType, NewTask, Priority, SortKey, StatusFilter, Task, TaskEdit, TaskEvent, TaskId, TaskQuery,
};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow};

use super::outbox::{SequenceRow, SqlOutbox};
use super::{LIST_LIMIT, json};

#[async_trait]
pub trait TaskStore: Send + Sync {
    async fn list_tasks(&self, user_id: &str, query: &TaskQuery) -> db::Result<Vec<Task>>;
    async fn get_task(&self, user_id: &str, id: TaskId) -> db::Result<Option<Task>>;
    async fn create_task(&self, user_id: &str, task: NewTask) -> db::Result<(Task, TaskEvent)>;
    /// `None` when the user has no such task. Completing a recurring task also creates its next
    /// occurrence: then two events, `completed` and the new task's `created`.
    async fn edit_task(&self, user_id: &str, id: TaskId, edit: TaskEdit) -> db::Result<Option<(Task, Vec<TaskEvent>)>>;
    async fn delete_task(&self, user_id: &str, id: TaskId) -> db::Result<Option<TaskEvent>>;
    /// Takes up to `limit` reminders due by `now` of pending tasks, marks them sent and writes
    /// their `reminder.due` events to the outbox, in one transaction: each goes out once, even
    /// with several api processes scanning (rows another one holds are skipped).
    async fn take_due_reminders(&self, now: DateTime<Utc>, limit: u32) -> db::Result<Vec<TaskEvent>>;
}

pub struct SqlTasks<DB: sqlx::Database> {
    pub(super) pools: Pools<DB>,
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
    continues: Option<i32>,
    continued_by: Option<i32>,
    remind_at: Option<DateTime<Utc>>,
    remind_before_minutes: Option<i32>,
    reminded_at: Option<DateTime<Utc>>,
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
            // Stored only after validation, so it reads back.
            recurrence: r.recurrence.as_deref().and_then(|r| r.parse().ok()),
            continues: r.continues,
            continued_by: r.continued_by,
            remind_at: r.remind_at,
            remind_before_minutes: r.remind_before_minutes.and_then(|m| u32::try_from(m).ok()),
            reminded_at: r.reminded_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const TASK_COLUMNS: &str = "id, user_id, title, description, completed, priority, tags, due_date, recurrence, \
     continues, continued_by, remind_at, remind_before_minutes, reminded_at, created_at, updated_at";

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

/// Text in the one case search compares in: Unicode lower case, with the final sigma `ς` as `σ`
/// (Rust lower-cases a word-final `Σ` to `ς`, so "ΟΔΟΣ" must still match a search for "Σ").
/// Done here, not with SQL `LOWER()`: SQLite's folds ASCII only.
fn fold(text: &str) -> String {
    text.to_lowercase().replace('ς', "σ")
}

/// The `search_text` column: what `q` is matched against.
fn search_text(title: &str, description: &str) -> String {
    fold(&format!("{title}\n{description}"))
}

/// `%needle%` for LIKE, with the user's own `%`, `_` and `\` taken literally.
fn like_pattern(needle: &str) -> String {
    let escaped = fold(needle)
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[db::sql_bounds(TaskRow, SequenceRow)]
#[async_trait]
impl<DB: Dialect> TaskStore for SqlTasks<DB> {
    async fn list_tasks(&self, user_id: &str, query: &TaskQuery) -> db::Result<Vec<Task>> {
        let completed = match query.status {
            StatusFilter::All => None,
            StatusFilter::Pending => Some(false),
            StatusFilter::Completed => Some(true),
        };
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE user_id = $1 \
             AND ($2 IS NULL OR completed = $2) \
             AND ($3 IS NULL OR search_text LIKE $3 ESCAPE '\\') \
             AND ($4 IS NULL OR priority = $4) \
             AND ($5 IS NULL OR {tag}) \
             AND ($6 IS NULL OR (completed = FALSE AND due_date < $6)) \
             ORDER BY {order} LIMIT {LIST_LIMIT}",
            tag = DB::tags_contain(5),
            order = order_by(query.sort),
        );
        let pattern = query.q.as_deref().filter(|q| !q.is_empty()).map(like_pattern);
        if pattern.is_some() {
            // Tasks written before migration 0004 have no search text yet: fill this user's
            // now (a no-op once done; the partial index finds none in one probe). An edit in
            // between sets its own, which `search_text IS NULL` keeps this from overwriting.
            let missing: Vec<TaskRow> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE user_id = $1 AND search_text IS NULL"
            )))
            .bind(user_id.to_owned())
            .fetch_all(&self.pools.reader)
            .await?;
            for row in missing {
                sqlx::query("UPDATE tasks SET search_text = $1 WHERE id = $2 AND search_text IS NULL")
                    .bind(search_text(&row.title, &row.description))
                    .bind(row.id)
                    .execute(&self.pools.writer)
                    .await?;
            }
        }
        let rows: Vec<TaskRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user_id.to_owned())
            .bind(completed)
            .bind(pattern)
            .bind(query.priority.map(|p| p.as_str().to_owned()))
            .bind(query.tag.as_deref().map(|t| t.trim().to_lowercase()))
            .bind(query.due.map(|DueFilter::Overdue| domain::clock::now()))
            .fetch_all(&self.pools.reader)
            .await?;
        Ok(rows.into_iter().map(Task::from).collect())
    }

    async fn get_task(&self, user_id: &str, id: TaskId) -> db::Result<Option<Task>> {
        let row: Option<TaskRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2"
        )))
        .bind(id)
        .bind(user_id.to_owned())
        .fetch_optional(&self.pools.reader)
        .await?;
        Ok(row.map(Task::from))
    }

    async fn create_task(&self, user_id: &str, new: NewTask) -> db::Result<(Task, TaskEvent)> {
        let mut tx = self.pools.writer.begin().await?;
        let sequence = SqlOutbox::<DB>::next_sequence(&mut tx, user_id).await?;
        // Read after the user's lock: their events' timestamps rise with their numbers.
        let now = domain::clock::now();
        let task = Self::insert_task(&mut tx, user_id, new, None, now).await?;
        let event = TaskEvent::record(EventType::Created, &task, now, sequence);
        SqlOutbox::<DB>::append(&mut tx, &event).await?;
        tx.commit().await?;
        Ok((task, event))
    }

    async fn edit_task(&self, user_id: &str, id: TaskId, edit: TaskEdit) -> db::Result<Option<(Task, Vec<TaskEvent>)>> {
        let mut tx = self.pools.writer.begin().await?;
        // First, as in every change: the user's lock. (No such task: the rollback returns it.)
        let sequence = SqlOutbox::<DB>::next_sequence(&mut tx, user_id).await?;
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
        let event_type = task.edit(edit, now)?;
        // A recurring task's next occurrence is made with its completion, in this transaction:
        // both or neither, and once (`continued_by` stays set).
        let next = match event_type {
            EventType::Completed => task.next_occurrence(now),
            _ => None,
        };
        let next = match next {
            Some(new) => Some(Self::insert_task(&mut tx, user_id, new, Some(task.id), now).await?),
            None => None,
        };
        if let Some(next) = &next {
            task.continued_by = Some(next.id);
        }
        sqlx::query(
            "UPDATE tasks SET title = $1, description = $2, completed = $3, priority = $4, tags = $5, \
             due_date = $6, recurrence = $7, updated_at = $8, search_text = $10, continued_by = $11, \
             remind_at = $12, remind_before_minutes = $13, reminded_at = $14 WHERE id = $9",
        )
        .bind(task.title.clone())
        .bind(task.description.clone())
        .bind(task.completed)
        .bind(task.priority.as_str().to_owned())
        .bind(json(&task.tags)?)
        .bind(task.due_date)
        .bind(task.recurrence.map(|r| r.to_string()))
        .bind(now)
        .bind(task.id)
        .bind(search_text(&task.title, &task.description))
        .bind(task.continued_by)
        .bind(task.remind_at)
        .bind(task.remind_before_minutes.map(|m| m as i32))
        .bind(task.reminded_at)
        .execute(&mut *tx)
        .await?;
        let mut events = vec![TaskEvent::record(event_type, &task, now, sequence)];
        if let Some(next) = &next {
            let sequence = SqlOutbox::<DB>::next_sequence(&mut tx, user_id).await?;
            events.push(TaskEvent::record(EventType::Created, next, now, sequence));
        }
        for event in &events {
            SqlOutbox::<DB>::append(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(Some((task, events)))
    }

    async fn delete_task(&self, user_id: &str, id: TaskId) -> db::Result<Option<TaskEvent>> {
        let mut tx = self.pools.writer.begin().await?;
        let sequence = SqlOutbox::<DB>::next_sequence(&mut tx, user_id).await?;
        let row: Option<TaskRow> = sqlx::query_as(AssertSqlSafe(format!(
            "DELETE FROM tasks WHERE id = $1 AND user_id = $2 RETURNING {TASK_COLUMNS}"
        )))
        .bind(id)
        .bind(user_id.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let event = TaskEvent::record(EventType::Deleted, &Task::from(row), domain::clock::now(), sequence);
        SqlOutbox::<DB>::append(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(Some(event))
    }

    async fn take_due_reminders(&self, now: DateTime<Utc>, limit: u32) -> db::Result<Vec<TaskEvent>> {
        let mut tx = self.pools.writer.begin().await?;
        let rows: Vec<TaskRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE remind_at <= $1 AND reminded_at IS NULL AND completed = FALSE \
             ORDER BY remind_at LIMIT {limit}{}",
            DB::SKIP_LOCKED
        )))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let task = Task::from(row);
            sqlx::query("UPDATE tasks SET reminded_at = $1 WHERE id = $2")
                .bind(now)
                .bind(task.id)
                .execute(&mut *tx)
                .await?;
            let event = TaskEvent::reminder(&task, now);
            SqlOutbox::<DB>::append(&mut tx, &event).await?;
            events.push(event);
        }
        tx.commit().await?;
        Ok(events)
    }
}

#[db::sql_bounds(TaskRow)]
impl<DB: Dialect> SqlTasks<DB> {
    /// Inserts a task inside the caller's transaction; `continues` names the occurrence it
    /// follows.
    async fn insert_task(
        transaction: &mut DB::Connection,
        user_id: &str,
        new: NewTask,
        continues: Option<TaskId>,
        now: DateTime<Utc>,
    ) -> db::Result<Task> {
        let search = search_text(&new.title, &new.description);
        let (remind_at, remind_before_minutes) = new.reminder_columns()?;
        let row: TaskRow = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO tasks (user_id, title, description, completed, priority, tags, due_date, recurrence, \
             continues, created_at, updated_at, search_text, remind_at, remind_before_minutes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13) RETURNING {TASK_COLUMNS}"
        )))
        .bind(user_id.to_owned())
        .bind(new.title)
        .bind(new.description)
        .bind(false)
        .bind(new.priority.as_str().to_owned())
        .bind(json(&new.tags)?)
        .bind(new.due_date)
        .bind(new.recurrence.map(|r| r.to_string()))
        .bind(continues)
        .bind(now)
        .bind(search)
        .bind(remind_at)
        .bind(remind_before_minutes.map(|m| m as i32))
        .fetch_one(&mut *transaction)
        .await?;
        Ok(Task::from(row))
    }
}
