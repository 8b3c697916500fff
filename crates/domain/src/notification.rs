//! Notifications: the email a user gets when one of their tasks is completed or its reminder
//! is due, and the record of what became of it, which the user can read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::task::TaskId;
use crate::validation::ValidationError;

/// What became of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Not sent yet: waiting for its first try, or for a retry after a temporary failure.
    Pending,
    /// Accepted by the SMTP server.
    Sent,
    /// Written to the log instead: no SMTP server is configured.
    Logged,
    /// Not sent on purpose: the user turned completion emails off, or has no address.
    Skipped,
    /// Not sent: the server refused it, or it kept failing for the whole retry window.
    Failed,
}

impl NotificationStatus {
    pub const ALL: [NotificationStatus; 5] = [
        NotificationStatus::Pending,
        NotificationStatus::Sent,
        NotificationStatus::Logged,
        NotificationStatus::Skipped,
        NotificationStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Logged => "logged",
            NotificationStatus::Skipped => "skipped",
            NotificationStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// The task was completed (`completed` event).
    #[default]
    Completed,
    /// The task's reminder is due (`reminder.due` event).
    Reminder,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Completed => "completed",
            NotificationKind::Reminder => "reminder",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [NotificationKind::Completed, NotificationKind::Reminder]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One notification, as `GET /api/{user_id}/notifications` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub id: i64,
    /// The event it is about (`completed` or `reminder.due`): one notification per event.
    pub event_id: Uuid,
    pub kind: NotificationKind,
    pub task_id: TaskId,
    pub task_title: String,
    /// When the event happened: the completion, or the reminder going out.
    pub completed_at: DateTime<Utc>,
    /// A reminder's: the task's due date then.
    pub due_date: Option<DateTime<Utc>>,
    /// A reminder's: it went out more than a minute after its time (the service was down).
    pub late: bool,
    pub status: NotificationStatus,
    /// Why it was skipped or failed (the SMTP server's answer), or empty.
    pub detail: String,
    /// The address it was sent or logged to; empty when it was not.
    pub recipient: String,
    /// Sending attempts so far.
    pub attempts: i32,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationPage {
    /// Newest first.
    pub notifications: Vec<Notification>,
    /// Pass as `cursor` to get the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Query string of `GET /api/{user_id}/notifications`, before validation.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub const NOTIFICATIONS_DEFAULT_LIMIT: u32 = 50;
pub const NOTIFICATIONS_MAX_LIMIT: u32 = 200;

/// A validated page request: up to `limit` notifications older than `before` (an id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationFilter {
    pub limit: u32,
    pub before: Option<i64>,
}

impl NotificationFilter {
    pub fn parse(q: NotificationQuery) -> Result<Self, ValidationError> {
        let limit = q.limit.unwrap_or(NOTIFICATIONS_DEFAULT_LIMIT);
        if !(1..=NOTIFICATIONS_MAX_LIMIT).contains(&limit) {
            return Err(ValidationError::new(
                "limit",
                format!("must be between 1 and {NOTIFICATIONS_MAX_LIMIT}"),
            ));
        }
        let before = match q.cursor.as_deref() {
            None => None,
            Some(c) => Some(
                c.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| ValidationError::new("cursor", "is not a cursor this API returned"))?,
            ),
        };
        Ok(Self { limit, before })
    }

    /// The page from up to `limit + 1` rows, newest first.
    pub fn page(&self, mut rows: Vec<Notification>) -> NotificationPage {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        NotificationPage {
            next_cursor: if more {
                rows.last().map(|n| n.id.to_string())
            } else {
                None
            },
            notifications: rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors_are_checked() {
        let parse = |limit, cursor: Option<&str>| {
            NotificationFilter::parse(NotificationQuery {
                limit,
                cursor: cursor.map(str::to_owned),
            })
        };
        assert_eq!(
            parse(None, None).unwrap(),
            NotificationFilter {
                limit: 50,
                before: None
            }
        );
        assert_eq!(parse(Some(3), Some("17")).unwrap().before, Some(17));
        for bad in [
            parse(Some(0), None),
            parse(Some(201), None),
            parse(None, Some("x")),
            parse(None, Some("-1")),
        ] {
            assert!(bad.is_err());
        }
    }

    #[test]
    fn statuses_round_trip() {
        for status in NotificationStatus::ALL {
            assert_eq!(NotificationStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(NotificationStatus::parse("exploded"), None);
    }
}
