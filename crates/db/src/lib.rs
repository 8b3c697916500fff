//! The database layer every store stands on: connecting (SQLite or PostgreSQL), migrations,
//! the few SQL differences between the two (`Dialect`), the sqlx bounds a store written once
//! for both needs (`#[sql_bounds]`), and what a database failure means to a client (`Error`).

mod checkpoint;
mod dialect;
mod error;
pub mod group;

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Postgres, Sqlite};

pub use db_macros::sql_bounds;
pub use dialect::Dialect;
pub use error::{Error, Result};

/// A connected database: SQLite (embedded default) or PostgreSQL.
#[derive(Clone)]
pub enum Database {
    Sqlite(Pools<Sqlite>),
    Postgres(Pools<Postgres>),
}

/// Writes go through `writer`, reads through `reader`. On SQLite the writer is one connection:
/// SQLite has one write lock per file, and queueing writers in the pool is far cheaper than
/// letting them spin on SQLITE_BUSY. On PostgreSQL both are the same pool.
pub struct Pools<DB: sqlx::Database> {
    pub writer: Pool<DB>,
    pub reader: Pool<DB>,
    /// SQLite's writer commits the transactions waiting for it together (`group`).
    group: Option<group::Group<DB>>,
    /// SQLite's WAL is checkpointed beside the writer, not in its commits (`checkpoint`).
    _checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

impl<DB: sqlx::Database> Pools<DB> {
    /// Runs `work` in a write transaction and commits it. On SQLite the transaction is
    /// committed together with the others waiting for the one writer (see `group`: the work
    /// may run twice, so it must keep its effects to the connection); on PostgreSQL each has
    /// its own transaction, on a connection of its own.
    pub async fn write<T: Send + 'static>(&self, work: impl group::Work<DB, T>) -> Result<T> {
        match &self.group {
            Some(group) => group.transaction(work).await,
            None => group::alone(&self.writer, work).await,
        }
    }
}

// Not derived: a derive would ask for `DB: Clone`, which the database types are not.
impl<DB: sqlx::Database> Clone for Pools<DB> {
    fn clone(&self) -> Self {
        Self {
            writer: self.writer.clone(),
            reader: self.reader.clone(),
            group: self.group.clone(),
            _checkpointer: self._checkpointer.clone(),
        }
    }
}

/// A service's migrations for each database, and the table that records which ran. Each
/// service has its own table so that services may share a database (embedded mode on
/// PostgreSQL) without seeing each other's migrations.
pub struct Migrations {
    pub table: &'static str,
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
}

impl Database {
    /// `sqlite://path/file.sqlite` (created when missing) or `postgres://...`.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let acquire_timeout = Duration::from_secs(10);
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // With WAL, NORMAL survives a process crash; only an OS crash can lose the last commits.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                // 1 MB of page cache per connection (up to 9 per file, three files in embedded
                // mode); the OS caches the rest. 8 MB each held 60 MB more at the same
                // throughput (docs/performance.md). A memory map instead made every touched
                // page of the files resident: 370 MB.
                .pragma("cache_size", "-1000");
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(acquire_timeout)
                .connect_with(options.clone().pragma("wal_autocheckpoint", checkpoint::WRITER_PAGES))
                .await?;
            let reader = SqlitePoolOptions::new()
                .max_connections(max_connections.clamp(1, 8))
                .acquire_timeout(acquire_timeout)
                .connect_with(options.clone())
                .await?;
            Ok(Database::Sqlite(Pools {
                _checkpointer: Some(Arc::new(checkpoint::Checkpointer::start(options).await?)),
                group: Some(group::Group::start(writer.clone())),
                writer,
                reader,
            }))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(acquire_timeout)
                .connect(url)
                .await?;
            Ok(Database::Postgres(Pools {
                writer: pool.clone(),
                reader: pool,
                group: None,
                _checkpointer: None,
            }))
        } else {
            anyhow::bail!("unsupported database URL (use sqlite://... or postgres://...)")
        }
    }

    /// Applies the service's migrations that have not run yet.
    pub async fn migrate(&self, migrations: &Migrations) -> anyhow::Result<()> {
        match self {
            Database::Sqlite(pools) => run_migrations(&pools.writer, migrations.sqlite, migrations.table).await,
            Database::Postgres(pools) => run_migrations(&pools.writer, migrations.postgres, migrations.table).await,
        }
    }

    /// One round trip: the readiness check.
    pub async fn ping(&self) -> anyhow::Result<()> {
        match self {
            Database::Sqlite(pools) => sqlx::query("SELECT 1").execute(&pools.reader).await.map(drop)?,
            Database::Postgres(pools) => sqlx::query("SELECT 1").execute(&pools.reader).await.map(drop)?,
        }
        Ok(())
    }
}

async fn run_migrations<DB>(pool: &Pool<DB>, migrations: &Migrator, table: &'static str) -> anyhow::Result<()>
where
    DB: sqlx::Database,
    DB::Connection: sqlx::migrate::Migrate,
{
    let migrator = Migrator {
        migrations: migrations.migrations.clone(),
        table_name: Cow::Borrowed(table),
        ..Migrator::DEFAULT
    };
    migrator.run(pool).await?;
    tracing::info!(table, "migrations applied");
    Ok(())
}
