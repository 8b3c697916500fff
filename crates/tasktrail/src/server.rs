//! Serving one application (embedded mode or one of the three services): bind, serve until
//! stopped, let in-flight requests finish, then stop the background work.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

/// Work that runs beside the HTTP server (the outbox relay, the retention purge) until the
/// token is cancelled, which happens after the server has drained.
pub type BackgroundTask = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>;

pub fn background<F, Fut>(task: F) -> BackgroundTask
where
    F: FnOnce(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Box::new(move |stop| task(stop).boxed())
}

pub struct Running {
    pub addr: SocketAddr,
    stop: CancellationToken,
    done: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Starts draining: in-flight requests finish, then the background work stops.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub async fn wait(self) -> anyhow::Result<()> {
        self.done.await?
    }

    /// Runs until SIGTERM or Ctrl-C, then drains.
    pub async fn until_signal(self) -> anyhow::Result<()> {
        web::shutdown::cancel_on_signal(self.stop_token());
        self.wait().await
    }
}

pub async fn start(addr: SocketAddr, app: Router, background: Vec<BackgroundTask>) -> anyhow::Result<Running> {
    let app = web::middleware::standard_layers(app).layer(TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(30),
    ));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let background_stop = CancellationToken::new();
    let tasks: Vec<_> = background
        .into_iter()
        .map(|task| tokio::spawn(task(background_stop.clone())))
        .collect();

    let server_stop = stop.clone();
    let done = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { server_stop.cancelled().await })
            .await?;
        // Requests have drained; every committed event is in the outbox. Stop the background
        // work; undelivered events wait in the outbox for the next start.
        background_stop.cancel();
        for task in tasks {
            let _ = task.await;
        }
        tracing::info!("stopped");
        Ok(())
    });
    Ok(Running { addr, stop, done })
}
