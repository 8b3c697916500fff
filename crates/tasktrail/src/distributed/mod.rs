//! Distributed mode: the api, audit and notification services as separate processes, each
//! beside its own Dapr sidecar; events travel api → sidecar → Kafka `task-events` → sidecars →
//! audit and notify. The handlers, stores and consumers are the embedded mode's; only the
//! transport differs.

mod api_service;
mod audit_service;
mod notify_service;
mod service_proxy;

pub use api_service::{run as run_api, start as start_api};
pub use audit_service::{run as run_audit, start as start_audit};
pub use notify_service::{run as run_notify, start as start_notify};
