//! End-to-end tests of embedded mode over HTTP, on real SQLite and real PostgreSQL.

mod harness;

mod authz;
mod events;
mod faults;
mod input;
mod ops;
mod retention;
