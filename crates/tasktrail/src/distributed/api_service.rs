use std::sync::Arc;
use std::time::Duration;

use events::{DaprPublisher, DaprPublisherConfig};

use super::service_proxy;
use crate::app::App;
use crate::config::ApiArgs;
use crate::server::Running;
use crate::{parts, secrets};

pub async fn start(args: ApiArgs) -> anyhow::Result<Running> {
    let mut app = App::new(
        "tasktrail api (distributed mode)",
        &args.log,
        &args.http,
        args.addr,
        args.shutdown_drain,
    );
    let auth = secrets::authenticator(&secrets::required_jwt_secret(&args.auth)?, &args.auth)?;
    let api = parts::api(
        &mut app,
        &args.database_url,
        args.db_max_connections,
        auth,
        &args.accounts,
        &args.chat,
        // The cron binding `reminder-scan` triggers the scan (deploy/dapr/local, the chart).
        None,
    )
    .await?;
    // The public origin serves the audit trail and the notifications too (proxied), so the
    // document describes all three.
    app.routes(service_proxy::router(
        "/api/{user_id}/audit",
        "the audit service",
        &args.audit_url,
    )?)
    .document(audit::openapi::document())
    .own_deadline(audit::stream::STREAM_ROUTE);
    let closing = app.closing();
    app.routes(service_proxy::streaming_router(
        audit::stream::STREAM_ROUTE,
        "the audit service",
        args.audit_stream_url.as_deref().unwrap_or(&args.audit_url),
        closing,
    )?)
    .routes(service_proxy::router(
        "/api/{user_id}/notifications",
        "the notification service",
        &args.notify_url,
    )?)
    .document(notify::activity::document());
    // Whom the notification service emails, asked through the sidecars; never without the
    // sidecar's token, so not at all when none is configured.
    match args.dapr.subscription().app_api_token {
        Some(token) => {
            app.routes(api::internal::router(api.accounts.clone(), api.tasks.clone(), &token));
        }
        None => tracing::warn!(
            "APP_API_TOKEN is not set: /internal/users/{{user_id}} and /reminder-scan are not served, so the notification service cannot look up whom to email and no reminder goes out"
        ),
    }

    let publisher = Arc::new(DaprPublisher::new(DaprPublisherConfig {
        sidecar_url: args.dapr.sidecar_url(),
        pubsub: args.dapr.pubsub.clone(),
        topic: args.dapr.topic.clone(),
        reminders_topic: args.dapr.reminders_topic.clone(),
        concurrency: args.publish_concurrency.max(1),
        bulk_size: args.publish_bulk_size.max(1),
        request_timeout: Duration::from_secs(10),
    })?);
    let relay = api.relay(publisher.clone());
    app.background(move |stop| async move {
        // Until the sidecar is up the api still serves; events wait in the outbox.
        if publisher.wait_until_ready(&stop).await {
            relay.run(stop).await;
        }
    });
    tracing::info!(sidecar = %args.dapr.sidecar_url(), pubsub = %args.dapr.pubsub, topic = %args.dapr.topic,
        audit = %args.audit_url, notify = %args.notify_url, "task events go out through the Dapr sidecar");
    app.start().await
}

pub async fn run(args: ApiArgs) -> anyhow::Result<()> {
    start(args).await?.until_signal().await
}
