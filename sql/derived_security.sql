-- Caller SQL never runs as another role.  A role that is only a member of
-- ws_writer defines derived views whose query makes its own functions run
-- -- through a domain check of a literal (parse analysis), a cast, an
-- operator and a plain call (planning and execution) -- and each of them
-- records the role it runs as and tries to make the attacker a superuser.
-- Everything must run as the attacker, at ws.define_derived and at
-- ws.refresh_derived, also when a superuser refreshes the view.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_derived_attacker;
RESET client_min_messages;
CREATE ROLE regress_derived_attacker IN ROLE ws_writer;

SET ROLE regress_derived_attacker;
-- who ran the attacker's code
CREATE TEMP TABLE ran_as (what text, who text);
CREATE FUNCTION pg_temp.hostile(what text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO pg_temp.ran_as VALUES (what, current_user);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE regress_derived_attacker SUPERUSER';
    END IF;
    RETURN true;
END
$f$;
-- a domain whose check calls it: parse analysis of a literal runs it
CREATE DOMAIN pg_temp.d AS int CHECK (pg_temp.hostile('domain'));
-- a type with a cast and an operator that call it
CREATE TYPE pg_temp.t AS (x int);
CREATE FUNCTION pg_temp.to_t(int) RETURNS pg_temp.t LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM pg_temp.hostile('cast');
    RETURN ROW($1)::pg_temp.t;
END
$f$;
CREATE CAST (int AS pg_temp.t) WITH FUNCTION pg_temp.to_t(int);
CREATE FUNCTION pg_temp.op(int, int) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    RETURN pg_temp.hostile('operator');
END
$f$;
CREATE OPERATOR pg_temp.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = pg_temp.op);

SELECT ws.define_derived('hostile_domain', 'SELECT ''{1}''::pg_temp.d[] AS a');
SELECT ws.define_derived('hostile_cast', 'SELECT (1::pg_temp.t).x AS a');
SELECT ws.define_derived('hostile_operator', 'SELECT 1 OPERATOR(pg_temp.===) 2 AS a');
SELECT ws.define_derived('hostile_function', 'SELECT pg_temp.hostile(''function'') AS a');
SELECT ws.refresh_derived('hostile_cast');

-- the attacker's view, dropped by the attacker, rebuilt by a superuser
DROP MATERIALIZED VIEW ws_derived.hostile_domain;
RESET ROLE;
SELECT ws.refresh_derived('hostile_domain');
SELECT ws.refresh_derived('hostile_operator');

-- every piece of the attacker's code ran as the attacker, and it is no
-- superuser
SELECT what, who, count(*) > 0 AS ran FROM pg_temp.ran_as GROUP BY what, who ORDER BY what, who;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_derived_attacker';
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner
FROM pg_class c WHERE c.relnamespace = 'ws_derived'::regnamespace AND c.relname LIKE 'hostile%'
ORDER BY c.relname;

-- the attacker's code may not create temporary tables during parse analysis
SET ROLE regress_derived_attacker;
CREATE FUNCTION pg_temp.make_temp(int[]) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    CREATE TEMP TABLE sneaky (x int);
    RETURN true;
END
$f$;
CREATE DOMAIN pg_temp.m AS int[] CHECK (pg_temp.make_temp(VALUE));
SELECT code, message FROM pg_temp.try($$SELECT ws.define_derived('hostile_temp', 'SELECT ''{1}''::pg_temp.m AS a')$$);
SELECT count(*) FROM ws.derived WHERE name = 'hostile_temp';

SELECT ws.drop_derived(name) FROM ws.derived WHERE name LIKE 'hostile%' ORDER BY name;
RESET ROLE;
SELECT count(*) FROM pg_class WHERE relnamespace = 'ws_derived'::regnamespace AND relname LIKE 'hostile%';
DROP OWNED BY regress_derived_attacker CASCADE;
DROP ROLE regress_derived_attacker;
