use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::event::EventType;
pub use crate::recurrence::Recurrence;
use crate::validation::{self, ValidationError};

/// Task ids are the database's INTEGER serial, as in the customer's `audit_log.task_id INTEGER`.
pub type TaskId = i32;
/// User ids are opaque strings: our own accounts use UUIDs, an external identity provider may not.
pub type UserId = String;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "low" => Some(Priority::Low),
            "medium" => Some(Priority::Medium),
            "high" => Some(Priority::High),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub id: TaskId,
    pub user_id: UserId,
    pub title: String,
    pub description: String,
    pub completed: bool,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub due_date: Option<DateTime<Utc>>,
    /// The rule that makes the next occurrence when this one is completed (module `recurrence`).
    #[schema(value_type = Option<String>, example = "every 2 weeks until 2027-03-01")]
    pub recurrence: Option<Recurrence>,
    /// The earlier occurrence this task was made from, when it is one of a recurring series.
    pub continues: Option<TaskId>,
    /// The occurrence made when this one was completed: made once, whatever happens next.
    pub continued_by: Option<TaskId>,
    /// When its owner is emailed a reminder (set directly, or `remind_before_minutes` before
    /// the due date); never after the due date.
    pub remind_at: Option<DateTime<Utc>>,
    /// Set when the reminder is relative to the due date: it moves with the due date.
    pub remind_before_minutes: Option<u32>,
    /// When the reminder went out; cleared when its time changes, so a moved reminder goes out
    /// again.
    pub reminded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/{user_id}/tasks`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CreateTaskRequest {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "due_date")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_date: Option<DateTime<Utc>>,
    /// daily, weekly, monthly or every N days|weeks|months, optionally `until YYYY-MM-DD`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "weekly")]
    pub recurrence: Option<Recurrence>,
    /// When to email a reminder: RFC 3339 or `YYYY-MM-DD`; not after the due date.
    #[serde(default, deserialize_with = "due_date")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub remind_at: Option<DateTime<Utc>>,
    /// Or: this many minutes before the due date (1 to 43,200, i.e. 30 days); needs a due date.
    #[serde(default)]
    pub remind_before_minutes: Option<u32>,
}

/// Body of `PUT /api/{user_id}/tasks/{id}`: every field optional; `null` clears `due_date` and
/// `recurrence`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct UpdateTaskRequest {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub completed: Option<bool>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable_due_date")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_date: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "every 3 days")]
    pub recurrence: Option<Option<Recurrence>>,
    /// `null` clears the reminder.
    #[serde(default, deserialize_with = "nullable_due_date")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub remind_at: Option<Option<DateTime<Utc>>>,
    /// `null` clears the reminder.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub remind_before_minutes: Option<Option<u32>>,
}

/// When a task's reminder goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reminder {
    At(DateTime<Utc>),
    /// Minutes before the due date.
    Before(u32),
}

/// Longest lead of a relative reminder: 30 days.
const MAX_REMIND_BEFORE_MINUTES: u32 = 30 * 24 * 60;

impl Reminder {
    /// The reminder a request asks for: `Some(None)` clears it; one form at a time.
    fn from_request(
        at: Option<Option<DateTime<Utc>>>,
        before: Option<Option<u32>>,
    ) -> Result<Option<Option<Self>>, ValidationError> {
        match (at, before) {
            (Some(Some(_)), Some(Some(_))) => Err(ValidationError::new(
                "remind_at",
                "give remind_at or remind_before_minutes, not both",
            )),
            (Some(Some(at)), _) => Ok(Some(Some(Reminder::At(at)))),
            (_, Some(Some(minutes))) => {
                if !(1..=MAX_REMIND_BEFORE_MINUTES).contains(&minutes) {
                    return Err(ValidationError::new(
                        "remind_before_minutes",
                        "must be 1 to 43200 (30 days)",
                    ));
                }
                Ok(Some(Some(Reminder::Before(minutes))))
            }
            (Some(None), _) | (_, Some(None)) => Ok(Some(None)),
            (None, None) => Ok(None),
        }
    }
}

/// A validated new task.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub due_date: Option<DateTime<Utc>>,
    pub recurrence: Option<Recurrence>,
    pub reminder: Option<Reminder>,
}

impl NewTask {
    pub fn parse(req: CreateTaskRequest) -> Result<Self, ValidationError> {
        let reminder = Reminder::from_request(req.remind_at.map(Some), req.remind_before_minutes.map(Some))?.flatten();
        let new = Self {
            title: validation::title(&req.title)?,
            description: validation::description(req.description.as_deref().unwrap_or(""))?,
            priority: req.priority.unwrap_or_default(),
            tags: validation::tags(req.tags.as_deref().unwrap_or(&[]))?,
            due_date: req.due_date,
            recurrence: until_not_before_due(req.recurrence, req.due_date)?,
            reminder,
        };
        reminder_time(new.reminder, new.due_date)?;
        Ok(new)
    }

    /// When the reminder goes out: `remind_at` and `remind_before_minutes` as stored.
    pub fn reminder_columns(&self) -> Result<(Option<DateTime<Utc>>, Option<u32>), ValidationError> {
        let before = match self.reminder {
            Some(Reminder::Before(minutes)) => Some(minutes),
            _ => None,
        };
        Ok((reminder_time(self.reminder, self.due_date)?, before))
    }

    /// The task as it will be stored, once the database has given it an id.
    pub fn into_task(self, id: TaskId, user_id: UserId, now: DateTime<Utc>) -> Task {
        Task {
            id,
            user_id,
            title: self.title,
            description: self.description,
            completed: false,
            priority: self.priority,
            tags: self.tags,
            due_date: self.due_date,
            recurrence: self.recurrence,
            continues: None,
            continued_by: None,
            remind_at: reminder_time(self.reminder, self.due_date).ok().flatten(),
            remind_before_minutes: match self.reminder {
                Some(Reminder::Before(minutes)) => Some(minutes),
                _ => None,
            },
            reminded_at: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A series whose last day comes before its first occurrence is due is a mistake.
fn until_not_before_due(
    recurrence: Option<Recurrence>,
    due_date: Option<DateTime<Utc>>,
) -> Result<Option<Recurrence>, ValidationError> {
    if let (Some(Recurrence { until: Some(until), .. }), Some(due)) = (recurrence, due_date)
        && until < due.date_naive()
    {
        return Err(ValidationError::new(
            "recurrence",
            "the until date is before the task's due date",
        ));
    }
    Ok(recurrence)
}

/// When a reminder goes out, given the due date; a reminder after the due date, or relative
/// to a due date the task does not have, is a mistake.
fn reminder_time(
    reminder: Option<Reminder>,
    due_date: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, ValidationError> {
    let at = match (reminder, due_date) {
        (None, _) => return Ok(None),
        (Some(Reminder::At(at)), _) => at,
        (Some(Reminder::Before(minutes)), Some(due)) => due - chrono::TimeDelta::minutes(i64::from(minutes)),
        (Some(Reminder::Before(_)), None) => {
            return Err(ValidationError::new(
                "remind_before_minutes",
                "needs a due date to count back from",
            ));
        }
    };
    if due_date.is_some_and(|due| at > due) {
        return Err(ValidationError::new("remind_at", "the reminder is after the due date"));
    }
    Ok(Some(at))
}

/// A validated, non-empty set of changes to a task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub completed: Option<bool>,
    pub priority: Option<Priority>,
    pub tags: Option<Vec<String>>,
    pub due_date: Option<Option<DateTime<Utc>>>,
    pub recurrence: Option<Option<Recurrence>>,
    pub reminder: Option<Option<Reminder>>,
}

impl TaskChanges {
    pub fn parse(req: UpdateTaskRequest) -> Result<Self, ValidationError> {
        let changes = Self {
            title: req.title.as_deref().map(validation::title).transpose()?,
            description: req.description.as_deref().map(validation::description).transpose()?,
            completed: req.completed,
            priority: req.priority,
            tags: req.tags.as_deref().map(validation::tags).transpose()?,
            due_date: req.due_date,
            recurrence: req.recurrence,
            reminder: Reminder::from_request(req.remind_at, req.remind_before_minutes)?,
        };
        if changes == Self::default() {
            return Err(ValidationError::new("body", "give at least one field to change"));
        }
        Ok(changes)
    }

    /// Changes that only flip completion: what `PATCH .../complete` does.
    pub fn toggle_completion(task: &Task) -> Self {
        Self {
            completed: Some(!task.completed),
            ..Self::default()
        }
    }
}

/// What a caller asks to do to an existing task.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskEdit {
    Change(TaskChanges),
    /// `PATCH .../complete`: flip `completed`.
    ToggleCompleted,
}

impl Task {
    /// The occurrence that follows this one, now completed at `completed_at`: the same task
    /// due one interval on. `None` when it does not recur, or its series has ended, or its
    /// next occurrence was made already (a completion undone and done again makes no second).
    pub fn next_occurrence(&self, completed_at: DateTime<Utc>) -> Option<NewTask> {
        if self.continued_by.is_some() {
            return None;
        }
        let recurrence = self.recurrence?;
        let next_due = recurrence.next_due(self.due_date, completed_at)?;
        Some(NewTask {
            title: self.title.clone(),
            description: self.description.clone(),
            priority: self.priority,
            tags: self.tags.clone(),
            due_date: Some(next_due),
            recurrence: Some(recurrence),
            // The reminder keeps its lead on the due date.
            reminder: match (self.remind_before_minutes, self.remind_at, self.due_date) {
                (Some(minutes), _, _) => Some(Reminder::Before(minutes)),
                (None, Some(at), Some(due)) => Some(Reminder::At(next_due - (due - at))),
                _ => None,
            },
        })
    }

    /// Applies an edit and says which event it makes; a reminder the edit would leave after
    /// the due date is refused.
    pub fn edit(&mut self, edit: TaskEdit, now: DateTime<Utc>) -> Result<EventType, ValidationError> {
        let changes = match edit {
            TaskEdit::Change(changes) => changes,
            TaskEdit::ToggleCompleted => TaskChanges::toggle_completion(self),
        };
        self.apply(changes, now)
    }

    /// Applies the changes and says which event they make: `completed` when the task turns
    /// completed, `updated` for anything else (including reopening).
    pub fn apply(&mut self, changes: TaskChanges, now: DateTime<Utc>) -> Result<EventType, ValidationError> {
        let becomes_completed = changes.completed == Some(true) && !self.completed;
        if let Some(title) = changes.title {
            self.title = title;
        }
        if let Some(description) = changes.description {
            self.description = description;
        }
        if let Some(completed) = changes.completed {
            self.completed = completed;
        }
        if let Some(priority) = changes.priority {
            self.priority = priority;
        }
        if let Some(tags) = changes.tags {
            self.tags = tags;
        }
        if let Some(due_date) = changes.due_date {
            self.due_date = due_date;
        }
        if let Some(recurrence) = changes.recurrence {
            self.recurrence = until_not_before_due(recurrence, self.due_date)?;
        }
        self.settle_reminder(changes.reminder)?;
        self.updated_at = now;
        Ok(if becomes_completed {
            EventType::Completed
        } else {
            EventType::Updated
        })
    }

    /// The reminder after a change: the one asked for, or the one it had (a relative one moves
    /// with the due date, and goes when the due date does). A changed time goes out again.
    fn settle_reminder(&mut self, change: Option<Option<Reminder>>) -> Result<(), ValidationError> {
        let reminder = match change {
            Some(reminder) => reminder,
            None => match (self.remind_before_minutes, self.remind_at) {
                (Some(_), _) if self.due_date.is_none() => None,
                (Some(minutes), _) => Some(Reminder::Before(minutes)),
                (None, Some(at)) => Some(Reminder::At(at)),
                (None, None) => None,
            },
        };
        let at = reminder_time(reminder, self.due_date)?;
        if at != self.remind_at {
            self.reminded_at = None;
        }
        self.remind_at = at;
        self.remind_before_minutes = match reminder {
            Some(Reminder::Before(minutes)) => Some(minutes),
            _ => None,
        };
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    #[default]
    All,
    Pending,
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// Newest first.
    #[default]
    Created,
    Title,
    /// Soonest first, tasks without a due date last.
    DueDate,
    /// High first.
    Priority,
}

/// Query of `GET /api/{user_id}/tasks`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct TaskQuery {
    #[serde(default)]
    pub status: StatusFilter,
    #[serde(default)]
    pub sort: SortKey,
    /// Case-insensitive substring of the title or description.
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub priority: Option<Priority>,
    /// `overdue`: pending tasks whose due date has passed.
    #[serde(default)]
    pub due: Option<DueFilter>,
    /// Tasks per page, 1 to `TASK_PAGE_MAX` (default `TASK_PAGE_MAX`, so a client that never
    /// pages gets what it got before cursors existed).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Where the page starts: the previous page's `X-Next-Cursor`, for the same sort.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Most tasks one page holds, and the page size when `limit` is absent.
pub const TASK_PAGE_MAX: u32 = 1000;

/// One page of a task list: how many, and after which task (none: from the start).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPageRequest {
    pub limit: u32,
    pub after: Option<TaskCursor>,
}

/// Keyset position in a task list: the sort values of the last task of a page and its id, so
/// the next page starts right after it however many tasks were added or removed meanwhile.
/// Opaque to clients (hex of a small JSON object); valid for the sort it was made in only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskCursor {
    #[serde(rename = "s")]
    pub sort: SortKey,
    pub id: TaskId,
    /// `created` and `priority`: the creation time; `due_date`: the due date (none: undated).
    #[serde(rename = "at", default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// `title`: the title (the store compares it as the database lower-cases it).
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `priority`: the priority.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
}

impl TaskCursor {
    /// The position right after `task` in a list sorted by `sort`.
    pub fn after(task: &Task, sort: SortKey) -> Self {
        let mut cursor = Self {
            sort,
            id: task.id,
            at: None,
            title: None,
            priority: None,
        };
        match sort {
            SortKey::Created => cursor.at = Some(task.created_at),
            SortKey::Title => cursor.title = Some(task.title.clone()),
            SortKey::DueDate => cursor.at = task.due_date,
            SortKey::Priority => {
                cursor.at = Some(task.created_at);
                cursor.priority = Some(task.priority);
            }
        }
        cursor
    }

    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a cursor serializes");
        json.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A cursor this API made for `sort`; anything else (another sort's, an edited or made-up
    /// one) is refused rather than guessed at.
    pub fn decode(s: &str, sort: SortKey) -> Result<Self, ValidationError> {
        let bad = |why: &str| ValidationError::new("cursor", format!("is not a cursor this API returned {why}"));
        // A title is at most 200 characters: any real cursor is far shorter.
        if s.len() > 4096 || !s.len().is_multiple_of(2) {
            return Err(bad("(malformed)"));
        }
        let bytes = (0..s.len())
            .step_by(2)
            .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| bad("(malformed)"))?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| bad("(malformed)"))?;
        if cursor.sort != sort {
            return Err(bad("for this sort (a cursor continues the sort it came from)"));
        }
        let complete = match sort {
            SortKey::Created => cursor.at.is_some() && cursor.title.is_none() && cursor.priority.is_none(),
            SortKey::Title => cursor.at.is_none() && cursor.title.is_some() && cursor.priority.is_none(),
            SortKey::DueDate => cursor.title.is_none() && cursor.priority.is_none(),
            SortKey::Priority => cursor.at.is_some() && cursor.title.is_none() && cursor.priority.is_some(),
        };
        if !complete {
            return Err(bad("(malformed)"));
        }
        if let Some(title) = &cursor.title {
            validation::reject_control_chars_in_text("cursor", title)?;
        }
        Ok(cursor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DueFilter {
    Overdue,
}

impl TaskQuery {
    /// The search text and tag reach SQL, where PostgreSQL refuses NUL: refused here instead,
    /// whoever built the query (the REST query string, or a chat or MCP tool's arguments).
    pub fn check(&self) -> Result<(), ValidationError> {
        if let Some(q) = &self.q {
            validation::reject_control_chars_in_text("q", q)?;
        }
        if let Some(tag) = &self.tag {
            validation::reject_control_chars_in_text("tag", tag)?;
        }
        self.page()?;
        Ok(())
    }

    /// The page asked for: `limit` in bounds, `cursor` one of this sort's.
    pub fn page(&self) -> Result<TaskPageRequest, ValidationError> {
        let limit = match self.limit {
            None => TASK_PAGE_MAX,
            Some(n) if (1..=i64::from(TASK_PAGE_MAX)).contains(&n) => n as u32,
            Some(n) => {
                return Err(ValidationError::new(
                    "limit",
                    format!("must be between 1 and {TASK_PAGE_MAX}, got {n}"),
                ));
            }
        };
        let after = self
            .cursor
            .as_deref()
            .map(|c| TaskCursor::decode(c, self.sort))
            .transpose()?;
        Ok(TaskPageRequest { limit, after })
    }
}

/// Accepts an RFC 3339 timestamp or a plain `YYYY-MM-DD` date (midnight UTC).
fn parse_due_date(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        .map_err(|_| format!("due_date must be an RFC 3339 timestamp or YYYY-MM-DD, got {s:?}"))
}

fn due_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| parse_due_date(&s).map_err(serde::de::Error::custom))
        .transpose()
}

fn nullable_due_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<DateTime<Utc>>>, D::Error> {
    due_date(d).map(Some)
}

/// Present-and-null becomes `Some(None)`; absent stays `None` through `#[serde(default)]`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        NewTask::parse(CreateTaskRequest {
            title: "buy milk".into(),
            ..Default::default()
        })
        .unwrap()
        .into_task(1, "u1".into(), crate::clock::now())
    }

    #[test]
    fn completing_makes_a_completed_event_and_reopening_an_updated_one() {
        let mut t = task();
        let now = crate::clock::now();
        assert_eq!(
            t.apply(TaskChanges::toggle_completion(&t), now).unwrap(),
            EventType::Completed
        );
        assert!(t.completed);
        assert_eq!(
            t.apply(TaskChanges::toggle_completion(&t), now).unwrap(),
            EventType::Updated
        );
        assert!(!t.completed);
    }

    #[test]
    fn completing_an_already_completed_task_is_an_update() {
        let mut t = task();
        t.completed = true;
        let changes = TaskChanges {
            completed: Some(true),
            ..Default::default()
        };
        assert_eq!(t.apply(changes, crate::clock::now()).unwrap(), EventType::Updated);
    }

    #[test]
    fn an_empty_update_is_rejected() {
        assert!(TaskChanges::parse(UpdateTaskRequest::default()).is_err());
    }

    #[test]
    fn a_search_with_control_characters_is_refused() {
        let query = |q: &str, tag: &str| TaskQuery {
            q: Some(q.into()),
            tag: Some(tag.into()),
            ..Default::default()
        };
        assert!(query("milk\tand\neggs", "home").check().is_ok());
        assert_eq!(query("milk\0", "home").check().unwrap_err().field, "q");
        assert_eq!(query("milk", "\u{1b}").check().unwrap_err().field, "tag");
    }

    #[test]
    fn a_cursor_reads_back_for_its_own_sort_only() {
        let mut t = task();
        t.due_date = Some(crate::clock::now());
        for sort in [SortKey::Created, SortKey::Title, SortKey::DueDate, SortKey::Priority] {
            let cursor = TaskCursor::after(&t, sort);
            assert_eq!(TaskCursor::decode(&cursor.encode(), sort).unwrap(), cursor);
            let other = if sort == SortKey::Title {
                SortKey::Created
            } else {
                SortKey::Title
            };
            assert_eq!(TaskCursor::decode(&cursor.encode(), other).unwrap_err().field, "cursor");
        }
        for forged in ["", "zz", "7b7d", "abc", &"61".repeat(3000)] {
            assert_eq!(
                TaskCursor::decode(forged, SortKey::Created).unwrap_err().field,
                "cursor"
            );
        }
    }

    #[test]
    fn null_clears_due_date_but_absence_keeps_it() {
        let req: UpdateTaskRequest = serde_json::from_str(r#"{"due_date":null}"#).unwrap();
        assert_eq!(req.due_date, Some(None));
        let req: UpdateTaskRequest = serde_json::from_str(r#"{"title":"x"}"#).unwrap();
        assert_eq!(req.due_date, None);
        let req: UpdateTaskRequest = serde_json::from_str(r#"{"due_date":"2026-12-01"}"#).unwrap();
        assert_eq!(req.due_date.unwrap().unwrap().to_rfc3339(), "2026-12-01T00:00:00+00:00");
    }
}
