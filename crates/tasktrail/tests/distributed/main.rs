//! End-to-end tests of distributed mode: the real `tasktrail api|audit|notify` processes, each
//! beside a real daprd, on real Apache Kafka and PostgreSQL, started by `scripts/stack`. The
//! tests share that one stack and take turns (some of them stop parts of it).

mod replicas;
mod stack;

mod delivery;
mod faults;
mod live;
mod notifications;
mod ordering;
mod recipients;
mod rollout;
mod scale_out;
mod smoke;
