//! The api and the audit trail as parts of an [`App`]: each is added the same way in embedded
//! mode and by its own service; only how events travel between them differs.

use std::sync::Arc;

use anyhow::Context;
use api::ApiState;
use api::accounts::service::{AccountLimits, AccountService};
use api::chat::agent::Agent;
use api::chat::offline::OfflineAgent;
use api::chat::openai::{OpenAiAgent, OpenAiConfig};
use api::chat::service::ChatLimits;
use api::reminders::ReminderScan;
use audit::{AuditConsumer, AuditState, RetentionPurger, TrailFeed};
use auth::Authenticator;
use events::{Outbox, OutboxRelay, RelayConfig, Sink, Subscriber};
use tokio::sync::Notify;

use crate::app::App;
use crate::config::{AccountArgs, ChatArgs, MailArgs, RetentionArgs};

/// The api's side of event delivery, for the mode to connect to its transport, and its
/// accounts, which the notification service asks whom to email.
pub struct ApiEvents {
    outbox: Arc<dyn Outbox>,
    written: Arc<Notify>,
    pub accounts: Arc<AccountService>,
    pub tasks: api::tasks::TaskService,
}

impl ApiEvents {
    /// The relay that delivers the api's outbox to `sink`, woken after each task change.
    pub fn relay(self, sink: Arc<dyn Sink>) -> OutboxRelay {
        OutboxRelay::new(self.outbox, sink, self.written, RelayConfig::default())
    }
}

/// Adds the api (accounts, tasks, chat, MCP, the UI) on the database at `url`.
pub async fn api(
    app: &mut App,
    url: &str,
    max_connections: u32,
    auth: Arc<Authenticator>,
    accounts: &AccountArgs,
    chat: &ChatArgs,
    reminder_scan: Option<std::time::Duration>,
) -> anyhow::Result<ApiEvents> {
    let database = app
        .database("api_database", url, max_connections, &api::store::MIGRATIONS)
        .await?;
    let written = Arc::new(Notify::new());
    let state = ApiState::new(
        api::store::open(database.clone()),
        written.clone(),
        auth,
        AccountLimits::per_minute(accounts.signup_limit, accounts.login_failure_limit),
        agent(chat)?,
        ChatLimits {
            turn_timeout: chat.chat_timeout,
            history_messages: chat.chat_history,
            requests_per_minute: chat.chat_limit,
        },
        chat.mcp_limit,
    )
    .with_trusted_proxies(accounts.trusted_proxies.clone());
    // A chat turn outlives the request timeout (up to the turn timeout) and its client; its
    // upkeep purges day-old Idempotency-Keys and, at shutdown, waits for running turns.
    let accounts = state.accounts.clone();
    let chat_turns = state.chat.clone();
    // Embedded mode scans on a timer; distributed mode when the Dapr cron binding says so.
    if let Some(every) = reminder_scan {
        let scan = ReminderScan::new(state.tasks.clone(), every);
        app.background(move |stop| async move { scan.run(stop.cancelled()).await });
    }
    let tasks = state.tasks.clone();
    app.own_deadline(api::chat::service::CHAT_ROUTE)
        .background(move |stop| async move { chat_turns.upkeep(stop.cancelled()).await });
    app.routes(api::router(state)).document(api::openapi::document());
    // On PostgreSQL the relay gets its own small pool, so that under load it does not queue
    // for a connection behind every request. SQLite has one write lock per file: a second
    // writer would only contend for it, so there the relay shares the single writer.
    let relay_database = match database {
        db::Database::Postgres(_) => db::Database::connect(url, 2)
            .await
            .context("connecting the relay to the api_database")?,
        sqlite => sqlite,
    };
    Ok(ApiEvents {
        outbox: api::store::relay_outbox(relay_database),
        written,
        accounts,
        tasks,
    })
}

/// The language model when an API key is configured, the offline assistant otherwise.
fn agent(chat: &ChatArgs) -> anyhow::Result<Agent> {
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
    Ok(agent)
}

/// Adds the audit trail API and its retention purge on the database at `url`; returns the
/// consumer that stores events, for the mode to subscribe to its transport.
pub async fn audit(
    app: &mut App,
    url: &str,
    max_connections: u32,
    auth: Arc<Authenticator>,
    retention: &RetentionArgs,
) -> anyhow::Result<Arc<dyn Subscriber>> {
    let database = app
        .database("audit_database", url, max_connections, &audit::store::MIGRATIONS)
        .await?;
    let store = audit::store::open(database);
    let feed = Arc::new(TrailFeed::default());
    let closing = app.closing();
    app.routes(audit::router(AuditState {
        store: store.clone(),
        auth,
        feed: feed.clone(),
        closing,
    }))
    .document(audit::openapi::document())
    .own_deadline(audit::stream::STREAM_ROUTE);
    let purger = RetentionPurger::new(store.clone(), retention.audit_retention, retention.audit_purge_interval);
    app.background(move |stop| purger.run(stop));
    Ok(Arc::new(
        AuditConsumer::new(store, retention.audit_retention).with_feed(feed),
    ))
}

/// Adds the notification flow on the database at `url`: the queue and its sender, and the
/// user's notifications at `GET /api/{user_id}/notifications`; returns the consumer that
/// queues completions, for the mode to subscribe to its transport.
pub async fn notify(
    app: &mut App,
    url: &str,
    max_connections: u32,
    auth: Arc<Authenticator>,
    recipients: Arc<dyn notify::Recipients>,
    mail: &MailArgs,
) -> anyhow::Result<Arc<dyn Subscriber>> {
    let database = app
        .database("notify_database", url, max_connections, &notify::store::MIGRATIONS)
        .await?;
    let store = notify::store::open(database);
    app.routes(notify::activity::router(notify::activity::ActivityState {
        store: store.clone(),
        auth,
    }))
    .document(notify::activity::document());
    let mailer = mail.mailer()?;
    let (consumer, sender) = notify::notifications(store, recipients, mailer, mail.notify_settings());
    app.background(move |stop| sender.run(stop));
    Ok(Arc::new(consumer))
}

/// Embedded mode asks the api's accounts directly whom to email.
pub struct LocalRecipients(pub Arc<AccountService>);

#[async_trait::async_trait]
impl notify::Recipients for LocalRecipients {
    async fn recipient(&self, user_id: &str) -> anyhow::Result<Option<domain::account::Recipient>> {
        self.0.recipient(user_id).await.map_err(|e| anyhow::anyhow!("{e}"))
    }
}
