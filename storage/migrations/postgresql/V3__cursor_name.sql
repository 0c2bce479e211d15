-- V3__cursor_name: the delivery cursor has one name everywhere.
--
-- PostgreSQL's form of storage/migrations/sqlite/V3__cursor_name.sql.

ALTER TABLE channels RENAME COLUMN last_digest_date TO done_up_to;
