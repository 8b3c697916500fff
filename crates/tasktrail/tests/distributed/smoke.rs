//! The deploy workflow's smoke test (`scripts/smoke`, run against the cluster's LoadBalancer
//! after each deploy) against the local stack: the same script over the real event path.

use std::process::Command;

use crate::stack::{API, exclusive_stack, repo_root_script};

#[tokio::test]
async fn the_deploy_smoke_script_passes_against_the_stack_and_fails_without_it() {
    let _turn = exclusive_stack().await;
    let smoke = |url: &str| {
        Command::new(repo_root_script("smoke"))
            .arg(url)
            .output()
            .expect("scripts/smoke runs")
    };

    let passed = smoke(API);
    let out = String::from_utf8_lossy(&passed.stdout).into_owned() + &String::from_utf8_lossy(&passed.stderr);
    assert!(
        passed.status.success(),
        "scripts/smoke failed against the stack:\n{out}"
    );
    assert!(
        out.contains("created"),
        "the smoke test did not report the created event:\n{out}"
    );

    // Nothing listens there: the script must say so and fail, or its pass above means nothing.
    let failed = smoke("http://127.0.0.1:9");
    assert!(!failed.status.success(), "scripts/smoke passed against a closed port");
}
