//! `notifications` on SQLite or PostgreSQL, written once for both; only `Dialect` SQL differs.
//! A row is the claim on its event (first insert wins), the sender's work while `pending`, and
//! the user's record afterwards.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use db::{Database, Dialect, Migrations, Pools};
use domain::TaskId;
use domain::notification::{Notification, NotificationFilter, NotificationKind, NotificationStatus};
use sqlx::migrate::Migrator;
use sqlx::{AssertSqlSafe, FromRow};
use uuid::Uuid;

/// A notification to send, as its event (`completed` or `reminder.due`) describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub event_id: Uuid,
    pub kind: NotificationKind,
    pub user_id: String,
    pub task_id: TaskId,
    pub task_title: String,
    /// The event's time.
    pub completed_at: DateTime<Utc>,
    pub due_date: Option<DateTime<Utc>>,
    pub late: bool,
}

/// A pending notification a sender has taken, with what it needs to decide.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub id: i64,
    pub notification: NewNotification,
    /// Attempts including this one.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Queues each notification unless its event has one already (a redelivery); says how
    /// many were new.
    async fn enqueue(&self, notifications: &[NewNotification]) -> db::Result<usize>;
    /// Takes up to `limit` pending notifications due at `now`, counting an attempt for each
    /// and hiding them from other senders until `held_until`.
    async fn take_due(&self, now: DateTime<Utc>, held_until: DateTime<Utc>, limit: u32) -> db::Result<Vec<Due>>;
    /// Records how a notification ended (sent, logged, skipped or failed).
    async fn settle(&self, id: i64, status: NotificationStatus, detail: &str, recipient: &str) -> db::Result<()>;
    /// Leaves a notification pending, to be tried again at `at`.
    async fn retry_at(&self, id: i64, at: DateTime<Utc>, detail: &str) -> db::Result<()>;
    /// Up to `filter.limit + 1` of the user's notifications, newest first.
    async fn list(&self, user_id: &str, filter: &NotificationFilter) -> db::Result<Vec<Notification>>;
}

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The notification service's schema: notifications.
pub static MIGRATIONS: Migrations = Migrations {
    table: "_tasktrail_notify_migrations",
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

/// Opens the store on a database whose migrations have run.
pub fn open(database: Database) -> Arc<dyn NotificationStore> {
    match database {
        Database::Sqlite(pools) => Arc::new(SqlNotifications { pools }),
        Database::Postgres(pools) => Arc::new(SqlNotifications { pools }),
    }
}

pub struct SqlNotifications<DB: sqlx::Database> {
    pools: Pools<DB>,
}

const COLUMNS: &str = "id, event_id, kind, user_id, task_id, task_title, completed_at, due_date, late, status, \
                       detail, recipient, attempts, updated_at, created_at";

#[derive(FromRow)]
pub struct NotificationRow {
    id: i64,
    event_id: Uuid,
    kind: String,
    user_id: String,
    task_id: i32,
    task_title: String,
    completed_at: DateTime<Utc>,
    due_date: Option<DateTime<Utc>>,
    late: bool,
    status: String,
    detail: String,
    recipient: String,
    attempts: i32,
    updated_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl NotificationRow {
    fn into_due(self) -> Due {
        Due {
            id: self.id,
            attempts: self.attempts,
            created_at: self.created_at,
            notification: NewNotification {
                event_id: self.event_id,
                kind: NotificationKind::parse(&self.kind).unwrap_or_default(),
                user_id: self.user_id,
                task_id: self.task_id,
                task_title: self.task_title,
                completed_at: self.completed_at,
                due_date: self.due_date,
                late: self.late,
            },
        }
    }
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Notification {
            id: r.id,
            event_id: r.event_id,
            // Only this module writes the column, from the enum.
            kind: NotificationKind::parse(&r.kind).unwrap_or_default(),
            task_id: r.task_id,
            task_title: r.task_title,
            completed_at: r.completed_at,
            due_date: r.due_date,
            late: r.late,
            // Only this module writes the column, from the enum.
            status: NotificationStatus::parse(&r.status).unwrap_or(NotificationStatus::Failed),
            detail: r.detail,
            recipient: r.recipient,
            attempts: r.attempts,
            updated_at: r.updated_at,
        }
    }
}

#[derive(FromRow)]
pub struct IdRow {
    #[allow(dead_code)]
    id: i64,
}

#[db::sql_bounds(NotificationRow, IdRow)]
#[async_trait]
impl<DB: Dialect> NotificationStore for SqlNotifications<DB> {
    async fn enqueue(&self, notifications: &[NewNotification]) -> db::Result<usize> {
        let now = domain::clock::now();
        let mut new = 0;
        let mut tx = self.pools.writer.begin().await?;
        for n in notifications {
            let inserted: Option<IdRow> = sqlx::query_as(
                "INSERT INTO notifications (event_id, user_id, task_id, task_title, completed_at, status, \
                 next_attempt_at, created_at, updated_at, kind, due_date, late) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $8, $9, $10) \
                 ON CONFLICT (event_id) DO NOTHING RETURNING id",
            )
            .bind(n.event_id)
            .bind(n.user_id.clone())
            .bind(n.task_id)
            .bind(n.task_title.clone())
            .bind(n.completed_at)
            .bind(NotificationStatus::Pending.as_str().to_owned())
            .bind(now)
            .bind(n.kind.as_str().to_owned())
            .bind(n.due_date)
            .bind(n.late)
            .fetch_optional(&mut *tx)
            .await?;
            new += usize::from(inserted.is_some());
        }
        tx.commit().await?;
        Ok(new)
    }

    async fn take_due(&self, now: DateTime<Utc>, held_until: DateTime<Utc>, limit: u32) -> db::Result<Vec<Due>> {
        let sql = format!(
            "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = $2 WHERE id IN \
             (SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= $1 \
              ORDER BY next_attempt_at, id LIMIT $3{skip}) RETURNING {COLUMNS}",
            skip = DB::SKIP_LOCKED
        );
        let rows: Vec<NotificationRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(now)
            .bind(held_until)
            .bind(i64::from(limit))
            .fetch_all(&self.pools.writer)
            .await?;
        Ok(rows.into_iter().map(NotificationRow::into_due).collect())
    }

    async fn settle(&self, id: i64, status: NotificationStatus, detail: &str, recipient: &str) -> db::Result<()> {
        sqlx::query("UPDATE notifications SET status = $1, detail = $2, recipient = $3, updated_at = $4 WHERE id = $5")
            .bind(status.as_str().to_owned())
            .bind(detail.to_owned())
            .bind(recipient.to_owned())
            .bind(domain::clock::now())
            .bind(id)
            .execute(&self.pools.writer)
            .await?;
        Ok(())
    }

    async fn retry_at(&self, id: i64, at: DateTime<Utc>, detail: &str) -> db::Result<()> {
        sqlx::query("UPDATE notifications SET next_attempt_at = $1, detail = $2, updated_at = $3 WHERE id = $4")
            .bind(at)
            .bind(detail.to_owned())
            .bind(domain::clock::now())
            .bind(id)
            .execute(&self.pools.writer)
            .await?;
        Ok(())
    }

    async fn list(&self, user_id: &str, filter: &NotificationFilter) -> db::Result<Vec<Notification>> {
        let rows: Vec<NotificationRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND ($2 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        )))
        .bind(user_id.to_owned())
        .bind(filter.before)
        .bind(i64::from(filter.limit) + 1)
        .fetch_all(&self.pools.reader)
        .await?;
        Ok(rows.into_iter().map(Notification::from).collect())
    }
}
