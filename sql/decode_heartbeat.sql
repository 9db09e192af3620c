-- ws.heartbeat() broadcasts a heartbeat line (a non-transactional message,
-- flushed at once), so a consumer of an idle slot has something to
-- confirm and the slot advances; ws.slots shows each worldstate slot with
-- the WAL it retains and its consumer's lag.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_heartbeat', 'worldstate');
SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_heartbeat_td', 'test_decoding');

SELECT ws.heartbeat() AS lsn \gset
SELECT :'lsn'::pg_lsn > '0/0' AS returns_lsn, :'lsn'::pg_lsn <= pg_current_wal_flush_lsn() AS flushed;
SELECT * FROM pg_temp.peek('ws_decode_heartbeat');
-- the position is the end of the heartbeat's WAL record, which ws.heartbeat() returns
SELECT data::jsonb->>'position' = :'lsn' || ':0' AS position_is_lsn,
       (data::jsonb->>'hlc')::ws.hlc IS NOT NULL AS hlc,
       (data::jsonb->'origin')::int = current_setting('worldstate.node_id')::int AS origin
FROM pg_logical_slot_peek_changes('ws_decode_heartbeat', NULL, NULL);

-- ws.slots: worldstate slots only
SELECT slot_name, database = current_database() AS this_database, active, active_pid,
       restart_lsn IS NOT NULL AS restart_lsn, retained_bytes >= 0 AS retained, lag_bytes >= 0 AS lag,
       wal_status, two_phase
FROM ws.slots WHERE slot_name LIKE 'ws_decode_heartbeat%';
SELECT retained_bytes = pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) AS retained_formula,
       lag_bytes = pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) AS lag_formula
FROM ws.slots WHERE slot_name = 'ws_decode_heartbeat';

-- an idle database: consuming a heartbeat advances the slot
SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_heartbeat', NULL, NULL);
SELECT confirmed_flush_lsn AS before FROM ws.slots WHERE slot_name = 'ws_decode_heartbeat' \gset
SELECT ws.heartbeat() AS lsn2 \gset
SELECT * FROM pg_temp.broadcast('ws_decode_heartbeat');
SELECT confirmed_flush_lsn > :'before'::pg_lsn AS advanced, confirmed_flush_lsn >= :'lsn2'::pg_lsn AS past_heartbeat
FROM ws.slots WHERE slot_name = 'ws_decode_heartbeat';

-- who may: writers send heartbeats, readers see ws.slots
SELECT has_function_privilege('public', 'ws.heartbeat()', 'EXECUTE') AS public_heartbeat,
       has_function_privilege('ws_reader', 'ws.heartbeat()', 'EXECUTE') AS reader_heartbeat,
       has_function_privilege('ws_writer', 'ws.heartbeat()', 'EXECUTE') AS writer_heartbeat,
       has_table_privilege('public', 'ws.slots', 'SELECT') AS public_slots,
       has_table_privilege('ws_reader', 'ws.slots', 'SELECT') AS reader_slots;

-- the worker's settings: off by default, reloadable
SELECT name, setting, unit, context FROM pg_settings
WHERE name IN ('worldstate.heartbeat_interval', 'worldstate.database') ORDER BY name;

SELECT pg_drop_replication_slot('ws_decode_heartbeat');
SELECT pg_drop_replication_slot('ws_decode_heartbeat_td');
