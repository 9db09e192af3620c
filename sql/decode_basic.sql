-- The output plugin "worldstate": one JSON object per line for every insert
-- into ws.events, nothing else of the database; positions are the commit's
-- LSN and the line's ordinal in it
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_basic', 'worldstate');

SELECT ws.register_module('dec_basic', 1);
SELECT ws.define_kind('dec_basic_player', 'dec_basic', counters => ARRAY['coins']);
SELECT version FROM ws.create_entity('db_p1', 'dec_basic_player', 'dec_basic', '{"name": "Ada", "coins": 10}');
SELECT version FROM ws.create_entity('db_p2', 'dec_basic_player', 'dec_basic', '{"name": "Bob", "coins": 5}');
SELECT version FROM ws.transition('db_p1', '{"title": "Countess", "coins": -3}');
SELECT from_id FROM ws.link('db_p1', 'knows', 'db_p2', '{"since": 1843}');
SELECT from_id FROM ws.unlink('db_p1', 'knows', 'db_p2');
SELECT version, retired FROM ws.retire_entity('db_p2');
-- one transaction, two events: one position LSN, ordinals 1 and 2
SELECT entity_id, version FROM ws.transition_many(
    '[{"entity_id": "db_p1", "patch": {"coins": 1}}, {"entity_id": "db_p1", "patch": {"level": 2}, "event_type": "level_up"}]');
-- nothing else of the database is broadcast: not ws.entities, not other tables
CREATE TABLE dec_basic_other (id int, note text);
BEGIN;
INSERT INTO dec_basic_other VALUES (1, 'not broadcast');
SELECT version FROM ws.transition('db_p1', '{"coins": 1}', event_type => 'bonus');
UPDATE dec_basic_other SET note = 'still not broadcast';
DELETE FROM dec_basic_other;
COMMIT;
-- a rolled-back transition is not broadcast
BEGIN;
SELECT version FROM ws.transition('db_p1', '{"coins": 100}');
ROLLBACK;

SELECT * FROM pg_temp.broadcast('ws_decode_basic');

-- the same events through peek, raw: every line is a JSON object; the
-- event ids are those of ws.events, in commit order; positions increase
-- strictly along the stream; lines of one transaction share the LSN of the
-- commit, which is after the change the line comes from
SELECT version FROM ws.transition('db_p1', '{"coins": 2}');
SELECT count(ws.create_entity('db_many' || i, 'dec_basic_player', 'dec_basic', '{"coins": 0}'))
FROM generate_series(1, 5) i;
SELECT version FROM ws.transition('db_many3', '{"coins": 2}');
CREATE TEMP TABLE basic_out AS
SELECT row_number() OVER () AS n, lsn, data, data::jsonb AS j
FROM pg_logical_slot_peek_changes('ws_decode_basic', NULL, NULL);
SELECT count(*) AS lines, bool_and(jsonb_typeof(j) = 'object') AS all_objects,
       bool_and(j->>'kind' = 'event') AS all_events,
       bool_and(j->>'handshake' = '55-45-17' AND (j->'format_version')::int = 1) AS header
FROM basic_out;
SELECT array_agg(j->>'event_id' ORDER BY n) =
       (SELECT array_agg(event_id::text ORDER BY hlc) FROM ws.events
        WHERE module = 'dec_basic' AND hlc OPERATOR(ws.>) (SELECT hlc FROM ws.events
                                                           WHERE entity_id = 'db_p1' AND version = 7))
       AS ids_in_commit_order
FROM basic_out;
WITH p AS (
    SELECT n, lsn, split_part(j->>'position', ':', 1)::pg_lsn AS plsn,
           split_part(j->>'position', ':', 2)::bigint AS pseq
    FROM basic_out),
q AS (
    SELECT p.*, lag(plsn) OVER (ORDER BY n) AS prev_lsn, lag(pseq) OVER (ORDER BY n) AS prev_seq FROM p)
SELECT bool_and((plsn, pseq) > (prev_lsn, prev_seq)) FILTER (WHERE n > 1) AS strictly_increasing,
       count(DISTINCT plsn) AS transactions,
       bool_and(plsn > lsn) AS position_after_change
FROM q;
SELECT n, j->>'entity_id' AS entity, j->>'version' AS version, split_part(j->>'position', ':', 2) AS ordinal
FROM basic_out ORDER BY n;
-- peek does not consume, get does
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_basic', NULL, NULL);
SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_basic', NULL, NULL);
SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_basic', NULL, NULL);

-- a table named events outside schema ws is not ws.events
CREATE SCHEMA dec_basic_schema;
CREATE TABLE dec_basic_schema.events (LIKE ws.events);
INSERT INTO dec_basic_schema.events SELECT * FROM ws.events WHERE entity_id = 'db_p1' AND version = 1;
SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_basic', NULL, NULL);
DROP SCHEMA dec_basic_schema CASCADE;
DROP TABLE dec_basic_other;

SELECT pg_drop_replication_slot('ws_decode_basic');
