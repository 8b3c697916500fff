//! Chat Idempotency-Keys: the first request with a key runs; a repeat gets its stored answer.
//! Keys are kept for a day, then purged (`chat::service::purge_idempotency_keys`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use db::{Dialect, Pools};
use sqlx::FromRow;
use sqlx::types::Json;

/// What claiming an Idempotency-Key found.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatClaim {
    /// The key is new and now ours: run the request.
    Claimed,
    /// A request with this key was answered before: this is its answer.
    Answered(serde_json::Value),
    /// A request with this key is running now.
    Running,
}

#[async_trait]
pub trait ChatRequestStore: Send + Sync {
    /// Claims a chat request's Idempotency-Key for the user (first come wins). A claim still
    /// unanswered that was made before `abandoned_before` belongs to a process that stopped
    /// mid-turn: it is taken over.
    async fn claim(&self, user_id: &str, key: &str, abandoned_before: DateTime<Utc>) -> db::Result<ChatClaim>;
    async fn finish(&self, user_id: &str, key: &str, response: &serde_json::Value) -> db::Result<()>;
    /// Frees a claim whose request failed, so that a retry runs it.
    async fn release(&self, user_id: &str, key: &str) -> db::Result<()>;
    /// Forgets up to `batch` keys claimed before `cutoff` (answered or not); returns how many.
    async fn purge_claimed_before(&self, cutoff: DateTime<Utc>, batch: u32) -> db::Result<u64>;
}

pub struct SqlChatRequests<DB: sqlx::Database> {
    pub(super) pools: Pools<DB>,
}

#[derive(FromRow)]
pub struct ClaimedRow {
    #[allow(dead_code)]
    n: i64,
}

#[derive(FromRow)]
pub struct ChatRequestRow {
    response: Option<Json<serde_json::Value>>,
}

#[db::sql_bounds(ClaimedRow, ChatRequestRow)]
#[async_trait]
impl<DB: Dialect> ChatRequestStore for SqlChatRequests<DB> {
    async fn claim(&self, user_id: &str, key: &str, abandoned_before: DateTime<Utc>) -> db::Result<ChatClaim> {
        let claimed: Option<ClaimedRow> = sqlx::query_as(
            "INSERT INTO chat_requests (user_id, idempotency_key, response, created_at) VALUES ($1, $2, NULL, $3) \
             ON CONFLICT (user_id, idempotency_key) DO UPDATE SET created_at = excluded.created_at \
             WHERE chat_requests.response IS NULL AND chat_requests.created_at < $4 \
             RETURNING CAST(1 AS BIGINT) AS n",
        )
        .bind(user_id.to_owned())
        .bind(key.to_owned())
        .bind(domain::clock::now())
        .bind(abandoned_before)
        .fetch_optional(&self.pools.writer)
        .await?;
        if claimed.is_some() {
            return Ok(ChatClaim::Claimed);
        }
        let row: Option<ChatRequestRow> =
            sqlx::query_as("SELECT response FROM chat_requests WHERE user_id = $1 AND idempotency_key = $2")
                .bind(user_id.to_owned())
                .bind(key.to_owned())
                .fetch_optional(&self.pools.writer)
                .await?;
        Ok(match row.and_then(|r| r.response) {
            Some(Json(response)) => ChatClaim::Answered(response),
            None => ChatClaim::Running,
        })
    }

    async fn finish(&self, user_id: &str, key: &str, response: &serde_json::Value) -> db::Result<()> {
        sqlx::query("UPDATE chat_requests SET response = $1 WHERE user_id = $2 AND idempotency_key = $3")
            .bind(Json(response.clone()))
            .bind(user_id.to_owned())
            .bind(key.to_owned())
            .execute(&self.pools.writer)
            .await?;
        Ok(())
    }

    async fn release(&self, user_id: &str, key: &str) -> db::Result<()> {
        sqlx::query("DELETE FROM chat_requests WHERE user_id = $1 AND idempotency_key = $2")
            .bind(user_id.to_owned())
            .bind(key.to_owned())
            .execute(&self.pools.writer)
            .await?;
        Ok(())
    }

    async fn purge_claimed_before(&self, cutoff: DateTime<Utc>, batch: u32) -> db::Result<u64> {
        let purged: Vec<ClaimedRow> = sqlx::query_as(
            "DELETE FROM chat_requests WHERE (user_id, idempotency_key) IN \
             (SELECT user_id, idempotency_key FROM chat_requests WHERE created_at < $1 LIMIT $2) \
             RETURNING CAST(1 AS BIGINT) AS n",
        )
        .bind(cutoff)
        .bind(i64::from(batch))
        .fetch_all(&self.pools.writer)
        .await?;
        Ok(purged.len() as u64)
    }
}
