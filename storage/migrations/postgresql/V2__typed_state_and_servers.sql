-- V2__typed_state_and_servers: typed records of the last feed check and deliveries, and each chat's server.
--
-- PostgreSQL's form of storage/migrations/sqlite/V2__typed_state_and_servers.sql. That file also moves
-- rows of an older, JSON-in-`state` form into the new tables; a PostgreSQL database never had that
-- form (it starts at this version's code), so there is nothing to move here.

ALTER TABLE channels ADD COLUMN server_id TEXT COLLATE "C";

CREATE INDEX channels_server ON channels (platform, server_id) WHERE server_id IS NOT NULL;

CREATE TABLE feed_checks (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TEXT COLLATE "C" NOT NULL,
    outcome    TEXT NOT NULL
               CHECK (outcome IN ('new', 'extended', 'unchanged', 'no_announcement', 'error')),
    date       TEXT COLLATE "C",
    message    TEXT NOT NULL,
    papers     INTEGER NOT NULL CHECK (papers >= 0)
);

CREATE TABLE delivery_results (
    channel_id        BIGINT PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    delivered_at      TEXT COLLATE "C" NOT NULL,
    announcement_date TEXT COLLATE "C" NOT NULL,
    result            TEXT NOT NULL CHECK (result IN ('ok', 'empty', 'gone', 'failed')),
    papers            INTEGER NOT NULL CHECK (papers >= 0)
);
