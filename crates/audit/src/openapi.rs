//! The audit trail's OpenAPI document: served alone by the audit service, merged with the api's
//! in embedded mode and by the distributed api (which proxies the trail).

use utoipa::OpenApi;

use crate::{stream, trail};

// Re-exported so that handler annotations say `crate::openapi::…`.
pub use web::openapi::{BearerAuth, ErrorBody, ErrorDetail, Forbidden, Unauthorized, Unavailable};

#[derive(OpenApi)]
#[openapi(
    paths(trail::audit_trail, stream::audit_stream),
    components(
        schemas(ErrorBody, ErrorDetail, domain::audit::AuditOrder),
        responses(Unauthorized, Forbidden, Unavailable)
    ),
    tags((name = "audit", description = "Every change to the user's tasks, as the events were received")),
    modifiers(&BearerAuth)
)]
pub struct AuditDoc;

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
