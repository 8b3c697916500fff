//! The api service's storage, one module per resource, each with its own small trait and one
//! SQL implementation for both databases (only `db::Dialect` SQL differs):
//!
//! - `accounts`: users.
//! - `tasks`: tasks; every change writes its event to the outbox in the same transaction.
//! - `outbox`: that write, and the relay's side: reading pending events, clearing delivered ones.
//! - `relay_lease`: which of several api processes on one database runs the relay.
//! - `conversations`: chat conversations and their messages.
//! - `chat_requests`: chat Idempotency-Keys.

mod accounts;
mod chat_requests;
mod conversations;
mod outbox;
mod relay_lease;
mod tasks;

use std::sync::Arc;

use db::{Database, Dialect, Migrations, Pools};
use sqlx::migrate::Migrator;
use sqlx::types::Json;

pub use accounts::{AccountStore, UserRecord};
pub use chat_requests::{ChatClaim, ChatRequestStore};
pub use conversations::ConversationStore;
pub use outbox::SqlOutbox;
pub use relay_lease::RelayLease;
pub use tasks::{TaskPage, TaskStore};

use accounts::SqlAccounts;
use chat_requests::SqlChatRequests;
use conversations::SqlConversations;
use tasks::SqlTasks;

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The api's schema: users, tasks, outbox, conversations, messages, chat_requests.
pub static MIGRATIONS: Migrations = Migrations {
    table: "_tasktrail_api_migrations",
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

/// Most conversations one list call returns (tasks come in pages: `domain::task::TASK_PAGE_MAX`).
pub const LIST_LIMIT: u32 = 1000;

/// The api's stores on one database.
#[derive(Clone)]
pub struct ApiStores {
    pub accounts: Arc<dyn AccountStore>,
    pub tasks: Arc<dyn TaskStore>,
    pub conversations: Arc<dyn ConversationStore>,
    pub chat_requests: Arc<dyn ChatRequestStore>,
}

/// Opens the api's stores on a database whose migrations have run.
pub fn open(database: Database) -> ApiStores {
    match database {
        Database::Sqlite(pools) => stores_on(pools),
        Database::Postgres(pools) => stores_on(pools),
    }
}

fn stores_on<DB: Dialect>(pools: Pools<DB>) -> ApiStores
where
    SqlAccounts<DB>: AccountStore,
    SqlTasks<DB>: TaskStore,
    SqlConversations<DB>: ConversationStore,
    SqlChatRequests<DB>: ChatRequestStore,
{
    ApiStores {
        accounts: Arc::new(SqlAccounts { pools: pools.clone() }),
        tasks: Arc::new(SqlTasks { pools: pools.clone() }),
        conversations: Arc::new(SqlConversations { pools: pools.clone() }),
        chat_requests: Arc::new(SqlChatRequests { pools }),
    }
}

/// The outbox as the relay sees it, with a relay lease of its own. Give it its own database
/// pool (on PostgreSQL), so that under load the relay does not queue behind every request.
pub fn relay_outbox(database: Database) -> Arc<dyn events::Outbox> {
    match database {
        Database::Sqlite(pools) => Arc::new(SqlOutbox::new(pools)),
        Database::Postgres(pools) => Arc::new(SqlOutbox::new(pools)),
    }
}

fn json(value: &impl serde::Serialize) -> db::Result<Json<serde_json::Value>> {
    Ok(Json(serde_json::to_value(value)?))
}
