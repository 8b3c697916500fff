//! Sign-up, login and "who am I" with our own accounts: argon2id password hashes, HS256
//! tokens, and per-minute limits on sign-ups and failed logins.

use std::sync::Arc;

use auth::Authenticator;
use domain::account::{NewAccount, login_email};
use web::{ApiError, ApiResult};

use super::passwords::Passwords;
use crate::rate_limit::RateLimiter;
use crate::store::{AccountStore, UserRecord};

/// Per-minute limits on account endpoints (configurable so that a load run can raise them).
pub struct AccountLimits {
    pub signups_per_ip: RateLimiter,
    pub login_failures_per_ip: RateLimiter,
    pub login_failures_per_account: RateLimiter,
}

impl AccountLimits {
    pub fn per_minute(signups_per_ip: u32, login_failures: u32) -> Self {
        Self {
            signups_per_ip: RateLimiter::per_minute(signups_per_ip),
            login_failures_per_ip: RateLimiter::per_minute(login_failures.saturating_mul(3)),
            login_failures_per_account: RateLimiter::per_minute(login_failures),
        }
    }
}

/// A signed-in user and their token.
pub struct Session {
    pub user_id: String,
    pub token: String,
}

pub struct AccountService {
    store: Arc<dyn AccountStore>,
    passwords: Passwords,
    auth: Arc<Authenticator>,
    limits: AccountLimits,
}

impl AccountService {
    pub fn new(store: Arc<dyn AccountStore>, auth: Arc<Authenticator>, limits: AccountLimits) -> Self {
        Self {
            store,
            passwords: Passwords::new(),
            auth,
            limits,
        }
    }

    /// `client_ip` is the caller's address, which the sign-up limit counts.
    pub async fn sign_up(
        &self,
        client_ip: &str,
        email: &str,
        password: String,
        name: Option<String>,
    ) -> ApiResult<Session> {
        self.limits.signups_per_ip.check(client_ip)?;
        let account = NewAccount::parse(email, password, name)?;
        self.limits.signups_per_ip.record(client_ip);
        let user = UserRecord {
            id: uuid::Uuid::new_v4().to_string(),
            email: account.email,
            name: account.name,
            password_hash: self.passwords.hash(account.password).await?,
            created_at: domain::clock::now(),
        };
        if !self.store.create_user(&user).await? {
            return Err(ApiError::Conflict("an account with this email already exists".into()));
        }
        tracing::info!(user_id = %user.id, "account created");
        Ok(Session {
            token: self.auth.issue(&user.id)?,
            user_id: user.id,
        })
    }

    pub async fn log_in(&self, client_ip: &str, email: &str, password: String) -> ApiResult<Session> {
        let email = login_email(email);
        self.limits.login_failures_per_ip.check(client_ip)?;
        self.limits.login_failures_per_account.check(&email)?;
        let user = self.store.find_user_by_email(&email).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        if !self.passwords.verify(password, hash).await? {
            self.limits.login_failures_per_ip.record(client_ip);
            self.limits.login_failures_per_account.record(&email);
            return Err(ApiError::Unauthorized("invalid email or password".into()));
        }
        let user = user.expect("a verified password belongs to a user");
        self.limits.login_failures_per_account.clear(&email);
        Ok(Session {
            token: self.auth.issue(&user.id)?,
            user_id: user.id,
        })
    }

    /// The user's account; `None` for users of an external identity provider, whose tokens
    /// name users we hold no record of.
    pub async fn find(&self, user_id: &str) -> ApiResult<Option<UserRecord>> {
        Ok(self.store.find_user(user_id).await?)
    }
}
