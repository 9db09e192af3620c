-- JSON values of an event pass through unchanged: numbers beyond 2^53 and
-- with more digits than a double, unicode, escapes, empty containers, deep
-- nesting, and a 1 MB payload stored out of line (TOAST): the line carries
-- what jsonb stored (jsonb itself writes 1e400 in full and -0.0 as 0.0).
-- JSON has no NaN and jsonb refuses it, so a NaN numeric reaches an event
-- only as a string.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_json', 'worldstate');
SELECT ws.register_module('dec_json', 1);
SELECT ws.define_kind('dec_json_thing', 'dec_json');

SELECT version FROM ws.create_entity('dj1', 'dec_json_thing', 'dec_json', '{}');
SELECT version FROM ws.transition('dj1',
    '{"big": 9007199254740993, "neg": -9007199254740993, "pi": 3.14159265358979323846264338327950288419716939937510,
      "cents": 1.10, "tiny": 1e-30, "zero": -0.0, "huge": 1e400}');
SELECT version FROM ws.transition('dj1',
    '{"text": "\u00e9t\u00e9 \u4e16\u754c \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t \u001f", "raw": "été 世界 😀"}');
SELECT version FROM ws.transition('dj1',
    '{"deep": {"a": {"b": {"c": {"d": {"e": [[[[[1]]]]]}}}}}, "empty_o": {}, "empty_a": [], "t": true, "f": false, "arr": [null, 0, "", {}]}');
-- NaN: not JSON, refused by jsonb; to_jsonb makes it a string
SELECT '{"x": NaN}'::jsonb;
SELECT to_jsonb('NaN'::numeric) AS nan;
SELECT version FROM ws.transition('dj1', jsonb_build_object('nan', 'NaN'::numeric, 'inf', 'Infinity'::numeric));
SELECT replace(p, '"huge": 1' || repeat('0', 400) || ',', '"huge": 1<400 zeros>,') FROM pg_temp.peek('ws_decode_json') p;

-- digit for digit: the text of the numbers, and equal as JSON to what was stored
SELECT strpos(data, '"big": 9007199254740993') > 0 AS big,
       strpos(data, '"neg": -9007199254740993') > 0 AS neg,
       strpos(data, '3.14159265358979323846264338327950288419716939937510') > 0 AS pi,
       strpos(data, '"cents": 1.10') > 0 AS cents,
       (data::jsonb->'patch'->'huge') = '1e400'::jsonb AS huge,
       length(data::jsonb->'patch'->>'huge') AS huge_digits,
       (data::jsonb->'patch') = (SELECT patch FROM ws.events WHERE entity_id = 'dj1' AND version = 2) AS same_patch
FROM pg_logical_slot_peek_changes('ws_decode_json', NULL, NULL)
WHERE data::jsonb->>'version' = '2';
SELECT (data::jsonb->'patch') = (SELECT patch FROM ws.events WHERE entity_id = 'dj1' AND version = 3) AS same_patch,
       data::jsonb->'patch'->>'raw' = 'été 世界 😀' AS unicode,
       data::jsonb->'patch'->>'text' = (SELECT patch->>'text' FROM ws.events WHERE entity_id = 'dj1' AND version = 3) AS escapes
FROM pg_logical_slot_peek_changes('ws_decode_json', NULL, NULL)
WHERE data::jsonb->>'version' = '3';
SELECT count(*) AS lines FROM pg_logical_slot_get_changes('ws_decode_json', NULL, NULL);

-- 1 MB of incompressible text: stored out of line, decoded whole
SELECT version FROM ws.transition('dj1',
    jsonb_build_object('blob', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 32768) i)));
SELECT pg_column_size(patch) > 1000000 AS stored_big, pg_column_size(patch) < octet_length(patch::text) + 100 AS not_compressed
FROM ws.events WHERE entity_id = 'dj1' AND version = 6;
SELECT length(data) > 1048576 AS line_over_1mb,
       data::jsonb->'patch'->>'blob' = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 32768) i) AS blob_intact,
       (data::jsonb->'patch') = (SELECT patch FROM ws.events WHERE entity_id = 'dj1' AND version = 6) AS same_patch
FROM pg_logical_slot_get_changes('ws_decode_json', NULL, NULL, 'include-state', 'on');

SELECT pg_drop_replication_slot('ws_decode_json');
