use auth::Owner;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use domain::audit::{AuditQuery, page};
use domain::{AuditFilter, AuditPage};
use web::{ApiResult, Json, Query};

use crate::AuditState;

pub fn router() -> Router<AuditState> {
    Router::new().route("/api/{user_id}/audit", get(audit_trail))
}

/// The caller's own audit trail, oldest first unless `order=desc`.
#[utoipa::path(get, path = "/api/{user_id}/audit", tag = "audit", params(("user_id" = String, Path), AuditQuery),
    responses((status = 200, body = AuditPage), (status = 401), (status = 403), (status = 422)), security(("bearer" = [])))]
pub async fn audit_trail(
    owner: Owner,
    State(s): State<AuditState>,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let filter = AuditFilter::parse(query)?;
    let rows = s.store.trail(&owner.user_id, &filter).await?;
    Ok(Json(page(rows, filter.limit)))
}
