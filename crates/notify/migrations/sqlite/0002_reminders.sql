-- Reminders (issue 13): a notification is about a completion or a due reminder; a reminder
-- carries the task's due date and whether it went out late.
ALTER TABLE notifications ADD COLUMN kind TEXT NOT NULL DEFAULT 'completed';
ALTER TABLE notifications ADD COLUMN due_date TEXT;
ALTER TABLE notifications ADD COLUMN late BOOLEAN NOT NULL DEFAULT 0;
