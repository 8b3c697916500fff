//! The api service: accounts, tasks, the chat assistant and its MCP tools, and the web UI. Every task change commits its event to the
//! outbox in the same transaction; the outbox relay (wired by the binary) delivers them.

pub mod accounts;
pub mod chat;
pub mod openapi;
pub mod rate_limit;
pub mod store;
pub mod tasks;
pub mod ui;

use std::sync::Arc;

use auth::Authenticator;
use axum::Router;
use axum::extract::FromRef;

use rate_limit::RateLimiter;
use store::ApiStore;
use tasks::TaskService;

/// Per-minute limits on account endpoints (configurable so that a load run can raise them).
pub struct AccountLimits {
    pub signups_per_ip: RateLimiter,
    pub login_failures_per_ip: RateLimiter,
    pub login_failures_per_account: RateLimiter,
}

impl AccountLimits {
    pub fn per_minute(signups_per_ip: u32, login_failures: u32) -> Self {
        Self {
            signups_per_ip: RateLimiter::per_minute(signups_per_ip),
            login_failures_per_ip: RateLimiter::per_minute(login_failures.saturating_mul(3)),
            login_failures_per_account: RateLimiter::per_minute(login_failures),
        }
    }
}

#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn ApiStore>,
    pub tasks: TaskService,
    pub auth: Arc<Authenticator>,
    pub limits: Arc<AccountLimits>,
    pub chat: Arc<chat::service::ChatService>,
}

impl FromRef<ApiState> for Arc<Authenticator> {
    fn from_ref(state: &ApiState) -> Self {
        state.auth.clone()
    }
}

/// The api's routes: accounts, tasks, chat, MCP and the UI.
pub fn router(state: ApiState) -> Router {
    let mcp = chat::mcp::router(state.tasks.clone(), state.auth.clone());
    Router::new()
        .merge(accounts::router())
        .merge(tasks::router())
        .merge(chat::router())
        .with_state(state)
        .merge(mcp)
        .merge(ui::router())
}
