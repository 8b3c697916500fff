//! The notification service: one email to the owner of each completed task, exactly once
//! (`flow`: a queue whose rows are the claims, and its sender), the record of each
//! (`store`, read at `GET /api/{user_id}/notifications`: `activity`), whom to email in
//! distributed mode (`recipients`), and the emails and their transports (`mail`).

pub mod activity;
pub mod flow;
pub mod mail;
pub mod recipients;
pub mod store;

pub use flow::{NotifyConsumer, NotifySettings, Recipients, Sender, notifications};
pub use recipients::DaprRecipients;
