//! Sign-up and login with our own accounts: argon2id password hashes, HS256 tokens.

use std::net::SocketAddr;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use auth::AuthUser;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use domain::ValidationError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use web::{ApiError, ApiResult, Json};

use crate::ApiState;
use crate::store::UserRecord;

pub const PASSWORD_MIN_CHARS: usize = 8;
/// Bounds the work one login can ask of argon2.
pub const PASSWORD_MAX_CHARS: usize = 128;

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

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/auth/signup", post(signup))
        .route("/api/auth/login", post(login))
        .route("/api/auth/me", get(me))
}

fn normalise_email(raw: &str) -> Result<String, ValidationError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 320
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(ValidationError::new(
            "email",
            "must be an email address like name@example.com",
        ));
    }
    Ok(email)
}

fn check_password(password: &str) -> Result<(), ValidationError> {
    let chars = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        return Err(ValidationError::new(
            "password",
            format!("must hold {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Runs argon2 work (19 MiB and tens of milliseconds per hash) on a fixed set of threads, one
/// per core. A burst of sign-ups or logins queues here instead of starving requests of CPU; and
/// since each thread reuses its own allocator arena, memory stays at about 19 MiB per thread
/// (on tokio's blocking pool, every new thread kept another 19 MiB arena: 1 GB after 1,000
/// sign-ups).
async fn on_argon2_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    type Job = Box<dyn FnOnce() + Send>;
    static JOBS: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> = std::sync::OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel::<Job>();
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        for i in 0..std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match receiver.lock().expect("argon2 queue lock").recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        job();
                    }
                })
                .expect("spawn an argon2 thread");
        }
        std::sync::Mutex::new(sender)
    });
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(work());
    });
    jobs.lock()
        .expect("argon2 queue lock")
        .send(job)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("argon2 threads are gone")))?;
    result.await.map_err(ApiError::internal)
}

async fn hash_password(password: String) -> ApiResult<String> {
    on_argon2_thread(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await?
    .map_err(ApiError::Internal)
}

/// Verifies in constant work whether or not the user exists, so timing does not reveal accounts.
async fn verify_password(password: String, hash: Option<String>) -> ApiResult<bool> {
    // A valid argon2id hash of a random password, checked when the email is unknown.
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$H4rJ1b9rH9cAAvG2w0kp0nC0m+9cV0R8KzYt4g9B6kI";
    on_argon2_thread(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY.to_owned());
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok();
        known && ok
    })
    .await
}

#[utoipa::path(post, path = "/api/auth/signup", tag = "accounts", request_body = SignupRequest,
    responses((status = 201, body = AuthResponse), (status = 409), (status = 422), (status = 429)))]
pub async fn signup(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<SignupRequest>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    let ip = peer.ip().to_string();
    s.limits.signups_per_ip.check(&ip)?;
    let email = normalise_email(&req.email)?;
    check_password(&req.password)?;
    let name = req.name.unwrap_or_default().trim().to_owned();
    if name.chars().count() > 100 {
        return Err(ValidationError::new("name", "must be at most 100 characters").into());
    }
    s.limits.signups_per_ip.record(&ip);
    let user = UserRecord {
        id: uuid::Uuid::new_v4().to_string(),
        email,
        name,
        password_hash: hash_password(req.password).await?,
        created_at: domain::clock::now(),
    };
    if !s.store.create_user(&user).await? {
        return Err(ApiError::Conflict("an account with this email already exists".into()));
    }
    tracing::info!(user_id = %user.id, "account created");
    let token = s.auth.issue(&user.id)?;
    Ok((
        StatusCode::CREATED,
        Json(AuthResponse {
            user_id: user.id,
            token,
        }),
    ))
}

#[utoipa::path(post, path = "/api/auth/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), (status = 401), (status = 429)))]
pub async fn login(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    let ip = peer.ip().to_string();
    let email = req.email.trim().to_lowercase();
    s.limits.login_failures_per_ip.check(&ip)?;
    s.limits.login_failures_per_account.check(&email)?;
    let user = s.store.find_user_by_email(&email).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    if !verify_password(req.password, hash).await? {
        s.limits.login_failures_per_ip.record(&ip);
        s.limits.login_failures_per_account.record(&email);
        return Err(ApiError::Unauthorized("invalid email or password".into()));
    }
    let user = user.expect("verified users exist");
    s.limits.login_failures_per_account.clear(&email);
    let token = s.auth.issue(&user.id)?;
    Ok(Json(AuthResponse {
        user_id: user.id,
        token,
    }))
}

#[utoipa::path(get, path = "/api/auth/me", tag = "accounts", responses((status = 200, body = Me), (status = 401)), security(("bearer" = [])))]
pub async fn me(caller: AuthUser, State(s): State<ApiState>) -> ApiResult<Json<Me>> {
    // Tokens of an external identity provider name users we hold no record of.
    let user = s.store.find_user(&caller.user_id).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(normalise_email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in ["", "ada", "@example.com", "ada@", "ada@example", "a da@example.com"] {
            assert!(normalise_email(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[tokio::test]
    async fn the_dummy_hash_is_a_valid_argon2_hash_that_never_verifies() {
        assert!(
            argon2::password_hash::phc::PasswordHash::new(
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$H4rJ1b9rH9cAAvG2w0kp0nC0m+9cV0R8KzYt4g9B6kI"
            )
            .is_ok()
        );
        assert!(!verify_password("password1".into(), None).await.unwrap());
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(
            verify_password("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong horse".into(), Some(hash)).await.unwrap());
    }
}
