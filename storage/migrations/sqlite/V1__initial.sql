-- V1__initial: the first schema — announcements and their papers, channels and their topics,
-- the delivery ledger, and a small key/value state table.
--
-- Why it looks like this:
--   * A paper is stored once (`papers`, always its newest known version); each announcement keeps
--     its own list (`announcement_papers`) with the feed order and the version and announce type
--     the paper had *in that announcement*, so an old digest still reads as it was announced.
--   * Announcements are pruned after the retention window; the papers they alone referenced go
--     with them. The ledger (`deliveries`) is never pruned: it is what guarantees that a paper is
--     posted to a chat at most once, ever, so it has no foreign key to `papers`/`announcements`.
--   * `deliveries` rows are 'pending' while a message is on its way and 'sent' once the platform
--     accepted it; a crash leaves 'pending' rows that the next run sends again (at-least-once for
--     the interrupted message, at-most-once for everything confirmed).
--   * Dates are ISO-8601 TEXT (YYYY-MM-DD, timestamps with a UTC offset), lists are JSON arrays in
--     TEXT, booleans are 0/1 INTEGERs: plain SQL that maps one-to-one onto PostgreSQL types.
--   * The migration runner wraps this file in one transaction and records it in schema_migrations;
--     a migration file must not contain BEGIN/COMMIT itself.

CREATE TABLE papers (
    arxiv_id    TEXT PRIMARY KEY,                         -- unversioned: 2511.07738, hep-th/9901001
    version     INTEGER NOT NULL CHECK (version >= 1),    -- the newest version seen
    title       TEXT NOT NULL,
    abstract    TEXT NOT NULL,
    authors     TEXT NOT NULL,                            -- JSON array of names
    categories  TEXT NOT NULL,                            -- JSON array, primary category first
    doi         TEXT,
    journal_ref TEXT,
    updated_at  TEXT NOT NULL
);

CREATE TABLE announcements (
    date        TEXT PRIMARY KEY,                         -- the announcement date the source states
    categories  TEXT NOT NULL,                            -- JSON array: what was asked for
    source      TEXT NOT NULL,                            -- 'rss' or 'api' (a recovered day)
    paper_count INTEGER NOT NULL CHECK (paper_count >= 0),
    stored_at   TEXT NOT NULL
);

CREATE TABLE announcement_papers (
    announcement_date TEXT NOT NULL REFERENCES announcements (date) ON DELETE CASCADE,
    position          INTEGER NOT NULL CHECK (position >= 0),   -- order in the feed, from 0
    arxiv_id          TEXT NOT NULL REFERENCES papers (arxiv_id),
    version           INTEGER NOT NULL CHECK (version >= 1),    -- as announced that day
    announce_type     TEXT NOT NULL
                      CHECK (announce_type IN ('new', 'cross', 'replace', 'replace-cross')),
    PRIMARY KEY (announcement_date, position),
    UNIQUE (announcement_date, arxiv_id)
);

-- Pruning asks "is this paper still referenced by any announcement?".
CREATE INDEX announcement_papers_arxiv_id ON announcement_papers (arxiv_id);

CREATE TABLE channels (
    id                INTEGER PRIMARY KEY,
    platform          TEXT NOT NULL,                      -- 'telegram', 'discord', ...
    chat_id           TEXT NOT NULL,
    timezone          TEXT NOT NULL,                      -- IANA name, e.g. Europe/Berlin
    delivery_time     TEXT                                -- local HH:MM; NULL: as soon as ingested
                      CHECK (delivery_time IS NULL
                             OR (length(delivery_time) = 5 AND substr(delivery_time, 3, 1) = ':')),
    active            INTEGER NOT NULL CHECK (active IN (0, 1)),
    max_inline_papers INTEGER NOT NULL CHECK (max_inline_papers >= 0),
    notify_empty      INTEGER NOT NULL CHECK (notify_empty IN (0, 1)),
    last_digest_date  TEXT,                               -- newest announcement whose digest is done
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (platform, chat_id)
);

CREATE TABLE topics (
    id             INTEGER PRIMARY KEY,
    channel_id     INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL CHECK (position >= 0),      -- the order the user gave them
    name           TEXT NOT NULL,
    keywords       TEXT NOT NULL,                               -- JSON array of expressions
    excludes       TEXT NOT NULL,                               -- JSON array of expressions
    categories     TEXT NOT NULL,                               -- JSON array; [] = the defaults
    announce_types TEXT NOT NULL,                               -- JSON array of announce types
    UNIQUE (channel_id, name),
    UNIQUE (channel_id, position)
);

CREATE TABLE deliveries (
    channel_id        INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    arxiv_id          TEXT NOT NULL,
    announcement_date TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
    reserved_at       TEXT NOT NULL,
    sent_at           TEXT,
    PRIMARY KEY (channel_id, arxiv_id),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);

CREATE TABLE state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
