//! Who answers a chat message: a language model over an OpenAI-compatible Chat Completions API
//! when one is configured, the offline assistant otherwise. Both act only through the turn's
//! tools.

use domain::chat::ChatMessage;

use super::offline::OfflineAgent;
use super::openai::OpenAiAgent;
use super::tools::TurnTools;

pub struct AgentReply {
    pub text: String,
}

#[derive(Debug)]
pub enum AgentError {
    /// The model's server failed or answered something unusable (502).
    Upstream(String),
    /// The model did not answer in time (504).
    Timeout,
}

pub enum Agent {
    Offline(OfflineAgent),
    OpenAi(OpenAiAgent),
}

impl Agent {
    pub async fn reply(
        &self,
        history: &[ChatMessage],
        message: &str,
        tools: &TurnTools,
    ) -> Result<AgentReply, AgentError> {
        match self {
            Agent::Offline(agent) => agent.reply(history.is_empty(), message, tools).await,
            Agent::OpenAi(agent) => agent.reply(history, message, tools).await,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Agent::Offline(_) => "offline assistant".into(),
            Agent::OpenAi(agent) => format!("model {}", agent.model()),
        }
    }
}
