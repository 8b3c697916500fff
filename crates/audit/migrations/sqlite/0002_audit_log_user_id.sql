-- The trail is listed and paged in storage order (id) per user.
CREATE INDEX audit_log_user_id ON audit_log (user_id, id);
