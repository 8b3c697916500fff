//! Which of several api processes sharing one database runs the outbox relay: the one holding
//! a session-level lock (PostgreSQL's advisory lock), which lives as long as the connection
//! that took it. On SQLite one process owns the database and always leads.

use std::time::{Duration, Instant};

use db::Dialect;
use sqlx::{FromRow, Pool};
use tokio::sync::Mutex;

/// How often the lease confirms that the connection holding the lock is alive.
const CHECK_EVERY: Duration = Duration::from_secs(1);

pub struct RelayLease<DB: sqlx::Database> {
    pool: Pool<DB>,
    /// The connection holding the lock while this process holds it, and when it was last
    /// seen alive.
    held: Mutex<Option<(DB::Connection, Instant)>>,
}

#[derive(FromRow)]
pub struct LockRow {
    taken: bool,
}

impl<DB: sqlx::Database> RelayLease<DB> {
    pub fn new(pool: Pool<DB>) -> Self {
        Self {
            pool,
            held: Mutex::new(None),
        }
    }
}

#[db::sql_bounds(LockRow)]
impl<DB: Dialect> RelayLease<DB> {
    /// Takes the lease, or confirms this process still holds it: true when this process may
    /// deliver now.
    pub async fn hold(&self) -> anyhow::Result<bool> {
        let Some(try_lock) = DB::TRY_RELAY_LOCK else {
            return Ok(true);
        };
        let mut held = self.held.lock().await;
        if let Some((connection, seen_alive)) = held.as_mut() {
            // Asked before every batch; a round trip per batch would cost the database more
            // than a second's delay in noticing a lost lock.
            if seen_alive.elapsed() < CHECK_EVERY {
                return Ok(true);
            }
            match sqlx::query("SELECT 1").execute(&mut *connection).await {
                Ok(_) => {
                    *seen_alive = Instant::now();
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
        let mut connection = self.pool.acquire().await?.detach();
        let row: LockRow = sqlx::query_as(try_lock).fetch_one(&mut connection).await?;
        if row.taken {
            *held = Some((connection, Instant::now()));
        }
        Ok(row.taken)
    }
}
