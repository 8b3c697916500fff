use web::ApiError;

pub type Result<T> = std::result::Result<T, Error>;

/// A store's failure, sorted by what a client can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No connection came free within the pool's acquire timeout: the database is overloaded
    /// or out of reach for now. The client may retry.
    #[error("the database is busy; try again")]
    Busy,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut => Error::Busy,
            err => Error::Other(err.into()),
        }
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
            Error::Busy => ApiError::Unavailable(err.to_string()),
            Error::Other(err) => ApiError::Internal(err),
        }
    }
}
