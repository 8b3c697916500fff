-- Each user's last event number. Every task change takes the next one first thing in its
-- transaction; the row stays locked until commit, so one user's changes commit one at a time
-- and their events are numbered 1, 2, 3... in commit order, with no gaps (a change that rolls
-- back gives its number back).
CREATE TABLE event_sequences (
    user_id       VARCHAR(255) PRIMARY KEY,
    last_sequence BIGINT NOT NULL
);
