-- ws.find: range queries by JSON containment, in entity id order, with
-- limit and offset; the present through the GIN index on state, the past
-- through ws.entities_at.  Retired entities are never found.
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';
SET worldstate.keyframe_interval = 4;

SELECT ws.register_module('qfind', 1);
SELECT ws.define_kind('qf_item', 'qfind', 'lww', ARRAY['stock']);

-- 2000 items: ten colours, seven sizes, nested dimensions, tags; one rare
-- (created 1000 per statement: each create holds an advisory lock until
-- its transaction ends)
CREATE FUNCTION pg_temp.make_items(a int, b int) RETURNS bigint
LANGUAGE sql AS $$
SELECT count(ws.create_entity(
           format('qf_%s', lpad(i::text, 4, '0')), 'qf_item', 'qfind',
           jsonb_build_object('qf', true, 'color', 'c' || (i % 10), 'size', i % 7,
                              'dims', jsonb_build_object('w', i % 3, 'h', i % 5),
                              'tags', CASE WHEN i % 4 = 0 THEN '["sale", "new"]'::jsonb
                                           ELSE '["new"]'::jsonb END,
                              'stock', i % 11)
           || CASE WHEN i = 1234 THEN '{"qf_rare": "yes"}'::jsonb ELSE '{}'::jsonb END))
FROM generate_series(a, b) i $$;
SELECT pg_temp.make_items(1, 1000);
SELECT pg_temp.make_items(1001, 2000);
-- as autovacuum would: move the new entries out of the GIN index's pending
-- list (which the planner rightly counts as slow to search), and analyze
SELECT gin_clean_pending_list('ws.entities_state_idx') > 0 AS pending_entries_moved;
ANALYZE ws.entities;

-- find(p, lim, off) on the present is the sequential filter, in order
CREATE FUNCTION pg_temp.seq(p jsonb, lim int, off int) RETURNS text[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(entity_id ORDER BY entity_id), '{}') FROM (
        SELECT entity_id FROM ws.entities WHERE state @> p AND NOT retired
        ORDER BY entity_id LIMIT lim OFFSET off) s $$;
CREATE FUNCTION pg_temp.found(p jsonb, lim int, off int, at ws.hlc DEFAULT NULL) RETURNS text[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(entity_id), '{}') FROM ws.find(p, lim, off, at) $$;

SELECT entity_id, state->>'color' AS color, version FROM ws.find('{"qf_rare": "yes"}');
SELECT entity_id, state->'dims' AS dims FROM ws.find('{"qf": true, "color": "c3", "size": 2}', 5);
SELECT p, lim, off, pg_temp.found(p, lim, off) = pg_temp.seq(p, lim, off) AS same,
       cardinality(pg_temp.found(p, lim, off)) AS n
FROM (VALUES ('{"qf": true}'::jsonb, 100, 0), ('{"qf": true}', 50, 1990), ('{"qf": true}', 0, 0),
             ('{"color": "c7"}', 1000, 0), ('{"color": "c7", "qf": true}', 30, 170),
             ('{"dims": {"w": 2}, "qf": true}', 7, 3), ('{"tags": ["sale"], "qf": true}', 1000, 0),
             ('{"tags": ["sale", "new"], "size": 0, "qf": true}', 1000, 0),
             ('{"qf": true, "no_such_member": 1}', 10, 0), ('{"qf": true}', 10, 5000)) v(p, lim, off)
ORDER BY 1, 2, 3;
-- the default limit is 100
SELECT count(*) FROM ws.find('{"qf": true}');
-- pages of 300 put back together give the whole ordered result
SELECT array_agg(id ORDER BY page, ord) = pg_temp.seq('{"color": "c1"}', 10000, 0) AS pages_concatenate
FROM generate_series(0, 1) page,
     LATERAL unnest(pg_temp.found('{"color": "c1"}', 150, page * 150)) WITH ORDINALITY AS u(id, ord);

-- the present goes through the GIN index on ws.entities.state (counted by
-- the statistics of that index) ...
SELECT pg_stat_force_next_flush();
SELECT idx_scan AS gin_scans FROM pg_stat_user_indexes
WHERE indexrelid = 'ws.entities_state_idx'::regclass \gset
SELECT count(*) FROM ws.find('{"qf_rare": "yes"}');
SELECT pg_stat_force_next_flush();
SELECT idx_scan > :gin_scans AS gin_index_used FROM pg_stat_user_indexes
WHERE indexrelid = 'ws.entities_state_idx'::regclass;
-- ... as this plan of the statement ws.find runs shows
EXPLAIN (COSTS OFF)
SELECT e.entity_id, e.kind, e.module, e.state, e.version, e.hlc, e.vclock, e.created_hlc, e.retired
FROM ws.entities e
WHERE e.state OPERATOR(pg_catalog.@>) '{"qf_rare": "yes"}' AND NOT e.retired
ORDER BY e.entity_id LIMIT 100 OFFSET 0;

-- the past: change and retire some items, then find as of before
SELECT ws.hlc_now() AS before_changes \gset
SELECT count(ws.transition(format('qf_%s', lpad(i::text, 4, '0')), '{"color": "c3", "stock": 100}'))
FROM generate_series(1, 2000, 40) i;
SELECT count(ws.retire_entity(format('qf_%s', lpad(i::text, 4, '0'))))
FROM generate_series(3, 2000, 100) i;
SELECT count(*) AS now_c3 FROM ws.find('{"color": "c3"}', 10000);
SELECT count(*) AS then_c3 FROM ws.find('{"color": "c3"}', 10000, 0, :'before_changes');
-- retired items are gone now, there before
SELECT count(*) AS retired_found_now FROM ws.find('{"qf": true}', 10000) f
WHERE f.entity_id IN (SELECT entity_id FROM ws.entities WHERE retired AND module = 'qfind');
SELECT count(*) AS retired_found_then FROM ws.find('{"qf": true}', 10000, 0, :'before_changes') f
WHERE f.entity_id IN (SELECT entity_id FROM ws.entities WHERE retired AND module = 'qfind');
-- find at an HLC is the sequential filter of entities_at, in order
CREATE FUNCTION pg_temp.seq_at(p jsonb, lim int, off int, at ws.hlc) RETURNS text[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(entity_id ORDER BY entity_id), '{}') FROM (
        SELECT entity_id FROM ws.entities_at(at) WHERE state @> p
        ORDER BY entity_id LIMIT lim OFFSET off) s $$;
SELECT p, lim, off,
       pg_temp.found(p, lim, off, :'before_changes') = pg_temp.seq_at(p, lim, off, :'before_changes') AS same_then,
       pg_temp.found(p, lim, off, ws.hlc_now()) = pg_temp.seq(p, lim, off) AS same_now
FROM (VALUES ('{"color": "c3"}'::jsonb, 1000, 0), ('{"color": "c3", "stock": 100}', 1000, 0),
             ('{"qf": true}', 25, 1950), ('{"qf": true}', 0, 3), ('{"dims": {"h": 4}, "qf": true}', 9, 9))
     v(p, lim, off)
ORDER BY 1, 2, 3;
-- the state found is the state then
SELECT entity_id, state->>'color' AS color, state->>'stock' AS stock, version
FROM ws.find('{"qf": true}', 2, 0, :'before_changes');
SELECT entity_id, state->>'color' AS color, state->>'stock' AS stock, version
FROM ws.find('{"qf": true}', 2, 0);

RESET worldstate.keyframe_interval;
