-- Run once on a restored PostgreSQL database, after `migrate` and before any gateway starts:
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f scripts/after-restore-postgres.sql
-- docs/operations.md ("After every restore") says why each step is needed.
BEGIN;

-- 1. Every event-feed cursor issued before the restore is refused (INVALID_ARGUMENT naming
--    `cursor`): a cursor from after the backup point names events this database never had.
--    Callers read again from an empty cursor and drop the event ids they have seen.
DELETE FROM feed_state WHERE name = 'cursor-key';

-- 2. New events get ids above any the lost events (written after the backup point) can have had,
--    so an id a caller has seen is never reused for another event.
SELECT setval(pg_get_serial_sequence('message_event', 'sequence'),
              (SELECT COALESCE(MAX(sequence), 0) FROM message_event) + 1000000000000);

-- 3. Each feed floor ("floor" and "floor:<source>", value "<xid>:<sequence>", written by the
--    retention purge) gets the xid part 0, as the events get below: a floor keeping the old
--    cluster's xid would put every new event of a restore onto another server below it, hidden
--    from an empty-cursor reader until the new cluster's xids pass the old. The sequence part is
--    kept, lowered below any event that lay past the floor by its xid alone (a transaction that
--    took its sequence earlier but its xid later), so no restored event that was shown is hidden.
UPDATE feed_state AS f
   SET value = '0:' || LEAST(
         split_part(f.value, ':', 2)::bigint,
         COALESCE((SELECT MIN(e.sequence) - 1 FROM message_event e
                    WHERE (f.name = 'floor' OR e.source = substr(f.name, 7))
                      AND e.commit_xid > split_part(f.value, ':', 1)::bigint),
                  split_part(f.value, ':', 2)::bigint))
 WHERE f.name = 'floor' OR f.name LIKE 'floor:%';

-- 4. The feed orders events by the PostgreSQL transaction id that wrote them. A database restored
--    on another cluster (pg_restore onto a new server) counts transaction ids from lower down, so
--    new events would sort before the restored ones: put the restored ones first. Harmless on the
--    original cluster and after a point-in-time recovery.
UPDATE message_event SET commit_xid = 0 WHERE commit_xid <> 0;

COMMIT;
