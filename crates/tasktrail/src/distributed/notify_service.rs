use std::sync::Arc;

use notify::DaprRecipients;

use crate::app::App;
use crate::config::NotifyArgs;
use crate::server::Running;
use crate::{parts, secrets};

pub async fn start(args: NotifyArgs) -> anyhow::Result<Running> {
    let mut app = App::new(
        "tasktrail notify (distributed mode)",
        &args.log,
        &args.http,
        args.addr,
        args.shutdown_drain,
    );
    let auth = secrets::authenticator(&secrets::required_jwt_secret(&args.auth)?, &args.auth)?;
    // The owner's address comes from the api through the sidecars, never in the event.
    let recipients = Arc::new(DaprRecipients::new(&args.dapr.sidecar_url(), &args.api_app_id)?);
    let consumer = parts::notify(
        &mut app,
        &args.database_url,
        args.db_max_connections,
        auth,
        recipients,
        &args.mail,
    )
    .await?;
    // Completions come on task-events, due reminders on reminders; one consumer takes both.
    app.routes(events::subscription_router(args.dapr.subscription(), consumer.clone()))
        .routes(events::subscription_router(
            args.dapr.reminders_subscription(),
            consumer,
        ));
    tracing::info!(pubsub = %args.dapr.pubsub, topic = %args.dapr.topic, api = %args.api_app_id,
        "task events come in through the Dapr sidecar; owners are asked of the api through it");
    args.dapr.warn_if_unauthenticated();
    app.start().await
}

pub async fn run(args: NotifyArgs) -> anyhow::Result<()> {
    start(args).await?.until_signal().await
}
