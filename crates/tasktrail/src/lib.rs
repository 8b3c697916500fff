//! The `tasktrail` binary's library half: configuration and the wiring of each mode, so that
//! tests can start the same application the binary runs.

pub mod app;
pub mod config;
pub mod distributed;
pub mod embedded;
pub mod ops;
pub mod parts;
pub mod secrets;
pub mod server;
