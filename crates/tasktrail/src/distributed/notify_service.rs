use std::sync::Arc;

use notify::NotifyConsumer;

use crate::config::NotifyArgs;
use crate::ops;
use crate::server::{self, Running};

pub async fn start(args: NotifyArgs) -> anyhow::Result<Running> {
    web::telemetry::init_logging(args.log.log_format);
    web::telemetry::metrics_handle();
    let app = events::subscription_router(args.dapr.subscription(), Arc::new(NotifyConsumer))
        .merge(ops::router(vec![], None));
    let running = server::start(args.addr, app, vec![]).await?;
    tracing::info!(addr = %running.addr, pubsub = %args.dapr.pubsub, topic = %args.dapr.topic,
        "tasktrail notify serving (distributed mode)");
    Ok(running)
}

pub async fn run(args: NotifyArgs) -> anyhow::Result<()> {
    start(args).await?.until_signal().await
}
