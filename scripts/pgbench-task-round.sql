-- One bench round as tasktrail's api runs it on PostgreSQL, for pgbench (scripts/pgbench-ceiling):
-- create, update, complete and delete a task, each one transaction that takes the user's
-- event number and appends its event to the outbox (crates/api/src/store/tasks.rs). Four task
-- changes per pgbench transaction: ops/s = 4 x tps.
\set u random(1, 1000)
BEGIN;
INSERT INTO event_sequences (user_id, last_sequence) VALUES ('pgbench-' || :u, 1) ON CONFLICT (user_id) DO UPDATE SET last_sequence = event_sequences.last_sequence + 1 RETURNING last_sequence AS seq \gset
INSERT INTO tasks (user_id, title, description, completed, priority, tags, due_date, recurrence, continues, created_at, updated_at, search_text, remind_at, remind_before_minutes) VALUES ('pgbench-' || :u, 'bench task', 'load', false, 'medium', '[]', NULL, NULL, NULL, now(), now(), 'bench task load', NULL, NULL) RETURNING id \gset
INSERT INTO outbox (event_id, user_id, payload, created_at) VALUES (gen_random_uuid(), 'pgbench-' || :u, jsonb_build_object('event_type', 'created', 'user_id', 'pgbench-' || :u, 'task_id', :id::bigint, 'sequence', :seq::bigint, 'task_data', jsonb_build_object('title', 'bench task', 'description', 'load', 'completed', false, 'priority', 'medium', 'tags', '[]'::jsonb)), now());
COMMIT;
BEGIN;
SELECT id, user_id, title, description, completed, priority, tags, due_date, recurrence, created_at, updated_at FROM tasks WHERE id = :id AND user_id = 'pgbench-' || :u FOR UPDATE;
INSERT INTO event_sequences (user_id, last_sequence) VALUES ('pgbench-' || :u, 1) ON CONFLICT (user_id) DO UPDATE SET last_sequence = event_sequences.last_sequence + 1 RETURNING last_sequence AS seq \gset
UPDATE tasks SET title = 'bench task (edited)', search_text = 'bench task (edited) load', updated_at = now() WHERE id = :id;
INSERT INTO outbox (event_id, user_id, payload, created_at) VALUES (gen_random_uuid(), 'pgbench-' || :u, jsonb_build_object('event_type', 'updated', 'user_id', 'pgbench-' || :u, 'task_id', :id::bigint, 'sequence', :seq::bigint, 'task_data', jsonb_build_object('title', 'bench task (edited)', 'description', 'load', 'completed', false, 'priority', 'medium', 'tags', '[]'::jsonb)), now());
COMMIT;
BEGIN;
SELECT id, user_id, title, description, completed, priority, tags, due_date, recurrence, created_at, updated_at FROM tasks WHERE id = :id AND user_id = 'pgbench-' || :u FOR UPDATE;
INSERT INTO event_sequences (user_id, last_sequence) VALUES ('pgbench-' || :u, 1) ON CONFLICT (user_id) DO UPDATE SET last_sequence = event_sequences.last_sequence + 1 RETURNING last_sequence AS seq \gset
UPDATE tasks SET completed = true, updated_at = now() WHERE id = :id;
INSERT INTO outbox (event_id, user_id, payload, created_at) VALUES (gen_random_uuid(), 'pgbench-' || :u, jsonb_build_object('event_type', 'completed', 'user_id', 'pgbench-' || :u, 'task_id', :id::bigint, 'sequence', :seq::bigint, 'task_data', jsonb_build_object('title', 'bench task (edited)', 'description', 'load', 'completed', true, 'priority', 'medium', 'tags', '[]'::jsonb)), now());
COMMIT;
BEGIN;
DELETE FROM tasks WHERE id = :id AND user_id = 'pgbench-' || :u RETURNING id;
INSERT INTO event_sequences (user_id, last_sequence) VALUES ('pgbench-' || :u, 1) ON CONFLICT (user_id) DO UPDATE SET last_sequence = event_sequences.last_sequence + 1 RETURNING last_sequence AS seq \gset
INSERT INTO outbox (event_id, user_id, payload, created_at) VALUES (gen_random_uuid(), 'pgbench-' || :u, jsonb_build_object('event_type', 'deleted', 'user_id', 'pgbench-' || :u, 'task_id', :id::bigint, 'sequence', :seq::bigint, 'task_data', jsonb_build_object('title', 'bench task (edited)', 'description', 'load', 'completed', true, 'priority', 'medium', 'tags', '[]'::jsonb)), now());
COMMIT;
