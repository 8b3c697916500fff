//! The web UI's files, embedded in the binary so that `cargo run` serves them with no build step,
//! and the API reference page (`/docs`: Redoc, vendored under web/vendor/redoc, rendering the
//! OpenAPI document at /api/docs).

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../web"]
struct Assets;

pub fn router() -> Router {
    Router::new()
        .route("/", get(|| serve("index.html")))
        .route("/docs", get(api_reference))
        .route("/ui/{*path}", get(|Path(path): Path<String>| serve_owned(path)))
}

async fn serve_owned(path: String) -> Response {
    serve(&path).await
}

async fn serve(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => {
            let mime = file.metadata.mimetype().to_owned();
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, "no-cache".to_owned()),
                ],
                Body::from(file.data),
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, web::ApiError::NotFound("file")).into_response(),
    }
}

const NONCE_PLACEHOLDER: &str = "{{CSP_NONCE}}";

/// The API reference page. Redoc styles itself with `<style>` elements it writes at run time, so
/// this page's CSP (which replaces the service-wide one) allows styles carrying a fresh nonce per
/// response, instead of 'unsafe-inline'; scripts stay 'self' only. `font-src data:` is for the
/// icon font Redoc inlines. Its "API docs by" logo comes from a CDN and is refused by img-src,
/// which Redoc handles by showing no logo.
async fn api_reference() -> Response {
    let Some(file) = Assets::get("docs.html") else {
        return (StatusCode::NOT_FOUND, web::ApiError::NotFound("file")).into_response();
    };
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let page = String::from_utf8_lossy(&file.data).replace(NONCE_PLACEHOLDER, &nonce);
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    let csp = HeaderValue::from_str(&csp).expect("a uuid's hex digits are a valid header value");
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        page,
    )
        .into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
    response
}
