//! Who gets which email, once: the consumer queues a notification per `completed` event (its
//! row is the claim, so a redelivered event queues nothing) and acknowledges at once, so an
//! SMTP outage never holds up the events' other consumers; the sender works the queue, retrying
//! temporary failures with backoff until the retry window has passed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use domain::account::Recipient;
use domain::notification::{NotificationKind, NotificationStatus};
use domain::{EventType, TaskEvent};
use events::Subscriber;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::mail::{Mailer, completion_email, reminder_email};
use crate::store::{Due, NewNotification, NotificationStore};

/// Whom to email about a user's tasks: the api's accounts, asked directly (embedded mode) or
/// through the sidecar (distributed mode). The address never travels in an event.
#[async_trait]
pub trait Recipients: Send + Sync {
    /// `None` when there is no account to email.
    async fn recipient(&self, user_id: &str) -> anyhow::Result<Option<Recipient>>;
}

#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// The UI's address, which emails link to.
    pub public_url: String,
    /// How long temporary failures are retried, from when the notification was queued; then
    /// it is recorded as failed.
    pub retry_window: Duration,
    /// False when emails go to the log (no SMTP server): recorded as `logged`, not `sent`.
    pub smtp: bool,
}

/// Longest pause between two attempts: 1 s, doubling with each attempt, up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(32);
/// How long a taken notification stays hidden from other senders: longer than any attempt
/// (an SMTP send is bounded by its own timeout), so that it is not sent twice meanwhile.
const HOLD: Duration = Duration::from_secs(300);
/// Notifications taken per round.
const BATCH: u32 = 20;
/// How many notifications of a batch are in flight at once.
const SENDS_AT_ONCE: usize = 8;
/// How often the sender looks for due work when nobody wakes it (retries come due).
const POLL: Duration = Duration::from_secs(1);

/// Queues the notifications of `completed` events; the other events are not its business.
pub struct NotifyConsumer {
    store: Arc<dyn NotificationStore>,
    queued: Arc<Notify>,
}

#[async_trait]
impl Subscriber for NotifyConsumer {
    fn name(&self) -> &'static str {
        "notify"
    }

    fn wants(&self, event_type: EventType) -> bool {
        matches!(event_type, EventType::Completed | EventType::ReminderDue)
    }

    async fn handle(&self, events: &[TaskEvent]) -> anyhow::Result<()> {
        let completed: Vec<NewNotification> = events
            .iter()
            .filter_map(|e| {
                let kind = match e.event_type {
                    EventType::Completed => NotificationKind::Completed,
                    EventType::ReminderDue => NotificationKind::Reminder,
                    _ => return None,
                };
                Some(NewNotification {
                    event_id: e.event_id,
                    kind,
                    user_id: e.user_id.clone(),
                    task_id: e.task_id,
                    task_title: e.task_data.title.clone(),
                    completed_at: e.timestamp,
                    due_date: e.task_data.due_date,
                    late: e.task_data.late == Some(true),
                })
            })
            .collect();
        if completed.is_empty() {
            return Ok(());
        }
        let new = self.store.enqueue(&completed).await?;
        if new > 0 {
            self.queued.notify_one();
        }
        Ok(())
    }
}

/// Sends queued notifications.
pub struct Sender {
    store: Arc<dyn NotificationStore>,
    recipients: Arc<dyn Recipients>,
    mailer: Arc<dyn Mailer>,
    settings: NotifySettings,
    queued: Arc<Notify>,
}

/// The consumer that queues and the sender that sends, sharing one store.
pub fn notifications(
    store: Arc<dyn NotificationStore>,
    recipients: Arc<dyn Recipients>,
    mailer: Arc<dyn Mailer>,
    settings: NotifySettings,
) -> (NotifyConsumer, Sender) {
    let queued = Arc::new(Notify::new());
    let consumer = NotifyConsumer {
        store: store.clone(),
        queued: queued.clone(),
    };
    let sender = Sender {
        store,
        recipients,
        mailer,
        settings,
        queued,
    };
    (consumer, sender)
}

/// What became of one attempt.
#[derive(Debug, PartialEq)]
enum Outcome {
    Done(NotificationStatus, String, String),
    RetryAt(DateTime<Utc>, String),
}

impl Sender {
    pub async fn run(self, stop: CancellationToken) {
        tracing::info!(mailer = %self.mailer.describe(), "notification sender started");
        while !stop.is_cancelled() {
            let worked = match self.round().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "cannot read the notification queue; retrying");
                    0
                }
            };
            if worked == 0 {
                tokio::select! {
                    _ = self.queued.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.cancelled() => {}
                }
            }
        }
        tracing::info!("notification sender stopped");
    }

    /// One batch of due notifications; returns how many. They are independent, so several are
    /// sent at once: one waiting on a slow lookup or a slow SMTP answer holds up no other.
    async fn round(&self) -> anyhow::Result<usize> {
        let now = domain::clock::now();
        let due = self.store.take_due(now, now + delta(HOLD), BATCH).await?;
        // Collected first: with the closure inside the stream, rustc cannot prove the round's
        // future `Send` ("implementation of FnOnce is not general enough").
        let work: Vec<_> = due.iter().map(|item| self.handle(item)).collect();
        futures::stream::iter(work)
            .buffer_unordered(SENDS_AT_ONCE)
            .try_for_each(|()| async { Ok(()) })
            .await?;
        Ok(due.len())
    }

    /// Attempts one notification and records the outcome.
    async fn handle(&self, item: &Due) -> anyhow::Result<()> {
        let outcome = self.attempt(item).await;
        let event_id = item.notification.event_id;
        match outcome {
            Outcome::Done(status, detail, recipient) => {
                self.store.settle(item.id, status, &detail, &recipient).await?;
                metrics::counter!("tasktrail_notifications_total", "status" => status.as_str()).increment(1);
                match status {
                    NotificationStatus::Failed => {
                        tracing::warn!(%event_id, attempts = item.attempts, detail, "notification failed")
                    }
                    _ => tracing::info!(%event_id, status = status.as_str(), detail, "notification done"),
                }
            }
            Outcome::RetryAt(at, detail) => {
                self.store.retry_at(item.id, at, &detail).await?;
                tracing::warn!(%event_id, attempts = item.attempts, retry_at = %at, detail, "notification not sent yet; will retry");
            }
        }
        Ok(())
    }

    async fn attempt(&self, item: &Due) -> Outcome {
        let n = &item.notification;
        let recipient = match self.recipients.recipient(&n.user_id).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Outcome::Done(
                    NotificationStatus::Skipped,
                    "no account with an email address".into(),
                    String::new(),
                );
            }
            Err(e) => return self.retry_or_fail(item, format!("looking up the owner failed: {e:#}")),
        };
        let email = match n.kind {
            NotificationKind::Completed if !recipient.preferences.completion_emails => {
                return Outcome::Done(
                    NotificationStatus::Skipped,
                    "completion emails are turned off".into(),
                    String::new(),
                );
            }
            NotificationKind::Completed => completion_email(
                &recipient.email,
                &recipient.name,
                &n.task_title,
                n.completed_at,
                &self.settings.public_url,
            ),
            // The user set this reminder on the task: it goes out whatever the switch says.
            NotificationKind::Reminder => reminder_email(
                &recipient.email,
                &recipient.name,
                &n.task_title,
                n.due_date,
                n.late,
                &self.settings.public_url,
            ),
        };
        match self.mailer.send(&email).await {
            Ok(()) if self.settings.smtp => Outcome::Done(NotificationStatus::Sent, String::new(), recipient.email),
            Ok(()) => Outcome::Done(
                NotificationStatus::Logged,
                "no SMTP server configured: written to the log".into(),
                recipient.email,
            ),
            Err(e) if e.is_retryable() => self.retry_or_fail(item, e.to_string()),
            Err(e) => Outcome::Done(NotificationStatus::Failed, e.to_string(), String::new()),
        }
    }

    /// A temporary failure: try again after a backoff, unless that would fall past the retry
    /// window, which then ends it as failed.
    fn retry_or_fail(&self, item: &Due, error: String) -> Outcome {
        let doublings = u32::try_from(item.attempts.saturating_sub(1)).unwrap_or(0).min(5);
        let backoff = Duration::from_secs(1 << doublings).min(MAX_BACKOFF);
        let at = domain::clock::now() + delta(backoff);
        if at > item.created_at + delta(self.settings.retry_window) {
            let window = humantime::format_duration(self.settings.retry_window);
            return Outcome::Done(
                NotificationStatus::Failed,
                format!("gave up after {} attempts in {window}: {error}", item.attempts),
                String::new(),
            );
        }
        Outcome::RetryAt(at, error)
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}
