//! Completion emails in embedded mode, to a real SMTP server (Mailpit, read back through its
//! HTTP API): one per completion, to its owner only, exactly once, retried while the server is
//! away, never holding up the audit trail, and recorded for the user to read.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, User, notifications};
use crate::on_both_backends;

use crate::mailpit::Mailpit;

on_both_backends!(
    a_completion_emails_its_owner_once,
    switched_off_emails_are_skipped,
    an_smtp_outage_within_the_retry_window_sends_once_it_is_back,
    an_smtp_outage_past_the_retry_window_fails_and_blocks_nothing
);

async fn app_mailing_to(backend: Backend, mailpit: &Mailpit, retry_window: &str) -> TestApp {
    let smtp = format!("smtp://127.0.0.1:{}", mailpit.smtp_port);
    TestApp::spawn_with(
        backend,
        &[
            "--smtp-url",
            &smtp,
            "--smtp-from",
            "tasktrail <noreply@example.com>",
            "--public-url",
            "https://tasks.example.com",
            "--notify-retry-window",
            retry_window,
            "--smtp-timeout",
            "2s",
        ],
    )
    .await
}

async fn email_of(app: &TestApp, user: &User) -> String {
    let (_, me) = app.call(Method::GET, "/api/auth/me", Some(&user.token), None).await;
    me["email"].as_str().unwrap().to_owned()
}

async fn complete(app: &TestApp, user: &User, task: &Value) {
    let path = format!("/api/{}/tasks/{}/complete", user.id, task["id"]);
    let (status, body) = app.call(Method::PATCH, &path, Some(&user.token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Waits (at most `timeout`) until the user's newest notification has left `pending`.
async fn settled(app: &TestApp, user: &User, count: usize, timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let list = notifications(app, user).await;
        if list.len() >= count && list.iter().all(|n| n["status"] != "pending") || Instant::now() > deadline {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn recipients(message: &Value) -> Vec<&str> {
    message["To"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Address"].as_str().unwrap())
        .collect()
}

async fn a_completion_emails_its_owner_once(backend: Backend) {
    let mailpit = Mailpit::start(&[]).await;
    let app = app_mailing_to(backend, &mailpit, "1m").await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    let ada_email = email_of(&app, &ada).await;
    let task = app.create_task(&ada, "buy oat milk").await;
    complete(&app, &ada, &task).await;

    let messages = mailpit.expect_messages(1).await;
    let email = &messages[0];
    assert_eq!(recipients(email), [ada_email.as_str()]);
    assert_eq!(email["Subject"], "Completed: buy oat milk");
    assert_eq!(email["From"]["Address"], "noreply@example.com");
    let text = email["Text"].as_str().unwrap();
    assert!(text.contains("\"buy oat milk\" was completed"), "{text}");
    assert!(
        text.contains("https://tasks.example.com/"),
        "the link to the UI: {text}"
    );

    let list = settled(&app, &ada, 1, Duration::from_secs(5)).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "sent", "{list:?}");
    assert_eq!(list[0]["recipient"], ada_email.as_str());
    assert_eq!(list[0]["task_title"], "buy oat milk");
    assert!(notifications(&app, &bob).await.is_empty(), "Bob sees none of Ada's");
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/{}/notifications", ada.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The same event delivered again (a redelivery after a crash): no second email.
    let trail = app.wait_for_trail(&ada, 2).await;
    let completed: domain::TaskEvent = serde_json::from_value(trail[1]["event_data"].clone()).unwrap();
    let store = notify::store::open(db::Database::connect(&app.notify_database_url(), 2).await.unwrap());
    let new = store
        .enqueue(&[notify::store::NewNotification {
            event_id: completed.event_id,
            kind: domain::notification::NotificationKind::Completed,
            user_id: completed.user_id.clone(),
            task_id: completed.task_id,
            task_title: completed.task_data.title.clone(),
            completed_at: completed.timestamp,
            due_date: None,
            late: false,
        }])
        .await
        .unwrap();
    assert_eq!(new, 0, "the event's notification is claimed already");

    // Only completions mail: the edit that reopens the task sends nothing. Completed again: a
    // second email. Bob's completion goes to Bob.
    let path = format!("/api/{}/tasks/{}", ada.id, task["id"]);
    app.call(Method::PUT, &path, Some(&ada.token), Some(json!({"completed": false})))
        .await;
    complete(&app, &ada, &task).await;
    let bobs = app.create_task(&bob, "walk the dog").await;
    complete(&app, &bob, &bobs).await;
    let messages = mailpit.expect_messages(3).await;
    let mut to: Vec<&str> = messages.iter().flat_map(recipients).collect();
    to.sort();
    let bob_email = email_of(&app, &bob).await;
    let mut expected = vec![ada_email.as_str(), ada_email.as_str(), bob_email.as_str()];
    expected.sort();
    assert_eq!(to, expected);
    assert_eq!(settled(&app, &ada, 2, Duration::from_secs(5)).await.len(), 2);

    // A title cannot smuggle a header in: control characters are refused before anything runs.
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/{}/tasks", ada.id),
            Some(&ada.token),
            Some(json!({"title": "x\r\nBcc: evil@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    mailpit.expect_messages(3).await;
}

async fn switched_off_emails_are_skipped(backend: Backend) {
    let mailpit = Mailpit::start(&[]).await;
    let app = app_mailing_to(backend, &mailpit, "1m").await;
    let ada = app.signup().await;
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/{}/preferences", ada.id),
            Some(&ada.token),
            Some(json!({"completion_emails": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let task = app.create_task(&ada, "quiet task").await;
    complete(&app, &ada, &task).await;
    let list = settled(&app, &ada, 1, Duration::from_secs(5)).await;
    assert_eq!(list[0]["status"], "skipped", "{list:?}");
    assert_eq!(list[0]["detail"], "completion emails are turned off");
    mailpit.expect_messages(0).await;
}

async fn an_smtp_outage_within_the_retry_window_sends_once_it_is_back(backend: Backend) {
    let mut mailpit = Mailpit::start(&[]).await;
    let app = app_mailing_to(backend, &mailpit, "1m").await;
    let ada = app.signup().await;
    mailpit.stop();
    let task = app.create_task(&ada, "sent later").await;
    complete(&app, &ada, &task).await;
    // The trail does not wait for the email.
    assert_eq!(app.wait_for_trail(&ada, 2).await.len(), 2);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let list = notifications(&app, &ada).await;
    assert_eq!(list[0]["status"], "pending", "retrying: {list:?}");
    assert!(list[0]["attempts"].as_i64().unwrap() >= 2, "{list:?}");

    mailpit.restart().await;
    let list = settled(&app, &ada, 1, Duration::from_secs(20)).await;
    assert_eq!(list[0]["status"], "sent", "{list:?}");
    let messages = mailpit.expect_messages(1).await;
    assert_eq!(messages[0]["Subject"], "Completed: sent later");
}

async fn an_smtp_outage_past_the_retry_window_fails_and_blocks_nothing(backend: Backend) {
    let mut mailpit = Mailpit::start(&[]).await;
    let app = app_mailing_to(backend, &mailpit, "2s").await;
    let ada = app.signup().await;
    mailpit.stop();
    let lost = app.create_task(&ada, "never mailed").await;
    complete(&app, &ada, &lost).await;
    let list = settled(&app, &ada, 1, Duration::from_secs(10)).await;
    assert_eq!(list[0]["status"], "failed", "{list:?}");
    assert!(
        list[0]["detail"].as_str().unwrap().starts_with("gave up after"),
        "{list:?}"
    );

    mailpit.restart().await;
    let next = app.create_task(&ada, "mailed").await;
    complete(&app, &ada, &next).await;
    let messages = mailpit.expect_messages(1).await;
    assert_eq!(
        messages[0]["Subject"], "Completed: mailed",
        "the failed one is not sent late"
    );
    assert_eq!(app.wait_for_trail(&ada, 4).await.len(), 4);
}

/// With no SMTP server configured (the embedded default), the email goes to the log and the
/// notification says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_the_email_is_logged() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let ada = app.signup().await;
    let task = app.create_task(&ada, "logged only").await;
    complete(&app, &ada, &task).await;
    let list = settled(&app, &ada, 1, Duration::from_secs(5)).await;
    assert_eq!(list[0]["status"], "logged", "{list:?}");
    assert_eq!(list[0]["recipient"], email_of(&app, &ada).await.as_str());
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/api/{}/notifications?limit=0", ada.id),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
