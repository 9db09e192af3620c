-- Schema contract of the canon memory layer: tables, columns and types,
-- keys and indexes, the append-only triggers, pg_dump registration, the
-- signatures of the state-changing functions and their fixed search_path,
-- and who may read, write and execute what.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
SELECT plan(178);

-- tables (DESIGN.md section 5)
SELECT has_table('ws', 'entities', 'table ws.entities exists');
SELECT has_table('ws', 'events', 'table ws.events exists');
SELECT has_table('ws', 'relationships', 'table ws.relationships exists');
SELECT has_table('ws', 'kinds', 'table ws.kinds exists');
SELECT has_table('ws', 'constraints', 'table ws.constraints exists');
SELECT has_table('ws', 'modules', 'table ws.modules exists');
SELECT has_table('ws', 'module_grants', 'table ws.module_grants exists');

-- ws.entities is also the row type the transition functions return, so
-- its columns are exactly these
SELECT columns_are('ws', 'entities',
                   ARRAY['entity_id', 'kind', 'module', 'state', 'version', 'hlc', 'vclock',
                         'created_hlc', 'retired'],
                   'ws.entities has exactly the columns of DESIGN.md');
SELECT col_type_is('ws', 'entities', 'entity_id', 'text', 'entities.entity_id is text');
SELECT col_type_is('ws', 'entities', 'kind', 'text', 'entities.kind is text');
SELECT col_type_is('ws', 'entities', 'module', 'text', 'entities.module is text');
SELECT col_type_is('ws', 'entities', 'state', 'jsonb', 'entities.state is jsonb');
SELECT col_type_is('ws', 'entities', 'version', 'bigint', 'entities.version is bigint');
SELECT col_type_is('ws', 'entities', 'hlc', 'ws.hlc', 'entities.hlc is ws.hlc');
SELECT col_type_is('ws', 'entities', 'vclock', 'ws.vclock', 'entities.vclock is ws.vclock');
SELECT col_type_is('ws', 'entities', 'created_hlc', 'ws.hlc', 'entities.created_hlc is ws.hlc');
SELECT col_type_is('ws', 'entities', 'retired', 'boolean', 'entities.retired is boolean');
SELECT col_not_null('ws', 'entities', 'state', 'entities.state is not null');
SELECT col_not_null('ws', 'entities', 'version', 'entities.version is not null');

SELECT has_column('ws', 'events', 'event_id', 'events.event_id exists');
SELECT col_type_is('ws', 'events', 'event_id', 'uuid', 'events.event_id is uuid');
SELECT col_type_is('ws', 'events', 'entity_id', 'text', 'events.entity_id is text');
SELECT col_type_is('ws', 'events', 'version', 'bigint', 'events.version is bigint');
SELECT col_type_is('ws', 'events', 'hlc', 'ws.hlc', 'events.hlc is ws.hlc');
SELECT col_type_is('ws', 'events', 'origin_node', 'integer', 'events.origin_node is integer');
SELECT col_type_is('ws', 'events', 'module', 'text', 'events.module is text');
SELECT col_type_is('ws', 'events', 'event_type', 'text', 'events.event_type is text');
SELECT col_type_is('ws', 'events', 'patch', 'jsonb', 'events.patch is jsonb');
SELECT col_type_is('ws', 'events', 'handshake', 'text', 'events.handshake is text');
SELECT col_type_is('ws', 'events', 'causal_deps', 'uuid[]', 'events.causal_deps is uuid[]');
SELECT col_type_is('ws', 'events', 'vclock', 'ws.vclock', 'events.vclock is ws.vclock');
SELECT col_type_is('ws', 'events', 'schema_version', 'integer', 'events.schema_version is integer');
SELECT col_type_is('ws', 'events', 'txid', 'xid8', 'events.txid is xid8');
SELECT col_type_is('ws', 'events', 'recorded_at', 'timestamp with time zone', 'events.recorded_at is timestamptz');
SELECT col_not_null('ws', 'events', 'hlc', 'events.hlc is not null');
SELECT col_not_null('ws', 'events', 'patch', 'events.patch is not null');
SELECT col_type_is('ws', 'events', 'intent', 'jsonb', 'events.intent is jsonb');
SELECT col_type_is('ws', 'events', 'arrival', 'bigint', 'events.arrival is bigint');
SELECT col_default_is('ws', 'events', 'arrival', $$nextval('ws.events_arrival_seq'::regclass)$$,
                      'events.arrival comes from ws.events_arrival_seq');

SELECT col_type_is('ws', 'relationships', 'from_id', 'text', 'relationships.from_id is text');
SELECT col_type_is('ws', 'relationships', 'rel', 'text', 'relationships.rel is text');
SELECT col_type_is('ws', 'relationships', 'to_id', 'text', 'relationships.to_id is text');
SELECT col_type_is('ws', 'relationships', 'props', 'jsonb', 'relationships.props is jsonb');
SELECT col_type_is('ws', 'relationships', 'hlc', 'ws.hlc', 'relationships.hlc is ws.hlc');

SELECT col_type_is('ws', 'kinds', 'kind', 'text', 'kinds.kind is text');
SELECT col_type_is('ws', 'kinds', 'module', 'text', 'kinds.module is text');
SELECT col_type_is('ws', 'kinds', 'policy', 'text', 'kinds.policy is text');
SELECT col_type_is('ws', 'kinds', 'counters', 'text[]', 'kinds.counters is text[]');
SELECT col_default_is('ws', 'kinds', 'policy', 'lww', 'a kind''s policy defaults to lww');

SELECT col_type_is('ws', 'constraints', 'kind', 'text', 'constraints.kind is text');
SELECT col_type_is('ws', 'constraints', 'name', 'text', 'constraints.name is text');
SELECT col_type_is('ws', 'constraints', 'predicate', 'jsonpath', 'constraints.predicate is jsonpath');

SELECT col_type_is('ws', 'modules', 'name', 'text', 'modules.name is text');
SELECT col_type_is('ws', 'modules', 'api_version', 'integer', 'modules.api_version is integer');

SELECT col_type_is('ws', 'module_grants', 'module', 'text', 'module_grants.module is text');
SELECT col_type_is('ws', 'module_grants', 'role', 'regrole', 'module_grants.role is regrole');
SELECT col_type_is('ws', 'module_grants', 'admin', 'boolean', 'module_grants.admin is boolean');
SELECT col_not_null('ws', 'module_grants', 'admin', 'module_grants.admin is not null');
SELECT col_default_is('ws', 'module_grants', 'admin', 'false', 'a grant makes a writer unless it says admin');
SELECT col_type_is('ws', 'modules', 'require_event_schemas', 'boolean', 'modules.require_event_schemas is boolean');
SELECT col_default_is('ws', 'modules', 'require_event_schemas', 'false', 'event schemas are optional unless required');

-- keys
SELECT col_is_pk('ws', 'entities', 'entity_id', 'entities are keyed by entity_id');
SELECT col_is_pk('ws', 'events', 'event_id', 'events are keyed by event_id (the idempotency key)');
SELECT col_is_unique('ws', 'events', ARRAY['entity_id', 'hlc'], 'one event per entity and HLC (the same version may come from two nodes)');
SELECT col_is_pk('ws', 'keyframes', ARRAY['entity_id', 'hlc'], 'keyframes are keyed by (entity_id, hlc)');
SELECT col_is_pk('ws', 'relationships', ARRAY['from_id', 'rel', 'to_id'], 'relationships are keyed by (from_id, rel, to_id)');
SELECT col_is_pk('ws', 'kinds', 'kind', 'kinds are keyed by kind');
SELECT col_is_pk('ws', 'constraints', ARRAY['kind', 'name'], 'constraints are keyed by (kind, name)');
SELECT col_is_pk('ws', 'modules', 'name', 'modules are keyed by name');
SELECT col_is_pk('ws', 'module_grants', ARRAY['module', 'role'], 'module grants are keyed by (module, role)');

-- indexes, whatever their names: GIN on entities.state, BRIN on events.hlc
SELECT ok(EXISTS (SELECT FROM pg_index i
                  JOIN pg_class c ON c.oid = i.indexrelid
                  JOIN pg_am am ON am.oid = c.relam
                  WHERE i.indrelid = 'ws.entities'::regclass AND am.amname = 'gin'
                    AND i.indnatts = 1
                    AND i.indkey[0] = (SELECT attnum FROM pg_attribute
                                       WHERE attrelid = 'ws.entities'::regclass AND attname = 'state')),
          'ws.entities.state has a GIN index');
SELECT ok(EXISTS (SELECT FROM pg_index i
                  JOIN pg_class c ON c.oid = i.indexrelid
                  JOIN pg_am am ON am.oid = c.relam
                  WHERE i.indrelid = 'ws.events'::regclass AND am.amname = 'brin'
                    AND i.indnatts = 1
                    AND i.indkey[0] = (SELECT attnum FROM pg_attribute
                                       WHERE attrelid = 'ws.events'::regclass AND attname = 'hlc')),
          'ws.events.hlc has a BRIN index');
SELECT is((SELECT opc.opcname::text FROM pg_index i
           JOIN pg_class c ON c.oid = i.indexrelid
           JOIN pg_am am ON am.oid = c.relam
           JOIN pg_opclass opc ON opc.oid = i.indclass[0]
           WHERE i.indrelid = 'ws.events'::regclass AND am.amname = 'brin'),
          'hlc_minmax_ops', 'the BRIN index on events.hlc uses ws.hlc_minmax_ops');

-- the event log is append-only: its triggers exist, call ws.events_immutable,
-- and fire ALWAYS (also under session_replication_role = replica)
SELECT has_trigger('ws', 'events', 'events_no_update', 'ws.events has trigger events_no_update');
SELECT has_trigger('ws', 'events', 'events_no_truncate', 'ws.events has trigger events_no_truncate');
SELECT trigger_is('ws', 'events', 'events_no_update', 'ws', 'events_immutable',
                  'events_no_update calls ws.events_immutable');
SELECT trigger_is('ws', 'events', 'events_no_truncate', 'ws', 'events_immutable',
                  'events_no_truncate calls ws.events_immutable');
-- tgtype bits: 1 row, 2 before, 8 delete, 16 update, 32 truncate
SELECT ok(EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'ws.events'::regclass AND NOT tgisinternal
                  AND tgtype::int & 27 = 27 AND tgenabled = 'A'),
          'a row trigger fires before UPDATE and DELETE on ws.events, ENABLE ALWAYS');
SELECT ok(EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'ws.events'::regclass AND NOT tgisinternal
                  AND tgtype::int & 34 = 34 AND tgenabled = 'A'),
          'a statement trigger fires before TRUNCATE on ws.events, ENABLE ALWAYS');
SELECT is_empty($$SELECT tgname FROM pg_trigger
                  WHERE tgrelid = 'ws.events'::regclass AND NOT tgisinternal AND tgenabled <> 'A'
                  AND NOT (tgname IN ('events_arrive', 'events_integrate') AND tgenabled = 'R')$$,
                'every trigger on ws.events is ENABLE ALWAYS, but the two that integrate peers'' events, ENABLE REPLICA');
SELECT ok(NOT has_function_privilege('public', 'ws.events_immutable()', 'EXECUTE'),
          'the trigger function is not callable by PUBLIC');

-- pg_dump keeps the data: every table of schema ws is registered with
-- pg_extension_config_dump
SELECT ok((SELECT ARRAY['ws.entities', 'ws.events', 'ws.relationships', 'ws.kinds',
                        'ws.constraints', 'ws.modules', 'ws.module_grants']::regclass[]::oid[]
                  <@ extconfig FROM pg_extension WHERE extname = 'worldstate'),
          'the canon tables are in pg_extension.extconfig');
SELECT is_empty($$SELECT c.relname FROM pg_class c
                  WHERE c.relnamespace = 'ws'::regnamespace AND c.relkind IN ('r', 'p', 'S')
                    AND c.oid <> ALL (SELECT unnest(extconfig) FROM pg_extension
                                      WHERE extname = 'worldstate')$$,
                'every table and sequence of schema ws is dumped with its data');

-- the functions run table access as the owner of schema ws: it owns every table
SELECT is_empty($$SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'ws' AND c.relkind IN ('r', 'p') AND c.relowner <> n.nspowner$$,
                'the owner of schema ws owns every ws table');

-- signatures (DESIGN.md section 6)
SELECT has_function('ws', 'create_entity', ARRAY['text', 'text', 'text', 'jsonb', 'text', 'uuid', 'jsonb']);
SELECT function_returns('ws', 'create_entity', ARRAY['text', 'text', 'text', 'jsonb', 'text', 'uuid', 'jsonb'], 'ws.entities');
SELECT has_function('ws', 'transition', ARRAY['text', 'jsonb', 'bigint', 'text', 'uuid', 'text', 'uuid[]', 'text', 'jsonb']);
SELECT function_returns('ws', 'transition', ARRAY['text', 'jsonb', 'bigint', 'text', 'uuid', 'text', 'uuid[]', 'text', 'jsonb'], 'ws.entities');
SELECT has_function('ws', 'transition_many', ARRAY['jsonb']);
SELECT function_returns('ws', 'transition_many', ARRAY['jsonb'], 'setof ws.entities');
SELECT has_function('ws', 'retire_entity', ARRAY['text', 'bigint', 'text', 'jsonb']);
SELECT function_returns('ws', 'retire_entity', ARRAY['text', 'bigint', 'text', 'jsonb'], 'ws.entities');
SELECT has_function('ws', 'link', ARRAY['text', 'text', 'text', 'jsonb', 'text', 'jsonb']);
SELECT function_returns('ws', 'link', ARRAY['text', 'text', 'text', 'jsonb', 'text', 'jsonb'], 'ws.relationships');
SELECT has_function('ws', 'unlink', ARRAY['text', 'text', 'text', 'text', 'jsonb']);
SELECT function_returns('ws', 'unlink', ARRAY['text', 'text', 'text', 'text', 'jsonb'], 'ws.relationships');
SELECT has_function('ws', 'define_kind', ARRAY['text', 'text', 'text', 'text[]']);
SELECT function_returns('ws', 'define_kind', ARRAY['text', 'text', 'text', 'text[]'], 'void');
SELECT has_function('ws', 'add_constraint', ARRAY['text', 'text', 'jsonpath', 'boolean']);
SELECT function_returns('ws', 'add_constraint', ARRAY['text', 'text', 'jsonpath', 'boolean'], 'void');
SELECT has_function('ws', 'drop_constraint', ARRAY['text', 'text']);
SELECT function_returns('ws', 'drop_constraint', ARRAY['text', 'text'], 'void');
SELECT has_function('ws', 'register_module', ARRAY['text', 'integer', 'boolean']);
SELECT function_returns('ws', 'register_module', ARRAY['text', 'integer', 'boolean'], 'void');
SELECT has_function('ws', 'grant_module', ARRAY['text', 'name', 'boolean']);
SELECT function_returns('ws', 'grant_module', ARRAY['text', 'name', 'boolean'], 'void');
SELECT has_function('ws', 'revoke_module', ARRAY['text', 'name']);
SELECT function_returns('ws', 'revoke_module', ARRAY['text', 'name'], 'void');
SELECT has_function('ws', 'delete_snapshot', ARRAY['bigint']);
SELECT function_returns('ws', 'delete_snapshot', ARRAY['bigint'], 'void');

-- parameter names and defaults are API too: callers write
-- expected_version => 3, event_id => ..., handshake => ...
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.create_entity(text, text, text, jsonb, text, uuid, jsonb)'::regprocedure),
          ARRAY['entity_id', 'kind', 'module', 'state', 'handshake', 'event_id', 'meta'],
          'ws.create_entity parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.transition(text, jsonb, bigint, text, uuid, text, uuid[], text, jsonb)'::regprocedure),
          ARRAY['entity_id', 'patch', 'expected_version', 'handshake', 'event_id', 'event_type', 'causal_deps', 'consistency', 'meta'],
          'ws.transition parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.transition_many(jsonb)'::regprocedure),
          ARRAY['updates'], 'ws.transition_many parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.retire_entity(text, bigint, text, jsonb)'::regprocedure),
          ARRAY['entity_id', 'expected_version', 'handshake', 'meta'], 'ws.retire_entity parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.link(text, text, text, jsonb, text, jsonb)'::regprocedure),
          ARRAY['from_id', 'rel', 'to_id', 'props', 'handshake', 'meta'], 'ws.link parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.unlink(text, text, text, text, jsonb)'::regprocedure),
          ARRAY['from_id', 'rel', 'to_id', 'handshake', 'meta'], 'ws.unlink parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.define_kind(text, text, text, text[])'::regprocedure),
          ARRAY['kind', 'module', 'policy', 'counters'], 'ws.define_kind parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.add_constraint(text, text, jsonpath, boolean)'::regprocedure),
          ARRAY['kind', 'name', 'predicate', 'not_valid'], 'ws.add_constraint parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.drop_constraint(text, text)'::regprocedure),
          ARRAY['kind', 'name'], 'ws.drop_constraint parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.register_module(text, integer, boolean)'::regprocedure),
          ARRAY['name', 'api_version', 'require_event_schemas'], 'ws.register_module parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.grant_module(text, name, boolean)'::regprocedure),
          ARRAY['module', 'role', 'admin'], 'ws.grant_module parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.revoke_module(text, name)'::regprocedure),
          ARRAY['module', 'role'], 'ws.revoke_module parameter names');
SELECT is((SELECT string_agg(p.proname || ':' || p.pronargdefaults, ', ' ORDER BY p.proname)
           FROM pg_proc p
           WHERE p.pronamespace = 'ws'::regnamespace
             AND p.proname IN ('create_entity', 'transition', 'transition_many', 'retire_entity', 'link',
                               'unlink', 'define_kind', 'add_constraint', 'register_module', 'grant_module',
                               'drop_constraint', 'revoke_module')),
          'add_constraint:1, create_entity:3, define_kind:2, drop_constraint:0, grant_module:1, link:3, '
          'register_module:1, retire_entity:3, revoke_module:0, transition:7, transition_many:0, unlink:2',
          'one signature each, with the optional parameters of DESIGN.md (name:number of defaults)');

-- a fixed search_path on every state-changing function
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
      WHERE p.pronamespace = 'ws'::regnamespace
        AND p.proname IN ('create_entity', 'transition', 'transition_many', 'retire_entity', 'link',
                          'unlink', 'define_kind', 'add_constraint', 'register_module', 'grant_module',
                               'drop_constraint', 'revoke_module')
        AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)$$,
    'every state-changing function has SET search_path = pg_catalog, pg_temp');
SELECT is((SELECT count(*)::int FROM pg_proc p
           WHERE p.pronamespace = 'ws'::regnamespace
             AND p.proname IN ('create_entity', 'transition', 'transition_many', 'retire_entity', 'link',
                               'unlink', 'define_kind', 'add_constraint', 'register_module', 'grant_module',
                               'drop_constraint', 'revoke_module')
             AND 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig)),
          12, 'all twelve state-changing functions carry it');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
      WHERE p.pronamespace = 'ws'::regnamespace AND p.prosecdef
        AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)$$,
    'no SECURITY DEFINER function in ws without a fixed search_path');

-- roles
SELECT is_member_of('ws_reader', 'ws_writer', 'ws_writer is a member of ws_reader');
SELECT is_member_of('ws_writer', 'ws_admin', 'ws_admin is a member of ws_writer');

-- table privileges: readers read; nobody, PUBLIC included, writes directly
SELECT table_privs_are('ws', t, r, ARRAY['SELECT'],
                       r || ' may only SELECT ws.' || t)
FROM unnest(ARRAY['entities', 'events', 'relationships', 'kinds', 'constraints', 'modules',
                  'module_grants']) WITH ORDINALITY AS tt(t, i),
     unnest(ARRAY['ws_reader', 'ws_writer', 'ws_admin']) WITH ORDINALITY AS rr(r, j)
ORDER BY i, j;
SELECT table_privs_are('ws', t, 'public', ARRAY[]::name[],
                       'PUBLIC has no privilege on ws.' || t)
FROM unnest(ARRAY['entities', 'events', 'relationships', 'kinds', 'constraints', 'modules',
                  'module_grants']) WITH ORDINALITY AS tt(t, i)
ORDER BY i;
SELECT is_empty(
    $$SELECT c.relname FROM pg_class c
      WHERE c.relnamespace = 'ws'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        AND NOT has_table_privilege('ws_reader', c.oid, 'SELECT')$$,
    'ws_reader may SELECT every relation of schema ws');
SELECT is_empty(
    $$SELECT r || ' on ' || c.relname FROM pg_class c,
             unnest(ARRAY['public', 'ws_reader', 'ws_writer', 'ws_admin']) r
      WHERE c.relnamespace = 'ws'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        AND has_table_privilege(r, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')$$,
    'no worldstate role and not PUBLIC may INSERT, UPDATE, DELETE or TRUNCATE any relation of schema ws');
SELECT is_empty(
    $$SELECT r || ' on ' || c.relname FROM pg_class c,
             unnest(ARRAY['public', 'ws_reader', 'ws_writer', 'ws_admin']) r
      WHERE c.relnamespace = 'ws'::regnamespace AND c.relkind = 'S'
        AND has_sequence_privilege(r, c.oid, 'UPDATE')$$,
    'no worldstate role and not PUBLIC may advance a sequence of schema ws');

-- EXECUTE: the transition protocol for writers and admins, modules for admins
SELECT results_eq(
    format($$SELECT r FROM unnest(ARRAY['public', 'ws_reader', 'ws_writer', 'ws_admin']) r
             WHERE has_function_privilege(r, %L, 'EXECUTE') ORDER BY r$$, f),
    ARRAY['ws_admin', 'ws_writer'],
    f || ' is executable by ws_writer and ws_admin only')
FROM unnest(ARRAY['ws.create_entity(text, text, text, jsonb, text, uuid, jsonb)',
                  'ws.transition(text, jsonb, bigint, text, uuid, text, uuid[], text, jsonb)',
                  'ws.transition_many(jsonb)',
                  'ws.retire_entity(text, bigint, text, jsonb)',
                  'ws.link(text, text, text, jsonb, text, jsonb)',
                  'ws.unlink(text, text, text, text, jsonb)',
                  'ws.define_kind(text, text, text, text[])',
                  'ws.add_constraint(text, text, jsonpath, boolean)',
                  'ws.drop_constraint(text, text)']) WITH ORDINALITY AS ff(f, i)
ORDER BY i;
-- functions for ws_admin only: writers may call them so that they are told
-- why not (42501 with a hint); the function checks membership in ws_admin
SELECT results_eq(
    format($$SELECT r FROM unnest(ARRAY['public', 'ws_reader', 'ws_writer', 'ws_admin']) r
             WHERE has_function_privilege(r, %L, 'EXECUTE') ORDER BY r$$, f),
    ARRAY['ws_admin', 'ws_writer'],
    f || ' is executable by ws_writer and ws_admin only (and refuses writers itself)')
FROM unnest(ARRAY['ws.register_module(text, integer, boolean)',
                  'ws.grant_module(text, name, boolean)',
                  'ws.revoke_module(text, name)',
                  'ws.delete_snapshot(bigint)',
                  'ws.archive_events(ws.hlc)']) WITH ORDINALITY AS ff(f, i)
ORDER BY i;
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text)
           FROM pg_proc p
           WHERE p.pronamespace = 'ws'::regnamespace AND p.proisstrict
             AND p.proname IN ('register_module', 'grant_module', 'revoke_module', 'define_kind',
                               'add_constraint', 'drop_constraint', 'archive_events', 'delete_snapshot')),
          NULL, 'no catalog or lifecycle function is STRICT: a NULL argument is an error, not a silent NULL');
-- reconciliation: refolding for ws_admin; fetching from a peer for
-- superusers only (no role is granted it); a NULL peer is an error
SELECT results_eq(
    $$SELECT r FROM unnest(ARRAY['public', 'ws_reader', 'ws_writer', 'ws_admin']) r
      WHERE has_function_privilege(r, 'ws.reconcile()', 'EXECUTE') ORDER BY r$$,
    ARRAY['ws_admin'],
    'ws.reconcile() is executable by ws_admin only');
SELECT is_empty(
    $$SELECT r FROM unnest(ARRAY['public', 'ws_reader', 'ws_writer', 'ws_admin']) r
      WHERE has_function_privilege(r, 'ws.reconcile(text)', 'EXECUTE')$$,
    'ws.reconcile(peer) is executable by no worldstate role and not by PUBLIC: superusers only');
SELECT ok(NOT (SELECT proisstrict FROM pg_proc WHERE oid = 'ws.reconcile(text)'::regprocedure),
          'ws.reconcile(peer) is not STRICT: a NULL peer is an error');
SELECT ok(NOT has_function_privilege('public', 'ws._merge_patch_counters(jsonb, jsonb, text[])', 'EXECUTE'),
          'the internal merge helper is not callable by PUBLIC');

SELECT * FROM finish();
ROLLBACK;
