-- Each user's last event number. Every task change takes the next one in its transaction
-- (SQLite's single writer already runs them one at a time), so a user's events are numbered
-- 1, 2, 3... in commit order, with no gaps.
CREATE TABLE event_sequences (
    user_id       TEXT PRIMARY KEY,
    last_sequence INTEGER NOT NULL
);
