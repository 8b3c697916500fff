use sqlx::{Postgres, Sqlite};

/// What differs between SQLite and PostgreSQL, as SQL text. Everything else is shared.
pub trait Dialect: sqlx::Database {
    /// `SELECT` suffix that locks the row for the rest of the transaction (PostgreSQL only;
    /// SQLite's single writer already serialises read-modify-write).
    const FOR_UPDATE: &'static str;
    /// `SELECT` suffix that locks the rows it returns and skips rows another transaction has
    /// locked, so that several workers take different rows of a queue (PostgreSQL only).
    const SKIP_LOCKED: &'static str;
    /// Condition: the JSON array column `tags` contains the text parameter `$n`.
    fn tags_contain(param: usize) -> String;
    /// A subquery yielding the integers of the JSON array parameter `$n`.
    fn json_integers(param: usize) -> String;
    /// A query taking the session-level lock that makes one process the outbox relay among
    /// several sharing a database, answering one boolean: taken or not. `None` where one
    /// process owns the database anyway (SQLite).
    const TRY_RELAY_LOCK: Option<&'static str>;
    /// A statement that locks, until the transaction ends, each distinct user id of the JSON
    /// array parameter `$1`, so that one user's rows are inserted one transaction after
    /// another (their ids then follow commit order). `None` where one writer serialises all
    /// transactions anyway (SQLite).
    const LOCK_USERS: Option<&'static str>;
}

impl Dialect for Sqlite {
    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    const TRY_RELAY_LOCK: Option<&'static str> = None;
    const LOCK_USERS: Option<&'static str> = None;
    fn tags_contain(param: usize) -> String {
        format!("EXISTS (SELECT 1 FROM json_each(tags) WHERE json_each.value = ${param})")
    }
    fn json_integers(param: usize) -> String {
        format!("SELECT value FROM json_each(${param})")
    }
}

impl Dialect for Postgres {
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    // The key is arbitrary but fixed: "tasktrail outbox relay".
    const TRY_RELAY_LOCK: Option<&'static str> = Some("SELECT pg_try_advisory_lock(7418930113) AS taken");
    // Two-key advisory locks live apart from the one-key relay lock; the first key names
    // "tasktrail user". Taken in key order (PostgreSQL evaluates a volatile select list after
    // ORDER BY), so that two batches never wait for each other in a circle.
    const LOCK_USERS: Option<&'static str> = Some(
        "SELECT pg_advisory_xact_lock(74189302, k) FROM \
         (SELECT DISTINCT hashtext(u) AS k FROM jsonb_array_elements_text($1) AS u) AS keys ORDER BY k",
    );
    fn tags_contain(param: usize) -> String {
        format!("tags ? ${param}")
    }
    fn json_integers(param: usize) -> String {
        format!("SELECT jsonb_array_elements_text(${param})::bigint")
    }
}
