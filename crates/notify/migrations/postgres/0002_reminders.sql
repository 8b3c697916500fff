-- Reminders (issue 13): a notification is about a completion or a due reminder; a reminder
-- carries the task's due date and whether it went out late.
ALTER TABLE notifications ADD COLUMN kind VARCHAR(10) NOT NULL DEFAULT 'completed',
    ADD COLUMN due_date TIMESTAMPTZ, ADD COLUMN late BOOLEAN NOT NULL DEFAULT FALSE;
