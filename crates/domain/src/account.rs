//! Accounts: what a sign-up must hold before anything is hashed or stored, what a user chose
//! about notifications, and what the notification service may know of a task's owner.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ValidationError;
use crate::validation::reject_control_chars;

pub const PASSWORD_MIN_CHARS: usize = 8;
/// Bounds the work one login can ask of argon2.
pub const PASSWORD_MAX_CHARS: usize = 128;
pub const NAME_MAX_CHARS: usize = 100;

/// A sign-up that passed every rule: the email normalised, the name trimmed.
#[derive(Debug)]
pub struct NewAccount {
    pub email: String,
    pub password: String,
    pub name: String,
}

impl NewAccount {
    pub fn parse(email: &str, password: String, name: Option<String>) -> Result<Self, ValidationError> {
        let email = normalise_email(email)?;
        let chars = password.chars().count();
        if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
            return Err(ValidationError::new(
                "password",
                format!("must hold {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"),
            ));
        }
        let name = name.unwrap_or_default().trim().to_owned();
        if name.chars().count() > NAME_MAX_CHARS {
            return Err(ValidationError::new(
                "name",
                format!("must be at most {NAME_MAX_CHARS} characters"),
            ));
        }
        reject_control_chars("name", &name)?;
        Ok(Self { email, password, name })
    }
}

/// The email as stored: trimmed and lower-cased, and shaped like an address.
pub fn normalise_email(raw: &str) -> Result<String, ValidationError> {
    let email = login_email(raw);
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

/// The email a login looks up: normalised as at sign-up, but never refused (an unknown
/// address is simply not found).
pub fn login_email(raw: &str) -> String {
    raw.trim().to_lowercase()
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

    #[test]
    fn names_refuse_control_characters() {
        let parse = |name: &str| NewAccount::parse("ada@example.com", "correct horse".into(), Some(name.into()));
        assert_eq!(parse("  Ada Lovelace ").unwrap().name, "Ada Lovelace");
        for bad in ["Ada\0", "Ada\nLovelace", "Ada\u{1b}[31m"] {
            assert_eq!(parse(bad).unwrap_err().field, "name", "{bad:?}");
        }
    }
}

/// What a user chose about notifications (`GET`/`PUT /api/{user_id}/preferences`). A `PUT` names
/// every field; an unknown one is refused, so a typo never looks like a saved choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// An email to the user when one of their tasks is completed. On by default.
    pub completion_emails: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            completion_emails: true,
        }
    }
}

/// What the notification service learns of a task's owner, by asking the api (it never travels
/// in an event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Recipient {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub preferences: Preferences,
}
