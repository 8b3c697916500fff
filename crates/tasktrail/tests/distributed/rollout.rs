//! Zero downtime (AC7): two api replicas behind haproxy under `tasktrail bench` load, each
//! restarted in turn the way a rolling update replaces pods. Not one request fails, every
//! event reaches the trail exactly once, and the outbox relay's lease moves between replicas.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::replicas::*;
use crate::stack::*;

/// How long the bench offers load; both restarts must fit inside it.
const LOAD: Duration = Duration::from_secs(45);

/// What one replica's restart looked like, from sending SIGTERM.
struct Restart {
    replica: &'static str,
    unready_after: Duration,
    out_of_rotation_after: Duration,
    exited_after: Duration,
    back_in_rotation_after: Duration,
}

/// SIGTERM to the replica (app, then its sidecar, as a pod's containers stop), checking on the
/// way that readiness flips first while requests are still served and that haproxy takes the
/// replica out of rotation before it stops accepting; then both started again, until haproxy
/// has it back.
async fn restart(http: &reqwest::Client, replica: &'static str, base: &str, probe: &User) -> Restart {
    let began = Instant::now();
    let stop = tokio::spawn(stack_async_owned(vec!["stop".into(), replica.into(), "TERM".into()]));
    eventually(
        &format!("{replica} answers /readyz 503"),
        Duration::from_secs(3),
        || async { readyz_status(base).await == Some(503) },
    )
    .await;
    let unready_after = began.elapsed();
    let (status, body) = call(
        http,
        base,
        Method::GET,
        &format!("/api/{}/tasks", probe.id),
        Some(&probe.token),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{replica} serves requests while draining: {body}"
    );
    wait_for_lb_status(replica, "DOWN", Duration::from_secs(4)).await;
    let out_of_rotation_after = began.elapsed();
    assert_eq!(
        readyz_status(base).await,
        Some(503),
        "{replica} was still serving when haproxy took it out of rotation"
    );
    stop.await.unwrap();
    let exited_after = began.elapsed();
    let sidecar = format!("{replica}-dapr");
    stack_async(&["stop", &sidecar]).await;
    stack_async(&["start", replica, &sidecar]).await;
    wait_for_lb_status(replica, "UP", Duration::from_secs(10)).await;
    Restart {
        replica,
        unready_after,
        out_of_rotation_after,
        exited_after,
        back_in_rotation_after: began.elapsed(),
    }
}

async fn stack_async_owned(args: Vec<String>) -> String {
    stack_async(&args.iter().map(String::as_str).collect::<Vec<_>>()).await
}

/// Which replica runs the relay, once exactly one of them says so.
async fn the_leader(replicas: &[(&'static str, &'static str)], timeout: Duration) -> (&'static str, &'static str) {
    let leaders = wait_for_value(
        "exactly one api replica runs the relay",
        timeout,
        || async {
            let mut leaders = Vec::new();
            for &(name, base) in replicas {
                if relay_leader(base).await == Some(true) {
                    leaders.push((name, base));
                }
            }
            leaders
        },
        |leaders| leaders.len() == 1,
    )
    .await;
    leaders[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_replicas_restarted_in_turn_behind_haproxy_fail_no_request_and_lose_no_event() {
    let _turn = exclusive_stack().await;
    let _extras = Extras::start(&["api2", "api2-dapr", "lb"]).await;
    let http = client();
    let replicas = [("api", API), ("api2", API2)];
    wait_for_lb_status("api", "UP", Duration::from_secs(10)).await;
    wait_for_lb_status("api2", "UP", Duration::from_secs(10)).await;
    let (first, _) = the_leader(&replicas, Duration::from_secs(20)).await;
    let probe = signup(&http, LB).await;

    let before = lb_stats().await;
    let args = bench::BenchArgs {
        target: LB.into(),
        audit_target: None,
        users: 50,
        duration: LOAD,
        settle_timeout: Duration::from_secs(30),
        rate: Some(100.0),
        observers: 10,
        signup_concurrency: 8,
        server_pid: None,
        queries: Default::default(),
    };
    let users = args.users as u64;
    let since = audit_clock().await;
    let load = tokio::spawn(async move { bench::execute(&args).await });
    // The load runs once the sign-ups and the first operations went through haproxy.
    let requests_before = stat(&before, "tasktrail", "FRONTEND", "req_tot");
    eventually("bench load through haproxy", Duration::from_secs(60), || async {
        stat(&lb_stats().await, "tasktrail", "FRONTEND", "req_tot") >= requests_before + users + 100
    })
    .await;
    let load_began = Instant::now();

    // The relay's current leader first: its lease must move to the other replica.
    let order = if first == "api" {
        replicas
    } else {
        [replicas[1], replicas[0]]
    };
    let mut restarts = Vec::new();
    for (i, &(name, base)) in order.iter().enumerate() {
        restarts.push(restart(&http, name, base, &probe).await);
        let (other, other_base) = order[1 - i];
        eventually(
            &format!("the relay lease moves from {name} to {other}"),
            Duration::from_secs(15),
            || async { relay_leader(other_base).await == Some(true) },
        )
        .await;
    }
    let (last, _) = the_leader(&replicas, Duration::from_secs(5)).await;
    let restarts_took = load_began.elapsed();

    let report = load.await.unwrap().unwrap();
    let (rows, stored_twice) = audit_rows_since(&since).await;
    let after = lb_stats().await;
    let counter = |field: &str| stat(&after, "api", "BACKEND", field) - stat(&before, "api", "BACKEND", field);
    println!("{report}");
    for r in &restarts {
        println!(
            "restart {}: unready after {:.2}s, out of haproxy's rotation after {:.2}s, exited after {:.2}s, back in rotation after {:.2}s",
            r.replica,
            r.unready_after.as_secs_f64(),
            r.out_of_rotation_after.as_secs_f64(),
            r.exited_after.as_secs_f64(),
            r.back_in_rotation_after.as_secs_f64()
        );
    }
    println!(
        "drill: {} audit rows ({stored_twice} stored twice); {} requests through haproxy, 5xx {}, retries {}, redispatches {}, connection errors {}, response errors {}; trail reads failed {}; relay lease {first} -> {} -> {last}; both restarts in {:.1}s",
        rows,
        counter("stot"),
        counter("hrsp_5xx"),
        counter("wretr"),
        counter("wredis"),
        counter("econ"),
        counter("eresp"),
        report.trail_errors,
        order[1].0,
        restarts_took.as_secs_f64()
    );
    assert!(
        restarts_took + Duration::from_secs(2) < LOAD,
        "both restarts must happen under load; they took {restarts_took:?}"
    );
    assert_eq!(report.errors, 0, "failed requests: {:?}", report.failures);
    assert_eq!(counter("hrsp_5xx"), 0, "haproxy answered no 5xx");
    assert!(report.expected_events > 1000, "{report}");
    assert_every_change_stored_once(&report, rows, stored_twice);
}
