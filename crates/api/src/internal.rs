//! Routes for the other services, not for users: the notification service asks here whom to
//! email about a user's task (the address never travels in an event), and the Dapr cron
//! binding `reminder-scan` triggers the reminder scan. Served only in distributed mode and
//! only through the Dapr sidecar: every request must carry the sidecar's app API token, and
//! the routes are absent when no token is configured. Embedded mode calls
//! `AccountService::recipient` directly and scans on a timer.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use domain::account::Recipient;
use web::{ApiError, ApiResult, Json};

use crate::accounts::service::AccountService;
use crate::tasks::TaskService;

/// The path the notification service invokes on the app id `api`.
pub const RECIPIENT_ROUTE: &str = "/internal/users/{user_id}";

/// The route the cron input binding named `reminder-scan` posts to on each tick.
pub const REMINDER_SCAN_ROUTE: &str = "/reminder-scan";

pub fn router(accounts: Arc<AccountService>, tasks: TaskService, app_api_token: &str) -> Router {
    let token = middleware::from_fn_with_state(Arc::<str>::from(app_api_token), events::require_app_api_token);
    Router::new()
        .route(RECIPIENT_ROUTE, get(recipient))
        .with_state(accounts)
        .merge(
            Router::new()
                // The sidecar asks with OPTIONS at start whether the app takes the binding.
                .route(
                    REMINDER_SCAN_ROUTE,
                    post(reminder_scan).options(|| async { StatusCode::OK }),
                )
                .with_state(tasks),
        )
        .route_layer(token)
}

/// One tick of the cron binding: the reminders due now go out (each once, however many api
/// replicas the ticks reach).
async fn reminder_scan(State(tasks): State<TaskService>) -> ApiResult<Json<serde_json::Value>> {
    let sent = tasks.send_due_reminders().await?;
    if sent > 0 {
        tracing::info!(sent, "reminders due: their events are in the outbox");
    }
    Ok(Json(serde_json::json!({ "sent": sent })))
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
