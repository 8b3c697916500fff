-- Recurring tasks (issue 13): an occurrence points at the one it continues, and a completed one
-- at the occurrence its completion made (set once: completing it again makes no second). Rules
-- are longer than the three words they were ("every 2 weeks until 2027-03-01").
ALTER TABLE tasks ADD COLUMN continues INTEGER, ADD COLUMN continued_by INTEGER,
    ALTER COLUMN recurrence TYPE VARCHAR(64);
