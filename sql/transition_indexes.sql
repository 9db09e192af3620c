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
SELECT version FROM ws.create_entity('idx-1', 'idx_counter', 'idx', '{"n": 0, "tag": "idx-test"}');
SELECT version FROM ws.transition('idx-1', '{"n": 1}');

-- the rows found through the indexes (a plan without sequential scans)
-- must be those found by scanning the tables: the events of type idx_bump
-- (a partial index on an expression, below) and the entities of this test
-- in state n (the GIN index on the state)
CREATE FUNCTION idx_counts(n int, OUT bumps_scanned bigint, OUT bumps_indexed bigint,
                           OUT state_scanned bigint, OUT state_indexed bigint)
LANGUAGE plpgsql AS $$
DECLARE
    bumps text := 'SELECT count(*) FROM ws.events'
                  ' WHERE event_type = ''idx_bump'' AND (patch ->> ''n'') IS NOT NULL';
    state text := format('SELECT count(*) FROM ws.entities WHERE state @> %L',
                         jsonb_build_object('n', n, 'tag', 'idx-test'));
BEGIN
    EXECUTE bumps INTO bumps_scanned;
    EXECUTE state INTO state_scanned;
    PERFORM set_config('enable_seqscan', 'off', true);
    EXECUTE bumps INTO bumps_indexed;
    EXECUTE state INTO state_indexed;
    PERFORM set_config('enable_seqscan', 'on', true);
END
$$;

-- whether the plan of query reads index
CREATE FUNCTION idx_plan_uses(query text, index text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        IF line LIKE '%' || index || '%' THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
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
-- plans that idx_counts uses without sequential scans read the indexes
SELECT * FROM idx_counts(4);
SET enable_seqscan = off;
SELECT idx_plan_uses('SELECT count(*) FROM ws.events'
                     ' WHERE event_type = ''idx_bump'' AND (patch ->> ''n'') IS NOT NULL',
                     'idx_test_bumps') AS partial_index,
       idx_plan_uses('SELECT count(*) FROM ws.entities'
                     ' WHERE state @> ''{"n": 4, "tag": "idx-test"}''',
                     'entities_state_idx') AS gin_index;
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
DROP FUNCTION idx_plan_uses(text, text);
