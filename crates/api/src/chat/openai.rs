//! A tool-calling loop over an OpenAI-compatible Chat Completions endpoint (OpenAI, Ollama,
//! vLLM, ...). Plain HTTP with a handful of typed fields: the endpoint is stable, and it keeps
//! us independent of any one SDK's churn.

use std::time::Duration;

use domain::chat::{ChatMessage, ChatRole};
use serde::Deserialize;
use serde_json::{Value, json};

use super::agent::{AgentError, AgentReply};
use super::tools::{TurnTools, specs};

#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama).
    pub base_url: String,
    pub api_key: String,
    pub model: String,
    /// Model calls per user message (each may ask for tools).
    pub max_rounds: u32,
    pub request_timeout: Duration,
}

pub struct OpenAiAgent {
    http: reqwest::Client,
    config: OpenAiConfig,
    tools: Value,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: AssistantMessage,
}

#[derive(Deserialize)]
struct AssistantMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCall>,
}

#[derive(Deserialize)]
struct ToolCall {
    id: String,
    function: FunctionCall,
}

#[derive(Deserialize)]
struct FunctionCall {
    name: String,
    /// JSON text, as the API sends it.
    #[serde(default)]
    arguments: String,
}

const SYSTEM_PROMPT: &str = "You are the assistant of tasktrail, a todo list. You manage the signed-in user's tasks, \
and only through the tools given; never claim a change you did not make with a tool. After a change, confirm it in \
one short sentence that names the task. Never guess a task id: list or search first. If a request is ambiguous \
(several tasks could be meant, or it is unclear what to change), ask one short question instead of acting. Keep \
answers brief and plain.";

/// The model must turn "tomorrow at 5pm" into an RFC 3339 time: it needs today's date, and the
/// zone the user's times are read in.
fn system_prompt(now: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{SYSTEM_PROMPT} It is now {} ({}). Read the times the user gives as UTC unless they name another \
         zone or offset, pass them to the tools as RFC 3339, and say UTC when you confirm a time.",
        now.format("%Y-%m-%dT%H:%M:%SZ"),
        now.format("%A")
    )
}

impl OpenAiAgent {
    pub fn new(config: OpenAiConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(config.request_timeout).build()?;
        let tools = Value::Array(
            specs()
                .into_iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect(),
        );
        Ok(Self { http, config, tools })
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    pub async fn reply(
        &self,
        history: &[ChatMessage],
        message: &str,
        tools: &TurnTools,
    ) -> Result<AgentReply, AgentError> {
        let mut messages = vec![json!({"role": "system", "content": system_prompt(domain::clock::now())})];
        messages.extend(history.iter().map(|m| match m.role {
            ChatRole::User => json!({"role": "user", "content": m.content}),
            ChatRole::Assistant => json!({"role": "assistant", "content": with_tool_summary(m)}),
        }));
        messages.push(json!({"role": "user", "content": message}));

        for _ in 0..self.config.max_rounds.max(1) {
            let answer = self.complete(&messages).await?;
            if answer.tool_calls.is_empty() {
                let text = answer.content.unwrap_or_default().trim().to_owned();
                if text.is_empty() {
                    return Err(AgentError::Upstream(
                        "the model answered with no text and no tool call".into(),
                    ));
                }
                return Ok(AgentReply { text });
            }
            messages.push(json!({
                "role": "assistant",
                "content": answer.content,
                "tool_calls": answer.tool_calls.iter().map(|c| json!({
                    "id": c.id, "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments}})).collect::<Vec<_>>(),
            }));
            for call in &answer.tool_calls {
                let result = match parse_arguments(&call.function.arguments) {
                    Ok(arguments) => tools.call(&call.function.name, arguments).await,
                    Err(error) => json!({"error": error}),
                };
                messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": result.to_string()}));
            }
        }
        Ok(AgentReply {
            text: format!(
                "I stopped after {} steps without finishing; here is what I did so far (see the tool calls).",
                self.config.max_rounds
            ),
        })
    }

    async fn complete(&self, messages: &[Value]) -> Result<AssistantMessage, AgentError> {
        let url = format!("{}/chat/completions", self.config.base_url.trim_end_matches('/'));
        let body =
            json!({"model": self.config.model, "messages": messages, "tools": self.tools, "tool_choice": "auto"});
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.config.api_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    AgentError::Timeout
                } else {
                    AgentError::Upstream(format!("could not reach the language model: {e}"))
                }
            })?;
        let status = response.status();
        if !status.is_success() {
            let detail: String = response.text().await.unwrap_or_default().chars().take(300).collect();
            return Err(AgentError::Upstream(format!(
                "the language model answered {status}: {detail}"
            )));
        }
        let completion: Completion = response
            .json()
            .await
            .map_err(|e| AgentError::Upstream(format!("the language model's answer was not understood: {e}")))?;
        completion
            .choices
            .into_iter()
            .next()
            .map(|c| c.message)
            .ok_or_else(|| AgentError::Upstream("the language model answered no choices".into()))
    }
}

/// An earlier answer as the model sees it again: its text, then what its tools returned, so
/// that "now complete it" can refer to the task an earlier turn created.
fn with_tool_summary(message: &ChatMessage) -> String {
    if message.tool_calls.is_empty() {
        return message.content.clone();
    }
    let calls: Vec<String> = message
        .tool_calls
        .iter()
        .map(|c| format!("{}({}) -> {}", c.tool, c.arguments, c.result))
        .collect();
    format!(
        "{}\n\n[tools used in this answer: {}]",
        message.content,
        calls.join("; ")
    )
}

fn parse_arguments(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(text).map_err(|e| format!("the tool arguments are not valid JSON: {e}"))
}
