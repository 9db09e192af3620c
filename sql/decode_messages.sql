-- Logical decoding messages with prefix worldstate: a JSON object with a
-- string "kind" passes through member by member (numbers verbatim, white
-- space dropped) after handshake, format_version, kind and position, which
-- the plugin writes itself.  Anything else with the prefix is left out with
-- a warning; other prefixes are not broadcast.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_messages', 'worldstate');

SELECT ws.register_module('dec_msg', 1);
SELECT ws.define_kind('dec_msg_thing', 'dec_msg');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate',
    E'{\n  "kind": "snapshot_start",\n  "snapshot_id": 12,\n  "at": {"hlc": "x", "n": [1, 2.50, -0.0, 1e400, 9007199254740993]},\n  "ok": true, "none": null, "text": "tab\\tquote\\" \\u00e9"\n}');
-- the plugin's own members win over the message's
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate',
    '{"handshake": "spoofed", "kind": "custom", "format_version": 99, "position": "0/0:0", "keep": 1}');
-- a transactional message is a line of its transaction, in its order
BEGIN;
SELECT version FROM ws.create_entity('dmsg1', 'dec_msg_thing', 'dec_msg', '{"n": 1}');
SELECT 'emitted' FROM pg_logical_emit_message(true, 'worldstate', '{"kind": "snapshot_complete", "snapshot_id": 12}');
SELECT version FROM ws.transition('dmsg1', '{"n": 2}');
COMMIT;
-- a transactional message of a rolled-back transaction is not broadcast
BEGIN;
SELECT 'emitted' FROM pg_logical_emit_message(true, 'worldstate', '{"kind": "snapshot_start", "snapshot_id": 13}');
ROLLBACK;
-- other prefixes are not broadcast
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate2', '{"kind": "event"}');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'other', '{"kind": "event"}');
SELECT version FROM ws.transition('dmsg1', '{"n": 3}');
SELECT * FROM pg_temp.broadcast('ws_decode_messages');

-- not a JSON object with a string "kind": left out, with a warning each
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', 'not json');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '[{"kind": "event"}]');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '"kind"');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"no_kind": 1}');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"kind": 5}');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"kind": {"nested": "event"}}');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"data": {"kind": "event"}}');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"kind": "event", "kind": "rejected"}');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"kind": "event"');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"kind": "event"} {}');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '\x7b226b696e64223a22ff227d'::bytea);
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '\x7b226b696e64223a2261227d00'::bytea);
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '');
-- ...and decoding goes on after them
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate', '{"kind": "heartbeat", "origin": 0}');
SELECT version FROM ws.transition('dmsg1', '{"n": 4}');
\set VERBOSITY terse
SELECT * FROM pg_temp.broadcast('ws_decode_messages');
\set VERBOSITY default

SELECT pg_drop_replication_slot('ws_decode_messages');
