-- Logical decoding messages with prefix worldstate: the plugin broadcasts
-- those that worldstate wrote (authenticated with the cluster's broadcast
-- key): heartbeats, rejections and snapshot announcements, their members
-- after handshake, format_version, kind and position.  Anything else with
-- the prefix, whatever it looks like, is dropped with a warning and counted
-- in ws.stats(); other prefixes are not broadcast.  decode_forged tests
-- the same as an attacker.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_messages', 'worldstate');
-- lines with the snapshot's id and entity count masked
CREATE FUNCTION pg_temp.lines() RETURNS SETOF text LANGUAGE sql AS $f$
    SELECT regexp_replace(b, '"snapshot_id":[0-9]+,"hlc":"<hlc>","entities":[0-9]+',
                          '"snapshot_id":<id>,"hlc":"<hlc>","entities":<n>')
    FROM pg_temp.broadcast('ws_decode_messages') b
$f$;

SELECT ws.register_module('dec_msg', 1);
SELECT ws.define_kind('dec_msg_thing', 'dec_msg');
-- a transactional announcement is a line of its transaction, in its order
BEGIN;
SELECT version FROM ws.create_entity('dmsg1', 'dec_msg_thing', 'dec_msg', '{"n": 1}');
SELECT ws.create_snapshot('decode_messages') > 0 AS snapshot;
SELECT version FROM ws.transition('dmsg1', '{"n": 2}');
COMMIT;
-- ...and of a rolled-back transaction it is not broadcast
BEGIN;
SELECT ws.create_snapshot('decode_messages_rolled_back') > 0 AS snapshot;
ROLLBACK;
-- a non-transactional message is a record of its own
SELECT ws.heartbeat() IS NOT NULL AS heartbeat;
-- other prefixes are not broadcast
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate2', '{"kind": "event"}');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'other', '{"kind": "event"}');
SELECT version FROM ws.transition('dmsg1', '{"n": 3}');
SELECT * FROM pg_temp.lines();

-- messages that worldstate did not write: dropped, the first of a decoding
-- session with a warning, every one counted
SELECT value AS dropped_before FROM ws.stats() WHERE name = 'broadcast_messages_dropped' \gset
-- what 1.0 wrote, and the plugin broadcast
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"kind": "heartbeat", "origin": 0}');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'worldstate', '{"kind": "snapshot_start", "snapshot_id": 13}');
-- the layout of worldstate's messages with a made-up tag
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate',
    'WS1:' || repeat('0', 64) || ':heartbeat:0::"origin":0');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate',
    'WS1:' || repeat('a', 64) || ':rejected:7:dec_msg:"sqlstate":"WS409","origin":0');
-- a header that does not add up
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate',
    'WS1:' || repeat('a', 64) || ':rejected:99999999999999999999999:x:');
-- truncated, empty, not text
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', 'WS1:');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '\x7b226b696e64223a22ff227d'::bytea);
-- ...and decoding goes on after them
SELECT ws.heartbeat() IS NOT NULL AS heartbeat;
SELECT version FROM ws.transition('dmsg1', '{"n": 4}');
\set VERBOSITY terse
SELECT * FROM pg_temp.lines();
\set VERBOSITY default
SELECT value - :dropped_before AS dropped FROM ws.stats() WHERE name = 'broadcast_messages_dropped';

SELECT pg_drop_replication_slot('ws_decode_messages');
