use std::time::Duration;

use domain::{EventType, NewTask, TaskEvent};

use crate::harness::{Backend, TestApp, User};
use crate::on_both_backends;

on_both_backends!(
    entries_older_than_the_window_are_purged_and_younger_ones_kept,
    an_event_redelivered_after_its_entry_was_purged_is_not_stored_again
);

fn event_aged(user: &User, task_id: i32, age: chrono::Duration) -> TaskEvent {
    let task = NewTask::parse(domain::CreateTaskRequest {
        title: format!("aged {task_id}"),
        ..Default::default()
    })
    .unwrap()
    .into_task(task_id, user.id.clone(), domain::clock::now());
    TaskEvent::record(EventType::Created, &task, domain::clock::now() - age, 1)
}

async fn entries_older_than_the_window_are_purged_and_younger_ones_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let store = audit::store::open(db::Database::connect(&app.audit_database_url(), 2).await.unwrap());
    let mut events = Vec::new();
    for i in 0..30 {
        events.push(event_aged(&ada, 1000 + i, chrono::Duration::days(8)));
    }
    events.push(event_aged(&ada, 2000, chrono::Duration::days(6)));
    events.push(event_aged(
        &ada,
        2001,
        chrono::Duration::days(7) - chrono::Duration::minutes(5),
    ));
    store.record(&events).await.unwrap();
    app.create_task(&ada, "fresh").await;
    assert_eq!(app.wait_for_trail(&ada, 33).await.len(), 33);

    let purger = audit::RetentionPurger::new(store, Duration::from_secs(7 * 24 * 3600), Duration::from_secs(3600));
    assert_eq!(purger.purge_once().await.unwrap(), 30);
    let trail = app.trail(&ada).await;
    let mut kept: Vec<i64> = trail.iter().map(|e| e["task_id"].as_i64().unwrap()).collect();
    kept.sort();
    assert_eq!(kept.len(), 3);
    assert_eq!(&kept[1..], [2000, 2001]);
    assert_eq!(purger.purge_once().await.unwrap(), 0);
}

/// Purging an entry also forgets that its event was seen; a redelivery that late (Kafka keeps
/// a topic as long as we keep the trail) must not come back as a new entry.
async fn an_event_redelivered_after_its_entry_was_purged_is_not_stored_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let store = audit::store::open(db::Database::connect(&app.audit_database_url(), 2).await.unwrap());
    let consumer = audit::AuditConsumer::new(store, Duration::from_secs(7 * 24 * 3600));
    let old = event_aged(&ada, 3000, chrono::Duration::days(8));
    let recent = event_aged(&ada, 3001, chrono::Duration::days(6));
    events::Subscriber::handle(&consumer, &[old.clone(), recent])
        .await
        .unwrap();
    events::Subscriber::handle(&consumer, &[old]).await.unwrap();
    let kept: Vec<i64> = app
        .trail(&ada)
        .await
        .iter()
        .map(|e| e["task_id"].as_i64().unwrap())
        .collect();
    assert_eq!(kept, [3001], "only the event inside the window is stored");
}
