use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use events::{DaprPublisher, DaprPublisherConfig, OutboxRelay, RelayConfig};
use tokio::sync::Notify;

use super::audit_proxy;
use crate::config::ApiArgs;
use crate::ops;
use crate::server::{self, Running, Server};

pub async fn start(args: ApiArgs) -> anyhow::Result<Running> {
    web::telemetry::init_logging(args.log.log_format);
    web::telemetry::metrics_handle();
    let store = api::store::open(
        db::Database::connect(&args.database_url, args.db_max_connections)
            .await
            .context("api database")?,
    );
    store.migrate().await.context("api migrations")?;
    let authenticator = crate::secrets::authenticator(&crate::secrets::required_jwt_secret(&args.auth)?, &args.auth)?;

    let events_written = Arc::new(Notify::new());
    let state = crate::api_state::build(
        store.clone(),
        events_written.clone(),
        authenticator,
        &args.accounts,
        &args.chat,
    )?;

    // The relay's own small pool: under load it must not queue behind every request.
    let relay_store = api::store::open(
        db::Database::connect(&args.database_url, 2)
            .await
            .context("relay database")?,
    );
    let publisher = Arc::new(DaprPublisher::new(DaprPublisherConfig {
        sidecar_url: args.dapr.sidecar_url(),
        pubsub: args.dapr.pubsub.clone(),
        topic: args.dapr.topic.clone(),
        concurrency: args.publish_concurrency.max(1),
        request_timeout: Duration::from_secs(10),
    })?);
    let relay = OutboxRelay::new(
        Arc::new(api::store::StoreOutbox(relay_store)),
        publisher.clone(),
        events_written,
        RelayConfig::default(),
    );
    let relay_task = server::background(move |stop| async move {
        // Until the sidecar is up the api still serves; events wait in the outbox.
        if publisher.wait_until_ready(&stop).await {
            relay.run(stop).await;
        }
    });

    let checks = vec![(
        "api_database",
        ops::readiness_check(store.clone(), |s| async move { s.ping().await }),
    )];
    // The public origin serves the audit trail too (proxied), so the document describes both.
    let mut openapi = api::openapi::document();
    openapi.merge(audit::openapi::document());
    let server = Server::new(args.addr, args.shutdown_drain);
    let app = api::router(state)
        .merge(audit_proxy::router(&args.audit_url)?)
        .merge(ops::router(checks, Some(openapi), server.draining()));
    let running = server.start(app, vec![relay_task]).await?;
    tracing::info!(addr = %running.addr, sidecar = %args.dapr.sidecar_url(), pubsub = %args.dapr.pubsub,
        topic = %args.dapr.topic, audit = %args.audit_url, "tasktrail api serving (distributed mode)");
    Ok(running)
}

pub async fn run(args: ApiArgs) -> anyhow::Result<()> {
    start(args).await?.until_signal().await
}
