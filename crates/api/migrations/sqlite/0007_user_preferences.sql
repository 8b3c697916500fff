-- Notification preferences (issue 10): completion emails are on unless the user turns them off.
ALTER TABLE users ADD COLUMN completion_emails BOOLEAN NOT NULL DEFAULT 1;
