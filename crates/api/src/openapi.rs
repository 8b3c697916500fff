use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{accounts, chat, tasks};

#[derive(OpenApi)]
#[openapi(
    info(title = "tasktrail", description = "Event-driven todo service: every task change becomes an event on `task-events`; the audit trail is at /api/{user_id}/audit. The chat assistant's tools are also served over MCP (streamable HTTP) at /mcp with the same bearer token."),
    paths(accounts::signup, accounts::login, accounts::me, tasks::list_tasks, tasks::create_task, tasks::get_task,
          tasks::update_task, tasks::delete_task, tasks::toggle_completed, chat::chat, chat::conversations,
          chat::messages),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The api's part of the OpenAPI document; the binary merges in the audit service's.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
