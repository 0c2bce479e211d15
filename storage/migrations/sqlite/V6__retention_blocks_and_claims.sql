-- V6__retention_blocks_and_claims: a bounded ledger, what the operator sees of a chat, per-chat claims.
--
-- Why:
--   * deliveries_by_date: pruning the ledger with RETENTION_DAYS deletes by announcement date.
--   * channels.title, channels.server_name: what `arxiv-digest channels` shows of a chat (its title, its
--     Discord server's name), as the platform last told them; NULL until then.
--   * channels.inactive_reason: why a chat gets no digest ('gone': the bot was removed or the chat
--     deleted; 'unsubscribed': its admins stopped it; 'deactivated': the operator turned it off with
--     `channels --deactivate`); NULL while active (and for chats turned off before V6).
--   * channels.blocked: the operator stopped the chat (`channels --block ID`), whatever its admins do;
--     only `channels --unblock ID` lifts it.
--   * channel_claims: which process is delivering a chat now, until when (a lease), so that two
--     processes on one database never send one chat's digest at once; a claim whose holder died
--     expires and is taken over.

CREATE INDEX deliveries_by_date ON deliveries (announcement_date);

ALTER TABLE channels ADD COLUMN title TEXT;
ALTER TABLE channels ADD COLUMN server_name TEXT;
ALTER TABLE channels ADD COLUMN inactive_reason TEXT
    CHECK (inactive_reason IS NULL OR inactive_reason IN ('gone', 'unsubscribed', 'deactivated'));
ALTER TABLE channels ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1));

CREATE TABLE channel_claims (
    channel_id INTEGER PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    holder     TEXT NOT NULL,                             -- the claiming process: host, pid and a nonce
    expires_at TEXT NOT NULL                              -- ISO UTC: after it, any process may claim
);
