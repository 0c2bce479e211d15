-- V2__typed_state_and_servers: typed records for what ingest and delivery report to /status, and the
-- server (Discord guild) a channel belongs to.
--
-- Why:
--   * Ingest's last feed check and each channel's last delivery result were JSON strings in `state`,
--     re-parsed by every reader. They become rows with typed columns; the JSON values already stored
--     are carried over (when readable), so an upgraded bot's /status still shows them.
--   * Removing the bot from a Discord server must turn off that server's channels, so a channel
--     remembers its server. NULL: a DM, a Telegram chat, or a channel stored before this migration.

ALTER TABLE channels ADD COLUMN server_id TEXT;

CREATE INDEX channels_server ON channels (platform, server_id) WHERE server_id IS NOT NULL;

CREATE TABLE feed_checks (
    id         INTEGER PRIMARY KEY CHECK (id = 1),                -- one row: the last check
    checked_at TEXT NOT NULL,
    outcome    TEXT NOT NULL
               CHECK (outcome IN ('new', 'extended', 'unchanged', 'no_announcement', 'error')),
    date       TEXT,                                              -- the announcement date, if stated
    message    TEXT NOT NULL,
    papers     INTEGER NOT NULL CHECK (papers >= 0)
);

CREATE TABLE delivery_results (
    channel_id        INTEGER PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    delivered_at      TEXT NOT NULL,
    announcement_date TEXT NOT NULL,
    result            TEXT NOT NULL CHECK (result IN ('ok', 'empty', 'gone', 'failed')),
    papers            INTEGER NOT NULL CHECK (papers >= 0)
);

INSERT INTO feed_checks (id, checked_at, outcome, date, message, papers)
SELECT 1,
       json_extract(value, '$.checked_at'),
       json_extract(value, '$.outcome'),
       json_extract(value, '$.date'),
       coalesce(json_extract(value, '$.message'), ''),
       coalesce(json_extract(value, '$.papers'), 0)
FROM state
WHERE key = 'ingest:last_check'
  AND json_valid(value)
  AND json_type(value) = 'object'
  AND json_type(value, '$.checked_at') = 'text'
  AND json_extract(value, '$.outcome') IN ('new', 'extended', 'unchanged', 'no_announcement', 'error')
  AND coalesce(json_type(value, '$.date'), 'null') IN ('text', 'null')
  AND coalesce(json_type(value, '$.papers'), 'integer') = 'integer'
  AND coalesce(json_extract(value, '$.papers'), 0) >= 0;

INSERT INTO delivery_results (channel_id, delivered_at, announcement_date, result, papers)
SELECT c.id,
       json_extract(s.value, '$.at'),
       json_extract(s.value, '$.date'),
       json_extract(s.value, '$.result'),
       json_extract(s.value, '$.papers')
FROM state AS s
JOIN channels AS c ON s.key = 'delivery:last:' || c.id
WHERE json_valid(s.value)
  AND json_type(s.value) = 'object'
  AND json_type(s.value, '$.at') = 'text'
  AND json_type(s.value, '$.date') = 'text'
  AND json_extract(s.value, '$.result') IN ('ok', 'empty', 'gone', 'failed')
  AND json_type(s.value, '$.papers') = 'integer'
  AND json_extract(s.value, '$.papers') >= 0;

-- Only what was carried over leaves `state`; an unreadable value stays where it was.
DELETE FROM state WHERE key = 'ingest:last_check' AND EXISTS (SELECT 1 FROM feed_checks);
DELETE FROM state WHERE key IN (SELECT 'delivery:last:' || channel_id FROM delivery_results);
