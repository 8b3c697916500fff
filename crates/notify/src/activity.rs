//! The user's notifications: `GET /api/{user_id}/notifications`, newest first, paged.

use std::sync::Arc;

use auth::{Authenticator, Owner};
use axum::Router;
use axum::extract::{FromRef, State};
use axum::routing::get;
use domain::notification::{NotificationFilter, NotificationPage, NotificationQuery};
use utoipa::OpenApi;
use web::openapi::{BearerAuth, ErrorBody, ErrorDetail, Forbidden, Unauthorized, Unavailable};
use web::{ApiResult, Json, Query};

use crate::store::NotificationStore;

#[derive(Clone)]
pub struct ActivityState {
    pub store: Arc<dyn NotificationStore>,
    pub auth: Arc<Authenticator>,
}

impl FromRef<ActivityState> for Arc<Authenticator> {
    fn from_ref(state: &ActivityState) -> Self {
        state.auth.clone()
    }
}

pub fn router(state: ActivityState) -> Router {
    Router::new()
        .route("/api/{user_id}/notifications", get(notifications))
        .with_state(state)
}

/// What became of the emails about the caller's completed tasks.
#[utoipa::path(get, path = "/api/{user_id}/notifications", tag = "notifications",
    params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)"), NotificationQuery),
    responses((status = 200, description = "One page of the user's notifications, newest first", body = NotificationPage),
        (status = 400, description = "A query parameter of the wrong type (`invalid_query`)", body = ErrorBody),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden),
        (status = 422, description = "`limit` outside 1 to 200, or a cursor this API did not give (`validation_failed`)", body = ErrorBody),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn notifications(
    owner: Owner,
    State(s): State<ActivityState>,
    Query(query): Query<NotificationQuery>,
) -> ApiResult<Json<NotificationPage>> {
    let filter = NotificationFilter::parse(query)?;
    let rows = s.store.list(&owner.user_id, &filter).await?;
    Ok(Json(filter.page(rows)))
}

#[derive(OpenApi)]
#[openapi(
    paths(notifications),
    components(schemas(ErrorBody, ErrorDetail), responses(Unauthorized, Forbidden, Unavailable)),
    tags((name = "notifications", description = "The emails sent (or not) about the user's completed tasks")),
    modifiers(&BearerAuth)
)]
pub struct ActivityDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ActivityDoc::openapi()
}
