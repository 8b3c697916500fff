//! Group commit for SQLite's single writer: write transactions that arrive while one is being
//! written are run together in the next one, one after another on the one connection, and
//! committed at once; each caller is answered after that commit.
//!
//! SQLite has one writer per file, so its transactions run one at a time however many callers
//! wait. Alone, each pays its own `BEGIN` and `COMMIT` (round trips to sqlx's worker thread, and
//! the WAL pages it changed written out); a shared page such as an index's or the outbox's last
//! is written once per transaction. Grouped, a busy writer spends its time on the statements.
//! Nothing waits to be grouped: an idle writer starts at once with what it has.
//!
//! A transaction's work may run twice: when any work of a group fails (or the commit does),
//! the group is rolled back and each of its works runs again in a transaction of its own, so
//! that one caller's failure never fails another's. Work must therefore keep its effects to
//! the connection it is given, and return an error for anything that must not be committed.

use futures::future::BoxFuture;
use sqlx::{Acquire, Pool};
use tokio::sync::{mpsc, oneshot};

use crate::{Error, Result};

/// Most transactions committed together; more wait for the next commit.
const MAX_GROUP: usize = 128;

/// A transaction's body: its statements on the connection, inside the transaction it is given.
pub trait Work<DB: sqlx::Database, T>:
    for<'c> FnMut(&'c mut DB::Connection) -> BoxFuture<'c, Result<T>> + Send + 'static
{
}

impl<DB, T, F> Work<DB, T> for F
where
    DB: sqlx::Database,
    F: for<'c> FnMut(&'c mut DB::Connection) -> BoxFuture<'c, Result<T>> + Send + 'static,
{
}

/// Runs a transaction's work on `pool` in a transaction of its own: begin, work, commit (a
/// failed work's transaction is rolled back).
pub async fn alone<DB: sqlx::Database, T>(pool: &Pool<DB>, mut work: impl Work<DB, T>) -> Result<T> {
    let mut transaction = pool.begin().await?;
    let output = work(&mut *transaction).await?;
    transaction.commit().await?;
    Ok(output)
}

/// The sending side of a writer's group commit; the committing task ends with the last clone.
pub struct Group<DB: sqlx::Database> {
    queue: mpsc::UnboundedSender<Box<dyn Pending<DB>>>,
}

impl<DB: sqlx::Database> Clone for Group<DB> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<DB: sqlx::Database> Group<DB> {
    /// Starts the committing task on `writer` (a pool of one connection).
    pub fn start(writer: Pool<DB>) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(commit_groups(writer, pending));
        Self { queue }
    }

    /// Runs `work` in the next group's transaction; answers once that has committed.
    pub async fn transaction<T: Send + 'static>(&self, work: impl Work<DB, T>) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Pending<DB>> = Box::new(Job {
            work,
            output: None,
            reply,
        });
        self.queue.send(job).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

fn gone() -> Error {
    Error::Other(anyhow::anyhow!("the database writer has stopped"))
}

/// One caller's work and the answer it waits for, with the type of its output erased.
trait Pending<DB: sqlx::Database>: Send {
    fn run<'a>(&'a mut self, connection: &'a mut DB::Connection) -> BoxFuture<'a, Result<()>>;
    /// Answers the caller: the output of the last run, or `failure`.
    fn answer(self: Box<Self>, failure: Option<Error>);
}

struct Job<F, T> {
    work: F,
    output: Option<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<DB, T, F> Pending<DB> for Job<F, T>
where
    DB: sqlx::Database,
    T: Send + 'static,
    F: Work<DB, T>,
{
    fn run<'a>(&'a mut self, connection: &'a mut DB::Connection) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.output = Some((self.work)(connection).await?);
            Ok(())
        })
    }

    fn answer(self: Box<Self>, failure: Option<Error>) {
        let result = match (failure, self.output) {
            (Some(error), _) => Err(error),
            (None, Some(output)) => Ok(output),
            (None, None) => Err(Error::Other(anyhow::anyhow!("a grouped write was never run"))),
        };
        // The caller may have gone (its request was dropped); the write stands regardless.
        let _ = self.reply.send(result);
    }
}

async fn commit_groups<DB: sqlx::Database>(
    writer: Pool<DB>,
    mut pending: mpsc::UnboundedReceiver<Box<dyn Pending<DB>>>,
) {
    let mut group: Vec<Box<dyn Pending<DB>>> = Vec::with_capacity(MAX_GROUP);
    while pending.recv_many(&mut group, MAX_GROUP).await > 0 {
        metrics::histogram!("tasktrail_db_group_commit_size").record(group.len() as f64);
        match run_together(&writer, &mut group).await {
            Ok(()) => group.drain(..).for_each(|job| job.answer(None)),
            Err(error) => {
                if group.len() > 1 {
                    tracing::debug!(%error, size = group.len(), "a grouped write failed; each runs alone");
                }
                for mut job in group.drain(..) {
                    let failure = run_alone(&writer, &mut job).await.err();
                    job.answer(failure);
                }
            }
        }
    }
}

/// Every job in one transaction; on any failure nothing of it is committed.
async fn run_together<DB: sqlx::Database>(writer: &Pool<DB>, group: &mut [Box<dyn Pending<DB>>]) -> Result<()> {
    let mut connection = writer.acquire().await?;
    let mut transaction = connection.begin().await?;
    for job in group.iter_mut() {
        job.run(&mut *transaction).await?;
    }
    transaction.commit().await?;
    Ok(())
}

async fn run_alone<DB: sqlx::Database>(writer: &Pool<DB>, job: &mut Box<dyn Pending<DB>>) -> Result<()> {
    let mut transaction = writer.begin().await?;
    job.run(&mut transaction).await?;
    transaction.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    use sqlx::{Sqlite, SqlitePool};

    use super::*;

    async fn file_database() -> (SqlitePool, SqlitePool, std::path::PathBuf) {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let path = std::env::temp_dir().join(format!("tasktrail-group-{}-{nanos}.sqlite", std::process::id()));
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .unwrap();
        let reader = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .execute(&writer)
            .await
            .unwrap();
        (writer, reader, path)
    }

    /// 300 callers at once: one whose work fails after writing, one that breaks a constraint;
    /// every other is committed, each answered only once its row is readable from another
    /// connection, and the two failures leave nothing behind.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_fails_alone_and_answers_come_after_the_commit() {
        let (writer, reader, path) = file_database().await;
        let group = Group::<Sqlite>::start(writer.clone());
        let callers = (0..300i64).map(|i| {
            let (group, reader) = (group.clone(), reader.clone());
            tokio::spawn(async move {
                let answer = group
                    .transaction(move |connection| {
                        Box::pin(async move {
                            // 250 repeats 249's key: a constraint failure at the second statement.
                            let key = if i == 250 { 249 } else { i };
                            sqlx::query("INSERT INTO t (k, v) VALUES ($1, 'x')")
                                .bind(key)
                                .execute(&mut *connection)
                                .await?;
                            if i == 57 {
                                return Err(Error::Other(anyhow::anyhow!("refused after writing")));
                            }
                            Ok(i)
                        })
                    })
                    .await;
                let visible: Option<(i64,)> = sqlx::query_as("SELECT k FROM t WHERE k = $1")
                    .bind(i)
                    .fetch_optional(&reader)
                    .await
                    .unwrap();
                (i, answer.is_ok(), visible.is_some())
            })
        });
        let results = futures::future::join_all(callers).await;
        for result in results {
            let (i, ok, visible) = result.unwrap();
            match i {
                57 => assert!(!ok && !visible, "the failed work's row was rolled back"),
                250 => assert!(!ok, "the duplicate key failed"),
                _ => assert!(ok && visible, "caller {i}: answered {ok}, row visible {visible}"),
            }
        }
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
            .fetch_one(&reader)
            .await
            .unwrap();
        assert_eq!(rows, 298);
        drop(group);
        writer.close().await;
        reader.close().await;
        let _ = std::fs::remove_file(&path);
    }
}
