//! The tasktrail domain: accounts, tasks, their events, the audit query and chat
//! conversations, with validation.
//! Pure data and rules: no I/O, no async, no database types.

pub mod account;
pub mod audit;
pub mod chat;
pub mod clock;
pub mod event;
pub mod notification;
pub mod recurrence;
pub mod task;
pub mod validation;

pub use audit::{AuditCursor, AuditEntry, AuditFilter, AuditOrder, AuditPage};
pub use event::{EventType, TaskData, TaskEvent};
pub use task::{
    CreateTaskRequest, DueFilter, NewTask, Priority, Recurrence, Reminder, SortKey, StatusFilter, Task, TaskChanges,
    TaskCursor, TaskEdit, TaskId, TaskPageRequest, TaskQuery, UpdateTaskRequest, UserId,
};
pub use validation::ValidationError;
