-- Run once on a restored SQLite database file, with no gateway running on it:
--   sqlite3 /path/to/outbox.sqlite < scripts/after-restore-sqlite.sql
-- docs/operations.md ("After every restore") says why each step is needed.
BEGIN;

-- 1. Every event-feed cursor issued before the restore is refused (INVALID_ARGUMENT naming
--    `cursor`): a cursor from after the backup point names events this database never had.
--    Callers read again from an empty cursor and drop the event ids they have seen.
DELETE FROM feed_state WHERE name = 'cursor-key';

-- 2. New events get ids above any the lost events (written after the backup point) can have had,
--    so an id a caller has seen is never reused for another event.
INSERT INTO sqlite_sequence (name, seq) SELECT 'message_event', 0
 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'message_event');
UPDATE sqlite_sequence
   SET seq = MAX(seq, (SELECT COALESCE(MAX(sequence), 0) FROM message_event)) + 1000000000000
 WHERE name = 'message_event';

-- The feed floors ("floor", "floor:<source>", written by the retention purge) need nothing: on
-- SQLite a position's transaction id is always 0, and the sequence alone orders the feed.

COMMIT;
