-- ROLLBACK TO SAVEPOINT: only what committed is broadcast.  Decoded at
-- commit, a rolled-back subtransaction's events never appear.  Streamed
-- (option stream-changes, a transaction larger than
-- logical_decoding_work_mem), events are written before the commit; a
-- subtransaction's rollback is then a stream_abort line naming its subxid,
-- and discarding the streamed events that carry it leaves exactly the
-- committed ones.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_savepoint', 'worldstate');
SELECT ws.register_module('dec_sp', 1);
SELECT ws.define_kind('dec_sp_thing', 'dec_sp');
SELECT count(ws.create_entity('dsp' || i, 'dec_sp_thing', 'dec_sp', '{"n": 0}')) FROM generate_series(1, 10) i;
SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_savepoint', NULL, NULL);

-- small: decoded at commit
BEGIN;
SELECT version FROM ws.transition('dsp1', '{"step": "a"}');
SAVEPOINT s1;
SELECT version FROM ws.transition('dsp1', '{"step": "b"}');
SAVEPOINT s2;
SELECT version FROM ws.transition('dsp2', '{"step": "c"}');
ROLLBACK TO SAVEPOINT s1;
SELECT version FROM ws.transition('dsp1', '{"step": "d"}');
SAVEPOINT s3;
SELECT version FROM ws.transition('dsp3', '{"step": "e"}');
RELEASE SAVEPOINT s3;
COMMIT;
SELECT * FROM pg_temp.broadcast('ws_decode_savepoint', 'stream-changes', 'on');

-- large: 300 transitions, 300 in a savepoint rolled back, 300 more
BEGIN;
SELECT count(ws.transition('dsp' || (i % 10 + 1), jsonb_build_object('keep', i))) FROM generate_series(1, 300) i;
SAVEPOINT big;
SELECT count(ws.transition('dsp' || (i % 10 + 1), jsonb_build_object('drop', i))) FROM generate_series(1, 300) i;
ROLLBACK TO SAVEPOINT big;
SELECT count(ws.transition('dsp' || (i % 10 + 1), jsonb_build_object('keep', 300 + i))) FROM generate_series(1, 300) i;
COMMIT;

SET logical_decoding_work_mem = '64kB';
CREATE TEMP TABLE streamed AS
SELECT row_number() OVER () AS n, data::jsonb AS j
FROM pg_logical_slot_peek_changes('ws_decode_savepoint', NULL, NULL, 'stream-changes', 'on');
-- it streamed: several chunks, events before the abort of the savepoint,
-- one stream_abort naming a subtransaction, one stream_commit at the end
SELECT count(*) FILTER (WHERE j->>'kind' = 'stream_start') > 1 AS several_chunks,
       count(*) FILTER (WHERE j->>'kind' = 'stream_start') = count(*) FILTER (WHERE j->>'kind' = 'stream_stop') AS chunks_closed,
       count(*) FILTER (WHERE j->>'kind' = 'stream_abort' AND j ? 'subxid') AS subxact_aborts,
       count(*) FILTER (WHERE j->>'kind' = 'stream_commit') AS commits,
       (SELECT j->>'kind' FROM streamed ORDER BY n DESC LIMIT 1) AS last_line,
       count(*) FILTER (WHERE j->>'kind' = 'event' AND j->'patch' ? 'drop') > 0 AS rolled_back_events_were_streamed,
       bool_and(j->'position' = 'null' AND j ? 'seq') FILTER (WHERE j->>'kind' = 'event') AS events_wait_for_commit
FROM streamed;
-- the consumer's view: streamed events minus those of aborted
-- subtransactions are exactly the committed events, in order
WITH aborted AS (SELECT j->>'subxid' AS subxid FROM streamed WHERE j->>'kind' = 'stream_abort'),
kept AS (SELECT n, j FROM streamed
         WHERE j->>'kind' = 'event' AND coalesce(j->>'subxid', '') NOT IN (SELECT subxid FROM aborted))
SELECT count(*) AS kept_events,
       bool_and(j->'patch' ? 'keep') AS only_committed,
       array_agg((j->'patch'->>'keep')::int ORDER BY n) = array(SELECT generate_series(1, 600)) AS all_in_order,
       array_agg(j->>'event_id' ORDER BY n) =
           (SELECT array_agg(event_id::text ORDER BY hlc) FROM ws.events WHERE module = 'dec_sp' AND patch ? 'keep') AS same_ids,
       max((j->>'seq')::int) < (SELECT split_part(j->>'position', ':', 2)::int FROM streamed WHERE j->>'kind' = 'stream_commit') AS commit_numbered_after
FROM kept;
-- without streaming, the same transaction decodes at commit to exactly the
-- committed events, one position LSN
SELECT count(*) AS events, count(DISTINCT split_part(data::jsonb->>'position', ':', 1)) AS position_lsns,
       bool_and(data::jsonb->'patch' ? 'keep') AS only_committed,
       max(split_part(data::jsonb->>'position', ':', 2)::int) AS last_ordinal
FROM pg_logical_slot_peek_changes('ws_decode_savepoint', NULL, NULL);
RESET logical_decoding_work_mem;

SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_savepoint', NULL, NULL);
SELECT pg_drop_replication_slot('ws_decode_savepoint');
