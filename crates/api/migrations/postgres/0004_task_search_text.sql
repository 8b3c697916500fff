-- What task search matches: title and description case-folded in Rust (`store::tasks::fold`),
-- because SQLite's LOWER() folds ASCII only and PostgreSQL's depends on the locale. Rows
-- written before this migration have NULL here; the store fills a user's on their next search
-- (`list_tasks`), and the partial index makes finding those rows cheap.
ALTER TABLE tasks ADD COLUMN search_text TEXT;
CREATE INDEX tasks_search_text_missing ON tasks (user_id) WHERE search_text IS NULL;
