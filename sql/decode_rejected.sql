-- Refused changes are broadcast as "rejected" lines (SQLSTATE, entity,
-- module, reason, origin), non-transactional, so they arrive although the
-- refused transaction rolls back; its other events do not.  They are
-- flushed at once: no later commit is needed for a consumer to see them.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/decode_helpers.sql

SELECT 'init' FROM pg_create_logical_replication_slot('ws_decode_rejected', 'worldstate');
SELECT ws.register_module('dec_rej', 1);
SELECT ws.define_kind('dec_rej_account', 'dec_rej', counters => ARRAY['balance']);
SELECT ws.add_constraint('dec_rej_account', 'balance_not_negative', '$.balance >= 0');
SELECT version FROM ws.create_entity('dr1', 'dec_rej_account', 'dec_rej', '{"balance": 10}');
SELECT version FROM ws.create_entity('dr2', 'dec_rej_account', 'dec_rej', '{"balance": 10}');
SELECT version FROM ws.retire_entity('dr2');

-- WS401, WS404, WS409, WS410, WS422, WS412
SELECT ws.transition('dr1', '{"balance": 1}', handshake => '00-00-00');
SELECT ws.transition('dr_nobody', '{"balance": 1}');
SELECT ws.transition('dr1', '{"balance": 1}', expected_version => 7);
SELECT ws.transition('dr2', '{"balance": 1}');
SELECT ws.transition('dr1', '{"balance": -11}');
SELECT version FROM ws.transition('dr1', '{"balance": 1}', event_id => '00000000-0000-4000-8000-00000000d001');
SELECT ws.transition('dr1', '{"balance": 2}', event_id => '00000000-0000-4000-8000-00000000d001');
-- 42501: a role without the module's grant
CREATE ROLE regress_dec_rej_app;
GRANT ws_writer TO regress_dec_rej_app;
SET ROLE regress_dec_rej_app;
SELECT ws.transition('dr1', '{"balance": 1}');
SELECT ws.create_entity('dr3', 'dec_rej_account', 'dec_rej', '{"balance": 1}');
RESET ROLE;
-- refusals of what does not exist yet name the module asked for
SELECT ws.create_entity('dr5', 'dec_rej_account', 'dec_rej', '{"balance": -1}');
SELECT ws.publish('dec_rej', 'no_such_schema', '{}');
-- a transaction that wrote an event, then was refused: the rejection
-- arrives, the event does not
BEGIN;
SELECT version FROM ws.transition('dr1', '{"balance": 5}');
SELECT ws.transition('dr1', '{"balance": 1}', expected_version => 1);
ROLLBACK;
-- each rejection is flushed before its error returns: decodable now,
-- with nothing written after it (a wrong handshake is refused before the
-- transaction has an id, so not even an abort record follows it)
SELECT ws.create_entity('dr4', 'dec_rej_account', 'dec_rej', '{"balance": 1}', handshake => '00-00-00');

SELECT * FROM pg_temp.broadcast('ws_decode_rejected');

DROP ROLE regress_dec_rej_app;
SELECT pg_drop_replication_slot('ws_decode_rejected');
