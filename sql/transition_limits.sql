-- Input checks of the transition protocol: transition_many refuses unknown
-- keys and versions that are not integers; NULL arguments and over-long
-- ids, event types and relation names are 22023 naming the argument, with
-- the documented limits (entity ids and to_id 1024 bytes, event types and
-- relation names 255 bytes); nothing is written by a refused call.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

SELECT ws.register_module('limmod', 1);
SELECT ws.define_kind('lim_thing', 'limmod');
SELECT version FROM ws.create_entity('lim1', 'lim_thing', 'limmod', '{"n": 0}');
SELECT version FROM ws.create_entity('lim2', 'lim_thing', 'limmod', '{"n": 0}');

-- a typo in a key used to switch the version check off: now refused,
-- naming the key and the update
SELECT * FROM pg_temp.try($$SELECT ws.transition_many(
    '[{"entity_id": "lim1", "patch": {"n": 1}, "expected_version": 1},
      {"entity_id": "lim2", "patch": {"n": 1}, "expected_verison": 7}]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition_many('[{"entity_id": "lim1", "patch": {}, "consistency": "strong"}]')$$);
-- versions are integers: 1.5 used to be rounded to 2
SELECT * FROM pg_temp.try($$SELECT ws.transition_many('[{"entity_id": "lim1", "patch": {}, "expected_version": 0.5}]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition_many('[{"entity_id": "lim1", "patch": {}, "expected_version": 1.5}]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition_many('[{"entity_id": "lim1", "patch": {}, "expected_version": "1"}]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition_many('[{"entity_id": "lim1", "patch": {}, "expected_version": 1e30}]')$$);
-- 1.0 and 1e0 are the integer 1, and null means no check
SELECT entity_id, version FROM ws.transition_many(
    '[{"entity_id": "lim1", "patch": {"n": 1}, "expected_version": 1.0},
      {"entity_id": "lim2", "patch": {"n": 1}, "expected_version": null}]');
SELECT version FROM ws.transition_many('[{"entity_id": "lim1", "patch": {"n": 2}, "expected_version": 2e0}]');
-- nothing of the refused batches was written
SELECT entity_id, version FROM ws.entities WHERE module = 'limmod' ORDER BY 1;

-- NULL arguments: 22023 naming the argument
SELECT * FROM pg_temp.try($$SELECT ws.transition(NULL, '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('lim1', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('lim1', '{}', event_type => NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('lim3', NULL, 'limmod', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('lim3', 'lim_thing', NULL, '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('lim3', 'lim_thing', 'limmod', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.retire_entity(NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('lim1', NULL, 'lim2')$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('lim1', 'knows', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.unlink(NULL, 'knows', 'lim2')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition_many(NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.get_state(NULL)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.get_entity(NULL, now())$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.history(NULL, now())$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.find('{}', NULL)$$);

-- lengths: 22023 with the limit, never 54000 from an index
SELECT * FROM pg_temp.try($$SELECT ws.create_entity(repeat('e', 1025), 'lim_thing', 'limmod', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('lim1', '{}', event_type => repeat('t', 256))$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition_many(jsonb_build_array(jsonb_build_object(
    'entity_id', 'lim1', 'patch', '{}'::jsonb, 'event_type', repeat('t', 256))))$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('lim1', repeat('r', 3000), 'lim2')$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('lim1', 'knows', repeat('x', 3000))$$);
SELECT * FROM pg_temp.try($$SELECT ws.unlink('lim1', repeat('r', 3000), 'lim2')$$);
-- at the limits it works
SELECT version FROM ws.create_entity(repeat('e', 1024), 'lim_thing', 'limmod', '{}');
SELECT version FROM ws.transition('lim1', '{}', event_type => repeat('t', 255));
SELECT rel = repeat('r', 255) AS long_rel FROM ws.link('lim1', repeat('r', 255), 'lim2');
SELECT entity_id, version FROM ws.entities WHERE module = 'limmod' AND length(entity_id) < 10 ORDER BY 1;
