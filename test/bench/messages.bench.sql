-- messages benchmark: what authenticating broadcast messages costs the
-- output plugin.  Every message worldstate writes (rejections, heartbeats,
-- snapshot announcements) carries an HMAC-SHA256 tag that the plugin checks
-- before it broadcasts the message; anything else with prefix "worldstate"
-- is dropped.  Measured, each the median of 5 peeks of the same WAL:
--
--   100k genuine heartbeats, decoded by worldstate (tag checked, line
--   written) and, as the baseline, by test_decoding (message printed)
--   100k forged messages of the same size, dropped by worldstate
--   one forged message 100,000 levels deep (200 kB), dropped
\pset footer off
SELECT count(set_config('output_plugin_libraries', setting || ', worldstate, test_decoding', false)) <= 1 AS trusted
FROM pg_settings WHERE name = 'output_plugin_libraries' \gset
SET client_min_messages = error;
CREATE TEMP TABLE results (what text, messages int, seconds float8);

-- 100k genuine heartbeats
SELECT 'init' FROM pg_create_logical_replication_slot('bench_msg_ws', 'worldstate');
SELECT 'init' FROM pg_create_logical_replication_slot('bench_msg_td', 'test_decoding');
DO $$ BEGIN FOR i IN 1 .. 100000 LOOP PERFORM ws.heartbeat(); END LOOP; END $$;
INSERT INTO results SELECT 'worldstate: 100k heartbeats, tag checked', 100000,
    ws_bench_median($q$SELECT count(*) FROM pg_logical_slot_peek_changes('bench_msg_ws', NULL, NULL)$q$);
INSERT INTO results SELECT 'test_decoding: the same messages', 100000,
    ws_bench_median($q$SELECT count(*) FROM pg_logical_slot_peek_changes('bench_msg_td', NULL, NULL)$q$);
SELECT pg_drop_replication_slot('bench_msg_ws'), pg_drop_replication_slot('bench_msg_td');

-- 100k forged messages as long as a heartbeat's
SELECT 'init' FROM pg_create_logical_replication_slot('bench_msg_forged', 'worldstate');
SELECT count(pg_logical_emit_message(false, 'worldstate',
    'WS1:' || repeat('0', 64) || ':heartbeat:0::"origin":0,"hlc":"2026-12-03T12:00:00.000000Z/0@0"')) AS emitted
FROM generate_series(1, 100000);
INSERT INTO results SELECT 'worldstate: 100k forged messages, dropped', 100000,
    ws_bench_median($q$SELECT count(*) FROM pg_logical_slot_peek_changes('bench_msg_forged', NULL, NULL)$q$);
SELECT pg_drop_replication_slot('bench_msg_forged');

-- one message 100,000 levels deep
SELECT 'init' FROM pg_create_logical_replication_slot('bench_msg_deep', 'worldstate');
SELECT 'emitted' FROM pg_logical_emit_message(false, 'worldstate',
    '{"kind":"heartbeat","x":' || repeat('[', 100000) || repeat(']', 100000) || '}');
INSERT INTO results SELECT 'worldstate: one 100,000-deep message, dropped', 1,
    ws_bench_median($q$SELECT count(*) FROM pg_logical_slot_peek_changes('bench_msg_deep', NULL, NULL)$q$);
SELECT pg_drop_replication_slot('bench_msg_deep');

SELECT what, messages, round(seconds::numeric, 4) AS seconds,
       round((messages / seconds)::numeric) AS messages_per_s
FROM results;
