-- Schema contract of modules and the event bus, session state and derived
-- views: tables, views, columns, the nullable columns of bus events, the
-- cache trigger, pg_dump registration, signatures with their fixed
-- search_path, EXECUTE privileges -- and the module rules: a module's event
-- schemas, events and subscribers are changed only by roles holding its
-- grant, while reading other modules' events is allowed.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
SELECT plan(116);

-- tables and views
SELECT has_table('ws', t, 'table ws.' || t || ' exists')
FROM unnest(ARRAY['event_schemas', 'subscribers', 'subscriptions', 'session_data', 'derived']) t;
SELECT has_view('ws', 'session_state', 'view ws.session_state exists');
SELECT has_view('ws', 'module_lag', 'view ws.module_lag exists');
SELECT columns_are('ws', 'session_state', ARRAY['pid', 'key', 'value', 'since'],
                   'ws.session_state shows pid, key, value, since');
SELECT columns_are('ws', 'module_lag',
                   ARRAY['subscriber', 'module', 'acked_hlc', 'acked_at', 'events_behind', 'oldest_unacked_age'],
                   'ws.module_lag shows subscriber, module, position, events behind and the oldest age');
SELECT col_type_is('ws', 'event_schemas', 'rules', 'jsonpath[]', 'event_schemas.rules is jsonpath[]');
SELECT col_type_is('ws', 'event_schemas', 'version', 'integer', 'event_schemas.version is integer');
SELECT col_type_is('ws', 'event_schemas', 'grace', 'interval', 'event_schemas.grace is interval');
SELECT col_type_is('ws', 'event_schemas', 'registered_at', 'timestamp with time zone', 'event_schemas.registered_at is timestamptz');
SELECT col_is_pk('ws', 'event_schemas', ARRAY['module', 'event_type', 'version'],
                 'event schemas are keyed by (module, event_type, version)');
SELECT col_type_is('ws', 'subscribers', 'position', 'ws.hlc', 'subscribers.position is ws.hlc');
SELECT col_not_null('ws', 'subscribers', 'position', 'subscribers.position is not null');
SELECT col_type_is('ws', 'subscribers', 'arrival', 'bigint', 'subscribers.arrival is bigint');
SELECT col_not_null('ws', 'subscribers', 'arrival', 'subscribers.arrival is not null');
SELECT col_is_pk('ws', 'subscribers', 'subscriber', 'subscribers are keyed by name');
SELECT col_is_pk('ws', 'subscriptions', ARRAY['subscriber', 'module_pattern', 'event_type_pattern'],
                 'subscriptions are keyed by (subscriber, module_pattern, event_type_pattern)');
SELECT fk_ok('ws', 'subscriptions', 'subscriber', 'ws', 'subscribers', 'subscriber',
             'subscriptions belong to a subscriber');
SELECT fk_ok('ws', 'subscribers', 'module', 'ws', 'modules', 'name', 'a subscriber belongs to a module');
SELECT fk_ok('ws', 'event_schemas', 'module', 'ws', 'modules', 'name', 'an event schema belongs to a module');
SELECT col_is_pk('ws', 'session_data', ARRAY['pid', 'backend_start', 'key'],
                 'session state is keyed by backend (pid and start time) and key');
SELECT is((SELECT relpersistence::text FROM pg_class WHERE oid = 'ws.session_data'::regclass), 'u',
          'session state is unlogged: empty after a crash, never replicated');
SELECT col_type_is('ws', 'derived', 'owner', 'regrole', 'derived.owner is regrole');

-- bus events have no entity: these columns of ws.events are nullable,
-- everything an event of either sort carries is not
SELECT col_is_null('ws', 'events', c, 'events.' || c || ' is nullable (bus events)')
FROM unnest(ARRAY['entity_id', 'version', 'kind', 'vclock']) c;
SELECT col_not_null('ws', 'events', c, 'events.' || c || ' is not null')
FROM unnest(ARRAY['event_id', 'hlc', 'origin_node', 'module', 'event_type', 'patch', 'handshake',
                  'schema_version', 'txid', 'recorded_at']) c;
SELECT ok(EXISTS (SELECT FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                  JOIN pg_am am ON am.oid = c.relam
                  WHERE i.indrelid = 'ws.events'::regclass AND am.amname = 'btree' AND i.indnatts = 1
                    AND i.indkey[0] = (SELECT attnum FROM pg_attribute
                                       WHERE attrelid = 'ws.events'::regclass AND attname = 'hlc')),
          'ws.events.hlc has a btree index, for polls in HLC order');

-- event schemas are cached with the kinds: the trigger invalidates them
SELECT has_trigger('ws', 'event_schemas', 'event_schemas_changed', 'ws.event_schemas has trigger event_schemas_changed');
SELECT trigger_is('ws', 'event_schemas', 'event_schemas_changed', 'ws', 'catalog_changed',
                  'event_schemas_changed calls ws.catalog_changed');
SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'event_schemas_changed'), 'A',
          'event_schemas_changed fires ALWAYS');

-- pg_dump: the bus and derived tables with their data, session state without
SELECT ok((SELECT ARRAY['ws.event_schemas', 'ws.subscribers', 'ws.subscriptions', 'ws.derived',
                        'ws.session_data']::regclass[]::oid[] <@ extconfig
           FROM pg_extension WHERE extname = 'worldstate'),
          'the new tables are in pg_extension.extconfig');
SELECT is((SELECT extcondition[array_position(extconfig, 'ws.session_data'::regclass::oid)]
           FROM pg_extension WHERE extname = 'worldstate'),
          'WHERE false', 'dumps keep no session state');

-- schema ws_derived: belongs to the extension, readable, nobody creates in it
SELECT has_schema('ws_derived', 'schema ws_derived exists');
SELECT ok(EXISTS (SELECT FROM pg_depend WHERE classid = 'pg_namespace'::regclass
                  AND objid = 'ws_derived'::regnamespace AND deptype = 'e'),
          'ws_derived belongs to the extension');
SELECT ok(has_schema_privilege('ws_reader', 'ws_derived', 'USAGE'), 'ws_reader may use ws_derived');
SELECT is_empty($$SELECT r FROM unnest(ARRAY['public', 'ws_reader', 'ws_writer', 'ws_admin']) r
                  WHERE has_schema_privilege(r, 'ws_derived', 'CREATE')$$,
                'no worldstate role and not PUBLIC may create objects in ws_derived');

-- signatures (DESIGN.md section 6), parameter names and defaults
SELECT has_function('ws', 'register_event_schema', ARRAY['text', 'text', 'integer', 'jsonpath[]', 'interval']);
SELECT function_returns('ws', 'register_event_schema', ARRAY['text', 'text', 'integer', 'jsonpath[]', 'interval'], 'void');
SELECT has_function('ws', 'publish', ARRAY['text', 'text', 'jsonb', 'integer', 'text', 'jsonb']);
SELECT function_returns('ws', 'publish', ARRAY['text', 'text', 'jsonb', 'integer', 'text', 'jsonb'], 'uuid');
SELECT has_function('ws', 'subscribe', ARRAY['text', 'text', 'text']);
SELECT function_returns('ws', 'subscribe', ARRAY['text', 'text', 'text'], 'void');
SELECT has_function('ws', 'unsubscribe', ARRAY['text']);
SELECT has_function('ws', 'poll', ARRAY['text', 'integer']);
SELECT function_returns('ws', 'poll', ARRAY['text', 'integer'], 'setof ws.events');
SELECT has_function('ws', 'ack', ARRAY['text', 'ws.hlc']);
SELECT function_returns('ws', 'ack', ARRAY['text', 'ws.hlc'], 'void');
SELECT has_function('ws', 'session_put', ARRAY['text', 'jsonb']);
SELECT has_function('ws', 'session_get', ARRAY['text']);
SELECT function_returns('ws', 'session_get', ARRAY['text'], 'jsonb');
SELECT has_function('ws', 'define_derived', ARRAY['text', 'text']);
SELECT has_function('ws', 'refresh_derived', ARRAY['text']);
SELECT has_function('ws', 'drop_derived', ARRAY['text']);
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.register_event_schema(text, text, int, jsonpath[], interval)'::regprocedure),
          ARRAY['module', 'event_type', 'version', 'rules', 'grace'], 'ws.register_event_schema parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.publish(text, text, jsonb, int, text, jsonb)'::regprocedure),
          ARRAY['module', 'event_type', 'payload', 'schema_version', 'handshake', 'meta'], 'ws.publish parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.subscribe(text, text, text)'::regprocedure),
          ARRAY['subscriber', 'module_pattern', 'event_type_pattern'], 'ws.subscribe parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.poll(text, int)'::regprocedure),
          ARRAY['subscriber', 'max'], 'ws.poll parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.ack(text, ws.hlc)'::regprocedure),
          ARRAY['subscriber', 'upto'], 'ws.ack parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.session_put(text, jsonb)'::regprocedure),
          ARRAY['key', 'value'], 'ws.session_put parameter names');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'ws.define_derived(text, text)'::regprocedure),
          ARRAY['name', 'query'], 'ws.define_derived parameter names');
SELECT is((SELECT string_agg(p.proname || ':' || p.pronargdefaults, ', ' ORDER BY p.proname)
           FROM pg_proc p
           WHERE p.pronamespace = 'ws'::regnamespace
             AND p.proname IN ('register_event_schema', 'publish', 'subscribe', 'unsubscribe', 'poll', 'ack',
                               'session_put', 'session_get', 'define_derived', 'refresh_derived', 'drop_derived')),
          'ack:0, define_derived:0, drop_derived:0, poll:0, publish:3, refresh_derived:0, register_event_schema:1, '
          'session_get:0, session_put:0, subscribe:0, unsubscribe:0',
          'one signature each, with the optional parameters (name:number of defaults)');

-- a fixed search_path on every one of them
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
      WHERE p.pronamespace = 'ws'::regnamespace
        AND p.proname IN ('register_event_schema', 'publish', 'subscribe', 'unsubscribe', 'poll', 'ack',
                          'session_put', 'session_get', 'define_derived', 'refresh_derived', 'drop_derived')
        AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)$$,
    'every bus, session and derived function has SET search_path = pg_catalog, pg_temp');

-- EXECUTE: writers and admins; the internal backend list also for readers
SELECT results_eq(
    format($$SELECT r FROM unnest(ARRAY['public', 'ws_reader', 'ws_writer', 'ws_admin']) r
             WHERE has_function_privilege(r, %L, 'EXECUTE') ORDER BY r$$, f),
    ARRAY['ws_admin', 'ws_writer'],
    f || ' is executable by ws_writer and ws_admin only')
FROM unnest(ARRAY['ws.register_event_schema(text, text, int, jsonpath[], interval)',
                  'ws.publish(text, text, jsonb, int, text, jsonb)',
                  'ws.subscribe(text, text, text)',
                  'ws.unsubscribe(text)',
                  'ws.poll(text, int)',
                  'ws.ack(text, ws.hlc)',
                  'ws.session_put(text, jsonb)',
                  'ws.session_get(text)',
                  'ws.define_derived(text, text)',
                  'ws.refresh_derived(text)',
                  'ws.drop_derived(text)']) WITH ORDINALITY AS ff(f, i)
ORDER BY i;
SELECT results_eq(
    $$SELECT r FROM unnest(ARRAY['public', 'ws_reader', 'ws_writer', 'ws_admin']) r
      WHERE has_function_privilege(r, 'ws._session_backends()', 'EXECUTE') ORDER BY r$$,
    ARRAY['ws_admin', 'ws_reader', 'ws_writer'],
    'ws._session_backends() is for ws_reader and above (the view ws.session_state calls it)');

------------------------------------------------------------------------
-- the module rules, by role
------------------------------------------------------------------------

SET LOCAL worldstate.handshake = '55-45-17';
CREATE ROLE tap_bus_a IN ROLE ws_writer;
CREATE ROLE tap_bus_b IN ROLE ws_writer;
CREATE ROLE tap_bus_member IN ROLE tap_bus_a;
CREATE ROLE tap_bus_reader IN ROLE ws_reader;
DO $$
BEGIN
    PERFORM ws.register_module('tap_a', 1);
    PERFORM ws.register_module('tap_b', 1);
    PERFORM ws.define_kind('tap_b_thing', 'tap_b');
    PERFORM ws.grant_module('tap_a', 'tap_bus_a', admin => true);
    PERFORM ws.grant_module('tap_b', 'tap_bus_b');
    PERFORM ws.register_event_schema('tap_b', 'pong', 1, ARRAY['exists($.n)']::jsonpath[]);
    PERFORM ws.create_entity('tap-b-1', 'tap_b_thing', 'tap_b', '{}');
END
$$;

SET LOCAL ROLE tap_bus_a;
SELECT lives_ok($$SELECT ws.register_event_schema('tap_a', 'ping', 1, '{}')$$,
                'an admin of the module registers its event schemas');
SELECT throws_ok($$SELECT ws.register_event_schema('tap_b', 'pong', 2, '{}')$$, '42501', NULL,
                 'but not another module''s');
SELECT lives_ok($$SELECT ws.publish('tap_a', 'ping', '{}')$$, 'it publishes its module''s events');
SELECT throws_ok($$SELECT ws.publish('tap_b', 'pong', '{"n": 1}')$$, '42501', 'permission denied for module "tap_b"',
                 'but not another module''s');
SELECT throws_ok($$SELECT ws.transition('tap-b-1', '{"x": 1}')$$, '42501', NULL,
                 'nor changes another module''s state');
SELECT lives_ok($$SELECT ws.subscribe('tap_a.watch_b', 'tap_b', '%')$$,
                'its subscribers may read another module''s events');
SELECT throws_ok($$SELECT ws.subscribe('tap_b.spy', 'tap_a', '%')$$, '42501', NULL,
                 'it cannot create a subscriber of another module');
RESET ROLE;

SET LOCAL ROLE tap_bus_b;
SELECT lives_ok($$SELECT ws.publish('tap_b', 'pong', '{"n": 1}')$$, 'tap_b publishes');
SELECT lives_ok($$SELECT ws.subscribe('tap_b.own', 'tap_b', '%')$$, 'tap_b subscribes');
SELECT throws_ok($$SELECT ws.publish('tap_a', 'ping', '{}')$$, '42501', NULL, 'tap_b cannot publish tap_a''s events');
SELECT throws_ok($$SELECT ws.register_event_schema('tap_b', 'pong', 2, '{}')$$, '42501',
                 'permission denied to administer module "tap_b"',
                 'a writer of the module cannot register its event schemas: that is for its admins');
RESET ROLE;

SET LOCAL ROLE tap_bus_a;
SELECT results_eq($$SELECT module || '.' || event_type FROM ws.poll('tap_a.watch_b', 10) ORDER BY hlc$$,
                  ARRAY['tap_b.created', 'tap_b.pong'],
                  'tap_a''s subscriber receives tap_b''s events, entity events included');
SELECT lives_ok($$SELECT ws.ack('tap_a.watch_b', (SELECT ws.max(hlc) FROM ws.poll('tap_a.watch_b', 10)))$$,
                'and acknowledges them');
SELECT is_empty($$SELECT * FROM ws.poll('tap_a.watch_b', 10)$$, 'acknowledged events are not delivered again');
SELECT throws_ok($$SELECT * FROM ws.poll('tap_b.own', 10)$$, '42501', NULL, 'it cannot poll tap_b''s subscriber');
SELECT throws_ok($$SELECT ws.ack('tap_b.own', ws.hlc_now())$$, '42501', NULL, 'nor acknowledge for it');
SELECT throws_ok($$SELECT ws.unsubscribe('tap_b.own')$$, '42501', NULL, 'nor remove it');
RESET ROLE;

-- a grant passes to the members of the role
SET LOCAL ROLE tap_bus_member;
SELECT lives_ok($$SELECT ws.publish('tap_a', 'ping', '{}')$$, 'a member of a granted role publishes');
SELECT lives_ok($$SELECT * FROM ws.poll('tap_a.watch_b', 10)$$, 'and polls its module''s subscriber');
RESET ROLE;

-- ws_reader reads, but neither publishes nor consumes nor writes the tables
SET LOCAL ROLE tap_bus_reader;
SELECT isnt_empty($$SELECT * FROM ws.module_lag WHERE subscriber = 'tap_a.watch_b'$$, 'ws_reader reads ws.module_lag');
SELECT lives_ok($$SELECT * FROM ws.session_state$$, 'ws_reader reads ws.session_state');
SELECT throws_ok($$SELECT ws.publish('tap_a', 'ping', '{}')$$, '42501', NULL, 'ws_reader cannot publish');
SELECT throws_ok($$SELECT * FROM ws.poll('tap_a.watch_b', 10)$$, '42501', NULL, 'ws_reader cannot poll');
SELECT throws_ok($$INSERT INTO ws.event_schemas VALUES ('tap_a', 'x', 1, '{}', '0', now())$$, '42501', NULL,
                 'nobody writes ws.event_schemas directly');
SELECT throws_ok($$UPDATE ws.subscribers SET position = ws.hlc_now()$$, '42501', NULL,
                 'nobody moves a position directly');
RESET ROLE;

-- without the grant, ws_writer alone is not enough
CREATE ROLE tap_bus_none IN ROLE ws_writer;
SET LOCAL ROLE tap_bus_none;
SELECT throws_ok($$SELECT ws.publish('tap_a', 'ping', '{}')$$, '42501', NULL, 'ws_writer without the grant cannot publish');
SELECT throws_ok($$SELECT ws.subscribe('tap_a.x', '%', '%')$$, '42501', NULL, 'nor subscribe');
SELECT throws_ok($$SELECT ws.register_event_schema('tap_a', 'ping', 2, '{}')$$, '42501', NULL, 'nor register schemas');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
