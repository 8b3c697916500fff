//! The MCP server at `/mcp` (streamable HTTP, the official Rust SDK): the same task tools as
//! the chat agents, for any MCP client holding a user's bearer token. The user is the token's;
//! requests without a valid token are answered 401 before MCP sees them.

use std::sync::Arc;

use auth::{AuthUser, Authenticator};
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};
use serde_json::{Value, json};
use web::ApiError;

use super::tools::{TaskTools, specs};
use crate::rate_limit::RateLimiter;
use crate::tasks::TaskService;

const INSTRUCTIONS: &str = "tasktrail is a todo list. These tools act on the signed-in user's tasks (the \
bearer token's user): add, list, search, complete, update and delete tasks, each with a priority (low, medium, \
high), tags, a due date, a recurrence rule (daily, weekly, monthly, every N days|weeks|months, optionally \
'until YYYY-MM-DD') and a reminder emailed to the user (remind_at, or remind_before_minutes before the due date). \
Times are RFC 3339; list_tasks filters by status, tag, priority and text. Never guess a task id: list or search \
first. Every change is recorded in the user's audit trail, as a change made in the web UI or the REST API is.";

#[derive(Clone)]
pub struct McpTools {
    tasks: TaskService,
}

fn tool_list() -> Vec<Tool> {
    specs()
        .into_iter()
        .map(|spec| {
            let schema = match spec.parameters {
                Value::Object(schema) => schema,
                _ => serde_json::Map::new(),
            };
            Tool::new(spec.name, spec.description, Arc::new(schema))
        })
        .collect()
}

impl ServerHandler for McpTools {
    /// Left to rmcp, clients would see the SDK's own name and version (`rmcp 3.11.0`).
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("tasktrail", env!("CARGO_PKG_VERSION"))
                    .with_description("An event-driven todo list with an audit trail of every change"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tool_list()))
    }

    /// A tool that fails (unknown task, invalid title, another user's id) answers a tool error
    /// the client shows; only an unknown tool name is a protocol error.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let user = context
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<AuthUser>())
            .cloned()
            .ok_or_else(|| ErrorData::internal_error("the request carries no authenticated user", None))?;
        if !specs().iter().any(|spec| spec.name == request.name) {
            return Err(ErrorData::invalid_params(
                format!("there is no tool named {}", request.name),
                None,
            ));
        }
        let arguments = request.arguments.map(Value::Object).unwrap_or_else(|| json!({}));
        let tools = TaskTools::new(self.tasks.clone(), user.user_id);
        let result = match tools.call(&request.name, &arguments).await {
            Ok(value) => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
                // Structured content must be an object; list results stay text only.
                if value.is_object() {
                    result.structured_content = Some(value);
                }
                result
            }
            Err(error) => CallToolResult::error(vec![ContentBlock::text(error.0)]),
        };
        Ok(result.into())
    }
}

/// Who may call: the token's user, up to `requests_per_minute` MCP requests a minute.
struct Gate {
    authenticator: Arc<Authenticator>,
    per_user: RateLimiter,
}

pub fn router(tasks: TaskService, authenticator: Arc<Authenticator>, requests_per_minute: u32) -> Router {
    // Every request needs a bearer token, which a DNS-rebinding page cannot obtain, so the
    // SDK's Host allow-list (localhost only, which would refuse any real deployment) is off.
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    let service = StreamableHttpService::new(
        move || Ok(McpTools { tasks: tasks.clone() }),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn(session_closed))
        .layer(middleware::from_fn_with_state(
            Arc::new(Gate {
                authenticator,
                per_user: RateLimiter::per_minute(requests_per_minute),
            }),
            require_token,
        ))
}

async fn require_token(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let user = AuthUser::from_request_parts(&mut parts, &gate.authenticator).await?;
    gate.per_user.take(&user.user_id)?.keep();
    parts.extensions.insert(user);
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// rmcp answers a session's DELETE with 202 Accepted, though the session is already closed when
/// it answers; MCP clients (the official Python SDK among them) expect 200 or 204 and report
/// anything else as a failed termination.
async fn session_closed(request: Request, next: Next) -> Response {
    let delete = request.method() == Method::DELETE;
    let mut response = next.run(request).await;
    if delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}
