-- The query functions refuse bad parameters with 22023 and read only for
-- roles that may read the world (ws_reader), with their own privileges.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

SELECT ws.register_module('qerr', 1);
SELECT ws.define_kind('qe_thing', 'qerr');
SELECT version FROM ws.create_entity('qe1', 'qe_thing', 'qerr', '{"a": 1}');
SELECT version FROM ws.transition('qe1', '{"b": 2}');

-- 22023: entity ids, predicates, limits
SELECT s, (pg_temp.try(s)).* FROM (VALUES
    ($$SELECT ws.get_state(NULL)$$),
    ($$SELECT ws.get_state('')$$),
    ($$SELECT ws.get_state(NULL, ws.hlc_now())$$),
    ($$SELECT ws.get_entity(NULL)$$),
    ($$SELECT ws.get_entity('', ws.hlc_now())$$),
    ($$SELECT * FROM ws.history(NULL)$$),
    ($$SELECT * FROM ws.history('')$$),
    ($$SELECT * FROM ws.neighbors(NULL)$$),
    ($$SELECT * FROM ws.neighbors('qe1', '')$$),
    ($$SELECT * FROM ws.find(NULL)$$),
    ($$SELECT * FROM ws.find('[1]')$$),
    ($$SELECT * FROM ws.find('1')$$),
    ($$SELECT * FROM ws.find('"a"', at => ws.hlc_now())$$),
    ($$SELECT * FROM ws.find('{}', NULL)$$),
    ($$SELECT * FROM ws.find('{}', -1)$$),
    ($$SELECT * FROM ws.find('{}', 10, NULL)$$),
    ($$SELECT * FROM ws.find('{}', 10, -5)$$),
    ($$SELECT * FROM ws.find('{}', -1, 0, ws.hlc_now())$$)) v(s);

-- not errors: an unknown entity, NULL times (the present), empty ranges
SELECT s, (pg_temp.try(s)).code FROM (VALUES
    ($$SELECT ws.get_state('qe_nobody', NULL)$$),
    ($$SELECT * FROM ws.entities_at(NULL)$$),
    ($$SELECT * FROM ws.history('qe1', ws.hlc_now(), '2000-01-01T00:00:00Z')$$),
    ($$SELECT * FROM ws.find('{"a": 1}', 0, 0)$$),
    ($$SELECT ws.merge_patches(x) FROM (VALUES ('[]'::jsonb)) v(x)$$)) v(s);

-- privileges: reading the world is for ws_reader; merge_patches is pure and
-- public
DROP ROLE IF EXISTS regress_q_reader, regress_q_outsider, regress_q_exec_only;
CREATE ROLE regress_q_reader IN ROLE ws_reader;
CREATE ROLE regress_q_outsider;
CREATE ROLE regress_q_exec_only;
GRANT EXECUTE ON FUNCTION ws.get_state(text, ws.hlc) TO regress_q_exec_only;
GRANT EXECUTE ON FUNCTION ws.entities_at(ws.hlc) TO regress_q_exec_only;

SET ROLE regress_q_reader;
SELECT ws.get_state('qe1') AS reader_now, ws.get_state('qe1', ws.hlc_now()) AS reader_at,
       (SELECT count(*) FROM ws.history('qe1')) AS reader_history,
       (SELECT count(*) FROM ws.find('{"a": 1}') f WHERE f.entity_id = 'qe1') AS reader_find;
RESET ROLE;

SET ROLE regress_q_outsider;
SELECT s, (pg_temp.try(s)).code, (pg_temp.try(s)).message FROM (VALUES
    ($$SELECT ws.get_state('qe1')$$),
    ($$SELECT ws.get_entity('qe1')$$),
    ($$SELECT * FROM ws.entities_at(NULL)$$),
    ($$SELECT * FROM ws.find('{}')$$),
    ($$SELECT * FROM ws.history('qe1')$$),
    ($$SELECT * FROM ws.neighbors('qe1')$$),
    ($$SELECT ws.merge_patches(x) FROM (VALUES ('{"a": 1}'::jsonb)) v(x)$$)) v(s);
RESET ROLE;

-- a role allowed to call the function but not to read the tables reads
-- nothing: the functions read with the caller's privileges
SET ROLE regress_q_exec_only;
SELECT s, (pg_temp.try(s)).code, (pg_temp.try(s)).message FROM (VALUES
    ($$SELECT ws.get_state('qe1')$$),
    ($$SELECT ws.get_state('qe1', ws.hlc_now())$$),
    ($$SELECT * FROM ws.entities_at(ws.hlc_now())$$)) v(s);
RESET ROLE;

-- row-level security on the tables would be bypassed by the functions'
-- direct index scans, so they refuse to run under it (0A000)
BEGIN;
ALTER TABLE ws.entities ENABLE ROW LEVEL SECURITY;
SET LOCAL ROLE regress_q_reader;
SELECT * FROM pg_temp.try($$SELECT ws.get_state('qe1')$$);
ROLLBACK;

-- the functions need the indexes the install script creates (version 2,
-- one event after the keyframe of version 1, is read through it)
BEGIN;
SELECT version FROM ws.transition('qe1', '{"c": 3}');
ALTER INDEX ws.events_entity_hlc_idx RENAME TO events_entity_hlc_moved;
SELECT * FROM pg_temp.try($$SELECT ws.get_state('qe1', (SELECT hlc FROM ws.events
                                                         WHERE entity_id = 'qe1' AND version = 2))$$);
ROLLBACK;
-- and its columns, of its types (55000): a library and an install script
-- that disagree are an error, never a misread row
BEGIN;
ALTER TABLE ws.entities RENAME COLUMN retired TO retired_moved;
ALTER TABLE ws.entities ADD COLUMN retired int;
SELECT * FROM pg_temp.try($$SELECT ws.get_state('qe1')$$);
SELECT * FROM pg_temp.try($$SELECT count(*) FROM ws.entities_at(NULL)$$);
ROLLBACK;
BEGIN;
ALTER TABLE ws.entities RENAME COLUMN created_hlc TO created_hlc_moved;
SELECT * FROM pg_temp.try($$SELECT ws.get_state('qe1')$$);
ROLLBACK;
SELECT ws.get_state('qe1');

REVOKE EXECUTE ON FUNCTION ws.get_state(text, ws.hlc) FROM regress_q_exec_only;
REVOKE EXECUTE ON FUNCTION ws.entities_at(ws.hlc) FROM regress_q_exec_only;
DROP ROLE regress_q_reader, regress_q_outsider, regress_q_exec_only;
