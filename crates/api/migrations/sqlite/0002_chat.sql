-- Conversations with the assistant. The server keeps no chat state in memory: every turn is
-- stored, so a restart resumes a conversation.
CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    title      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX conversations_user_updated ON conversations (user_id, updated_at);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    content         TEXT NOT NULL,
    tool_calls      TEXT NOT NULL DEFAULT '[]',
    created_at      TEXT NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

-- Idempotency-Key of chat requests: the first request claims the key (response NULL while
-- it runs); a repeat gets the stored response instead of running again.
CREATE TABLE chat_requests (
    user_id         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    response        TEXT,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
);
