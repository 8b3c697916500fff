use auth::Owner;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use domain::audit::{AuditQuery, page};
use domain::{AuditFilter, AuditPage};
use web::{ApiResult, Json, Query};

use crate::AuditState;

pub fn router() -> Router<AuditState> {
    Router::new()
        .route("/api/{user_id}/audit", get(audit_trail))
        .route(crate::stream::STREAM_ROUTE, get(crate::stream::audit_stream))
}

/// The caller's own audit trail, oldest first unless `order=desc`.
#[utoipa::path(get, path = "/api/{user_id}/audit", tag = "audit", params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)"), AuditQuery),
    responses((status = 200, description = "One page of the user's audit trail", body = AuditPage),
        (status = 400, description = "A query parameter of the wrong type: `task_id` not a number, an unknown `order` (`invalid_query`)", body = crate::openapi::ErrorBody),
        (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden),
        (status = 422, description = "An unknown event type, a timestamp that is not RFC 3339, `limit` outside 1 to 500, or a cursor this API did not give (`validation_failed`)", body = crate::openapi::ErrorBody),
        (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn audit_trail(
    owner: Owner,
    State(s): State<AuditState>,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let filter = AuditFilter::parse(query)?;
    let rows = s.store.trail(&owner.user_id, &filter).await?;
    Ok(Json(page(rows, &filter)))
}
