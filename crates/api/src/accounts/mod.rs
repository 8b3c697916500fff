//! Accounts: the sign-up, login, "who am I" and preferences endpoints, thin over
//! `AccountService`.

pub mod passwords;
pub mod service;

use auth::{AuthUser, Owner};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use web::{ApiResult, ClientIp, Json};

use crate::ApiState;
use domain::account::Preferences;
use service::Session;

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthResponse {
    pub user_id: String,
    pub token: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user_id: String,
    pub email: String,
    pub name: String,
}

impl From<Session> for AuthResponse {
    fn from(session: Session) -> Self {
        Self {
            user_id: session.user_id,
            token: session.token,
        }
    }
}

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/auth/signup", post(signup))
        .route("/api/auth/login", post(login))
        .route("/api/auth/me", get(me))
        .route("/api/{user_id}/preferences", get(preferences).put(set_preferences))
}

#[utoipa::path(post, path = "/api/auth/signup", tag = "accounts", request_body = SignupRequest,
    responses((status = 201, description = "The account is created; its user id and a token", body = AuthResponse),
        (status = 400, response = crate::openapi::BadRequest), (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 409, description = "An account with this email already exists (`conflict`)", body = crate::openapi::ErrorBody),
        (status = 422, description = "Not an email address, a password under 8 or over 128 characters, a name over 100, or a body that is not a JSON object (`validation_failed`)", body = crate::openapi::ErrorBody),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 503, response = crate::openapi::Unavailable)))]
pub async fn signup(
    State(s): State<ApiState>,
    client: ClientIp,
    Json(req): Json<SignupRequest>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    let session = s
        .accounts
        .sign_up(&client.limit_key(), &req.email, req.password, req.name)
        .await?;
    Ok((StatusCode::CREATED, Json(session.into())))
}

#[utoipa::path(post, path = "/api/auth/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, description = "The user id and a token", body = AuthResponse),
        (status = 400, response = crate::openapi::BadRequest), (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 401, description = "Wrong email or password (`unauthorized`), the same answer for an unknown email", body = crate::openapi::ErrorBody),
        (status = 422, description = "The email is not an email address, or the body is not a JSON object (`validation_failed`)", body = crate::openapi::ErrorBody),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 503, response = crate::openapi::Unavailable)))]
pub async fn login(
    State(s): State<ApiState>,
    client: ClientIp,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    let session = s.accounts.log_in(&client.limit_key(), &req.email, req.password).await?;
    Ok(Json(session.into()))
}

#[utoipa::path(get, path = "/api/auth/me", tag = "accounts",
    responses((status = 200, description = "The token's user; `email` and `name` are empty for users of an external identity provider", body = Me),
        (status = 401, response = crate::openapi::Unauthorized), (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn me(caller: AuthUser, State(s): State<ApiState>) -> ApiResult<Json<Me>> {
    // Tokens of an external identity provider name users we hold no record of.
    let user = s.accounts.find(&caller.user_id).await?;
    Ok(Json(match user {
        Some(u) => Me {
            user_id: u.id,
            email: u.email,
            name: u.name,
        },
        None => Me {
            user_id: caller.user_id,
            email: String::new(),
            name: String::new(),
        },
    }))
}

#[utoipa::path(get, path = "/api/{user_id}/preferences", tag = "accounts",
    params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)")),
    responses((status = 200, description = "The user's notification preferences", body = Preferences),
        (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden),
        (status = 404, description = "No account of ours: a user of an external identity provider (`not_found`)", body = crate::openapi::ErrorBody),
        (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn preferences(owner: Owner, State(s): State<ApiState>) -> ApiResult<Json<Preferences>> {
    Ok(Json(s.accounts.preferences(&owner.user_id).await?))
}

#[utoipa::path(put, path = "/api/{user_id}/preferences", tag = "accounts", request_body = Preferences,
    params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)")),
    responses((status = 200, description = "The preferences as saved", body = Preferences),
        (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden),
        (status = 404, description = "No account of ours: a user of an external identity provider (`not_found`)", body = crate::openapi::ErrorBody),
        (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "A field missing, of the wrong type or unknown, or a body that is not a JSON object (`validation_failed`)", body = crate::openapi::ErrorBody),
        (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn set_preferences(
    owner: Owner,
    State(s): State<ApiState>,
    Json(preferences): Json<Preferences>,
) -> ApiResult<Json<Preferences>> {
    Ok(Json(s.accounts.set_preferences(&owner.user_id, preferences).await?))
}
