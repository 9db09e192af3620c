-- The module catalog does its work or raises: NULL arguments and
-- over-long names are 22023 naming them, module names cannot look like
-- subscriber names, entities need a defined kind, constraints are checked
-- before they are stored, modules may require event schemas, and
-- constraints, grants and snapshots can be removed.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

SELECT ws.register_module('cat_zoo', 1);
SELECT ws.define_kind('cat_animal', 'cat_zoo', 'lww', ARRAY['legs']);

------------------------------------------------------------------------
-- NULL arguments: 22023 naming the argument, nothing written
------------------------------------------------------------------------

SELECT * FROM pg_temp.try($$SELECT ws.register_module(NULL, 1)$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_module('cat_null', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_module('cat_null', 1, NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.grant_module(NULL, 'ws_writer')$$);
SELECT * FROM pg_temp.try($$SELECT ws.grant_module('cat_zoo', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.grant_module('cat_zoo', 'ws_writer', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.revoke_module(NULL, 'ws_writer')$$);
SELECT * FROM pg_temp.try($$SELECT ws.revoke_module('cat_zoo', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind(NULL, 'cat_zoo')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('cat_null', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('cat_null', 'cat_zoo', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('cat_null', 'cat_zoo', 'lww', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint(NULL, 'c', '$.a > 0')$$);
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('cat_animal', NULL, '$.a > 0')$$);
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('cat_animal', 'c', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('cat_animal', 'c', '$.a > 0', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.drop_constraint(NULL, 'c')$$);
SELECT * FROM pg_temp.try($$SELECT ws.drop_constraint('cat_animal', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.archive_events(NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.delete_snapshot(NULL)$$);
SELECT count(*) AS written FROM ws.modules WHERE name = 'cat_null';
SELECT count(*) AS written FROM ws.kinds WHERE kind = 'cat_null';
SELECT count(*) AS written FROM ws.constraints WHERE kind = 'cat_animal';
SELECT count(*) AS written FROM ws.module_grants WHERE module = 'cat_zoo';

------------------------------------------------------------------------
-- names: at most 63 bytes (22023, not a CHECK violation), no dot in a
-- module name (subscribers are named module or module.name)
------------------------------------------------------------------------

SELECT * FROM pg_temp.try(format('SELECT ws.register_module(%L, 1)', repeat('m', 64)));
SELECT * FROM pg_temp.try(format('SELECT ws.define_kind(%L, %L)', repeat('k', 64), 'cat_zoo'));
SELECT * FROM pg_temp.try(format('SELECT ws.add_constraint(%L, %L, %L)', 'cat_animal', repeat('c', 64), '$.legs >= 0'));
SELECT * FROM pg_temp.try(format('SELECT ws.grant_module(%L, %L)', repeat('m', 64), 'ws_writer'));
SELECT code, message FROM pg_temp.try(format('SELECT ws.register_module(%L, 1)', repeat('m', 63)));
SELECT * FROM pg_temp.try($$SELECT ws.register_module('cat.zoo', 1)$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_module('', 1)$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_module('cat_zero', 0)$$);

------------------------------------------------------------------------
-- create_entity of an undefined kind is an error, not a new kind
------------------------------------------------------------------------

SELECT * FROM pg_temp.try($$SELECT ws.create_entity('cat-1', 'cat_animall', 'cat_zoo', '{}')$$);
SELECT count(*) AS kinds FROM ws.kinds WHERE kind = 'cat_animall';
SELECT * FROM pg_temp.try(format('SELECT ws.create_entity(%L, %L, %L, %L)', 'cat-1', repeat('k', 100), 'cat_zoo', '{}'));
SELECT entity_id, kind, version FROM ws.create_entity('cat-1', 'cat_animal', 'cat_zoo', '{"legs": 4}');
SELECT entity_id, kind, version FROM ws.create_entity('cat-2', 'cat_animal', 'cat_zoo', '{"legs": 2}');
SELECT entity_id, kind, version FROM ws.create_entity('cat-3', 'cat_animal', 'cat_zoo', '{"legs": 0}');
SELECT entity_id, kind, version FROM ws.create_entity('cat-4', 'cat_animal', 'cat_zoo', '{"legs": 1}');
SELECT entity_id, retired FROM ws.retire_entity('cat-4');

------------------------------------------------------------------------
-- constraints: a predicate that can be evaluated, checked against the
-- kind's live entities unless not_valid, and dropped by name
------------------------------------------------------------------------

-- variables cannot be given to a constraint, wherever they hide
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('cat_animal', 'v1', '$.legs >= $min')$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.add_constraint('cat_animal', 'v2', 'exists($.tags[*] ? (@ == $tag))')$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.add_constraint('cat_animal', 'v3', '$.legs >= 0 && $.name like_regex "^a" && $.x[$i] == 1')$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.add_constraint('cat_animal', 'v4', '!($.legs + $n > 0)')$$);
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('cat_animal', 'p', '$.legs')$$);
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('cat_nokind', 'p', '$.legs > 0')$$);
-- a string containing $ is no variable
SELECT ws.add_constraint('cat_animal', 'no_dollar_name', '!($.name == "$x")');

-- existing entities must satisfy a new constraint (the retired one does
-- not count); WS422 names some of them
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('cat_animal', 'walks', '$.legs >= 2')$$);
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('cat_animal', 'has_name', 'exists($.name)')$$);
SELECT ws.add_constraint('cat_animal', 'not_a_spider', '$.legs < 8');
SELECT ws.transition('cat-3', '{"legs": 2}') IS NOT NULL AS fixed;
SELECT code, message FROM pg_temp.try($$SELECT ws.add_constraint('cat_animal', 'walks', '$.legs >= 2')$$);
-- not_valid: only later changes are checked
SELECT ws.add_constraint('cat_animal', 'has_name', 'exists($.name)', not_valid => true);
SELECT name, predicate FROM ws.constraints WHERE kind = 'cat_animal' ORDER BY name;
SELECT code, message FROM pg_temp.try($$SELECT ws.transition('cat-1', '{"legs": 3}')$$);
SELECT entity_id, version FROM ws.transition('cat-1', '{"legs": 3, "name": "tripod"}');
-- dropping it lets the change through
SELECT ws.drop_constraint('cat_animal', 'has_name');
SELECT entity_id, version FROM ws.transition('cat-2', '{"legs": 4}');
SELECT * FROM pg_temp.try($$SELECT ws.drop_constraint('cat_animal', 'has_name')$$);
SELECT * FROM pg_temp.try($$SELECT ws.drop_constraint('cat_nokind', 'has_name')$$);
SELECT name FROM ws.constraints WHERE kind = 'cat_animal' ORDER BY name;

------------------------------------------------------------------------
-- a module that requires a registered event schema for every event type
-- it writes: transitions and creations of other types are WS422
------------------------------------------------------------------------

SELECT ws.register_module('cat_strict', 1, require_event_schemas => true);
SELECT name, api_version, require_event_schemas FROM ws.modules WHERE name LIKE 'cat_%' ORDER BY name;
SELECT ws.define_kind('cat_cage', 'cat_strict');
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('cage-1', 'cat_cage', 'cat_strict', '{"size": 1}')$$);
SELECT ws.register_event_schema('cat_strict', 'created', 1, ARRAY['$.size > 0']::jsonpath[]);
SELECT ws.register_event_schema('cat_strict', 'update', 1, '{}');
SELECT entity_id, version FROM ws.create_entity('cage-1', 'cat_cage', 'cat_strict', '{"size": 1}');
SELECT entity_id, version FROM ws.transition('cage-1', '{"size": 2}');
SELECT code, message, hint FROM pg_temp.try($$SELECT ws.transition('cage-1', '{"size": 3}', event_type => 'resized')$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.publish('cat_strict', 'resized', '{}')$$);
-- registering again without the requirement turns it off
SELECT ws.register_module('cat_strict', 1);
SELECT entity_id, version FROM ws.transition('cage-1', '{"size": 3}', event_type => 'resized');
SELECT event_type, version, schema_version FROM ws.events WHERE entity_id = 'cage-1' ORDER BY version;

------------------------------------------------------------------------
-- snapshots can be deleted by id
------------------------------------------------------------------------

SELECT ws.create_snapshot('cat one') AS snap1 \gset
SELECT ws.create_snapshot('cat two') AS snap2 \gset
SELECT ws.delete_snapshot(:snap1);
SELECT label FROM ws.snapshots WHERE id IN (:snap1, :snap2) ORDER BY id;
SELECT count(*) AS rows_left FROM ws.snapshot_entities WHERE snapshot_id = :snap1;
SELECT code, regexp_replace(message, '[0-9]+', 'N') AS message, hint
FROM pg_temp.try(format('SELECT ws.delete_snapshot(%s)', :snap1));
SELECT ws.delete_snapshot(:snap2);
SELECT code, message, hint FROM pg_temp.try('SELECT ws.restore_snapshot(987654321)');
