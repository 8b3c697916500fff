//! The web UI's files, embedded in the binary so that `cargo run` serves them with no build step.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../web"]
struct Assets;

pub fn router() -> Router {
    Router::new()
        .route("/", get(|| serve("index.html")))
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
