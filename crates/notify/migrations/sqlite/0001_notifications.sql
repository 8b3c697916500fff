-- One row per `completed` event: the claim that makes its email go out once (the first insert
-- wins), the work queue of the sender while `pending`, and afterwards the record the user reads.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        BLOB NOT NULL UNIQUE,
    user_id         VARCHAR(255) NOT NULL,
    task_id         INTEGER NOT NULL,
    task_title      TEXT NOT NULL,
    completed_at    TEXT NOT NULL,
    status          VARCHAR(10) NOT NULL,
    detail          TEXT NOT NULL DEFAULT '',
    recipient       TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
