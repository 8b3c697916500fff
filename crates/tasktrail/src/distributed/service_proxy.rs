//! The api's public origin answers `GET /api/{user_id}/audit` and
//! `GET /api/{user_id}/notifications` by passing the request, token included, to the audit or
//! notification service, which checks the token itself. One origin for the UI and for clients.
//! The service's URL is the service itself (the local stack) or Dapr service invocation through
//! the api's own sidecar (`http://127.0.0.1:3500/v1.0/invoke/audit/method`, the Helm chart),
//! where the service needs no Service and no open port of its own. The trail's stream
//! (`/api/{user_id}/audit/stream`) is passed on as it comes, until the api closes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use web::ApiError;

struct ServiceProxy {
    http: reqwest::Client,
    /// What users are told is unavailable, e.g. "the audit service".
    service: &'static str,
    base: String,
    /// Set for a stream: its successful answers are passed on as they come, until this.
    stream_until: Option<CancellationToken>,
}

/// Passes `GET route` on to the service at `base`.
pub fn router(route: &str, service: &'static str, base: &str) -> anyhow::Result<Router> {
    let proxy = Arc::new(ServiceProxy {
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
        service,
        base: base.trim_end_matches('/').to_owned(),
        stream_until: None,
    });
    Ok(Router::new().route(route, get(forward)).with_state(proxy))
}

/// Passes `GET route`, a stream that does not end by itself, on to the service at `base`; it
/// ends when `closing` is cancelled (the api shuts down), or when the service goes quiet for
/// longer than its heartbeat allows.
pub fn streaming_router(
    route: &str,
    service: &'static str,
    base: &str,
    closing: CancellationToken,
) -> anyhow::Result<Router> {
    let proxy = Arc::new(ServiceProxy {
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Three missed heartbeats (15 s each): the service is gone.
            .read_timeout(Duration::from_secs(45))
            .build()?,
        service,
        base: base.trim_end_matches('/').to_owned(),
        stream_until: Some(closing),
    });
    Ok(Router::new().route(route, get(forward)).with_state(proxy))
}

async fn forward(State(proxy): State<Arc<ServiceProxy>>, uri: Uri, headers: HeaderMap) -> Result<Response, ApiError> {
    let unavailable = || ApiError::Unavailable(format!("{} is unavailable; try again shortly", proxy.service));
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = proxy.http.get(format!("{}{path}", proxy.base));
    for name in [
        header::AUTHORIZATION,
        header::ACCEPT,
        header::HeaderName::from_static("last-event-id"),
    ] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.map_err(|e| {
        tracing::warn!(error = %e, service = proxy.service, url = %proxy.base, "the service did not answer");
        unavailable()
    })?;
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    if let (Some(closing), true) = (&proxy.stream_until, status.is_success()) {
        let closing = closing.clone();
        let body = Body::from_stream(response.bytes_stream().take_until(closing.cancelled_owned()));
        let mut answer = (status, body).into_response();
        if let Some(content_type) = content_type {
            answer.headers_mut().insert(header::CONTENT_TYPE, content_type);
        }
        return Ok(answer);
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| ApiError::Unavailable(format!("{}'s answer broke off: {e}", proxy.service)))?;
    if status.is_server_error() && !is_our_error(&body) {
        // Not the service's own answer: a sidecar that could not reach it (Dapr answers 500
        // with `{"errorCode":"ERR_DIRECT_INVOKE",...}`) or a proxy in between.
        tracing::warn!(%status, service = proxy.service, url = %proxy.base,
            answer = %String::from_utf8_lossy(&body[..body.len().min(512)]), "the service could not be reached");
        return Err(unavailable());
    }
    let mut answer = (status, body).into_response();
    if let Some(content_type) = content_type {
        answer.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    Ok(answer)
}

/// Whether a body is in the error shape every tasktrail service answers with.
fn is_our_error(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v["error"]["code"].is_string() && v["error"]["message"].is_string())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use http_body_util::BodyExt;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    /// An upstream on loopback that answers every request with `status` and `body`.
    async fn upstream(status: StatusCode, body: Value) -> String {
        let app = axum::Router::new().fallback(get(move || async move { (status, axum::Json(body)) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/v1.0/invoke/audit/method")
    }

    async fn ask(base: &str) -> (StatusCode, Value) {
        let response = super::router("/api/{user_id}/audit", "the audit service", base)
            .unwrap()
            .oneshot(
                Request::builder()
                    .uri("/api/u1/audit?limit=5")
                    .header("authorization", "Bearer t")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn a_sidecar_that_cannot_reach_the_audit_service_means_unavailable() {
        let dapr_error = json!({"errorCode": "ERR_DIRECT_INVOKE", "message": "failed to invoke, id: audit"});
        let (status, body) = ask(&upstream(StatusCode::INTERNAL_SERVER_ERROR, dapr_error).await).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
        );
    }

    #[tokio::test]
    async fn the_audit_services_own_answers_pass_unchanged() {
        for (status, body) in [
            (StatusCode::OK, json!({"events": [], "next_cursor": null})),
            (
                StatusCode::FORBIDDEN,
                json!({"error": {"code": "forbidden", "message": "not yours"}}),
            ),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": {"code": "unavailable", "message": "db down"}}),
            ),
        ] {
            assert_eq!(ask(&upstream(status, body.clone()).await).await, (status, body));
        }
    }
}
