use std::sync::Arc;

use anyhow::Context;
use audit::{AuditConsumer, AuditState, RetentionPurger};

use crate::config::AuditArgs;
use crate::ops;
use crate::server::{self, Running, Server};

pub async fn start(args: AuditArgs) -> anyhow::Result<Running> {
    web::telemetry::init_logging(args.log.log_format);
    web::telemetry::metrics_handle();
    let store = audit::store::open(
        db::Database::connect(&args.database_url, args.db_max_connections)
            .await
            .context("audit database")?,
    );
    store.migrate().await.context("audit migrations")?;
    let authenticator = crate::secrets::authenticator(&crate::secrets::required_jwt_secret(&args.auth)?, &args.auth)?;

    let purger = RetentionPurger::new(
        store.clone(),
        args.retention.audit_retention,
        args.retention.audit_purge_interval,
    );
    let checks = vec![(
        "audit_database",
        ops::readiness_check(store.clone(), |s| async move { s.ping().await }),
    )];
    let server = Server::new(args.addr, args.shutdown_drain);
    let app = audit::router(AuditState {
        store: store.clone(),
        auth: authenticator,
    })
    .merge(events::subscription_router(
        args.dapr.subscription(),
        Arc::new(AuditConsumer::new(store)),
    ))
    .merge(ops::router(checks, Some(audit::openapi::document()), server.draining()));
    let running = server
        .start(app, vec![server::background(move |stop| purger.run(stop))])
        .await?;
    tracing::info!(addr = %running.addr, pubsub = %args.dapr.pubsub, topic = %args.dapr.topic,
        "tasktrail audit serving (distributed mode)");
    Ok(running)
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    start(args).await?.until_signal().await
}
