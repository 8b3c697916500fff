//! One chat turn: the user's message, the agent's answer and the tools it used, stored so that
//! the server keeps nothing between requests; a repeated Idempotency-Key gets the first answer.
//!
//! A turn runs as a task of its own, not in the request's future: a client that gives up (or a
//! proxy that cuts the request) cannot stop it half-way, after its tools ran but before it is
//! stored and its Idempotency-Key answered. The request waits for it up to the turn timeout
//! plus [`STORE_MARGIN`]; the server's shorter request timeout does not apply to this route.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::chat::{ChatReply, ChatRequest, Conversation, parse_idempotency_key, parse_message};
use tokio::sync::RwLock;
use web::{ApiError, ApiResult};

use super::agent::{Agent, AgentError};
use super::conversations::ConversationService;
use super::tools::{TaskTools, TurnTools};
use crate::rate_limit::RateLimiter;
use crate::store::{ChatClaim, ChatRequestStore};
use crate::tasks::TaskService;

#[derive(Debug, Clone, Copy)]
pub struct ChatLimits {
    /// The whole turn, every model call and tool included.
    pub turn_timeout: Duration,
    /// Earlier messages sent to the model with each turn.
    pub history_messages: u32,
    /// Chat requests one user may make per minute (each may cost several paid model calls).
    pub requests_per_minute: u32,
}

/// The chat route, whose requests are bounded by [`ChatService::request_deadline`] rather than
/// the server's request timeout.
pub const CHAT_ROUTE: &str = "/api/{user_id}/chat";

/// Beyond the turn timeout, how long a turn may take to read the conversation and store itself.
pub const STORE_MARGIN: Duration = Duration::from_secs(15);

/// Beyond the request deadline, how long an unanswered Idempotency-Key claim stays blocking
/// before it is taken over as abandoned.
pub const ABANDONED_CLAIM_MARGIN: Duration = Duration::from_secs(60);

/// How long an Idempotency-Key is remembered (its answer, or its claim while running).
pub const IDEMPOTENCY_KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// How often expired Idempotency-Keys are purged.
pub const IDEMPOTENCY_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

pub struct ChatService {
    conversations: ConversationService,
    requests: Arc<dyn ChatRequestStore>,
    tasks: TaskService,
    agent: Agent,
    limits: ChatLimits,
    per_user: RateLimiter,
    /// Each running turn holds a read guard; shutdown takes the write lock to wait for them.
    turns: Arc<RwLock<()>>,
}

impl ChatService {
    pub fn new(
        conversations: ConversationService,
        requests: Arc<dyn ChatRequestStore>,
        tasks: TaskService,
        agent: Agent,
        limits: ChatLimits,
    ) -> Self {
        Self {
            conversations,
            requests,
            tasks,
            agent,
            per_user: RateLimiter::per_minute(limits.requests_per_minute),
            limits,
            turns: Arc::new(RwLock::new(())),
        }
    }

    /// How long a chat request may take: the whole turn, then storing it.
    pub fn request_deadline(&self) -> Duration {
        self.limits.turn_timeout + STORE_MARGIN
    }

    pub async fn chat(
        self: &Arc<Self>,
        user_id: &str,
        request: ChatRequest,
        idempotency_key: Option<&str>,
    ) -> ApiResult<ChatReply> {
        // Counted before anything else: a refused or failing request still cost its turn.
        self.per_user.take(user_id)?.keep();
        let message = parse_message(&request.message)?;
        let key = idempotency_key
            .map(parse_idempotency_key)
            .transpose()?
            .map(str::to_owned);
        let conversation = match &request.conversation_id {
            Some(id) => Some(self.conversations.find(user_id, id).await?),
            None => None,
        };
        let (service, user_id) = (self.clone(), user_id.to_owned());
        let turn = tokio::spawn(async move {
            let _running = service.turns.clone().read_owned().await;
            service
                .claimed_turn(&user_id, conversation, &message, key.as_deref())
                .await
        });
        match tokio::time::timeout(self.request_deadline(), turn).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Err(ApiError::internal(e)),
            // Reached only if storing the turn hangs (the database): it goes on, and a retry
            // with the same Idempotency-Key gets its answer once it is stored.
            Err(_) => Err(ApiError::GatewayTimeout(
                "the chat turn did not finish in time; it is still being recorded".into(),
            )),
        }
    }

    /// Purges expired Idempotency-Keys every hour until `stop`, then waits for the turns still
    /// running (their clients may be gone) to be stored.
    pub async fn upkeep(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = purge_idempotency_keys(self.requests.as_ref(), Utc::now()).await {
                tracing::warn!(error = %e, "purging expired chat Idempotency-Keys failed; will retry");
            }
            tokio::select! {
                _ = tokio::time::sleep(IDEMPOTENCY_PURGE_INTERVAL) => {}
                _ = &mut stop => break,
            }
        }
        if tokio::time::timeout(self.request_deadline(), self.turns.write())
            .await
            .is_err()
        {
            tracing::warn!("chat turns still running at shutdown were cut short");
        }
    }

    /// The turn, under its Idempotency-Key when it has one: the claim is answered or released
    /// whatever the turn's outcome.
    async fn claimed_turn(
        &self,
        user_id: &str,
        conversation: Option<Conversation>,
        message: &str,
        key: Option<&str>,
    ) -> ApiResult<ChatReply> {
        let Some(key) = key else {
            return self.turn(user_id, conversation, message).await;
        };
        // A live process answers or releases its claim within the request deadline; one still
        // running well after that was left by a process that stopped mid-turn.
        let abandoned_before = domain::clock::now()
            - chrono::TimeDelta::from_std(self.request_deadline() + ABANDONED_CLAIM_MARGIN)
                .unwrap_or(chrono::TimeDelta::MAX);
        match self.requests.claim(user_id, key, abandoned_before).await? {
            ChatClaim::Answered(reply) => return serde_json::from_value(reply).map_err(ApiError::internal),
            ChatClaim::Running => {
                return Err(ApiError::Conflict(
                    "a chat request with this Idempotency-Key is still running; retry shortly".into(),
                ));
            }
            ChatClaim::Claimed => {}
        }
        let outcome = self.turn(user_id, conversation, message).await;
        match &outcome {
            Ok(reply) => {
                let stored = serde_json::to_value(reply).map_err(ApiError::internal)?;
                self.requests.finish(user_id, key, &stored).await?;
            }
            // A failed request may be retried with the same key.
            Err(_) => self.requests.release(user_id, key).await?,
        }
        outcome
    }

    async fn turn(&self, user_id: &str, conversation: Option<Conversation>, message: &str) -> ApiResult<ChatReply> {
        let history = match &conversation {
            Some(c) => {
                self.conversations
                    .recent_messages(c, self.limits.history_messages)
                    .await?
            }
            None => Vec::new(),
        };
        let tools = TurnTools::new(TaskTools::new(self.tasks.clone(), user_id.to_owned()));
        let answer = tokio::time::timeout(self.limits.turn_timeout, self.agent.reply(&history, message, &tools)).await;
        let calls = tools.calls();
        let (text, failure) = match answer {
            Ok(Ok(reply)) => (reply.text, None),
            Ok(Err(AgentError::Upstream(detail))) => {
                // The model server's words (its error body, perhaps our request echoed back)
                // are for operators: logged, not passed on.
                tracing::warn!(%detail, "the language model failed");
                let message = "the assistant's language model failed; try again shortly".to_owned();
                (String::new(), Some(ApiError::BadGateway(message)))
            }
            Ok(Err(AgentError::Timeout)) | Err(_) => {
                let seconds = self.limits.turn_timeout.as_secs_f64();
                let message = format!("the assistant's language model did not answer within {seconds} s");
                (String::new(), Some(ApiError::GatewayTimeout(message)))
            }
        };
        if let Some(failure) = failure {
            if calls.is_empty() {
                // Nothing was done: nothing is stored, the client may simply retry.
                return Err(failure);
            }
            // Some tools ran before the failure; their changes are real (and their events
            // committed), so the conversation records them rather than pretend otherwise.
            let note = format!("(The assistant stopped before finishing: {failure}. The tool calls above did run.)");
            self.conversations
                .append_turn(user_id, conversation, message, note, calls)
                .await?;
            return Err(failure);
        }
        let conversation_id = self
            .conversations
            .append_turn(user_id, conversation, message, text.clone(), calls.clone())
            .await?;
        Ok(ChatReply {
            conversation_id,
            response: text,
            tool_calls: calls,
        })
    }
}

/// Forgets the Idempotency-Keys claimed more than [`IDEMPOTENCY_KEY_LIFETIME`] before `now`, in
/// batches; returns how many.
pub async fn purge_idempotency_keys(requests: &dyn ChatRequestStore, now: DateTime<Utc>) -> db::Result<u64> {
    const BATCH: u32 = 1000;
    let cutoff = now - chrono::Duration::from_std(IDEMPOTENCY_KEY_LIFETIME).expect("a day fits");
    let mut total = 0;
    for _ in 0..100 {
        let purged = requests.purge_claimed_before(cutoff, BATCH).await?;
        total += purged;
        if purged < u64::from(BATCH) {
            break;
        }
    }
    if total > 0 {
        tracing::info!(purged = total, %cutoff, "expired chat Idempotency-Keys purged");
    }
    Ok(total)
}
