use web::ApiError;

pub type Result<T> = std::result::Result<T, Error>;

/// A store's failure, sorted by what a client can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database is out of reach, restarting, overloaded or locked for now (no connection
    /// within the pool's acquire timeout, a connection lost mid-request, a server shutting
    /// down, a lock or serialization conflict). Nothing was committed; the client may retry.
    #[error("the database is unavailable for a moment; try again shortly")]
    Unavailable(#[source] sqlx::Error),
    /// The change would break a rule that needs the stored row to check (a reminder after
    /// the due date the task already has): nothing was committed.
    #[error(transparent)]
    Invalid(#[from] domain::ValidationError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if is_transient(&err) {
            tracing::warn!(error = %err, "database unavailable");
            Error::Unavailable(err)
        } else {
            Error::Other(err.into())
        }
    }
}

/// Failures that say nothing about the request and pass on their own.
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => {
            if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLITE_BUSY and SQLITE_LOCKED, with their extended codes.
                return e
                    .code()
                    .and_then(|code| code.parse::<i32>().ok())
                    .is_some_and(|code| matches!(code & 0xff, 5 | 6));
            }
            // PostgreSQL SQLSTATE: connection exceptions (08…), the server shutting down or
            // starting (57P01-57P03), too many connections, serialization failure, deadlock.
            e.code().is_some_and(|code| {
                code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01")
            })
        }
        _ => false,
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::Other(err.into())
    }
}

/// Here rather than in `web`, so that the HTTP crate knows nothing of databases.
impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::Unavailable(_) => ApiError::Unavailable(err.to_string()),
            Error::Invalid(err) => ApiError::Validation(err),
            Error::Other(err) => ApiError::Internal(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_and_busy_databases_are_unavailable_and_other_failures_are_not() {
        let lost = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        for transient in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(lost),
        ] {
            assert!(matches!(Error::from(transient), Error::Unavailable(_)));
        }
        assert!(matches!(Error::from(sqlx::Error::RowNotFound), Error::Other(_)));
        let api = ApiError::from(Error::from(sqlx::Error::PoolTimedOut));
        assert_eq!(api.code(), "unavailable");
    }
}
