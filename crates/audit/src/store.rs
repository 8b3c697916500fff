//! `audit_log` on SQLite or PostgreSQL, written once for both; only `Dialect` SQL differs.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use db::{Database, Dialect, Migrations, Pools};
use domain::{AuditEntry, AuditFilter, AuditOrder, TaskEvent};
use sqlx::migrate::Migrator;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow};
use uuid::Uuid;

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Stores each event unless its `event_id` is already stored; says which were new.
    async fn record(&self, events: &[TaskEvent]) -> db::Result<Vec<bool>>;
    /// Up to `filter.limit + 1` entries of the user's trail, in the filter's order.
    async fn trail(&self, user_id: &str, filter: &AuditFilter) -> db::Result<Vec<AuditEntry>>;
    /// Deletes up to `batch` entries older than `cutoff`; returns how many.
    async fn purge_before(&self, cutoff: DateTime<Utc>, batch: u32) -> db::Result<u64>;
}

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The audit service's schema: audit_log.
pub static MIGRATIONS: Migrations = Migrations {
    table: "_tasktrail_audit_migrations",
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

/// Opens the audit store on a database whose migrations have run.
pub fn open(database: Database) -> Arc<dyn AuditStore> {
    match database {
        Database::Sqlite(pools) => Arc::new(SqlAuditStore { pools }),
        Database::Postgres(pools) => Arc::new(SqlAuditStore { pools }),
    }
}

pub struct SqlAuditStore<DB: sqlx::Database> {
    pools: Pools<DB>,
}

#[derive(FromRow)]
pub struct AuditRow {
    id: i32,
    event_id: Uuid,
    event_type: String,
    user_id: String,
    task_id: i32,
    event_data: Json<serde_json::Value>,
    timestamp: DateTime<Utc>,
}

/// Rows per multi-row INSERT (6 parameters each; well under SQLite's and PostgreSQL's limits).
const INSERT_CHUNK: usize = 500;

#[derive(FromRow)]
pub struct EventIdRow {
    event_id: Uuid,
}

#[derive(FromRow)]
pub struct IdRow {
    #[allow(dead_code)]
    id: i32,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            event_id: r.event_id,
            event_type: r.event_type,
            user_id: r.user_id,
            task_id: r.task_id,
            event_data: r.event_data.0,
            timestamp: r.timestamp,
        }
    }
}

#[db::sql_bounds(AuditRow, IdRow, EventIdRow)]
#[async_trait]
impl<DB: Dialect> AuditStore for SqlAuditStore<DB> {
    async fn record(&self, events: &[TaskEvent]) -> db::Result<Vec<bool>> {
        // Multi-row inserts: one statement per chunk instead of one per event. RETURNING names
        // the rows actually inserted; the others were already stored (or repeat within the batch).
        let mut inserted: HashSet<Uuid> = HashSet::with_capacity(events.len());
        let mut tx = self.pools.writer.begin().await?;
        if let Some(lock_users) = DB::LOCK_USERS {
            // Readers page by id: a user's rows must become visible in id order, which
            // concurrent inserts for the same user (two consumers after a rebalance, a
            // redelivery beside a new event) would not guarantee.
            let users: Vec<&str> = events.iter().map(|e| e.user_id.as_str()).collect();
            sqlx::query(lock_users)
                .bind(Json(serde_json::to_value(users)?))
                .execute(&mut *tx)
                .await?;
        }
        for chunk in events.chunks(INSERT_CHUNK) {
            let values: Vec<String> = (0..chunk.len())
                .map(|row| {
                    let p = row * 6;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${})",
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4,
                        p + 5,
                        p + 6
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO audit_log (event_id, event_type, user_id, task_id, event_data, timestamp) VALUES {} \
                 ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                values.join(", ")
            );
            let mut query = sqlx::query_as::<DB, EventIdRow>(AssertSqlSafe(sql));
            for event in chunk {
                query = query
                    .bind(event.event_id)
                    .bind(event.event_type.as_str().to_owned())
                    .bind(event.user_id.clone())
                    .bind(event.task_id)
                    .bind(Json(serde_json::to_value(event)?))
                    .bind(event.timestamp);
            }
            inserted.extend(query.fetch_all(&mut *tx).await?.into_iter().map(|r| r.event_id));
        }
        tx.commit().await?;
        // An event counts as new once: a repeat inside the same batch is a duplicate.
        Ok(events.iter().map(|e| inserted.remove(&e.event_id)).collect())
    }

    async fn trail(&self, user_id: &str, filter: &AuditFilter) -> db::Result<Vec<AuditEntry>> {
        let (after, direction) = match filter.order {
            AuditOrder::Asc => (">", "ASC"),
            AuditOrder::Desc => ("<", "DESC"),
        };
        let sql = format!(
            "SELECT id, event_id, event_type, user_id, task_id, event_data, timestamp FROM audit_log \
             WHERE user_id = $1 \
             AND ($2 OR event_type IN ($3, $4, $5, $6)) \
             AND ($7 IS NULL OR task_id = $7) \
             AND ($8 IS NULL OR timestamp >= $8) \
             AND ($9 IS NULL OR timestamp < $9) \
             AND ($10 IS NULL OR id {after} $10) \
             ORDER BY id {direction} LIMIT $11"
        );
        let mut types = filter
            .event_types
            .iter()
            .map(|t| Some(t.as_str().to_owned()))
            .collect::<Vec<_>>();
        types.resize(4, None);
        let mut query = sqlx::query_as::<DB, AuditRow>(AssertSqlSafe(sql))
            .bind(user_id.to_owned())
            .bind(filter.event_types.is_empty());
        for t in types {
            query = query.bind(t);
        }
        let rows = query
            .bind(filter.task_id)
            .bind(filter.from)
            .bind(filter.to)
            .bind(filter.after.map(|c| c.id))
            .bind(i64::from(filter.limit) + 1)
            .fetch_all(&self.pools.reader)
            .await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    async fn purge_before(&self, cutoff: DateTime<Utc>, batch: u32) -> db::Result<u64> {
        let deleted: Vec<IdRow> = sqlx::query_as(
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE timestamp < $1 ORDER BY timestamp LIMIT $2) \
             RETURNING id",
        )
        .bind(cutoff)
        .bind(i64::from(batch))
        .fetch_all(&self.pools.writer)
        .await?;
        Ok(deleted.len() as u64)
    }
}
