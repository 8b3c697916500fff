//! The assistant's tools over the user's tasks: one definition and one implementation, used
//! by the MCP server and by both agents. Every change goes through `TaskService`, so it commits
//! its event like a REST change. The user is always the caller's; a `user_id` argument, if a
//! client sends one, must be that same user.

use std::sync::Mutex;

use domain::chat::ToolCallRecord;
use domain::{Task, TaskId, TaskQuery, UpdateTaskRequest};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use web::ApiError;

use crate::tasks::TaskService;

pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

pub fn specs() -> Vec<ToolSpec> {
    let task_id = json!({"type": "integer", "description": "The task's id."});
    let user_id = json!({"type": "string", "description": "Optional; if given it must be the signed-in user's id."});
    let status =
        json!({"type": "string", "enum": ["all", "pending", "completed"], "description": "Which tasks; default all."});
    let priority = json!({"type": "string", "enum": ["low", "medium", "high"]});
    let tags = json!({"type": "array", "items": {"type": "string"},
        "description": "Up to 20 tags of 1 to 50 characters each (stored lowercase)."});
    let due_date = "An RFC 3339 timestamp (2026-12-01T17:00:00Z) or a date (2026-12-01, midnight UTC).";
    let recurrence = "daily, weekly, monthly or every N days|weeks|months (N 1 to 365), optionally followed by \
        until YYYY-MM-DD; completing the task then creates its next occurrence.";
    let remind_at = "When to email the user a reminder: an RFC 3339 timestamp or a date (midnight UTC); \
        not after the due date. Give this or remind_before_minutes, not both.";
    let remind_before = "Email the user a reminder this many minutes (1 to 43200) before the due date; \
        needs a due date, and moves with it. Give this or remind_at, not both.";
    let filters = |extra: (&str, Value)| {
        let mut properties = json!({
            "status": status,
            "tag": {"type": "string", "description": "Only tasks with this tag."},
            "priority": {"type": "string", "enum": ["low", "medium", "high"], "description": "Only tasks of this priority."},
            "due": {"type": "string", "description": "overdue: only pending tasks whose due date has passed."},
            "sort": {"type": "string", "enum": ["created", "title", "due_date", "priority"],
                "description": "created (newest first, the default), title, due_date (soonest first) or priority (high first)."},
            "user_id": user_id,
        });
        properties[extra.0] = extra.1;
        properties
    };
    vec![
        ToolSpec {
            name: "add_task",
            description: "Create a task for the user. Returns {task_id, status, title}.",
            parameters: json!({"type": "object", "properties": {
                "title": {"type": "string", "description": "1 to 200 characters."},
                "description": {"type": "string", "description": "Up to 1000 characters."},
                "priority": {"type": "string", "enum": ["low", "medium", "high"], "description": "Default medium."},
                "tags": tags,
                "due_date": {"type": "string", "description": due_date},
                "recurrence": {"type": "string", "description": recurrence},
                "remind_at": {"type": "string", "description": remind_at},
                "remind_before_minutes": {"type": "integer", "minimum": 1, "maximum": 43200, "description": remind_before},
                "user_id": user_id}, "required": ["title"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "list_tasks",
            description: "List the user's tasks, newest first unless sorted otherwise. \
                Returns [{id, title, completed, priority, tags, due_date, recurrence, remind_at, \
                remind_before_minutes}].",
            parameters: json!({"type": "object",
                "properties": filters(("q", json!({"type": "string",
                    "description": "Only tasks whose title or description contains this text (any case)."}))),
                "additionalProperties": false}),
        },
        ToolSpec {
            name: "search_tasks",
            description: "Find the user's tasks whose title or description contains the text (any case). \
                Returns [{id, title, completed, priority, tags, due_date, recurrence, remind_at, \
                remind_before_minutes}].",
            parameters: json!({"type": "object", "properties": filters(("query", json!({"type": "string"}))),
                "required": ["query"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "complete_task",
            description: "Mark a task completed (a recurring task's next occurrence is created). \
                Returns {task_id, status, title}; status is already_completed if it was.",
            parameters: json!({"type": "object", "properties": {"task_id": task_id, "user_id": user_id},
                "required": ["task_id"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "delete_task",
            description: "Delete a task. Returns {task_id, status, title}.",
            parameters: json!({"type": "object", "properties": {"task_id": task_id, "user_id": user_id},
                "required": ["task_id"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "update_task",
            description: "Change a task's title, description, priority, tags, due date, recurrence or reminder \
                (only the fields given; null clears the due date, the recurrence or the reminder). \
                Returns {task_id, status, title}.",
            parameters: json!({"type": "object", "properties": {
                "task_id": task_id, "title": {"type": "string"}, "description": {"type": "string"},
                "priority": priority,
                "tags": {"type": "array", "items": {"type": "string"}, "description": "The task's new tags, replacing the old."},
                "due_date": {"type": ["string", "null"], "description": due_date},
                "recurrence": {"type": ["string", "null"], "description": recurrence},
                "remind_at": {"type": ["string", "null"], "description": remind_at},
                "remind_before_minutes": {"type": ["integer", "null"], "minimum": 1, "maximum": 43200,
                    "description": remind_before},
                "user_id": user_id}, "required": ["task_id"], "additionalProperties": false}),
        },
    ]
}

/// A tool failure the caller should read (unknown task, invalid title, bad arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError(pub String);

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ApiError> for ToolError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(_) => ToolError("no such task (it may have been deleted)".into()),
            other => ToolError(other.to_string()),
        }
    }
}

/// The task fields a tool passes on as REST's request body carries them, so that they are read
/// and validated by the same code (`CreateTaskRequest`, `UpdateTaskRequest`).
const TASK_FIELDS: [&str; 8] = [
    "title",
    "description",
    "priority",
    "tags",
    "due_date",
    "recurrence",
    "remind_at",
    "remind_before_minutes",
];
/// The list filters a tool passes on as REST's query string carries them (`TaskQuery`).
const FILTERS: [&str; 6] = ["status", "tag", "priority", "due", "q", "sort"];

/// The tools, acting for one user.
pub struct TaskTools {
    tasks: TaskService,
    user_id: String,
}

impl TaskTools {
    pub fn new(tasks: TaskService, user_id: String) -> Self {
        Self { tasks, user_id }
    }

    pub async fn call(&self, name: &str, arguments: &Value) -> Result<Value, ToolError> {
        match name {
            "add_task" => {
                let args = self.arguments(arguments, &TASK_FIELDS)?;
                let task = self.tasks.create(&self.user_id, parse(args)?).await?;
                Ok(changed(&task, "created"))
            }
            "list_tasks" => {
                let args = self.arguments(arguments, &FILTERS)?;
                self.find(args).await
            }
            "search_tasks" => {
                let mut args = self.arguments(arguments, &["query", "status", "tag", "priority", "due", "sort"])?;
                let text = args
                    .remove("query")
                    .ok_or_else(|| ToolError("invalid arguments: missing field `query`".into()))?;
                args.insert("q".into(), text);
                self.find(args).await
            }
            "complete_task" => {
                let mut args = self.arguments(arguments, &["task_id"])?;
                let id = task_id(&mut args)?;
                let task = self.tasks.get(&self.user_id, id).await?;
                if task.completed {
                    return Ok(changed(&task, "already_completed"));
                }
                let update = UpdateTaskRequest {
                    completed: Some(true),
                    ..Default::default()
                };
                let task = self.tasks.update(&self.user_id, id, update).await?;
                Ok(changed(&task, "completed"))
            }
            "delete_task" => {
                let mut args = self.arguments(arguments, &["task_id"])?;
                let event = self.tasks.delete(&self.user_id, task_id(&mut args)?).await?;
                Ok(json!({"task_id": event.task_id, "status": "deleted", "title": event.task_data.title}))
            }
            "update_task" => {
                let mut args = self.arguments(arguments, &[&["task_id"][..], &TASK_FIELDS[..]].concat())?;
                let id = task_id(&mut args)?;
                if args.is_empty() {
                    return Err(ToolError(format!(
                        "give at least one of {} to change",
                        TASK_FIELDS.join(", ")
                    )));
                }
                let task = self.tasks.update(&self.user_id, id, parse(args)?).await?;
                Ok(changed(&task, "updated"))
            }
            other => Err(ToolError(format!("there is no tool named {other}"))),
        }
    }

    /// The arguments as an object holding only the named fields, less `user_id`, which must be
    /// the signed-in user's if given.
    fn arguments(&self, arguments: &Value, allowed: &[&str]) -> Result<Map<String, Value>, ToolError> {
        let mut arguments = match arguments {
            Value::Null => Map::new(),
            Value::Object(arguments) => arguments.clone(),
            _ => return Err(ToolError("invalid arguments: expected an object".into())),
        };
        if let Some(unknown) = arguments
            .keys()
            .find(|k| *k != "user_id" && !allowed.contains(&k.as_str()))
        {
            return Err(ToolError(format!(
                "invalid arguments: unknown field `{unknown}`, expected one of {}",
                allowed.join(", ")
            )));
        }
        match arguments.remove("user_id") {
            None | Some(Value::Null) => Ok(arguments),
            Some(Value::String(given)) if given == self.user_id => Ok(arguments),
            Some(_) => Err(ToolError(
                "user_id must be the signed-in user's id; these tools act only for the signed-in user".into(),
            )),
        }
    }

    async fn find(&self, mut filters: Map<String, Value>) -> Result<Value, ToolError> {
        // A client that sends null for a filter it does not use means no filter, as an absent
        // query parameter does.
        filters.retain(|_, value| !value.is_null());
        let query: TaskQuery = parse(filters)?;
        let tasks = self.tasks.list(&self.user_id, &query).await?;
        Ok(Value::Array(tasks.iter().map(listed).collect()))
    }
}

/// Reads the arguments as REST reads its body or query string: the same types, the same
/// messages for a bad value (an unknown priority, an invalid date or recurrence rule).
fn parse<T: DeserializeOwned>(arguments: Map<String, Value>) -> Result<T, ToolError> {
    serde_json::from_value(Value::Object(arguments)).map_err(|e| ToolError(format!("invalid arguments: {e}")))
}

fn task_id(arguments: &mut Map<String, Value>) -> Result<TaskId, ToolError> {
    let id = arguments
        .remove("task_id")
        .ok_or_else(|| ToolError("invalid arguments: missing field `task_id`".into()))?;
    serde_json::from_value(id).map_err(|e| ToolError(format!("invalid arguments: task_id: {e}")))
}

/// A task in a list: the documented `{id, title, completed}` and the fields a user sets.
fn listed(task: &Task) -> Value {
    json!({
        "id": task.id,
        "title": task.title,
        "completed": task.completed,
        "priority": task.priority,
        "tags": task.tags,
        "due_date": task.due_date,
        "recurrence": task.recurrence,
        // When the reminder goes out (also for a relative one), and its lead when relative.
        "remind_at": task.remind_at,
        "remind_before_minutes": task.remind_before_minutes,
    })
}

fn changed(task: &Task, status: &str) -> Value {
    json!({"task_id": task.id, "status": status, "title": task.title})
}

/// The tools for one chat turn: records every call for the reply and the conversation, and
/// runs a repeated identical call only once (a model that repeats a tool call within a turn
/// must not create a task twice).
pub struct TurnTools {
    tools: TaskTools,
    calls: Mutex<Vec<ToolCallRecord>>,
}

impl TurnTools {
    pub fn new(tools: TaskTools) -> Self {
        Self {
            tools,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The tool's result, or `{"error": message}` when it failed: either way something the
    /// model (or the offline agent) can read.
    pub async fn call(&self, name: &str, arguments: Value) -> Value {
        let repeated = self
            .calls
            .lock()
            .expect("tool call log")
            .iter()
            .find(|c| c.tool == name && c.arguments == arguments && is_change(name))
            .map(|c| c.result.clone());
        if let Some(result) = repeated {
            tracing::info!(
                tool = name,
                "repeated tool call within one turn answered from the first call"
            );
            return result;
        }
        let result = match self.tools.call(name, &arguments).await {
            Ok(result) => result,
            Err(e) => json!({"error": e.0}),
        };
        self.calls.lock().expect("tool call log").push(ToolCallRecord {
            tool: name.to_owned(),
            arguments,
            result: result.clone(),
        });
        result
    }

    pub fn calls(&self) -> Vec<ToolCallRecord> {
        self.calls.lock().expect("tool call log").clone()
    }
}

fn is_change(tool: &str) -> bool {
    !matches!(tool, "list_tasks" | "search_tasks")
}
