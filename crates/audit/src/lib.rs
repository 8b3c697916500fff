//! The audit service: an idempotent consumer of task events into `audit_log`, the per-user
//! audit trail API, and the retention purge.

pub mod consumer;
pub mod live;
pub mod openapi;
pub mod retention;
pub mod store;
pub mod stream;
pub mod trail;

use std::sync::Arc;

use auth::Authenticator;
use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;

pub use consumer::AuditConsumer;
pub use live::TrailFeed;
pub use retention::RetentionPurger;
pub use store::AuditStore;

#[derive(Clone)]
pub struct AuditState {
    pub store: Arc<dyn AuditStore>,
    pub auth: Arc<Authenticator>,
    /// Wakes the open streams of a user whose entries were just stored.
    pub feed: Arc<TrailFeed>,
    /// Cancelled when the server stops accepting connections: open streams end then, so
    /// that shutdown does not wait for them (clients reconnect, elsewhere).
    pub closing: CancellationToken,
}

impl FromRef<AuditState> for Arc<Authenticator> {
    fn from_ref(state: &AuditState) -> Self {
        state.auth.clone()
    }
}

/// The audit trail API.
pub fn router(state: AuditState) -> axum::Router {
    trail::router().with_state(state)
}
