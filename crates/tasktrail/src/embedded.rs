//! Embedded mode: the api, the audit trail and the notification consumer in one process,
//! joined by the in-process bus. The same handlers and stores as the distributed services.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use audit::{AuditConsumer, AuditState, RetentionPurger};
use events::{InProcessBus, OutboxRelay, RelayConfig, Subscriber};
use notify::NotifyConsumer;
use tokio::sync::Notify;

use crate::config::ServeArgs;
use crate::ops;
use crate::server::{self, Running, Server};

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

pub async fn start(args: ServeArgs) -> anyhow::Result<Running> {
    web::telemetry::init_logging(args.log.log_format);
    // Install the metrics recorder before anything records.
    web::telemetry::metrics_handle();
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let (api_url, audit_url) = database_urls(args.database_url.as_deref(), &args.data_dir);

    let api_store = api::store::open(
        db::Database::connect(&api_url, args.db_max_connections)
            .await
            .context("api database")?,
    );
    api_store.migrate().await.context("api migrations")?;
    let audit_store = audit::store::open(
        db::Database::connect(&audit_url, args.db_max_connections)
            .await
            .context("audit database")?,
    );
    audit_store.migrate().await.context("audit migrations")?;

    let secret = crate::secrets::jwt_secret(args.auth.jwt_secret.as_deref(), &args.data_dir)?;
    let authenticator = crate::secrets::authenticator(&secret, &args.auth)?;

    let events_written = Arc::new(Notify::new());
    let api_state = crate::api_state::build(
        api_store.clone(),
        events_written.clone(),
        authenticator.clone(),
        &args.accounts,
        &args.chat,
    )?;
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
    let purger = RetentionPurger::new(
        audit_store.clone(),
        args.retention.audit_retention,
        args.retention.audit_purge_interval,
    );

    let checks = vec![
        (
            "api_database",
            ops::readiness_check(api_store.clone(), |s| async move { s.ping().await }),
        ),
        (
            "audit_database",
            ops::readiness_check(audit_store.clone(), |s| async move { s.ping().await }),
        ),
    ];
    let mut openapi = api::openapi::document();
    openapi.merge(audit::openapi::document());

    let server = Server::new(args.addr, args.shutdown_drain);
    let app = api::router(api_state)
        .merge(audit::router(audit_state))
        .merge(ops::router(checks, Some(openapi), server.draining()));
    let running = server
        .start(
            app,
            vec![
                server::background(move |stop| relay.run(stop)),
                server::background(move |stop| purger.run(stop)),
            ],
        )
        .await?;
    tracing::info!(addr = %running.addr, database = if args.database_url.is_some() { "postgres" } else { "sqlite" }, "tasktrail serving (embedded mode)");
    Ok(running)
}

/// Runs until SIGTERM or Ctrl-C, then drains.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let app = start(args).await?;
    println!("tasktrail is running on http://{}", app.addr);
    app.until_signal().await
}

/// `tasktrail migrate`: applies both stores' migrations and exits.
pub async fn migrate(args: crate::config::MigrateArgs) -> anyhow::Result<()> {
    web::telemetry::init_logging(args.log.log_format);
    // The data directory holds the SQLite files only; with a database URL (a container with a
    // read-only root filesystem, say) it is never touched.
    if args.database_url.is_none() {
        std::fs::create_dir_all(&args.data_dir)?;
    }
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
