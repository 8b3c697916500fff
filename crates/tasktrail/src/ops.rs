//! Operational endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde_json::json;

/// A dependency the service cannot serve without (its database, later its Dapr sidecar).
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

pub fn router(checks: Vec<(&'static str, ReadinessCheck)>, openapi: utoipa::openapi::OpenApi) -> Router {
    let checks = Arc::new(checks);
    let openapi = Arc::new(openapi);
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(move || readiness(checks.clone())))
        .route("/metrics", get(|| async { web::telemetry::metrics_handle().render() }))
        .route("/api/docs", get(move || async move { Json(openapi.as_ref().clone()) }))
}

async fn readiness(checks: Arc<Vec<(&'static str, ReadinessCheck)>>) -> impl IntoResponse {
    let mut report = serde_json::Map::new();
    let mut ready = true;
    for (name, check) in checks.iter() {
        match tokio::time::timeout(std::time::Duration::from_secs(2), check()).await {
            Ok(Ok(())) => {
                report.insert((*name).into(), json!("ok"));
            }
            Ok(Err(e)) => {
                ready = false;
                report.insert((*name).into(), json!(format!("{e:#}")));
            }
            Err(_) => {
                ready = false;
                report.insert((*name).into(), json!("timed out"));
            }
        }
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({"ready": ready, "checks": report})))
}
