-- The canonical fold of several nodes' events (src/converge.c): whatever
-- order events from peers arrive in, the world ends the same, keyframes
-- included.  Events are
-- written here as a peer's would arrive: inserted into ws.events in a
-- replica session, as PostgreSQL's apply worker does, which fires the
-- integration triggers.  Each arrival order runs in a subtransaction that
-- is rolled back, so all orders start from the same world.
\set VERBOSITY terse
SELECT ws.register_module('conv', 1);
SELECT ws.define_kind('conv_tally', 'conv', 'merge', '{n}');
SELECT ws.define_kind('conv_doc', 'conv', 'lww');
SELECT ws.define_kind('conv_form', 'conv', 'manual');
SELECT ws.add_constraint('conv_tally', 'small', '$.n < 100');

-- the events of each scenario, numbered; ids derived from the names
CREATE TEMP TABLE evs AS SELECT ''::text AS scenario, 0 AS n, * FROM ws.events WHERE false;
CREATE FUNCTION pg_temp.ev(scenario text, n int, entity text, kind text, type text,
                           origin int, wall numeric, vc text, patch jsonb,
                           intent jsonb DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO evs (scenario, n, event_id, entity_id, version, hlc, origin_node, module, kind,
                     event_type, patch, handshake, vclock, intent, txid, recorded_at)
    VALUES (scenario, n, md5(scenario || n)::uuid, entity, 1000 * n + origin,
            ws.hlc('2026-01-01 00:00:00+00'::timestamptz + wall * interval '1 second', 0, origin),
            origin, 'conv', kind, type, patch, '55-45-17', vc::ws.vclock, intent,
            pg_current_xact_id(), now())
$$;

-- the world after the scenario's events arrived in the order given
CREATE FUNCTION pg_temp.arrive(sc text, ord int[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    i int;
    r text;
BEGIN
    BEGIN
        FOREACH i IN ARRAY ord LOOP
            INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind,
                                   event_type, patch, handshake, vclock, intent, txid, recorded_at)
            SELECT event_id, entity_id, version, hlc, origin_node, module, kind,
                   event_type, patch, handshake, vclock, intent, txid, recorded_at
            FROM evs WHERE scenario = sc AND n = i;
        END LOOP;
        -- a digest of this scenario's entities and of every keyframe
        -- readers fold from (ws.state_hash covers the whole world, which
        -- other suites share: test/t/070_mesh_converge.pl compares it
        -- between nodes), then the entity and its conflicts
        SELECT encode(sha256(convert_to(coalesce((
                   SELECT string_agg(format('%s|%s|%s|%s', entity_id, version, retired, state), ';'
                                     ORDER BY entity_id)
                   FROM ws.entities WHERE entity_id IN (SELECT entity_id FROM evs WHERE scenario = sc)), '')
                   || coalesce((
                   SELECT string_agg(format('%s|%s|%s|%s|%s|%s', entity_id, hlc, version, retired,
                                            vclock, state), ';' ORDER BY entity_id, hlc::text)
                   FROM ws.keyframes WHERE entity_id IN (SELECT entity_id FROM evs WHERE scenario = sc)), ''),
                   'UTF8')), 'hex') || E'\n' ||
               coalesce((SELECT string_agg(format('%s v%s%s %s', entity_id, version,
                                                  CASE WHEN retired THEN ' retired' ELSE '' END, state),
                                           E'\n' ORDER BY entity_id) FROM ws.entities
                         WHERE entity_id IN (SELECT entity_id FROM evs WHERE scenario = sc)),
                        'no entity') || E'\n' ||
               coalesce((SELECT string_agg(format('%s %s %s [%s]', c.type, c.status, c.policy,
                                                  (SELECT string_agg(e.n::text, ',' ORDER BY o)
                                                   FROM unnest(c.event_ids) WITH ORDINALITY u(id, o)
                                                   JOIN evs e ON e.event_id = u.id)),
                                           E'\n' ORDER BY c.conflict_id) FROM ws.conflicts c
                         WHERE c.entity_id IN (SELECT entity_id FROM evs WHERE scenario = sc)),
                        'no conflict') || E'\n' ||
               coalesce((SELECT string_agg(format('pending %s %s', e.n, p.reason), E'\n' ORDER BY e.n)
                         FROM ws.pending p JOIN evs e ON e.event_id = p.event_id), 'nothing pending')
        INTO r;
        RAISE EXCEPTION 'undo';
    EXCEPTION WHEN raise_exception THEN
    END;
    RETURN r;
END $$;

-- every arrival order of a scenario: how many different worlds, and the
-- scenario's part of the world (without the digest)
CREATE FUNCTION pg_temp.all_orders(sc text) RETURNS TABLE (orders bigint, worlds bigint, world text)
LANGUAGE sql AS $$
    WITH RECURSIVE k AS (SELECT count(*)::int AS k FROM evs WHERE scenario = sc),
    p(a) AS (SELECT ARRAY[]::int[]
             UNION ALL
             SELECT p.a || e.n FROM p, evs e, k
             WHERE e.scenario = sc AND NOT e.n = ANY (p.a) AND cardinality(p.a) < k.k),
    w AS (SELECT pg_temp.arrive(sc, a) AS world FROM p, k WHERE cardinality(a) = k.k)
    SELECT count(*), count(DISTINCT world), substr(min(world), strpos(min(world), E'\n') + 1) FROM w
$$;

SET session_replication_role = replica;

-- merge: counters from three nodes, no increment lost; a plain field by HLC
SELECT pg_temp.ev('merge', 1, 'cv_t1', 'conv_tally', 'created', 1, 1, '{1:1}', '{"n": 0, "color": "grey"}');
SELECT pg_temp.ev('merge', 2, 'cv_t1', 'conv_tally', 'update', 1, 2, '{1:2}', '{"n": 5}', '{"n": 5}');
SELECT pg_temp.ev('merge', 3, 'cv_t1', 'conv_tally', 'update', 2, 3, '{1:1,2:1}', '{"n": 3, "color": "red"}', '{"n": 3}');
SELECT pg_temp.ev('merge', 4, 'cv_t1', 'conv_tally', 'update', 3, 4, '{1:1,3:1}', '{"n": 2, "color": "blue"}', '{"n": 2}');
SELECT * FROM pg_temp.all_orders('merge');

-- merge: a merged counter that breaks a constraint is recorded, not refused
SELECT pg_temp.ev('limit', 1, 'cv_t2', 'conv_tally', 'created', 1, 1, '{1:1}', '{"n": 0}');
SELECT pg_temp.ev('limit', 2, 'cv_t2', 'conv_tally', 'update', 1, 2, '{1:2}', '{"n": 60}', '{"n": 60}');
SELECT pg_temp.ev('limit', 3, 'cv_t2', 'conv_tally', 'update', 2, 3, '{1:1,2:1}', '{"n": 50}', '{"n": 50}');
SELECT * FROM pg_temp.all_orders('limit');

-- lww: the last writer's state; what it had not seen is overwritten
SELECT pg_temp.ev('lww', 1, 'cv_d1', 'conv_doc', 'created', 1, 1, '{1:1}', '{"a": 1, "b": 1}');
SELECT pg_temp.ev('lww', 2, 'cv_d1', 'conv_doc', 'update', 2, 2, '{1:1,2:1}', '{"a": 2}');
SELECT pg_temp.ev('lww', 3, 'cv_d1', 'conv_doc', 'update', 3, 3, '{1:1,3:1}', '{"b": 3}');
SELECT pg_temp.ev('lww', 4, 'cv_d1', 'conv_doc', 'update', 1, 4, '{1:2,2:1}', '{"c": 1}');
SELECT * FROM pg_temp.all_orders('lww');

-- manual: concurrent writes of one field open a conflict, of others do not
SELECT pg_temp.ev('manual', 1, 'cv_f1', 'conv_form', 'created', 1, 1, '{1:1}', '{"x": 0, "y": 0}');
SELECT pg_temp.ev('manual', 2, 'cv_f1', 'conv_form', 'update', 2, 2, '{1:1,2:1}', '{"x": 1}');
SELECT pg_temp.ev('manual', 3, 'cv_f1', 'conv_form', 'update', 3, 3, '{1:1,3:1}', '{"x": 2}');
SELECT pg_temp.ev('manual', 4, 'cv_f1', 'conv_form', 'update', 3, 4, '{1:1,3:2}', '{"y": 7}');
SELECT * FROM pg_temp.all_orders('manual');

-- retirement wins over a concurrent update and is final
SELECT pg_temp.ev('retire', 1, 'cv_d2', 'conv_doc', 'created', 1, 1, '{1:1}', '{"a": 1}');
SELECT pg_temp.ev('retire', 2, 'cv_d2', 'conv_doc', 'update', 2, 2, '{1:1,2:1}', '{"a": 2}');
SELECT pg_temp.ev('retire', 3, 'cv_d2', 'conv_doc', 'retired', 1, 3, '{1:2}', '{}');
SELECT pg_temp.ev('retire', 4, 'cv_d2', 'conv_doc', 'update', 3, 4, '{1:1,3:1}', '{"a": 4}');
SELECT * FROM pg_temp.all_orders('retire');

-- the same id created on two nodes: the first in HLC order creates
SELECT pg_temp.ev('twice', 1, 'cv_t3', 'conv_tally', 'created', 2, 1, '{2:1}', '{"n": 1, "by": 2}');
SELECT pg_temp.ev('twice', 2, 'cv_t3', 'conv_tally', 'created', 1, 2, '{1:1}', '{"n": 10, "by": 1, "x": true}');
SELECT pg_temp.ev('twice', 3, 'cv_t3', 'conv_tally', 'update', 1, 3, '{1:2}', '{"n": 11}', '{"n": 1}');
SELECT * FROM pg_temp.all_orders('twice');

-- a late event, older than three later ones of another node
SELECT pg_temp.ev('late', 1, 'cv_t4', 'conv_tally', 'created', 1, 1, '{1:1}', '{"n": 0, "s": "a"}');
SELECT pg_temp.ev('late', 2, 'cv_t4', 'conv_tally', 'update', 1, 3, '{1:2}', '{"n": 1, "s": "b"}', '{"n": 1}');
SELECT pg_temp.ev('late', 3, 'cv_t4', 'conv_tally', 'update', 1, 4, '{1:3}', '{"n": 2}', '{"n": 1}');
SELECT pg_temp.ev('late', 4, 'cv_t4', 'conv_tally', 'update', 1, 5, '{1:4}', '{"n": 3}', '{"n": 1}');
SELECT pg_temp.ev('late', 5, 'cv_t4', 'conv_tally', 'update', 2, 2, '{1:1,2:1}', '{"n": 100, "s": "z"}', '{"n": 100}');
SELECT * FROM pg_temp.all_orders('late');

RESET session_replication_role;
