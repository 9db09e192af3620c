-- Who may change what: module grants on top of the ws_writer role, no
-- direct writes to the ws tables, and no search-path hijacking of the
-- state-changing functions by objects planted in public or pg_temp
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

-- Roles are cluster-wide: start from none of ours
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_sec_app, regress_sec_member, regress_sec_team,
                    regress_sec_outsider, regress_sec_admin;
RESET client_min_messages;

-- an application role, a member of a team role, a role outside ws_writer,
-- and a ws_admin who registers and grants the modules
CREATE ROLE regress_sec_app LOGIN IN ROLE ws_writer;
CREATE ROLE regress_sec_team NOLOGIN IN ROLE ws_writer;
CREATE ROLE regress_sec_member LOGIN IN ROLE regress_sec_team;
CREATE ROLE regress_sec_outsider LOGIN;
CREATE ROLE regress_sec_admin LOGIN IN ROLE ws_admin;

SET ROLE regress_sec_admin;
SELECT ws.register_module('secmod_store', 1);
SELECT ws.register_module('secmod_vault', 1);
RESET ROLE;
SELECT ws.define_kind('sec_crate', 'secmod_store', 'lww', ARRAY['qty']);
SELECT ws.add_constraint('sec_crate', 'qty_not_negative', '$.qty >= 0');
SELECT ws.define_kind('sec_safe', 'secmod_vault');
SELECT entity_id, version FROM ws.create_entity('sec-c1', 'sec_crate', 'secmod_store', '{"qty": 5}');
SELECT entity_id, version FROM ws.create_entity('sec-c2', 'sec_crate', 'secmod_store', '{"qty": 1}');
SELECT entity_id, version FROM ws.create_entity('sec-s1', 'sec_safe', 'secmod_vault', '{"gold": 1}');

------------------------------------------------------------------------
-- (a) ws_writer alone is not enough: the module must be granted
------------------------------------------------------------------------

SET ROLE regress_sec_app;
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('sec-c3', 'sec_crate', 'secmod_store', '{"qty": 0}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-c1', '{"qty": 1}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-c1', '{"qty": 1}', expected_version => 1)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[{"entity_id": "sec-c1", "patch": {"qty": 1}}]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.retire_entity('sec-c1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('sec-c1', 'next_to', 'sec-c2')$$);
SELECT * FROM pg_temp.try($$SELECT ws.unlink('sec-c1', 'next_to', 'sec-c2')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('sec_box', 'secmod_store')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('sec_crate', 'secmod_store', 'lww', ARRAY['qty', 'weight'])$$);
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('sec_crate', 'always', '$.qty >= -1000')$$);
-- nor can it grant itself the module or register one
SELECT * FROM pg_temp.try($$SELECT ws.grant_module('secmod_store', 'regress_sec_app')$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_module('secmod_mine', 1)$$);
RESET ROLE;

-- nothing was written
SELECT entity_id, version, retired, state FROM ws.entities WHERE entity_id LIKE 'sec-%' ORDER BY entity_id;
SELECT count(*) AS links FROM ws.relationships WHERE from_id LIKE 'sec-%';
SELECT kind, counters FROM ws.kinds WHERE module = 'secmod_store' ORDER BY kind;
SELECT name, predicate FROM ws.constraints WHERE kind = 'sec_crate' ORDER BY name;
SELECT count(*) AS modules FROM ws.modules WHERE name = 'secmod_mine';

-- a ws_admin grants the module: the same calls succeed
SET ROLE regress_sec_admin;
SELECT ws.grant_module('secmod_store', 'regress_sec_app');
RESET ROLE;
SELECT module, role FROM ws.module_grants WHERE module LIKE 'secmod_%' ORDER BY 1, 2;

SET ROLE regress_sec_app;
SELECT entity_id, version, state FROM ws.create_entity('sec-c3', 'sec_crate', 'secmod_store', '{"qty": 0}');
SELECT entity_id, version, state FROM ws.transition('sec-c1', '{"qty": 1}', expected_version => 1);
SELECT entity_id, version, state FROM ws.transition_many('[{"entity_id": "sec-c2", "patch": {"qty": 2}}]');
SELECT from_id, rel, to_id FROM ws.link('sec-c1', 'next_to', 'sec-c2');
SELECT from_id, rel, to_id FROM ws.unlink('sec-c1', 'next_to', 'sec-c2');
SELECT entity_id, version, retired FROM ws.retire_entity('sec-c3');
-- a writer of the module may not define its kinds or constraints: its admin may
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('sec_box', 'secmod_store')$$);
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('sec_crate', 'always', '$.qty >= -1000')$$);
RESET ROLE;
SET ROLE regress_sec_admin;
SELECT ws.grant_module('secmod_store', 'regress_sec_app', admin => true);
RESET ROLE;
SET ROLE regress_sec_app;
SELECT ws.define_kind('sec_box', 'secmod_store');
SELECT ws.add_constraint('sec_box', 'has_label', 'exists($.label)');
-- the constraint still binds the granted role
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-c1', '{"qty": -100}')$$);
-- the grant is per module: secmod_vault is still closed
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-s1', '{"gold": 2}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('sec-s1', 'guards', 'sec-c1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.retire_entity('sec-s1')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[{"entity_id": "sec-c1", "patch": {"qty": 1}},
                                                              {"entity_id": "sec-s1", "patch": {"gold": 2}}]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('sec-s2', 'sec_safe', 'secmod_vault', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('sec-s2', 'sec_crate', 'secmod_vault', '{}')$$);
RESET ROLE;
-- the refused batch changed neither entity
SELECT entity_id, version, state FROM ws.entities WHERE entity_id IN ('sec-c1', 'sec-s1') ORDER BY 1;

-- membership in a granted role is enough
SET ROLE regress_sec_member;
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-s1', '{"gold": 2}')$$);
RESET ROLE;
SET ROLE regress_sec_admin;
SELECT ws.grant_module('secmod_vault', 'regress_sec_team');
RESET ROLE;
SET ROLE regress_sec_member;
SELECT entity_id, version, state FROM ws.transition('sec-s1', '{"gold": 2}');
SELECT entity_id, version FROM ws.create_entity('sec-s2', 'sec_safe', 'secmod_vault', '{}');
-- and the member has no grant of secmod_store
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-c1', '{"qty": 1}')$$);
RESET ROLE;
-- the events name the module of the entity changed
SELECT entity_id, version, event_type, module FROM ws.events
WHERE entity_id IN ('sec-s1', 'sec-s2') ORDER BY entity_id, version;

------------------------------------------------------------------------
-- (b) no direct writes, and no EXECUTE outside ws_writer
------------------------------------------------------------------------

SET ROLE regress_sec_app;
-- reading is allowed (ws_writer is a member of ws_reader)
SELECT count(*) AS readable FROM ws.entities WHERE entity_id LIKE 'sec-%';
SELECT * FROM pg_temp.try($$INSERT INTO ws.entities (entity_id, kind, module, state, version, hlc, vclock, created_hlc)
                            VALUES ('sec-x', 'sec_crate', 'secmod_store', '{}', 1, ws.hlc_now(), '{}', ws.hlc_now())$$);
SELECT * FROM pg_temp.try($$UPDATE ws.entities SET state = '{"qty": 1000}' WHERE entity_id = 'sec-c1'$$);
SELECT * FROM pg_temp.try($$DELETE FROM ws.entities WHERE entity_id = 'sec-c1'$$);
SELECT * FROM pg_temp.try($$TRUNCATE ws.entities CASCADE$$);
SELECT * FROM pg_temp.try($$INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind,
                                                   event_type, patch, handshake, vclock, request_digest)
                            VALUES (gen_random_uuid(), 'sec-c1', 99, ws.hlc_now(), 0, 'secmod_store', 'sec_crate',
                                    'update', '{}', '55-45-17', '{}', 'x')$$);
SELECT * FROM pg_temp.try($$UPDATE ws.events SET patch = '{}' WHERE entity_id = 'sec-c1'$$);
SELECT * FROM pg_temp.try($$DELETE FROM ws.events WHERE entity_id = 'sec-c1'$$);
SELECT * FROM pg_temp.try($$INSERT INTO ws.module_grants VALUES ('secmod_vault', 'regress_sec_app')$$);
SELECT * FROM pg_temp.try($$INSERT INTO ws.relationships VALUES ('sec-c1', 'x', 'sec-c2', '{}', ws.hlc_now())$$);
SELECT * FROM pg_temp.try($$UPDATE ws.kinds SET counters = '{}' WHERE kind = 'sec_crate'$$);
SELECT * FROM pg_temp.try($$DELETE FROM ws.constraints WHERE kind = 'sec_crate'$$);
RESET ROLE;

-- a role outside ws_writer may not call the functions at all, even with
-- the module granted to it, nor read the tables
SELECT ws.grant_module('secmod_store', 'regress_sec_outsider');
SET ROLE regress_sec_outsider;
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-c1', '{"qty": 1}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('sec-c9', 'sec_crate', 'secmod_store', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.retire_entity('sec-c1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('sec-c1', 'x', 'sec-c2')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('sec_crate', 'secmod_store')$$);
SELECT * FROM pg_temp.try($$SELECT count(*) FROM ws.entities$$);
RESET ROLE;
SELECT version FROM ws.entities WHERE entity_id = 'sec-c1';

------------------------------------------------------------------------
-- (c) search-path hijacking: functions, operators and aggregates planted
-- in public, each announcing itself with NOTICE 'hijacked ...' and
-- returning a wrong answer.  The state-changing functions run with
-- search_path = pg_catalog, pg_temp and qualify everything, so none of
-- them is ever called.
------------------------------------------------------------------------

CREATE FUNCTION public.jsonb_path_match(target jsonb, path jsonpath, vars jsonb DEFAULT '{}',
                                        silent boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hijacked: jsonb_path_match'; RETURN true; END $$;
CREATE FUNCTION public.hijack_text_eq(text, text) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hijacked: = (text, text)'; RETURN true; END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hijack_text_eq);
CREATE FUNCTION public.hijack_uuid_eq(uuid, uuid) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hijacked: = (uuid, uuid)'; RETURN true; END $$;
CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = public.hijack_uuid_eq);
CREATE FUNCTION public.hijack_name_eq(name, name) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hijacked: = (name, name)'; RETURN true; END $$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.hijack_name_eq);
CREATE FUNCTION public.hijack_int8_cmp(bigint, bigint) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hijacked: <= (bigint, bigint)'; RETURN true; END $$;
CREATE OPERATOR public.<= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.hijack_int8_cmp);
CREATE FUNCTION public.now() RETURNS timestamptz
LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hijacked: now()'; RETURN 'epoch'; END $$;
CREATE FUNCTION public.pg_current_xact_id() RETURNS xid8
LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hijacked: pg_current_xact_id()'; RETURN '1'; END $$;
CREATE FUNCTION public.hijack_max_sfunc(bigint, bigint) RETURNS bigint
LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hijacked: max(bigint)'; RETURN 1; END $$;
CREATE AGGREGATE public.max(bigint) (SFUNC = public.hijack_max_sfunc, STYPE = bigint);
CREATE FUNCTION public.hijack_count_sfunc(bigint) RETURNS bigint
LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hijacked: count(*)'; RETURN 1000; END $$;
CREATE AGGREGATE public.count(*) (SFUNC = public.hijack_count_sfunc, STYPE = bigint, INITCOND = '0');

-- a new session, so that the functions plan their statements afresh with
-- the traps in place (plans are kept per backend)
\c -
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
\i sql/include/try.sql

-- objects in the session's temporary schema, planted by the application
-- role itself: tables named like the ws tables (a grant of secmod_vault to
-- itself, no constraints) and temporary functions.  pg_temp stays on the
-- functions' search_path (last), so only schema-qualified statements keep
-- these out.
SET ROLE regress_sec_app;
CREATE TEMP TABLE module_grants (module text, role_name name);
INSERT INTO module_grants VALUES ('secmod_vault', 'regress_sec_app');
CREATE TEMP TABLE constraints (kind text, name text, predicate jsonpath);
CREATE TEMP TABLE entities (entity_id text, kind text, module text, state jsonb, version bigint);
INSERT INTO entities VALUES ('sec-s1', 'sec_crate', 'secmod_store', '{}', 1);
CREATE FUNCTION pg_temp.now() RETURNS timestamptz
LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hijacked: pg_temp.now()'; RETURN 'epoch'; END $$;
CREATE FUNCTION pg_temp.jsonb_path_match(jsonb, jsonpath, jsonb, boolean) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hijacked: pg_temp.jsonb_path_match'; RETURN true; END $$;
RESET ROLE;

-- the traps are live for a query whose path puts pg_temp and public
-- before pg_catalog
SET search_path = pg_temp, public, pg_catalog, ws;
SELECT 'a'::text = 'b'::text AS text_eq, now() = 'epoch' AS now_is_epoch,
       (SELECT count(*) FROM entities) AS entities_counted,
       (SELECT role_name FROM module_grants) AS temp_grant;

-- the functions, called with that path, fall into none of them
SELECT entity_id, version, state FROM ws.create_entity('sec-h1', 'sec_crate', 'secmod_store', '{"qty": 1}',
                                                       event_id => '00000000-0000-4000-8000-00000000c001');
SELECT entity_id, version, state FROM ws.transition('sec-h1', '{"qty": 1}', expected_version => 1,
                                                    event_id => '00000000-0000-4000-8000-00000000c002');
-- idempotent retries (event looked up by uuid, state rebuilt from events)
SELECT entity_id, version, state FROM ws.transition('sec-h1', '{"qty": 1}', expected_version => 1,
                                                    event_id => '00000000-0000-4000-8000-00000000c002');
SELECT entity_id, version, state FROM ws.create_entity('sec-h1', 'sec_crate', 'secmod_store', '{"qty": 1}',
                                                       event_id => '00000000-0000-4000-8000-00000000c001');
SELECT entity_id, version, state FROM ws.create_entity('sec-h2', 'sec_crate', 'secmod_store', '{"qty": 1}');
SELECT entity_id, version, state FROM ws.transition_many('[{"entity_id": "sec-h2", "patch": {"qty": 1}},
                                                           {"entity_id": "sec-h1", "patch": {"qty": 1}}]');
SELECT from_id, rel, to_id FROM ws.link('sec-h1', 'next_to', 'sec-h2');
SELECT from_id, rel, to_id FROM ws.unlink('sec-h1', 'next_to', 'sec-h2');
-- the constraint is still checked (a hijacked jsonb_path_match says true)
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-h1', '{"qty": -10}')$$);
-- the version is still checked (a hijacked = says equal)
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-h1', '{"qty": 1}', expected_version => 1)$$);
-- the entity is still found by its id (a hijacked = matches any row)
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-nobody', '{"qty": 1}')$$);
-- an idempotency key reused for another update is still refused
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-h1', '{"qty": 5}', event_id => '00000000-0000-4000-8000-00000000c002')$$);
-- the grant is still checked, for a role without it ...
SET ROLE regress_sec_member;
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-h1', '{"qty": 1}')$$);
RESET ROLE;
-- ... and for the role that planted the temporary tables
SET ROLE regress_sec_app;
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-s1', '{"gold": 3}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-c1', '{"qty": -100}')$$);
SELECT entity_id, version, state FROM ws.transition('sec-h1', '{"qty": 1}');
SELECT entity_id, version, retired FROM ws.retire_entity('sec-h1');
RESET ROLE;

-- and with search_path = public, ws (pg_catalog implicitly first)
SET search_path = public, ws;
SELECT entity_id, version, state FROM ws.transition('sec-h2', '{"qty": 1}', expected_version => 2);
SELECT entity_id, version, state FROM ws.entities
WHERE entity_id IN ('sec-c1', 'sec-s1', 'sec-h1', 'sec-h2') ORDER BY 1;

-- every event of this file: version chain intact, no hijacked values
SELECT entity_id, count(*) AS events, max(version) AS last_version,
       bool_and(recorded_at > '2000-01-01') AS recorded_now,
       bool_and(txid <> '1') AS real_txids
FROM ws.events WHERE entity_id LIKE 'sec-%' GROUP BY entity_id ORDER BY entity_id;

------------------------------------------------------------------------
-- A grant belongs to the role, not to its name: a new role created under
-- the name of a dropped one does not inherit its grant
------------------------------------------------------------------------

CREATE ROLE regress_sec_ghost LOGIN;
GRANT ws_writer TO regress_sec_ghost;
SELECT ws.grant_module('secmod_vault', 'regress_sec_ghost');
SET ROLE regress_sec_ghost;
SELECT version FROM ws.transition('sec-s1', '{"qty": 1}', handshake => '55-45-17');
RESET ROLE;
DROP ROLE regress_sec_ghost;
CREATE ROLE regress_sec_ghost LOGIN;
GRANT ws_writer TO regress_sec_ghost;
SET ROLE regress_sec_ghost;
SELECT * FROM pg_temp.try($$SELECT ws.transition('sec-s1', '{"qty": 1}', handshake => '55-45-17')$$);
RESET ROLE;
DROP ROLE regress_sec_ghost;

------------------------------------------------------------------------
-- Clean up: the planted objects, then the roles (cluster-wide)
------------------------------------------------------------------------

DROP TABLE pg_temp.module_grants, pg_temp.constraints, pg_temp.entities;
DROP FUNCTION pg_temp.now(), pg_temp.jsonb_path_match(jsonb, jsonpath, jsonb, boolean);
DROP AGGREGATE public.count(*);
DROP AGGREGATE public.max(bigint);
DROP OPERATOR public.= (text, text);
DROP OPERATOR public.= (uuid, uuid);
DROP OPERATOR public.= (name, name);
DROP OPERATOR public.<= (bigint, bigint);
DROP FUNCTION public.jsonb_path_match(jsonb, jsonpath, jsonb, boolean), public.hijack_text_eq(text, text),
              public.hijack_uuid_eq(uuid, uuid), public.hijack_name_eq(name, name),
              public.hijack_int8_cmp(bigint, bigint), public.now(), public.pg_current_xact_id(),
              public.hijack_max_sfunc(bigint, bigint), public.hijack_count_sfunc(bigint);
DROP OWNED BY regress_sec_app, regress_sec_member, regress_sec_team,
              regress_sec_outsider, regress_sec_admin;
DROP ROLE regress_sec_app, regress_sec_member, regress_sec_team,
          regress_sec_outsider, regress_sec_admin;
