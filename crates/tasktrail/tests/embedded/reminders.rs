//! Reminders on tasks: an absolute time or minutes before the due date, moved with the due
//! date, never after it; bad reminders are refused and change nothing. When one comes due, its
//! owner gets one email (a real Mailpit), once, however many api processes scan; none for a
//! completed task; a reminder missed while the service was down goes out once, marked late.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, User, notifications};
use crate::on_both_backends;

use crate::mailpit::Mailpit;

on_both_backends!(
    a_relative_reminder_moves_with_the_due_date,
    reminders_after_the_due_date_and_other_mistakes_are_refused,
    a_due_reminder_emails_its_owner_once,
    a_reminder_missed_while_the_service_was_down_goes_out_once_marked_late
);

async fn app_mailing_to(backend_or_url: Result<Backend, String>, mailpit: &Mailpit) -> TestApp {
    let smtp = format!("smtp://127.0.0.1:{}", mailpit.smtp_port);
    let args = [
        "--smtp-url",
        &smtp,
        "--smtp-from",
        "tasktrail <noreply@example.com>",
        "--reminder-scan-interval",
        "200ms",
    ];
    match backend_or_url {
        Ok(backend) => TestApp::spawn_with(backend, &args).await,
        Err(url) => TestApp::spawn_on(Some(url), &args).await,
    }
}

fn in_secs(secs: i64) -> String {
    (Utc::now() + Duration::seconds(secs)).to_rfc3339()
}

async fn a_due_reminder_emails_its_owner_once(backend: Backend) {
    let mailpit = Mailpit::start(&[]).await;
    let app = app_mailing_to(Ok(backend), &mailpit).await;
    let ada = app.signup().await;
    let (_, soon) = post(
        &app,
        &ada,
        json!({"title": "call the plumber", "due_date": "2030-01-01T10:00:00Z", "remind_at": in_secs(1)}),
    )
    .await;
    // Completed before its reminder: none. Moved from next week to now: it goes out.
    let (_, done) = post(&app, &ada, json!({"title": "done already", "remind_at": in_secs(1)})).await;
    let (status, _) = put(&app, &ada, &done, json!({"completed": true})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, moved) = post(
        &app,
        &ada,
        json!({"title": "moved up", "remind_at": in_secs(7 * 24 * 3600)}),
    )
    .await;
    put(&app, &ada, &moved, json!({"remind_at": in_secs(1)})).await;

    // The completion has its own email; its reminder none.
    let messages = mailpit.expect_messages(3).await;
    let mut subjects: Vec<&str> = messages.iter().map(|m| m["Subject"].as_str().unwrap()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "Completed: done already",
            "Reminder: call the plumber",
            "Reminder: moved up"
        ]
    );
    let text = messages
        .iter()
        .find(|m| m["Subject"] == "Reminder: call the plumber")
        .unwrap()["Text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("It is due Tuesday, 1 January 2030 at 10:00 UTC."),
        "{text}"
    );
    assert!(!text.contains("late"), "{text}");

    let list: Vec<Value> = notifications(&app, &ada)
        .await
        .into_iter()
        .filter(|n| n["kind"] == "reminder")
        .collect();
    assert_eq!(list.len(), 2, "{list:#?}");
    assert!(
        list.iter()
            .all(|n| n["kind"] == "reminder" && n["status"] == "sent" && n["late"] == false),
        "{list:#?}"
    );
    let (_, after) = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks/{}", ada.id, soon["id"]),
            Some(&ada.token),
            None,
        )
        .await;
    assert!(after["reminded_at"].is_string(), "{after}");
    // Reminders are not task changes: the trail holds only the creations and edits.
    let trail = app.wait_for_trail(&ada, 5).await;
    assert!(trail.iter().all(|e| e["event_type"] != "reminder.due"), "{trail:#?}");
    // Nothing more arrives on later scans.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    mailpit.expect_messages(3).await;
}

async fn a_reminder_missed_while_the_service_was_down_goes_out_once_marked_late(backend: Backend) {
    let mailpit = Mailpit::start(&[]).await;
    let app = app_mailing_to(Ok(backend), &mailpit).await;
    let ada = app.signup().await;
    let (status, task) = post(&app, &ada, json!({"title": "missed", "remind_at": in_secs(-600)})).await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let messages = mailpit.expect_messages(1).await;
    assert_eq!(messages[0]["Subject"], "Reminder (late): missed");
    assert!(messages[0]["Text"].as_str().unwrap().contains("This reminder is late"));
    let list = notifications(&app, &ada).await;
    assert_eq!(
        (list[0]["kind"].clone(), list[0]["late"].clone()),
        (json!("reminder"), json!(true))
    );
}

/// Two processes on one PostgreSQL database, both scanning every 200 ms: twenty reminders due
/// at once give twenty emails, not forty. (Each process has its own token secret: the tasks
/// are made through the first; both scan.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_send_each_reminder_once() {
    let mailpit = Mailpit::start(&[]).await;
    let url = crate::harness::fresh_postgres_database().await;
    let first = app_mailing_to(Err(url.clone()), &mailpit).await;
    let second = app_mailing_to(Err(url), &mailpit).await;
    let ada = first.signup().await;
    let at = in_secs(2);
    for n in 0..20 {
        let (status, _) = post(&first, &ada, json!({"title": format!("r{n}"), "remind_at": at})).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let messages = mailpit.expect_messages(20).await;
    drop(second);
    let mut subjects: Vec<&str> = messages.iter().map(|m| m["Subject"].as_str().unwrap()).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 20);
}

async fn post(app: &TestApp, user: &User, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        &format!("/api/{}/tasks", user.id),
        Some(&user.token),
        Some(body),
    )
    .await
}

async fn put(app: &TestApp, user: &User, task: &Value, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        &format!("/api/{}/tasks/{}", user.id, task["id"]),
        Some(&user.token),
        Some(body),
    )
    .await
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

async fn a_relative_reminder_moves_with_the_due_date(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    // Whole seconds: PostgreSQL keeps microseconds.
    let due: DateTime<Utc> = "2030-03-10T10:00:00Z".parse().unwrap();
    let (status, task) = post(
        &app,
        &ada,
        json!({"title": "dentist", "due_date": due.to_rfc3339(), "remind_before_minutes": 30}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    assert_eq!(task["remind_before_minutes"], 30);
    assert_eq!(
        time(&task["remind_at"]),
        time(&task["due_date"]) - Duration::minutes(30)
    );
    assert_eq!(task["reminded_at"], Value::Null);

    // The due date moves a day: so does the reminder.
    let later = due + Duration::days(1);
    let (status, moved) = put(&app, &ada, &task, json!({"due_date": later.to_rfc3339()})).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(time(&moved["remind_at"]) - time(&task["remind_at"]), Duration::days(1));

    // An absolute time replaces the relative one; null clears it.
    let at = due - Duration::hours(5);
    let (_, absolute) = put(&app, &ada, &task, json!({"remind_at": at.to_rfc3339()})).await;
    assert_eq!(time(&absolute["remind_at"]), time(&json!(at.to_rfc3339())));
    assert_eq!(absolute["remind_before_minutes"], Value::Null);
    let (_, cleared) = put(&app, &ada, &task, json!({"remind_at": null})).await;
    assert_eq!(cleared["remind_at"], Value::Null);

    // Without a due date, an absolute reminder stands alone; a relative one goes with the due date.
    let (_, relative) = put(&app, &ada, &task, json!({"remind_before_minutes": 60})).await;
    assert_eq!(relative["remind_before_minutes"], 60);
    let (_, undated) = put(&app, &ada, &task, json!({"due_date": null})).await;
    assert_eq!(
        (undated["remind_at"].clone(), undated["remind_before_minutes"].clone()),
        (Value::Null, Value::Null)
    );
    let (status, alone) = post(
        &app,
        &ada,
        json!({"title": "call", "remind_at": "2030-01-01T09:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{alone}");
    assert_eq!(alone["remind_at"], "2030-01-01T09:00:00Z");
}

async fn reminders_after_the_due_date_and_other_mistakes_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let due = "2030-06-01T12:00:00Z";
    for (body, field) in [
        (
            json!({"title": "t", "due_date": due, "remind_at": "2030-06-01T12:00:01Z"}),
            "remind_at",
        ),
        (
            json!({"title": "t", "remind_before_minutes": 10}),
            "remind_before_minutes",
        ),
        (
            json!({"title": "t", "due_date": due, "remind_before_minutes": 0}),
            "remind_before_minutes",
        ),
        (
            json!({"title": "t", "due_date": due, "remind_before_minutes": 43201}),
            "remind_before_minutes",
        ),
        (
            json!({"title": "t", "due_date": due, "remind_before_minutes": -5}),
            "remind_before_minutes",
        ),
        (
            json!({"title": "t", "due_date": due, "remind_at": "2030-06-01", "remind_before_minutes": 5}),
            "remind_at",
        ),
        (json!({"title": "t", "remind_at": "tomorrow"}), "remind_at"),
    ] {
        let (status, answer) = post(&app, &ada, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(field),
            "{body}: {answer}"
        );
    }
    let (_, task) = post(
        &app,
        &ada,
        json!({"title": "t", "due_date": due, "remind_at": "2030-06-01T08:00:00Z"}),
    )
    .await;
    // Moving the due date before the reminder: refused, nothing changed, no event.
    let (status, answer) = put(&app, &ada, &task, json!({"due_date": "2030-05-31T00:00:00Z"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "validation_failed");
    let (_, now) = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks/{}", ada.id, task["id"]),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(now, task);
    assert_eq!(app.wait_for_trail(&ada, 1).await.len(), 1);
}
