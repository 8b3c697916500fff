//! All configuration, in one place: every flag can also be set by the environment variable
//! named in `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use web::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "tasktrail",
    version,
    about = "Event-driven todo service with a per-user audit trail.",
    long_about = "Event-driven todo service with a per-user audit trail.\n\nWith no subcommand, runs `serve`: the whole system in one process on SQLite files in ./data, HTTP on http://127.0.0.1:8080.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Embedded mode (default): api, audit trail and notifications in one process.
    Serve(ServeArgs),
    /// Apply the database migrations of the api and audit stores, then exit.
    Migrate(MigrateArgs),
    /// Load-generate against a running instance and check that no event is lost or doubled.
    Bench(bench::BenchArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TASKTRAIL_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Where the SQLite files and the generated JWT secret live.
    #[arg(long, env = "TASKTRAIL_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Use this PostgreSQL database instead of SQLite files (postgres://user:pass@host/db).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The database to migrate; without it, the SQLite files in --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[arg(long, env = "TASKTRAIL_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[arg(long, env = "TASKTRAIL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Log format: text for people, json for log collectors.
    #[arg(long, env = "TASKTRAIL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// HS256 secret for the tokens we issue (32 bytes or more). Unset: generated once and
    /// kept in <data-dir>/jwt-secret.
    #[arg(long, env = "TASKTRAIL_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Also accept EdDSA/RS256 tokens signed by the keys at this JWKS URL (e.g. Better Auth's
    /// /api/auth/jwks); the token's `sub` is the user id.
    #[arg(long, env = "TASKTRAIL_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Lifetime of the tokens we issue.
    #[arg(long, env = "TASKTRAIL_TOKEN_TTL", value_parser = humantime::parse_duration, default_value = "24h")]
    pub token_ttl: Duration,
    /// How long audit entries are kept.
    #[arg(long, env = "AUDIT_RETENTION", value_parser = humantime::parse_duration, default_value = "7d")]
    pub audit_retention: Duration,
    /// How often the retention purge runs.
    #[arg(long, env = "AUDIT_PURGE_INTERVAL", value_parser = humantime::parse_duration, default_value = "1h")]
    pub audit_purge_interval: Duration,
    /// Sign-ups allowed per client IP per minute.
    #[arg(long, env = "TASKTRAIL_SIGNUP_LIMIT", default_value_t = 20)]
    pub signup_limit: u32,
    /// Failed logins allowed per account per minute (three times this per client IP).
    #[arg(long, env = "TASKTRAIL_LOGIN_FAILURE_LIMIT", default_value_t = 10)]
    pub login_failure_limit: u32,
    /// Largest database connection pool (PostgreSQL; SQLite uses one writer and up to 8 readers).
    #[arg(long, env = "TASKTRAIL_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
}
