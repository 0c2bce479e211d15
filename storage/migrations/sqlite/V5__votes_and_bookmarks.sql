-- V5__votes_and_bookmarks: 👍/👎 per chat, member and paper, a learned order per chat, 🔖 per user.
--
-- Why:
--   * channels.ranking: whether a chat's digest is ordered by what its votes taught (/settings
--     ranking on|off); on by default, so a chat that votes sees the effect without a setting.
--   * votes: one row per chat, member and paper (a new vote replaces the old one, a second press of
--     the same vote deletes it), with the announcement it was cast from and when. Keyed by the chat
--     (platform, chat_id) rather than channels.id: a chat that never subscribed may still vote on an
--     on-demand digest, and a chat's model is rebuilt from these rows after a restart.
--   * vote_versions: a counter per chat, bumped in the same transaction as each change of its votes,
--     so the ranker can tell cheaply whether a chat's model is stale.
--   * bookmarks: a paper saved by one user (not by the chat the press came from), with the
--     announcement it was saved from and when; /saved lists them newest first.
--   * No foreign keys to papers: pruning an announcement keeps every paper a vote or a bookmark
--     names (the store's prune says so), and a row whose paper is somehow gone is simply left out.

ALTER TABLE channels ADD COLUMN ranking INTEGER NOT NULL DEFAULT 1 CHECK (ranking IN (0, 1));

CREATE TABLE votes (
    platform          TEXT NOT NULL,
    chat_id           TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    arxiv_id          TEXT NOT NULL,
    vote              TEXT NOT NULL CHECK (vote IN ('up', 'down')),
    announcement_date TEXT NOT NULL,                      -- YYYY-MM-DD: the digest the press came from
    voted_at          TEXT NOT NULL,
    PRIMARY KEY (platform, chat_id, user_id, arxiv_id)
);

-- A page's tallies: one chat's votes on a few papers.
CREATE INDEX votes_by_chat_paper ON votes (platform, chat_id, arxiv_id);
-- Pruning asks "does any vote name this paper?".
CREATE INDEX votes_arxiv_id ON votes (arxiv_id);

CREATE TABLE vote_versions (
    platform TEXT NOT NULL,
    chat_id  TEXT NOT NULL,
    version  INTEGER NOT NULL CHECK (version >= 1),
    PRIMARY KEY (platform, chat_id)
);

CREATE TABLE bookmarks (
    platform          TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    arxiv_id          TEXT NOT NULL,
    announcement_date TEXT NOT NULL,                      -- YYYY-MM-DD: the digest it was saved from
    saved_at          TEXT NOT NULL,
    PRIMARY KEY (platform, user_id, arxiv_id)
);

-- /saved: one user's bookmarks, newest first.
CREATE INDEX bookmarks_newest ON bookmarks (platform, user_id, saved_at);
-- Pruning asks "does any bookmark name this paper?".
CREATE INDEX bookmarks_arxiv_id ON bookmarks (arxiv_id);
