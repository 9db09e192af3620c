/*
 * worldstate 1.1 install script: what CREATE EXTENSION worldstate runs.
 *
 * A database made by 1.0 reaches the same catalog through
 * worldstate--1.0--1.1.sql (ALTER EXTENSION worldstate UPDATE);
 * test/t/022_install_paths.pl compares the two.  Every schema change of a
 * later version goes into this script and into the upgrade script of that
 * version.
 *
 * Sections, by feature, each with its grants and comments:
 *   setup check and roles
 *   types: ws.hlc, ws.vclock, JSON merge patch
 *   the node clock
 *   modules, kinds and constraints
 *   entities and the transition protocol
 *   time travel
 *   broadcasts
 *   event schemas and the bus
 *   definitions as a document
 *   session and derived state
 *   snapshots and operations (recovery, verification, archival)
 *   several nodes: the peers of this node
 *   monitoring
 *   roles and grants: the schema and the role hierarchy
 *
 * Modules come before entities, whose kind and module are foreign keys;
 * the roles are created first so that each section can grant its objects.
 *
 * Tables and views are for ws_reader to read; only the functions of this
 * schema write them, as their owner, after checking the caller's grants.
 */

\echo Use "CREATE EXTENSION worldstate" to load this file. \quit

------------------------------------------------------------------------
-- Setup check and roles
------------------------------------------------------------------------

-- Fail early, naming the setting, when the server is not configured for
-- worldstate.
CREATE FUNCTION ws._check_setup() RETURNS void
AS 'MODULE_PATHNAME', 'ws_check_setup'
LANGUAGE C STRICT;

SELECT ws._check_setup();

COMMENT ON FUNCTION ws._check_setup() IS
'raises an error naming the setting to change unless worldstate is preloaded and wal_level is logical';
REVOKE ALL ON FUNCTION ws._check_setup() FROM PUBLIC;

-- Roles are cluster-wide, so they are created only when missing and
-- survive DROP EXTENSION.  ws_admin is a ws_writer, a ws_writer is a
-- ws_reader (see the last section).
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ws_reader', 'ws_writer', 'ws_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;

COMMENT ON SCHEMA ws IS
'worldstate: entities, their event log, time travel, the event bus, snapshots; written only through the functions of this schema';

------------------------------------------------------------------------
-- Types: ws.hlc, ws.vclock, JSON merge patch.  The types and their pure
-- functions are for everyone (PUBLIC keeps EXECUTE).
------------------------------------------------------------------------

--
-- ws.hlc: hybrid logical clock timestamp, see src/hlc.c
--

CREATE TYPE ws.hlc;

CREATE FUNCTION ws.hlc_in(cstring) RETURNS ws.hlc
AS 'MODULE_PATHNAME', 'hlc_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.hlc_out(ws.hlc) RETURNS cstring
AS 'MODULE_PATHNAME', 'hlc_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.hlc_recv(internal) RETURNS ws.hlc
AS 'MODULE_PATHNAME', 'hlc_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.hlc_send(ws.hlc) RETURNS bytea
AS 'MODULE_PATHNAME', 'hlc_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE ws.hlc (
    INPUT = ws.hlc_in,
    OUTPUT = ws.hlc_out,
    RECEIVE = ws.hlc_recv,
    SEND = ws.hlc_send,
    INTERNALLENGTH = 16,
    ALIGNMENT = double,
    STORAGE = plain,
    -- the string category (as citext): string literals and NULL passed
    -- where a ws.hlc and a timestamptz overload both fit resolve to ws.hlc
    CATEGORY = 'S'
);

COMMENT ON TYPE ws.hlc IS
'hybrid logical clock timestamp: wall time (microseconds, UTC), logical counter, node id; text form 2026-01-15T10:00:00.123456Z/5@3';
COMMENT ON FUNCTION ws.hlc_in(cstring) IS 'text input of ws.hlc';
COMMENT ON FUNCTION ws.hlc_out(ws.hlc) IS 'text output of ws.hlc';
COMMENT ON FUNCTION ws.hlc_recv(internal) IS 'binary input of ws.hlc';
COMMENT ON FUNCTION ws.hlc_send(ws.hlc) IS 'binary output of ws.hlc';

-- constructor and accessors

CREATE FUNCTION ws.hlc(wall timestamptz, counter int DEFAULT 0, node int DEFAULT 0)
RETURNS ws.hlc
AS 'MODULE_PATHNAME', 'hlc_make'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.hlc_wall(ws.hlc) RETURNS timestamptz
AS 'MODULE_PATHNAME', 'hlc_wall'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.hlc_counter(ws.hlc) RETURNS int
AS 'MODULE_PATHNAME', 'hlc_counter'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.hlc_node(ws.hlc) RETURNS int
AS 'MODULE_PATHNAME', 'hlc_node'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION ws.hlc(timestamptz, int, int) IS 'builds an hlc from a wall time, a logical counter and a node id';
COMMENT ON FUNCTION ws.hlc_wall(ws.hlc) IS 'wall time of an hlc';
COMMENT ON FUNCTION ws.hlc_counter(ws.hlc) IS 'logical counter of an hlc';
COMMENT ON FUNCTION ws.hlc_node(ws.hlc) IS 'node id of an hlc';

CREATE CAST (ws.hlc AS timestamptz) WITH FUNCTION ws.hlc_wall(ws.hlc);

COMMENT ON CAST (ws.hlc AS timestamptz) IS 'the wall time of an hlc (explicit only)';

-- the pure HLC rules (Kulkarni et al. 2014): ws.hlc_tick, the send (local
-- event) rule, named like ws.vclock_tick; ws.hlc_merge, the receive rule.
-- ws.hlc_send(prev, wall, node) is ws.hlc_tick's name in 1.0, kept as an
-- alias.

CREATE FUNCTION ws.hlc_tick(prev ws.hlc, wall timestamptz, node int) RETURNS ws.hlc
AS 'MODULE_PATHNAME', 'hlc_tick'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.hlc_send(prev ws.hlc, wall timestamptz, node int) RETURNS ws.hlc
AS 'MODULE_PATHNAME', 'hlc_tick'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.hlc_merge(local ws.hlc, remote ws.hlc, wall timestamptz, node int) RETURNS ws.hlc
AS 'MODULE_PATHNAME', 'hlc_merge'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION ws.hlc_tick(ws.hlc, timestamptz, int) IS
'HLC send (local event) rule: the timestamp that follows prev for a local event when the physical clock reads wall';
COMMENT ON FUNCTION ws.hlc_send(ws.hlc, timestamptz, int) IS
'alias of ws.hlc_tick (its name in worldstate 1.0): the HLC send (local event) rule';
COMMENT ON FUNCTION ws.hlc_merge(ws.hlc, ws.hlc, timestamptz, int) IS
'HLC receive rule: the timestamp after local has received remote when the physical clock reads wall';

-- comparison

CREATE FUNCTION ws.hlc_eq(ws.hlc, ws.hlc) RETURNS bool
AS 'MODULE_PATHNAME', 'hlc_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ws.hlc_ne(ws.hlc, ws.hlc) RETURNS bool
AS 'MODULE_PATHNAME', 'hlc_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ws.hlc_lt(ws.hlc, ws.hlc) RETURNS bool
AS 'MODULE_PATHNAME', 'hlc_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ws.hlc_le(ws.hlc, ws.hlc) RETURNS bool
AS 'MODULE_PATHNAME', 'hlc_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ws.hlc_gt(ws.hlc, ws.hlc) RETURNS bool
AS 'MODULE_PATHNAME', 'hlc_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ws.hlc_ge(ws.hlc, ws.hlc) RETURNS bool
AS 'MODULE_PATHNAME', 'hlc_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ws.hlc_cmp(ws.hlc, ws.hlc) RETURNS int
AS 'MODULE_PATHNAME', 'hlc_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ws.hlc_sortsupport(internal) RETURNS void
AS 'MODULE_PATHNAME', 'hlc_sortsupport' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ws.hlc_hash(ws.hlc) RETURNS int
AS 'MODULE_PATHNAME', 'hlc_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ws.hlc_hash_extended(ws.hlc, bigint) RETURNS bigint
AS 'MODULE_PATHNAME', 'hlc_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION ws.hlc_larger(ws.hlc, ws.hlc) RETURNS ws.hlc
AS 'MODULE_PATHNAME', 'hlc_larger' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ws.hlc_smaller(ws.hlc, ws.hlc) RETURNS ws.hlc
AS 'MODULE_PATHNAME', 'hlc_smaller' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION ws.hlc_eq(ws.hlc, ws.hlc) IS 'implementation of = for hlc';
COMMENT ON FUNCTION ws.hlc_ne(ws.hlc, ws.hlc) IS 'implementation of <> for hlc';
COMMENT ON FUNCTION ws.hlc_lt(ws.hlc, ws.hlc) IS 'implementation of < for hlc';
COMMENT ON FUNCTION ws.hlc_le(ws.hlc, ws.hlc) IS 'implementation of <= for hlc';
COMMENT ON FUNCTION ws.hlc_gt(ws.hlc, ws.hlc) IS 'implementation of > for hlc';
COMMENT ON FUNCTION ws.hlc_ge(ws.hlc, ws.hlc) IS 'implementation of >= for hlc';
COMMENT ON FUNCTION ws.hlc_cmp(ws.hlc, ws.hlc) IS 'three-way comparison of hlc in (wall, counter, node) order';
COMMENT ON FUNCTION ws.hlc_sortsupport(internal) IS 'sort support for hlc';
COMMENT ON FUNCTION ws.hlc_hash(ws.hlc) IS 'hash of an hlc';
COMMENT ON FUNCTION ws.hlc_hash_extended(ws.hlc, bigint) IS 'seeded 64-bit hash of an hlc';
COMMENT ON FUNCTION ws.hlc_larger(ws.hlc, ws.hlc) IS 'the greater of two hlc values';
COMMENT ON FUNCTION ws.hlc_smaller(ws.hlc, ws.hlc) IS 'the lesser of two hlc values';

CREATE OPERATOR ws.= (
    LEFTARG = ws.hlc, RIGHTARG = ws.hlc, FUNCTION = ws.hlc_eq,
    COMMUTATOR = OPERATOR(ws.=), NEGATOR = OPERATOR(ws.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR ws.<> (
    LEFTARG = ws.hlc, RIGHTARG = ws.hlc, FUNCTION = ws.hlc_ne,
    COMMUTATOR = OPERATOR(ws.<>), NEGATOR = OPERATOR(ws.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR ws.< (
    LEFTARG = ws.hlc, RIGHTARG = ws.hlc, FUNCTION = ws.hlc_lt,
    COMMUTATOR = OPERATOR(ws.>), NEGATOR = OPERATOR(ws.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR ws.<= (
    LEFTARG = ws.hlc, RIGHTARG = ws.hlc, FUNCTION = ws.hlc_le,
    COMMUTATOR = OPERATOR(ws.>=), NEGATOR = OPERATOR(ws.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR ws.> (
    LEFTARG = ws.hlc, RIGHTARG = ws.hlc, FUNCTION = ws.hlc_gt,
    COMMUTATOR = OPERATOR(ws.<), NEGATOR = OPERATOR(ws.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR ws.>= (
    LEFTARG = ws.hlc, RIGHTARG = ws.hlc, FUNCTION = ws.hlc_ge,
    COMMUTATOR = OPERATOR(ws.<=), NEGATOR = OPERATOR(ws.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);

COMMENT ON OPERATOR ws.= (ws.hlc, ws.hlc) IS 'equal';
COMMENT ON OPERATOR ws.<> (ws.hlc, ws.hlc) IS 'not equal';
COMMENT ON OPERATOR ws.< (ws.hlc, ws.hlc) IS 'less than';
COMMENT ON OPERATOR ws.<= (ws.hlc, ws.hlc) IS 'less than or equal';
COMMENT ON OPERATOR ws.> (ws.hlc, ws.hlc) IS 'greater than';
COMMENT ON OPERATOR ws.>= (ws.hlc, ws.hlc) IS 'greater than or equal';

-- operator classes

CREATE OPERATOR CLASS ws.hlc_ops
DEFAULT FOR TYPE ws.hlc USING btree AS
    OPERATOR 1 ws.<,
    OPERATOR 2 ws.<=,
    OPERATOR 3 ws.=,
    OPERATOR 4 ws.>=,
    OPERATOR 5 ws.>,
    FUNCTION 1 ws.hlc_cmp(ws.hlc, ws.hlc),
    FUNCTION 2 ws.hlc_sortsupport(internal);

CREATE OPERATOR CLASS ws.hlc_hash_ops
DEFAULT FOR TYPE ws.hlc USING hash AS
    OPERATOR 1 ws.=,
    FUNCTION 1 ws.hlc_hash(ws.hlc),
    FUNCTION 2 ws.hlc_hash_extended(ws.hlc, bigint);

CREATE OPERATOR CLASS ws.hlc_minmax_ops
DEFAULT FOR TYPE ws.hlc USING brin AS
    OPERATOR 1 ws.<,
    OPERATOR 2 ws.<=,
    OPERATOR 3 ws.=,
    OPERATOR 4 ws.>=,
    OPERATOR 5 ws.>,
    FUNCTION 1 brin_minmax_opcinfo(internal),
    FUNCTION 2 brin_minmax_add_value(internal, internal, internal, internal),
    FUNCTION 3 brin_minmax_consistent(internal, internal, internal),
    FUNCTION 4 brin_minmax_union(internal, internal, internal);

COMMENT ON OPERATOR CLASS ws.hlc_ops USING btree IS 'default btree operator class for hlc';
COMMENT ON OPERATOR CLASS ws.hlc_hash_ops USING hash IS 'default hash operator class for hlc';
COMMENT ON OPERATOR CLASS ws.hlc_minmax_ops USING brin IS 'BRIN minmax operator class for hlc';

-- aggregates

CREATE AGGREGATE ws.min(ws.hlc) (
    SFUNC = ws.hlc_smaller,
    STYPE = ws.hlc,
    COMBINEFUNC = ws.hlc_smaller,
    SORTOP = OPERATOR(ws.<),
    PARALLEL = SAFE
);

CREATE AGGREGATE ws.max(ws.hlc) (
    SFUNC = ws.hlc_larger,
    STYPE = ws.hlc,
    COMBINEFUNC = ws.hlc_larger,
    SORTOP = OPERATOR(ws.>),
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE ws.min(ws.hlc) IS 'least hlc';
COMMENT ON AGGREGATE ws.max(ws.hlc) IS 'greatest hlc';

--
-- ws.vclock: vector clock (node -> counter), see src/vclock.c
--
-- Stored canonically (sorted by node, no zero counters), so "=" is a byte
-- comparison.  Every function here is pure and callable by PUBLIC.
--

CREATE TYPE ws.vclock;

CREATE FUNCTION ws.vclock_in(cstring)
	RETURNS ws.vclock
	AS 'MODULE_PATHNAME', 'vclock_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.vclock_out(ws.vclock)
	RETURNS cstring
	AS 'MODULE_PATHNAME', 'vclock_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.vclock_recv(internal)
	RETURNS ws.vclock
	AS 'MODULE_PATHNAME', 'vclock_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.vclock_send(ws.vclock)
	RETURNS bytea
	AS 'MODULE_PATHNAME', 'vclock_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE ws.vclock (
	INPUT = ws.vclock_in,
	OUTPUT = ws.vclock_out,
	RECEIVE = ws.vclock_recv,
	SEND = ws.vclock_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = extended,
	ALIGNMENT = double
);

COMMENT ON TYPE ws.vclock IS
	'vector clock: a map from node number (0..2147483647) to event counter, written {node:counter,...}';
COMMENT ON FUNCTION ws.vclock_in(cstring) IS
	'input function of ws.vclock: parses {node:counter,...}, sorting entries and dropping zero counters';
COMMENT ON FUNCTION ws.vclock_out(ws.vclock) IS
	'output function of ws.vclock: canonical text {node:counter,...} sorted by node';
COMMENT ON FUNCTION ws.vclock_recv(internal) IS
	'binary receive function of ws.vclock';
COMMENT ON FUNCTION ws.vclock_send(ws.vclock) IS
	'binary send function of ws.vclock: int4 entry count, then int4 node and int8 counter per entry';

CREATE FUNCTION ws.vclock_tick(v ws.vclock, node int)
	RETURNS ws.vclock
	AS 'MODULE_PATHNAME', 'vclock_tick'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.vclock_get(v ws.vclock, node int)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'vclock_get'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.vclock_merge(a ws.vclock, b ws.vclock)
	RETURNS ws.vclock
	AS 'MODULE_PATHNAME', 'vclock_merge'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.vclock_relation(a ws.vclock, b ws.vclock)
	RETURNS text
	AS 'MODULE_PATHNAME', 'vclock_relation'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.vclock_eq(ws.vclock, ws.vclock)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'vclock_eq'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ws.vclock_ne(ws.vclock, ws.vclock)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'vclock_ne'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION ws.vclock_tick(ws.vclock, int) IS
	'v with the counter of node incremented by one (a local event on node)';
COMMENT ON FUNCTION ws.vclock_get(ws.vclock, int) IS
	'counter of node in v, 0 when v has no entry for node';
COMMENT ON FUNCTION ws.vclock_merge(ws.vclock, ws.vclock) IS
	'pointwise maximum of two vector clocks (commutative, associative, idempotent)';
COMMENT ON FUNCTION ws.vclock_relation(ws.vclock, ws.vclock) IS
	'causal relation of a to b: equal, before (a happened before b), after, or concurrent';
COMMENT ON FUNCTION ws.vclock_eq(ws.vclock, ws.vclock) IS
	'implementation of = for ws.vclock';
COMMENT ON FUNCTION ws.vclock_ne(ws.vclock, ws.vclock) IS
	'implementation of <> for ws.vclock';

CREATE OPERATOR ws.= (
	LEFTARG = ws.vclock,
	RIGHTARG = ws.vclock,
	FUNCTION = ws.vclock_eq,
	COMMUTATOR = OPERATOR(ws.=),
	NEGATOR = OPERATOR(ws.<>),
	RESTRICT = eqsel,
	JOIN = eqjoinsel
);

CREATE OPERATOR ws.<> (
	LEFTARG = ws.vclock,
	RIGHTARG = ws.vclock,
	FUNCTION = ws.vclock_ne,
	COMMUTATOR = OPERATOR(ws.<>),
	NEGATOR = OPERATOR(ws.=),
	RESTRICT = neqsel,
	JOIN = neqjoinsel
);

COMMENT ON OPERATOR ws.= (ws.vclock, ws.vclock) IS
	'equal: the same counter for every node';
COMMENT ON OPERATOR ws.<> (ws.vclock, ws.vclock) IS
	'not equal: some node has different counters';

CREATE AGGREGATE ws.vclock_merge(ws.vclock) (
	SFUNC = ws.vclock_merge,
	STYPE = ws.vclock,
	COMBINEFUNC = ws.vclock_merge,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE ws.vclock_merge(ws.vclock) IS
	'pointwise maximum of all non-null input vector clocks; null when there are none';

--
-- JSON merge patch (RFC 7396), see src/merge_patch.c
--

-- Not strict: a NULL target is an absent document, a NULL patch changes
-- nothing (returns the target); the JSON patch 'null' replaces the
-- document with JSON null, as the RFC says.
CREATE FUNCTION ws.merge_patch(target jsonb, patch jsonb)
	RETURNS jsonb
	AS 'MODULE_PATHNAME', 'merge_patch'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION ws.merge_patch(jsonb, jsonb) IS
	'apply an RFC 7396 JSON merge patch: null removes a member, an object merges recursively, anything else replaces; a NULL patch returns the target unchanged';

-- Internal: the merge with counter fields that ws.transition uses, for
-- tests.  result is the new document; effective is the plain merge patch
-- that gives the same result (each counter delta replaced by the value it
-- produced).
CREATE FUNCTION ws._merge_patch_counters(target jsonb, patch jsonb,
										 counters text[],
										 OUT result jsonb,
										 OUT effective jsonb)
	AS 'MODULE_PATHNAME', 'merge_patch_counters'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION ws._merge_patch_counters(jsonb, jsonb, text[]) IS
	'internal, for tests: merge patch where the named top-level fields take numeric deltas; also returns the equivalent plain merge patch';
REVOKE ALL ON FUNCTION ws._merge_patch_counters(jsonb, jsonb, text[]) FROM PUBLIC;

------------------------------------------------------------------------
-- The node clock
------------------------------------------------------------------------

CREATE FUNCTION ws.hlc_now() RETURNS ws.hlc
AS 'MODULE_PATHNAME', 'hlc_now'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- not STRICT: a NULL remote raises 22023 naming the argument
CREATE FUNCTION ws.hlc_receive(remote ws.hlc) RETURNS ws.hlc
AS 'MODULE_PATHNAME', 'hlc_receive'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION ws.hlc_now() IS
'next value of this node''s hybrid logical clock: above every value issued or received before, across backends, restarts and crashes';
COMMENT ON FUNCTION ws.hlc_receive(ws.hlc) IS
'merges a remote hlc into this node''s clock by the receive rule and returns the new local value; refuses remote times ahead by more than worldstate.max_clock_skew (WS508)';

-- ws.hlc_now is for everyone; receiving a remote time moves this node's
-- clock and is for writers.
REVOKE ALL ON FUNCTION ws.hlc_receive(ws.hlc) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.hlc_receive(ws.hlc) TO ws_writer;

------------------------------------------------------------------------
-- Modules, kinds and constraints.  A module owns kinds, and a kind owns
-- its entities; a grant makes a role a writer of a module (change its
-- entities, publish its events) or also its admin (define its kinds,
-- constraints and event schemas).  The functions check the tier
-- themselves, so writers are told why they may not.
------------------------------------------------------------------------

CREATE TABLE ws.modules (
    name          text PRIMARY KEY CHECK (name <> '' AND length(name) <= 63),
    api_version   int NOT NULL CHECK (api_version > 0),
    registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    require_event_schemas boolean NOT NULL DEFAULT false
);

-- Grants name roles by regrole: a dropped role's grant does not pass to a
-- new role of the same name, and dumps still carry role names.
CREATE TABLE ws.module_grants (
    module text NOT NULL REFERENCES ws.modules (name) ON DELETE CASCADE,
    role   regrole NOT NULL,
    admin  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (module, role)
);

CREATE TABLE ws.kinds (
    kind       text PRIMARY KEY CHECK (kind <> '' AND length(kind) <= 63),
    module     text NOT NULL REFERENCES ws.modules (name),
    policy     text NOT NULL DEFAULT 'lww' CHECK (policy IN ('lww', 'merge', 'manual')),
    counters   text[] NOT NULL DEFAULT '{}',
    defined_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE ws.constraints (
    kind      text NOT NULL REFERENCES ws.kinds (kind) ON DELETE CASCADE,
    name      text NOT NULL CHECK (name <> ''),
    predicate jsonpath NOT NULL,
    PRIMARY KEY (kind, name)
);

-- Each backend caches kinds, constraints, grants and event schemas
-- (src/kindcache.c); any change to these tables invalidates the caches
-- when it commits, also under session_replication_role = replica.
CREATE FUNCTION ws.catalog_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'catalog_changed'
LANGUAGE C;
CREATE TRIGGER modules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ws.modules
    FOR EACH STATEMENT EXECUTE FUNCTION ws.catalog_changed();
CREATE TRIGGER module_grants_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ws.module_grants
    FOR EACH STATEMENT EXECUTE FUNCTION ws.catalog_changed();
CREATE TRIGGER kinds_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ws.kinds
    FOR EACH STATEMENT EXECUTE FUNCTION ws.catalog_changed();
CREATE TRIGGER constraints_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ws.constraints
    FOR EACH STATEMENT EXECUTE FUNCTION ws.catalog_changed();
ALTER TABLE ws.modules ENABLE ALWAYS TRIGGER modules_changed;
ALTER TABLE ws.module_grants ENABLE ALWAYS TRIGGER module_grants_changed;
ALTER TABLE ws.kinds ENABLE ALWAYS TRIGGER kinds_changed;
ALTER TABLE ws.constraints ENABLE ALWAYS TRIGGER constraints_changed;

SELECT pg_catalog.pg_extension_config_dump('ws.modules', '');
SELECT pg_catalog.pg_extension_config_dump('ws.module_grants', '');
SELECT pg_catalog.pg_extension_config_dump('ws.kinds', '');
SELECT pg_catalog.pg_extension_config_dump('ws.constraints', '');

COMMENT ON TABLE ws.modules IS 'registered modules; a module owns its kinds, entities and events';
COMMENT ON TABLE ws.module_grants IS 'roles allowed to change a module''s state (see ws.grant_module)';
COMMENT ON TABLE ws.kinds IS 'entity kinds: owning module, conflict policy, counter fields';
COMMENT ON TABLE ws.constraints IS 'jsonpath predicates every state of a kind must satisfy';
COMMENT ON COLUMN ws.modules.require_event_schemas IS
'true: every event of the module (transition or publish) needs a registered event schema for its type (WS422 otherwise)';
COMMENT ON COLUMN ws.module_grants.admin IS
'true: the role is an admin of the module (kinds, constraints, event schemas); false: a writer (entities, publish)';
COMMENT ON COLUMN ws.modules.name IS 'module name (1 to 63 characters)';
COMMENT ON COLUMN ws.modules.api_version IS 'API version the module declared when it registered (positive)';
COMMENT ON COLUMN ws.modules.registered_at IS 'when the module was first registered';
COMMENT ON COLUMN ws.module_grants.module IS 'the module';
COMMENT ON COLUMN ws.module_grants.role IS 'the role granted (and its members); a dropped role''s grant does not pass to a new role of the same name';
COMMENT ON COLUMN ws.kinds.kind IS 'kind name (1 to 63 characters)';
COMMENT ON COLUMN ws.kinds.module IS 'module that owns the kind and its entities';
COMMENT ON COLUMN ws.kinds.policy IS 'conflict policy: lww (last writer wins), merge or manual';
COMMENT ON COLUMN ws.kinds.counters IS 'top-level state fields whose patches are numeric deltas';
COMMENT ON COLUMN ws.kinds.defined_at IS 'when the kind was defined';
COMMENT ON COLUMN ws.constraints.kind IS 'the kind whose states the constraint checks';
COMMENT ON COLUMN ws.constraints.name IS 'constraint name, unique per kind; WS422 errors name it';
COMMENT ON COLUMN ws.constraints.predicate IS 'jsonpath predicate every state of the kind must satisfy';
COMMENT ON FUNCTION ws.catalog_changed() IS 'trigger invalidating the cached kinds, constraints and grants of every backend at commit';

REVOKE ALL ON ws.modules, ws.module_grants, ws.kinds, ws.constraints FROM PUBLIC;
GRANT SELECT ON ws.modules, ws.module_grants, ws.kinds, ws.constraints TO ws_reader;
REVOKE ALL ON FUNCTION ws.catalog_changed() FROM PUBLIC;

-- None of these is STRICT: a NULL argument raises 22023 naming it.
CREATE FUNCTION ws.register_module(name text, api_version int,
                                   require_event_schemas boolean DEFAULT false) RETURNS void
AS 'MODULE_PATHNAME', 'module_register'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.grant_module(module text, role name, admin boolean DEFAULT false) RETURNS void
AS 'MODULE_PATHNAME', 'module_grant'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.revoke_module(module text, role name) RETURNS void
AS 'MODULE_PATHNAME', 'module_revoke'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.define_kind(kind text, module text, policy text DEFAULT 'lww',
                               counters text[] DEFAULT '{}') RETURNS void
AS 'MODULE_PATHNAME', 'kind_define'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.add_constraint(kind text, name text, predicate jsonpath,
                                  not_valid boolean DEFAULT false) RETURNS void
AS 'MODULE_PATHNAME', 'constraint_add'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.drop_constraint(kind text, name text) RETURNS void
AS 'MODULE_PATHNAME', 'constraint_drop'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION ws.register_module(text, int, boolean) IS
'registers a module, or updates its api_version and whether every event type it writes needs a registered event schema (ws_admin)';
COMMENT ON FUNCTION ws.grant_module(text, name, boolean) IS
'makes a role (and its members) a writer of the module, or with admin => true its admin; granting again sets the tier (ws_admin)';
COMMENT ON FUNCTION ws.revoke_module(text, name) IS
'takes the role''s grant of the module away, writer or admin (ws_admin)';
COMMENT ON FUNCTION ws.define_kind(text, text, text, text[]) IS
'defines or redefines a kind: owning module, conflict policy (lww, merge, manual), counter fields (admin of the module)';
COMMENT ON FUNCTION ws.add_constraint(text, text, jsonpath, boolean) IS
'adds or replaces a jsonpath predicate every state of the kind must satisfy; existing entities must satisfy it unless not_valid (admin of the module)';
COMMENT ON FUNCTION ws.drop_constraint(text, text) IS
'drops a constraint of a kind (admin of the module)';

-- granted to ws_writer; register_module, grant_module and revoke_module
-- then require ws_admin, the others an admin grant of the module
REVOKE ALL ON FUNCTION ws.register_module(text, int, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.grant_module(text, name, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.revoke_module(text, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.define_kind(text, text, text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.add_constraint(text, text, jsonpath, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.drop_constraint(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.register_module(text, int, boolean) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.grant_module(text, name, boolean) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.revoke_module(text, name) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.define_kind(text, text, text, text[]) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.add_constraint(text, text, jsonpath, boolean) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.drop_constraint(text, text) TO ws_writer;

------------------------------------------------------------------------
-- Entities and the transition protocol.  ws.entities holds the present,
-- ws.relationships the present graph, ws.events every change; the
-- functions below write all three in one protocol step, as the table
-- owner, after checking the calling role's module grant.
------------------------------------------------------------------------

-- The functions validate every row they write, so the tables written on
-- each change carry no CHECK constraints to re-evaluate.
CREATE TABLE ws.entities (
    entity_id   text PRIMARY KEY,
    kind        text NOT NULL REFERENCES ws.kinds (kind),
    module      text NOT NULL REFERENCES ws.modules (name),
    state       jsonb NOT NULL,
    version     bigint NOT NULL,
    hlc         ws.hlc NOT NULL,
    vclock      ws.vclock NOT NULL,
    created_hlc ws.hlc NOT NULL,
    retired     boolean NOT NULL DEFAULT false
);
CREATE INDEX entities_state_idx ON ws.entities USING gin (state jsonb_path_ops);

CREATE TABLE ws.relationships (
    from_id text NOT NULL REFERENCES ws.entities (entity_id),
    rel     text NOT NULL CHECK (rel <> ''),
    to_id   text NOT NULL REFERENCES ws.entities (entity_id),
    props   jsonb NOT NULL DEFAULT '{}',
    hlc     ws.hlc NOT NULL,
    PRIMARY KEY (from_id, rel, to_id)
);
CREATE INDEX relationships_to_idx ON ws.relationships (to_id);

-- The event log: one row per change, never updated or deleted.  `patch` is
-- the effective RFC 7396 merge patch (counter deltas resolved), so folding
-- an entity's patches in HLC order gives its state; `state` holds the
-- origin's full state after the event on the origin's keyframes (the first
-- version and every worldstate.keyframe_interval-th), for the output
-- plugin's include-state: readers take full states from ws.keyframes.
-- version is the origin's version; an entity's events are ordered by hlc,
-- unique per entity (events_entity_hlc_idx).  request_digest identifies
-- the request of an event whose event_id the client chose (the
-- idempotency key); it is NULL for ids the extension generated.  Events published on the bus are
-- rows of the same log without an entity: entity_id, version, kind and
-- vclock are NULL, the payload is in `patch` (see "Event schemas and the
-- bus").  actor is the calling role (current_user) by name, NULL for
-- events written by 1.0; caller_meta is the optional `meta` argument of
-- the call; meta holds the relationship of link and unlink events.
-- intent holds the counter deltas the request gave ({"field": delta}), which
-- a merge of concurrent changes sums; arrival is the local arrival order
-- (ws.events_arrival_seq: local events when written, remote ones when they
-- arrive), which ws.poll follows.
CREATE SEQUENCE ws.events_arrival_seq;
CREATE TABLE ws.events (
    event_id       uuid PRIMARY KEY,
    entity_id      text,
    version        bigint,
    hlc            ws.hlc NOT NULL,
    origin_node    int NOT NULL,
    module         text NOT NULL,
    kind           text,
    event_type     text NOT NULL,
    patch          jsonb NOT NULL,
    state          jsonb,
    meta           jsonb,
    handshake      text NOT NULL,
    causal_deps    uuid[],
    vclock         ws.vclock,
    schema_version int NOT NULL DEFAULT 1,
    request_digest text,
    txid           xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    recorded_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    actor          text,
    caller_meta    jsonb,
    intent         jsonb,
    arrival        bigint NOT NULL DEFAULT pg_catalog.nextval('ws.events_arrival_seq')
);
CREATE INDEX events_hlc_brin ON ws.events USING brin (hlc);
CREATE INDEX events_arrival_idx ON ws.events (arrival);

CREATE FUNCTION ws.events_immutable() RETURNS trigger
AS 'MODULE_PATHNAME', 'events_immutable'
LANGUAGE C;

CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON ws.events
    FOR EACH ROW EXECUTE FUNCTION ws.events_immutable();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON ws.events
    FOR EACH STATEMENT EXECUTE FUNCTION ws.events_immutable();
-- also under session_replication_role = replica
ALTER TABLE ws.events ENABLE ALWAYS TRIGGER events_no_update;
ALTER TABLE ws.events ENABLE ALWAYS TRIGGER events_no_truncate;

SELECT pg_catalog.pg_extension_config_dump('ws.entities', '');
SELECT pg_catalog.pg_extension_config_dump('ws.relationships', '');
SELECT pg_catalog.pg_extension_config_dump('ws.events', '');
SELECT pg_catalog.pg_extension_config_dump('ws.events_arrival_seq', '');

-- Keyframes: an entity's full state at some of its events, derived from
-- the log and rebuildable from it.  A row is the entity's canonical state
-- at the moment of its event with that hlc: the transition protocol
-- writes one at the first version and every
-- worldstate.keyframe_interval-th, and convergence adds one wherever the
-- canonical state differs from the fold of the stored patches.  Readers
-- fold from the last keyframe at or before a moment, then the patches of
-- the events after it in HLC order: a keyframe at an event always wins
-- over that event's patch.  version is the event's position in the
-- entity's history on this node (1 for the first), retired whether the
-- entity was retired then.
CREATE TABLE ws.keyframes (
    entity_id text NOT NULL,
    hlc       ws.hlc NOT NULL,
    version   bigint NOT NULL,
    state     jsonb NOT NULL,
    vclock    ws.vclock,
    retired   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (entity_id, hlc)
);
SELECT pg_catalog.pg_extension_config_dump('ws.keyframes', '');
-- The keyframes between a snapshot and a moment, for ws.entities_at from
-- the snapshot: one range of this index instead of a probe per entity.
CREATE INDEX keyframes_hlc_idx ON ws.keyframes (hlc);
COMMENT ON INDEX ws.keyframes_hlc_idx IS
'keyframes in HLC order: those between a snapshot and a moment (ws.entities_at)';
COMMENT ON TABLE ws.keyframes IS
'derived full states of entities at some of their events (the first, every worldstate.keyframe_interval-th, and where convergence places one); point queries fold from the last one at or before a moment';
COMMENT ON COLUMN ws.keyframes.entity_id IS 'the entity';
COMMENT ON COLUMN ws.keyframes.hlc IS 'HLC of the event the keyframe is at';
COMMENT ON COLUMN ws.keyframes.version IS 'position of that event in the entity''s history on this node (1 for the first)';
COMMENT ON COLUMN ws.keyframes.state IS 'the entity''s canonical state after that event';
COMMENT ON COLUMN ws.keyframes.vclock IS 'vector clock of the entity after that event';
COMMENT ON COLUMN ws.keyframes.retired IS 'true when the entity was retired at that event';
REVOKE ALL ON ws.keyframes FROM PUBLIC;
GRANT SELECT ON ws.keyframes TO ws_reader;

COMMENT ON TABLE ws.entities IS 'current state of every entity';
COMMENT ON TABLE ws.relationships IS 'the current relationship graph';
COMMENT ON TABLE ws.events IS 'immutable event log: one row per change of an entity';
COMMENT ON COLUMN ws.entities.entity_id IS 'entity id, chosen by the caller';
COMMENT ON COLUMN ws.entities.kind IS 'kind of the entity';
COMMENT ON COLUMN ws.entities.module IS 'module that owns the entity (the owner of its kind)';
COMMENT ON COLUMN ws.entities.state IS 'current state, a JSON document';
COMMENT ON COLUMN ws.entities.version IS 'number of events of the entity: 1 after creation, + 1 per change';
COMMENT ON COLUMN ws.entities.hlc IS 'HLC of the entity''s last event';
COMMENT ON COLUMN ws.entities.vclock IS 'vector clock of the entity''s last event';
COMMENT ON COLUMN ws.entities.created_hlc IS 'HLC of the entity''s creation';
COMMENT ON COLUMN ws.entities.retired IS 'true once retired (ws.retire_entity); later transitions are refused with WS410';
COMMENT ON COLUMN ws.relationships.from_id IS 'entity the edge starts from (its events record the edge)';
COMMENT ON COLUMN ws.relationships.rel IS 'relation name';
COMMENT ON COLUMN ws.relationships.to_id IS 'entity the edge points to';
COMMENT ON COLUMN ws.relationships.props IS 'properties of the edge, a JSON object';
COMMENT ON COLUMN ws.relationships.hlc IS 'HLC of the link event that last set the edge';
COMMENT ON COLUMN ws.events.actor IS
'role that made the event (current_user of the call), by name; NULL for events written by worldstate 1.0';
COMMENT ON COLUMN ws.events.caller_meta IS
'the meta argument of the call that made the event (a JSON object, e.g. correlation and causation ids), or NULL';
COMMENT ON COLUMN ws.events.meta IS
'details the protocol records: the relationship (rel, to, props) of link and unlink events';
COMMENT ON COLUMN ws.events.event_id IS 'event id: chosen by the caller (the idempotency key) or generated';
COMMENT ON COLUMN ws.events.entity_id IS 'the entity changed; NULL for events published on the bus';
COMMENT ON COLUMN ws.events.version IS 'the entity''s version after the event on its origin node; NULL for published events';
COMMENT ON COLUMN ws.events.hlc IS 'HLC of the event, unique on this node';
COMMENT ON COLUMN ws.events.origin_node IS 'node id (worldstate.node_id) of the node that made the event';
COMMENT ON COLUMN ws.events.module IS 'module of the entity, or the publishing module';
COMMENT ON COLUMN ws.events.kind IS 'kind of the entity; NULL for published events';
COMMENT ON COLUMN ws.events.event_type IS 'created, update (or the caller''s event type), retired, linked, unlinked, or a published event''s type';
COMMENT ON COLUMN ws.events.patch IS 'effective RFC 7396 merge patch (counter deltas resolved), or the payload of a published event';
COMMENT ON COLUMN ws.events.state IS 'the origin''s full state after the event at its keyframes (the first version and every worldstate.keyframe_interval-th), otherwise NULL; readers take states from ws.keyframes';
COMMENT ON COLUMN ws.events.handshake IS 'handshake of the call (worldstate.handshake)';
COMMENT ON COLUMN ws.events.causal_deps IS 'event ids the caller declared this event depends on, or NULL';
COMMENT ON COLUMN ws.events.vclock IS 'vector clock of the entity after the event; NULL for published events';
COMMENT ON COLUMN ws.events.schema_version IS 'version of the event schema the event was validated against';
COMMENT ON COLUMN ws.events.request_digest IS 'digest of the request of an event whose id the caller chose (a retry must match it); NULL for generated ids';
COMMENT ON COLUMN ws.events.txid IS 'id of the transaction that wrote the event';
COMMENT ON COLUMN ws.events.recorded_at IS 'time the writing transaction started';
COMMENT ON COLUMN ws.events.intent IS
'counter deltas the request gave, {"field": delta} (a create: its counter values); NULL when it gave none or for events written by worldstate 1.0';
COMMENT ON COLUMN ws.events.arrival IS
'local arrival order (ws.events_arrival_seq): when the event was written here or arrived from a peer; ws.poll follows it';
COMMENT ON SEQUENCE ws.events_arrival_seq IS 'arrival numbers of ws.events (ws.events.arrival)';
COMMENT ON INDEX ws.events_arrival_idx IS 'events in local arrival order: ws.poll';
COMMENT ON FUNCTION ws.events_immutable() IS 'trigger refusing UPDATE, DELETE and TRUNCATE on ws.events';

REVOKE ALL ON ws.entities, ws.relationships, ws.events FROM PUBLIC;
GRANT SELECT ON ws.entities, ws.relationships, ws.events TO ws_reader;
REVOKE ALL ON FUNCTION ws.events_immutable() FROM PUBLIC;

-- Every writing function takes a trailing `meta jsonb DEFAULT NULL` (a
-- JSON object of at most 4096 bytes), recorded with the event.
CREATE FUNCTION ws.create_entity(entity_id text, kind text, module text, state jsonb,
                                 handshake text DEFAULT NULL, event_id uuid DEFAULT NULL,
                                 meta jsonb DEFAULT NULL)
RETURNS ws.entities
AS 'MODULE_PATHNAME', 'entity_create'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.transition(entity_id text, patch jsonb, expected_version bigint DEFAULT NULL,
                              handshake text DEFAULT NULL, event_id uuid DEFAULT NULL,
                              event_type text DEFAULT 'update', causal_deps uuid[] DEFAULT NULL,
                              consistency text DEFAULT NULL, meta jsonb DEFAULT NULL)
RETURNS ws.entities
AS 'MODULE_PATHNAME', 'entity_transition'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.transition_many(updates jsonb) RETURNS SETOF ws.entities
AS 'MODULE_PATHNAME', 'entity_transition_many'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.retire_entity(entity_id text, expected_version bigint DEFAULT NULL,
                                 handshake text DEFAULT NULL, meta jsonb DEFAULT NULL)
RETURNS ws.entities
AS 'MODULE_PATHNAME', 'entity_retire'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.link(from_id text, rel text, to_id text, props jsonb DEFAULT '{}',
                        handshake text DEFAULT NULL, meta jsonb DEFAULT NULL)
RETURNS ws.relationships
AS 'MODULE_PATHNAME', 'entity_link'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.unlink(from_id text, rel text, to_id text, handshake text DEFAULT NULL,
                          meta jsonb DEFAULT NULL)
RETURNS ws.relationships
AS 'MODULE_PATHNAME', 'entity_unlink'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION ws.create_entity(text, text, text, jsonb, text, uuid, jsonb) IS
'creates an entity at version 1 (event type created); meta is recorded with the event';
COMMENT ON FUNCTION ws.transition(text, jsonb, bigint, text, uuid, text, uuid[], text, jsonb) IS
'applies an RFC 7396 merge patch to an entity through the transition protocol: handshake, lock, idempotency, expected version, patch, constraints, event, version + 1; meta is recorded with the event';
COMMENT ON FUNCTION ws.transition_many(jsonb) IS
'applies several transitions all-or-nothing, locking entities in entity id order; each update has entity_id, patch and optionally expected_version (an integer), handshake, event_id, event_type, meta, and no other key';
COMMENT ON FUNCTION ws.retire_entity(text, bigint, text, jsonb) IS
'retires an entity (a tombstone event); later transitions are refused with WS410; meta is recorded with the event';
COMMENT ON FUNCTION ws.link(text, text, text, jsonb, text, jsonb) IS
'adds or updates the relationship from_id -rel-> to_id (an event on from_id); meta is recorded with the event';
COMMENT ON FUNCTION ws.unlink(text, text, text, text, jsonb) IS
'removes the relationship from_id -rel-> to_id (an event on from_id); meta is recorded with the event';

REVOKE ALL ON FUNCTION ws.create_entity(text, text, text, jsonb, text, uuid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.transition(text, jsonb, bigint, text, uuid, text, uuid[], text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.transition_many(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.retire_entity(text, bigint, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.link(text, text, text, jsonb, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.unlink(text, text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.create_entity(text, text, text, jsonb, text, uuid, jsonb) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.transition(text, jsonb, bigint, text, uuid, text, uuid[], text, jsonb) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.transition_many(jsonb) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.retire_entity(text, bigint, text, jsonb) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.link(text, text, text, jsonb, text, jsonb) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.unlink(text, text, text, text, jsonb) TO ws_writer;

------------------------------------------------------------------------
-- Time travel: queries of the present and of any past moment (src/query.c)
--
-- The present is read from ws.entities and ws.relationships; the past is
-- rebuilt from ws.keyframes and ws.events: the last keyframe at or before
-- an HLC and the patches of the events after it up to that HLC (at most
-- keyframe_interval - 1 of them).
-- The functions read as the calling role (ws_reader may SELECT the
-- tables), with the snapshot of the calling statement.
--
-- Each function that takes a moment as ws.hlc also takes a timestamptz,
-- meaning the greatest HLC of that microsecond, (ts, 2147483647,
-- 2147483647): "as of that instant" includes every event stamped at it.
-- ws.history's from bound is the least, (ts, 0, 0).  These overloads have
-- no defaults, so calls without a moment resolve to the ws.hlc ones; so
-- do string literals and NULL, ws.hlc being in the string category.
------------------------------------------------------------------------

-- An entity's events in HLC order: the events after a keyframe up to a
-- moment are one range of this index, whatever the length of the
-- history.  It also serves ws.history (events of an entity between two
-- HLCs, in HLC order), and is unique: each event of an entity has its own
-- HLC (the node id is part of it), while the same version may come from
-- two nodes.  BRIN on hlc does not know entities.  The key's index is
-- named as the index that 1.0 had there.
ALTER TABLE ws.events ADD CONSTRAINT events_entity_hlc_idx UNIQUE (entity_id, hlc);

-- The edges of an entity at an HLC are rebuilt from its link and unlink
-- events only.  A partial index keeps that proportional to the entity's
-- link events rather than its whole history; other events pay only the
-- evaluation of the predicate.
CREATE INDEX events_links_idx ON ws.events (entity_id, hlc)
    WHERE event_type IN ('linked', 'unlinked');

COMMENT ON INDEX ws.events_entity_hlc_idx IS
'events of an entity in HLC order, unique: the events after a keyframe (ws.get_state, ws.entities_at) and ws.history';
COMMENT ON INDEX ws.events_links_idx IS
'link and unlink events of an entity in HLC order: ws.neighbors at a past HLC';

CREATE FUNCTION ws.get_state(entity_id text, at ws.hlc DEFAULT NULL) RETURNS jsonb
AS 'MODULE_PATHNAME', 'entity_get_state'
LANGUAGE C STABLE PARALLEL RESTRICTED;

-- no row, not a row of NULLs, for an entity that did not exist then
CREATE FUNCTION ws.get_entity(entity_id text, at ws.hlc DEFAULT NULL) RETURNS SETOF ws.entities
AS 'MODULE_PATHNAME', 'entity_get_rows'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1;

CREATE FUNCTION ws.entities_at(at ws.hlc) RETURNS SETOF ws.entities
AS 'MODULE_PATHNAME', 'world_entities_at'
LANGUAGE C STABLE PARALLEL RESTRICTED;

-- runs one SQL statement (the present, through the GIN index)
CREATE FUNCTION ws.find(predicate jsonb, lim int DEFAULT 100, off int DEFAULT 0,
                        at ws.hlc DEFAULT NULL) RETURNS SETOF ws.entities
AS 'MODULE_PATHNAME', 'entity_find'
LANGUAGE C STABLE PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.history(entity_id text, from_hlc ws.hlc DEFAULT NULL,
                           to_hlc ws.hlc DEFAULT NULL) RETURNS SETOF ws.events
AS 'MODULE_PATHNAME', 'entity_history'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION ws.neighbors(entity_id text, rel text DEFAULT NULL, at ws.hlc DEFAULT NULL)
RETURNS TABLE (rel text, to_id text, props jsonb, hlc ws.hlc)
AS 'MODULE_PATHNAME', 'entity_neighbors'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION ws.get_state(text, ws.hlc) IS
'state of an entity now (at NULL) or at an HLC; NULL when it did not exist then (not created yet, or retired)';
COMMENT ON FUNCTION ws.get_entity(text, ws.hlc) IS
'row of an entity now (at NULL) or as of an HLC (version, hlc and vclock of the event in force); no row when it did not exist then';
COMMENT ON FUNCTION ws.entities_at(ws.hlc) IS
'every entity that existed at an HLC, as it was then, in entity id order (the present world when at is NULL); retired entities excluded';
COMMENT ON FUNCTION ws.find(jsonb, int, int, ws.hlc) IS
'entities whose state contains predicate (jsonb @>), in entity id order, lim of them after skipping off; now (GIN index) or at an HLC; retired entities excluded';
COMMENT ON FUNCTION ws.history(text, ws.hlc, ws.hlc) IS
'events of an entity with from_hlc <= hlc <= to_hlc (NULL bounds are open), in HLC order; committed events only, as any query sees them';
COMMENT ON FUNCTION ws.neighbors(text, text, ws.hlc) IS
'outgoing edges of an entity (of one relation, or all), now or at an HLC, in (rel, to_id) order';

-- the same at an instant
CREATE FUNCTION ws.get_state(entity_id text, at timestamptz) RETURNS jsonb
AS 'MODULE_PATHNAME', 'entity_get_state'
LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION ws.get_entity(entity_id text, at timestamptz) RETURNS SETOF ws.entities
AS 'MODULE_PATHNAME', 'entity_get_rows'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1;
CREATE FUNCTION ws.entities_at(at timestamptz) RETURNS SETOF ws.entities
AS 'MODULE_PATHNAME', 'world_entities_at'
LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION ws.find(predicate jsonb, lim int, off int, at timestamptz)
RETURNS SETOF ws.entities
AS 'MODULE_PATHNAME', 'entity_find'
LANGUAGE C STABLE PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION ws.history(entity_id text, from_time timestamptz, to_time timestamptz DEFAULT NULL)
RETURNS SETOF ws.events
AS 'MODULE_PATHNAME', 'entity_history'
LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION ws.neighbors(entity_id text, rel text, at timestamptz)
RETURNS TABLE (rel text, to_id text, props jsonb, hlc ws.hlc)
AS 'MODULE_PATHNAME', 'entity_neighbors'
LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION ws.get_state(text, timestamptz) IS
'state of an entity as of an instant (the greatest HLC of that microsecond); NULL when it did not exist then';
COMMENT ON FUNCTION ws.get_entity(text, timestamptz) IS
'row of an entity as of an instant (the greatest HLC of that microsecond); no row when it did not exist then';
COMMENT ON FUNCTION ws.entities_at(timestamptz) IS
'every entity that existed at an instant (the greatest HLC of that microsecond), as it was then, in entity id order';
COMMENT ON FUNCTION ws.find(jsonb, int, int, timestamptz) IS
'entities whose state contained predicate at an instant (the greatest HLC of that microsecond), in entity id order';
COMMENT ON FUNCTION ws.history(text, timestamptz, timestamptz) IS
'events of an entity stamped from from_time to to_time inclusive (whole microseconds; NULL bounds are open), in HLC order';
COMMENT ON FUNCTION ws.neighbors(text, text, timestamptz) IS
'outgoing edges of an entity (of one relation, or all) at an instant (the greatest HLC of that microsecond)';

-- ws.merge_patches(jsonb): ordered fold of RFC 7396 merge patches; the
-- first non-NULL value is taken as it is (an entity's first patch is its
-- initial state, null members included), NULLs are skipped.
-- ws.merge_patches(patch ORDER BY version) over an entity's events is its
-- state.
CREATE FUNCTION ws._merge_patches_step(state jsonb, patch jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'merge_patches_transfn'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE ws.merge_patches(jsonb) (
    SFUNC = ws._merge_patches_step,
    STYPE = jsonb,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION ws._merge_patches_step(jsonb, jsonb) IS
'internal: transition function of ws.merge_patches (applies the next merge patch)';
COMMENT ON AGGREGATE ws.merge_patches(jsonb) IS
'folds RFC 7396 merge patches in the aggregate''s order: the first value as it is, each next one applied; use ORDER BY version';

-- Reading the world is for ws_reader (and so ws_writer and ws_admin);
-- merge_patches is a pure function of its input and stays public, like
-- ws.merge_patch.  Aggregates check EXECUTE on their transition function
-- as the aggregate's owner, so the internal step needs no grant.
REVOKE ALL ON FUNCTION ws.get_state(text, ws.hlc) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.get_entity(text, ws.hlc) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.entities_at(ws.hlc) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.find(jsonb, int, int, ws.hlc) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.history(text, ws.hlc, ws.hlc) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.neighbors(text, text, ws.hlc) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws._merge_patches_step(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.get_state(text, ws.hlc) TO ws_reader;
GRANT EXECUTE ON FUNCTION ws.get_entity(text, ws.hlc) TO ws_reader;
GRANT EXECUTE ON FUNCTION ws.entities_at(ws.hlc) TO ws_reader;
GRANT EXECUTE ON FUNCTION ws.find(jsonb, int, int, ws.hlc) TO ws_reader;
GRANT EXECUTE ON FUNCTION ws.history(text, ws.hlc, ws.hlc) TO ws_reader;
GRANT EXECUTE ON FUNCTION ws.neighbors(text, text, ws.hlc) TO ws_reader;
REVOKE ALL ON FUNCTION ws.get_state(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.get_entity(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.entities_at(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.find(jsonb, int, int, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.history(text, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.neighbors(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.get_state(text, timestamptz) TO ws_reader;
GRANT EXECUTE ON FUNCTION ws.get_entity(text, timestamptz) TO ws_reader;
GRANT EXECUTE ON FUNCTION ws.entities_at(timestamptz) TO ws_reader;
GRANT EXECUTE ON FUNCTION ws.find(jsonb, int, int, timestamptz) TO ws_reader;
GRANT EXECUTE ON FUNCTION ws.history(text, timestamptz, timestamptz) TO ws_reader;
GRANT EXECUTE ON FUNCTION ws.neighbors(text, text, timestamptz) TO ws_reader;

------------------------------------------------------------------------
-- Broadcasts.  The output plugin "worldstate" (src/decoder.c) is part of
-- the library and needs no SQL object: a slot is opened with
-- pg_create_logical_replication_slot('name', 'worldstate').  Heartbeats
-- keep idle slots advancing; ws.slots shows what each slot retains.
------------------------------------------------------------------------

CREATE FUNCTION ws.heartbeat() RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'ws_heartbeat'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION ws.heartbeat() IS
'broadcasts a heartbeat (a non-transactional logical decoding message with prefix worldstate) so idle worldstate slots advance; returns the end of its WAL record';

CREATE VIEW ws.slots AS
SELECT s.slot_name,
       s.database,
       s.active,
       s.active_pid,
       s.restart_lsn,
       s.confirmed_flush_lsn,
       pg_catalog.pg_wal_lsn_diff(w.lsn, s.restart_lsn)::bigint AS retained_bytes,
       pg_catalog.pg_wal_lsn_diff(w.lsn, s.confirmed_flush_lsn)::bigint AS lag_bytes,
       s.wal_status,
       s.two_phase
FROM pg_catalog.pg_replication_slots s,
     LATERAL (SELECT CASE WHEN pg_catalog.pg_is_in_recovery()
                          THEN pg_catalog.pg_last_wal_replay_lsn()
                          ELSE pg_catalog.pg_current_wal_lsn() END AS lsn) w
WHERE s.plugin OPERATOR(pg_catalog.=) 'worldstate';

COMMENT ON VIEW ws.slots IS
'every logical replication slot using the worldstate output plugin, with the WAL it retains (retained_bytes) and how far its consumer is behind (lag_bytes)';
COMMENT ON COLUMN ws.slots.retained_bytes IS
'bytes of WAL from the slot''s restart_lsn to the current WAL position: what the slot keeps from being recycled';
COMMENT ON COLUMN ws.slots.lag_bytes IS
'bytes of WAL from the position the consumer confirmed to the current WAL position';
COMMENT ON COLUMN ws.slots.slot_name IS 'slot name';
COMMENT ON COLUMN ws.slots.database IS 'database the slot decodes';
COMMENT ON COLUMN ws.slots.active IS 'true while a consumer is connected';
COMMENT ON COLUMN ws.slots.active_pid IS 'process id of the connected consumer, or NULL';
COMMENT ON COLUMN ws.slots.restart_lsn IS 'oldest WAL position the slot still needs';
COMMENT ON COLUMN ws.slots.confirmed_flush_lsn IS 'position up to which the consumer confirmed receipt';
COMMENT ON COLUMN ws.slots.wal_status IS 'as pg_replication_slots.wal_status: reserved, extended, unreserved or lost';
COMMENT ON COLUMN ws.slots.two_phase IS 'true when the slot decodes prepared transactions at PREPARE';

REVOKE ALL ON FUNCTION ws.heartbeat() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.heartbeat() TO ws_writer;

REVOKE ALL ON ws.slots FROM PUBLIC;
GRANT SELECT ON ws.slots TO ws_reader;

------------------------------------------------------------------------
-- Event schemas and the bus (src/bus.c)
------------------------------------------------------------------------

-- Events published on the bus are rows of the one event log, without an
-- entity: entity_id, version, kind and vclock are NULL, the payload is in
-- `patch` and its schema version in `schema_version`.  ws.poll walks the
-- log in HLC order, hence the btree index on hlc.
CREATE INDEX events_hlc_idx ON ws.events (hlc);

-- Event schemas: jsonpath predicates a payload must satisfy, per module,
-- event type and version.  Versions are only added, never changed; an
-- older version stays accepted for its grace period after the next one
-- was registered.
CREATE TABLE ws.event_schemas (
    module        text NOT NULL REFERENCES ws.modules (name),
    event_type    text NOT NULL CHECK (event_type <> '' AND length(event_type) <= 63),
    version       int NOT NULL CHECK (version > 0),
    rules         jsonpath[] NOT NULL,
    grace         interval NOT NULL DEFAULT '7 days' CHECK (grace >= '0'),
    registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (module, event_type, version)
);
-- cached by every backend with the kinds (src/kindcache.c)
CREATE TRIGGER event_schemas_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ws.event_schemas
    FOR EACH STATEMENT EXECUTE FUNCTION ws.catalog_changed();
ALTER TABLE ws.event_schemas ENABLE ALWAYS TRIGGER event_schemas_changed;

-- Subscribers of the bus: each belongs to a module and has a durable
-- position in arrival order (every event that arrived at or below it is
-- acknowledged) and one or more pairs of LIKE patterns.
CREATE TABLE ws.subscribers (
    subscriber text PRIMARY KEY CHECK (subscriber <> '' AND length(subscriber) <= 200),
    module     text NOT NULL REFERENCES ws.modules (name),
    position   ws.hlc NOT NULL,
    acked_at   timestamptz,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    arrival    bigint NOT NULL DEFAULT 0
);
CREATE TABLE ws.subscriptions (
    subscriber         text NOT NULL REFERENCES ws.subscribers (subscriber) ON DELETE CASCADE,
    module_pattern     text NOT NULL CHECK (module_pattern <> ''),
    event_type_pattern text NOT NULL CHECK (event_type_pattern <> ''),
    -- how far polls have stepped over events the pair does not match, so
    -- that the next poll starts after them (src/bus.c)
    scanned            bigint,
    PRIMARY KEY (subscriber, module_pattern, event_type_pattern)
);

SELECT pg_catalog.pg_extension_config_dump('ws.event_schemas', '');
SELECT pg_catalog.pg_extension_config_dump('ws.subscribers', '');
SELECT pg_catalog.pg_extension_config_dump('ws.subscriptions', '');

COMMENT ON TABLE ws.event_schemas IS 'versions of event schemas: jsonpath rules every event of the type must satisfy';
COMMENT ON TABLE ws.subscribers IS 'subscribers of the event bus and their acknowledged positions';
COMMENT ON TABLE ws.subscriptions IS 'module and event type patterns (SQL LIKE) of each subscriber';
COMMENT ON COLUMN ws.event_schemas.module IS 'module whose events the schema checks';
COMMENT ON COLUMN ws.event_schemas.event_type IS 'event type (1 to 63 characters)';
COMMENT ON COLUMN ws.event_schemas.version IS 'schema version (positive); versions are only added';
COMMENT ON COLUMN ws.event_schemas.rules IS 'jsonpath predicates every payload of this version must satisfy';
COMMENT ON COLUMN ws.event_schemas.grace IS 'how long this version stays accepted after the next one is registered';
COMMENT ON COLUMN ws.event_schemas.registered_at IS 'when this version was registered';
COMMENT ON COLUMN ws.subscribers.subscriber IS 'subscriber name: a module name or module.name';
COMMENT ON COLUMN ws.subscribers.module IS 'module the subscriber belongs to';
COMMENT ON COLUMN ws.subscribers.position IS 'upto of the acknowledgement that last moved the arrival position';
COMMENT ON COLUMN ws.subscribers.arrival IS 'acknowledged position in arrival order: every matching event whose ws.events.arrival is at or below it is acknowledged';
COMMENT ON COLUMN ws.subscribers.acked_at IS 'time of the last acknowledgement, or NULL';
COMMENT ON COLUMN ws.subscribers.created_at IS 'when the subscriber first subscribed';
COMMENT ON COLUMN ws.subscriptions.subscriber IS 'the subscriber';
COMMENT ON COLUMN ws.subscriptions.module_pattern IS 'SQL LIKE pattern the event''s module must match';
COMMENT ON COLUMN ws.subscriptions.event_type_pattern IS 'SQL LIKE pattern the event''s type must match';
COMMENT ON COLUMN ws.subscriptions.scanned IS
'no event this pair matches lies above the subscriber''s arrival position and at or below this arrival number; ws.poll starts above the least of its pairs, moves it past the events it stepped over, NULL until then';

REVOKE ALL ON ws.event_schemas, ws.subscribers, ws.subscriptions FROM PUBLIC;
GRANT SELECT ON ws.event_schemas, ws.subscribers, ws.subscriptions TO ws_reader;

CREATE FUNCTION ws.register_event_schema(module text, event_type text, version int,
                                         rules jsonpath[], grace interval DEFAULT '7 days')
RETURNS void
AS 'MODULE_PATHNAME', 'event_schema_register'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.publish(module text, event_type text, payload jsonb,
                           schema_version int DEFAULT 1, handshake text DEFAULT NULL,
                           meta jsonb DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'bus_publish'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.subscribe(subscriber text, module_pattern text, event_type_pattern text)
RETURNS void
AS 'MODULE_PATHNAME', 'bus_subscribe'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.unsubscribe(subscriber text) RETURNS void
AS 'MODULE_PATHNAME', 'bus_unsubscribe'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.poll(subscriber text, max int) RETURNS SETOF ws.events
AS 'MODULE_PATHNAME', 'bus_poll'
LANGUAGE C VOLATILE ROWS 100 SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.ack(subscriber text, upto ws.hlc) RETURNS void
AS 'MODULE_PATHNAME', 'bus_ack'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

-- How far behind each subscriber is: matching events that arrived after
-- its position, and the age of the oldest of them.
CREATE VIEW ws.module_lag AS
SELECT s.subscriber, s.module, s.position AS acked_hlc, s.acked_at,
       pg_catalog.count(e.hlc) AS events_behind,
       pg_catalog.now() OPERATOR(pg_catalog.-) ws.hlc_wall(ws.min(e.hlc)) AS oldest_unacked_age
FROM ws.subscribers s
LEFT JOIN LATERAL (
    SELECT ev.hlc FROM ws.events ev
    WHERE ev.arrival OPERATOR(pg_catalog.>) s.arrival
      AND EXISTS (SELECT FROM ws.subscriptions p
                  WHERE p.subscriber OPERATOR(pg_catalog.=) s.subscriber
                    AND ev.module OPERATOR(pg_catalog.~~) p.module_pattern
                    AND ev.event_type OPERATOR(pg_catalog.~~) p.event_type_pattern)
) e ON true
GROUP BY s.subscriber;

COMMENT ON FUNCTION ws.register_event_schema(text, text, int, jsonpath[], interval) IS
'adds a version of the event schema of (module, event_type): jsonpath predicates every payload must satisfy; older versions stay accepted for their grace period';
COMMENT ON FUNCTION ws.publish(text, text, jsonb, int, text, jsonb) IS
'publishes an event on the bus: handshake, module grant, validation against the schema version (WS422), HLC, append to ws.events; returns its event_id; meta is recorded with the event';
COMMENT ON FUNCTION ws.subscribe(text, text, text) IS
'subscribes a subscriber (named module or module.name) to events whose module and event type match the LIKE patterns';
COMMENT ON FUNCTION ws.unsubscribe(text) IS
'removes a subscriber with its patterns and position';
COMMENT ON FUNCTION ws.poll(text, int) IS
'up to max unacknowledged events of the subscriber in local arrival order (ws.events.arrival), never past an event whose transaction is still open (at-least-once)';
COMMENT ON FUNCTION ws.ack(text, ws.hlc) IS
'acknowledges every event of the subscriber that arrived up to and including the event with that hlc (an hlc of no event: every event that arrived before the first one above it); the position never moves back';
COMMENT ON VIEW ws.module_lag IS 'per subscriber: acknowledged position, events behind, age of the oldest unacknowledged event';
COMMENT ON COLUMN ws.module_lag.subscriber IS 'the subscriber';
COMMENT ON COLUMN ws.module_lag.module IS 'module the subscriber belongs to';
COMMENT ON COLUMN ws.module_lag.acked_hlc IS 'acknowledged position';
COMMENT ON COLUMN ws.module_lag.acked_at IS 'time of the last acknowledgement, or NULL';
COMMENT ON COLUMN ws.module_lag.events_behind IS 'matching events that arrived after the acknowledged position';
COMMENT ON COLUMN ws.module_lag.oldest_unacked_age IS 'age of the oldest of them (by its HLC wall time), or NULL';

REVOKE ALL ON FUNCTION ws.register_event_schema(text, text, int, jsonpath[], interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.publish(text, text, jsonb, int, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.subscribe(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.unsubscribe(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.poll(text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.ack(text, ws.hlc) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.register_event_schema(text, text, int, jsonpath[], interval) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.publish(text, text, jsonb, int, text, jsonb) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.subscribe(text, text, text) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.unsubscribe(text) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.poll(text, int) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.ack(text, ws.hlc) TO ws_writer;
REVOKE ALL ON ws.module_lag FROM PUBLIC;
GRANT SELECT ON ws.module_lag TO ws_reader;

------------------------------------------------------------------------
-- Definitions as a document (src/definitions.c): the catalog (modules,
-- grants by role name, kinds, constraints, event schemas) exported as one
-- deterministic jsonb document and imported elsewhere.  On a node of a
-- mesh (worldstate.node_id not 0) each change of a definition also
-- appends an event of the reserved module 'ws', type 'definitions', whose
-- patch is such a document holding what changed.
------------------------------------------------------------------------

CREATE FUNCTION ws.export_definitions() RETURNS jsonb
AS 'MODULE_PATHNAME', 'definitions_export'
LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp;

-- not STRICT: a NULL document raises 22023
CREATE FUNCTION ws.import_definitions(doc jsonb) RETURNS int
AS 'MODULE_PATHNAME', 'definitions_import'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws._apply_definitions(patch jsonb) RETURNS int
AS 'MODULE_PATHNAME', 'definitions_apply'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION ws.export_definitions() IS
'the catalog as one jsonb document: modules, grants (by role name), kinds, constraints, event schemas, each sorted; equal catalogs export equal documents';
COMMENT ON FUNCTION ws.import_definitions(jsonb) IS
'creates the definitions of a document from ws.export_definitions that this database lacks, each through its defining function with its checks; skips those present identically, and grants to roles that do not exist here (NOTICE); all or nothing; returns how many it created';
COMMENT ON FUNCTION ws._apply_definitions(jsonb) IS
'applies the patch of a catalog event from a peer as replication does (redefines, revokes, drops; appends no event); for tests and repairs by the owner';

REVOKE ALL ON FUNCTION ws.export_definitions() FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.import_definitions(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws._apply_definitions(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.export_definitions() TO ws_reader;
-- the defining functions each import calls check the caller's tier
GRANT EXECUTE ON FUNCTION ws.import_definitions(jsonb) TO ws_writer;

------------------------------------------------------------------------
-- Session and derived state (src/session.c, src/derived.c)
------------------------------------------------------------------------

-- Session state: rows of a backend, identified by pid and start time, so
-- they are shown only while that very backend lives.  Unlogged: crash
-- recovery empties it, and it is neither written to WAL nor replicated.
-- Dumps keep none of it (the rows belong to sessions of this server).
CREATE UNLOGGED TABLE ws.session_data (
    pid           int NOT NULL,
    backend_start timestamptz NOT NULL,
    key           text NOT NULL CHECK (key <> ''),
    value         jsonb NOT NULL,
    since         timestamptz NOT NULL,
    PRIMARY KEY (pid, backend_start, key)
);

-- Cache state: derived views, materialized in schema ws_derived, rebuilt
-- from the query registered here.
CREATE TABLE ws.derived (
    name         text PRIMARY KEY,
    query        text NOT NULL,
    owner        regrole NOT NULL,
    defined_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    refreshed_at timestamptz
);
CREATE SCHEMA ws_derived;

SELECT pg_catalog.pg_extension_config_dump('ws.session_data', 'WHERE false');
SELECT pg_catalog.pg_extension_config_dump('ws.derived', '');

COMMENT ON TABLE ws.session_data IS 'session state of backends (see the view ws.session_state)';
COMMENT ON TABLE ws.derived IS 'derived views: the registered query of each materialized view in schema ws_derived';
COMMENT ON SCHEMA ws_derived IS 'materialized views of worldstate''s derived views (cache state); rebuilt by ws.refresh_derived';
COMMENT ON COLUMN ws.session_data.pid IS 'process id of the backend the row belongs to';
COMMENT ON COLUMN ws.session_data.backend_start IS 'start time of that backend (with pid, identifies the session)';
COMMENT ON COLUMN ws.session_data.key IS 'key (not empty)';
COMMENT ON COLUMN ws.session_data.value IS 'value, a JSON document';
COMMENT ON COLUMN ws.session_data.since IS 'when the key was last set';
COMMENT ON COLUMN ws.derived.name IS 'name of the derived view (ws_derived.<name>)';
COMMENT ON COLUMN ws.derived.query IS 'the registered SELECT';
COMMENT ON COLUMN ws.derived.owner IS 'role that defined the view; the query runs with its privileges';
COMMENT ON COLUMN ws.derived.defined_at IS 'when the view was defined';
COMMENT ON COLUMN ws.derived.refreshed_at IS 'when the view was last rebuilt, or NULL';

REVOKE ALL ON ws.session_data, ws.derived FROM PUBLIC;
GRANT SELECT ON ws.session_data, ws.derived TO ws_reader;
REVOKE ALL ON SCHEMA ws_derived FROM PUBLIC;
GRANT USAGE ON SCHEMA ws_derived TO ws_reader;

CREATE FUNCTION ws._session_backends(OUT pid int, OUT backend_start timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'session_backends'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION ws.session_put(key text, value jsonb) RETURNS void
AS 'MODULE_PATHNAME', 'session_put'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.session_get(key text) RETURNS jsonb
AS 'MODULE_PATHNAME', 'session_get'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.define_derived(name text, query text) RETURNS void
AS 'MODULE_PATHNAME', 'derived_define'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.refresh_derived(name text) RETURNS void
AS 'MODULE_PATHNAME', 'derived_refresh'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.drop_derived(name text) RETURNS void
AS 'MODULE_PATHNAME', 'derived_drop'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

-- Session state of the sessions alive now.
CREATE VIEW ws.session_state AS
SELECT d.pid, d.key, d.value, d.since
FROM ws.session_data d
JOIN ws._session_backends() b
  ON b.pid OPERATOR(pg_catalog.=) d.pid
 AND b.backend_start OPERATOR(pg_catalog.=) d.backend_start;

COMMENT ON FUNCTION ws._session_backends() IS
'internal: pid and start time of every live backend, for ws.session_state';
COMMENT ON FUNCTION ws.session_put(text, jsonb) IS
'sets a key of this session''s state (NULL removes it); gone when the session ends';
COMMENT ON FUNCTION ws.session_get(text) IS
'this session''s value of a key, or NULL';
COMMENT ON FUNCTION ws.define_derived(text, text) IS
'registers a derived view (a SELECT over the world) and builds it as ws_derived.<name>, with the caller''s privileges';
COMMENT ON FUNCTION ws.refresh_derived(text) IS
'rebuilds a derived view, re-creating it when it was dropped';
COMMENT ON FUNCTION ws.drop_derived(text) IS
'forgets a derived view and drops its materialized view';
COMMENT ON VIEW ws.session_state IS 'session state of the live sessions: pid, key, value, since';
COMMENT ON COLUMN ws.session_state.pid IS 'process id of the live session';
COMMENT ON COLUMN ws.session_state.key IS 'key';
COMMENT ON COLUMN ws.session_state.value IS 'value';
COMMENT ON COLUMN ws.session_state.since IS 'when the key was last set';

REVOKE ALL ON FUNCTION ws._session_backends() FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.session_put(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.session_get(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.define_derived(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.refresh_derived(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.drop_derived(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws._session_backends() TO ws_reader;
GRANT EXECUTE ON FUNCTION ws.session_put(text, jsonb) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.session_get(text) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.define_derived(text, text) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.refresh_derived(text) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.drop_derived(text) TO ws_writer;
REVOKE ALL ON ws.session_state FROM PUBLIC;
GRANT SELECT ON ws.session_state TO ws_reader;

------------------------------------------------------------------------
-- Snapshots and operations: recovery, verification, archival
-- (src/snapshot.c)
------------------------------------------------------------------------

CREATE TABLE ws.snapshots (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    label          text,
    hlc            ws.hlc NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    entity_count   bigint,
    checksum       text,
    format_version int NOT NULL
);

CREATE TABLE ws.snapshot_entities (
    snapshot_id bigint NOT NULL REFERENCES ws.snapshots (id) ON DELETE CASCADE,
    entity_id   text NOT NULL,
    kind        text NOT NULL,
    module      text NOT NULL,
    state       jsonb NOT NULL,
    version     bigint NOT NULL,
    hlc         ws.hlc NOT NULL,
    vclock      ws.vclock NOT NULL,
    created_hlc ws.hlc NOT NULL,
    retired     boolean NOT NULL,
    PRIMARY KEY (snapshot_id, entity_id)
);

CREATE TABLE ws.snapshot_relationships (
    snapshot_id bigint NOT NULL REFERENCES ws.snapshots (id) ON DELETE CASCADE,
    from_id     text NOT NULL,
    rel         text NOT NULL,
    to_id       text NOT NULL,
    props       jsonb NOT NULL,
    hlc         ws.hlc NOT NULL,
    PRIMARY KEY (snapshot_id, from_id, rel, to_id)
);

-- Events moved out of ws.events by ws.archive_events: the same rows, just
-- as immutable.
CREATE TABLE ws.events_archive (LIKE ws.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE ws.events_archive ADD PRIMARY KEY (event_id);
CREATE TRIGGER events_archive_no_update BEFORE UPDATE OR DELETE ON ws.events_archive
    FOR EACH ROW EXECUTE FUNCTION ws.events_immutable();
CREATE TRIGGER events_archive_no_truncate BEFORE TRUNCATE ON ws.events_archive
    FOR EACH STATEMENT EXECUTE FUNCTION ws.events_immutable();
ALTER TABLE ws.events_archive ENABLE ALWAYS TRIGGER events_archive_no_update;
ALTER TABLE ws.events_archive ENABLE ALWAYS TRIGGER events_archive_no_truncate;

-- Moments before an entity's kept keyframe: ws.history and ws.neighbors
-- read the archived events the same way as ws.events.  Only archival
-- writes that table, so this index costs transitions nothing.
CREATE INDEX events_archive_entity_hlc_idx ON ws.events_archive (entity_id, hlc);
COMMENT ON INDEX ws.events_archive_entity_hlc_idx IS
'archived events of an entity in HLC order: the past before an archival boundary, ws.history, ws.neighbors';

-- Where archival cut the log: queries before it cannot be answered from
-- ws.events alone.
CREATE TABLE ws.archive_boundary (
    hlc         ws.hlc NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

SELECT pg_catalog.pg_extension_config_dump('ws.snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('ws.snapshots_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ws.snapshot_entities', '');
SELECT pg_catalog.pg_extension_config_dump('ws.snapshot_relationships', '');
SELECT pg_catalog.pg_extension_config_dump('ws.events_archive', '');
SELECT pg_catalog.pg_extension_config_dump('ws.archive_boundary', '');

COMMENT ON TABLE ws.snapshots IS 'snapshots of the world, each consistent at one HLC, with a checksum and format version';
COMMENT ON TABLE ws.snapshot_entities IS 'the entities of each snapshot';
COMMENT ON TABLE ws.snapshot_relationships IS 'the relationships of each snapshot';
COMMENT ON TABLE ws.events_archive IS 'events moved out of ws.events by ws.archive_events; append-only';
COMMENT ON TABLE ws.archive_boundary IS 'HLCs before which events were archived';
COMMENT ON COLUMN ws.snapshots.id IS 'snapshot id';
COMMENT ON COLUMN ws.snapshots.label IS 'label given to ws.create_snapshot, or NULL';
COMMENT ON COLUMN ws.snapshots.hlc IS 'the HLC the snapshot is consistent at';
COMMENT ON COLUMN ws.snapshots.created_at IS 'when the snapshot was taken';
COMMENT ON COLUMN ws.snapshots.entity_count IS 'number of entities in the snapshot';
COMMENT ON COLUMN ws.snapshots.checksum IS 'checksum of the snapshot''s rows, checked by ws.restore_snapshot';
COMMENT ON COLUMN ws.snapshots.format_version IS 'format version of the snapshot''s rows';
COMMENT ON COLUMN ws.snapshot_entities.snapshot_id IS 'the snapshot';
COMMENT ON COLUMN ws.snapshot_entities.entity_id IS 'as ws.entities.entity_id, at the snapshot''s HLC';
COMMENT ON COLUMN ws.snapshot_entities.kind IS 'as ws.entities.kind';
COMMENT ON COLUMN ws.snapshot_entities.module IS 'as ws.entities.module';
COMMENT ON COLUMN ws.snapshot_entities.state IS 'as ws.entities.state';
COMMENT ON COLUMN ws.snapshot_entities.version IS 'as ws.entities.version';
COMMENT ON COLUMN ws.snapshot_entities.hlc IS 'as ws.entities.hlc';
COMMENT ON COLUMN ws.snapshot_entities.vclock IS 'as ws.entities.vclock';
COMMENT ON COLUMN ws.snapshot_entities.created_hlc IS 'as ws.entities.created_hlc';
COMMENT ON COLUMN ws.snapshot_entities.retired IS 'as ws.entities.retired';
COMMENT ON COLUMN ws.snapshot_relationships.snapshot_id IS 'the snapshot';
COMMENT ON COLUMN ws.snapshot_relationships.from_id IS 'as ws.relationships.from_id, at the snapshot''s HLC';
COMMENT ON COLUMN ws.snapshot_relationships.rel IS 'as ws.relationships.rel';
COMMENT ON COLUMN ws.snapshot_relationships.to_id IS 'as ws.relationships.to_id';
COMMENT ON COLUMN ws.snapshot_relationships.props IS 'as ws.relationships.props';
COMMENT ON COLUMN ws.snapshot_relationships.hlc IS 'as ws.relationships.hlc';
COMMENT ON COLUMN ws.events_archive.actor IS 'as ws.events.actor';
COMMENT ON COLUMN ws.events_archive.caller_meta IS 'as ws.events.caller_meta';
COMMENT ON COLUMN ws.events_archive.event_id IS 'as ws.events.event_id';
COMMENT ON COLUMN ws.events_archive.entity_id IS 'as ws.events.entity_id';
COMMENT ON COLUMN ws.events_archive.version IS 'as ws.events.version';
COMMENT ON COLUMN ws.events_archive.hlc IS 'as ws.events.hlc';
COMMENT ON COLUMN ws.events_archive.origin_node IS 'as ws.events.origin_node';
COMMENT ON COLUMN ws.events_archive.module IS 'as ws.events.module';
COMMENT ON COLUMN ws.events_archive.kind IS 'as ws.events.kind';
COMMENT ON COLUMN ws.events_archive.event_type IS 'as ws.events.event_type';
COMMENT ON COLUMN ws.events_archive.patch IS 'as ws.events.patch';
COMMENT ON COLUMN ws.events_archive.state IS 'as ws.events.state';
COMMENT ON COLUMN ws.events_archive.meta IS 'as ws.events.meta';
COMMENT ON COLUMN ws.events_archive.handshake IS 'as ws.events.handshake';
COMMENT ON COLUMN ws.events_archive.causal_deps IS 'as ws.events.causal_deps';
COMMENT ON COLUMN ws.events_archive.vclock IS 'as ws.events.vclock';
COMMENT ON COLUMN ws.events_archive.schema_version IS 'as ws.events.schema_version';
COMMENT ON COLUMN ws.events_archive.request_digest IS 'as ws.events.request_digest';
COMMENT ON COLUMN ws.events_archive.txid IS 'as ws.events.txid';
COMMENT ON COLUMN ws.events_archive.recorded_at IS 'as ws.events.recorded_at';
COMMENT ON COLUMN ws.events_archive.intent IS 'as ws.events.intent';
COMMENT ON COLUMN ws.events_archive.arrival IS 'as ws.events.arrival';
COMMENT ON COLUMN ws.archive_boundary.hlc IS 'HLC before which events were archived';
COMMENT ON COLUMN ws.archive_boundary.archived_at IS 'when the archival ran';

CREATE FUNCTION ws.create_snapshot(label text DEFAULT NULL) RETURNS bigint
AS 'MODULE_PATHNAME', 'snapshot_create'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.restore_snapshot(snapshot_id bigint) RETURNS bigint
AS 'MODULE_PATHNAME', 'snapshot_restore'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.verify(OUT entity_id text, OUT problem text) RETURNS SETOF record
AS 'MODULE_PATHNAME', 'world_verify'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.state_hash(at ws.hlc DEFAULT NULL) RETURNS text
AS 'MODULE_PATHNAME', 'world_state_hash'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.state_hash(at timestamptz) RETURNS text
AS 'MODULE_PATHNAME', 'world_state_hash'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

-- not STRICT: a NULL before raises 22023 naming it
CREATE FUNCTION ws.archive_events(before ws.hlc) RETURNS bigint
AS 'MODULE_PATHNAME', 'events_archive'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.delete_snapshot(snapshot_id bigint) RETURNS void
AS 'MODULE_PATHNAME', 'snapshot_delete'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION ws.run_snapshot_worker_now() RETURNS bigint
AS 'MODULE_PATHNAME', 'snapshot_cycle_now'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION ws.run_snapshot_worker_now() IS
'runs the snapshot worker''s cycle now, in this session: a snapshot, then retention of the newest worldstate.snapshot_retention; returns the snapshot id';
COMMENT ON FUNCTION ws.create_snapshot(text) IS
'copies every entity and relationship at one HLC into ws.snapshot_entities/ws.snapshot_relationships; returns the snapshot id';
COMMENT ON FUNCTION ws.restore_snapshot(bigint) IS
'restores a snapshot (NULL: none), replays every later event, verifies; returns the number of events replayed';
COMMENT ON FUNCTION ws.verify() IS
'one row per problem: an entity whose state, version or retired flag differs from the replay of its events, a broken version or HLC chain, a keyframe that differs from the fold before it';
COMMENT ON FUNCTION ws.state_hash(ws.hlc) IS
'SHA-256 of every entity''s id, version, retired flag and canonical state, now or as of an HLC; retired entities count in both';
COMMENT ON FUNCTION ws.state_hash(timestamptz) IS
'SHA-256 of every entity''s id, version, retired flag and canonical state as of an instant (the greatest HLC of that microsecond)';
COMMENT ON FUNCTION ws.delete_snapshot(bigint) IS
'deletes a snapshot, unless it is the last one that recovery from archived events needs (ws_admin)';
COMMENT ON FUNCTION ws.archive_events(ws.hlc) IS
'moves events before the HLC that a kept snapshot covers to ws.events_archive, keeping each entity''s last keyframe before it';

REVOKE ALL ON ws.snapshots, ws.snapshot_entities, ws.snapshot_relationships,
    ws.events_archive, ws.archive_boundary FROM PUBLIC;
GRANT SELECT ON ws.snapshots, ws.snapshot_entities, ws.snapshot_relationships,
    ws.events_archive, ws.archive_boundary TO ws_reader;
REVOKE ALL ON FUNCTION ws.create_snapshot(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.restore_snapshot(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.verify() FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.state_hash(ws.hlc) FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.archive_events(ws.hlc) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.create_snapshot(text) TO ws_admin;
REVOKE ALL ON FUNCTION ws.run_snapshot_worker_now() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.run_snapshot_worker_now() TO ws_admin;
GRANT EXECUTE ON FUNCTION ws.restore_snapshot(bigint) TO ws_admin;
GRANT EXECUTE ON FUNCTION ws.archive_events(ws.hlc) TO ws_admin;
-- ws_admin only, checked by the functions themselves so that a writer is
-- told why
GRANT EXECUTE ON FUNCTION ws.archive_events(ws.hlc) TO ws_writer;
REVOKE ALL ON FUNCTION ws.delete_snapshot(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.delete_snapshot(bigint) TO ws_writer;
GRANT EXECUTE ON FUNCTION ws.verify() TO ws_reader;
GRANT EXECUTE ON FUNCTION ws.state_hash(ws.hlc) TO ws_reader;
REVOKE ALL ON FUNCTION ws.state_hash(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.state_hash(timestamptz) TO ws_reader;

------------------------------------------------------------------------
-- Several nodes: the peers of this node (src/replication.c)
------------------------------------------------------------------------

-- One row per peer this node receives events from: the subscription
-- ws_peer_<name> here, fed by the slot ws_node_<peer id>_to_<this node's
-- id> on the peer.  ws.add_peer and ws.remove_peer write it.  conninfo is
-- kept without its password (the subscription holds the whole string).
CREATE TABLE ws.nodes (
    node_id      int PRIMARY KEY,
    name         text UNIQUE NOT NULL,
    conninfo     text NOT NULL,
    subscription name NOT NULL,
    slot         name NOT NULL,
    added_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('ws.nodes', '');
COMMENT ON TABLE ws.nodes IS
'the peers of this node, whose events it receives: written by ws.add_peer and ws.remove_peer';
COMMENT ON COLUMN ws.nodes.node_id IS 'the peer''s worldstate.node_id';
COMMENT ON COLUMN ws.nodes.name IS 'name given to ws.add_peer (lower-case letters, digits, underscores)';
COMMENT ON COLUMN ws.nodes.conninfo IS 'how this node reaches the peer: the conninfo given to ws.add_peer without its password';
COMMENT ON COLUMN ws.nodes.subscription IS 'the subscription of this node to the peer''s publication ws_node_<peer id>';
COMMENT ON COLUMN ws.nodes.slot IS 'the logical replication slot on the peer that feeds the subscription';
COMMENT ON COLUMN ws.nodes.added_at IS 'when ws.add_peer linked the peer';
REVOKE ALL ON ws.nodes FROM PUBLIC;
GRANT SELECT ON ws.nodes TO ws_reader;

CREATE FUNCTION ws.add_peer(name text, conninfo text) RETURNS ws.nodes
AS 'MODULE_PATHNAME', 'replication_add_peer'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.add_peer(text, text) IS
'links this node with a peer (superusers only): checks both nodes, publishes this node''s events as ws_node_<id> (made on the peer too when missing), subscribes to the peer''s as ws_peer_<name> with a slot made on the peer';
REVOKE ALL ON FUNCTION ws.add_peer(text, text) FROM PUBLIC;

CREATE FUNCTION ws.remove_peer(name text) RETURNS void
AS 'MODULE_PATHNAME', 'replication_remove_peer'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.remove_peer(text) IS
'unlinks a peer (superusers only): drops the subscription ws_peer_<name>, the ws.nodes row and the slot on the peer (a WARNING names the slot when the peer cannot be reached); the publication stays';
REVOKE ALL ON FUNCTION ws.remove_peer(text) FROM PUBLIC;

-- Called on this node by a peer's ws.add_peer, as the role of its
-- conninfo; the C function admits superusers and REPLICATION roles.
CREATE FUNCTION ws._ensure_publication() RETURNS boolean
AS 'MODULE_PATHNAME', 'replication_ensure_publication'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws._ensure_publication() IS
'internal: creates this node''s publication ws_node_<id> of its own events unless it exists (true when it did); superusers and REPLICATION roles';

-- Each peer with the state of the subscription to it.
CREATE VIEW ws.peer_links AS
SELECT n.name,
       n.node_id,
       n.subscription,
       s.subenabled AS enabled,
       st.pid,
       st.received_lsn,
       st.latest_end_lsn,
       st.latest_end_time
FROM ws.nodes n
LEFT JOIN pg_catalog.pg_subscription s
       ON s.subname OPERATOR(pg_catalog.=) n.subscription
      AND s.subdbid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                            WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
LEFT JOIN pg_catalog.pg_stat_subscription st
       ON st.subid OPERATOR(pg_catalog.=) s.oid AND st.relid IS NULL;
COMMENT ON VIEW ws.peer_links IS
'each peer of this node with the state of its subscription: enabled, the apply worker''s pid while it runs, the positions received and reported';
COMMENT ON COLUMN ws.peer_links.name IS 'as ws.nodes.name';
COMMENT ON COLUMN ws.peer_links.node_id IS 'as ws.nodes.node_id';
COMMENT ON COLUMN ws.peer_links.subscription IS 'as ws.nodes.subscription';
COMMENT ON COLUMN ws.peer_links.enabled IS 'whether the subscription is enabled; NULL when it is missing';
COMMENT ON COLUMN ws.peer_links.pid IS 'process id of the apply worker, NULL while none runs';
COMMENT ON COLUMN ws.peer_links.received_lsn IS 'last WAL position received from the peer';
COMMENT ON COLUMN ws.peer_links.latest_end_lsn IS 'last WAL position reported to the peer';
COMMENT ON COLUMN ws.peer_links.latest_end_time IS 'when that position was reported';
REVOKE ALL ON ws.peer_links FROM PUBLIC;
GRANT SELECT ON ws.peer_links TO ws_reader;

------------------------------------------------------------------------
-- Monitoring
------------------------------------------------------------------------

CREATE FUNCTION ws.stats(OUT name text, OUT value bigint) RETURNS SETOF record
AS 'MODULE_PATHNAME', 'ws_stats'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION ws.stats() IS
'node-wide counters since server start: clock_skew_rejections, max_clock_skew_observed_us';
REVOKE ALL ON FUNCTION ws.stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.stats() TO ws_reader;

-- Progress of long operations (restore, verify, rebuilding a past world,
-- state_hash at a moment): one row per backend running one, updated every
-- 100 items, gone when the operation ends or fails.
CREATE FUNCTION ws._progress(OUT pid int, OUT operation text, OUT phase text,
                             OUT done bigint, OUT total bigint, OUT started timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'ws_progress_list'
LANGUAGE C VOLATILE;
CREATE VIEW ws.progress AS SELECT * FROM ws._progress();
COMMENT ON FUNCTION ws._progress() IS 'internal: the rows of the view ws.progress';
COMMENT ON VIEW ws.progress IS
'long operations running now, one row per backend: operation (restore, verify, entities_at, find, state_hash), phase, items done, total (NULL when not known), start time';
COMMENT ON COLUMN ws.progress.pid IS 'process id of the backend running the operation';
COMMENT ON COLUMN ws.progress.operation IS 'restore, verify, entities_at, find or state_hash';
COMMENT ON COLUMN ws.progress.phase IS 'current phase of the operation';
COMMENT ON COLUMN ws.progress.done IS 'items done so far (updated every 100)';
COMMENT ON COLUMN ws.progress.total IS 'items in all, NULL when not known';
COMMENT ON COLUMN ws.progress.started IS 'when the operation started';
REVOKE ALL ON FUNCTION ws._progress() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws._progress() TO ws_reader;
REVOKE ALL ON ws.progress FROM PUBLIC;
GRANT SELECT ON ws.progress TO ws_reader;

------------------------------------------------------------------------
-- Convergence of several nodes (src/converge.c): remote events are
-- integrated by two triggers on ws.events that fire only in replica
-- sessions (the logical replication apply worker); what cannot be folded
-- is recorded in ws.conflicts or waits in ws.pending, never raised.
------------------------------------------------------------------------

CREATE TABLE ws.conflicts (
    conflict_id uuid PRIMARY KEY,
    entity_id   text,
    kind        text,
    policy      text,
    type        text NOT NULL,
    event_ids   uuid[] NOT NULL,
    hlc         ws.hlc NOT NULL,
    status      text NOT NULL CHECK (status IN ('open', 'resolved')),
    resolution  text,
    detail      text,
    detected_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX conflicts_entity_idx ON ws.conflicts (entity_id, hlc);
CREATE INDEX conflicts_open_idx ON ws.conflicts (detected_at) WHERE status = 'open';
COMMENT ON TABLE ws.conflicts IS
'concurrent updates and how they were resolved, derived from ws.events: the same rows, with the same ids, on every node holding the same events (apply errors are this node''s own)';
COMMENT ON COLUMN ws.conflicts.conflict_id IS 'derived from the type and the event ids: equal on every node';
COMMENT ON COLUMN ws.conflicts.type IS 'concurrent_update, duplicate_create, after_retirement, constraint, malformed_event (derived from the events), or apply_error (this node could not fold an event)';
COMMENT ON COLUMN ws.conflicts.event_ids IS 'the event and, for concurrent_update, duplicate_create and after_retirement, the earlier event it met';
COMMENT ON COLUMN ws.conflicts.hlc IS 'HLC of the first event of event_ids';
COMMENT ON COLUMN ws.conflicts.status IS 'open (a manual conflict waiting for ws.resolve_conflict) or resolved';
COMMENT ON COLUMN ws.conflicts.resolution IS 'how the conflict was resolved';
COMMENT ON COLUMN ws.conflicts.detail IS 'the error of an apply_error, the constraint of a constraint conflict';
COMMENT ON COLUMN ws.conflicts.entity_id IS 'the entity, or NULL for a catalog event that could not be applied';
COMMENT ON COLUMN ws.conflicts.kind IS 'the entity''s kind';
COMMENT ON COLUMN ws.conflicts.policy IS 'the kind''s policy: lww, merge or manual';
COMMENT ON COLUMN ws.conflicts.detected_at IS 'when this node recorded it (not equal between nodes)';

CREATE TABLE ws.pending (
    event_id  uuid PRIMARY KEY,
    entity_id text,
    origin_node int,
    reason    text NOT NULL,
    detail    text,
    since     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX pending_entity_idx ON ws.pending (entity_id);
COMMENT ON TABLE ws.pending IS
'events from peers that are kept in ws.events but not folded yet: their entity''s creation or their kind has not arrived';
COMMENT ON COLUMN ws.pending.reason IS 'creation_missing or kind_missing';
COMMENT ON COLUMN ws.pending.event_id IS 'the event that waits (it is in ws.events)';
COMMENT ON COLUMN ws.pending.entity_id IS 'its entity';
COMMENT ON COLUMN ws.pending.detail IS 'what it waits for';
COMMENT ON COLUMN ws.pending.since IS 'when it started waiting here';

CREATE FUNCTION ws.events_arrive() RETURNS trigger
AS 'MODULE_PATHNAME', 'events_arrive'
LANGUAGE C;
CREATE FUNCTION ws.events_integrate() RETURNS trigger
AS 'MODULE_PATHNAME', 'events_integrate'
LANGUAGE C;
COMMENT ON FUNCTION ws.events_arrive() IS
'trigger of replica sessions: drops re-delivered events, applies the HLC receive rule, stamps the arrival order';
COMMENT ON FUNCTION ws.events_integrate() IS
'trigger of replica sessions: folds a peer''s event into its entity; failures become ws.conflicts rows';
REVOKE ALL ON FUNCTION ws.events_arrive() FROM PUBLIC;
REVOKE ALL ON FUNCTION ws.events_integrate() FROM PUBLIC;

CREATE TRIGGER events_arrive BEFORE INSERT ON ws.events
    FOR EACH ROW EXECUTE FUNCTION ws.events_arrive();
CREATE TRIGGER events_integrate AFTER INSERT ON ws.events
    FOR EACH ROW EXECUTE FUNCTION ws.events_integrate();
ALTER TABLE ws.events ENABLE REPLICA TRIGGER events_arrive;
ALTER TABLE ws.events ENABLE REPLICA TRIGGER events_integrate;

CREATE FUNCTION ws.resolve_conflict(conflict_id uuid, state jsonb) RETURNS ws.entities
AS 'MODULE_PATHNAME', 'conflict_resolve'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.resolve_conflict(uuid, jsonb) IS
'closes an open conflict: a transition of event type resolve giving the entity this state; every node that integrates it marks the conflict resolved';
REVOKE ALL ON FUNCTION ws.resolve_conflict(uuid, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.resolve_conflict(uuid, jsonb) TO ws_writer;

CREATE FUNCTION ws.retry_pending() RETURNS bigint
AS 'MODULE_PATHNAME', 'pending_retry'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.retry_pending() IS
'folds again the entities whose events wait in ws.pending (once the kind or creation they wait for is here); returns how many left ws.pending';
REVOKE ALL ON FUNCTION ws.retry_pending() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.retry_pending() TO ws_admin;

REVOKE ALL ON ws.conflicts, ws.pending FROM PUBLIC;
GRANT SELECT ON ws.conflicts, ws.pending TO ws_reader;
SELECT pg_catalog.pg_extension_config_dump('ws.conflicts', '');
SELECT pg_catalog.pg_extension_config_dump('ws.pending', '');

------------------------------------------------------------------------
-- Roles and grants.  Each section above grants its own objects: the
-- types and pure functions are for everyone, reading the world is for
-- ws_reader, changing it for ws_writer (within its module grants), and
-- what concerns the whole node for ws_admin.  Here: the schema and the
-- role hierarchy.
------------------------------------------------------------------------

GRANT USAGE ON SCHEMA ws TO PUBLIC;

GRANT ws_reader TO ws_writer;
GRANT ws_writer TO ws_admin;

------------------------------------------------------------------------
-- Strong changes: the home node and synchronous peers
------------------------------------------------------------------------

-- The value of synchronous_standby_names that makes this node's commits
-- wait for sync_peers of its peers (NULL: all), by the application names
-- their subscriptions to this node use (ws_node_<their id>).  The DBA
-- sets it with ALTER SYSTEM on each node and reloads; a strong change
-- then waits with synchronous_commit = remote_apply.
CREATE FUNCTION ws.synchronous_standby_names(sync_peers int DEFAULT NULL) RETURNS text
AS 'MODULE_PATHNAME', 'replication_synchronous_standby_names'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.synchronous_standby_names(int) IS
'the value of synchronous_standby_names for this node: FIRST n (ws_node_<id>, ...) over its peers in ws.nodes, n = sync_peers (NULL: all peers); set it with ALTER SYSTEM and reload';
REVOKE ALL ON FUNCTION ws.synchronous_standby_names(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.synchronous_standby_names(int) TO ws_reader;

-- a picture of causal history (src/graph.c): an entity's events as a
-- Graphviz DOT graph of causality, the same bytes on every node that
-- holds the same events.
------------------------------------------------------------------------

CREATE FUNCTION ws.causal_graph(entity_id text, from_hlc ws.hlc DEFAULT NULL,
                                to_hlc ws.hlc DEFAULT NULL) RETURNS text
AS 'MODULE_PATHNAME', 'causal_graph'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION ws.causal_graph(text, ws.hlc, ws.hlc) IS
'the events of an entity with from_hlc <= hlc <= to_hlc (NULL: open) as Graphviz DOT: a lane and a colour per origin node, arrows from each event''s immediate causal predecessors, conflicts as dashed red lines, resolutions, retirement and the canonical head marked; at most 10000 events (54000 above)';
REVOKE ALL ON FUNCTION ws.causal_graph(text, ws.hlc, ws.hlc) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.causal_graph(text, ws.hlc, ws.hlc) TO ws_reader;

-- reconciliation (src/reconcile.c)
------------------------------------------------------------------------

CREATE FUNCTION ws.reconcile() RETURNS TABLE (entity_id text, change text)
AS 'MODULE_PATHNAME', 'reconcile_local'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.reconcile() IS
'folds every entity again from its events (archived ones included) and repairs its row, keyframes and conflicts where they differ from the fold; one row per entity repaired, saying what differed';
REVOKE ALL ON FUNCTION ws.reconcile() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.reconcile() TO ws_admin;

-- Superusers only (checked in C): it connects to the peer with this
-- server's credentials and inserts what it fetches as a replica session.
CREATE FUNCTION ws.reconcile(peer text) RETURNS TABLE (entity_id text, change text)
AS 'MODULE_PATHNAME', 'reconcile_peer'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws.reconcile(text) IS
'fetches through dblink the events a peer of ws.nodes has and this node lacks (compared by digests of event ids per entity and origin node) and integrates them as replicated events; one row per entity saying how many events were fetched (superusers only)';
REVOKE ALL ON FUNCTION ws.reconcile(text) FROM PUBLIC;

-- Causal buffering (src/converge.c): a peer's event whose causal past is
-- not all here yet, or whose HLC is too far ahead of the local clock, is
-- not inserted into ws.events: it waits in ws.pending, the whole row in
-- held, and is inserted when what it waits for has arrived.  So
-- ws.events' arrival order is the order of application, and no reader
-- (ws.poll, ws.history, the output plugin) sees an event before its past.
------------------------------------------------------------------------

ALTER TABLE ws.pending ADD COLUMN held ws.events, ADD COLUMN waits_for text;
CREATE INDEX pending_waits_for_idx ON ws.pending (waits_for) WHERE waits_for IS NOT NULL;
CREATE INDEX pending_reason_idx ON ws.pending (reason, since);
COMMENT ON INDEX ws.pending_waits_for_idx IS
'held events by what they wait for: those an arriving event releases';
COMMENT ON INDEX ws.pending_reason_idx IS
'held events by reason and age: the clock_skew ones to retry, the causal ones past worldstate.causal_timeout';
COMMENT ON TABLE ws.pending IS
'events from peers not applied yet: causal and clock_skew ones are held here, not in ws.events, until their causal past has arrived or the local clock has caught up; creation_missing and kind_missing ones are in ws.events but not folded until their entity''s creation or kind arrives';
COMMENT ON COLUMN ws.pending.reason IS
'causal (its entity vclock or causal_deps are not covered here), clock_skew (its HLC is ahead of the local clock by more than worldstate.max_clock_skew), creation_missing or kind_missing';
COMMENT ON COLUMN ws.pending.event_id IS
'the event that waits (in ws.events for creation_missing and kind_missing; only here, in held, for causal and clock_skew)';
COMMENT ON COLUMN ws.pending.origin_node IS 'node that made the event';
COMMENT ON COLUMN ws.pending.held IS
'for causal and clock_skew: the row of ws.events as it arrived, inserted into ws.events when released; NULL otherwise';
COMMENT ON COLUMN ws.pending.waits_for IS
'for causal: the first missing prerequisite, event:<event id> (an explicit causal dependency) or entity:<node>:<count>:<entity id> (the count-th event of that node on the entity); its arrival releases the event';
COMMENT ON COLUMN ws.conflicts.type IS
'concurrent_update, duplicate_create, after_retirement, constraint, malformed_event (derived from the events), apply_error (this node could not fold an event), or causal_timeout (an event waited in ws.pending longer than worldstate.causal_timeout; open until it is released)';
COMMENT ON FUNCTION ws.retry_pending() IS
'folds again the entities whose events wait in ws.pending (once the kind or creation they wait for is here), retries every held event (causal and clock_skew), and reports held events past worldstate.causal_timeout; returns how many left ws.pending';
COMMENT ON FUNCTION ws.stats() IS
'node-wide counters since server start: clock_skew_rejections, events_written, rejected_*, bus counters, remote_events_applied, events_buffered (peer events held in ws.pending), events_released, causal_expired (held past worldstate.causal_timeout), clock_skew_parked, conflicts_<type> (ws.conflicts rows recorded, by type); gauge max_clock_skew_observed_us';

-- The stable past and ws.peer_status (src/stable.c)
--
-- On a node with peers the worker publishes the node's safe horizon every
-- worldstate.horizon_interval as an event of module 'ws', type 'horizon',
-- without an entity, patch {"horizon": "<hlc>"}; a peer records the last
-- one in ws.nodes.horizon.  ws.stable_hlc() is the least of this node's
-- safe horizon and every peer's: at or below it the past is final.
------------------------------------------------------------------------

ALTER TABLE ws.nodes ADD COLUMN horizon ws.hlc;
COMMENT ON COLUMN ws.pending.origin_node IS 'node the event comes from';
COMMENT ON COLUMN ws.nodes.horizon IS
'the peer''s last horizon event: every event of the peer at or below it has arrived here; NULL until the first one';

-- this node's last horizon event, and those of each peer (the partial
-- index costs other events only the evaluation of its predicate)
CREATE INDEX events_horizon_idx ON ws.events (origin_node, hlc)
    WHERE module = 'ws' AND event_type = 'horizon';
COMMENT ON INDEX ws.events_horizon_idx IS
'horizon events of each node in HLC order: the worker''s check whether the horizon advanced, archival';

CREATE FUNCTION ws.stable_hlc() RETURNS ws.hlc
AS 'MODULE_PATHNAME', 'stable_hlc'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION ws.stable_hlc() IS
'the least of this node''s safe horizon and the last horizon of every peer: at or below it no event can arrive any more, so time travel, ws.state_hash(at) and snapshots there are final and equal on every converged node; NULL while a peer has sent no horizon; on a standalone node its safe horizon';
REVOKE ALL ON FUNCTION ws.stable_hlc() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws.stable_hlc() TO ws_reader;

CREATE FUNCTION ws._publish_horizon() RETURNS ws.hlc
AS 'MODULE_PATHNAME', 'stable_publish_horizon'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION ws._publish_horizon() IS
'internal: what the worker does every worldstate.horizon_interval, now: on a node with peers, writes a horizon event when the safe horizon advanced past the last one and returns the horizon; NULL when it wrote none';
REVOKE ALL ON FUNCTION ws._publish_horizon() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws._publish_horizon() TO ws_admin;

CREATE FUNCTION ws._peer_clock_skew(node_id int) RETURNS bigint
AS 'MODULE_PATHNAME', 'ws_peer_clock_skew'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION ws._peer_clock_skew(int) IS
'internal: the greatest clock skew (microseconds the node''s clock was ahead of this one''s, 0 if never) seen in the node''s events since the server started; NULL when none arrived';
REVOKE ALL ON FUNCTION ws._peer_clock_skew(int) FROM PUBLIC;

-- The rows of ws.peer_status: ws.peer_links with what this node knows of
-- each peer.  SECURITY DEFINER: pg_stat_replication and
-- pg_replication_slots hold what a ws_reader may not read (other
-- sessions' queries and connections); only these columns leave.
CREATE FUNCTION ws._peer_status(
    OUT name text, OUT node_id int, OUT enabled boolean, OUT running boolean,
    OUT received_lsn pg_lsn, OUT applied_lsn pg_lsn, OUT reported_at timestamptz,
    OUT lag_seconds double precision, OUT lag_bytes bigint, OUT last_applied_hlc ws.hlc,
    OUT horizon ws.hlc, OUT max_clock_skew_us bigint, OUT pending bigint,
    OUT open_conflicts bigint, OUT synchronous boolean, OUT sync_state text,
    OUT wal_retained_bytes bigint)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
SELECT n.name, n.node_id, l.enabled, l.pid IS NOT NULL,
       l.received_lsn, l.latest_end_lsn, l.latest_end_time,
       CASE WHEN l.pid IS NOT NULL
            THEN GREATEST(0, pg_catalog.date_part('epoch',
                     pg_catalog.now() OPERATOR(pg_catalog.-) l.latest_end_time)) END,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), sl.confirmed_flush_lsn)::bigint,
       (SELECT e.hlc FROM ws.events e WHERE e.origin_node OPERATOR(pg_catalog.=) n.node_id
         ORDER BY e.hlc USING OPERATOR(ws.>) LIMIT 1),
       n.horizon,
       ws._peer_clock_skew(n.node_id),
       (SELECT pg_catalog.count(*) FROM ws.pending p WHERE p.origin_node OPERATOR(pg_catalog.=) n.node_id),
       (SELECT pg_catalog.count(*) FROM ws.conflicts c
         WHERE c.status OPERATOR(pg_catalog.=) 'open'
           AND EXISTS (SELECT FROM ws.events e
                       WHERE e.event_id OPERATOR(pg_catalog.=) ANY (c.event_ids)
                         AND e.origin_node OPERATOR(pg_catalog.=) n.node_id)),
       COALESCE(r.sync_state OPERATOR(pg_catalog.=) ANY ('{sync,quorum}'), false),
       r.sync_state,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), sl.restart_lsn)::bigint
FROM ws.nodes n
JOIN ws.peer_links l ON l.node_id OPERATOR(pg_catalog.=) n.node_id
LEFT JOIN pg_catalog.pg_replication_slots sl
       ON sl.slot_name OPERATOR(pg_catalog.=)
          pg_catalog.format('ws_node_%s_to_%s', pg_catalog.current_setting('worldstate.node_id'), n.node_id)
LEFT JOIN LATERAL (
    SELECT w.sync_state FROM pg_catalog.pg_stat_replication w
    WHERE w.application_name OPERATOR(pg_catalog.=) pg_catalog.format('ws_node_%s', n.node_id)
       OR w.pid OPERATOR(pg_catalog.=) sl.active_pid
    ORDER BY w.application_name OPERATOR(pg_catalog.=) pg_catalog.format('ws_node_%s', n.node_id) DESC
    LIMIT 1) r ON true
ORDER BY n.node_id
$$;
COMMENT ON FUNCTION ws._peer_status() IS 'internal: the rows of the view ws.peer_status';
REVOKE ALL ON FUNCTION ws._peer_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ws._peer_status() TO ws_reader;

CREATE VIEW ws.peer_status AS SELECT * FROM ws._peer_status();
COMMENT ON VIEW ws.peer_status IS
'one row per peer of this node: its link (enabled, running, positions, lag), the last of its events and its horizon here, the greatest clock skew seen from it, its events waiting and its open conflicts, whether it is a synchronous standby, the WAL this node retains for it';
COMMENT ON COLUMN ws.peer_status.name IS 'as ws.nodes.name';
COMMENT ON COLUMN ws.peer_status.node_id IS 'as ws.nodes.node_id';
COMMENT ON COLUMN ws.peer_status.enabled IS 'whether this node''s subscription to the peer is enabled (NULL: the subscription is missing)';
COMMENT ON COLUMN ws.peer_status.running IS 'whether its apply worker runs';
COMMENT ON COLUMN ws.peer_status.received_lsn IS 'last position of the peer''s WAL received';
COMMENT ON COLUMN ws.peer_status.applied_lsn IS 'last position of the peer''s WAL reported to the peer as applied';
COMMENT ON COLUMN ws.peer_status.reported_at IS 'when the apply worker last reported its position to the peer (also in answer to keepalives)';
COMMENT ON COLUMN ws.peer_status.lag_seconds IS 'seconds since then, while the apply worker runs; grows past wal_sender_timeout / 2 only when the link is stuck';
COMMENT ON COLUMN ws.peer_status.lag_bytes IS 'bytes of this node''s WAL the peer has not confirmed yet (its slot ws_node_<this id>_to_<peer id> here)';
COMMENT ON COLUMN ws.peer_status.last_applied_hlc IS 'the greatest HLC of the peer''s events here';
COMMENT ON COLUMN ws.peer_status.horizon IS 'the peer''s last horizon (ws.nodes.horizon); ws.stable_hlc() is at most this';
COMMENT ON COLUMN ws.peer_status.max_clock_skew_us IS 'the greatest number of microseconds the peer''s clock was ahead of this node''s when one of its events arrived, since this server started (0: never ahead, NULL: no event yet)';
COMMENT ON COLUMN ws.peer_status.pending IS 'events of the peer waiting in ws.pending';
COMMENT ON COLUMN ws.peer_status.open_conflicts IS 'open conflicts of ws.conflicts involving an event of the peer';
COMMENT ON COLUMN ws.peer_status.synchronous IS 'whether the peer''s subscription to this node is a synchronous standby here (sync_state sync or quorum)';
COMMENT ON COLUMN ws.peer_status.sync_state IS 'sync_state of the WAL sender serving the peer (async, potential, sync, quorum), NULL while none runs';
COMMENT ON COLUMN ws.peer_status.wal_retained_bytes IS 'bytes of WAL this node retains for the peer (from the restart_lsn of its slot here); grows while the peer is away';
REVOKE ALL ON ws.peer_status FROM PUBLIC;
GRANT SELECT ON ws.peer_status TO ws_reader;
