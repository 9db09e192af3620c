-- Every option is validated when decoding starts: a bad one is refused with
-- SQLSTATE 22023 and a message naming it; the slot stays usable.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_opterr', 'worldstate');
SELECT ws.register_module('dec_opterr', 1);
SELECT ws.define_kind('dec_opterr_thing', 'dec_opterr');
SELECT version FROM ws.create_entity('doe1', 'dec_opterr_thing', 'dec_opterr', '{"n": 1}');

-- unknown options
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'include_state', 'on');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'skip-empty-xacts', '1');
\echo :LAST_ERROR_SQLSTATE
-- booleans
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'include-state', 'maybe');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'include-xids', '2');
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'pretty', '');
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'stream-changes', 'sometimes');
\echo :LAST_ERROR_SQLSTATE
-- lists
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'modules', '');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'modules', 'a,,b');
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'modules', '"unterminated');
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'kinds', 'event,events');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'kinds', 'stream_start');
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'kinds', '');
-- an option given twice
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL, 'pretty', 'on', 'pretty', 'off');
\echo :LAST_ERROR_SQLSTATE
-- the same check through pg_logical_slot_get_binary_changes
SELECT count(*) FROM pg_logical_slot_get_binary_changes('ws_decode_opterr', NULL, NULL, 'modules', '');
\echo :LAST_ERROR_SQLSTATE

-- valid spellings: booleans as PostgreSQL reads them
SELECT count(*) FROM pg_logical_slot_peek_changes('ws_decode_opterr', NULL, NULL,
    'include-state', 'TRUE', 'include-xids', 'of', 'pretty', 'y', 'stream-changes', '0');
-- the slot is still usable, and its events still there
SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_opterr', NULL, NULL);
SELECT pg_drop_replication_slot('ws_decode_opterr');
