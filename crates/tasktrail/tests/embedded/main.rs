//! End-to-end tests of embedded mode over HTTP, on real SQLite and real PostgreSQL (and the
//! chat assistant against a scripted OpenAI-compatible server, the only fake).

mod fake_llm;
mod harness;
// The real SMTP server of the email tests (notify's own tests use it too).
#[path = "../../../notify/tests/mail/mailpit.rs"]
#[allow(dead_code)]
mod mailpit;

mod authz;
mod chat;
mod events;
mod faults;
mod hostile;
mod input;
mod notifications;
mod ops;
mod paging;
mod preferences;
mod recurrence;
mod reminders;
mod retention;
mod stream;
