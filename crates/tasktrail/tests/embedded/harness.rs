//! Starts the real application (in-process, or as a child process) on a random port, on a
//! fresh SQLite directory or a fresh PostgreSQL database, and talks to it over HTTP.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tasktrail::config::{Cli, Command, ServeArgs};
use tasktrail::server::Running as Embedded;

#[path = "../common/http_client.rs"]
mod http_client;
pub use http_client::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// Keeps the handle of the in-process server; it stops with the test's runtime.
    _server: Embedded,
}

pub fn fresh_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tasktrail-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A new, empty PostgreSQL database on the server named by TASKTRAIL_TEST_DATABASE_URL.
pub async fn fresh_postgres_database() -> String {
    let admin = std::env::var("TASKTRAIL_TEST_DATABASE_URL")
        .expect("TASKTRAIL_TEST_DATABASE_URL must name a PostgreSQL server (scripts/test sets it up)");
    let name = format!("tt_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (prefix, _) = admin.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

/// The command line a test server runs with: generous rate limits unless a test says otherwise.
pub fn serve_argv(addr: &str, data_dir: &std::path::Path, database_url: Option<&str>, extra: &[&str]) -> Vec<String> {
    let mut argv: Vec<String> = ["tasktrail", "serve", "--addr", addr]
        .into_iter()
        .map(String::from)
        .collect();
    if !extra.contains(&"--signup-limit") {
        argv.extend(["--signup-limit".into(), "100000".into()]);
    }
    if !extra.contains(&"--login-failure-limit") {
        argv.extend(["--login-failure-limit".into(), "1000".into()]);
    }
    for limit in ["--chat-limit", "--mcp-limit"] {
        if !extra.contains(&limit) {
            argv.extend([limit.into(), "100000".into()]);
        }
    }
    argv.push("--data-dir".into());
    argv.push(data_dir.display().to_string());
    if let Some(url) = database_url {
        argv.push("--database-url".into());
        argv.push(url.into());
    }
    argv.extend(extra.iter().map(|s| s.to_string()));
    argv
}

fn serve_args(argv: Vec<String>) -> ServeArgs {
    match Cli::try_parse_from(argv).expect("valid test command line").command {
        Some(Command::Serve(args)) => args,
        _ => unreachable!(),
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    pub async fn spawn_with(backend: Backend, extra: &[&str]) -> Self {
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres_database().await),
        };
        Self::spawn_on(database_url, extra).await
    }

    /// On the given database (None: SQLite in a fresh directory), e.g. a PostgreSQL URL that
    /// asks for TLS.
    pub async fn spawn_on(database_url: Option<String>, extra: &[&str]) -> Self {
        let data_dir = fresh_dir();
        let args = serve_args(serve_argv("127.0.0.1:0", &data_dir, database_url.as_deref(), extra));
        let app = tasktrail::embedded::start(args).await.expect("app starts");
        Self {
            base: format!("http://{}", app.addr),
            client: reqwest::Client::new(),
            data_dir,
            database_url,
            _server: app,
        }
    }

    pub fn audit_database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("audit.sqlite").display()))
    }

    pub fn notify_database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("notify.sqlite").display()))
    }

    pub fn api_database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("api.sqlite").display()))
    }

    pub async fn signup(&self) -> User {
        signup(&self.client, &self.base).await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        call(&self.client, &self.base, method, path, token, body).await
    }

    /// POST without a token (sign-up, login).
    pub async fn post_anonymously(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, None, Some(body)).await
    }

    pub async fn create_task(&self, user: &User, title: &str) -> Value {
        create_task(&self.client, &self.base, user, title).await
    }

    pub async fn trail(&self, user: &User) -> Vec<Value> {
        trail(&self.client, &self.base, user).await
    }

    /// Begins the server's shutdown, as SIGTERM does.
    pub fn shutdown(&self) {
        self._server.shutdown();
    }

    pub async fn wait_for_trail(&self, user: &User, count: usize) -> Vec<Value> {
        wait_for_trail(&self.client, &self.base, user, count, Duration::from_secs(5)).await
    }
}

/// Creates a task from `body`, which must be accepted (201); the task as answered.
pub async fn create_task_from(app: &TestApp, user: &User, body: Value) -> Value {
    let path = format!("/api/{}/tasks", user.id);
    let (status, task) = app.call(Method::POST, &path, Some(&user.token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    task
}

/// The first page of the user's notifications, newest first.
pub async fn notifications(app: &TestApp, user: &User) -> Vec<Value> {
    let path = format!("/api/{}/notifications", user.id);
    let (status, page) = app.call(Method::GET, &path, Some(&user.token), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["notifications"].as_array().unwrap().clone()
}

/// Runs the same scenario on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::harness::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::harness::Backend::Postgres).await
                }
            }
        )*
    };
}

/// The real binary as a child process, for tests that kill it.
pub struct ServerProcess {
    pub base: String,
    child: std::process::Child,
}

impl ServerProcess {
    pub async fn start(data_dir: &std::path::Path, database_url: Option<&str>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let argv = serve_argv(&format!("127.0.0.1:{port}"), data_dir, database_url, &[]);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_tasktrail"))
            .args(&argv[1..])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tasktrail");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server did not become ready; see {}",
                data_dir.join("server.log").display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { base, child }
    }

    pub fn kill_hard(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and returns the exit status, waiting at most `timeout`.
    pub async fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within {timeout:?} of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
