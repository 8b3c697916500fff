//! The audit service: an idempotent consumer of task events into `audit_log`, the per-user
//! audit trail API, and the retention purge.

pub mod consumer;
pub mod openapi;
pub mod retention;
pub mod store;
pub mod trail;

use std::sync::Arc;

use auth::Authenticator;
use axum::extract::FromRef;

pub use consumer::AuditConsumer;
pub use retention::RetentionPurger;
pub use store::AuditStore;

#[derive(Clone)]
pub struct AuditState {
    pub store: Arc<dyn AuditStore>,
    pub auth: Arc<Authenticator>,
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
