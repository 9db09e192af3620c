-- The catalog as a document: ws.export_definitions writes every module,
-- grant (by role name), kind, constraint and event schema in one sorted
-- jsonb document whose bytes do not depend on session settings;
-- ws.import_definitions creates what a database lacks through the
-- defining functions (their checks, their privileges), skips what is
-- there identically, refuses what differs, skips grants to missing roles
-- with a NOTICE, and writes all or nothing.  With worldstate.node_id 0
-- (standalone, as here) no catalog event is written; test/t/062 shows
-- the events of a node of a mesh.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

CREATE ROLE regress_catalog_admin LOGIN IN ROLE ws_admin;
CREATE ROLE regress_catalog_writer LOGIN IN ROLE ws_writer;
CREATE ROLE regress_catalog_reader LOGIN IN ROLE ws_reader;
CREATE ROLE "regress_Catalog Team" NOLOGIN;

-- the part of a document about this file's definitions (names def_... and
-- imp_...), since other files of the suite define theirs in this database
CREATE FUNCTION pg_temp.mine(doc jsonb, prefix text) RETURNS jsonb
LANGUAGE sql AS $f$
SELECT jsonb_build_object('format', doc -> 'format',
    'modules', jsonb_path_query_array(doc, '$.modules[*] ? (@.name starts with $p)', jsonb_build_object('p', prefix)),
    'grants', jsonb_path_query_array(doc, '$.grants[*] ? (@.module starts with $p)', jsonb_build_object('p', prefix)),
    'kinds', jsonb_path_query_array(doc, '$.kinds[*] ? (@.kind starts with $p)', jsonb_build_object('p', prefix)),
    'constraints', jsonb_path_query_array(doc, '$.constraints[*] ? (@.kind starts with $p)', jsonb_build_object('p', prefix)),
    'event_schemas', jsonb_path_query_array(doc, '$.event_schemas[*] ? (@.module starts with $p)', jsonb_build_object('p', prefix)))
$f$;

------------------------------------------------------------------------
-- export: every section, sorted by name in the "C" collation (def_B
-- before def_a), jsonpath and intervals in one text form
------------------------------------------------------------------------

SELECT ws.register_module('def_shop', 2, require_event_schemas => true);
SELECT ws.register_module('def_B', 1);
SELECT ws.register_module('def_a', 1);
SELECT ws.grant_module('def_shop', 'regress_catalog_writer');
SELECT ws.grant_module('def_shop', 'regress_Catalog Team', admin => true);
SELECT ws.define_kind('def_order', 'def_shop', 'merge', ARRAY['items', 'total']);
SELECT ws.define_kind('def_cart', 'def_shop');
SELECT ws.add_constraint('def_order', 'total_positive', '$.total>=0');
SELECT ws.add_constraint('def_order', 'has_items', 'exists($.items)');
SELECT ws.register_event_schema('def_shop', 'paid', 1, ARRAY['$.amount > 0']::jsonpath[], '36 hours');
SELECT ws.register_event_schema('def_shop', 'paid', 2,
       ARRAY['$.amount > 0', '$.currency like_regex "^[A-Z]{3}$"']::jsonpath[]);

SET intervalstyle = postgres_verbose;
SELECT jsonb_pretty(pg_temp.mine(ws.export_definitions(), 'def_'));

-- the same bytes whatever the session's settings
SELECT ws.export_definitions()::text AS doc \gset
RESET intervalstyle;
SET lc_messages = 'C';
SET extra_float_digits = -15;
SELECT ws.export_definitions()::text = :'doc' AS same_bytes;
RESET extra_float_digits;

------------------------------------------------------------------------
-- import: the definitions a database lacks are created, the ones it has
-- identically are skipped; a second import creates nothing.  Another
-- database is played by renaming def_ to imp_.
------------------------------------------------------------------------

SELECT replace(pg_temp.mine(:'doc'::jsonb, 'def_')::text, 'def_', 'imp_') AS imp \gset
SELECT count(*) AS events_before FROM ws.events \gset
SELECT ws.import_definitions(:'imp');
SELECT pg_temp.mine(ws.export_definitions(), 'imp_') = :'imp'::jsonb AS imported_as_exported;
SELECT ws.import_definitions(:'imp') AS created_again;
SELECT ws.import_definitions(ws.export_definitions()) AS created_from_own_export;
-- standalone: no catalog event
SELECT count(*) - :events_before AS new_events FROM ws.events;

-- defaults of optional fields are those of the defining functions
SELECT ws.import_definitions('{"format": 1,
  "modules": [{"name": "imp_min", "api_version": 1}],
  "kinds": [{"kind": "imp_min_thing", "module": "imp_min"}],
  "event_schemas": [{"module": "imp_min", "event_type": "ping", "version": 1, "rules": []}]}');
SELECT jsonb_pretty(pg_temp.mine(ws.export_definitions(), 'imp_min'));

------------------------------------------------------------------------
-- a definition present differently: 22023 naming it, nothing written
------------------------------------------------------------------------

SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1,
  "modules": [{"name": "imp_new", "api_version": 1}],
  "kinds": [{"kind": "imp_order", "module": "imp_shop", "policy": "lww", "counters": ["items", "total"]}]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1,
  "modules": [{"name": "imp_shop", "api_version": 3, "require_event_schemas": true}]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1,
  "grants": [{"module": "imp_shop", "role": "regress_catalog_writer", "admin": true}]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1,
  "constraints": [{"kind": "imp_order", "name": "has_items", "predicate": "exists($.lines)"}]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1,
  "event_schemas": [{"module": "imp_shop", "event_type": "paid", "version": 1, "rules": ["$.amount > 0"]}]}')$$);
SELECT count(*) AS written FROM ws.modules WHERE name = 'imp_new';

-- all or nothing: a constraint the entities break (WS422) undoes the
-- module and kind created before it
SELECT ws.register_module('imp_live', 1);
SELECT ws.define_kind('imp_live_thing', 'imp_live');
SELECT version FROM ws.create_entity('imp_1', 'imp_live_thing', 'imp_live', '{"n": -1}');
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1,
  "modules": [{"name": "imp_later", "api_version": 1}],
  "kinds": [{"kind": "imp_later_thing", "module": "imp_later"}],
  "constraints": [{"kind": "imp_live_thing", "name": "n_positive", "predicate": "$.n > 0"}]}')$$);
SELECT count(*) AS written FROM ws.modules WHERE name = 'imp_later';
SELECT count(*) AS written FROM ws.kinds WHERE kind = 'imp_later_thing';

------------------------------------------------------------------------
-- a grant to a role that does not exist here: NOTICE, skipped
------------------------------------------------------------------------

SELECT ws.import_definitions('{"format": 1,
  "modules": [{"name": "imp_roles", "api_version": 1}],
  "grants": [{"module": "imp_roles", "role": "regress_catalog_nobody"},
             {"module": "imp_roles", "role": "regress_catalog_writer"}]}');
SELECT role, admin FROM ws.module_grants WHERE module = 'imp_roles';

------------------------------------------------------------------------
-- malformed documents: 22023 saying what is wrong, values that do not
-- parse 22P02 naming the entry; nothing written
------------------------------------------------------------------------

SELECT * FROM pg_temp.try($$SELECT ws.import_definitions(NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('[]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"modules": []}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 2}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "roles": []}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "kinds": {}}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "kinds": ["imp_bad"]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "kinds": [{"kind": "imp_bad"}]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "kinds": [{"kind": "imp_bad", "module": "imp_shop", "colour": "red"}]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "kinds": [{"kind": "imp_bad", "module": "imp_shop", "counters": [1]}]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "modules": [{"name": "imp_bad", "api_version": 1.5}]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "modules": [{"name": "imp_bad", "api_version": 1e10}]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "constraints": [{"kind": "imp_order", "name": "bad", "predicate": "$.a >>> 1"}]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "event_schemas": [{"module": "imp_shop", "event_type": "x", "version": 1, "rules": [], "grace": "soon"}]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "revoked_grants": [{"module": "imp_shop", "role": "regress_catalog_writer"}]}')$$);
SELECT count(*) AS written FROM ws.modules WHERE name = 'imp_bad';
SELECT count(*) AS written FROM ws.kinds WHERE kind = 'imp_bad';

------------------------------------------------------------------------
-- the module name "ws" is reserved for catalog events
------------------------------------------------------------------------

SELECT * FROM pg_temp.try($$SELECT ws.register_module('ws', 1)$$);
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "modules": [{"name": "ws", "api_version": 1}]}')$$);

------------------------------------------------------------------------
-- privileges: the checks of the defining functions, as the calling role.
-- A writer with hostile objects in pg_temp cannot register a module; an
-- admin of a module imports its kinds; a reader cannot import at all.
------------------------------------------------------------------------

SELECT ws.grant_module('imp_shop', 'regress_catalog_writer', admin => true);
SET ROLE regress_catalog_writer;
CREATE TEMP TABLE modules (name text);
CREATE FUNCTION pg_temp.register_module(text, int, boolean) RETURNS void
LANGUAGE sql AS 'SELECT NULL::void';
CREATE FUNCTION pg_temp.jsonb_agg(jsonb) RETURNS jsonb
LANGUAGE sql AS $$SELECT '[]'::jsonb$$;
CREATE FUNCTION pg_temp.jsonb_build_object(text, text) RETURNS jsonb
LANGUAGE sql AS $$SELECT '{}'::jsonb$$;
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "modules": [{"name": "imp_evil", "api_version": 1}]}')$$);
SELECT ws.import_definitions('{"format": 1, "kinds": [{"kind": "imp_gift", "module": "imp_shop"}]}');
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1, "kinds": [{"kind": "imp_other", "module": "imp_roles"}]}')$$);
SELECT * FROM pg_temp.try($$SELECT ws._apply_definitions('{"format": 1}')$$);
RESET ROLE;
SELECT count(*) AS written FROM ws.modules WHERE name = 'imp_evil';
SELECT kind, module FROM ws.kinds WHERE kind IN ('imp_gift', 'imp_other') ORDER BY kind;
SET ROLE regress_catalog_reader;
SELECT * FROM pg_temp.try($$SELECT ws.import_definitions('{"format": 1}')$$);
SELECT jsonb_typeof(ws.export_definitions()) AS reader_exports;
RESET ROLE;

------------------------------------------------------------------------
-- a peer's catalog event (what replication applies): a definition that
-- differs is defined again, revocations and drops apply, constraints are
-- not checked against local entities (the origin checked them)
------------------------------------------------------------------------

SELECT ws._apply_definitions('{"format": 1,
  "kinds": [{"kind": "imp_cart", "module": "imp_shop", "policy": "manual", "counters": ["n"]}],
  "constraints": [{"kind": "imp_live_thing", "name": "n_positive", "predicate": "$.n > 0"}],
  "revoked_grants": [{"module": "imp_roles", "role": "regress_catalog_writer"},
                     {"module": "imp_roles", "role": "regress_catalog_nobody"}],
  "dropped_constraints": [{"kind": "imp_order", "name": "has_items"}]}') AS applied;
SELECT policy, counters FROM ws.kinds WHERE kind = 'imp_cart';
SELECT name, predicate FROM ws.constraints WHERE kind IN ('imp_live_thing', 'imp_order') ORDER BY kind, name;
SELECT count(*) AS grants FROM ws.module_grants WHERE module = 'imp_roles';
