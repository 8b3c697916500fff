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

/// Liveness, readiness and (with `metrics`; else it has an address of its own) metrics; the
/// OpenAPI document at /api/docs for services with an API. Readiness answers 503 once the
/// server is draining, whatever the checks say, so that load balancers stop sending new
/// requests while the requests they sent are still served.
pub fn router(
    checks: Vec<(&'static str, ReadinessCheck)>,
    openapi: Option<utoipa::openapi::OpenApi>,
    draining: Draining,
    metrics: bool,
) -> Router {
    let checks = Arc::new(checks);
    let router = Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(move || readiness(checks.clone(), draining.clone())));
    let router = if metrics {
        router.merge(metrics_router())
    } else {
        router
    };
    match openapi {
        Some(openapi) => {
            let openapi = Arc::new(openapi);
            router.route("/api/docs", get(move || async move { Json(openapi.as_ref().clone()) }))
        }
        None => router,
    }
}

/// Prometheus text at /metrics.
pub fn metrics_router() -> Router {
    Router::new().route("/metrics", get(|| async { web::telemetry::metrics_handle().render() }))
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
            // The cause goes to the log only: its text (hosts, users, driver messages) is
            // for operators, and /readyz answers anyone.
            Ok(Err(e)) => {
                ready = false;
                tracing::warn!(check = *name, error = format!("{e:#}"), "readiness check failed");
                report.insert((*name).into(), json!("failing"));
            }
            Err(_) => {
                ready = false;
                tracing::warn!(check = *name, "readiness check timed out");
                report.insert((*name).into(), json!("failing"));
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn readiness_names_the_failing_check_but_never_its_cause() {
        let failing: ReadinessCheck = Arc::new(|| {
            async {
                Err(anyhow::anyhow!(
                    "password authentication failed for user \"tasktrail\" at 10.0.0.7"
                ))
            }
            .boxed()
        });
        let passing: ReadinessCheck = Arc::new(|| async { Ok(()) }.boxed());
        let app = router(
            vec![("api_database", passing), ("audit_database", failing)],
            None,
            Draining::default(),
            true,
        );
        let response = app
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({"ready": false, "checks": {"api_database": "ok", "audit_database": "failing"}})
        );
    }
}
