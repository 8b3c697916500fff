//! The api's public origin answers `GET /api/{user_id}/audit` by passing the request, token
//! included, to the audit service, which checks the token itself. One origin for the UI and
//! for clients, here and on Kubernetes (where the ingress may route the path directly).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use web::ApiError;

struct AuditProxy {
    http: reqwest::Client,
    base: String,
}

pub fn router(audit_url: &str) -> anyhow::Result<Router> {
    let proxy = Arc::new(AuditProxy {
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
        base: audit_url.trim_end_matches('/').to_owned(),
    });
    Ok(Router::new()
        .route("/api/{user_id}/audit", get(forward))
        .with_state(proxy))
}

async fn forward(State(proxy): State<Arc<AuditProxy>>, uri: Uri, headers: HeaderMap) -> Result<Response, ApiError> {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = proxy.http.get(format!("{}{path}", proxy.base));
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    let response = request.send().await.map_err(|e| {
        tracing::warn!(error = %e, audit = %proxy.base, "the audit service did not answer");
        ApiError::Unavailable("the audit service is unavailable; try again shortly".into())
    })?;
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let body = response
        .bytes()
        .await
        .map_err(|e| ApiError::Unavailable(format!("the audit service's answer broke off: {e}")))?;
    let mut answer = (status, body).into_response();
    if let Some(content_type) = content_type {
        answer.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    Ok(answer)
}
