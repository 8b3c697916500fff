//! Sign-up, login, "who am I" and notification preferences with our own accounts: argon2id
//! password hashes, HS256 tokens, and per-minute limits on sign-ups and failed logins.

use std::sync::Arc;

use auth::Authenticator;
use domain::account::{NewAccount, PASSWORD_MAX_CHARS, Preferences, Recipient, normalise_email};
use web::{ApiError, ApiResult};

use super::passwords::Passwords;
use crate::rate_limit::RateLimiter;
use crate::store::{AccountStore, UserRecord};

/// Per-minute limits on account endpoints (configurable so that a load run can raise them).
/// Failed logins count per account *and client*, and per client: a stranger failing logins
/// on someone's email locks out only themselves, never the account's owner.
pub struct AccountLimits {
    pub signups_per_ip: RateLimiter,
    pub login_failures_per_ip: RateLimiter,
    pub login_failures_per_account_and_ip: RateLimiter,
}

impl AccountLimits {
    pub fn per_minute(signups_per_ip: u32, login_failures: u32) -> Self {
        Self {
            signups_per_ip: RateLimiter::per_minute(signups_per_ip),
            login_failures_per_ip: RateLimiter::per_minute(login_failures.saturating_mul(3)),
            login_failures_per_account_and_ip: RateLimiter::per_minute(login_failures),
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
        let signup = self.limits.signups_per_ip.take(client_ip)?;
        let account = NewAccount::parse(email, password, name)?;
        // A valid sign-up counts from here, whatever happens next.
        signup.keep();
        let user = UserRecord {
            id: uuid::Uuid::new_v4().to_string(),
            email: account.email,
            name: account.name,
            password_hash: self.passwords.hash(account.password).await?,
            created_at: domain::clock::now(),
            completion_emails: Preferences::default().completion_emails,
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
        // Also bounds the limiter's keys (an email is at most 320 bytes).
        let email = normalise_email(email)?;
        let per_ip = self.limits.login_failures_per_ip.take(client_ip)?;
        let pair = format!("{email} {client_ip}");
        let per_pair = self.limits.login_failures_per_account_and_ip.take(&pair)?;
        let user = self.store.find_user_by_email(&email).await?;
        // No account has a password that long: refuse without hashing it.
        let verified = password.chars().count() <= PASSWORD_MAX_CHARS
            && self
                .passwords
                .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
                .await?;
        let Some(user) = user.filter(|_| verified) else {
            per_ip.keep();
            per_pair.keep();
            return Err(ApiError::Unauthorized("invalid email or password".into()));
        };
        // The owner's own success clears their earlier failures from this client.
        drop(per_pair);
        self.limits.login_failures_per_account_and_ip.clear(&pair);
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

    /// The user's notification preferences; 404 for users we hold no account of (those of an
    /// external identity provider: we have no address to email them at either).
    pub async fn preferences(&self, user_id: &str) -> ApiResult<Preferences> {
        let user = self
            .store
            .find_user(user_id)
            .await?
            .ok_or(ApiError::NotFound("account"))?;
        Ok(user.preferences())
    }

    pub async fn set_preferences(&self, user_id: &str, preferences: Preferences) -> ApiResult<Preferences> {
        if !self.store.set_preferences(user_id, preferences).await? {
            return Err(ApiError::NotFound("account"));
        }
        tracing::info!(
            user_id,
            completion_emails = preferences.completion_emails,
            "preferences saved"
        );
        Ok(preferences)
    }

    /// Whom to notify about the user's tasks; `None` when we hold no account for them.
    pub async fn recipient(&self, user_id: &str) -> ApiResult<Option<Recipient>> {
        Ok(self.store.find_user(user_id).await?.map(|user| Recipient {
            preferences: user.preferences(),
            user_id: user.id,
            email: user.email,
            name: user.name,
        }))
    }
}
