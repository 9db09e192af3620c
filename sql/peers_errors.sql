-- ws.add_peer, ws.remove_peer and ws._ensure_publication on one node
-- (worldstate.node_id = 0 here): who may call them, where, and the checks
-- made before any connection -- each an error with its SQLSTATE, detail and
-- hint, and nothing written.  test/t/061_peers.pl checks the rest with
-- several nodes.
\set SHOW_CONTEXT never

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_peers_admin;
RESET client_min_messages;
CREATE ROLE regress_peers_admin IN ROLE ws_admin;

-- only superusers: the functions open connections with the server's
-- credentials (42501), also for ws_admin; the internal function is for
-- replication roles too
SET ROLE regress_peers_admin;
SELECT ws.add_peer('n2', 'host=127.0.0.1 dbname=postgres');
\echo :LAST_ERROR_SQLSTATE
SELECT ws.remove_peer('n2');
\echo :LAST_ERROR_SQLSTATE
SELECT ws._ensure_publication();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- EXECUTE is not granted to ws_admin at all; a grant would still be refused
GRANT EXECUTE ON FUNCTION ws.add_peer(text, text), ws.remove_peer(text) TO regress_peers_admin;
SET ROLE regress_peers_admin;
SELECT ws.add_peer('n2', 'host=127.0.0.1 dbname=postgres');
\echo :LAST_ERROR_SQLSTATE
SELECT ws.remove_peer('n2');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- not inside a transaction block, a subtransaction or a multi-statement
-- query: what they do on the peer would outlive a rollback (25001)
BEGIN;
SELECT ws.add_peer('n2', 'host=127.0.0.1 dbname=postgres');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT ws.remove_peer('n2');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
DO $$ BEGIN PERFORM ws.add_peer('n2', 'host=127.0.0.1 dbname=postgres'); EXCEPTION WHEN division_by_zero THEN NULL; END $$;
\echo :LAST_ERROR_SQLSTATE
SELECT 1 \; SELECT ws.add_peer('n2', 'host=127.0.0.1 dbname=postgres');
\echo :LAST_ERROR_SQLSTATE

-- the name becomes part of an identifier: lower-case letters, digits and
-- underscores, at most 55 of them; hostile names are refused before
-- anything runs (22023)
SELECT ws.add_peer('x; DROP TABLE ws.events; --', 'host=127.0.0.1 dbname=postgres');
\echo :LAST_ERROR_SQLSTATE
SELECT ws.add_peer('x"; DROP TABLE ws.events; --', 'host=127.0.0.1 dbname=postgres');
\echo :LAST_ERROR_SQLSTATE
SELECT ws.add_peer('it''s', 'host=127.0.0.1 dbname=postgres');
\echo :LAST_ERROR_SQLSTATE
SELECT ws.add_peer('Node2', 'host=127.0.0.1 dbname=postgres');
\echo :LAST_ERROR_SQLSTATE
SELECT ws.add_peer(repeat('n', 56), 'host=127.0.0.1 dbname=postgres');
\echo :LAST_ERROR_SQLSTATE
SELECT ws.add_peer('', 'host=127.0.0.1 dbname=postgres');
\echo :LAST_ERROR_SQLSTATE
SELECT ws.add_peer(NULL, 'host=127.0.0.1 dbname=postgres');
\echo :LAST_ERROR_SQLSTATE

-- a conninfo libpq cannot parse (22023): the detail names the fault; a
-- NULL or empty one
SELECT ws.add_peer('n2', 'host=127.0.0.1 nosuchoption=1');
\echo :LAST_ERROR_SQLSTATE
SELECT ws.add_peer('n2', 'host=127.0.0.1 password');
\echo :LAST_ERROR_SQLSTATE
SELECT ws.add_peer('n2', NULL);
\echo :LAST_ERROR_SQLSTATE

-- this node has no worldstate.node_id (55000)
SELECT ws.add_peer('n2', 'host=127.0.0.1 dbname=postgres password=secret');
\echo :LAST_ERROR_SQLSTATE
SELECT ws._ensure_publication();
\echo :LAST_ERROR_SQLSTATE

-- removing a peer that does not exist (42704), with a hostile name
SELECT ws.remove_peer('n2');
\echo :LAST_ERROR_SQLSTATE
SELECT ws.remove_peer('x''; DROP TABLE ws.events; --');
\echo :LAST_ERROR_SQLSTATE
SELECT ws.remove_peer(NULL);
\echo :LAST_ERROR_SQLSTATE

-- nothing was written
SELECT count(*) AS peers FROM ws.nodes;
SELECT count(*) AS subscriptions FROM pg_subscription WHERE subname LIKE 'ws\_%';
SELECT count(*) AS publications FROM pg_publication WHERE pubname LIKE 'ws\_%';
SELECT count(*) AS links FROM ws.peer_links;

DROP OWNED BY regress_peers_admin;
DROP ROLE regress_peers_admin;
