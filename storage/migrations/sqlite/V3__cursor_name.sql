-- V3__cursor_name: the delivery cursor has one name everywhere.
--
-- Why:
--   * The code, the `channels` command (DONE UP TO) and the docs call a channel's delivery cursor
--     "done up to": the newest announcement whose digest is done for it. The column said
--     last_digest_date, which read as "when the last digest went out". Renamed; values unchanged.

ALTER TABLE channels RENAME COLUMN last_digest_date TO done_up_to;
