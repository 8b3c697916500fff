//! Where a task is written with its event: every change to a task and the event describing
//! it are committed in one transaction (`SqlOutbox::append`), so neither exists without the
//! other.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use db::{Dialect, Pools};
use domain::{
    DueFilter, EventType, NewTask, Priority, SortKey, StatusFilter, Task, TaskCursor, TaskEdit, TaskEvent, TaskId,
    TaskPageRequest, TaskQuery,
};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow};

use super::json;
use super::outbox::{SequenceRow, SqlOutbox};

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// One page of the user's tasks that match, in the query's order, and where the next
    /// page starts (keyset: tasks added or removed meanwhile shift nothing).
    async fn list_tasks(&self, user_id: &str, query: &TaskQuery, page: &TaskPageRequest) -> db::Result<TaskPage>;
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

/// A page of tasks and where the next one starts (none: this is the last).
#[derive(Debug)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    pub next: Option<TaskCursor>,
}

/// A value bound to a list query's next `$n`.
enum Arg {
    Text(String),
    Time(DateTime<Utc>),
    Id(TaskId),
}

/// A list query's conditions and the values they bind, numbered as they are added.
#[derive(Default)]
struct ListSql {
    conds: Vec<String>,
    args: Vec<Arg>,
}

impl ListSql {
    /// Binds `arg`, answering its placeholder.
    fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// Only the filters asked for reach the SQL (no `$n IS NULL OR ...`): a prepared
    /// statement's generic plan then still uses the index a filter allows.
    fn filters(&mut self, query: &TaskQuery, pattern: Option<String>, tags_contain: fn(usize) -> String) {
        match query.status {
            StatusFilter::All => {}
            StatusFilter::Pending => self.conds.push("completed = FALSE".into()),
            StatusFilter::Completed => self.conds.push("completed = TRUE".into()),
        }
        if let Some(pattern) = pattern {
            let p = self.arg(Arg::Text(pattern));
            self.conds.push(format!("search_text LIKE {p} ESCAPE '\\'"));
        }
        if let Some(priority) = query.priority {
            let p = self.arg(Arg::Text(priority.as_str().to_owned()));
            self.conds.push(format!("priority = {p}"));
        }
        if let Some(tag) = &query.tag {
            self.arg(Arg::Text(tag.trim().to_lowercase()));
            self.conds.push(tags_contain(self.args.len()));
        }
        if let Some(DueFilter::Overdue) = query.due {
            let p = self.arg(Arg::Time(domain::clock::now()));
            self.conds.push(format!("completed = FALSE AND due_date < {p}"));
        }
    }
}

/// One index-ordered run of a list: its own condition (where the cursor is, which part of the
/// order) and ORDER BY. A sort whose order no single index scan gives (undated tasks after
/// dated ones; high, then medium, then low priority) is several runs, read one after another
/// until the page is full, each a range scan of `(user_id, <key>, id)`-style indexes.
struct Segment {
    cond: Box<dyn Fn(&mut ListSql) + Send>,
    order: &'static str,
}

fn segment(order: &'static str, cond: impl Fn(&mut ListSql) + Send + 'static) -> Segment {
    Segment {
        cond: Box::new(cond),
        order,
    }
}

fn segments(query: &TaskQuery, after: Option<&TaskCursor>) -> Vec<Segment> {
    let after = after.cloned();
    match query.sort {
        SortKey::Created => vec![segment("created_at DESC, id DESC", move |sql| {
            if let Some(TaskCursor { at: Some(at), id, .. }) = &after {
                let (at, id) = (sql.arg(Arg::Time(*at)), sql.arg(Arg::Id(*id)));
                sql.conds.push(format!("(created_at, id) < ({at}, {id})"));
            }
        })],
        SortKey::Title => vec![segment("LOWER(title), id", move |sql| {
            if let Some(TaskCursor {
                title: Some(title), id, ..
            }) = &after
            {
                let (title, id) = (sql.arg(Arg::Text(title.clone())), sql.arg(Arg::Id(*id)));
                sql.conds.push(format!("(LOWER(title), id) > (LOWER({title}), {id})"));
            }
        })],
        SortKey::DueDate => {
            let mut runs = Vec::new();
            // Dated tasks, soonest first; unless the cursor is already among the undated.
            if after.as_ref().is_none_or(|c| c.at.is_some()) {
                let after = after.clone();
                runs.push(segment("due_date, id", move |sql| {
                    sql.conds.push("due_date IS NOT NULL".into());
                    if let Some(TaskCursor { at: Some(at), id, .. }) = &after {
                        let (at, id) = (sql.arg(Arg::Time(*at)), sql.arg(Arg::Id(*id)));
                        sql.conds.push(format!("(due_date, id) > ({at}, {id})"));
                    }
                }));
            }
            runs.push(segment("id", move |sql| {
                sql.conds.push("due_date IS NULL".into());
                if let Some(TaskCursor { at: None, id, .. }) = &after {
                    let id = sql.arg(Arg::Id(*id));
                    sql.conds.push(format!("id > {id}"));
                }
            }));
            runs
        }
        SortKey::Priority => {
            // Priorities are only ever written as one of the three (`Priority`).
            let levels = [Priority::High, Priority::Medium, Priority::Low];
            let from = after
                .as_ref()
                .and_then(|c| c.priority)
                .and_then(|p| levels.iter().position(|l| *l == p))
                .unwrap_or(0);
            levels[from..]
                .iter()
                .copied()
                .filter(|level| query.priority.is_none_or(|p| p == *level))
                .map(|level| {
                    let after = after.clone().filter(|c| c.priority == Some(level));
                    segment("created_at DESC, id DESC", move |sql| {
                        sql.conds.push(format!("priority = '{}'", level.as_str()));
                        if let Some(TaskCursor { at: Some(at), id, .. }) = &after {
                            let (at, id) = (sql.arg(Arg::Time(*at)), sql.arg(Arg::Id(*id)));
                            sql.conds.push(format!("(created_at, id) < ({at}, {id})"));
                        }
                    })
                })
                .collect()
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
impl<DB: Dialect + sqlx::database::HasStatementCache> TaskStore for SqlTasks<DB> {
    async fn list_tasks(&self, user_id: &str, query: &TaskQuery, page: &TaskPageRequest) -> db::Result<TaskPage> {
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
        // One more than the page: whether there is a next one.
        let wanted = page.limit as usize + 1;
        let mut tasks: Vec<Task> = Vec::with_capacity(wanted.min(64));
        for segment in segments(query, page.after.as_ref()) {
            let mut sql = ListSql::default();
            let user = sql.arg(Arg::Text(user_id.to_owned()));
            sql.conds.push(format!("user_id = {user}"));
            sql.filters(query, pattern.clone(), DB::tags_contain);
            (segment.cond)(&mut sql);
            let statement = format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE {} ORDER BY {} LIMIT {}",
                sql.conds.join(" AND "),
                segment.order,
                wanted - tasks.len()
            );
            // Planned for its own values each time: a cached statement's generic plan on
            // PostgreSQL cannot tell a rare search or tag (use its GIN index) from a common one
            // (walk the sort's index), and took 60-70 ms for what the right plan does in 3-7.
            let mut select = sqlx::query_as::<DB, TaskRow>(AssertSqlSafe(statement)).persistent(false);
            for arg in sql.args {
                select = match arg {
                    Arg::Text(v) => select.bind(v),
                    Arg::Time(v) => select.bind(v),
                    Arg::Id(v) => select.bind(v),
                };
            }
            let rows = select.fetch_all(&self.pools.reader).await?;
            tasks.extend(rows.into_iter().map(Task::from));
            if tasks.len() >= wanted {
                break;
            }
        }
        let next = if tasks.len() > page.limit as usize {
            tasks.truncate(page.limit as usize);
            tasks.last().map(|t| TaskCursor::after(t, query.sort))
        } else {
            None
        };
        Ok(TaskPage { tasks, next })
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
        let user_id = user_id.to_owned();
        self.pools
            .write(move |connection| {
                let (user_id, new) = (user_id.clone(), new.clone());
                Box::pin(async move {
                    let sequence = SqlOutbox::<DB>::next_sequence(connection, &user_id).await?;
                    // Read after the user's lock: their events' timestamps rise with their numbers.
                    let now = domain::clock::now();
                    let task = Self::insert_task(connection, &user_id, new, None, now).await?;
                    let event = TaskEvent::record(EventType::Created, &task, now, sequence);
                    SqlOutbox::<DB>::append(connection, &event).await?;
                    Ok((task, event))
                })
            })
            .await
    }

    async fn edit_task(&self, user_id: &str, id: TaskId, edit: TaskEdit) -> db::Result<Option<(Task, Vec<TaskEvent>)>> {
        let user_id = user_id.to_owned();
        self.pools
            .write(move |connection| {
                let (user_id, edit) = (user_id.clone(), edit.clone());
                Box::pin(async move { Self::edit_in(connection, &user_id, id, edit).await })
            })
            .await
    }

    async fn delete_task(&self, user_id: &str, id: TaskId) -> db::Result<Option<TaskEvent>> {
        let user_id = user_id.to_owned();
        self.pools
            .write(move |connection| {
                let user_id = user_id.clone();
                Box::pin(async move {
                    // The row first: no such task, nothing written.
                    let row: Option<TaskRow> = sqlx::query_as(AssertSqlSafe(format!(
                        "DELETE FROM tasks WHERE id = $1 AND user_id = $2 RETURNING {TASK_COLUMNS}"
                    )))
                    .bind(id)
                    .bind(user_id.clone())
                    .fetch_optional(&mut *connection)
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    let sequence = SqlOutbox::<DB>::next_sequence(connection, &user_id).await?;
                    let event = TaskEvent::record(EventType::Deleted, &Task::from(row), domain::clock::now(), sequence);
                    SqlOutbox::<DB>::append(connection, &event).await?;
                    Ok(Some(event))
                })
            })
            .await
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

#[db::sql_bounds(TaskRow, SequenceRow)]
impl<DB: Dialect> SqlTasks<DB> {
    /// An edit inside the caller's transaction. The task's row first (locked on PostgreSQL):
    /// no such task, nothing written. Then the user's lock, as in every change.
    async fn edit_in(
        connection: &mut DB::Connection,
        user_id: &str,
        id: TaskId,
        edit: TaskEdit,
    ) -> db::Result<Option<(Task, Vec<TaskEvent>)>> {
        let row: Option<TaskRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2{}",
            DB::FOR_UPDATE
        )))
        .bind(id)
        .bind(user_id.to_owned())
        .fetch_optional(&mut *connection)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sequence = SqlOutbox::<DB>::next_sequence(connection, user_id).await?;
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
            Some(new) => Some(Self::insert_task(connection, user_id, new, Some(task.id), now).await?),
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
        .execute(&mut *connection)
        .await?;
        let mut events = vec![TaskEvent::record(event_type, &task, now, sequence)];
        if let Some(next) = &next {
            let sequence = SqlOutbox::<DB>::next_sequence(connection, user_id).await?;
            events.push(TaskEvent::record(EventType::Created, next, now, sequence));
        }
        for event in &events {
            SqlOutbox::<DB>::append(connection, event).await?;
        }
        Ok(Some((task, events)))
    }

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
