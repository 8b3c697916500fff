//! SQLite's WAL checkpoint, mostly off the writer's path. Left to itself, SQLite checkpoints
//! inside the commit that takes the WAL past 1,000 pages: that commit (on SQLite, a whole
//! group of callers, see `group`) waits while 4 MB are copied into the database file and both
//! files are synced; the bench's worst tails were such commits. Here a connection of its own
//! copies the WAL into the database file every `EVERY`, in PASSIVE mode, which never waits
//! for the writer or the readers, nor blocks them.
//!
//! The writer still checkpoints itself past `WRITER_PAGES`, and that is what keeps the WAL
//! bounded: SQLite rewinds the WAL only at a write transaction that starts with all of it
//! copied, which under steady writes a checkpoint running beside the writer never achieves
//! (an earlier attempt without it let the WAL reach 0.9 GB in 30 s). The writer's own
//! checkpoint then finds nearly everything copied already. So each database's WAL file stays
//! under about 64 MB.

use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};
use tokio::task::JoinHandle;

/// How often the checkpointer copies what the WAL has gained into the database file.
const EVERY: Duration = Duration::from_millis(200);

/// Pages of WAL past which the writer checkpoints itself, and the WAL can rewind (4 KiB each).
pub(crate) const WRITER_PAGES: &str = "16000";

/// The running checkpointer; stops when dropped (with the last clone of the file's `Pools`).
pub(crate) struct Checkpointer(JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Checkpointer {
    pub(crate) async fn start(options: SqliteConnectOptions) -> sqlx::Result<Self> {
        let file = options
            .get_filename()
            .file_name()
            .map(|f| f.to_string_lossy().into_owned());
        let connection = SqliteConnection::connect_with(&options).await?;
        Ok(Self(tokio::spawn(run(connection, file.unwrap_or_default()))))
    }
}

async fn run(mut connection: SqliteConnection, file: String) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // One row: busy (0/1), frames in the WAL, frames now in the database file.
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut connection)
            .await
        {
            Ok(row) => {
                let (log, done): (i64, i64) = (row.get(1), row.get(2));
                metrics::gauge!("tasktrail_sqlite_wal_frames_unchecked", "file" => file.clone())
                    .set((log - done).max(0) as f64);
            }
            // A failure here delays a checkpoint and loses nothing; the next tick tries again.
            Err(error) => tracing::warn!(%error, file, "SQLite WAL checkpoint failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    use crate::Database;

    /// Rows written through the writer reach the database file within moments, although the
    /// writer itself checkpoints only past `WRITER_PAGES` (far more than this writes): the
    /// checkpointer copied them. Without it the file stays as created, all of it in the WAL.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_reach_the_database_file_without_the_writer_checkpointing() {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let path = std::env::temp_dir().join(format!("tasktrail-ckpt-{}-{nanos}.sqlite", std::process::id()));
        let Database::Sqlite(pools) = Database::connect(&format!("sqlite://{}", path.display()), 2)
            .await
            .unwrap()
        else {
            unreachable!("a sqlite URL")
        };
        sqlx::query("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .execute(&pools.writer)
            .await
            .unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        // About 2 MB: 500 pages, under SQLite's default 1,000 and far under the writer's 16,000.
        for _ in 0..20 {
            let mut tx = pools.writer.begin().await.unwrap();
            for _ in 0..100 {
                sqlx::query("INSERT INTO t (v) VALUES ($1)")
                    .bind("x".repeat(1000))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let mut size = std::fs::metadata(&path).unwrap().len();
        while size < before + 2_000_000 && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            size = std::fs::metadata(&path).unwrap().len();
        }
        drop(pools);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        assert!(
            size >= before + 2_000_000,
            "database file {before} -> {size} bytes: nothing checkpointed"
        );
    }
}
