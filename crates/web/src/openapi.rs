//! The OpenAPI side of [`ApiError`](crate::ApiError): the schema of the one error body, the
//! error responses many routes share, and the bearer scheme. Every service's document uses
//! these, so a merged document (embedded mode, the api proxying the audit trail) holds one of
//! each.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, ToResponse, ToSchema};

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

/// The request could not be read: malformed JSON (`malformed_json`), a query string that does
/// not parse (`invalid_query`) or an unreadable header (`invalid_header`).
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "malformed_json", "message": "Failed to parse the request body as JSON"}}))]
pub struct BadRequest(pub ErrorBody);

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

/// The body is larger than 1 MiB (`payload_too_large`).
#[derive(ToResponse)]
pub struct PayloadTooLarge(pub ErrorBody);

/// The body was sent without `Content-Type: application/json` (`unsupported_media_type`).
#[derive(ToResponse)]
pub struct UnsupportedMediaType(pub ErrorBody);

/// Too many attempts from this client or account; retry after `Retry-After` seconds
/// (`rate_limited`).
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))]
pub struct RateLimited(pub ErrorBody);

/// The database (or another service this route needs) is out of reach or overloaded for a
/// moment, or too many passwords are being hashed right now; nothing was done: retry after
/// `Retry-After` seconds (`unavailable`).
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))]
pub struct Unavailable(pub ErrorBody);

/// Declares the `bearer` security scheme the operations reference.
pub struct BearerAuth;

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
                        "A token from /api/auth/signup or /api/auth/login, or one signed by the configured external identity provider (JWKS) with its configured `iss` and `aud`; such a token's user id is `ext:` followed by its `sub`",
                    ))
                    .build(),
            ),
        );
    }
}
