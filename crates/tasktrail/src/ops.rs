//! Operational endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document.

use std::future::Future;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;

use crate::server::Draining;

/// A dependency the service cannot serve without (its database).
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// A readiness check that runs `check` on `target` (a store, say) each time it is asked.
pub fn readiness_check<T, F, Fut>(target: Arc<T>, check: F) -> ReadinessCheck
where
    T: ?Sized + Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    Arc::new(move || check(target.clone()).boxed())
}

/// Liveness, readiness and metrics; the OpenAPI document at /api/docs for services with an API.
/// Readiness answers 503 once the server is draining, whatever the checks say, so that load
/// balancers stop sending new requests while the requests they sent are still served.
pub fn router(
    checks: Vec<(&'static str, ReadinessCheck)>,
    openapi: Option<utoipa::openapi::OpenApi>,
    draining: Draining,
) -> Router {
    let checks = Arc::new(checks);
    let router = Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(move || readiness(checks.clone(), draining.clone())))
        .route("/metrics", get(|| async { web::telemetry::metrics_handle().render() }));
    match openapi {
        Some(openapi) => {
            let openapi = Arc::new(openapi);
            router.route("/api/docs", get(move || async move { Json(openapi.as_ref().clone()) }))
        }
        None => router,
    }
}

async fn readiness(checks: Arc<Vec<(&'static str, ReadinessCheck)>>, draining: Draining) -> impl IntoResponse {
    if draining.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "draining": true})),
        );
    }
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
