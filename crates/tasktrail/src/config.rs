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
    /// Distributed mode: the api service alone; events go to Kafka through its Dapr sidecar.
    Api(ApiArgs),
    /// Distributed mode: the audit service alone; events come from Kafka through its Dapr sidecar.
    Audit(AuditArgs),
    /// Distributed mode: the notification service alone; events come through its Dapr sidecar.
    Notify(NotifyArgs),
    /// Apply the database migrations of the api, audit and notification stores, then exit.
    Migrate(MigrateArgs),
    /// Load-generate against a running instance and check that no event is lost or doubled.
    Bench(bench::BenchArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TASKTRAIL_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// On SIGTERM, keep serving this long with /readyz answering 503, so that a load balancer
    /// stops sending requests before the server stops accepting them (docs/zero-downtime.md).
    #[arg(long, env = "TASKTRAIL_SHUTDOWN_DRAIN", value_parser = humantime::parse_duration, default_value = "0s")]
    pub shutdown_drain: Duration,
    /// Where the SQLite files and the generated JWT secret live.
    #[arg(long, env = "TASKTRAIL_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Use this PostgreSQL database instead of SQLite files (postgres://user:pass@host/db).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Largest connection pool of each service (api, audit, notify) on PostgreSQL; SQLite uses
    /// one writer and up to 8 readers per file. More than 8 made op-to-audit p99 worse on two
    /// cores, not throughput better (docs/performance.md).
    #[arg(long, env = "TASKTRAIL_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub db_max_connections: u32,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub accounts: AccountArgs,
    #[command(flatten)]
    pub chat: ChatArgs,
    #[command(flatten)]
    pub reminders: ReminderArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub mail: MailArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Address to listen on.
    #[arg(long, env = "TASKTRAIL_ADDR", default_value = "0.0.0.0:8080")]
    pub addr: SocketAddr,
    /// On SIGTERM, keep serving this long with /readyz answering 503, so that load balancers
    /// and Kubernetes endpoints stop sending requests first (docs/zero-downtime.md).
    #[arg(long, env = "TASKTRAIL_SHUTDOWN_DRAIN", value_parser = humantime::parse_duration, default_value = "5s")]
    pub shutdown_drain: Duration,
    /// The api's PostgreSQL database (users, tasks, outbox).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    #[arg(long, env = "TASKTRAIL_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// The audit service; the api answers GET /api/{user_id}/audit by passing it on there, so
    /// that clients need one origin.
    #[arg(long, env = "TASKTRAIL_AUDIT_URL", default_value = "http://127.0.0.1:8081")]
    pub audit_url: String,
    /// Where the api passes the trail's stream (GET /api/{user_id}/audit/stream) on to; unset:
    /// --audit-url. Must reach the audit service without Dapr service invocation, which (daprd
    /// 1.14) holds a streamed answer until it ends: in Kubernetes, the audit Service.
    #[arg(long, env = "TASKTRAIL_AUDIT_STREAM_URL")]
    pub audit_stream_url: Option<String>,
    /// The notification service; the api answers GET /api/{user_id}/notifications by passing
    /// it on there, as for the audit trail.
    #[arg(long, env = "TASKTRAIL_NOTIFY_URL", default_value = "http://127.0.0.1:8082")]
    pub notify_url: String,
    /// How many bulk publish requests the relay has in flight at once.
    #[arg(long, env = "TASKTRAIL_PUBLISH_CONCURRENCY", default_value_t = 4)]
    pub publish_concurrency: usize,
    /// Most events in one bulk publish request to the sidecar.
    #[arg(long, env = "TASKTRAIL_PUBLISH_BULK_SIZE", default_value_t = 500)]
    pub publish_bulk_size: usize,
    #[command(flatten)]
    pub dapr: DaprArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub accounts: AccountArgs,
    #[command(flatten)]
    pub chat: ChatArgs,
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Address to listen on (the sidecar delivers events here too). Loopback by default: the
    /// sidecar reaches its app there; in Kubernetes the chart sets 0.0.0.0 for the probes.
    #[arg(long, env = "TASKTRAIL_ADDR", default_value = "127.0.0.1:8081")]
    pub addr: SocketAddr,
    /// On SIGTERM, keep serving this long with /readyz answering 503 (docs/zero-downtime.md).
    #[arg(long, env = "TASKTRAIL_SHUTDOWN_DRAIN", value_parser = humantime::parse_duration, default_value = "5s")]
    pub shutdown_drain: Duration,
    /// The audit service's PostgreSQL database (audit_log).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    #[arg(long, env = "TASKTRAIL_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    #[command(flatten)]
    pub dapr: DaprArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
}

#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    /// Address to listen on (the sidecar delivers events here). Loopback by default, as for audit.
    #[arg(long, env = "TASKTRAIL_ADDR", default_value = "127.0.0.1:8082")]
    pub addr: SocketAddr,
    /// On SIGTERM, keep serving this long with /readyz answering 503 (docs/zero-downtime.md).
    #[arg(long, env = "TASKTRAIL_SHUTDOWN_DRAIN", value_parser = humantime::parse_duration, default_value = "5s")]
    pub shutdown_drain: Duration,
    /// The notification service's PostgreSQL database (notifications: the queue and its record).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    #[arg(long, env = "TASKTRAIL_DB_MAX_CONNECTIONS", default_value_t = 4)]
    pub db_max_connections: u32,
    /// The api's Dapr app id: notify asks it whom to email, by service invocation of
    /// /internal/users/{user_id} through its own sidecar.
    #[arg(long, env = "TASKTRAIL_API_APP_ID", default_value = "api")]
    pub api_app_id: String,
    #[command(flatten)]
    pub dapr: DaprArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub mail: MailArgs,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The database to migrate; without it, the SQLite files in --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[arg(long, env = "TASKTRAIL_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub log: LogArgs,
}

/// The HTTP server's request limit and where /metrics is served, the same in every mode.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Longest a request may take; then 408. A chat turn has its own, longer deadline
    /// (--chat-timeout plus 15 s to load and store the conversation).
    #[arg(long, env = "TASKTRAIL_REQUEST_TIMEOUT", value_parser = humantime::parse_duration, default_value = "30s")]
    pub request_timeout: Duration,
    /// Serve /metrics on this address only (an admin port, e.g. 127.0.0.1:9464), and not on
    /// --addr; unset: /metrics is served on --addr beside the API.
    #[arg(long, env = "TASKTRAIL_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log format: text for people, json for log collectors.
    #[arg(long, env = "TASKTRAIL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// HS256 secret for the tokens we issue (32 bytes or more). Embedded mode, unset: generated
    /// once and kept in <data-dir>/jwt-secret. Distributed mode: required, the same for the api,
    /// the audit and the notification service.
    #[arg(long, env = "TASKTRAIL_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Also accept EdDSA/RS256 tokens signed by the keys at this JWKS URL (e.g. Better Auth's
    /// /api/auth/jwks), when their `iss` is --jwt-issuer and their `aud` names --jwt-audience
    /// (both required with this flag). Such a token's user id is its `sub` prefixed with `ext:`
    /// (`sub` "abc" is user `ext:abc`): our own user ids are UUIDs, so an external subject can
    /// never act as a local user, whatever the provider puts in `sub`.
    #[arg(long, env = "TASKTRAIL_JWKS_URL", requires_all = ["jwt_issuer", "jwt_audience"])]
    pub jwks_url: Option<String>,
    /// The `iss` that external tokens must carry (e.g. Better Auth's base URL).
    #[arg(long, env = "TASKTRAIL_JWT_ISSUER", requires = "jwks_url")]
    pub jwt_issuer: Option<String>,
    /// A value that the `aud` of external tokens must hold: this service as the provider names
    /// it (e.g. Better Auth's base URL, its default audience).
    #[arg(long, env = "TASKTRAIL_JWT_AUDIENCE", requires = "jwks_url")]
    pub jwt_audience: Option<String>,
    /// Lifetime of the tokens we issue.
    #[arg(long, env = "TASKTRAIL_TOKEN_TTL", value_parser = humantime::parse_duration, default_value = "24h")]
    pub token_ttl: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct AccountArgs {
    /// Sign-ups allowed per client IP per minute.
    #[arg(long, env = "TASKTRAIL_SIGNUP_LIMIT", default_value_t = 20)]
    pub signup_limit: u32,
    /// Failed logins allowed per account and client IP per minute (three times this per client
    /// IP): a stranger's failures never lock the account's owner out.
    #[arg(long, env = "TASKTRAIL_LOGIN_FAILURE_LIMIT", default_value_t = 10)]
    pub login_failure_limit: u32,
    /// The proxies in front of this service whose X-Forwarded-For names the client for the
    /// limits above: comma-separated IPs or CIDR ranges (e.g. 10.0.0.0/8). The header is read
    /// only from these peers, right to left, skipping listed hops; the first other address is
    /// the client. Empty (the default): the socket peer is the client and the header is
    /// ignored. List only proxies that append the address they saw; a listed peer that passes
    /// the header on unchanged lets clients choose their own address.
    #[arg(
        long,
        env = "TASKTRAIL_TRUSTED_PROXIES",
        default_value = "",
        hide_default_value = true
    )]
    pub trusted_proxies: web::TrustedProxies,
}

/// The chat assistant's language model: any OpenAI-compatible Chat Completions server (OpenAI,
/// Ollama, vLLM). Without an API key the offline assistant answers.
#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    /// API key of the Chat Completions server; unset: the offline assistant answers chat.
    /// (Ollama and vLLM accept any non-empty key.)
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,
    /// Base URL of the Chat Completions API, up to and including /v1.
    #[arg(long, env = "OPENAI_BASE_URL", default_value = "https://api.openai.com/v1")]
    pub openai_base_url: String,
    /// The model to ask.
    #[arg(long, env = "OPENAI_MODEL", default_value = "gpt-4o-mini")]
    pub openai_model: String,
    /// Longest a chat turn may take, every model call and tool included; then 504.
    #[arg(long, env = "TASKTRAIL_CHAT_TIMEOUT", value_parser = humantime::parse_duration, default_value = "60s")]
    pub chat_timeout: Duration,
    /// Most model calls per user message.
    #[arg(long, env = "TASKTRAIL_CHAT_MAX_ROUNDS", default_value_t = 6)]
    pub chat_max_rounds: u32,
    /// Earlier messages of the conversation sent to the model with each turn.
    #[arg(long, env = "TASKTRAIL_CHAT_HISTORY", default_value_t = 20)]
    pub chat_history: u32,
    /// Chat requests one user may make per minute (each may make several model calls); then 429.
    #[arg(long, env = "TASKTRAIL_CHAT_LIMIT", default_value_t = 20)]
    pub chat_limit: u32,
    /// Requests to /mcp one user may make per minute; then 429.
    #[arg(long, env = "TASKTRAIL_MCP_LIMIT", default_value_t = 300)]
    pub mcp_limit: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ReminderArgs {
    /// How often embedded mode looks for reminders that have come due (each goes out once, at
    /// the first look after its time, however many processes look). Distributed mode: the
    /// Dapr cron binding `reminder-scan` decides.
    #[arg(long, env = "TASKTRAIL_REMINDER_SCAN_INTERVAL", value_parser = humantime::parse_duration, default_value = "10s")]
    pub reminder_scan_interval: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// How long audit entries are kept.
    #[arg(long, env = "AUDIT_RETENTION", value_parser = humantime::parse_duration, default_value = "7d")]
    pub audit_retention: Duration,
    /// How often the retention purge runs.
    #[arg(long, env = "AUDIT_PURGE_INTERVAL", value_parser = humantime::parse_duration, default_value = "1h")]
    pub audit_purge_interval: Duration,
}

/// How notification emails leave: an SMTP server, or the log when none is set.
#[derive(Clone, Args)]
pub struct MailArgs {
    /// The SMTP server for notification emails: smtp://host:25 (no TLS: a local relay),
    /// smtp://host:587?tls=starttls (STARTTLS, required), smtps://host:465 (TLS from the start);
    /// log in with smtp://user:password@host... (both URL-encoded). Unset: emails are written
    /// to the log instead of sent.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of notification emails, e.g. "tasktrail <noreply@example.com>" (required
    /// with --smtp-url; the provider must accept it as a sender).
    #[arg(long, env = "SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// A PEM file of CA certificates to trust for the SMTP server besides the system's (a
    /// private relay with its own CA).
    #[arg(long, env = "SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// Longest one email may take to send (connecting, TLS, login and the transfer); then it
    /// counts as a temporary failure.
    #[arg(long, env = "SMTP_TIMEOUT", value_parser = humantime::parse_duration, default_value = "30s")]
    pub smtp_timeout: Duration,
    /// The UI's address as users reach it: emails link there.
    #[arg(long, env = "TASKTRAIL_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,
    /// How long a notification email that fails temporarily (SMTP unreachable, 4xx) is
    /// retried, with backoff, before it is recorded as failed.
    #[arg(long, env = "TASKTRAIL_NOTIFY_RETRY_WINDOW", value_parser = humantime::parse_duration, default_value = "15m")]
    pub notify_retry_window: Duration,
}

// By hand: the SMTP URL may carry a password.
impl std::fmt::Debug for MailArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailArgs")
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "<set>"))
            .field("smtp_from", &self.smtp_from)
            .field("smtp_ca_file", &self.smtp_ca_file)
            .field("smtp_timeout", &self.smtp_timeout)
            .field("public_url", &self.public_url)
            .field("notify_retry_window", &self.notify_retry_window)
            .finish()
    }
}

impl MailArgs {
    /// The mailer these settings describe, every setting checked: SMTP when --smtp-url is set,
    /// else the log.
    pub fn mailer(&self) -> anyhow::Result<std::sync::Arc<dyn notify::mail::Mailer>> {
        let public_url = self.public_url.trim();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://"))
            || public_url.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            anyhow::bail!("TASKTRAIL_PUBLIC_URL {public_url:?} must be an http:// or https:// URL (emails link to it)");
        }
        let Some(url) = self.smtp_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            if self.smtp_ca_file.is_some() {
                anyhow::bail!("SMTP_CA_FILE is set but SMTP_URL is not");
            }
            return Ok(std::sync::Arc::new(notify::mail::LogMailer));
        };
        let Some(from) = self.smtp_from.as_deref() else {
            anyhow::bail!("SMTP_FROM is required with SMTP_URL: the sender, e.g. \"tasktrail <noreply@example.com>\"");
        };
        let mailer = notify::mail::SmtpMailer::new(&notify::mail::SmtpConfig {
            url: url.to_string(),
            from: from.to_string(),
            ca_file: self.smtp_ca_file.clone(),
            timeout: self.smtp_timeout,
        })?;
        Ok(std::sync::Arc::new(mailer))
    }

    pub fn notify_settings(&self) -> notify::NotifySettings {
        notify::NotifySettings {
            public_url: self.public_url.trim().to_owned(),
            retry_window: self.notify_retry_window,
            smtp: self.smtp_url.as_deref().is_some_and(|u| !u.trim().is_empty()),
        }
    }
}

/// Where the Dapr sidecar is and which pub/sub names to use.
#[derive(Debug, Clone, Args)]
pub struct DaprArgs {
    /// The sidecar's host.
    #[arg(long, env = "DAPR_HOST", default_value = "127.0.0.1")]
    pub dapr_host: String,
    /// The sidecar's HTTP port.
    #[arg(long, env = "DAPR_HTTP_PORT", default_value_t = 3500)]
    pub dapr_http_port: u16,
    /// The Dapr pub/sub component's name.
    #[arg(long, env = "TASKTRAIL_PUBSUB", default_value = "kafka-pubsub")]
    pub pubsub: String,
    /// The topic task events go to.
    #[arg(long, env = "TASKTRAIL_TOPIC", default_value = "task-events")]
    pub topic: String,
    /// The topic `reminder.due` events go to (the api) and come from (notify).
    #[arg(long, env = "TASKTRAIL_REMINDERS_TOPIC", default_value = "reminders")]
    pub reminders_topic: String,
    /// The token the sidecar sends in the `dapr-api-token` header of each delivery (the same
    /// value as `APP_API_TOKEN` on daprd). When set, deliveries without it answer 401; unset,
    /// anyone who can reach the port can deliver events (warned about at start).
    #[arg(long, env = "APP_API_TOKEN", hide_env_values = true)]
    pub app_api_token: Option<String>,
}

impl DaprArgs {
    pub fn sidecar_url(&self) -> String {
        format!("http://{}:{}", self.dapr_host, self.dapr_http_port)
    }

    /// Said at the start of a consuming service: without the token, deliveries are trusted
    /// to come from the sidecar on the strength of the network alone.
    pub fn warn_if_unauthenticated(&self) {
        if self.subscription().app_api_token.is_none() {
            tracing::warn!(
                "APP_API_TOKEN is not set: event deliveries are unauthenticated, anyone who can reach this port can forge them"
            );
        }
    }

    /// The route the sidecar delivers the topic to; the Dapr `Subscription` resource
    /// (deploy/dapr/local/subscription.yaml, the Helm chart) names the same path.
    pub fn subscription(&self) -> events::DaprSubscription {
        self.subscription_to(&self.topic)
    }

    /// The same for the reminders topic (notify; deploy/dapr/local/subscription-reminders.yaml).
    pub fn reminders_subscription(&self) -> events::DaprSubscription {
        self.subscription_to(&self.reminders_topic)
    }

    fn subscription_to(&self, topic: &str) -> events::DaprSubscription {
        events::DaprSubscription {
            route: format!("/events/{topic}"),
            app_api_token: self.app_api_token.clone().filter(|t| !t.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap checks flag names, env vars and defaults of every subcommand here, instead of at the
    /// first run of a rarely used subcommand.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// External tokens are only checked for issuer and audience if both are configured: the
    /// JWKS alone is refused at start.
    #[test]
    fn a_jwks_url_needs_an_issuer_and_an_audience() {
        use clap::Parser;
        let url = ["--jwks-url", "https://id.example/jwks"];
        let iss = ["--jwt-issuer", "https://id.example"];
        let aud = ["--jwt-audience", "https://todo.example"];
        for sub in ["serve", "api"] {
            let base = ["tasktrail", sub, "--database-url", "postgres://x/y"];
            let parse = |extra: &[&[&str]]| Cli::try_parse_from(base.iter().chain(extra.iter().copied().flatten()));
            assert!(parse(&[&url]).is_err(), "{sub}: no issuer, no audience");
            assert!(parse(&[&url, &iss]).is_err(), "{sub}: no audience");
            assert!(parse(&[&url, &aud]).is_err(), "{sub}: no issuer");
            assert!(
                parse(&[&iss, &aud]).is_err(),
                "{sub}: an issuer without a JWKS checks nothing"
            );
            assert!(parse(&[&url, &iss, &aud]).is_ok(), "{sub}");
            assert!(parse(&[]).is_ok(), "{sub}");
        }
    }

    /// The mail settings are checked before anything starts: SMTP needs a sender, TLS
    /// settings need TLS, emails need an http(s) link; without SMTP the log is the mailer.
    #[test]
    fn mail_settings_are_checked_at_start() {
        use clap::Parser;
        let mailer = |extra: &[&str]| {
            let argv = ["tasktrail", "notify", "--database-url", "postgres://x/y"]
                .iter()
                .chain(extra);
            match Cli::try_parse_from(argv).unwrap() {
                Cli {
                    command: Some(super::Command::Notify(args)),
                    ..
                } => args.mail.mailer().map(|m| m.describe()),
                _ => unreachable!(),
            }
        };
        assert!(mailer(&[]).unwrap().starts_with("the log"));
        let smtp = ["--smtp-url", "smtp://u:pw@127.0.0.1:1025"];
        let from = ["--smtp-from", "tasktrail <noreply@example.com>"];
        let described = mailer(&[&smtp[..], &from[..]].concat()).unwrap();
        assert_eq!(
            described,
            "SMTP smtp://127.0.0.1:1025 (no TLS, login as u), from tasktrail <noreply@example.com>"
        );
        for wrong in [
            &smtp[..],
            &[&smtp[..], &["--smtp-from", "nobody"]].concat(),
            &[&smtp[..], &from[..], &["--smtp-ca-file", "/etc/hostname"]].concat(),
            &["--smtp-ca-file", "/etc/hostname"][..],
            &["--public-url", "javascript:alert(1)"][..],
            &["--public-url", "http://a b"][..],
        ] {
            assert!(mailer(wrong).is_err(), "{wrong:?}");
        }
        let args = Cli::try_parse_from(["tasktrail", "serve", "--smtp-url", "smtp://u:pw@h"]).unwrap();
        assert!(!format!("{args:?}").contains("pw"), "the password shows in {args:?}");
    }

    #[test]
    fn trusted_proxies_are_ips_and_ranges() {
        use clap::Parser;
        let parse = |value: &str| match Cli::try_parse_from(["tasktrail", "serve", "--trusted-proxies", value]) {
            Ok(Cli {
                command: Some(super::Command::Serve(args)),
                ..
            }) => Ok(args.accounts.trusted_proxies),
            Ok(_) => unreachable!(),
            Err(e) => Err(e),
        };
        let proxies = parse("127.0.0.1, 10.0.0.0/8").unwrap();
        assert!(proxies.contains("10.3.2.1".parse().unwrap()));
        assert!(!proxies.contains("11.3.2.1".parse().unwrap()));
        assert!(parse("").unwrap().is_empty());
        assert!(parse("10.0.0.0/40").is_err());
        assert!(parse("lb.internal").is_err());
    }
}
