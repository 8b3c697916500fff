-- Conversations with the assistant. The server keeps no chat state in memory: every turn is
-- stored, so a restart resumes a conversation.
CREATE TABLE conversations (
    id         VARCHAR(36) PRIMARY KEY,
    user_id    VARCHAR(255) NOT NULL,
    title      VARCHAR(200) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX conversations_user_updated ON conversations (user_id, updated_at);

CREATE TABLE messages (
    id              BIGSERIAL PRIMARY KEY,
    conversation_id VARCHAR(36) NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            VARCHAR(16) NOT NULL,
    content         TEXT NOT NULL,
    tool_calls      JSONB NOT NULL DEFAULT '[]',
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

-- Idempotency-Key of chat requests: the first request claims the key (response NULL while
-- it runs); a repeat gets the stored response instead of running again.
CREATE TABLE chat_requests (
    user_id         VARCHAR(255) NOT NULL,
    idempotency_key VARCHAR(255) NOT NULL,
    response        JSONB,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
);
