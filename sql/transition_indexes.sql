-- The writer keeps the descriptions of the indexes of ws.events and
-- ws.entities from one change to the next.  Whatever happens to those
-- indexes in between -- an index created (partial, on an expression), a
-- reindex, a changed storage parameter, an index dropped, a change that
-- failed inside a savepoint -- every later change must write exactly the
-- index entries a fresh statement would: the rows found through each
-- index are those found by scanning the table.
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';

SELECT ws.register_module('idx', 1);
SELECT ws.define_kind('idx_counter', 'idx', 'lww', ARRAY['n']);
SELECT ws.add_constraint('idx_counter', 'n_below_100', '$.n < 100');
SELECT version FROM ws.create_entity('idx-1', 'idx_counter', 'idx', '{"n": 0}');
SELECT version FROM ws.transition('idx-1', '{"n": 1}');

-- the rows found through the indexes (a plan without sequential scans)
-- must be those found by scanning the tables: the events of type idx_bump
-- (a partial index on an expression, below) and the entities in state n
-- (the GIN index on the state)
CREATE FUNCTION idx_counts(n int, OUT bumps_scanned bigint, OUT bumps_indexed bigint,
                           OUT state_scanned bigint, OUT state_indexed bigint)
LANGUAGE plpgsql AS $$
DECLARE
    bumps text := 'SELECT count(*) FROM ws.events'
                  ' WHERE event_type = ''idx_bump'' AND (patch ->> ''n'') IS NOT NULL';
    state text := format('SELECT count(*) FROM ws.entities WHERE state @> %L',
                         jsonb_build_object('n', n));
BEGIN
    EXECUTE bumps INTO bumps_scanned;
    EXECUTE state INTO state_scanned;
    PERFORM set_config('enable_seqscan', 'off', true);
    EXECUTE bumps INTO bumps_indexed;
    EXECUTE state INTO state_indexed;
    PERFORM set_config('enable_seqscan', 'on', true);
END
$$;

-- a partial index on an expression, created between two changes in one
-- transaction, gets the entry of the second
BEGIN;
SELECT version FROM ws.transition('idx-1', '{"n": 1}', event_type => 'idx_bump');
CREATE INDEX idx_test_bumps ON ws.events ((patch ->> 'n')) WHERE event_type = 'idx_bump';
SELECT version FROM ws.transition('idx-1', '{"n": 1}', event_type => 'idx_bump');
COMMIT;
SELECT version FROM ws.transition('idx-1', '{"n": 1}', event_type => 'idx_bump');
-- the index was built with the first, and written by the two after; the
-- plans that idx_counts uses without sequential scans
SELECT * FROM idx_counts(4);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT count(*) FROM ws.events WHERE event_type = 'idx_bump' AND (patch ->> 'n') IS NOT NULL;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ws.entities WHERE state @> '{"n": 4}';
RESET enable_seqscan;

-- a reindex gives the indexes new files; later changes write into those
REINDEX TABLE ws.events;
REINDEX TABLE ws.entities;
SELECT version FROM ws.transition('idx-1', '{"n": 1}', event_type => 'idx_bump');
SELECT * FROM idx_counts(5);

-- a storage parameter of the GIN index on the state changes how it is
-- written (no pending list); the entries still go in
ALTER INDEX ws.entities_state_idx SET (fastupdate = off);
SELECT version, state FROM ws.transition('idx-1', '{"n": 1}');
SELECT * FROM idx_counts(6);
ALTER INDEX ws.entities_state_idx RESET (fastupdate);

-- a change that fails inside a savepoint leaves the next ones whole
BEGIN;
SAVEPOINT s;
SELECT version FROM ws.transition('idx-1', '{"n": 500}', event_type => 'idx_bump');
ROLLBACK TO SAVEPOINT s;
SELECT version FROM ws.transition('idx-1', '{"n": 1}', event_type => 'idx_bump');
COMMIT;
SELECT version FROM ws.transition('idx-1', '{"n": 1}', event_type => 'idx_bump');
SELECT * FROM idx_counts(8);

-- an index dropped between two changes is no longer written
DROP INDEX ws.idx_test_bumps;
SELECT version, state FROM ws.transition('idx-1', '{"n": 1}', event_type => 'idx_bump');
SELECT * FROM idx_counts(9);
SELECT count(*), max(version) FROM ws.events WHERE entity_id = 'idx-1';

DROP FUNCTION idx_counts(int);
