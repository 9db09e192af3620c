-- Option local-only: events that arrived from peers are broadcast like
-- local ones, each line naming its "origin" node; with local-only on, only
-- the events whose origin_node is this node's worldstate.node_id (0 here,
-- a standalone node) are.  The remote event is made as the apply worker
-- would make it: a superuser's insert under session_replication_role =
-- replica.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_local', 'worldstate');

SELECT ws.register_module('dec_local', 1);
SELECT ws.define_kind('dec_local_thing', 'dec_local');
SELECT current_setting('worldstate.node_id') AS node_id;
SELECT version FROM ws.create_entity('dl1', 'dec_local_thing', 'dec_local', '{"n": 1}');
SET session_replication_role = replica;
INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind, event_type,
                       patch, handshake, arrival)
VALUES ('00000000-0000-4000-8000-00000000d101', 'dl_remote', 1, ws.hlc('2001-01-01 00:00:00+00', 0, 7), 7,
        'dec_local', 'dec_local_thing', 'update', '{"n": 2}', '55-45-17',
        nextval('ws.events_arrival_seq'));
RESET session_replication_role;
SELECT version FROM ws.transition('dl1', '{"n": 3}');

-- by default, every event with its origin
SELECT data::jsonb->>'entity_id' AS entity, data::jsonb->'patch' AS patch, data::jsonb->'origin' AS origin
FROM pg_logical_slot_peek_changes('ws_decode_local', NULL, NULL);
SELECT data::jsonb->'patch' AS patch, data::jsonb->'origin' AS origin
FROM pg_logical_slot_peek_changes('ws_decode_local', NULL, NULL, 'local-only', 'off');
-- local-only: the remote event is left out
SELECT * FROM pg_temp.peek('ws_decode_local', 'local-only', 'on');
SELECT data::jsonb->'patch' AS patch, data::jsonb->'origin' AS origin
FROM pg_logical_slot_peek_changes('ws_decode_local', NULL, NULL, 'local-only', 'true');

-- a value that is no boolean, or the option twice, is refused (22023)
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_local', NULL, NULL, 'local-only', 'sometimes');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_local', NULL, NULL, 'local-only', 'on', 'local-only', 'off');
\echo :LAST_ERROR_SQLSTATE
-- nothing was consumed: the lines are all still there
SELECT count(*) AS lines FROM pg_logical_slot_get_changes('ws_decode_local', NULL, NULL);

SELECT pg_drop_replication_slot('ws_decode_local');
