-- Option format-version: every line carries "format_version"; this
-- library writes version 1, and asking for any other is an error (22023)
-- rather than a stream in a format the consumer did not expect.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_format', 'worldstate');

SELECT ws.register_module('dec_format', 1);
SELECT ws.define_kind('dec_format_thing', 'dec_format');
SELECT version FROM ws.create_entity('df1', 'dec_format_thing', 'dec_format', '{"n": 1}');
SELECT ws.transition('df1', '{"n": 2}', expected_version => 3);
SELECT ws.heartbeat() IS NOT NULL AS heartbeat;

SELECT data::jsonb->>'kind' AS kind, data::jsonb->'format_version' AS format_version
FROM pg_logical_slot_peek_changes('ws_decode_format', NULL, NULL, 'format-version', '1');

\set VERBOSITY default
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_format', NULL, NULL, 'format-version', '2');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_format', NULL, NULL, 'format-version', '0');
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_format', NULL, NULL, 'format-version', 'one');
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_format', NULL, NULL, 'format-version', '1.0');
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_format', NULL, NULL, 'format-version', '');
\echo :LAST_ERROR_SQLSTATE

SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_format', NULL, NULL, 'format-version', '1');
SELECT pg_drop_replication_slot('ws_decode_format');
