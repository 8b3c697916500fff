//! HTTP plumbing shared by every tasktrail service: the one error type and its JSON shape,
//! extractors that answer in that shape, request tracing and metrics, logging, shutdown.

pub mod client_ip;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod shutdown;
pub mod telemetry;

pub use client_ip::{ClientIp, TrustedProxies};
pub use error::{ApiError, ApiResult};
pub use extract::{Json, Path, Query};
