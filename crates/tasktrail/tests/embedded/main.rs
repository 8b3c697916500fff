//! End-to-end tests of embedded mode over HTTP, on real SQLite and real PostgreSQL (and the
//! chat assistant against a scripted OpenAI-compatible server, the only fake).

mod fake_llm;
mod harness;

mod authz;
mod chat;
mod events;
mod faults;
mod hostile;
mod input;
mod notifications;
mod ops;
mod preferences;
mod recurrence;
mod retention;
mod stream;
