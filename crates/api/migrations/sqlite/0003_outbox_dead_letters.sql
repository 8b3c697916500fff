-- Outbox rows that no longer decode as a task event, moved aside by the relay so that they
-- cannot stop delivery of everything behind them. Kept for an operator to inspect.
CREATE TABLE outbox_dead_letters (
    outbox_id      INTEGER PRIMARY KEY,
    payload        TEXT NOT NULL,
    error          TEXT NOT NULL,
    quarantined_at TEXT NOT NULL
);
