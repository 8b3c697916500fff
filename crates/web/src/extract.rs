//! `Json`, `Query` and `Path` extractors whose rejections answer in our error shape, never in
//! axum's plain-text default.

use std::fmt;
use std::marker::PhantomData;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use domain::validation::has_control_chars_in_text;

use crate::error::ApiError;

/// The largest request body any handler accepts.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// A JSON request body, which must be a JSON object (every body the API takes is one).
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<Object<T>>::from_request(req, state).await {
            Ok(axum::Json(Object(value))) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// `T` read only from a JSON object. serde also fills a struct from an array, in field order,
/// so `["a"]` would pass as `{"title":"a"}`: a body no client meant, silently accepted.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_map(ObjectVisitor(PhantomData)).map(Object)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::Validation(domain::ValidationError::new("body", e.body_text())),
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest {
            code: "malformed_json",
            message: e.body_text(),
        },
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("expected a body with Content-Type: application/json".into())
        }
        JsonRejection::BytesRejection(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge {
                limit_bytes: BODY_LIMIT_BYTES,
            }
        }
        other => ApiError::BadRequest {
            code: "bad_request",
            message: other.body_text(),
        },
    }
}

pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Values reach SQL as text, and PostgreSQL refuses NUL in text (a 500 after the fact).
        // Tab and line breaks stay allowed: a search may look for them in a description.
        if let Ok(axum::extract::Query(pairs)) =
            axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state).await
            && let Some((name, _)) = pairs
                .iter()
                .find(|(name, value)| has_control_chars_in_text(name) || has_control_chars_in_text(value))
        {
            return Err(ApiError::BadRequest {
                code: "invalid_query",
                message: format!("{name}: must not contain control characters"),
            });
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|rejection: QueryRejection| ApiError::BadRequest {
                code: "invalid_query",
                message: rejection.body_text(),
            })
    }
}

pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // No id holds a control character; a NUL would otherwise reach PostgreSQL and fail there.
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await
            && raw.iter().any(|(_, value)| value.chars().any(char::is_control))
        {
            return Err(ApiError::NotFound("resource"));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            // A path that does not parse (e.g. a non-numeric task id) names nothing that exists.
            .map_err(|_| ApiError::NotFound("resource"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        title: String,
        #[serde(default)]
        tags: Vec<String>,
    }

    fn read(json: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str::<Object<Body>>(json).map(|Object(b)| b)
    }

    #[test]
    fn only_an_object_fills_a_body() {
        assert_eq!(
            read(r#"{"title":"a","tags":["x"]}"#).unwrap(),
            Body {
                title: "a".into(),
                tags: vec!["x".into()]
            }
        );
        for not_an_object in [r#"["a",["x"]]"#, r#"["a"]"#, r#""a""#, "42", "null", "true"] {
            let err = read(not_an_object).unwrap_err().to_string();
            assert!(err.contains("expected a JSON object"), "{not_an_object}: {err}");
        }
        assert!(
            read(r#"{"tags":[]}"#)
                .unwrap_err()
                .to_string()
                .contains("missing field `title`")
        );
    }
}
