-- PREPARE TRANSACTION.  A slot without two-phase decoding broadcasts a
-- prepared transaction when it is committed (COMMIT PREPARED), positioned
-- there, and nothing when it is rolled back.  A slot created with two-phase
-- decoding broadcasts the events at the PREPARE (with the gid), then a
-- "prepare" line, and later a "commit_prepared" or "rollback_prepared" line
-- naming the gid; after a rollback the consumer discards that gid's events.
-- (Needs max_prepared_transactions > 0.)
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_2pc_off', 'worldstate');
SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_2pc_on', 'worldstate', false, true);
SELECT slot_name, two_phase FROM ws.slots WHERE slot_name LIKE 'ws_decode_2pc%' ORDER BY 1;
SELECT ws.register_module('dec_2pc', 1);
SELECT ws.define_kind('dec_2pc_thing', 'dec_2pc');
SELECT version FROM ws.create_entity('d2', 'dec_2pc_thing', 'dec_2pc', '{"n": 0}');
SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_2pc_off', NULL, NULL);
SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_2pc_on', NULL, NULL);

BEGIN;
SELECT version FROM ws.transition('d2', '{"n": 1}');
SELECT version FROM ws.transition('d2', '{"n": 2}');
PREPARE TRANSACTION 'ws_dec_gid_commit';
SELECT * FROM pg_temp.broadcast('ws_decode_2pc_off');
SELECT * FROM pg_temp.broadcast('ws_decode_2pc_on');
COMMIT PREPARED 'ws_dec_gid_commit';
SELECT * FROM pg_temp.broadcast('ws_decode_2pc_off');
SELECT * FROM pg_temp.broadcast('ws_decode_2pc_on');

BEGIN;
SELECT version FROM ws.transition('d2', '{"n": 99}');
PREPARE TRANSACTION 'ws_dec_gid_rollback';
SELECT * FROM pg_temp.broadcast('ws_decode_2pc_on');
ROLLBACK PREPARED 'ws_dec_gid_rollback';
SELECT version FROM ws.transition('d2', '{"n": 3}');
SELECT * FROM pg_temp.broadcast('ws_decode_2pc_off');
SELECT * FROM pg_temp.broadcast('ws_decode_2pc_on', 'include-xids', 'on');

-- a prepared transaction without events: no prepare line, but its
-- commit_prepared line (the plugin cannot know it had none)
CREATE TABLE dec_2pc_other (id int);
BEGIN;
INSERT INTO dec_2pc_other VALUES (1);
PREPARE TRANSACTION 'ws_dec_gid_empty';
COMMIT PREPARED 'ws_dec_gid_empty';
SELECT * FROM pg_temp.broadcast('ws_decode_2pc_off');
SELECT * FROM pg_temp.broadcast('ws_decode_2pc_on');
DROP TABLE dec_2pc_other;

-- a large prepared transaction, streamed: its events before the PREPARE,
-- then a stream_prepare line with the gid
SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_2pc_on', NULL, NULL);
BEGIN;
SELECT count(ws.transition('d2', jsonb_build_object('n', i))) FROM generate_series(1, 300) i;
PREPARE TRANSACTION 'ws_dec_gid_stream';
SET logical_decoding_work_mem = '64kB';
SELECT data::jsonb->>'kind' AS kind,
       CASE WHEN data::jsonb->>'kind' IN ('stream_start', 'stream_stop') THEN 'some' ELSE count(*)::text END AS lines,
       bool_and(data::jsonb->'position' = 'null') AS position_null,
       count(data::jsonb->'gid') AS with_gid, min(data::jsonb->>'gid') AS gid,
       max(split_part(data::jsonb->>'position', ':', 2)) AS ordinal
FROM pg_logical_slot_get_changes('ws_decode_2pc_on', NULL, NULL, 'stream-changes', 'on')
GROUP BY 1 ORDER BY 1;
RESET logical_decoding_work_mem;
COMMIT PREPARED 'ws_dec_gid_stream';
SELECT * FROM pg_temp.broadcast('ws_decode_2pc_on', 'stream-changes', 'on');
SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_2pc_off', NULL, NULL);

SELECT pg_drop_replication_slot('ws_decode_2pc_off');
SELECT pg_drop_replication_slot('ws_decode_2pc_on');
