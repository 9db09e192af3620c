-- Schema contract of the foundation: types, functions, operators, operator
-- classes, aggregates, cast, settings, roles and privileges.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
SELECT plan(54);

SELECT has_schema('ws');
SELECT has_type('ws', 'hlc', 'type ws.hlc exists');
SELECT has_type('ws', 'vclock', 'type ws.vclock exists');
SELECT is((SELECT typlen FROM pg_type WHERE oid = 'ws.hlc'::regtype), 16::smallint, 'hlc is fixed-size, 16 bytes');
SELECT is((SELECT typlen FROM pg_type WHERE oid = 'ws.vclock'::regtype), -1::smallint, 'vclock is variable-size');
SELECT ok((SELECT typsend <> 0 AND typreceive <> 0 FROM pg_type WHERE oid = 'ws.hlc'::regtype), 'hlc has binary I/O');
SELECT ok((SELECT typsend <> 0 AND typreceive <> 0 FROM pg_type WHERE oid = 'ws.vclock'::regtype), 'vclock has binary I/O');

-- hlc functions, with the signatures of DESIGN.md section 4
SELECT has_function('ws', 'hlc', ARRAY['timestamp with time zone', 'integer', 'integer']);
SELECT function_returns('ws', 'hlc', ARRAY['timestamp with time zone', 'integer', 'integer'], 'ws.hlc');
SELECT has_function('ws', 'hlc_wall', ARRAY['ws.hlc']);
SELECT function_returns('ws', 'hlc_wall', ARRAY['ws.hlc'], 'timestamp with time zone');
SELECT has_function('ws', 'hlc_counter', ARRAY['ws.hlc']);
SELECT has_function('ws', 'hlc_node', ARRAY['ws.hlc']);
SELECT has_function('ws', 'hlc_send', ARRAY['ws.hlc', 'timestamp with time zone', 'integer']);
SELECT has_function('ws', 'hlc_merge', ARRAY['ws.hlc', 'ws.hlc', 'timestamp with time zone', 'integer']);
SELECT has_function('ws', 'hlc_now', ARRAY[]::text[]);
SELECT has_function('ws', 'hlc_receive', ARRAY['ws.hlc']);
SELECT volatility_is('ws', 'hlc_send', ARRAY['ws.hlc', 'timestamp with time zone', 'integer'], 'immutable');
SELECT volatility_is('ws', 'hlc_merge', ARRAY['ws.hlc', 'ws.hlc', 'timestamp with time zone', 'integer'], 'immutable');
SELECT volatility_is('ws', 'hlc_now', ARRAY[]::text[], 'volatile');
SELECT volatility_is('ws', 'hlc_receive', ARRAY['ws.hlc'], 'volatile');

-- operators and operator classes
SELECT has_operator('ws.hlc', 'ws', '=', 'ws.hlc', 'boolean', 'operator ws.= (hlc, hlc)');
SELECT has_operator('ws.hlc', 'ws', '<>', 'ws.hlc', 'boolean', 'operator ws.<> (hlc, hlc)');
SELECT has_operator('ws.hlc', 'ws', '<', 'ws.hlc', 'boolean', 'operator ws.< (hlc, hlc)');
SELECT has_operator('ws.hlc', 'ws', '<=', 'ws.hlc', 'boolean', 'operator ws.<= (hlc, hlc)');
SELECT has_operator('ws.hlc', 'ws', '>', 'ws.hlc', 'boolean', 'operator ws.> (hlc, hlc)');
SELECT has_operator('ws.hlc', 'ws', '>=', 'ws.hlc', 'boolean', 'operator ws.>= (hlc, hlc)');
SELECT has_opclass('ws', 'hlc_ops', 'btree operator class');
SELECT has_opclass('ws', 'hlc_hash_ops', 'hash operator class');
SELECT has_opclass('ws', 'hlc_minmax_ops', 'BRIN operator class');
SELECT ok((SELECT bool_and(opcdefault) FROM pg_opclass WHERE opcintype = 'ws.hlc'::regtype), 'every hlc operator class is the default for its access method');
SELECT set_eq($$SELECT amname::text FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod WHERE opcintype = 'ws.hlc'::regtype$$,
              ARRAY['btree', 'hash', 'brin'], 'hlc is indexable by btree, hash and BRIN');
SELECT ok((SELECT oprcanhash AND oprcanmerge FROM pg_operator WHERE oprname = '=' AND oprleft = 'ws.hlc'::regtype), 'hlc = supports hash and merge joins');

-- aggregates and cast
SELECT has_function('ws', 'min', ARRAY['ws.hlc']);
SELECT has_function('ws', 'max', ARRAY['ws.hlc']);
SELECT is_aggregate('ws', 'max', ARRAY['ws.hlc']);
SELECT has_cast('ws.hlc', 'timestamp with time zone');
SELECT is((SELECT castcontext::text FROM pg_cast WHERE castsource = 'ws.hlc'::regtype AND casttarget = 'timestamptz'::regtype), 'e', 'the cast to timestamptz is explicit');

-- vclock
SELECT has_function('ws', 'vclock_tick', ARRAY['ws.vclock', 'integer']);
SELECT has_function('ws', 'vclock_get', ARRAY['ws.vclock', 'integer']);
SELECT has_function('ws', 'vclock_merge', ARRAY['ws.vclock', 'ws.vclock']);
SELECT is_aggregate('ws', 'vclock_merge', ARRAY['ws.vclock']);
SELECT function_returns('ws', 'vclock_relation', ARRAY['ws.vclock', 'ws.vclock'], 'text');
SELECT has_operator('ws.vclock', 'ws', '=', 'ws.vclock', 'boolean', 'operator ws.= (vclock, vclock)');

-- settings
SELECT is((SELECT context FROM pg_settings WHERE name = 'worldstate.node_id'), 'postmaster', 'node_id is fixed at server start');
SELECT is((SELECT context FROM pg_settings WHERE name = 'worldstate.clock_offset'), 'superuser', 'clock_offset is superuser-only');
SELECT is(current_setting('worldstate.max_clock_skew'), '500ms', 'max_clock_skew defaults to 500ms');
SELECT is(current_setting('worldstate.required_handshake'), '55-45-17', 'required handshake defaults to 55-45-17');

-- roles and privileges
SELECT has_role('ws_reader');
SELECT has_role('ws_writer');
SELECT has_role('ws_admin');
SELECT ok(NOT has_function_privilege('public', 'ws.hlc_receive(ws.hlc)', 'EXECUTE')
          AND has_function_privilege('ws_writer', 'ws.hlc_receive(ws.hlc)', 'EXECUTE')
          AND has_function_privilege('ws_admin', 'ws.hlc_receive(ws.hlc)', 'EXECUTE')
          AND NOT has_function_privilege('ws_reader', 'ws.hlc_receive(ws.hlc)', 'EXECUTE'),
          'only writers and admins may merge remote clocks');
SELECT ok(NOT has_function_privilege('public', 'ws.stats()', 'EXECUTE')
          AND has_function_privilege('ws_reader', 'ws.stats()', 'EXECUTE'),
          'ws.stats() is for worldstate roles');
SELECT ok(NOT has_function_privilege('public', 'ws._check_setup()', 'EXECUTE'), 'the setup check is internal');

SELECT * FROM finish();
ROLLBACK;
