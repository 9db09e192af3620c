-- Many changes of one entity in one transaction: each reads the entity
-- where this transaction last wrote it, and a primary-key entry of an
-- unchanged key needs no uniqueness check, so the cost of a change does
-- not grow with the versions the transaction made before it.  Checked by
-- the work the changes do (index entries read, heap pages touched),
-- never by time; and the results must be those of the index path,
-- through savepoints rolled back, a restore and a truncation.
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';

SELECT ws.register_module('hot', 1);
SELECT ws.define_kind('hot_counter', 'hot', 'lww', ARRAY['n']);
SELECT ws.add_constraint('hot_counter', 'n_below_1000', '$.n < 1000');
SELECT version FROM ws.create_entity('hot-1', 'hot_counter', 'hot', '{"n": 0}');

-- 400 changes of hot-1 in one transaction: at most one lookup by the
-- primary key (the first change), and a bounded number of heap pages per
-- change -- reading every earlier version would make both grow with the
-- square of the number of changes (80,000 index entries read here)
BEGIN;
SELECT pg_stat_get_xact_tuples_returned('ws.entities_pkey'::regclass) AS idx0,
       pg_stat_get_xact_blocks_fetched('ws.entities'::regclass) AS heap0 \gset
SELECT count(*), max((t).version), max(((t).state ->> 'n')::int)
FROM (SELECT ws.transition('hot-1', '{"n": 1}') AS t FROM generate_series(1, 400) OFFSET 0) s;
SELECT pg_stat_get_xact_tuples_returned('ws.entities_pkey'::regclass) - :idx0 <= 1
         AS one_index_lookup,
       (pg_stat_get_xact_blocks_fetched('ws.entities'::regclass) - :heap0) / 400 < 20
         AS few_pages_per_change;
-- every version is an event, in order, and one row is current
SELECT count(*), min(version), max(version), count(DISTINCT version)
FROM ws.events WHERE entity_id = 'hot-1';
SELECT count(*), max(version) FROM ws.entities WHERE entity_id = 'hot-1';
COMMIT;
SELECT version, state FROM ws.entities WHERE entity_id = 'hot-1';

-- a savepoint rolled back takes its changes with it; the changes after it
-- continue from the version before the savepoint, as do the checks
BEGIN;
SELECT version, state FROM ws.transition('hot-1', '{"n": 1}');
SAVEPOINT a;
SELECT max((t).version)
FROM (SELECT ws.transition('hot-1', '{"n": 1}') AS t FROM generate_series(1, 50) OFFSET 0) s;
ROLLBACK TO SAVEPOINT a;
SELECT version, state FROM ws.transition('hot-1', '{"n": 1}');
SELECT version FROM ws.transition('hot-1', '{"n": 1}', expected_version => 403);
SAVEPOINT b;
SELECT version FROM ws.transition('hot-1', '{"n": 1}');
-- a change that fails in the savepoint: the constraint refuses n >= 1000
SELECT version FROM ws.transition('hot-1', '{"n": 1000}');
ROLLBACK TO SAVEPOINT b;
SELECT version, state FROM ws.transition('hot-1', '{"n": 1}', expected_version => 404);
-- a subtransaction committed (released) keeps its changes
SAVEPOINT c;
SELECT version FROM ws.transition('hot-1', '{"n": 1}');
RELEASE SAVEPOINT c;
SELECT version, state FROM ws.transition('hot-1', '{"n": 1}', expected_version => 406);
COMMIT;
SELECT version, state FROM ws.entities WHERE entity_id = 'hot-1';
SELECT version, patch FROM ws.events WHERE entity_id = 'hot-1' AND version > 400 ORDER BY version;

-- a transaction rolled back leaves nothing, and the next one starts over
BEGIN;
SELECT max((t).version)
FROM (SELECT ws.transition('hot-1', '{"n": 1}') AS t FROM generate_series(1, 20) OFFSET 0) s;
ROLLBACK;
SELECT version, state FROM ws.transition('hot-1', '{"n": 1}', expected_version => 407);

-- transition_many: many changes of one entity in one call
SELECT count(*), max(version), max((state ->> 'n')::int)
FROM ws.transition_many((SELECT jsonb_agg(jsonb_build_object('entity_id', 'hot-1', 'patch', '{"n": 1}'::jsonb))
                         FROM generate_series(1, 100)));

-- created and changed in one transaction, then changed by other means
-- (an UPDATE of the row as its owner): the next change reads that version
BEGIN;
SELECT version FROM ws.create_entity('hot-2', 'hot_counter', 'hot', '{"n": 0}');
SELECT max((t).version)
FROM (SELECT ws.transition('hot-2', '{"n": 1}') AS t FROM generate_series(1, 10) OFFSET 0) s;
UPDATE ws.entities SET state = '{"n": 100}' WHERE entity_id = 'hot-2';
SELECT version, state FROM ws.transition('hot-2', '{"n": 1}');
ROLLBACK;

-- a restore in the transaction rewrites every entity row: the change after
-- it reads the restored one
BEGIN;
SELECT ws.create_snapshot('hot') AS snap \gset
SELECT max((t).version)
FROM (SELECT ws.transition('hot-1', '{"n": 1}') AS t FROM generate_series(1, 10) OFFSET 0) s;
SELECT ws.restore_snapshot(:snap) > 0 AS restored;
SELECT version, state FROM ws.transition('hot-1', '{"n": 1}');
SELECT count(*) FROM ws.entities WHERE entity_id = 'hot-1';
ROLLBACK;

-- truncated in the transaction: the entity is gone, twice over (the
-- second truncation empties the table's new file in place, leaving the
-- remembered location past its end)
BEGIN;
TRUNCATE ws.entities CASCADE;
SELECT version FROM ws.transition('hot-1', '{"n": 1}');
ROLLBACK;
BEGIN;
TRUNCATE ws.entities CASCADE;
SELECT version FROM ws.create_entity('hot-3', 'hot_counter', 'hot', '{"n": 0}');
SELECT max((t).version)
FROM (SELECT ws.transition('hot-3', '{"n": 1}') AS t FROM generate_series(1, 300) OFFSET 0) s;
TRUNCATE ws.entities CASCADE;
SELECT version FROM ws.transition('hot-3', '{"n": 1}');
ROLLBACK;
SELECT version, state FROM ws.entities WHERE entity_id = 'hot-1';
