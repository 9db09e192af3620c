-- A snapshot must be the world at its HLC.  Its copy is read after it has
-- waited for the changes in flight, which a transaction snapshot
-- (REPEATABLE READ, SERIALIZABLE) taken earlier cannot see: such
-- transactions are refused (0A000), and nothing of the snapshot is kept.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

SELECT count(*) AS snapshots_before FROM ws.snapshots \gset

BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM pg_temp.try($$SELECT ws.create_snapshot('rr')$$);
ROLLBACK;

BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT * FROM pg_temp.try($$SELECT ws.create_snapshot('serializable')$$);
ROLLBACK;

-- the worker's cycle, run in a session, is refused the same way
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT code FROM pg_temp.try($$SELECT ws.run_snapshot_worker_now()$$);
ROLLBACK;

SELECT count(*) - :snapshots_before AS snapshots_recorded FROM ws.snapshots;

-- READ COMMITTED takes it
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT ws.create_snapshot('read committed') > 0 AS taken;
COMMIT;
SELECT label, checksum IS NOT NULL AS checksummed FROM ws.snapshots ORDER BY id DESC LIMIT 1;
