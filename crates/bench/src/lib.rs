//! `tasktrail bench`: simulated users drive a running instance through create, update,
//! complete and delete, while each reads its own audit trail; at the end every expected event
//! must be in the trail exactly once.

mod queries;
mod report;
mod user;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures::StreamExt;

pub use queries::QueryArgs;
pub use report::Report;
use user::{Schedule, SimUser, Totals};

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Base URL of the api.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Base URL that answers /api/{user_id}/audit (default: --target).
    #[arg(long)]
    pub audit_target: Option<String>,
    /// Simulated users, all active at once.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// How long the measured phase lasts.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub duration: Duration,
    /// After the measured phase, how long to wait for the last events to reach the trail.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub settle_timeout: Duration,
    /// Total operations per second to offer, spread evenly over the users (default: as fast
    /// as the server answers, each user waiting for its previous answer).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Users that also time op-to-audit by polling their trail every 50 ms after each operation.
    #[arg(long, default_value_t = 20)]
    pub observers: usize,
    /// Concurrent sign-ups before the clock starts (argon2 is slow on purpose).
    #[arg(long, default_value_t = 16)]
    pub signup_concurrency: usize,
    /// The server's process id, when it runs on this machine: the report adds its peak
    /// resident memory (VmHWM, from /proc) over its whole life up to the end of the run.
    #[arg(long)]
    pub server_pid: Option<u32>,
    #[command(flatten)]
    pub queries: queries::QueryArgs,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.queries.queries {
        return queries::run(args.target.trim_end_matches('/'), &args.queries).await;
    }
    let report = execute(&args).await?;
    println!("{report}");
    if !report.passed() {
        anyhow::bail!("benchmark found lost, duplicated or failed operations");
    }
    Ok(())
}

pub async fn execute(args: &BenchArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(args.users > 0, "--users must be at least 1");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.users * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let api = args.target.trim_end_matches('/').to_owned();
    let audit = args
        .audit_target
        .as_deref()
        .unwrap_or(&api)
        .trim_end_matches('/')
        .to_owned();
    let run_id = uuid::Uuid::new_v4().simple().to_string();

    eprintln!("signing up {} users at {api} ...", args.users);
    let started = Instant::now();
    let users: Vec<SimUser> = futures::stream::iter(0..args.users)
        .map(|i| {
            SimUser::sign_up(
                client.clone(),
                api.clone(),
                audit.clone(),
                format!("bench-{}-{i}@bench.example.com", &run_id[..12]),
            )
        })
        .buffer_unordered(args.signup_concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()
        .context("sign-up failed (raise TASKTRAIL_SIGNUP_LIMIT on the server for large runs)")?;
    eprintln!(
        "signed up {} users in {:.1}s; running for {:?}",
        users.len(),
        started.elapsed().as_secs_f64(),
        args.duration
    );

    let totals = Arc::new(Totals::default());
    let deadline = Instant::now() + args.duration;
    let measured_start = Instant::now();
    let progress = tokio::spawn(progress_lines(totals.clone(), measured_start, args.duration));
    let interval = args
        .rate
        .filter(|r| *r > 0.0)
        .map(|rate| Duration::from_secs_f64(args.users as f64 / rate));
    let handles: Vec<_> = users
        .into_iter()
        .enumerate()
        .map(|(i, u)| {
            let schedule = Schedule {
                interval,
                // Spread the users' first operations over one interval.
                offset: interval
                    .map(|d| d.mul_f64(i as f64 / args.users as f64))
                    .unwrap_or_default(),
                observer: i < args.observers,
            };
            tokio::spawn(u.run_until(deadline, totals.clone(), schedule))
        })
        .collect();
    // Throughput counts the operations answered inside the window; rounds in progress at the
    // deadline finish afterwards (their events are still checked) but do not count.
    let window_totals = totals.clone();
    let ops_in_window = tokio::spawn(async move {
        tokio::time::sleep_until(deadline.into()).await;
        window_totals.ops.load(Ordering::Relaxed)
    });
    let mut finished = Vec::with_capacity(handles.len());
    for h in handles {
        finished.push(h.await?);
    }
    let ops_in_window = ops_in_window.await?;
    let window = deadline - measured_start;
    progress.abort();

    eprintln!(
        "measured phase over; waiting up to {:?} for the audit trail to catch up ...",
        args.settle_timeout
    );
    let settle_deadline = Instant::now() + args.settle_timeout;
    let settled: Vec<_> = futures::stream::iter(finished)
        .map(|(u, observer)| u.settle(settle_deadline, observer))
        .buffer_unordered(64)
        .collect()
        .await;
    let mut report = Report::new(settled, ops_in_window, window, &totals);
    if let Some(pid) = args.server_pid {
        report.server_memory =
            Some(report::ServerMemory::read(pid).with_context(|| format!("reading /proc/{pid}/status"))?);
    }
    Ok(report)
}

async fn progress_lines(totals: Arc<Totals>, start: Instant, duration: Duration) {
    let mut last = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    loop {
        tick.tick().await;
        let ops = totals.ops.load(Ordering::Relaxed);
        let errors = totals.errors.load(Ordering::Relaxed);
        let elapsed = start.elapsed().min(duration);
        eprintln!(
            "  {:>4.0}s  ops {ops:>8}  ({:.0}/s last 5s)  errors {errors}",
            elapsed.as_secs_f64(),
            (ops - last) as f64 / 5.0
        );
        last = ops;
    }
}

/// Shared counters for progress lines.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
