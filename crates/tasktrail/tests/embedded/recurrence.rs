//! Recurring tasks: completing one makes the next occurrence, due one interval on, once; the
//! new task's `created` event names the task it continues. Bad rules change nothing.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, User, create_task_from as create};
use crate::on_both_backends;

on_both_backends!(
    completing_a_weekly_task_makes_the_next_one_once,
    racing_completions_make_one_next_occurrence,
    a_series_ends_at_its_until_date_and_a_late_completion_is_not_overdue,
    bad_rules_are_refused_and_change_nothing,
    overdue_lists_pending_tasks_past_their_due_date
);

async fn tasks(app: &TestApp, user: &User, query: &str) -> Vec<Value> {
    let (status, list) = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks{query}", user.id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().unwrap().clone()
}

async fn set_completed(app: &TestApp, user: &User, task: &Value, completed: bool) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        &format!("/api/{}/tasks/{}", user.id, task["id"]),
        Some(&user.token),
        Some(json!({ "completed": completed })),
    )
    .await
}

fn due(task: &Value) -> DateTime<Utc> {
    task["due_date"].as_str().unwrap().parse().unwrap()
}

async fn completing_a_weekly_task_makes_the_next_one_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let due_at = Utc::now() + Duration::days(2);
    let first = create(
        &app,
        &ada,
        json!({"title": "water the plants", "description": "all of them", "priority": "high",
               "tags": ["home"], "due_date": due_at.to_rfc3339(), "recurrence": "weekly"}),
    )
    .await;
    assert_eq!(first["recurrence"], "weekly");
    assert_eq!(first["continues"], Value::Null);

    // PATCH .../complete, as the UI does.
    let (status, done) = app
        .call(
            Method::PATCH,
            &format!("/api/{}/tasks/{}/complete", ada.id, first["id"]),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["completed"], true);
    let all = tasks(&app, &ada, "").await;
    assert_eq!(all.len(), 2, "{all:#?}");
    let next = all.iter().find(|t| t["id"] != first["id"]).unwrap();
    assert_eq!(done["continued_by"], next["id"]);
    assert_eq!(next["continues"], first["id"]);
    assert_eq!(next["completed"], false);
    for field in ["title", "description", "priority", "tags", "recurrence"] {
        assert_eq!(next[field], first[field], "{field}");
    }
    assert_eq!(due(next) - due(&first), Duration::days(7));

    // The trail: completed, then the new task's created naming the task it continues.
    let trail = app.wait_for_trail(&ada, 3).await;
    let last: Vec<(&str, &Value)> = trail[1..]
        .iter()
        .map(|e| (e["event_type"].as_str().unwrap(), &e["task_id"]))
        .collect();
    assert_eq!(last, [("completed", &first["id"]), ("created", &next["id"])]);
    assert_eq!(trail[2]["event_data"]["task_data"]["continues"], first["id"]);
    assert_eq!(trail[2]["event_data"]["task_data"]["recurrence"], "weekly");

    // Reopened and completed again (a retried toggle, say): no second occurrence.
    assert_eq!(set_completed(&app, &ada, &first, false).await.0, StatusCode::OK);
    assert_eq!(set_completed(&app, &ada, &first, true).await.0, StatusCode::OK);
    assert_eq!(tasks(&app, &ada, "").await.len(), 2);
    // Completing the occurrence continues the series from it.
    let (_, next_done) = set_completed(&app, &ada, next, true).await;
    let all = tasks(&app, &ada, "?status=pending").await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["continues"], next["id"]);
    assert_eq!(next_done["continued_by"], all[0]["id"]);
    assert_eq!(due(&all[0]) - due(&first), Duration::days(14));
}

/// Five requests completing the same task at once: it is completed once, and one next
/// occurrence is made.
async fn racing_completions_make_one_next_occurrence(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let task = create(&app, &ada, json!({"title": "stand-up", "recurrence": "daily"})).await;
    let racers: Vec<_> = (0..5).map(|_| set_completed(&app, &ada, &task, true)).collect();
    for (status, body) in futures::future::join_all(racers).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let all = tasks(&app, &ada, "").await;
    assert_eq!(all.len(), 2, "{all:#?}");
    let trail = app.wait_for_trail(&ada, 3).await;
    let types: Vec<&str> = trail.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    // The losers change nothing the event type cares about: "updated" with completed unchanged.
    assert_eq!(types.iter().filter(|t| **t == "completed").count(), 1, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "created").count(), 2, "{types:?}");
    // Without a due date, the next one is due a day after the completion.
    let next = all.iter().find(|t| t["id"] != task["id"]).unwrap();
    let lead = due(next) - Utc::now();
    assert!(lead > Duration::hours(23) && lead <= Duration::days(1), "{lead:?}");
}

async fn a_series_ends_at_its_until_date_and_a_late_completion_is_not_overdue(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let now = Utc::now();
    // Due five days ago, every 3 days: completed now, the next is due in the future (one day
    // from now: -5 + 3 + 3), not three days ago.
    let late = create(
        &app,
        &ada,
        json!({"title": "late", "due_date": (now - Duration::days(5)).to_rfc3339(), "recurrence": "every 3 days"}),
    )
    .await;
    set_completed(&app, &ada, &late, true).await;
    let pending = tasks(&app, &ada, "?status=pending").await;
    assert_eq!(pending.len(), 1);
    assert_eq!(due(&pending[0]) - due(&late), Duration::days(6));
    assert!(due(&pending[0]) > Utc::now());

    // The last occurrence before `until`: completing it makes none.
    let until = (now + Duration::days(3)).format("%Y-%m-%d").to_string();
    let last = create(
        &app,
        &ada,
        json!({"title": "last", "due_date": (now + Duration::days(1)).to_rfc3339(),
               "recurrence": format!("every 1 weeks until {until}")}),
    )
    .await;
    assert_eq!(last["recurrence"], format!("weekly until {until}"));
    let (_, done) = set_completed(&app, &ada, &last, true).await;
    assert_eq!(done["continued_by"], Value::Null);
    assert_eq!(tasks(&app, &ada, "").await.len(), 3);
}

async fn bad_rules_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let tomorrow = (Utc::now() + Duration::days(1)).to_rfc3339();
    for body in [
        json!({"title": "t", "recurrence": "fortnightly"}),
        json!({"title": "t", "recurrence": "every 0 days"}),
        json!({"title": "t", "recurrence": "every 400 days"}),
        json!({"title": "t", "recurrence": "weekly until 2027-02-30"}),
        json!({"title": "t", "recurrence": 7}),
        json!({"title": "t", "recurrence": ["weekly"]}),
        json!({"title": "t", "due_date": tomorrow, "recurrence": "daily until 2020-01-01"}),
    ] {
        let (status, answer) = app
            .call(
                Method::POST,
                &format!("/api/{}/tasks", ada.id),
                Some(&ada.token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains("recurrence"),
            "{answer}"
        );
    }
    let task = create(&app, &ada, json!({"title": "t"})).await;
    let (status, answer) = app
        .call(
            Method::PUT,
            &format!("/api/{}/tasks/{}", ada.id, task["id"]),
            Some(&ada.token),
            Some(json!({"recurrence": "every monday-ish"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(tasks(&app, &ada, "").await, [task]);
    assert_eq!(app.wait_for_trail(&ada, 1).await.len(), 1);
}

async fn overdue_lists_pending_tasks_past_their_due_date(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let past = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let future = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let overdue = create(&app, &ada, json!({"title": "overdue", "due_date": past})).await;
    create(&app, &ada, json!({"title": "later", "due_date": future})).await;
    create(&app, &ada, json!({"title": "whenever"})).await;
    let done = create(&app, &ada, json!({"title": "done late", "due_date": past})).await;
    set_completed(&app, &ada, &done, true).await;
    let listed = tasks(&app, &ada, "?due=overdue").await;
    assert_eq!(listed, [overdue]);
    let (status, answer) = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks?due=yesterday", ada.id),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
}
