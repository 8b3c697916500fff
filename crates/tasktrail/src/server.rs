//! Serving one application (embedded mode or one of the three services) and its lifecycle:
//! bind and serve; on shutdown first report unready while still serving (the drain delay, so
//! that load balancers stop sending new requests), then stop accepting and let in-flight
//! requests finish, then stop the background work (the outbox relay gives up its lease).
//! Every request is bounded by the request timeout (408), except on routes that keep their own,
//! longer deadline (a chat turn); /metrics may be served on an admin address of its own.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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

/// Set once shutdown has begun; readiness (`ops`) answers 503 from then on.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn begin(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// One HTTP server, configured before its router is built (the router's readiness route needs
/// the server's [`Draining`] flag).
pub struct Server {
    addr: SocketAddr,
    drain: Duration,
    draining: Draining,
    /// Cancelled when the server stops accepting connections, after the drain: responses that
    /// would never end by themselves (event streams) end then.
    closing: CancellationToken,
    limits: RequestLimits,
    metrics_addr: Option<SocketAddr>,
}

/// The request timeout, and the routes (templates such as `/api/{user_id}/chat`) that bound
/// their requests themselves.
#[derive(Debug, Clone)]
struct RequestLimits {
    timeout: Duration,
    own_deadline: Vec<&'static str>,
}

impl Server {
    /// `drain`: how long to keep serving, unready, after shutdown begins. Requests are bounded
    /// by a 30 s timeout unless [`Server::request_timeout`] says otherwise.
    pub fn new(addr: SocketAddr, drain: Duration) -> Self {
        Self {
            addr,
            drain,
            draining: Draining::default(),
            closing: CancellationToken::new(),
            limits: RequestLimits {
                timeout: Duration::from_secs(30),
                own_deadline: Vec::new(),
            },
            metrics_addr: None,
        }
    }

    pub fn draining(&self) -> Draining {
        self.draining.clone()
    }

    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    /// Longest a request may take before it is answered 408.
    pub fn request_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.limits.timeout = timeout;
        self
    }

    /// The route (its template, as routed) bounds its requests itself, with a deadline longer
    /// than the request timeout: the chat turn, whose model calls may take a minute.
    pub fn own_deadline(&mut self, route: &'static str) -> &mut Self {
        self.limits.own_deadline.push(route);
        self
    }

    /// Serve /metrics on this address, beside the main one (the caller then leaves it out
    /// of the main router).
    pub fn metrics_addr(&mut self, addr: Option<SocketAddr>) -> &mut Self {
        self.metrics_addr = addr;
        self
    }

    pub fn serves_metrics_apart(&self) -> bool {
        self.metrics_addr.is_some()
    }

    pub async fn start(self, app: Router, background: Vec<BackgroundTask>) -> anyhow::Result<Running> {
        // A route layer runs after routing, so it sees which route matched.
        let app = web::middleware::standard_layers(app.route_layer(axum::middleware::from_fn_with_state(
            Arc::new(self.limits),
            request_deadline,
        )));
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .with_context(|| format!("binding {}", self.addr))?;
        let addr = listener.local_addr()?;
        let metrics_stop = CancellationToken::new();
        let (metrics_addr, metrics_server) = match self.metrics_addr {
            Some(metrics_addr) => {
                let listener = tokio::net::TcpListener::bind(metrics_addr)
                    .await
                    .with_context(|| format!("binding the metrics address {metrics_addr}"))?;
                let bound = listener.local_addr()?;
                let stop = metrics_stop.clone();
                let metrics = web::middleware::standard_layers(crate::ops::metrics_router());
                let served = tokio::spawn(async move {
                    axum::serve(listener, metrics.into_make_service())
                        .with_graceful_shutdown(async move { stop.cancelled().await })
                        .await
                });
                tracing::info!(addr = %bound, "metrics served here only");
                (Some(bound), Some(served))
            }
            None => (None, None),
        };
        let stop = CancellationToken::new();
        let background_stop = CancellationToken::new();
        let tasks: Vec<_> = background
            .into_iter()
            .map(|task| tokio::spawn(task(background_stop.clone())))
            .collect();

        let (drain, draining, server_stop, closing) =
            (self.drain, self.draining.clone(), stop.clone(), self.closing.clone());
        let stop_accepting = async move {
            server_stop.cancelled().await;
            draining.begin();
            if !drain.is_zero() {
                tracing::info!(drain_ms = drain.as_millis() as u64, "draining: unready, still serving");
                tokio::time::sleep(drain).await;
            }
            tracing::info!("no longer accepting connections; finishing in-flight requests");
            closing.cancel();
        };
        let done = tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(stop_accepting)
                .await?;
            // Metrics stay scrapeable while the requests finish, then stop with the server.
            metrics_stop.cancel();
            if let Some(metrics_server) = metrics_server {
                metrics_server.await??;
            }
            // Requests have finished; every committed event is in the outbox. Stop the
            // background work: the relay ends, its lock connection closes and a standby
            // replica takes the lease; undelivered events wait in the outbox for it.
            background_stop.cancel();
            for task in tasks {
                let _ = task.await;
            }
            tracing::info!("stopped");
            Ok(())
        });
        Ok(Running {
            addr,
            metrics_addr,
            stop,
            draining: self.draining,
            done,
        })
    }
}

pub struct Running {
    pub addr: SocketAddr,
    /// Where /metrics is served when it has an address of its own.
    pub metrics_addr: Option<SocketAddr>,
    stop: CancellationToken,
    draining: Draining,
    done: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Begins shutdown: unready for the drain delay, then in-flight requests finish, then the
    /// background work stops.
    pub fn shutdown(&self) {
        // Unready before this returns, not when the server task next runs.
        self.draining.begin();
        self.stop.cancel();
    }

    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub async fn wait(self) -> anyhow::Result<()> {
        self.done.await?
    }

    /// Runs until SIGTERM or Ctrl-C, then shuts down as [`Running::shutdown`] does.
    pub async fn until_signal(self) -> anyhow::Result<()> {
        web::shutdown::cancel_on_signal(self.stop_token());
        self.wait().await
    }
}

/// Bounds a request by the request timeout (408), unless its route keeps its own deadline.
async fn request_deadline(State(limits): State<Arc<RequestLimits>>, request: Request, next: Next) -> Response {
    let own_deadline = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|route| limits.own_deadline.contains(&route.as_str()));
    if own_deadline {
        return next.run(request).await;
    }
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => web::ApiError::RequestTimeout {
            limit_secs: limits.timeout.as_secs_f64().ceil() as u64,
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use axum::routing::get;

    use super::*;

    /// Every route is bounded by the request timeout (408) except one that keeps its own
    /// deadline, which may take longer.
    #[tokio::test]
    async fn the_request_timeout_spares_routes_with_their_own_deadline() {
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            "done"
        };
        let app = Router::new()
            .route("/slow", get(slow))
            .route("/turn/{id}", get(slow))
            .merge(crate::ops::router(vec![], None, Draining::default(), true));
        let mut server = Server::new("127.0.0.1:0".parse().unwrap(), Duration::ZERO);
        server
            .request_timeout(Duration::from_millis(200))
            .own_deadline("/turn/{id}");
        let running = server.start(app, vec![]).await.unwrap();
        let status = |path: &'static str| async move {
            reqwest::get(format!("http://{}{path}", running.addr))
                .await
                .unwrap()
                .status()
                .as_u16()
        };
        let timed_out = reqwest::get(format!("http://{}/slow", running.addr)).await.unwrap();
        assert_eq!(timed_out.status().as_u16(), 408);
        let body: serde_json::Value = timed_out.json().await.unwrap();
        assert_eq!(body["error"]["code"], "request_timeout", "the error shape: {body}");
        assert_eq!(status("/turn/7").await, 200);
        assert_eq!(status("/healthz").await, 200);
        running.shutdown();
        running.wait().await.unwrap();
    }

    /// On shutdown: /readyz answers 503 at once while other requests are still served for the
    /// drain delay; then a request in flight finishes; only then does background work stop,
    /// and new connections are refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readiness_flips_first_then_in_flight_requests_finish_then_background_stops() {
        let drain = Duration::from_millis(800);
        let order = Arc::new(Mutex::new(Vec::<&'static str>::new()));
        let server = Server::new("127.0.0.1:0".parse().unwrap(), drain);
        let slow_order = order.clone();
        let app = Router::new()
            .route("/work", get(|| async { "done" }))
            .route(
                "/slow",
                get(move || async move {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    slow_order.lock().unwrap().push("slow request finished");
                    "slow"
                }),
            )
            .merge(crate::ops::router(vec![], None, server.draining(), true));
        let background_order = order.clone();
        let work = background(move |stop| async move {
            stop.cancelled().await;
            background_order.lock().unwrap().push("background stopped");
        });
        let running = server.start(app, vec![work]).await.unwrap();
        let base = format!("http://{}", running.addr);
        let http = reqwest::Client::new();
        let status = |path: &'static str| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                http.get(format!("{base}{path}"))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }
        };
        assert_eq!(status("/readyz").await.unwrap(), 200);

        let begun = Instant::now();
        running.shutdown();
        assert_eq!(
            status("/readyz").await.unwrap(),
            503,
            "unready as soon as shutdown begins"
        );
        // Starts inside the drain and ends after it: it must still be answered.
        let slow = tokio::spawn(status("/slow"));
        while begun.elapsed() < drain - Duration::from_millis(200) {
            assert_eq!(status("/work").await.unwrap(), 200, "served during the drain");
            assert_eq!(status("/readyz").await.unwrap(), 503);
            assert!(
                order.lock().unwrap().is_empty(),
                "background work runs during the drain"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        running.wait().await.unwrap();
        assert!(begun.elapsed() >= drain, "stopped after {:?}", begun.elapsed());
        assert_eq!(slow.await.unwrap().unwrap(), 200, "the in-flight request finished");
        assert_eq!(*order.lock().unwrap(), ["slow request finished", "background stopped"]);
        let fresh = reqwest::Client::new();
        assert!(
            fresh.get(format!("{base}/work")).send().await.is_err(),
            "no longer accepting"
        );
    }
}
