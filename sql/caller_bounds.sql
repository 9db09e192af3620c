-- What a caller can make the server do is bounded, and every loop over
-- caller input stops at statement_timeout; keys built from caller strings
-- never collide.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

SELECT ws.register_module('bounds', 1);
SELECT ws.define_kind('bounds_item', 'bounds');
SELECT version FROM ws.create_entity('b1', 'bounds_item', 'bounds', '{"n": 0}');

------------------------------------------------------------------------
-- causal_deps: at most 1000 ids, checked before anything else (22023)
------------------------------------------------------------------------

-- 300,000 ids are refused at once, whatever the consistency level
SELECT * FROM pg_temp.try($$SELECT ws.transition('b1', '{"n": 1}',
    causal_deps => (SELECT array_agg(gen_random_uuid()) FROM generate_series(1, 300000)),
    consistency => 'causal')$$);
SELECT code FROM pg_temp.try($$SELECT ws.transition('b1', '{"n": 1}',
    causal_deps => (SELECT array_agg(gen_random_uuid()) FROM generate_series(1, 1001)))$$);
-- two dimensions and nulls are refused too, also without 'causal'
SELECT code, message FROM pg_temp.try($$SELECT ws.transition('b1', '{"n": 1}',
    causal_deps => ARRAY[[gen_random_uuid()], [gen_random_uuid()]])$$);
SELECT code, message, hint FROM pg_temp.try($$SELECT ws.transition('b1', '{"n": 1}',
    causal_deps => ARRAY[NULL::uuid])$$);
SELECT version FROM ws.entities WHERE entity_id = 'b1';
-- 1000 ids are accepted; duplicates count once
SELECT code, detail FROM pg_temp.try($$SELECT ws.transition('b1', '{"n": 1}',
    causal_deps => (SELECT array_agg(('b0b0b0b0-0000-4000-8000-' || lpad((i % 10)::text, 12, '0'))::uuid)
                    FROM generate_series(1, 1000) i),
    consistency => 'causal')$$);
SELECT version FROM ws.transition('b1', '{"n": 1}',
    causal_deps => (SELECT array_agg(event_id) FROM (SELECT event_id FROM ws.events, generate_series(1, 500)
                    WHERE entity_id = 'b1') e),
    consistency => 'causal');

------------------------------------------------------------------------
-- statement_timeout stops a long loop over caller input: a batch of
-- 100,000 changes stops long before its end (the node's events_written
-- counter is not transactional, so it shows how far the batch got)
------------------------------------------------------------------------

CREATE TEMP TABLE batch AS
SELECT jsonb_agg(jsonb_build_object('entity_id', 'b1', 'patch', jsonb_build_object('n', i))) AS updates
FROM generate_series(1, 100000) i;
SELECT value AS written_before FROM ws.stats() WHERE name = 'events_written' \gset
SET statement_timeout = '300ms';
SELECT count(*) FROM ws.transition_many((SELECT updates FROM pg_temp.batch));
RESET statement_timeout;
SELECT value - :written_before < 100000 AS stopped_early FROM ws.stats() WHERE name = 'events_written';
SELECT version FROM ws.entities WHERE entity_id = 'b1';

------------------------------------------------------------------------
-- event schemas: at most 100 rules a version; subscription patterns at
-- most 200 bytes
------------------------------------------------------------------------

SELECT code, message, hint FROM pg_temp.try($$SELECT ws.register_event_schema('bounds', 'many', 1,
    (SELECT array_agg(('$.n > ' || i)::jsonpath) FROM generate_series(1, 101) i))$$);
SELECT ws.register_event_schema('bounds', 'many', 1,
    (SELECT array_agg(('$.n > ' || i)::jsonpath) FROM generate_series(1, 100) i));
SELECT code, message, hint FROM pg_temp.try($$SELECT ws.subscribe('bounds', repeat('%', 201), '%')$$);

------------------------------------------------------------------------
-- keys: ('ca', E'b\x1fc') and (E'ca\x1fb', 'c') are different keys
------------------------------------------------------------------------

-- the idempotency key of a change to entity 'ca' of type E'b\x1fc' reused
-- for entity E'ca\x1fb' with type 'c' is a different update (WS412)
SELECT version FROM ws.create_entity('ca', 'bounds_item', 'bounds', '{}');
SELECT version FROM ws.create_entity(E'ca\x1fb', 'bounds_item', 'bounds', '{}');
SELECT version FROM ws.transition('ca', '{"n": 1}', event_id => '7a3c0000-0000-4000-8000-000000000001',
                                  event_type => E'b\x1fc');
SELECT code, message FROM pg_temp.try($$SELECT ws.transition(E'ca\x1fb', '{"n": 1}',
    event_id => '7a3c0000-0000-4000-8000-000000000001', event_type => 'c')$$);
-- the same request again is a retry
SELECT version FROM ws.transition('ca', '{"n": 1}', event_id => '7a3c0000-0000-4000-8000-000000000001',
                                  event_type => E'b\x1fc');
SELECT count(*) FROM ws.events WHERE event_id = '7a3c0000-0000-4000-8000-000000000001';

-- the schema of module 'ca', event type E'b\x1fc' is not the schema of
-- module E'ca\x1fb', event type 'c'
SELECT ws.register_module(E'ca\x1fb', 1);
SELECT ws.register_module('ca', 1);
SELECT ws.register_event_schema('ca', E'b\x1fc', 1, ARRAY['$.n > 0']::jsonpath[]);
SELECT ws.publish('ca', E'b\x1fc', '{"n": 1}') IS NOT NULL AS published;
SELECT code, replace(message, E'\x1f', '<0x1f>') AS message FROM pg_temp.try($$SELECT ws.publish(E'ca\x1fb', 'c', '{"n": 1}')$$);

------------------------------------------------------------------------
-- a retry of a change made before the update to 1.1, whose event holds
-- the digest 1.0 wrote, is still recognised
------------------------------------------------------------------------

BEGIN;
SELECT version FROM ws.create_entity('legacy', 'bounds_item', 'bounds', '{}');
SELECT version FROM ws.transition('legacy', '{"n": 5}', event_id => '7a3c0000-0000-4000-8000-000000000002');
-- what 1.0 stored: MD5 of the fields joined with 0x1f
ALTER TABLE ws.events DISABLE TRIGGER USER;
UPDATE ws.events SET request_digest = md5(E'legacy\x1fupdate\x1f' || '{"n": 5}'::jsonb::text)
WHERE event_id = '7a3c0000-0000-4000-8000-000000000002';
ALTER TABLE ws.events ENABLE TRIGGER USER;
SELECT version, state FROM ws.transition('legacy', '{"n": 5}', event_id => '7a3c0000-0000-4000-8000-000000000002');
SELECT code FROM pg_temp.try($$SELECT ws.transition('legacy', '{"n": 6}', event_id => '7a3c0000-0000-4000-8000-000000000002')$$);
SELECT count(*) FROM ws.events WHERE entity_id = 'legacy';
ROLLBACK;
