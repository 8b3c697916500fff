//! Embedded mode: the api, the audit trail and the notifications in one process, joined by the
//! in-process bus. The same parts as the distributed services.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use events::InProcessBus;

use crate::app::App;
use crate::config::{MigrateArgs, ServeArgs};
use crate::server::Running;
use crate::{parts, secrets};

/// The api's, the audit's and the notifications' databases: the one PostgreSQL database given,
/// or three SQLite files (one write lock each: audit inserts never queue behind task writes).
struct DatabaseUrls {
    api: String,
    audit: String,
    notify: String,
}

fn database_urls(database_url: Option<&str>, data_dir: &Path) -> DatabaseUrls {
    let url = |file: &str| match database_url {
        Some(url) => url.to_owned(),
        None => format!("sqlite://{}", data_dir.join(file).display()),
    };
    DatabaseUrls {
        api: url("api.sqlite"),
        audit: url("audit.sqlite"),
        notify: url("notify.sqlite"),
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
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let urls = database_urls(args.database_url.as_deref(), &args.data_dir);
    let secret = secrets::jwt_secret(args.auth.jwt_secret.as_deref(), &args.data_dir)?;
    let auth = secrets::authenticator(&secret, &args.auth)?;

    let api = parts::api(
        &mut app,
        &urls.api,
        args.db_max_connections,
        auth.clone(),
        &args.accounts,
        &args.chat,
        Some(args.reminders.reminder_scan_interval),
    )
    .await?;
    let audit = parts::audit(
        &mut app,
        &urls.audit,
        args.db_max_connections,
        auth.clone(),
        &args.retention,
    )
    .await?;
    let recipients = Arc::new(parts::LocalRecipients(api.accounts.clone()));
    let notify = parts::notify(
        &mut app,
        &urls.notify,
        args.db_max_connections,
        auth,
        recipients,
        &args.mail,
    )
    .await?;
    let relay = api.relay(Arc::new(InProcessBus::new(vec![audit, notify])));
    app.background(move |stop| relay.run(stop));
    app.start().await
}

/// Runs until SIGTERM or Ctrl-C, then drains.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let app = start(args).await?;
    println!("tasktrail is running on http://{}", app.addr);
    app.until_signal().await
}

/// `tasktrail migrate`: applies every store's migrations and exits.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    web::telemetry::init_logging(args.log.log_format);
    // The data directory holds the SQLite files only; with a database URL (a container with a
    // read-only root filesystem, say) it is never touched.
    if args.database_url.is_none() {
        std::fs::create_dir_all(&args.data_dir)?;
    }
    let urls = database_urls(args.database_url.as_deref(), &args.data_dir);
    for (url, migrations) in [
        (&urls.api, &api::store::MIGRATIONS),
        (&urls.audit, &audit::store::MIGRATIONS),
        (&urls.notify, &notify::store::MIGRATIONS),
    ] {
        db::Database::connect(url, 2).await?.migrate(migrations).await?;
    }
    println!("migrations applied");
    Ok(())
}
