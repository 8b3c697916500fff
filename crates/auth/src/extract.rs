use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, RawPathParams};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use web::ApiError;

use crate::token::{AuthError, Authenticator};

/// The caller, proven by a bearer token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: String,
    /// When the token expires (Unix seconds): a long-lived response (the trail's stream) ends then.
    pub expires_at: u64,
}

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or(AuthError::Missing)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        let (user_id, expires_at) = Arc::<Authenticator>::from_ref(state).verify(token).await?;
        Ok(AuthUser { user_id, expires_at })
    }
}

/// The caller, who must be the `{user_id}` of the path: 401 without a valid token, 403 when
/// the token belongs to someone else.
#[derive(Debug, Clone)]
pub struct Owner {
    pub user_id: String,
    /// When the token expires (Unix seconds).
    pub expires_at: u64,
}

impl<S> FromRequestParts<S> for Owner
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = AuthUser::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("route"))?;
        let path_user = params
            .iter()
            .find(|(name, _)| *name == "user_id")
            .map(|(_, value)| value)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("Owner used on a route without {{user_id}}")))?;
        if path_user != caller.user_id {
            return Err(ApiError::Forbidden);
        }
        Ok(Owner {
            user_id: caller.user_id,
            expires_at: caller.expires_at,
        })
    }
}
