-- ws.reconcile() and ws.reconcile(peer): every error, with its SQLSTATE,
-- and nothing written by a call that fails.  ws.reconcile(peer) checks,
-- in order: the caller is a superuser (42501), the peer's name is given
-- (22023), dblink is installed (55000), the peer is in ws.nodes (42704),
-- the peer can be reached (08001).  test/t/067_reconcile.pl fetches events
-- from a real peer.
\set SHOW_CONTEXT never
\set VERBOSITY default
\i sql/include/try.sql

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_rc_writer;
DROP ROLE IF EXISTS regress_rc_admin2;
DROP EXTENSION IF EXISTS dblink;
RESET client_min_messages;
CREATE ROLE regress_rc_writer IN ROLE ws_writer;
CREATE ROLE regress_rc_admin2 IN ROLE ws_admin;

-- ws.reconcile() is for ws_admin (42501)
SET ROLE regress_rc_writer;
SELECT * FROM ws.reconcile();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION ws.reconcile() TO regress_rc_writer;
SET ROLE regress_rc_writer;
SELECT * FROM ws.reconcile();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE EXECUTE ON FUNCTION ws.reconcile() FROM regress_rc_writer;

-- ws.reconcile(peer) is for superusers only, also for ws_admin, also
-- with a grant: it connects with the server's credentials (42501)
SET ROLE regress_rc_admin2;
SELECT * FROM ws.reconcile('node2');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION ws.reconcile(text) TO regress_rc_admin2;
SET ROLE regress_rc_admin2;
SELECT * FROM ws.reconcile('node2');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE EXECUTE ON FUNCTION ws.reconcile(text) FROM regress_rc_admin2;

-- the peer's name: NULL or empty (22023)
SELECT * FROM ws.reconcile(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ws.reconcile('');
\echo :LAST_ERROR_SQLSTATE

-- dblink is not installed (55000)
SELECT * FROM ws.reconcile('node2');
\echo :LAST_ERROR_SQLSTATE

-- found in whatever schema it was installed in; a name that is no peer
-- (42704), hostile names included
CREATE SCHEMA regress_rc_ext;
CREATE EXTENSION dblink SCHEMA regress_rc_ext;
SELECT * FROM ws.reconcile('node2');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM ws.reconcile($$x'); SELECT 1; --$$);
\echo :LAST_ERROR_SQLSTATE
SELECT code, length(message) < 200 AS short_message
FROM pg_temp.try(format('SELECT * FROM ws.reconcile(%L)', repeat('n', 100000)));

-- a peer that cannot be reached (08001): libpq's message in the detail,
-- never the password; no dblink connection is left open
INSERT INTO ws.nodes (node_id, name, conninfo, subscription, slot)
VALUES (9, 'gone', 'host=127.0.0.1 port=1 dbname=postgres password=s3cret-pw connect_timeout=5',
        'ws_peer_gone', 'ws_node_9_to_0');
SELECT code, message, detail LIKE '%127.0.0.1%' AS libpq_detail,
       detail LIKE '%s3cret%' OR message LIKE '%s3cret%' OR hint LIKE '%s3cret%' AS shows_password,
       hint
FROM pg_temp.try('SELECT * FROM ws.reconcile(''gone'')');
SELECT regress_rc_ext.dblink_get_connections() AS open_connections;

-- a peer whose database has no worldstate (55000): the error comes after
-- the connection, which is closed again, and nothing was written
UPDATE ws.nodes SET conninfo = format('host=127.0.0.1 port=%s dbname=template1 user=%s',
    current_setting('port'), current_user)
WHERE name = 'gone';
SELECT count(*) AS events_before FROM ws.events \gset
SELECT code, message, hint FROM pg_temp.try('SELECT * FROM ws.reconcile(''gone'')');
SELECT regress_rc_ext.dblink_get_connections() AS open_connections;
SELECT count(*) = :events_before AS nothing_written FROM ws.events;

-- the peer's own database answers (here: this database, reached as a
-- peer): the same events on both sides, nothing fetched
UPDATE ws.nodes SET conninfo = format('host=127.0.0.1 port=%s dbname=%s user=%s',
    current_setting('port'), current_database(), current_user)
WHERE name = 'gone';
SELECT * FROM ws.reconcile('gone');
SELECT regress_rc_ext.dblink_get_connections() AS open_connections;
SELECT count(*) = :events_before AS nothing_written FROM ws.events;

DELETE FROM ws.nodes WHERE name = 'gone';
DROP EXTENSION dblink;
DROP SCHEMA regress_rc_ext;
DROP ROLE regress_rc_writer;
DROP ROLE regress_rc_admin2;
