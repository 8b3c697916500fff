-- Reminders (issue 13): when the owner is emailed (remind_at, never after the due date), the
-- lead on the due date when it is relative, and when it went out (cleared when its time
-- changes). The scan looks for due, unsent reminders of pending tasks.
ALTER TABLE tasks ADD COLUMN remind_at TIMESTAMPTZ, ADD COLUMN remind_before_minutes INTEGER,
    ADD COLUMN reminded_at TIMESTAMPTZ;
CREATE INDEX tasks_reminders_due ON tasks (remind_at) WHERE reminded_at IS NULL AND completed = FALSE;
