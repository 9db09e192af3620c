-- Option include-state: events also carry "state", the entity's full state
-- after the event, on the events that store it: the first version and every
-- worldstate.keyframe_interval-th (with an interval of 1, every event).
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_state', 'worldstate');

SELECT ws.register_module('dec_state', 1);
SELECT ws.define_kind('dec_state_thing', 'dec_state');
SET worldstate.keyframe_interval = 1;
SELECT version FROM ws.create_entity('ds1', 'dec_state_thing', 'dec_state', '{"name": "one", "n": 1}');
SELECT version FROM ws.transition('ds1', '{"n": 2, "tag": "x"}');
SELECT version FROM ws.transition('ds1', '{"tag": null}');
SELECT * FROM pg_temp.peek('ws_decode_state', 'include-state', 'on');
-- off (the default): no state
SELECT * FROM pg_temp.peek('ws_decode_state');
SELECT * FROM pg_temp.broadcast('ws_decode_state', 'include-state', 'off');
-- the state of the last event is the entity's state
SELECT version FROM ws.transition('ds1', '{"n": 3}');
SELECT (SELECT data::jsonb->'state' FROM pg_logical_slot_get_changes('ws_decode_state', NULL, NULL, 'include-state', '1'))
       = (SELECT state FROM ws.entities WHERE entity_id = 'ds1') AS state_matches;

-- the default interval (16): versions 1, 16 and 32 carry the state
RESET worldstate.keyframe_interval;
SELECT version FROM ws.create_entity('ds2', 'dec_state_thing', 'dec_state', '{"n": 0}');
SELECT count(ws.transition('ds2', '{"n": 1}')) FROM generate_series(2, 33);
SELECT (data::jsonb->>'version')::int AS version, data::jsonb->'state' AS state
FROM pg_logical_slot_get_changes('ws_decode_state', NULL, NULL, 'include-state', 'true')
WHERE data::jsonb ? 'state';

SELECT pg_drop_replication_slot('ws_decode_state');
