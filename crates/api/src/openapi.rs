//! The api's OpenAPI document (served at /api/docs, with the audit trail's merged in). Errors
//! the extractors and middleware give on many routes are reusable responses here; route-specific
//! ones (404 of a task, 409, 422 rules) are written beside their handler. `scripts/check-openapi`
//! validates the served document and checks it against the routes.

use serde_json::json;
use utoipa::openapi::path::Paths;
use utoipa::{Modify, OpenApi};

use crate::{accounts, chat, tasks};

// Re-exported so that handler annotations say `crate::openapi::…`.
pub use web::openapi::{
    BadRequest, BearerAuth, ErrorBody, ErrorDetail, Forbidden, PayloadTooLarge, RateLimited, Unauthorized, Unavailable,
    UnsupportedMediaType,
};
#[derive(OpenApi)]
#[openapi(
    info(title = "tasktrail", description = "Event-driven todo service: every task change becomes an event on `task-events`; the audit trail is at /api/{user_id}/audit. The chat assistant's tools are also served over MCP (streamable HTTP) at /mcp with the same bearer token. Every error answers `{\"error\":{\"code\",\"message\"}}` (the `ErrorBody` schema); an unknown path answers 404 `not_found`, a method the path does not serve 405 `method_not_allowed` with an `Allow` header."),
    paths(accounts::signup, accounts::login, accounts::me, accounts::preferences, accounts::set_preferences, tasks::list_tasks, tasks::create_task, tasks::get_task,
          tasks::update_task, tasks::delete_task, tasks::toggle_completed, chat::chat, chat::conversations,
          chat::messages),
    components(
        schemas(ErrorBody, ErrorDetail, domain::task::StatusFilter, domain::task::SortKey, domain::task::Priority),
        responses(BadRequest, Unauthorized, Forbidden, PayloadTooLarge, UnsupportedMediaType, RateLimited, Unavailable)
    ),
    tags(
        (name = "accounts", description = "Sign-up, login, the signed-in user and their notification preferences"),
        (name = "tasks", description = "The user's tasks; every change is an event in the audit trail"),
        (name = "chat", description = "The assistant, which manages tasks through tools"),
        (name = "mcp", description = "The assistant's task tools for MCP clients"),
        (name = "operations", description = "Health, readiness, metrics and this document")
    ),
    modifiers(&BearerAuth, &ServedElsewhere)
)]
pub struct ApiDoc;

/// Routes without a handler of ours to annotate: the MCP service (the rmcp SDK's) and the
/// operational endpoints every service has (crates/tasktrail/src/ops.rs).
struct ServedElsewhere;

impl Modify for ServedElsewhere {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let unauthorized = json!({"$ref": "#/components/responses/Unauthorized"});
        let rate_limited = json!({"$ref": "#/components/responses/RateLimited"});
        let sdk_error = |description: &str| json!({"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}});
        let session = json!({"name": "Mcp-Session-Id", "in": "header", "required": true, "schema": {"type": "string"},
            "description": "The session id the server gave in its answer to `initialize`"});
        let paths = json!({
            "/mcp": {
                "post": {
                    "tags": ["mcp"], "operationId": "mcp_post",
                    "summary": "Send a JSON-RPC message to the MCP server (streamable HTTP).",
                    "description": "The tools are the chat assistant's (list, add, complete, update, delete tasks), acting as the token's user. The first request is `initialize`; later ones carry the `Mcp-Session-Id` it answered. Errors other than 401 come from the MCP SDK as plain text.",
                    "parameters": [{"name": "Mcp-Session-Id", "in": "header", "required": false, "schema": {"type": "string"},
                        "description": "Every request after `initialize`"}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                        "description": "A JSON-RPC 2.0 request, notification or response"}}}},
                    "responses": {
                        "200": {"description": "The JSON-RPC answer, as a server-sent event stream",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                        "202": {"description": "A notification or response was accepted"},
                        "400": sdk_error("The `Mcp-Session-Id` header is missing (every request after `initialize`)"),
                        "401": unauthorized,
                        "404": sdk_error("Unknown or expired session: initialize again"),
                        "429": rate_limited,
                        "406": sdk_error("`Accept` must list both application/json and text/event-stream"),
                        "415": sdk_error("The body is not `application/json`, or not a JSON-RPC message")
                    },
                    "security": [{"bearer": []}]
                },
                "get": {
                    "tags": ["mcp"], "operationId": "mcp_stream",
                    "summary": "Open the session's stream of server-sent messages.",
                    "parameters": [session],
                    "responses": {
                        "200": {"description": "Server-sent events", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                        "400": sdk_error("The session header is missing"),
                        "401": unauthorized,
                        "404": sdk_error("Unknown or expired session"),
                        "429": rate_limited,
                        "406": sdk_error("`Accept` must list text/event-stream")
                    },
                    "security": [{"bearer": []}]
                },
                "delete": {
                    "tags": ["mcp"], "operationId": "mcp_close",
                    "summary": "End the session.",
                    "parameters": [session],
                    "responses": {
                        "204": {"description": "The session is closed (also answered for an unknown session)"},
                        "400": sdk_error("The session header is missing"),
                        "401": unauthorized,
                        "429": rate_limited
                    },
                    "security": [{"bearer": []}]
                }
            },
            "/healthz": {"get": {"tags": ["operations"], "operationId": "healthz", "summary": "Liveness: the process serves HTTP.",
                "responses": {"200": {"description": "Alive", "content": {"application/json": {"schema": {"type": "object",
                    "properties": {"status": {"type": "string", "enum": ["ok"]}}, "required": ["status"]}}}}}}},
            "/readyz": {"get": {"tags": ["operations"], "operationId": "readyz",
                "summary": "Readiness: every database answers and the server is not draining.",
                "responses": {
                    "200": {"description": "Ready to serve", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}},
                    "503": {"description": "Not ready (a database does not answer) or draining before shutdown: send no new requests",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}}
                }}},
            "/metrics": {"get": {"tags": ["operations"], "operationId": "metrics", "summary": "Prometheus metrics.",
                "responses": {"200": {"description": "The Prometheus text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/api/docs": {"get": {"tags": ["operations"], "operationId": "openapi", "summary": "This OpenAPI document.",
                "responses": {"200": {"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
        });
        let paths: Paths = serde_json::from_value(paths).expect("the hand-written paths are an OpenAPI paths object");
        openapi.paths.merge(paths);
        let readiness = json!({"type": "object", "required": ["ready"], "properties": {
            "ready": {"type": "boolean"},
            "draining": {"type": "boolean", "description": "Present (true) while the server drains before shutdown"},
            "checks": {"type": "object", "description": "Each database by name: `ok` or `failing` (the cause is only in the log)",
                "additionalProperties": {"type": "string", "enum": ["ok", "failing"]}}
        }});
        openapi.components.get_or_insert_with(Default::default).schemas.insert(
            "Readiness".into(),
            serde_json::from_value(readiness).expect("the readiness schema is a schema"),
        );
    }
}

/// The api's part of the OpenAPI document; the binary merges in the audit service's.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written paths parse (a mistake there would panic at startup instead).
    #[test]
    fn the_document_builds_with_the_paths_served_elsewhere() {
        let doc = serde_json::to_value(document()).unwrap();
        for path in ["/mcp", "/healthz", "/readyz", "/metrics", "/api/docs"] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
        assert_eq!(
            doc["paths"]["/mcp"]["post"]["responses"]["401"]["$ref"],
            "#/components/responses/Unauthorized"
        );
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }

    /// scripts/check-openapi validates the merged document a server serves; this holds the api's
    /// part to the same on its own: every `$ref` names a component it declares.
    #[test]
    fn every_reference_resolves() {
        let doc = serde_json::to_value(document()).unwrap();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(refs.len() > 20, "only {} references", refs.len());
        for reference in refs {
            let pointer = reference.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{reference} names nothing");
        }
    }

    fn collect_refs(value: &serde_json::Value, refs: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(reference)) = map.get("$ref") {
                    refs.push(reference.clone());
                }
                map.values().for_each(|v| collect_refs(v, refs));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
            _ => {}
        }
    }
}
