//! The outbox: each task change's event is appended in the change's own transaction (see
//! `tasks`), and the relay reads pending events in order and deletes them once delivered.

use async_trait::async_trait;
use db::{Dialect, Pools};
use domain::TaskEvent;
use events::OutboxEntry;
use sqlx::{AssertSqlSafe, FromRow};

use super::json;
use super::relay_lease::{LockRow, RelayLease};

/// The relay's view of the outbox, with the lease that says whether this process delivers.
pub struct SqlOutbox<DB: sqlx::Database> {
    pools: Pools<DB>,
    lease: RelayLease<DB>,
}

/// The payload as text, decoded here: a row that does not decode must not fail the whole read.
#[derive(FromRow)]
pub struct OutboxRow {
    id: i64,
    payload: String,
}

#[derive(FromRow)]
pub struct CountRow {
    n: i64,
}

#[derive(FromRow)]
pub struct SequenceRow {
    last_sequence: i64,
}

impl<DB: sqlx::Database> SqlOutbox<DB> {
    pub fn new(pools: Pools<DB>) -> Self {
        Self {
            lease: RelayLease::new(pools.writer.clone()),
            pools,
        }
    }
}

#[db::sql_bounds(SequenceRow)]
impl<DB: Dialect> SqlOutbox<DB> {
    /// Takes the user's next event number inside the caller's transaction, before it writes
    /// anything else (an edit or a delete first reads or locks its task row, so that a missing
    /// task writes nothing): the user's row in `event_sequences` stays locked until commit, so
    /// one user's changes commit one after another, in number order (ids, timestamps and
    /// outbox order follow), while other users' changes go on beside them.
    pub(super) async fn next_sequence(transaction: &mut DB::Connection, user_id: &str) -> db::Result<i64> {
        let row: SequenceRow = sqlx::query_as(
            "INSERT INTO event_sequences (user_id, last_sequence) VALUES ($1, 1) \
             ON CONFLICT (user_id) DO UPDATE SET last_sequence = event_sequences.last_sequence + 1 \
             RETURNING last_sequence",
        )
        .bind(user_id.to_owned())
        .fetch_one(&mut *transaction)
        .await?;
        Ok(row.last_sequence)
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

    /// Moves a row that no longer decodes out of the way, into `outbox_dead_letters`, so that
    /// the events behind it are delivered.
    async fn quarantine(pools: &Pools<DB>, id: i64, error: &str) -> anyhow::Result<()> {
        let mut tx = pools.writer.begin().await?;
        sqlx::query(
            "INSERT INTO outbox_dead_letters (outbox_id, payload, error, quarantined_at) \
             SELECT id, CAST(payload AS TEXT), $2, $3 FROM outbox WHERE id = $1",
        )
        .bind(id)
        .bind(error.to_owned())
        .bind(domain::clock::now())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM outbox WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::error!(
            outbox_id = id,
            error,
            "an outbox row does not decode as a task event; moved to outbox_dead_letters"
        );
        metrics::counter!("tasktrail_outbox_quarantined_total").increment(1);
        Ok(())
    }
}

#[db::sql_bounds(OutboxRow, CountRow, LockRow)]
#[async_trait]
impl<DB: Dialect> events::Outbox for SqlOutbox<DB> {
    async fn pending(&self, limit: u32) -> anyhow::Result<Vec<OutboxEntry>> {
        let read = sqlx::query_as("SELECT id, CAST(payload AS TEXT) AS payload FROM outbox ORDER BY id LIMIT $1")
            .bind(i64::from(limit));
        let rows: Vec<OutboxRow> = match self.lease.fenced().await? {
            None => read.fetch_all(&self.pools.reader).await?,
            Some(mut fenced) => match read.fetch_all(&mut *fenced).await {
                Ok(rows) => rows,
                Err(e) => {
                    fenced.check(&e).await;
                    return Err(e.into());
                }
            },
        };
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            match serde_json::from_str::<TaskEvent>(&row.payload) {
                Ok(event) => entries.push(OutboxEntry { id: row.id, event }),
                Err(e) => Self::quarantine(&self.pools, row.id, &e.to_string()).await?,
            }
        }
        Ok(entries)
    }

    async fn mark_delivered(&self, ids: &[i64]) -> anyhow::Result<()> {
        let sql = format!("DELETE FROM outbox WHERE id IN ({})", DB::json_integers(1));
        let delete = sqlx::query(AssertSqlSafe(sql)).bind(json(&ids)?);
        match self.lease.fenced().await? {
            None => {
                delete.execute(&self.pools.writer).await?;
            }
            Some(mut fenced) => {
                if let Err(e) = delete.execute(&mut *fenced).await {
                    fenced.check(&e).await;
                    return Err(e.into());
                }
            }
        }
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
