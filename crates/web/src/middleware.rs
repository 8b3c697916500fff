use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::extract::BODY_LIMIT_BYTES;

/// Counts requests and their latency per route template (not raw path: bounded cardinality).
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("path", path), ("status", status)];
    metrics::counter!("tasktrail_http_requests_total", &labels).increment(1);
    metrics::histogram!("tasktrail_http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

/// 405 in our error shape; axum's method router adds the `Allow` header listing the path's
/// methods to whatever this answers.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The layers every service wears: body limit, JSON 404/405, metrics, tracing, panic safety,
/// and the security headers of the design's baseline.
pub fn standard_layers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn(track_metrics))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let path = req.extensions().get::<MatchedPath>().map(|p| p.as_str()).unwrap_or("unmatched");
                tracing::debug_span!("http", method = %req.method(), path)
            }),
        )
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::internal(anyhow::anyhow!("handler panicked")))
        }))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ))
}
