use async_trait::async_trait;
use chrono::{DateTime, Utc};
use db::{Dialect, Pools};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Returns false when the email is taken.
    async fn create_user(&self, user: &UserRecord) -> db::Result<bool>;
    async fn find_user_by_email(&self, email: &str) -> db::Result<Option<UserRecord>>;
    async fn find_user(&self, id: &str) -> db::Result<Option<UserRecord>>;
}

pub struct SqlAccounts<DB: sqlx::Database> {
    pub(super) pools: Pools<DB>,
}

const USER_COLUMNS: &str = "id, email, name, password_hash, created_at";

#[db::sql_bounds(UserRecord)]
#[async_trait]
impl<DB: Dialect> AccountStore for SqlAccounts<DB> {
    async fn create_user(&self, user: &UserRecord) -> db::Result<bool> {
        let result =
            sqlx::query("INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(user.id.clone())
                .bind(user.email.clone())
                .bind(user.name.clone())
                .bind(user.password_hash.clone())
                .bind(user.created_at)
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
}
