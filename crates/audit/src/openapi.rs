//! The audit trail's OpenAPI document: served alone by the audit service, merged with the api's
//! in embedded mode and by the distributed api (which proxies the trail).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

use crate::trail;

// The error body, the reusable responses and the bearer scheme below are the same components,
// under the same names, as the api's (crates/api/src/openapi.rs): a merged document keeps one
// of each. Neither crate depends on the other, so each declares what its document references.

/// The body of every error response.
#[derive(ToSchema)]
#[schema(example = json!({"error": {"code": "not_found", "message": "task not found"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `validation_failed`, `rate_limited`, `unavailable`, `malformed_json`, ...
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
}

/// No valid bearer token: missing, malformed, expired, or not signed by a key we accept
/// (`unauthorized`).
#[derive(ToResponse)]
#[response(
    headers(("WWW-Authenticate" = String, description = "`Bearer`")),
    example = json!({"error": {"code": "unauthorized", "message": "missing bearer token"}})
)]
pub struct Unauthorized(pub ErrorBody);

/// The token is valid but names another user than the path's `{user_id}` (`forbidden`).
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "forbidden", "message": "this resource belongs to another user"}}))]
pub struct Forbidden(pub ErrorBody);

/// The database (or another service this route needs) is out of reach or overloaded for a
/// moment, or too many passwords are being hashed right now; nothing was done: retry after
/// `Retry-After` seconds (`unavailable`).
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))]
pub struct Unavailable(pub ErrorBody);

#[derive(OpenApi)]
#[openapi(
    paths(trail::audit_trail),
    components(
        schemas(ErrorBody, ErrorDetail, domain::audit::AuditOrder),
        responses(Unauthorized, Forbidden, Unavailable)
    ),
    tags((name = "audit", description = "Every change to the user's tasks, as the events were received")),
    modifiers(&BearerAuth)
)]
pub struct AuditDoc;

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
                    .description(Some(
                        "A token from /api/auth/signup or /api/auth/login, or one signed by the configured external identity provider (JWKS)",
                    ))
                    .build(),
            ),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    AuditDoc::openapi()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The audit service serves this document alone: every `$ref` must name a component it
    /// declares itself (an `AuditOrder` reference once named nothing), and every response has
    /// the description OpenAPI requires.
    #[test]
    fn the_document_stands_alone() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(refs.len() > 5, "only {} references", refs.len());
        for reference in refs {
            let pointer = reference.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{reference} names nothing");
        }
        let responses = doc["paths"]["/api/{user_id}/audit"]["get"]["responses"]
            .as_object()
            .unwrap();
        for (status, response) in responses {
            let response = match response["$ref"].as_str() {
                Some(reference) => doc.pointer(reference.strip_prefix('#').unwrap()).unwrap(),
                None => response,
            };
            assert!(
                response["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{status} has no description"
            );
        }
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }

    fn collect_refs(value: &Value, refs: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    refs.push(reference.clone());
                }
                map.values().for_each(|v| collect_refs(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
            _ => {}
        }
    }
}
