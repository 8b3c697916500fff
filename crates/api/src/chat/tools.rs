//! The assistant's tools over the user's tasks: one definition and one implementation, used
//! by the MCP server and by both agents. Every change goes through `TaskService`, so it commits
//! its event like a REST change. The user is always the caller's; a `user_id` argument, if a
//! client sends one, must be that same user.

use std::sync::Mutex;

use domain::chat::ToolCallRecord;
use domain::{CreateTaskRequest, StatusFilter, Task, TaskId, TaskQuery, UpdateTaskRequest};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
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
    vec![
        ToolSpec {
            name: "add_task",
            description: "Create a task for the user. Returns {task_id, status, title}.",
            parameters: json!({"type": "object", "properties": {
                "title": {"type": "string", "description": "1 to 200 characters."},
                "description": {"type": "string", "description": "Up to 1000 characters."},
                "user_id": user_id}, "required": ["title"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "list_tasks",
            description: "List the user's tasks, newest first. Returns [{id, title, completed}].",
            parameters: json!({"type": "object", "properties": {"status": status, "user_id": user_id},
                "additionalProperties": false}),
        },
        ToolSpec {
            name: "search_tasks",
            description: "Find the user's tasks whose title or description contains the text (any case). Returns [{id, title, completed}].",
            parameters: json!({"type": "object", "properties": {
                "query": {"type": "string"}, "status": status, "user_id": user_id},
                "required": ["query"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "complete_task",
            description: "Mark a task completed. Returns {task_id, status, title}; status is already_completed if it was.",
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
            description: "Change a task's title and/or description. Returns {task_id, status, title}.",
            parameters: json!({"type": "object", "properties": {
                "task_id": task_id, "title": {"type": "string"}, "description": {"type": "string"},
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddTask {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListTasks {
    #[serde(default)]
    status: Option<StatusFilter>,
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchTasks {
    query: String,
    #[serde(default)]
    status: Option<StatusFilter>,
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskRef {
    task_id: TaskId,
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateTask {
    task_id: TaskId,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
}

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
                let args: AddTask = self.arguments(arguments, |a: &AddTask| a.user_id.as_deref())?;
                let task = self
                    .tasks
                    .create(
                        &self.user_id,
                        CreateTaskRequest {
                            title: args.title,
                            description: args.description,
                            ..Default::default()
                        },
                    )
                    .await?;
                Ok(changed(&task, "created"))
            }
            "list_tasks" => {
                let args: ListTasks = self.arguments(arguments, |a: &ListTasks| a.user_id.as_deref())?;
                self.find(args.status.unwrap_or_default(), None).await
            }
            "search_tasks" => {
                let args: SearchTasks = self.arguments(arguments, |a: &SearchTasks| a.user_id.as_deref())?;
                self.find(args.status.unwrap_or_default(), Some(args.query)).await
            }
            "complete_task" => {
                let args: TaskRef = self.arguments(arguments, |a: &TaskRef| a.user_id.as_deref())?;
                let task = self.tasks.get(&self.user_id, args.task_id).await?;
                if task.completed {
                    return Ok(changed(&task, "already_completed"));
                }
                let update = UpdateTaskRequest {
                    completed: Some(true),
                    ..Default::default()
                };
                let task = self.tasks.update(&self.user_id, args.task_id, update).await?;
                Ok(changed(&task, "completed"))
            }
            "delete_task" => {
                let args: TaskRef = self.arguments(arguments, |a: &TaskRef| a.user_id.as_deref())?;
                let event = self.tasks.delete(&self.user_id, args.task_id).await?;
                Ok(json!({"task_id": event.task_id, "status": "deleted", "title": event.task_data.title}))
            }
            "update_task" => {
                let args: UpdateTask = self.arguments(arguments, |a: &UpdateTask| a.user_id.as_deref())?;
                if args.title.is_none() && args.description.is_none() {
                    return Err(ToolError("give a new title or a new description".into()));
                }
                let update = UpdateTaskRequest {
                    title: args.title,
                    description: args.description,
                    ..Default::default()
                };
                let task = self.tasks.update(&self.user_id, args.task_id, update).await?;
                Ok(changed(&task, "updated"))
            }
            other => Err(ToolError(format!("there is no tool named {other}"))),
        }
    }

    fn arguments<T: DeserializeOwned>(
        &self,
        arguments: &Value,
        user_id: impl Fn(&T) -> Option<&str>,
    ) -> Result<T, ToolError> {
        let arguments = if arguments.is_null() {
            json!({})
        } else {
            arguments.clone()
        };
        let parsed: T = serde_json::from_value(arguments).map_err(|e| ToolError(format!("invalid arguments: {e}")))?;
        match user_id(&parsed) {
            Some(given) if given != self.user_id => Err(ToolError(
                "user_id must be the signed-in user's id; these tools act only for the signed-in user".into(),
            )),
            _ => Ok(parsed),
        }
    }

    async fn find(&self, status: StatusFilter, text: Option<String>) -> Result<Value, ToolError> {
        let query = TaskQuery {
            status,
            q: text,
            ..Default::default()
        };
        let tasks = self.tasks.list(&self.user_id, &query).await?;
        Ok(Value::Array(
            tasks
                .iter()
                .map(|t| json!({"id": t.id, "title": t.title, "completed": t.completed}))
                .collect(),
        ))
    }
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
