-- Option kinds: only the listed broadcast kinds (event, rejected,
-- snapshot_start, snapshot_complete, heartbeat).  Without it, every line.
-- Messages that worldstate did not write are no kind at all: dropped.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_kinds', 'worldstate');

SELECT ws.register_module('dec_kinds', 1);
SELECT ws.define_kind('dec_kinds_thing', 'dec_kinds');
SELECT version FROM ws.create_entity('dk1', 'dec_kinds_thing', 'dec_kinds', '{"n": 1}');
SELECT ws.transition('dk1', '{"n": 2}', expected_version => 5);
SELECT ws.heartbeat() IS NOT NULL AS heartbeat;
SELECT version FROM ws.transition('dk1', '{"n": 3}');

SELECT * FROM pg_temp.peek('ws_decode_kinds');
SELECT * FROM pg_temp.peek('ws_decode_kinds', 'kinds', 'event');
SELECT * FROM pg_temp.peek('ws_decode_kinds', 'kinds', 'rejected');
SELECT * FROM pg_temp.peek('ws_decode_kinds', 'kinds', 'heartbeat, rejected');
SELECT * FROM pg_temp.peek('ws_decode_kinds', 'kinds', 'snapshot_start,snapshot_complete');
-- kinds and modules together: both must let a line through
SELECT * FROM pg_temp.peek('ws_decode_kinds', 'kinds', 'event,heartbeat', 'modules', 'dec_kinds_other');

SELECT count(*) FROM pg_temp.broadcast('ws_decode_kinds');

-- ws.create_snapshot() announces its snapshot with transactional messages:
-- two lines of its transaction, numbered in it
SELECT ws.create_snapshot('decode_kinds') AS snapshot_id \gset
SELECT data::jsonb->>'kind' AS kind, split_part(data::jsonb->>'position', ':', 2) AS ordinal,
       (data::jsonb->'snapshot_id')::bigint = :snapshot_id AS this_snapshot,
       (data::jsonb->>'hlc')::ws.hlc OPERATOR(ws.=) (SELECT hlc FROM ws.snapshots WHERE id = :snapshot_id) AS its_hlc
FROM pg_logical_slot_get_changes('ws_decode_kinds', NULL, NULL, 'kinds', 'snapshot_start,snapshot_complete');
SELECT pg_drop_replication_slot('ws_decode_kinds');
