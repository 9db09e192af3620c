-- Option pretty: each object indented over several lines, for people; the
-- same JSON as without it.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_pretty', 'worldstate');

SELECT ws.register_module('dec_pretty', 1);
SELECT ws.define_kind('dec_pretty_thing', 'dec_pretty');
SELECT version FROM ws.create_entity('dp1', 'dec_pretty_thing', 'dec_pretty', '{"name": "one", "list": [1, {"a": []}, {}], "empty": {}}');
SELECT ws.transition('dp1', '{"n": 2}', expected_version => 7);
SELECT version FROM ws.transition('dp1', '{"n": 2}');

SELECT * FROM pg_temp.peek('ws_decode_pretty', 'pretty', 'on', 'include-state', 'on');
-- the same JSON as the compact lines
SELECT bool_and(p.data::jsonb = c.data::jsonb) AS same_json, count(*) AS lines,
       bool_and(strpos(c.data, E'\n') = 0) AS compact_is_one_line
FROM (SELECT row_number() OVER () AS n, data
      FROM pg_logical_slot_peek_changes('ws_decode_pretty', NULL, NULL, 'pretty', 'on')) p
JOIN (SELECT row_number() OVER () AS n, data
      FROM pg_logical_slot_peek_changes('ws_decode_pretty', NULL, NULL, 'pretty', 'off')) c USING (n);

SELECT count(*) FROM pg_logical_slot_get_changes('ws_decode_pretty', NULL, NULL);
SELECT pg_drop_replication_slot('ws_decode_pretty');
