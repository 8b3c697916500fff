-- Recurring tasks (issue 13): an occurrence points at the one it continues, and a completed one
-- at the occurrence its completion made (set once: completing it again makes no second).
ALTER TABLE tasks ADD COLUMN continues INTEGER;
ALTER TABLE tasks ADD COLUMN continued_by INTEGER;
