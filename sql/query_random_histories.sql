-- Random histories: many entities changed in an interleaved, seeded random
-- order -- merges, nested objects, null removals, a counter, replaced
-- members, links and unlinks, retirements -- with small and changing
-- keyframe intervals.  Then, at every event's HLC and between events:
--	ws.get_state / ws.get_entity equal the fold of the entity's events up to
--	then; ws.entities_at equals that for all entities at once; ws.find agrees
--	with a sequential filter; ws.history is ordered and inclusive;
--	ws.neighbors equals the edges rebuilt by hand.
-- Every check prints a count of disagreements (0) or a boolean.
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';

SELECT ws.register_module('qrand', 1);
SELECT ws.define_kind('qr_thing', 'qrand', 'lww', ARRAY['c']);

SELECT setseed(0.4242);

-- a random merge patch: members set, nulled, nested, replaced, the counter
CREATE FUNCTION pg_temp.random_patch() RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := '{}';
    k text;
BEGIN
    FOR i IN 1 .. 1 + floor(random() * 3)::int LOOP
        k := (ARRAY['a', 'b', 'o', 'tags', 'c', 'z'])[1 + floor(random() * 6)::int];
        p := p || jsonb_build_object(k,
            CASE k
                WHEN 'c' THEN to_jsonb(floor(random() * 11)::int - 5)        -- counter delta
                WHEN 'o' THEN CASE floor(random() * 4)::int
                    WHEN 0 THEN 'null'::jsonb                                  -- removes o
                    WHEN 1 THEN to_jsonb(floor(random() * 3)::int)              -- replaces o
                    ELSE jsonb_build_object(                                    -- merges into o
                        (ARRAY['x', 'y', 'n'])[1 + floor(random() * 3)::int],
                        CASE WHEN random() < 0.3 THEN 'null'::jsonb
                             WHEN random() < 0.5 THEN jsonb_build_object('d', floor(random() * 4)::int,
                                                                         'e', CASE WHEN random() < 0.5 THEN NULL ELSE 1 END)
                             ELSE to_jsonb(floor(random() * 9)::int) END) END
                WHEN 'tags' THEN CASE WHEN random() < 0.3 THEN 'null'::jsonb
                                      ELSE to_jsonb(ARRAY['t' || floor(random() * 3)::int]) END
                ELSE CASE WHEN random() < 0.25 THEN 'null'::jsonb
                          ELSE to_jsonb(floor(random() * 5)::int) END
            END);
    END LOOP;
    RETURN p;
END
$$;

-- 40 entities (initial states keep null members), then 700 random steps;
-- the keyframe interval changes on the way (4, then 3, then 7)
DO $$
DECLARE
    alive text[] := '{}';
    e text;
    t text;
    r float8;
BEGIN
    SET LOCAL worldstate.keyframe_interval = 4;
    FOR i IN 1 .. 40 LOOP
        e := format('qr_%s', lpad(i::text, 2, '0'));
        PERFORM ws.create_entity(e, 'qr_thing', 'qrand',
            jsonb_build_object('a', i % 5, 'n', NULL, 'o', jsonb_build_object('x', i, 'keep', NULL), 'c', 0));
        alive := alive || e;
    END LOOP;
    FOR step IN 1 .. 700 LOOP
        IF step = 250 THEN SET LOCAL worldstate.keyframe_interval = 3; END IF;
        IF step = 500 THEN SET LOCAL worldstate.keyframe_interval = 7; END IF;
        e := alive[1 + floor(random() * cardinality(alive))::int];
        r := random();
        IF r < 0.80 THEN
            PERFORM ws.transition(e, pg_temp.random_patch());
        ELSIF r < 0.90 THEN
            t := alive[1 + floor(random() * cardinality(alive))::int];
            PERFORM ws.link(e, (ARRAY['likes', 'owns'])[1 + floor(random() * 2)::int], t,
                            jsonb_build_object('w', floor(random() * 3)::int));
        ELSIF r < 0.98 THEN
            -- unlink one of its edges, if it has any
            PERFORM ws.unlink(from_id, rel, to_id)
            FROM (SELECT from_id, rel, to_id FROM ws.relationships WHERE from_id = e
                  ORDER BY rel, to_id LIMIT 1) x;
        ELSIF cardinality(alive) > 25 AND step > 100 THEN
            PERFORM ws.retire_entity(e);
            alive := array_remove(alive, e);
        END IF;
    END LOOP;
END
$$;

SELECT count(*) AS entities, count(*) FILTER (WHERE retired) AS retired,
       sum(version) AS events
FROM ws.entities WHERE module = 'qrand';
SELECT count(*) FILTER (WHERE event_type = 'linked') > 20 AS some_links,
       count(*) FILTER (WHERE event_type = 'unlinked') > 10 AS some_unlinks,
       count(*) FILTER (WHERE state IS NOT NULL) AS keyframes
FROM ws.events WHERE module = 'qrand';
-- the history of one node is in HLC order for every entity
SELECT count(*) AS hlc_out_of_version_order
FROM (SELECT hlc < lag(hlc) OVER (PARTITION BY entity_id ORDER BY version) AS bad
      FROM ws.events WHERE module = 'qrand') s WHERE bad;

-- The moments to check: every event's HLC, and an HLC just after each
-- (strictly before the next HLC the node issued, so every interval between
-- two events is covered), and one before them all.  expected(entity, at):
-- the fold of the entity's events up to the version in force, absent when
-- it did not exist then.
CREATE TEMP TABLE moments AS
SELECT hlc AS at FROM ws.events WHERE module = 'qrand'
UNION SELECT ws.hlc(ws.hlc_wall(hlc), ws.hlc_counter(hlc), ws.hlc_node(hlc) + 1) FROM ws.events WHERE module = 'qrand'
UNION SELECT ws.hlc(ws.hlc_wall(min(hlc)) - interval '1 microsecond') FROM ws.events WHERE module = 'qrand';
CREATE TEMP TABLE expected AS
SELECT e.entity_id, m.at, f.state, f.version, f.hlc, f.vclock
FROM ws.entities e
CROSS JOIN moments m
CROSS JOIN LATERAL (
    SELECT (SELECT ws.merge_patches(x.patch ORDER BY x.version) FROM ws.events x
            WHERE x.entity_id = e.entity_id AND x.version <= v.version) AS state,
           v.version, v.hlc, v.vclock
    FROM ws.events v
    WHERE v.entity_id = e.entity_id AND v.hlc <= m.at
    ORDER BY v.hlc DESC LIMIT 1) f
WHERE e.module = 'qrand' AND NOT (e.retired AND e.hlc <= m.at);
SELECT count(*) AS moments FROM moments;
SELECT count(*) > 20000 AS many_expected_states FROM expected;

-- get_state at every moment, for every entity (NULL where not expected)
SELECT count(*) AS get_state_disagreements
FROM ws.entities e CROSS JOIN moments m
LEFT JOIN expected x ON x.entity_id = e.entity_id AND x.at = m.at
WHERE e.module = 'qrand'
  AND ws.get_state(e.entity_id, m.at) IS DISTINCT FROM x.state;
-- get_entity: that version, hlc and vclock, created_hlc of version 1, not retired
SELECT count(*) AS get_entity_disagreements
FROM expected x, LATERAL ws.get_entity(x.entity_id, x.at) g
WHERE g.state IS DISTINCT FROM x.state OR g.version <> x.version OR g.hlc <> x.hlc
   OR g.vclock <> x.vclock OR g.retired
   OR g.created_hlc <> (SELECT hlc FROM ws.events WHERE entity_id = x.entity_id AND version = 1);
-- ws.entities_at and ws.find read the whole world (every suite's
-- entities), so they are checked at every 24th moment (every 48th for find)
CREATE TEMP TABLE sample AS
SELECT at, rn FROM (SELECT at, row_number() OVER (ORDER BY at) AS rn FROM moments) s
WHERE rn % 24 = 1;
SELECT count(*) AS sampled_moments FROM sample;
-- entities_at: exactly the expected entities and states
SELECT count(*) AS entities_at_disagreements
FROM sample m
     LATERAL (
        (SELECT entity_id, state::text, version FROM ws.entities_at(m.at) WHERE module = 'qrand'
         EXCEPT SELECT entity_id, state::text, version FROM expected WHERE at = m.at)
        UNION ALL
        (SELECT entity_id, state::text, version FROM expected WHERE at = m.at
         EXCEPT SELECT entity_id, state::text, version FROM ws.entities_at(m.at) WHERE module = 'qrand')) d;
-- now: the present rows, and the fold of all events of each live entity
SELECT count(*) AS present_disagreements
FROM ws.entities e
WHERE e.module = 'qrand' AND NOT e.retired
  AND (ws.get_state(e.entity_id) IS DISTINCT FROM e.state
       OR e.state IS DISTINCT FROM (SELECT ws.merge_patches(patch ORDER BY version) FROM ws.events
                                    WHERE entity_id = e.entity_id));
SELECT count(*) AS retired_still_visible
FROM ws.entities e WHERE e.module = 'qrand' AND e.retired
  AND (ws.get_state(e.entity_id) IS NOT NULL OR ws.get_state(e.entity_id, e.hlc) IS NOT NULL);

-- find, for a few predicates, lim and off: the sequential filter of the
-- expected states in entity id order
SELECT count(*) AS find_disagreements
FROM (SELECT at FROM sample WHERE rn % 48 = 1) m,
     (VALUES ('{"a": 1}'::jsonb, 5, 0), ('{"a": 2}', 3, 2), ('{"o": {"x": 3}}', 100, 0),
             ('{"tags": ["t1"]}', 4, 1)) p(pred, lim, off)
WHERE ARRAY(SELECT entity_id FROM ws.find(p.pred, p.lim, p.off, m.at) WHERE module = 'qrand')
      IS DISTINCT FROM
      ARRAY(SELECT entity_id FROM expected x WHERE x.at = m.at AND x.state @> p.pred
            ORDER BY entity_id LIMIT p.lim OFFSET p.off);
-- ('{}' matches every entity of the database, so it is compared on its own)
SELECT count(*) AS find_all_disagreements
FROM (SELECT at FROM sample WHERE rn % 48 = 1) m
WHERE ARRAY(SELECT entity_id FROM ws.find('{}', 10000, 0, m.at) WHERE module = 'qrand')
      IS DISTINCT FROM ARRAY(SELECT entity_id FROM expected x WHERE x.at = m.at ORDER BY entity_id);
SELECT count(*) AS find_present_disagreements
FROM (VALUES ('{"a": 1}'::jsonb), ('{"a": 3}'), ('{"o": {"x": 3}}'), ('{"tags": ["t2"]}'), ('{"c": 0}')) p(pred)
WHERE ARRAY(SELECT entity_id FROM ws.find(p.pred, 10000) WHERE module = 'qrand')
      IS DISTINCT FROM
      ARRAY(SELECT entity_id FROM ws.entities WHERE module = 'qrand' AND NOT retired AND state @> p.pred
            ORDER BY entity_id);

-- history between two random event HLCs of each entity: exactly its events
-- in that closed range, in HLC order
SELECT count(*) AS history_disagreements
FROM ws.entities e,
     LATERAL (SELECT a.hlc AS f, b.hlc AS t FROM ws.events a, ws.events b
              WHERE a.entity_id = e.entity_id AND b.entity_id = e.entity_id AND a.version <= b.version
              ORDER BY random() LIMIT 5) r
WHERE e.module = 'qrand'
  AND ARRAY(SELECT event_id FROM ws.history(e.entity_id, r.f, r.t))
      IS DISTINCT FROM
      ARRAY(SELECT event_id FROM ws.events x WHERE x.entity_id = e.entity_id AND x.hlc >= r.f AND x.hlc <= r.t
            ORDER BY x.hlc);
SELECT count(*) AS history_all_disagreements
FROM ws.entities e
WHERE e.module = 'qrand'
  AND ARRAY(SELECT version FROM ws.history(e.entity_id))
      IS DISTINCT FROM ARRAY(SELECT generate_series(1, e.version));

-- neighbors at every link event (and just before it): the last link or
-- unlink event of each (rel, to) up to then decides
SELECT count(*) AS neighbors_disagreements
FROM (SELECT DISTINCT entity_id, m.at FROM ws.events v,
             LATERAL (VALUES (v.hlc), (ws.hlc(ws.hlc_wall(v.hlc) - interval '1 microsecond'))) m(at)
      WHERE v.module = 'qrand' AND v.event_type IN ('linked', 'unlinked')) c
JOIN ws.entities e USING (entity_id)
WHERE coalesce((SELECT string_agg(format('%s>%s %s %s', rel, to_id, props, hlc), ',')
                FROM ws.neighbors(c.entity_id, NULL, c.at)), '')
      <>
      CASE WHEN e.retired AND e.hlc <= c.at THEN '' ELSE
      coalesce((SELECT string_agg(format('%s>%s %s %s', rel, to_id, props, hlc), ',' ORDER BY rel, to_id)
                FROM (SELECT DISTINCT ON (l.meta->>'rel', l.meta->>'to')
                             l.meta->>'rel' AS rel, l.meta->>'to' AS to_id, l.meta->'props' AS props,
                             l.hlc, l.event_type
                      FROM ws.events l
                      WHERE l.entity_id = c.entity_id AND l.hlc <= c.at
                        AND l.event_type IN ('linked', 'unlinked')
                      ORDER BY l.meta->>'rel', l.meta->>'to', l.hlc DESC) s
                WHERE s.event_type = 'linked'), '') END;
SELECT count(*) AS neighbors_present_disagreements
FROM ws.entities e
WHERE e.module = 'qrand' AND NOT e.retired
  AND coalesce((SELECT string_agg(format('%s>%s %s %s', rel, to_id, props, hlc), ',') FROM ws.neighbors(e.entity_id)), '')
      <> coalesce((SELECT string_agg(format('%s>%s %s %s', rel, to_id, props, hlc), ',' ORDER BY rel, to_id)
                   FROM ws.relationships WHERE from_id = e.entity_id), '');

-- a state now, as of a time when every keyframe interval was different
SELECT count(DISTINCT (x.version - k.version)) > 3 AS folds_of_several_lengths
FROM expected x
CROSS JOIN LATERAL (SELECT version FROM ws.events k WHERE k.entity_id = x.entity_id
                    AND k.version <= x.version AND k.state IS NOT NULL
                    ORDER BY version DESC LIMIT 1) k;
