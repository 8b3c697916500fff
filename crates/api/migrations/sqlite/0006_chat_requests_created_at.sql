-- The hourly purge of day-old Idempotency-Keys finds them by age.
CREATE INDEX chat_requests_created_at ON chat_requests (created_at);
