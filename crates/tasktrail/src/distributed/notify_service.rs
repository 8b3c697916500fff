use std::sync::Arc;

use notify::NotifyConsumer;

use crate::config::NotifyArgs;
use crate::ops;
use crate::server::{Running, Server};

pub async fn start(args: NotifyArgs) -> anyhow::Result<Running> {
    web::telemetry::init_logging(args.log.log_format);
    web::telemetry::metrics_handle();
    let server = Server::new(args.addr, args.shutdown_drain);
    let ops = ops::router(vec![], None, server.draining());
    let app = events::subscription_router(args.dapr.subscription(), Arc::new(NotifyConsumer)).merge(ops);
    let running = server.start(app, vec![]).await?;
    tracing::info!(addr = %running.addr, pubsub = %args.dapr.pubsub, topic = %args.dapr.topic,
        "tasktrail notify serving (distributed mode)");
    Ok(running)
}

pub async fn run(args: NotifyArgs) -> anyhow::Result<()> {
    start(args).await?.until_signal().await
}
