-- Shared by the decode_* regression files (included with \i, from the
-- directory pg_regress runs in): trust the plugin where the server has
-- output_plugin_libraries, and broadcast()/peek() return a slot's lines
-- with the values that differ from run to run masked.
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
