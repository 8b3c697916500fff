//! Connecting to the database a service was given, and the few SQL differences between
//! SQLite and PostgreSQL. Each service's store is written once, generic over `Dialect`.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Postgres, Sqlite};

/// A connected database: SQLite (embedded default) or PostgreSQL.
pub enum Database {
    Sqlite(Pools<Sqlite>),
    Postgres(Pools<Postgres>),
}

/// Writes go through `writer`, reads through `reader`. On SQLite the writer is one connection:
/// SQLite has one write lock per file, and queueing writers in the pool is far cheaper than
/// letting them spin on SQLITE_BUSY. On PostgreSQL both are the same pool.
#[derive(Clone)]
pub struct Pools<DB: sqlx::Database> {
    pub writer: Pool<DB>,
    pub reader: Pool<DB>,
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
                // 8 MiB of page cache per connection (up to 9 per file); the OS caches the rest.
                .pragma("cache_size", "-8000");
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(acquire_timeout)
                .connect_with(options.clone())
                .await?;
            let reader = SqlitePoolOptions::new()
                .max_connections(max_connections.clamp(1, 8))
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await?;
            Ok(Database::Sqlite(Pools { writer, reader }))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(acquire_timeout)
                .connect(url)
                .await?;
            Ok(Database::Postgres(Pools {
                writer: pool.clone(),
                reader: pool,
            }))
        } else {
            anyhow::bail!("unsupported database URL (use sqlite://... or postgres://...)")
        }
    }
}

/// What differs between SQLite and PostgreSQL, as SQL text. Everything else is shared.
pub trait Dialect: sqlx::Database {
    /// `SELECT` suffix that locks the row for the rest of the transaction (PostgreSQL only;
    /// SQLite's single writer already serialises read-modify-write).
    const FOR_UPDATE: &'static str;
    /// Condition: the JSON array column `tags` contains the text parameter `$n`.
    fn tags_contain(param: usize) -> String;
    /// A subquery yielding the integers of the JSON array parameter `$n`.
    fn json_integers(param: usize) -> String;
    /// A query taking the session-level lock that makes one process the outbox relay among
    /// several sharing a database, answering one boolean: taken or not. `None` where one
    /// process owns the database anyway (SQLite).
    const TRY_RELAY_LOCK: Option<&'static str>;
}

impl Dialect for Sqlite {
    const FOR_UPDATE: &'static str = "";
    const TRY_RELAY_LOCK: Option<&'static str> = None;
    fn tags_contain(param: usize) -> String {
        format!("EXISTS (SELECT 1 FROM json_each(tags) WHERE json_each.value = ${param})")
    }
    fn json_integers(param: usize) -> String {
        format!("SELECT value FROM json_each(${param})")
    }
}

impl Dialect for Postgres {
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    // The key is arbitrary but fixed: "tasktrail outbox relay".
    const TRY_RELAY_LOCK: Option<&'static str> = Some("SELECT pg_try_advisory_lock(7418930113) AS taken");
    fn tags_contain(param: usize) -> String {
        format!("tags ? ${param}")
    }
    fn json_integers(param: usize) -> String {
        format!("SELECT jsonb_array_elements_text(${param})::bigint")
    }
}

/// Runs a service's migrations, recorded in its own table so that services may share a
/// database (embedded mode on PostgreSQL) without seeing each other's migrations.
pub async fn migrate<DB>(pool: &Pool<DB>, migrations: &Migrator, table: &'static str) -> anyhow::Result<()>
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
