-- Broadcast integrity, as the attacker: pg_logical_emit_message is
-- executable by PUBLIC, so a role that is only a member of ws_writer, or
-- one with no privilege at all, can write messages with prefix
-- "worldstate".  None of them becomes a line, whatever it copies of
-- worldstate's own messages; none of them stops decoding (a 100,000-deep
-- JSON message did); each is counted.  Events stay what only worldstate's
-- functions write.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql
-- test_decoding shows the raw messages (where output_plugin_libraries
-- exists, it must list it)
SELECT count(set_config('output_plugin_libraries', setting || ', test_decoding', false)) <= 1 AS trusted
FROM pg_settings WHERE name = 'output_plugin_libraries';

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_forged', 'worldstate');
SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_forged_raw', 'test_decoding');
SELECT ws.register_module('dec_forged', 1);
SELECT ws.define_kind('dec_forged_thing', 'dec_forged');
SELECT version FROM ws.create_entity('dforged1', 'dec_forged_thing', 'dec_forged', '{"n": 1}');
CREATE ROLE regress_forger;
GRANT ws_writer TO regress_forger;
SELECT ws.grant_module('dec_forged', 'regress_forger');
CREATE ROLE regress_nobody;

-- a genuine heartbeat, its raw bytes read with test_decoding, leaked to
-- the attackers
SELECT ws.heartbeat() IS NOT NULL AS heartbeat;
CREATE TABLE public.regress_leaked AS
SELECT substring(data FROM position('\x636f6e74656e743a'::bytea IN data) + 8) AS msg
FROM pg_logical_slot_get_binary_changes('ws_decode_forged_raw', NULL, NULL)
WHERE position('\x7072656669783a20776f726c6473746174652c'::bytea IN data) > 0;
SELECT count(*) AS leaked, bool_and(substring(msg FROM 1 FOR 4) = 'WS1:'::bytea) AS authenticated_layout
FROM public.regress_leaked;
GRANT SELECT ON public.regress_leaked TO regress_forger, regress_nobody;
SELECT pg_drop_replication_slot('ws_decode_forged_raw');

SELECT value AS dropped_before FROM ws.stats() WHERE name = 'broadcast_messages_dropped' \gset

SET ROLE regress_forger;
-- the events table is written by worldstate's functions only
INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind, event_type, patch, handshake, vclock)
VALUES (gen_random_uuid(), 'dforged1', 99, ws.hlc_now(), 0, 'dec_forged', 'dec_forged_thing', 'update', '{"n": 99}', '55-45-17', '{}');
-- lines of every kind, as the plugin used to take them
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"kind": "event", "event_id": "00000000-0000-4000-8000-00000000f001", "entity_id": "df1", "version": 99, "module": "dec_forged", "patch": {"n": 99}}');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"kind": "rejected", "sqlstate": "WS409", "entity_id": "df1", "module": "dec_forged", "reason": "forged", "origin": 0}');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"kind": "heartbeat", "origin": 0, "hlc": "2026-01-01T00:00:00.000000Z"}');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'worldstate', '{"kind": "snapshot_start", "snapshot_id": 1, "origin": 0}');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'worldstate', '{"kind": "snapshot_complete", "snapshot_id": 1, "entities": 0, "origin": 0}');
-- the genuine heartbeat with its members changed, its tag kept
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate',
    (SELECT overlay(msg PLACING '\x39'::bytea FROM position('\x6f726967696e223a'::bytea IN msg) + 8) FROM public.regress_leaked));
-- ...with its kind changed
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate',
    (SELECT substring(msg FROM 1 FOR 69) || convert_to('rejected', 'UTF8') || substring(msg FROM 79) FROM public.regress_leaked));
-- ...written as a transactional message
SELECT 'emitted' FROM pg_logical_emit_message(true, 'worldstate', (SELECT msg FROM public.regress_leaked));
RESET ROLE;

SET ROLE regress_nobody;
-- 100,000 levels deep, and 4 MB
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate',
    '{"kind":"heartbeat","x":' || repeat('[', 100000) || repeat(']', 100000) || '}');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate',
    'WS1:' || repeat('f', 64) || ':heartbeat' || repeat('x', 4 * 1024 * 1024));
RESET ROLE;

-- decoding goes on: the genuine heartbeat and the next event, nothing else
SELECT version FROM ws.transition('dforged1', '{"n": 2}');
\set VERBOSITY terse
SELECT * FROM pg_temp.broadcast('ws_decode_forged');
\set VERBOSITY default
SELECT value - :dropped_before AS dropped FROM ws.stats() WHERE name = 'broadcast_messages_dropped';

DROP TABLE public.regress_leaked;
DROP ROLE regress_forger;
DROP ROLE regress_nobody;
SELECT pg_drop_replication_slot('ws_decode_forged');
