//! Routes for the other services, not for users: the notification service asks here whom to
//! email about a user's task (the address never travels in an event). Served only in
//! distributed mode and only through the Dapr sidecar: every request must carry the sidecar's
//! app API token, and the route is absent when no token is configured. Embedded mode calls
//! `AccountService::recipient` directly.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::middleware;
use axum::routing::get;
use domain::account::Recipient;
use web::{ApiError, ApiResult, Json};

use crate::accounts::service::AccountService;

/// The path the notification service invokes on the app id `api`.
pub const RECIPIENT_ROUTE: &str = "/internal/users/{user_id}";

pub fn router(accounts: Arc<AccountService>, app_api_token: &str) -> Router {
    Router::new()
        .route(RECIPIENT_ROUTE, get(recipient))
        .route_layer(middleware::from_fn_with_state(
            Arc::<str>::from(app_api_token),
            events::require_app_api_token,
        ))
        .with_state(accounts)
}

/// The user's address, name and preferences; 404 when we hold no account for them.
async fn recipient(
    State(accounts): State<Arc<AccountService>>,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Recipient>> {
    let recipient = accounts
        .recipient(&user_id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    Ok(Json(recipient))
}
