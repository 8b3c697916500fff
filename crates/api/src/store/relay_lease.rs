//! Which of several api processes sharing one database runs the outbox relay: the one holding
//! a session-level lock (PostgreSQL's advisory lock), which lives as long as the connection
//! that took it. On SQLite one process owns the database and always leads.
//!
//! Fencing: the leader reads each batch and clears it on the connection that holds the lock.
//! A session lock ends only with its session, so a statement that succeeds there ran while
//! this process held the lease; once the connection is gone, the next read fails and the
//! process stops delivering. What stays possible is the one batch read just before the loss
//! being published beside the new leader's copy of it: duplicates, which consumers drop by
//! event id, never a change of order within what is stored.

use std::ops::{Deref, DerefMut};

use db::Dialect;
use sqlx::{Connection, FromRow, Pool};
use tokio::sync::{Mutex, MutexGuard};

pub struct RelayLease<DB: sqlx::Database> {
    pool: Pool<DB>,
    /// The connection holding the lock while this process holds it.
    held: Mutex<Option<DB::Connection>>,
}

#[derive(FromRow)]
pub struct LockRow {
    taken: bool,
}

/// The lock-holding connection, for statements that may only run while this process leads.
pub struct Fenced<'a, DB: sqlx::Database>(MutexGuard<'a, Option<DB::Connection>>);

impl<DB: sqlx::Database> Fenced<'_, DB> {
    /// After a statement failed on the lock's connection: gives the lease up unless the
    /// connection still answers (then the session, and with it the lock, is intact).
    pub async fn check(&mut self, error: &sqlx::Error) {
        let alive = match self.0.as_mut() {
            Some(connection) => connection.ping().await.is_ok(),
            None => false,
        };
        if !alive {
            tracing::warn!(error = %error, "lost the connection holding the relay lock");
            *self.0 = None;
        }
    }
}

impl<DB: sqlx::Database> Deref for Fenced<'_, DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        self.0.as_ref().expect("a fenced connection is held")
    }
}

impl<DB: sqlx::Database> DerefMut for Fenced<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.0.as_mut().expect("a fenced connection is held")
    }
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
    /// Takes the lease, or says this process still holds it: true when this process may
    /// deliver now (whether it really still does, `fenced` finds out).
    pub async fn hold(&self) -> anyhow::Result<bool> {
        let Some(try_lock) = DB::TRY_RELAY_LOCK else {
            return Ok(true);
        };
        let mut held = self.held.lock().await;
        if held.is_some() {
            return Ok(true);
        }
        // A connection of its own, outside the pool's accounting, held for as long as we lead.
        let mut connection = self.pool.acquire().await?.detach();
        let row: LockRow = sqlx::query_as(try_lock).fetch_one(&mut connection).await?;
        if row.taken {
            *held = Some(connection);
        }
        Ok(row.taken)
    }

    /// The connection to run the relay's reads and deletes on: `Ok(None)` where there is no
    /// lease to fence (SQLite), an error when this process does not hold the lease.
    pub async fn fenced(&self) -> anyhow::Result<Option<Fenced<'_, DB>>> {
        if DB::TRY_RELAY_LOCK.is_none() {
            return Ok(None);
        }
        let held = self.held.lock().await;
        anyhow::ensure!(held.is_some(), "this process does not hold the relay lease");
        Ok(Some(Fenced(held)))
    }
}
