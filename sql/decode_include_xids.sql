-- Option include-xids: lines of a transaction carry "xid", its (32-bit)
-- transaction id; so do messages emitted by a transaction that has one.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_xids', 'worldstate');

SELECT ws.register_module('dec_xids', 1);
SELECT ws.define_kind('dec_xids_thing', 'dec_xids');
BEGIN;
SELECT version FROM ws.create_entity('dx1', 'dec_xids_thing', 'dec_xids', '{"n": 1}');
SELECT version FROM ws.create_entity('dx2', 'dec_xids_thing', 'dec_xids', '{"n": 1}');
SELECT pg_current_xact_id() AS xid1 \gset
COMMIT;
-- a refusal inside a transaction that has an xid
BEGIN;
SELECT version FROM ws.transition('dx1', '{"n": 2}');
SELECT pg_current_xact_id() AS xid2 \gset
SELECT ws.transition('dx1', '{"n": 3}', expected_version => 1);
ROLLBACK;
SELECT version FROM ws.transition('dx2', '{"n": 2}');

SELECT * FROM pg_temp.peek('ws_decode_xids', 'include-xids', 'on');
SELECT data::jsonb->>'kind' AS kind, data::jsonb->>'entity_id' AS entity,
       (data::jsonb->>'xid')::bigint = (:'xid1'::xid8::text::bigint % 4294967296) AS is_xid1,
       (data::jsonb->>'xid')::bigint = (:'xid2'::xid8::text::bigint % 4294967296) AS is_xid2
FROM pg_logical_slot_peek_changes('ws_decode_xids', NULL, NULL, 'include-xids', 'yes');
-- off by default
SELECT count(*) FILTER (WHERE data::jsonb ? 'xid') AS with_xid, count(*) AS lines
FROM pg_logical_slot_get_changes('ws_decode_xids', NULL, NULL);

SELECT pg_drop_replication_slot('ws_decode_xids');
