-- Option format-version: every line carries "format_version"; this
-- library writes version 1, and asking for any other is an error (22023)
-- rather than a stream in a format the consumer did not expect.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
-- servers with output_plugin_libraries trust only the plugins it lists
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_settings WHERE name = 'output_plugin_libraries')
       AND NOT 'worldstate' = ANY (string_to_array(replace(current_setting('output_plugin_libraries'), ' ', ''), ',')) THEN
        PERFORM set_config('output_plugin_libraries', current_setting('output_plugin_libraries') || ', worldstate', false);
    END IF;
END
$$;
-- broadcast(slot, options...): the slot's lines, consumed, with the values
-- that differ from run to run masked
CREATE FUNCTION pg_temp.broadcast(slot name, VARIADIC options text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $f$
    SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(data,
               '("event_id": ?)"[0-9a-f-]{36}"', '\1"<uuid>"', 'g'),
               '("hlc": ?)"[^"]*"', '\1"<hlc>"', 'g'),
               '("position": ?)"[0-9A-F]+/[0-9A-F]+:', '\1"<lsn>:', 'g'),
               '("(xid|subxid)": ?)[0-9]+', '\1<xid>', 'g')
    FROM pg_catalog.pg_logical_slot_get_changes(slot, NULL, NULL, VARIADIC options)
$f$;
-- peek(slot, options...): the same without consuming them
CREATE FUNCTION pg_temp.peek(slot name, VARIADIC options text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $f$
    SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(data,
               '("event_id": ?)"[0-9a-f-]{36}"', '\1"<uuid>"', 'g'),
               '("hlc": ?)"[^"]*"', '\1"<hlc>"', 'g'),
               '("position": ?)"[0-9A-F]+/[0-9A-F]+:', '\1"<lsn>:', 'g'),
               '("(xid|subxid)": ?)[0-9]+', '\1<xid>', 'g')
    FROM pg_catalog.pg_logical_slot_peek_changes(slot, NULL, NULL, VARIADIC options)
$f$;

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_format', 'worldstate');

SELECT ws.register_module('dec_format', 1);
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
