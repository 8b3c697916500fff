//! The api's shared state, built the same way in embedded mode and by the api service.

use std::sync::Arc;

use api::chat::agent::Agent;
use api::chat::offline::OfflineAgent;
use api::chat::openai::{OpenAiAgent, OpenAiConfig};
use api::chat::service::{ChatLimits, ChatService};
use api::store::ApiStore;
use api::tasks::TaskService;
use api::{AccountLimits, ApiState};
use auth::Authenticator;
use tokio::sync::Notify;

use crate::config::{AccountArgs, ChatArgs};

pub fn build(
    store: Arc<dyn ApiStore>,
    events_written: Arc<Notify>,
    auth: Arc<Authenticator>,
    accounts: &AccountArgs,
    chat: &ChatArgs,
) -> anyhow::Result<ApiState> {
    let tasks = TaskService::new(store.clone(), events_written);
    let agent = match chat.openai_api_key.as_deref().filter(|k| !k.trim().is_empty()) {
        Some(key) => Agent::OpenAi(OpenAiAgent::new(OpenAiConfig {
            base_url: chat.openai_base_url.clone(),
            api_key: key.to_owned(),
            model: chat.openai_model.clone(),
            max_rounds: chat.chat_max_rounds,
            request_timeout: chat.chat_timeout,
        })?),
        None => Agent::Offline(OfflineAgent),
    };
    tracing::info!(assistant = %agent.describe(), "chat assistant");
    let chat = ChatService::new(
        store.clone(),
        tasks.clone(),
        agent,
        ChatLimits {
            turn_timeout: chat.chat_timeout,
            history_messages: chat.chat_history,
        },
    );
    Ok(ApiState {
        store,
        tasks,
        auth,
        limits: Arc::new(AccountLimits::per_minute(
            accounts.signup_limit,
            accounts.login_failure_limit,
        )),
        chat: Arc::new(chat),
    })
}
