-- Task lists page by keyset (issue 13, item 6): each sort is one or a few range scans of an
-- index that starts with the user and ends with the id, so a page costs the same on the first
-- page as deep in a 100,000-task list. (The priority sort reads high, medium and low one after
-- another on the priority index, which also serves the priority filter; the due-date sort reads
-- the dated tasks, then the undated.)
DROP INDEX IF EXISTS tasks_user_created;
CREATE INDEX tasks_user_created ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_title ON tasks (user_id, LOWER(title), id);
CREATE INDEX tasks_user_due ON tasks (user_id, due_date, id);
CREATE INDEX tasks_user_priority ON tasks (user_id, priority, created_at, id);
-- Search (`q`, a substring of the folded text) and tags: a search for something rare finds
-- its few rows through these instead of reading the whole list. pg_trgm ships with
-- PostgreSQL (contrib) and is a trusted extension (13+): the database's owner may create it,
-- no superuser needed.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX tasks_search_trgm ON tasks USING GIN (search_text gin_trgm_ops);
CREATE INDEX tasks_tags ON tasks USING GIN (tags);
