-- The customer's table in SQLite terms: UUIDs as 16-byte blobs, JSON and timestamps as text
-- (RFC 3339 in UTC, which sorts chronologically).
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id BLOB UNIQUE NOT NULL,
  event_type VARCHAR(50),
  user_id VARCHAR(255),
  task_id INTEGER,
  event_data TEXT,
  timestamp TEXT
);
CREATE INDEX audit_log_user_time ON audit_log (user_id, timestamp, id);
CREATE INDEX audit_log_time ON audit_log (timestamp);
