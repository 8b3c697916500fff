//! The api service: accounts, tasks, the chat assistant and its MCP tools, and the web UI. Every task change commits its event to the
//! outbox in the same transaction; the outbox relay (wired by the binary) delivers them.

pub mod accounts;
pub mod chat;
pub mod internal;
pub mod openapi;
pub mod rate_limit;
pub mod reminders;
pub mod store;
pub mod tasks;
pub mod ui;

use std::sync::Arc;

use accounts::service::AccountLimits;
use accounts::service::AccountService;
use auth::Authenticator;
use axum::Router;
use axum::extract::FromRef;
use chat::agent::Agent;
use chat::conversations::ConversationService;
use chat::service::{ChatLimits, ChatService};
use store::ApiStores;
use tasks::TaskService;
use tokio::sync::Notify;
use web::TrustedProxies;

/// What the api's handlers reach: one service per concern (never a store directly).
#[derive(Clone)]
pub struct ApiState {
    pub accounts: Arc<AccountService>,
    pub tasks: TaskService,
    pub conversations: ConversationService,
    pub chat: Arc<ChatService>,
    pub auth: Arc<Authenticator>,
    /// Per user, on `/mcp`.
    pub mcp_requests_per_minute: u32,
    /// Whose `X-Forwarded-For` names the client of the per-client limits.
    pub trusted_proxies: Arc<TrustedProxies>,
}

impl ApiState {
    /// `events_written` is signalled after each committed task change: the relay's wake-up.
    pub fn new(
        stores: ApiStores,
        events_written: Arc<Notify>,
        auth: Arc<Authenticator>,
        account_limits: AccountLimits,
        agent: Agent,
        chat_limits: ChatLimits,
        mcp_requests_per_minute: u32,
    ) -> Self {
        let tasks = TaskService::new(stores.tasks, events_written);
        let conversations = ConversationService::new(stores.conversations);
        let chat = ChatService::new(
            conversations.clone(),
            stores.chat_requests,
            tasks.clone(),
            agent,
            chat_limits,
        );
        Self {
            accounts: Arc::new(AccountService::new(stores.accounts, auth.clone(), account_limits)),
            tasks,
            conversations,
            chat: Arc::new(chat),
            auth,
            mcp_requests_per_minute,
            trusted_proxies: Arc::new(TrustedProxies::none()),
        }
    }

    /// Believe `X-Forwarded-For` from these proxies (none by default).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = Arc::new(proxies);
        self
    }
}

impl FromRef<ApiState> for Arc<Authenticator> {
    fn from_ref(state: &ApiState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<ApiState> for Arc<TrustedProxies> {
    fn from_ref(state: &ApiState) -> Self {
        state.trusted_proxies.clone()
    }
}

/// The api's routes: accounts, tasks, chat, MCP and the UI.
pub fn router(state: ApiState) -> Router {
    let mcp = chat::mcp::router(state.tasks.clone(), state.auth.clone(), state.mcp_requests_per_minute);
    Router::new()
        .merge(accounts::router())
        .merge(tasks::router())
        .merge(chat::router())
        .with_state(state)
        .merge(mcp)
        .merge(ui::router())
}
