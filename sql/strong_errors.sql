-- Strong changes on one node (worldstate.node_id = 0 here, a standalone
-- node): ws.synchronous_standby_names and its errors, who may call it,
-- and what a strong change does without peers.  test/t/066_strong.pl
-- checks the home rule (WS421) and the waits with three nodes.
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_strong_reader;
DROP ROLE IF EXISTS regress_strong_nobody;
RESET client_min_messages;
CREATE ROLE regress_strong_reader IN ROLE ws_reader;
CREATE ROLE regress_strong_nobody;

-- no peers: nothing could apply a commit of this node (55000, with a hint)
SELECT count(*) AS peers FROM ws.nodes;
SELECT ws.synchronous_standby_names();
\echo :LAST_ERROR_SQLSTATE
SELECT ws.synchronous_standby_names(1);
\echo :LAST_ERROR_SQLSTATE

-- fewer than one synchronous peer is no setting (22023), peers or not;
-- for none, synchronous_standby_names is set to ''
SELECT ws.synchronous_standby_names(0);
\echo :LAST_ERROR_SQLSTATE
SELECT ws.synchronous_standby_names(-1);
\echo :LAST_ERROR_SQLSTATE
SELECT ws.synchronous_standby_names(-2147483648);
\echo :LAST_ERROR_SQLSTATE

-- with peers (rows of ws.nodes, as ws.add_peer writes them; rolled back):
-- every peer by default, the first n in node id order, never more than
-- there are
BEGIN;
INSERT INTO ws.nodes (node_id, name, conninfo, subscription, slot) VALUES
    (3, 'node3', 'host=node3', 'ws_peer_node3', 'ws_node_3_to_0'),
    (2, 'node2', 'host=node2', 'ws_peer_node2', 'ws_node_2_to_0'),
    (12, 'far', 'host=far', 'ws_peer_far', 'ws_node_12_to_0');
SELECT ws.synchronous_standby_names();
SELECT ws.synchronous_standby_names(NULL);
SELECT ws.synchronous_standby_names(1);
SELECT ws.synchronous_standby_names(3);
SAVEPOINT s;
SELECT ws.synchronous_standby_names(4);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT ws.synchronous_standby_names(2147483647);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- ws_reader may call it; a role without ws_reader may not
SET ROLE regress_strong_reader;
SELECT ws.synchronous_standby_names(1);
RESET ROLE;
SET ROLE regress_strong_nobody;
SELECT ws.synchronous_standby_names(1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- a strong change on a standalone node: durable before the commit
-- returns (synchronous_commit on), never remote_apply, whatever
-- ws.nodes holds; eventual turns it off
SELECT ws.register_module('strong_m', 1);
SELECT ws.define_kind('strong_k', 'strong_m');
SELECT (ws.create_entity('strong_local', 'strong_k', 'strong_m', '{"a": 0}')).version;
BEGIN;
INSERT INTO ws.nodes (node_id, name, conninfo, subscription, slot)
    VALUES (2, 'node2', 'host=node2', 'ws_peer_node2', 'ws_node_2_to_0');
SET LOCAL synchronous_commit = local;
SELECT (ws.transition('strong_local', '{"a": 1}', consistency => 'strong')).version;
SHOW synchronous_commit;
ROLLBACK;
BEGIN;
SELECT (ws.transition('strong_local', '{"a": 1}', consistency => 'eventual')).version;
SHOW synchronous_commit;
ROLLBACK;
SHOW synchronous_commit;

-- an entity created on node 2 (its creation arrives as a peer's event
-- does, in a replica session): a standalone node takes strong changes of
-- it all the same, since it has no home rule
SET session_replication_role = replica;
INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind,
                       event_type, patch, handshake, vclock, txid, recorded_at)
VALUES (md5('strong_remote')::uuid, 'strong_remote', 1,
        ws.hlc('2026-01-01 00:00:00+00', 0, 2), 2, 'strong_m', 'strong_k',
        'created', '{"a": 0}', '55-45-17', '{2:1}', pg_current_xact_id(), now());
RESET session_replication_role;
SELECT ws.hlc_node(created_hlc) AS home, version FROM ws.entities WHERE entity_id = 'strong_remote';
SELECT version, state FROM ws.transition('strong_remote', '{"a": 2}', consistency => 'strong');

-- nothing was refused for its home
SELECT value AS rejected_not_home FROM ws.stats() WHERE name = 'rejected_not_home';

DROP ROLE regress_strong_reader;
DROP ROLE regress_strong_nobody;
