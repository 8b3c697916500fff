//! Embedded mode: the api, the audit trail and the notification consumer in one process,
//! joined by the in-process bus. The same parts as the distributed services.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use events::InProcessBus;
use notify::NotifyConsumer;

use crate::app::App;
use crate::config::{MigrateArgs, ServeArgs};
use crate::server::Running;
use crate::{parts, secrets};

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
    let mut app = App::new(
        "tasktrail (embedded mode)",
        &args.log,
        &args.http,
        args.addr,
        args.shutdown_drain,
    );
    args.mail.log_mailer()?;
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let (api_url, audit_url) = database_urls(args.database_url.as_deref(), &args.data_dir);
    let secret = secrets::jwt_secret(args.auth.jwt_secret.as_deref(), &args.data_dir)?;
    let auth = secrets::authenticator(&secret, &args.auth)?;

    let api = parts::api(
        &mut app,
        &api_url,
        args.db_max_connections,
        auth.clone(),
        &args.accounts,
        &args.chat,
    )
    .await?;
    let audit = parts::audit(&mut app, &audit_url, args.db_max_connections, auth, &args.retention).await?;
    let relay = api.relay(Arc::new(InProcessBus::new(vec![audit, Arc::new(NotifyConsumer)])));
    app.background(move |stop| relay.run(stop));
    app.start().await
}

/// Runs until SIGTERM or Ctrl-C, then drains.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let app = start(args).await?;
    println!("tasktrail is running on http://{}", app.addr);
    app.until_signal().await
}

/// `tasktrail migrate`: applies both stores' migrations and exits.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    web::telemetry::init_logging(args.log.log_format);
    // The data directory holds the SQLite files only; with a database URL (a container with a
    // read-only root filesystem, say) it is never touched.
    if args.database_url.is_none() {
        std::fs::create_dir_all(&args.data_dir)?;
    }
    let (api_url, audit_url) = database_urls(args.database_url.as_deref(), &args.data_dir);
    db::Database::connect(&api_url, 2)
        .await?
        .migrate(&api::store::MIGRATIONS)
        .await?;
    db::Database::connect(&audit_url, 2)
        .await?
        .migrate(&audit::store::MIGRATIONS)
        .await?;
    println!("migrations applied");
    Ok(())
}
