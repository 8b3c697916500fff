use std::sync::Arc;

use notify::CompletionLogger;

use crate::app::App;
use crate::config::NotifyArgs;
use crate::server::Running;

pub async fn start(args: NotifyArgs) -> anyhow::Result<Running> {
    let mut app = App::new(
        "tasktrail notify (distributed mode)",
        &args.log,
        &args.http,
        args.addr,
        args.shutdown_drain,
    );
    args.mail.log_mailer()?;
    app.routes(events::subscription_router(
        args.dapr.subscription(),
        Arc::new(CompletionLogger),
    ));
    tracing::info!(pubsub = %args.dapr.pubsub, topic = %args.dapr.topic, "task events come in through the Dapr sidecar");
    args.dapr.warn_if_unauthenticated();
    app.start().await
}

pub async fn run(args: NotifyArgs) -> anyhow::Result<()> {
    start(args).await?.until_signal().await
}
