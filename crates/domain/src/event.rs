use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::task::{Priority, Task, TaskId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Created,
    Updated,
    Completed,
    Deleted,
    /// A task's reminder is due: not a change to the task, so it travels on the `reminders`
    /// topic, not `task-events`, and is not in the audit trail.
    #[serde(rename = "reminder.due")]
    ReminderDue,
}

impl EventType {
    /// The changes to a task: what `task-events` carries and the audit trail records.
    pub const ALL: [EventType; 4] = [
        EventType::Created,
        EventType::Updated,
        EventType::Completed,
        EventType::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Created => "created",
            EventType::Updated => "updated",
            EventType::Completed => "completed",
            EventType::Deleted => "deleted",
            EventType::ReminderDue => "reminder.due",
        }
    }

    /// Whether it is a change to a task (`task-events`), rather than a reminder (`reminders`).
    pub fn is_task_change(self) -> bool {
        self != EventType::ReminderDue
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The customer's event schema, exactly; `task_data` carries our extra fields after the three
/// the schema names, among them the user's event number `sequence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskEvent {
    pub event_id: Uuid,
    pub event_type: EventType,
    /// Commit time of the change, UTC.
    pub timestamp: DateTime<Utc>,
    pub user_id: UserId,
    pub task_id: TaskId,
    pub task_data: TaskData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskData {
    pub title: String,
    pub description: String,
    pub completed: bool,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub due_date: Option<DateTime<Utc>>,
    /// The rule's text: consumers keep it as it came (a rule this version cannot read is no
    /// reason to refuse the event).
    #[serde(default)]
    pub recurrence: Option<String>,
    /// On a recurring series' new occurrence (`created`): the task it continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continues: Option<TaskId>,
    /// The user's event number: 1 for their first change, then 2, 3... in commit order, with
    /// no gaps. Consumers use it to see order and gaps; events written before the numbering
    /// existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
    /// On `reminder.due`: the time the reminder was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_at: Option<DateTime<Utc>>,
    /// On `reminder.due`: true when it goes out more than a minute after its time (the service
    /// was down then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late: Option<bool>,
}

impl TaskEvent {
    /// The event for a change that leaves `task` in this state (for `deleted`: its last state),
    /// the user's `sequence`th.
    pub fn record(event_type: EventType, task: &Task, timestamp: DateTime<Utc>, sequence: i64) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            event_type,
            timestamp,
            user_id: task.user_id.clone(),
            task_id: task.id,
            task_data: TaskData {
                title: task.title.clone(),
                description: task.description.clone(),
                completed: task.completed,
                priority: task.priority,
                tags: task.tags.clone(),
                due_date: task.due_date,
                recurrence: task.recurrence.map(|r| r.to_string()),
                continues: task.continues,
                sequence: Some(sequence),
                remind_at: None,
                late: None,
            },
        }
    }

    /// The `reminder.due` event of `task`, whose reminder goes out at `now`.
    pub fn reminder(task: &Task, now: DateTime<Utc>) -> Self {
        let remind_at = task.remind_at.unwrap_or(now);
        let mut event = Self::record(EventType::ReminderDue, task, now, 0);
        event.task_data.sequence = None;
        event.task_data.remind_at = Some(remind_at);
        event.task_data.late = Some(now - remind_at > chrono::TimeDelta::minutes(1));
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_to_the_customers_schema() {
        let json = serde_json::json!({
            "event_id": "6f1c2f44-4d7e-4c3b-9a55-0d4f3b8a7e10",
            "event_type": "completed",
            "timestamp": "2026-01-30T10:00:00Z",
            "user_id": "u-1",
            "task_id": 123,
            "task_data": {"title": "t", "description": "d", "completed": true}
        });
        let event: TaskEvent = serde_json::from_value(json).unwrap();
        assert_eq!(event.event_type, EventType::Completed);
        let back = serde_json::to_value(&event).unwrap();
        assert_eq!(back["timestamp"], "2026-01-30T10:00:00Z");
        assert_eq!(back["task_id"], 123);
        assert_eq!(back["task_data"]["completed"], true);
        let keys: Vec<_> = back.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 6);
    }
}
