-- ws.progress: the long operations running now.  Another session sees them
-- while they run (test/isolation/specs/progress_restore.spec); here, every
-- operation leaves nothing behind once it ends or fails, and who may read
-- the view.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

SELECT ws.register_module('progmod', 1);
SELECT ws.define_kind('prog_thing', 'progmod');
SELECT count(ws.create_entity('prog-' || i, 'prog_thing', 'progmod', jsonb_build_object('i', i)))
FROM generate_series(1, 250) i;
SELECT ws.hlc_now() AS mid \gset
SELECT count(ws.transition('prog-' || i, '{"later": true}')) FROM generate_series(1, 250) i;

SELECT column_name, data_type FROM information_schema.columns
WHERE table_schema = 'ws' AND table_name = 'progress' ORDER BY ordinal_position;

-- each operation, then the view
SELECT count(*) > 0 AS rebuilt FROM ws.entities_at(:'mid');
SELECT count(*) AS running FROM ws.progress;
SELECT count(*) > 0 AS found FROM ws.find('{}', 1000, 0, :'mid');
SELECT count(*) AS running FROM ws.progress;
SELECT length(ws.state_hash(:'mid')) AS hash_length;
SELECT count(*) AS running FROM ws.progress;
SELECT count(*) AS problems FROM ws.verify();
SELECT count(*) AS running FROM ws.progress;
-- failing: an error inside a subtransaction (try's exception block) while
-- the transaction goes on, and an error that aborts the transaction
BEGIN;
SELECT code FROM pg_temp.try($$SELECT ws.restore_snapshot(-1)$$);
SELECT count(*) AS running FROM ws.progress;
COMMIT;
SELECT ws.restore_snapshot(-1);
SELECT count(*) AS running FROM ws.progress;

-- ws_reader may read it; PUBLIC may not
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_prog_reader, regress_prog_nobody;
RESET client_min_messages;
CREATE ROLE regress_prog_reader IN ROLE ws_reader;
CREATE ROLE regress_prog_nobody;
SET ROLE regress_prog_reader;
SELECT count(*) AS running FROM ws.progress;
RESET ROLE;
SET ROLE regress_prog_nobody;
SELECT code FROM pg_temp.try($$SELECT count(*) FROM ws.progress$$);
RESET ROLE;
DROP ROLE regress_prog_reader, regress_prog_nobody;
