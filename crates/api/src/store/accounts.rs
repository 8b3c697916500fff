use async_trait::async_trait;
use chrono::{DateTime, Utc};
use db::{Dialect, Pools};
use domain::account::Preferences;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    /// `Preferences::completion_emails`.
    pub completion_emails: bool,
}

impl UserRecord {
    pub fn preferences(&self) -> Preferences {
        Preferences {
            completion_emails: self.completion_emails,
        }
    }
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Returns false when the email is taken.
    async fn create_user(&self, user: &UserRecord) -> db::Result<bool>;
    async fn find_user_by_email(&self, email: &str) -> db::Result<Option<UserRecord>>;
    async fn find_user(&self, id: &str) -> db::Result<Option<UserRecord>>;
    /// Returns false when there is no such user.
    async fn set_preferences(&self, id: &str, preferences: Preferences) -> db::Result<bool>;
}

pub struct SqlAccounts<DB: sqlx::Database> {
    pub(super) pools: Pools<DB>,
}

const USER_COLUMNS: &str = "id, email, name, password_hash, created_at, completion_emails";

#[derive(sqlx::FromRow)]
pub struct UserIdRow {
    #[allow(dead_code)]
    id: String,
}

#[db::sql_bounds(UserRecord, UserIdRow)]
#[async_trait]
impl<DB: Dialect> AccountStore for SqlAccounts<DB> {
    async fn create_user(&self, user: &UserRecord) -> db::Result<bool> {
        let result = sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, created_at, completion_emails) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user.id.clone())
        .bind(user.email.clone())
        .bind(user.name.clone())
        .bind(user.password_hash.clone())
        .bind(user.created_at)
        .bind(user.completion_emails)
        .execute(&self.pools.writer)
        .await;
        match result {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn find_user_by_email(&self, email: &str) -> db::Result<Option<UserRecord>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        )))
        .bind(email.to_owned())
        .fetch_optional(&self.pools.reader)
        .await?)
    }

    async fn find_user(&self, id: &str) -> db::Result<Option<UserRecord>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_optional(&self.pools.reader)
        .await?)
    }

    async fn set_preferences(&self, id: &str, preferences: Preferences) -> db::Result<bool> {
        let updated: Option<UserIdRow> =
            sqlx::query_as("UPDATE users SET completion_emails = $1 WHERE id = $2 RETURNING id")
                .bind(preferences.completion_emails)
                .bind(id.to_owned())
                .fetch_optional(&self.pools.writer)
                .await?;
        Ok(updated.is_some())
    }
}
