//! Scale-out: two audit replicas share one Kafka consumer group (the Dapr app id), so the
//! partitions of `task-events` split between them; one replica killed outright (app and sidecar
//! SIGKILLed, as when a node dies) under load, the other takes its partitions and every event
//! is stored exactly once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::replicas::*;
use crate::stack::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_replicas_split_the_partitions_and_one_killed_mid_load_loses_nothing() {
    let _turn = exclusive_stack().await;
    let _extras = Extras::start(&["audit2", "audit2-dapr"]).await;

    let split = wait_for_value(
        "two members of group audit own the 6 partitions",
        Duration::from_secs(60),
        || group_members("audit"),
        |members| members.len() == 2 && members.values().map(Vec::len).sum::<usize>() == 6,
    )
    .await;
    assert!(split.values().all(|p| !p.is_empty()), "{split:?}");

    // The trail is read from the replica that survives, not through the api's origin: what is
    // checked here is storage, not routing.
    let args = bench::BenchArgs {
        target: API.into(),
        audit_target: Some(AUDIT.into()),
        users: 40,
        duration: Duration::from_secs(25),
        settle_timeout: Duration::from_secs(45),
        rate: Some(100.0),
        observers: 10,
        signup_concurrency: 8,
        server_pid: None,
        queries: Default::default(),
    };
    let received = "tasktrail_events_received_total";
    let (audit_before, audit2_before) = (counter(AUDIT, received).await, counter(AUDIT2, received).await);
    let since = audit_clock().await;
    let load = tokio::spawn(async move { bench::execute(&args).await });
    // Both replicas take deliveries under the load for a while.
    eventually(
        "both audit replicas receive events",
        Duration::from_secs(60),
        || async {
            counter(AUDIT, received).await >= audit_before + 100.0
                && counter(AUDIT2, received).await >= audit2_before + 100.0
        },
    )
    .await;
    let audit2_received = counter(AUDIT2, received).await - audit2_before;

    // A node dies: the sidecar (the group member) and the app, no goodbye to the broker.
    stack_async(&["stop", "audit2-dapr", "audit2", "KILL"]).await;
    let killed = Instant::now();
    // Kafka notices a member that said no goodbye after its session timeout (10 s); asking
    // before that only costs a JVM start each time.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let takeover = wait_for_value(
        "the surviving member owns all 6 partitions",
        Duration::from_secs(60),
        || group_members("audit"),
        |members| members.len() == 1 && members.values().next().is_some_and(|p| p.len() == 6),
    )
    .await;
    let took_over_after = killed.elapsed();
    let survivor: HashSet<&String> = takeover.keys().collect();
    assert!(
        survivor.iter().all(|id| split.contains_key(*id)),
        "the survivor was a member before: {split:?} -> {takeover:?}"
    );

    let report = load.await.unwrap().unwrap();
    println!("{report}");
    let (rows, stored_twice) = audit_rows_since(&since).await;
    println!(
        "drill: {rows} audit rows ({stored_twice} stored twice); partitions {split:?}; audit2 received {audit2_received} events before SIGKILL; \
         the survivor owned all 6 partitions {:.1}s after",
        took_over_after.as_secs_f64()
    );
    assert!(report.expected_events > 500, "{report}");
    assert_eq!(report.errors, 0, "failed requests: {:?}", report.failures);
    assert_every_change_stored_once(&report, rows, stored_twice);
}
