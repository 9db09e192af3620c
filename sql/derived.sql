-- Cache state: derived views of the world.  ws.define_derived registers a
-- query and materializes it in schema ws_derived; ws.refresh_derived
-- rebuilds it, and re-creates it when it was dropped (dropping loses
-- nothing); the query runs with the caller's privileges
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

SELECT ws.register_module('orchard', 1);
SELECT ws.define_kind('tree', 'orchard', 'lww', ARRAY['apples']);
SELECT count(ws.create_entity('tree' || i, 'tree', 'orchard', jsonb_build_object('apples', i * 10)))
FROM generate_series(1, 3) i;

-- names in the query are resolved with search_path = pg_catalog, pg_temp
SELECT ws.define_derived('orchard_apples',
    'SELECT entity_id, (state ->> ''apples'')::int AS apples
     FROM ws.entities WHERE kind = ''tree'';');
SELECT * FROM ws_derived.orchard_apples ORDER BY entity_id;
SELECT name, owner, refreshed_at IS NOT NULL AS refreshed FROM ws.derived WHERE name = 'orchard_apples';

-- a view of the world at the time of the last refresh
SELECT version FROM ws.transition('tree1', '{"apples": 5}');
SELECT apples FROM ws_derived.orchard_apples WHERE entity_id = 'tree1';
SELECT ws.refresh_derived('orchard_apples');
SELECT apples FROM ws_derived.orchard_apples WHERE entity_id = 'tree1';

-- dropping it loses nothing: the next refresh builds it again
DROP MATERIALIZED VIEW ws_derived.orchard_apples;
SELECT ws.refresh_derived('orchard_apples');
SELECT sum(apples) FROM ws_derived.orchard_apples;

-- defining it again replaces the query
SELECT ws.define_derived('orchard_apples',
    'SELECT pg_catalog.sum((state ->> ''apples'')::int) AS total FROM ws.entities WHERE kind = ''tree''');
SELECT * FROM ws_derived.orchard_apples;
SELECT query FROM ws.derived WHERE name = 'orchard_apples';

-- bad definitions
SELECT * FROM pg_temp.try($$SELECT ws.define_derived('bad', 'DELETE FROM ws.derived')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_derived('bad', 'SELECT 1; SELECT 2')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_derived('bad', 'SELECT 1 INTO x')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_derived('bad', 'SELECT 1 WITH NO DATA; DROP TABLE ws.derived')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_derived('bad', 'SELECT 1 AS a) AS q; DROP TABLE ws.derived; SELECT (1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_derived('bad', 'SELECT 1 AS a --')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_derived('bad', 'SELEKT 1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_derived('bad', 'SELECT * FROM entities')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_derived('bad', '')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_derived('Bad', 'SELECT 1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_derived('bad name', 'SELECT 1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_derived(repeat('x', 64), 'SELECT 1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_derived(NULL, 'SELECT 1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.refresh_derived('nothing')$$);
SELECT * FROM pg_temp.try($$SELECT ws.drop_derived('nothing')$$);
-- the line comment above was harmless, and built a view
SELECT * FROM ws_derived.bad;
SELECT ws.drop_derived('bad');
SELECT count(*) FROM ws.derived WHERE name = 'bad';
SELECT to_regclass('ws_derived.bad');

------------------------------------------------------------------------
-- security: the query runs with the privileges of the role defining it
------------------------------------------------------------------------

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_derived_app, regress_derived_other;
RESET client_min_messages;
CREATE ROLE regress_derived_app IN ROLE ws_writer;
CREATE ROLE regress_derived_other IN ROLE ws_writer;
CREATE TABLE public.derived_secret (x int);
INSERT INTO public.derived_secret VALUES (42);
CREATE SCHEMA derived_hidden;
CREATE TABLE derived_hidden.t (x int);
GRANT SELECT ON derived_hidden.t TO PUBLIC;

SET ROLE regress_derived_app;
-- a table it may not read
SELECT code, message FROM pg_temp.try($$SELECT ws.define_derived('peek', 'SELECT x FROM public.derived_secret')$$);
-- a schema it may not use
SELECT code, message FROM pg_temp.try($$SELECT ws.define_derived('peek', 'SELECT x FROM derived_hidden.t')$$);
SELECT count(*) FROM ws.derived WHERE name = 'peek';
-- the query runs as the caller, not as the extension's owner
SELECT ws.define_derived('whoami', 'SELECT current_user AS who, (SELECT count(*) FROM ws.entities WHERE kind = ''tree'') AS trees');
SELECT * FROM ws_derived.whoami;
RESET ROLE;
SELECT relowner::regrole FROM pg_class WHERE oid = 'ws_derived.whoami'::regclass;
SELECT owner FROM ws.derived WHERE name = 'whoami';
-- a superuser refresh still runs the query as the view's owner
SELECT ws.refresh_derived('whoami');
SELECT who FROM ws_derived.whoami;

-- another role may neither refresh, redefine nor drop it
SET ROLE regress_derived_other;
SELECT code, message, detail FROM pg_temp.try($$SELECT ws.refresh_derived('whoami')$$);
SELECT code, message, detail FROM pg_temp.try($$SELECT ws.define_derived('whoami', 'SELECT 1 AS one')$$);
SELECT code, message, detail FROM pg_temp.try($$SELECT ws.drop_derived('whoami')$$);
RESET ROLE;
-- nobody else creates objects in ws_derived
SET ROLE regress_derived_app;
SELECT code, message FROM pg_temp.try($$CREATE TABLE ws_derived.mine (x int)$$);
SELECT ws.drop_derived('whoami');
RESET ROLE;

DROP TABLE public.derived_secret;
DROP SCHEMA derived_hidden CASCADE;
DROP ROLE regress_derived_app, regress_derived_other;
SELECT name FROM ws.derived ORDER BY name;
