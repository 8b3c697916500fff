//! Tasks: the service every entry point (REST, chat and MCP) goes through, and the thin REST
//! handlers over it.

use std::sync::Arc;

use auth::Owner;
use axum::Router;
use axum::extract::State;
use axum::http::header::LINK;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::routing::{get, patch};
use domain::{
    CreateTaskRequest, NewTask, Task, TaskChanges, TaskEdit, TaskEvent, TaskId, TaskQuery, UpdateTaskRequest,
};
use tokio::sync::Notify;
use web::{ApiError, ApiResult, Json, Path, Query};

use crate::ApiState;
use crate::store::{TaskPage, TaskStore};

/// Applies task changes for a user. Each successful change has committed its event to the
/// outbox before this returns; the relay is then woken to deliver it.
/// Reminders taken per transaction.
const REMINDER_BATCH: u32 = 200;

#[derive(Clone)]
pub struct TaskService {
    store: Arc<dyn TaskStore>,
    events_written: Arc<Notify>,
}

impl TaskService {
    pub fn new(store: Arc<dyn TaskStore>, events_written: Arc<Notify>) -> Self {
        Self { store, events_written }
    }

    /// The first page (or the page at `query.cursor`) of the user's tasks that match.
    pub async fn list(&self, user_id: &str, query: &TaskQuery) -> ApiResult<Vec<Task>> {
        Ok(self.list_page(user_id, query).await?.tasks)
    }

    /// One page and where the next starts.
    pub async fn list_page(&self, user_id: &str, query: &TaskQuery) -> ApiResult<TaskPage> {
        query.check()?;
        let page = query.page()?;
        Ok(self.store.list_tasks(user_id, query, &page).await?)
    }

    pub async fn get(&self, user_id: &str, id: TaskId) -> ApiResult<Task> {
        self.store
            .get_task(user_id, id)
            .await?
            .ok_or(ApiError::NotFound("task"))
    }

    pub async fn create(&self, user_id: &str, req: CreateTaskRequest) -> ApiResult<Task> {
        let new = NewTask::parse(req)?;
        let (task, event) = self.store.create_task(user_id, new).await?;
        self.recorded(&event);
        Ok(task)
    }

    pub async fn update(&self, user_id: &str, id: TaskId, req: UpdateTaskRequest) -> ApiResult<Task> {
        let changes = TaskChanges::parse(req)?;
        self.edit(user_id, id, TaskEdit::Change(changes)).await
    }

    pub async fn toggle_completed(&self, user_id: &str, id: TaskId) -> ApiResult<Task> {
        self.edit(user_id, id, TaskEdit::ToggleCompleted).await
    }

    pub async fn delete(&self, user_id: &str, id: TaskId) -> ApiResult<TaskEvent> {
        let event = self
            .store
            .delete_task(user_id, id)
            .await?
            .ok_or(ApiError::NotFound("task"))?;
        self.recorded(&event);
        Ok(event)
    }

    async fn edit(&self, user_id: &str, id: TaskId, edit: TaskEdit) -> ApiResult<Task> {
        let (task, events) = self
            .store
            .edit_task(user_id, id, edit)
            .await?
            .ok_or(ApiError::NotFound("task"))?;
        for event in &events {
            self.recorded(event);
        }
        Ok(task)
    }

    /// Sends the reminders due now: their events go to the outbox, and the relay is woken.
    /// Returns how many went out.
    pub async fn send_due_reminders(&self) -> ApiResult<usize> {
        let mut sent = 0;
        // Bounded: a backlog (the service was down for a while) goes out in a few rounds.
        for _ in 0..50 {
            let events = self
                .store
                .take_due_reminders(domain::clock::now(), REMINDER_BATCH)
                .await?;
            for event in &events {
                self.recorded(event);
            }
            sent += events.len();
            if events.len() < REMINDER_BATCH as usize {
                break;
            }
        }
        Ok(sent)
    }

    fn recorded(&self, event: &TaskEvent) {
        metrics::counter!("tasktrail_task_events_recorded_total", "event_type" => event.event_type.as_str())
            .increment(1);
        tracing::info!(event_id = %event.event_id, event_type = event.event_type.as_str(), task_id = event.task_id, "task event recorded");
        self.events_written.notify_one();
    }
}

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/{user_id}/tasks", get(list_tasks).post(create_task))
        .route(
            "/api/{user_id}/tasks/{id}",
            get(get_task).put(update_task).delete(delete_task),
        )
        .route("/api/{user_id}/tasks/{id}/complete", patch(toggle_completed))
}

#[derive(serde::Deserialize)]
pub struct TaskPath {
    /// Checked by the `Owner` extractor.
    pub user_id: String,
    pub id: TaskId,
}

#[utoipa::path(get, path = "/api/{user_id}/tasks", tag = "tasks",
    params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)"),
           ("status" = Option<domain::task::StatusFilter>, Query, description = "Which tasks: all (default), pending or completed"),
           ("sort" = Option<domain::task::SortKey>, Query, description = "Order: created (newest first, default), title, due_date (soonest first, undated last) or priority (high first)"),
           ("q" = Option<String>, Query, description = "Case-insensitive substring of the title or description"),
           ("tag" = Option<String>, Query, description = "Only tasks with this tag"),
           ("priority" = Option<domain::task::Priority>, Query, description = "Only tasks of this priority"),
           ("due" = Option<String>, Query, description = "`overdue`: pending tasks whose due date has passed"),
           ("limit" = Option<i64>, Query, description = "Tasks per page, 1 to 1000 (default 1000)"),
           ("cursor" = Option<String>, Query, description = "Start after the previous page: its `X-Next-Cursor` (opaque; only for the same sort)")),
    responses((status = 200, description = "One page of the user's tasks that match, as an array. When more follow, `X-Next-Cursor` holds the cursor of the next page and `Link` its URL (`rel=\"next\"`); both are absent on the last page", body = [Task],
            headers(("X-Next-Cursor" = String, description = "The `cursor` of the next page"), ("Link" = String, description = "`<url>; rel=\"next\"`: the next page"))),
        (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden),
        (status = 422, description = "`limit` out of bounds, or a `cursor` this API did not return for this sort (`validation_failed`)", body = crate::openapi::ErrorBody),
        (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn list_tasks(
    owner: Owner,
    State(s): State<ApiState>,
    uri: Uri,
    Query(query): Query<TaskQuery>,
) -> ApiResult<(HeaderMap, Json<Vec<Task>>)> {
    let page = s.tasks.list_page(&owner.user_id, &query).await?;
    let mut headers = HeaderMap::new();
    if let Some(next) = page.next {
        let cursor = next.encode();
        // The same query with the cursor replaced: the client follows it as it is.
        let mut params: Vec<String> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("cursor=") && *p != "cursor")
            .map(str::to_owned)
            .collect();
        params.push(format!("cursor={cursor}"));
        let link = format!("<{}?{}>; rel=\"next\"", uri.path(), params.join("&"));
        // Hex and the request's own (already encoded) query: always a valid header value.
        if let (Ok(cursor), Ok(link)) = (HeaderValue::from_str(&cursor), HeaderValue::from_str(&link)) {
            headers.insert("x-next-cursor", cursor);
            headers.insert(LINK, link);
        }
    }
    Ok((headers, Json(page.tasks)))
}

#[utoipa::path(post, path = "/api/{user_id}/tasks", tag = "tasks", params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)")),
    request_body = CreateTaskRequest,
    responses((status = 201, description = "The task as stored, with its id; a `created` event is in the outbox", body = Task),
        (status = 400, response = crate::openapi::BadRequest), (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden),
        (status = 422, description = "A field breaks a rule (`validation_failed`): title empty or over 200 characters, description over 1000, over 20 tags or a tag over 50, a due date that does not parse, an unknown priority or recurrence, control characters, or a body that is not a JSON object", body = crate::openapi::ErrorBody), (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn create_task(
    owner: Owner,
    State(s): State<ApiState>,
    Json(req): Json<CreateTaskRequest>,
) -> ApiResult<(StatusCode, Json<Task>)> {
    Ok((StatusCode::CREATED, Json(s.tasks.create(&owner.user_id, req).await?)))
}

#[utoipa::path(get, path = "/api/{user_id}/tasks/{id}", tag = "tasks", params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)"), ("id" = i32, Path, description = "The task's id")),
    responses((status = 200, description = "The task", body = Task), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, description = "No such task of this user (or an id that is not a number)", body = crate::openapi::ErrorBody), (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn get_task(owner: Owner, State(s): State<ApiState>, Path(p): Path<TaskPath>) -> ApiResult<Json<Task>> {
    Ok(Json(s.tasks.get(&owner.user_id, p.id).await?))
}

#[utoipa::path(put, path = "/api/{user_id}/tasks/{id}", tag = "tasks", params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)"), ("id" = i32, Path, description = "The task's id")),
    request_body = UpdateTaskRequest,
    responses((status = 200, description = "The task after the change", body = Task),
        (status = 400, response = crate::openapi::BadRequest), (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, description = "No such task of this user (or an id that is not a number)", body = crate::openapi::ErrorBody),
        (status = 422, description = "No field to change, or a field breaks a rule (as for creating a task)", body = crate::openapi::ErrorBody),
        (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn update_task(
    owner: Owner,
    State(s): State<ApiState>,
    Path(p): Path<TaskPath>,
    Json(req): Json<UpdateTaskRequest>,
) -> ApiResult<Json<Task>> {
    Ok(Json(s.tasks.update(&owner.user_id, p.id, req).await?))
}

#[utoipa::path(delete, path = "/api/{user_id}/tasks/{id}", tag = "tasks", params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)"), ("id" = i32, Path, description = "The task's id")),
    responses((status = 204, description = "Deleted; a `deleted` event is in the outbox"), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, description = "No such task of this user (or an id that is not a number)", body = crate::openapi::ErrorBody), (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn delete_task(owner: Owner, State(s): State<ApiState>, Path(p): Path<TaskPath>) -> ApiResult<StatusCode> {
    s.tasks.delete(&owner.user_id, p.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(patch, path = "/api/{user_id}/tasks/{id}/complete", tag = "tasks", params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)"), ("id" = i32, Path, description = "The task's id")),
    responses((status = 200, description = "The task with `completed` flipped", body = Task), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, description = "No such task of this user (or an id that is not a number)", body = crate::openapi::ErrorBody), (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn toggle_completed(
    owner: Owner,
    State(s): State<ApiState>,
    Path(p): Path<TaskPath>,
) -> ApiResult<Json<Task>> {
    Ok(Json(s.tasks.toggle_completed(&owner.user_id, p.id).await?))
}
