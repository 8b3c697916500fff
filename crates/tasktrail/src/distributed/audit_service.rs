use crate::app::App;
use crate::config::AuditArgs;
use crate::server::Running;
use crate::{parts, secrets};

pub async fn start(args: AuditArgs) -> anyhow::Result<Running> {
    let mut app = App::new(
        "tasktrail audit (distributed mode)",
        &args.log,
        &args.http,
        args.addr,
        args.shutdown_drain,
    );
    let auth = secrets::authenticator(&secrets::required_jwt_secret(&args.auth)?, &args.auth)?;
    let consumer = parts::audit(
        &mut app,
        &args.database_url,
        args.db_max_connections,
        auth,
        &args.retention,
    )
    .await?;
    app.routes(events::subscription_router(args.dapr.subscription(), consumer));
    tracing::info!(pubsub = %args.dapr.pubsub, topic = %args.dapr.topic, "task events come in through the Dapr sidecar");
    args.dapr.warn_if_unauthenticated();
    app.start().await
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    start(args).await?.until_signal().await
}
