CREATE TABLE users (
    id            VARCHAR(255) PRIMARY KEY,
    email         VARCHAR(320) NOT NULL UNIQUE,
    name          VARCHAR(200) NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE tasks (
    id          SERIAL PRIMARY KEY,
    user_id     VARCHAR(255) NOT NULL,
    title       VARCHAR(200) NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    completed   BOOLEAN NOT NULL DEFAULT FALSE,
    priority    VARCHAR(10) NOT NULL DEFAULT 'medium',
    tags        JSONB NOT NULL DEFAULT '[]',
    due_date    TIMESTAMPTZ,
    recurrence  VARCHAR(10),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX tasks_user_created ON tasks (user_id, created_at);

-- Events written in the same transaction as the task change; the relay deletes a row once
-- its event is delivered.
CREATE TABLE outbox (
    id         BIGSERIAL PRIMARY KEY,
    event_id   UUID NOT NULL,
    user_id    VARCHAR(255) NOT NULL,
    payload    JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
