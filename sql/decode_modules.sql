-- Option modules: only events and rejections of the listed modules (a
-- comma-separated list; double quotes keep commas and spaces in a name).
-- A rejection carries the module of its entity; one that names no module
-- (no such entity) is left out by the option.  Node-wide lines
-- (heartbeats, snapshots) are not filtered by it.
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
-- a refused change of module dec_mod_b: filtered like its events
SELECT ws.transition('dm_b1', '{"n": 20}', expected_version => 9);
-- a refused change of no module (the entity does not exist)
SELECT ws.transition('dm_nobody', '{"n": 1}');
-- a node-wide line: never filtered by module
SELECT ws.heartbeat() IS NOT NULL AS heartbeat;
SELECT version FROM ws.transition('dm_b1', '{"n": 21}');

-- no filter
SELECT * FROM pg_temp.peek('ws_decode_modules');
-- one module
SELECT * FROM pg_temp.peek('ws_decode_modules', 'modules', 'dec_mod_a');
-- two modules, spaces around the comma
SELECT * FROM pg_temp.peek('ws_decode_modules', 'modules', 'dec_mod_a , dec_mod_b');
-- a name with a comma and a space, quoted
SELECT * FROM pg_temp.peek('ws_decode_modules', 'modules', '"dec mod,c"');
-- a module that has no events: only the node-wide lines
SELECT * FROM pg_temp.peek('ws_decode_modules', 'modules', 'dec_mod_none');
-- names are case-sensitive, like module names
SELECT count(*) FROM pg_temp.peek('ws_decode_modules', 'modules', 'DEC_MOD_A');

SELECT count(*) FROM pg_temp.broadcast('ws_decode_modules', 'modules', 'dec_mod_a');
SELECT pg_drop_replication_slot('ws_decode_modules');
