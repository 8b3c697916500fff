//! The startup sequence every mode shares, configured by each: logging and metrics first, then
//! each database (connected, migrated, and made a readiness check), the mode's routes, API
//! documents and background work, then serving until shutdown (`server`). Embedded mode and
//! the three services differ only in what they add here.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio_util::sync::CancellationToken;
use utoipa::openapi::OpenApi;

use crate::config::{HttpArgs, LogArgs};
use crate::ops::{self, ReadinessCheck};
use crate::server::{self, BackgroundTask, Running, Server};

pub struct App {
    name: &'static str,
    server: Server,
    routes: Router,
    openapi: Option<OpenApi>,
    checks: Vec<(&'static str, ReadinessCheck)>,
    background: Vec<BackgroundTask>,
}

impl App {
    /// `name` says what runs in the "serving" line; `drain`: see `Server::new`.
    pub fn new(name: &'static str, log: &LogArgs, http: &HttpArgs, addr: SocketAddr, drain: Duration) -> Self {
        web::telemetry::init_logging(log.log_format);
        // Install the metrics recorder before anything records.
        web::telemetry::metrics_handle();
        let mut server = Server::new(addr, drain);
        server
            .request_timeout(http.request_timeout)
            .metrics_addr(http.metrics_addr);
        Self {
            name,
            server,
            routes: Router::new(),
            openapi: None,
            checks: Vec::new(),
            background: Vec::new(),
        }
    }

    /// Connects to `url`, applies `migrations`, and makes the database a readiness check
    /// named `name` (`api_database`, `audit_database`).
    pub async fn database(
        &mut self,
        name: &'static str,
        url: &str,
        max_connections: u32,
        migrations: &db::Migrations,
    ) -> anyhow::Result<db::Database> {
        let database = db::Database::connect(url, max_connections)
            .await
            .with_context(|| format!("connecting to the {name}"))?;
        database
            .migrate(migrations)
            .await
            .with_context(|| format!("migrating the {name}"))?;
        self.checks.push((
            name,
            ops::readiness_check(std::sync::Arc::new(database.clone()), |d| async move { d.ping().await }),
        ));
        Ok(database)
    }

    pub fn routes(&mut self, routes: Router) -> &mut Self {
        self.routes = std::mem::take(&mut self.routes).merge(routes);
        self
    }

    /// Adds the paths of `document` to the one served at /api/docs.
    pub fn document(&mut self, document: OpenApi) -> &mut Self {
        match &mut self.openapi {
            Some(openapi) => openapi.merge(document),
            None => self.openapi = Some(document),
        }
        self
    }

    /// Cancelled when the server stops accepting connections (after the drain), for responses
    /// that would not end by themselves.
    pub fn closing(&self) -> CancellationToken {
        self.server.closing()
    }

    /// The route (its template) bounds its requests itself, beyond the request timeout.
    pub fn own_deadline(&mut self, route: &'static str) -> &mut Self {
        self.server.own_deadline(route);
        self
    }

    /// Work beside the server until shutdown (the outbox relay, the retention purge). It is
    /// stopped after in-flight requests have finished.
    pub fn background<F, Fut>(&mut self, task: F) -> &mut Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.background.push(server::background(task));
        self
    }

    /// Serves, with /healthz, /readyz, /metrics (unless it has an address of its own) and
    /// /api/docs beside the mode's routes.
    pub async fn start(self) -> anyhow::Result<Running> {
        let metrics_here = !self.server.serves_metrics_apart();
        let ops = ops::router(self.checks, self.openapi, self.server.draining(), metrics_here);
        let running = self.server.start(self.routes.merge(ops), self.background).await?;
        tracing::info!(addr = %running.addr, "{} serving", self.name);
        Ok(running)
    }
}
