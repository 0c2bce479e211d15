-- V4__paged_digests: a chat's digest is one paged message; its pages are stored before it is sent.
--
-- Why:
--   * channels.style, send_file, thread_id, own_thread: how a chat's pages show papers
--     (/settings style), whether the day's Markdown file comes along (/settings file), the Telegram
--     forum topic digests go to, and whether each Discord digest gets a thread of its own.
--   * digest_views: a digest as it was built for one chat (its papers in order, the topic each is
--     shown under, the keywords that matched, the counts). Buttons carry only a view's id and a page,
--     so pages turn after a restart; a digest resumed after a crash finds its view again and says the
--     same counts, and a file owed after its page (followers_sent 0) is sent alone. At most one
--     daily view per chat and announcement. Views go with their announcement.

ALTER TABLE channels ADD COLUMN style TEXT NOT NULL DEFAULT 'compact'
    CHECK (style IN ('compact', 'full', 'titles'));
ALTER TABLE channels ADD COLUMN send_file INTEGER NOT NULL DEFAULT 0 CHECK (send_file IN (0, 1));
ALTER TABLE channels ADD COLUMN thread_id TEXT;
ALTER TABLE channels ADD COLUMN own_thread INTEGER NOT NULL DEFAULT 0 CHECK (own_thread IN (0, 1));

CREATE TABLE digest_views (
    id                INTEGER PRIMARY KEY,
    platform          TEXT NOT NULL,
    chat_id           TEXT NOT NULL,
    announcement_date TEXT NOT NULL,                      -- YYYY-MM-DD
    kind              TEXT NOT NULL CHECK (kind IN ('daily', 'on_demand')),
    style             TEXT NOT NULL CHECK (style IN ('compact', 'full', 'titles')),
    request_key       TEXT NOT NULL DEFAULT '',           -- on_demand: what was asked
    announced_count   INTEGER NOT NULL CHECK (announced_count >= 0),
    topics            TEXT NOT NULL,                      -- JSON array of the digest's topic names
    entries           TEXT NOT NULL,                      -- JSON array of [arxiv_id, topic index, [also-in indices], [keywords]]
    message_ref       TEXT,                               -- the adapter's reference to the message, once sent
    followers_sent    INTEGER NOT NULL DEFAULT 0          -- the file after the page is out too
                      CHECK (followers_sent IN (0, 1)),
    created_at        TEXT NOT NULL
);

CREATE UNIQUE INDEX digest_views_daily ON digest_views (platform, chat_id, announcement_date)
    WHERE kind = 'daily';
CREATE INDEX digest_views_requests ON digest_views (platform, chat_id, announcement_date, request_key)
    WHERE kind = 'on_demand';
CREATE INDEX digest_views_by_date ON digest_views (announcement_date);

-- channels.max_inline_papers (how many papers a multi-message digest showed before the rest went
-- only into the file) means nothing once a digest is one paged message: dropped (SQLite >= 3.35;
-- its CHECK is the column's own, so the drop is allowed).
ALTER TABLE channels DROP COLUMN max_inline_papers;
