-- V6__retention_blocks_and_claims: a bounded ledger, what the operator sees of a chat, per-chat claims.
--
-- PostgreSQL's form of storage/migrations/sqlite/V6__retention_blocks_and_claims.sql (read it for the why).

CREATE INDEX deliveries_by_date ON deliveries (announcement_date);

ALTER TABLE channels ADD COLUMN title TEXT;
ALTER TABLE channels ADD COLUMN server_name TEXT;
ALTER TABLE channels ADD COLUMN inactive_reason TEXT
    CHECK (inactive_reason IS NULL OR inactive_reason IN ('gone', 'unsubscribed', 'deactivated'));
ALTER TABLE channels ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1));

CREATE TABLE channel_claims (
    channel_id BIGINT PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    holder     TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL
);
