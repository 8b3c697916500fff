-- Exactly the customer's table; no foreign keys: a `deleted` event outlives its task.
CREATE TABLE audit_log (
  id SERIAL PRIMARY KEY,
  event_id UUID UNIQUE NOT NULL,
  event_type VARCHAR(50),
  user_id VARCHAR(255),
  task_id INTEGER,
  event_data JSONB,
  timestamp TIMESTAMP WITH TIME ZONE
);
CREATE INDEX audit_log_user_time ON audit_log (user_id, timestamp, id);
-- For the retention purge.
CREATE INDEX audit_log_time ON audit_log (timestamp);
