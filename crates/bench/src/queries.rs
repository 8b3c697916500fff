//! `tasktrail bench --queries`: how fast one page of a large task list comes back. Seeds the
//! api's database directly, in bulk (one user with `--user-tasks`, the rest spread over other
//! users up to `--total-tasks`), then times each list shape (sort, filter, search, a later
//! page by cursor) over HTTP against the running server and prints a table.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection};

#[derive(Debug, Clone, Default, Args)]
pub struct QueryArgs {
    /// Time list queries on a large data set instead of the load run.
    #[arg(long)]
    pub queries: bool,
    /// The api's database, seeded directly (the server's `--database-url`, or
    /// `sqlite://<data-dir>/api.sqlite` for embedded SQLite).
    #[arg(long, requires = "queries")]
    pub seed_database_url: Option<String>,
    /// Tasks of the one measured user; nine times as many go to other users (1,000,000 in
    /// all by default).
    #[arg(long, default_value_t = 100_000, requires = "queries")]
    pub user_tasks: u32,
    /// Timed requests per shape (after 3 untimed ones).
    #[arg(long, default_value_t = 30, requires = "queries")]
    pub rounds: usize,
    /// Tasks per page.
    #[arg(long, default_value_t = 50, requires = "queries")]
    pub page: u32,
}

/// The list shapes timed: (name, query string). Words and tags as seeded below: "milk" is in
/// one title in eight, "zebra" in one in a thousand, "nowhere" in none; tag "work" on one
/// task in four, "urgent" on one in a thousand.
const SHAPES: &[(&str, &str)] = &[
    ("list (created)", ""),
    ("sort=title", "sort=title"),
    ("sort=due_date", "sort=due_date"),
    ("sort=priority", "sort=priority"),
    ("status=pending", "status=pending"),
    ("status=completed", "status=completed"),
    ("priority=high", "priority=high"),
    ("due=overdue", "due=overdue"),
    ("due=overdue&sort=due_date", "due=overdue&sort=due_date"),
    ("tag=work", "tag=work"),
    ("tag=urgent (rare)", "tag=urgent"),
    ("q=milk (1 in 8)", "q=milk"),
    ("q=zebra (1 in 1000)", "q=zebra"),
    ("q=nowhere (none)", "q=nowhere"),
    ("q=milk&sort=title", "q=milk&sort=title"),
    (
        "status=pending&tag=home&sort=due_date",
        "status=pending&tag=home&sort=due_date",
    ),
    ("priority=high&sort=priority", "priority=high&sort=priority"),
];

pub async fn run(api: &str, args: &QueryArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    // One fixed user: a second run on the same database signs in and reuses the seeded tasks.
    let credentials = json!({"email": "bench-queries@bench.example.com", "password": "bench-password-123"});
    let mut response = client
        .post(format!("{api}/api/auth/signup"))
        .json(&credentials)
        .send()
        .await?;
    if response.status() == reqwest::StatusCode::CONFLICT {
        response = client
            .post(format!("{api}/api/auth/login"))
            .json(&credentials)
            .send()
            .await?;
    }
    let auth: serde_json::Value = response
        .error_for_status()
        .context("sign-up or sign-in")?
        .json()
        .await?;
    let user_id = auth["user_id"]
        .as_str()
        .context("sign-up answer has user_id")?
        .to_owned();
    let token = auth["token"].as_str().context("sign-up answer has token")?.to_owned();

    let url = args
        .seed_database_url
        .as_deref()
        .context("--queries needs --seed-database-url (the api's database)")?;
    let started = Instant::now();
    let total = seed(url, &user_id, args.user_tasks).await?;
    eprintln!(
        "{} tasks for {user_id} (and 9 times as many for others) after {:.1}s of seeding; {total} tasks in the database",
        args.user_tasks,
        started.elapsed().as_secs_f64()
    );

    let base = format!("{api}/api/{user_id}/tasks");
    let get = |query: String| {
        let request = client.get(format!("{base}?{query}")).bearer_auth(&token);
        async move {
            let started = Instant::now();
            let response = request.send().await?.error_for_status()?;
            let next = response
                .headers()
                .get("x-next-cursor")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let tasks: Vec<serde_json::Value> = response.json().await?;
            anyhow::Ok((started.elapsed(), tasks.len(), next))
        }
    };

    println!(
        "{} tasks for the user, {total} in all; limit={}; {} timed requests each (ms, client side over HTTP)",
        args.user_tasks, args.page, args.rounds
    );
    println!(
        "{:<40} {:>6} {:>8} {:>8} {:>8}   {:>8} {:>8}",
        "shape", "rows", "p50", "p95", "max", "p2 p50", "p2 max"
    );
    for (name, query) in SHAPES {
        let sep = if query.is_empty() { "" } else { "&" };
        let first = format!("{query}{sep}limit={}", args.page);
        let (first_times, rows, next) = time(&get, &first, args.rounds).await?;
        // The second page, by the first page's cursor.
        let second = match next {
            Some(cursor) => Some(time(&get, &format!("{first}&cursor={cursor}"), args.rounds).await?.0),
            None => None,
        };
        let (p50, p95, max) = stats(&first_times);
        let (p2_50, p2_max) = second
            .map(|t| {
                let (p50, _, max) = stats(&t);
                (format!("{p50:.2}"), format!("{max:.2}"))
            })
            .unwrap_or(("-".into(), "-".into()));
        println!("{name:<40} {rows:>6} {p50:>8.2} {p95:>8.2} {max:>8.2}   {p2_50:>8} {p2_max:>8}");
    }

    // Deep in the list: 50 pages of 1,000 along each sort, then a page of `--page` there.
    println!("\ndeep pages (after 50,000 tasks):");
    for sort in ["created", "title", "due_date", "priority"] {
        let mut cursor: Option<String> = None;
        for _ in 0..50 {
            let c = cursor.as_deref().map(|c| format!("&cursor={c}")).unwrap_or_default();
            let (_, _, next) = get(format!("sort={sort}&limit=1000{c}")).await?;
            cursor = next;
            if cursor.is_none() {
                break;
            }
        }
        let Some(cursor) = cursor else { continue };
        let (times, rows, _) = time(
            &get,
            &format!("sort={sort}&limit={}&cursor={cursor}", args.page),
            args.rounds,
        )
        .await?;
        let (p50, p95, max) = stats(&times);
        println!(
            "{:<40} {rows:>6} {p50:>8.2} {p95:>8.2} {max:>8.2}",
            format!("sort={sort}, page 1001")
        );
    }
    Ok(())
}

async fn time<F, Fut>(get: &F, query: &str, rounds: usize) -> anyhow::Result<(Vec<Duration>, usize, Option<String>)>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Duration, usize, Option<String>)>>,
{
    let mut times = Vec::with_capacity(rounds);
    let (mut rows, mut next) = (0, None);
    for round in 0..rounds + 3 {
        let (elapsed, n, cursor) = get(query.to_owned()).await?;
        (rows, next) = (n, cursor);
        if round >= 3 {
            times.push(elapsed);
        }
    }
    Ok((times, rows, next))
}

/// p50, p95 and max in milliseconds.
fn stats(times: &[Duration]) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), at(1.0))
}

/// One task's columns from the integer `n` (the user's tasks are every tenth `n`; `m` varies
/// their attributes): SQL shared by both databases but for dates and JSON.
fn task_select(time: &dyn Fn(&str) -> String, json: &str, newline: &str) -> String {
    let title = "CASE WHEN m % 1000 = 3 THEN 'Feed the zebra' ELSE CASE m % 8 WHEN 0 THEN 'Buy milk' \
        WHEN 1 THEN 'Write the report' WHEN 2 THEN 'Pay the invoice' WHEN 3 THEN 'Water the garden' \
        WHEN 4 THEN 'Team meeting' WHEN 5 THEN 'Call the dentist' WHEN 6 THEN 'File taxes' \
        ELSE 'Do the laundry' END END || ' #' || m";
    let description = "'Seeded by tasktrail bench --queries'";
    let tags = format!(
        "CASE WHEN m % 1000 = 7 THEN '[\"urgent\"]' WHEN m % 4 = 0 THEN '[\"work\"]' \
         WHEN m % 4 = 1 THEN '[\"home\",\"errand\"]' ELSE '[]' END{json}"
    );
    format!(
        "SELECT user_id, title, {description}, completed, priority, tags, due_date, created_at, created_at, \
         LOWER(title || {newline} || {description}) FROM (SELECT \
         CASE WHEN n % 10 = 0 THEN $1 ELSE 'bench-filler-' || (n % 997) END AS user_id, \
         {title} AS title, (m % 10 < 3) AS completed, \
         CASE m % 3 WHEN 0 THEN 'high' WHEN 1 THEN 'medium' ELSE 'low' END AS priority, \
         {tags} AS tags, \
         CASE WHEN m % 3 = 0 THEN NULL ELSE {due} END AS due_date, \
         {created} AS created_at \
         FROM (SELECT n, n / 10 AS m FROM seq) AS s) AS t",
        tags = tags,
        due = time("$4 + ((m * 7919) % 360 - 180) * 86400"),
        created = time("$4 - ($3 - n)"),
    )
}

const INSERT: &str = "INSERT INTO tasks (user_id, title, description, completed, priority, tags, due_date, \
     created_at, updated_at, search_text)";

/// Seeds `user_tasks` tasks for `user_id` and nine times as many for 997 other users, in
/// transactions of 100,000, unless the user has tasks already (an earlier run's); answers how
/// many tasks the database then holds.
async fn seed(url: &str, user_id: &str, user_tasks: u32) -> anyhow::Result<i64> {
    let now = chrono::Utc::now().timestamp();
    let n_max = i64::from(user_tasks.max(1)) * 10;
    if url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(url)
            .await
            .context("opening the SQLite database")?;
        sqlx::query("PRAGMA busy_timeout = 30000").execute(&mut db).await?;
        let has: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut db)
            .await?;
        if has > 0 {
            return Ok(sqlx::query_scalar("SELECT COUNT(*) FROM tasks")
                .fetch_one(&mut db)
                .await?);
        }
        // Text timestamps as sqlx writes them (RFC 3339, `+00:00`), so they compare as stored.
        let time = |secs: &str| format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', {secs}, 'unixepoch')");
        let select = task_select(&time, "", "char(10)");
        let sql = format!(
            "{INSERT} WITH RECURSIVE seq(n) AS (SELECT $2 UNION ALL SELECT n + 1 FROM seq WHERE n < $5) {select}"
        );
        for (from, to) in batches(n_max) {
            let mut tx = db.begin().await?;
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(user_id)
                .bind(from)
                .bind(n_max)
                .bind(now)
                .bind(to)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        sqlx::query("ANALYZE").execute(&mut db).await?;
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM tasks")
            .fetch_one(&mut db)
            .await?)
    } else {
        let mut db = sqlx::PgConnection::connect(url)
            .await
            .context("connecting to PostgreSQL")?;
        let has: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut db)
            .await?;
        if has > 0 {
            return Ok(sqlx::query_scalar("SELECT COUNT(*) FROM tasks")
                .fetch_one(&mut db)
                .await?);
        }
        let time = |secs: &str| format!("to_timestamp(({secs})::double precision)");
        let select = task_select(&time, "::jsonb", "chr(10)");
        let sql = format!("{INSERT} WITH seq(n) AS (SELECT generate_series($2::bigint, $5::bigint)) {select}");
        for (from, to) in batches(n_max) {
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(user_id)
                .bind(from)
                .bind(n_max)
                .bind(now)
                .bind(to)
                .execute(&mut db)
                .await?;
        }
        sqlx::query("VACUUM ANALYZE tasks").execute(&mut db).await?;
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM tasks")
            .fetch_one(&mut db)
            .await?)
    }
}

/// `n` from 1 to `n_max` in ranges of 100,000.
fn batches(n_max: i64) -> Vec<(i64, i64)> {
    (0..(n_max + 99_999) / 100_000)
        .map(|b| (b * 100_000 + 1, ((b + 1) * 100_000).min(n_max)))
        .collect()
}
