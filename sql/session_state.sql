-- Session state: ws.session_put / ws.session_get and the view
-- ws.session_state.  A session's state is visible to every session while
-- it lives; rows of ended sessions are hidden at once and purged by the
-- next session that puts state (test/t/006_session_state.pl kills
-- backends and restarts the server)
SET search_path = public, ws;
\set SHOW_CONTEXT never

\i sql/include/try.sql

SELECT ws.session_put('presence', '{"space": "lobby"}');
SELECT ws.session_put('cursor', '[3, 4]');
SELECT ws.session_get('presence'), ws.session_get('cursor'), ws.session_get('nothing');
SELECT key, value, pid = pg_backend_pid() AS mine, since <= now() AS since
FROM ws.session_state ORDER BY key;
-- putting again replaces the value; NULL removes the key
SELECT ws.session_put('presence', '{"space": "garden"}');
SELECT ws.session_put('cursor', NULL);
SELECT ws.session_put('never_set', NULL);
SELECT key, value FROM ws.session_state WHERE pid = pg_backend_pid() ORDER BY key;
-- state is transactional like any write
BEGIN;
SELECT ws.session_put('presence', '{"space": "attic"}');
ROLLBACK;
SELECT ws.session_get('presence');

-- bad keys
SELECT * FROM pg_temp.try($$SELECT ws.session_put(NULL, '1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.session_put('', '1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.session_put(repeat('k', 1025), '1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.session_get(NULL)$$);

-- who may do what: writers put and get, readers see the view
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_session_app, regress_session_reader;
RESET client_min_messages;
CREATE ROLE regress_session_app IN ROLE ws_writer;
CREATE ROLE regress_session_reader IN ROLE ws_reader;
SET ROLE regress_session_app;
SELECT ws.session_put('app_key', '1');
SELECT ws.session_get('app_key');
SELECT code, message FROM pg_temp.try($$INSERT INTO ws.session_data VALUES (1, now(), 'k', '1', now())$$);
SET ROLE regress_session_reader;
SELECT key, value FROM ws.session_state WHERE pid = pg_backend_pid() ORDER BY key;
SELECT code, message FROM pg_temp.try($$SELECT ws.session_put('k', '1')$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.session_get('k')$$);
RESET ROLE;
DROP ROLE regress_session_app, regress_session_reader;
SELECT ws.session_put('app_key', NULL);

-- the rows of a session that has ended (here: this backend's pid with
-- another start time, as a dead backend whose pid was reused would leave)
-- are not shown ...
INSERT INTO ws.session_data (pid, backend_start, key, value, since)
VALUES (pg_backend_pid(), '2000-01-01', 'ghost', '"boo"', '2000-01-01'),
       (0, now(), 'ghost', '"boo"', now());
SELECT count(*) AS ghosts_shown FROM ws.session_state WHERE key = 'ghost';
SELECT ws.session_get('ghost');
-- ... and the first put of a new session purges them
\c
SET search_path = public, ws;
SELECT count(*) AS ghost_rows FROM ws.session_data WHERE key = 'ghost';
SELECT ws.session_put('presence', '{"space": "hall"}');
SELECT count(*) AS ghost_rows FROM ws.session_data WHERE key = 'ghost';
SELECT key, value FROM ws.session_state WHERE pid = pg_backend_pid();

SELECT ws.session_put('presence', NULL);
