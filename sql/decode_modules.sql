-- Option modules: only events of the listed modules (a comma-separated
-- list; double quotes keep commas and spaces in a name).  Lines without a
-- module (rejections, heartbeats) are not filtered by it.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_modules', 'worldstate');

SELECT ws.register_module('dec_mod_a', 1);
SELECT ws.define_kind('dec_mod_a_thing', 'dec_mod_a');
SELECT ws.register_module('dec_mod_b', 1);
SELECT ws.define_kind('dec_mod_b_thing', 'dec_mod_b');
SELECT ws.register_module('dec mod,c', 1);
SELECT ws.define_kind('dec_mod_c_thing', 'dec mod,c');
SELECT version FROM ws.create_entity('dm_a1', 'dec_mod_a_thing', 'dec_mod_a', '{"n": 1}');
SELECT version FROM ws.create_entity('dm_b1', 'dec_mod_b_thing', 'dec_mod_b', '{"n": 2}');
SELECT version FROM ws.create_entity('dm_c1', 'dec_mod_c_thing', 'dec mod,c', '{"n": 3}');
SELECT version FROM ws.transition('dm_a1', '{"n": 10}');
-- a refused change: broadcast whatever the module filter
SELECT ws.transition('dm_b1', '{"n": 20}', expected_version => 9);
-- a message that names a module is filtered like an event
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"kind": "snapshot_start", "module": "dec_mod_b", "snapshot_id": 1}');
SELECT version FROM ws.transition('dm_b1', '{"n": 21}');

-- no filter
SELECT * FROM pg_temp.peek('ws_decode_modules');
-- one module
SELECT * FROM pg_temp.peek('ws_decode_modules', 'modules', 'dec_mod_a');
-- two modules, spaces around the comma
SELECT * FROM pg_temp.peek('ws_decode_modules', 'modules', 'dec_mod_a , dec_mod_b');
-- a name with a comma and a space, quoted
SELECT * FROM pg_temp.peek('ws_decode_modules', 'modules', '"dec mod,c"');
-- a module that has no events: only the lines without a module
SELECT * FROM pg_temp.peek('ws_decode_modules', 'modules', 'dec_mod_none');
-- names are case-sensitive, like module names
SELECT count(*) FROM pg_temp.peek('ws_decode_modules', 'modules', 'DEC_MOD_A');

SELECT count(*) FROM pg_temp.broadcast('ws_decode_modules', 'modules', 'dec_mod_a');
SELECT pg_drop_replication_slot('ws_decode_modules');
