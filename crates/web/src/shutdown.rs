use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGTERM or Ctrl-C, so every part of the process can drain.
/// A second signal ends the process at once: whoever sends it does not want to wait for the
/// drain (nothing committed is lost; undelivered events stay in the outbox).
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        for signals in 0.. {
            let ctrl_c = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            #[cfg(unix)]
            let terminate = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let terminate = std::future::pending::<()>();
            tokio::select! {
                _ = ctrl_c => {}
                _ = terminate => {}
            }
            if signals == 0 {
                tracing::info!("shutdown signal received; draining (a second signal stops at once)");
                token.cancel();
            } else {
                tracing::warn!("second shutdown signal; stopping without draining");
                std::process::exit(130);
            }
        }
    });
}
