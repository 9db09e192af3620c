/*
 * worldstate 1.0 -> 1.1.
 *
 * 1.0 is released; every schema change since lives here, and a new
 * database reaches 1.1 by the same path (CREATE EXTENSION worldstate runs
 * worldstate--1.0.sql, then this file).  test/t/020_upgrade.pl restores a
 * 1.0 database with data, updates it and checks its world is unchanged.
 *
 * Sections: events (actor), modules and privileges, constraints, the
 * transition protocol, queries and time travel, snapshots, the event bus,
 * session and cache state, broadcasts, monitoring.
 */

\echo Use "ALTER EXTENSION worldstate UPDATE TO '1.1'" to load this file. \quit

------------------------------------------------------------------------
-- Events: actor and meta; the transition protocol; queries and time
-- travel; progress of long operations
------------------------------------------------------------------------



------------------------------------------------------------------------
-- Modules, privileges, kinds, constraints; lifecycle
------------------------------------------------------------------------

-- Two tiers of module roles.  A grant makes a role a writer of the module
-- (change its entities, publish its events) or, with admin, also its admin
-- (define its kinds, constraints and event schemas).  Grants of 1.0 become
-- writer grants: a ws_admin makes admins again with
-- ws.grant_module(module, role, admin => true).
ALTER TABLE ws.module_grants ADD COLUMN admin boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN ws.module_grants.admin IS
'true: the role is an admin of the module (kinds, constraints, event schemas); false: a writer (entities, publish)';

-- A module may require a registered event schema for every event type it
-- writes (transitions and publishes alike).
ALTER TABLE ws.modules ADD COLUMN require_event_schemas boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN ws.modules.require_event_schemas IS
'true: every event of the module (transition or publish) needs a registered event schema for its type (WS422 otherwise)';

-- STRICT functions returned NULL and did nothing when an argument was
-- NULL; these raise 22023 naming the argument.
DROP FUNCTION ws.register_module(text, int);
CREATE FUNCTION ws.register_module(name text, api_version int,
                                   require_event_schemas boolean DEFAULT false) RETURNS void
AS 'MODULE_PATHNAME', 'module_register'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.register_module(text, int, boolean) IS
'registers a module, or updates its api_version and whether every event type it writes needs a registered event schema (ws_admin)';
REVOKE ALL ON FUNCTION ws.register_module(text, int, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.register_module(text, int, boolean) TO ws_writer;

DROP FUNCTION ws.grant_module(text, name);
CREATE FUNCTION ws.grant_module(module text, role name, admin boolean DEFAULT false) RETURNS void
AS 'MODULE_PATHNAME', 'module_grant'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.grant_module(text, name, boolean) IS
'makes a role (and its members) a writer of the module, or with admin => true its admin; granting again sets the tier (ws_admin)';
REVOKE ALL ON FUNCTION ws.grant_module(text, name, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.grant_module(text, name, boolean) TO ws_writer;

CREATE FUNCTION ws.revoke_module(module text, role name) RETURNS void
AS 'MODULE_PATHNAME', 'module_revoke'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.revoke_module(text, name) IS
'takes the role''s grant of the module away, writer or admin (ws_admin)';
REVOKE ALL ON FUNCTION ws.revoke_module(text, name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.revoke_module(text, name) TO ws_writer;

ALTER FUNCTION ws.define_kind(text, text, text, text[]) CALLED ON NULL INPUT;
COMMENT ON FUNCTION ws.define_kind(text, text, text, text[]) IS
'defines or redefines a kind: owning module, conflict policy (lww, merge, manual), counter fields (admin of the module)';

DROP FUNCTION ws.add_constraint(text, text, jsonpath);
CREATE FUNCTION ws.add_constraint(kind text, name text, predicate jsonpath,
                                  not_valid boolean DEFAULT false) RETURNS void
AS 'MODULE_PATHNAME', 'constraint_add'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.add_constraint(text, text, jsonpath, boolean) IS
'adds or replaces a jsonpath predicate every state of the kind must satisfy; existing entities must satisfy it unless not_valid (admin of the module)';
REVOKE ALL ON FUNCTION ws.add_constraint(text, text, jsonpath, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.add_constraint(text, text, jsonpath, boolean) TO ws_writer;

CREATE FUNCTION ws.drop_constraint(kind text, name text) RETURNS void
AS 'MODULE_PATHNAME', 'constraint_drop'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.drop_constraint(text, text) IS
'drops a constraint of a kind (admin of the module)';
REVOKE ALL ON FUNCTION ws.drop_constraint(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.drop_constraint(text, text) TO ws_writer;

ALTER FUNCTION ws.archive_events(ws.hlc) CALLED ON NULL INPUT;
-- ws_admin only, checked by the function itself so that a writer is told why
GRANT EXECUTE ON FUNCTION ws.archive_events(ws.hlc) TO ws_writer;

CREATE FUNCTION ws.delete_snapshot(snapshot_id bigint) RETURNS void
AS 'MODULE_PATHNAME', 'snapshot_delete'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.delete_snapshot(bigint) IS
'deletes a snapshot, unless it is the last one that recovery from archived events needs (ws_admin)';
REVOKE ALL ON FUNCTION ws.delete_snapshot(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.delete_snapshot(bigint) TO ws_writer;


------------------------------------------------------------------------
-- Caller SQL, snapshots, session state, resource bounds
------------------------------------------------------------------------



------------------------------------------------------------------------
-- Broadcasts: authenticated messages, rejections
------------------------------------------------------------------------



------------------------------------------------------------------------
-- Grants and comments of the objects above live with them.
------------------------------------------------------------------------
