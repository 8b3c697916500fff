//! Embedded mode: the api, the audit trail and the notification consumer in one process,
//! joined by the in-process bus. The same handlers and stores as the distributed services.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use api::{AccountLimits, ApiState};
use audit::{AuditConsumer, AuditState, RetentionPurger};
use auth::Authenticator;
use events::{InProcessBus, OutboxRelay, RelayConfig, Subscriber};
use futures::FutureExt;
use notify::NotifyConsumer;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

use crate::config::ServeArgs;
use crate::ops::{self, ReadinessCheck};

pub struct Embedded {
    pub addr: SocketAddr,
    stop: CancellationToken,
    done: JoinHandle<anyhow::Result<()>>,
}

impl Embedded {
    /// Starts draining: in-flight requests finish, then the relay and the purge stop.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub async fn wait(self) -> anyhow::Result<()> {
        self.done.await?
    }
}

/// The api's and the audit's databases: the one PostgreSQL database given, or two SQLite files
/// (two files, two write locks: audit inserts never queue behind task writes).
fn database_urls(database_url: Option<&str>, data_dir: &Path) -> (String, String) {
    match database_url {
        Some(url) => (url.to_owned(), url.to_owned()),
        None => (
            format!("sqlite://{}", data_dir.join("api.sqlite").display()),
            format!("sqlite://{}", data_dir.join("audit.sqlite").display()),
        ),
    }
}

pub async fn start(args: ServeArgs) -> anyhow::Result<Embedded> {
    web::telemetry::init_logging(args.common.log_format);
    // Install the metrics recorder before anything records.
    web::telemetry::metrics_handle();
    let common = &args.common;
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let (api_url, audit_url) = database_urls(args.database_url.as_deref(), &args.data_dir);

    let api_store = api::store::open(
        db::Database::connect(&api_url, common.db_max_connections)
            .await
            .context("api database")?,
    );
    api_store.migrate().await.context("api migrations")?;
    let audit_store = audit::store::open(
        db::Database::connect(&audit_url, common.db_max_connections)
            .await
            .context("audit database")?,
    );
    audit_store.migrate().await.context("audit migrations")?;

    let secret = crate::secrets::jwt_secret(common.jwt_secret.as_deref(), &args.data_dir)?;
    let mut authenticator = Authenticator::new(&secret, common.token_ttl)?;
    if let Some(url) = &common.jwks_url {
        authenticator = authenticator.with_jwks(url.clone())?;
    }
    let authenticator = Arc::new(authenticator);

    let events_written = Arc::new(Notify::new());
    let api_state = ApiState {
        store: api_store.clone(),
        tasks: api::tasks::TaskService::new(api_store.clone(), events_written.clone()),
        auth: authenticator.clone(),
        limits: Arc::new(AccountLimits::per_minute(
            common.signup_limit,
            common.login_failure_limit,
        )),
    };
    let audit_state = AuditState {
        store: audit_store.clone(),
        auth: authenticator,
    };

    let subscribers: Vec<Arc<dyn Subscriber>> = vec![
        Arc::new(AuditConsumer::new(audit_store.clone())),
        Arc::new(NotifyConsumer),
    ];
    // On PostgreSQL the relay gets its own small pool, so that under load it does not queue
    // for a connection behind every request. SQLite has one write lock per file: a second
    // writer would only contend for it, so there the relay shares the single writer.
    let relay_store = match args.database_url {
        Some(_) => api::store::open(db::Database::connect(&api_url, 2).await.context("relay database")?),
        None => api_store.clone(),
    };
    let relay = OutboxRelay::new(
        Arc::new(api::store::StoreOutbox(relay_store)),
        Arc::new(InProcessBus::new(subscribers)),
        events_written,
        RelayConfig::default(),
    );
    let purger = RetentionPurger::new(audit_store.clone(), common.audit_retention, common.audit_purge_interval);

    let checks: Vec<(&'static str, ReadinessCheck)> = vec![
        ("api_database", {
            let s = api_store.clone();
            Arc::new(move || {
                let s = s.clone();
                async move { s.ping().await }.boxed()
            })
        }),
        ("audit_database", {
            let s = audit_store.clone();
            Arc::new(move || {
                let s = s.clone();
                async move { s.ping().await }.boxed()
            })
        }),
    ];
    let mut openapi = api::openapi::document();
    openapi.merge(audit::openapi::document());

    let app = api::router(api_state)
        .merge(audit::router(audit_state))
        .merge(ops::router(checks, openapi));
    let app = web::middleware::standard_layers(app).layer(TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(30),
    ));

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("binding {}", args.addr))?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let background_stop = CancellationToken::new();
    let relay_task = tokio::spawn(relay.run(background_stop.clone()));
    let purge_task = tokio::spawn(purger.run(background_stop.clone()));

    let server_stop = stop.clone();
    let done = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { server_stop.cancelled().await })
            .await?;
        // Requests have drained; every committed event is in the outbox. Stop the background
        // work; undelivered events wait in the outbox for the next start.
        background_stop.cancel();
        let _ = relay_task.await;
        let _ = purge_task.await;
        tracing::info!("stopped");
        Ok(())
    });
    tracing::info!(%addr, database = if args.database_url.is_some() { "postgres" } else { "sqlite" }, "tasktrail serving (embedded mode)");
    Ok(Embedded { addr, stop, done })
}

/// Runs until SIGTERM or Ctrl-C, then drains.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let app = start(args).await?;
    web::shutdown::cancel_on_signal(app.stop_token());
    println!("tasktrail is running on http://{}", app.addr);
    app.wait().await
}

/// `tasktrail migrate`: applies both stores' migrations and exits.
pub async fn migrate(args: crate::config::MigrateArgs) -> anyhow::Result<()> {
    web::telemetry::init_logging(args.log_format);
    std::fs::create_dir_all(&args.data_dir)?;
    let (api_url, audit_url) = database_urls(args.database_url.as_deref(), &args.data_dir);
    api::store::open(db::Database::connect(&api_url, 2).await?)
        .migrate()
        .await?;
    audit::store::open(db::Database::connect(&audit_url, 2).await?)
        .migrate()
        .await?;
    println!("migrations applied");
    Ok(())
}
