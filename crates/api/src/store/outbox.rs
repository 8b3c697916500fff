//! The outbox: each task change's event is appended in the change's own transaction (see
//! `tasks`), and the relay reads pending events in order and deletes them once delivered.

use async_trait::async_trait;
use db::{Dialect, Pools};
use domain::TaskEvent;
use events::OutboxEntry;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow};

use super::json;
use super::relay_lease::{LockRow, RelayLease};

/// The relay's view of the outbox, with the lease that says whether this process delivers.
pub struct SqlOutbox<DB: sqlx::Database> {
    pools: Pools<DB>,
    lease: RelayLease<DB>,
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

impl<DB: sqlx::Database> SqlOutbox<DB> {
    pub fn new(pools: Pools<DB>) -> Self {
        Self {
            lease: RelayLease::new(pools.writer.clone()),
            pools,
        }
    }
}

#[db::sql_bounds]
impl<DB: Dialect> SqlOutbox<DB> {
    /// Appends the event inside the caller's transaction: it commits with the change or not at all.
    pub(super) async fn append(transaction: &mut DB::Connection, event: &TaskEvent) -> db::Result<()> {
        sqlx::query("INSERT INTO outbox (event_id, user_id, payload, created_at) VALUES ($1, $2, $3, $4)")
            .bind(event.event_id)
            .bind(event.user_id.clone())
            .bind(json(event)?)
            .bind(event.timestamp)
            .execute(&mut *transaction)
            .await?;
        Ok(())
    }
}

#[db::sql_bounds(OutboxRow, CountRow, LockRow)]
#[async_trait]
impl<DB: Dialect> events::Outbox for SqlOutbox<DB> {
    async fn pending(&self, limit: u32) -> anyhow::Result<Vec<OutboxEntry>> {
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

    async fn mark_delivered(&self, ids: &[i64]) -> anyhow::Result<()> {
        let sql = format!("DELETE FROM outbox WHERE id IN ({})", DB::json_integers(1));
        sqlx::query(AssertSqlSafe(sql))
            .bind(json(&ids)?)
            .execute(&self.pools.writer)
            .await?;
        Ok(())
    }

    async fn backlog(&self) -> anyhow::Result<i64> {
        let row: CountRow = sqlx::query_as("SELECT COUNT(*) AS n FROM outbox")
            .fetch_one(&self.pools.reader)
            .await?;
        Ok(row.n)
    }

    async fn lead(&self) -> anyhow::Result<bool> {
        self.lease.hold().await
    }
}
