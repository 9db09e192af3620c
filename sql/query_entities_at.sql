-- ws.entities_at: the whole world as of an HLC, as an ordinary set of
-- rows -- joins, GROUP BY and any aggregate work on any past moment.
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';
SET worldstate.keyframe_interval = 4;

SELECT ws.register_module('qworld', 1);
SELECT ws.define_kind('qw_player', 'qworld', 'lww', ARRAY['gold']);
SELECT ws.define_kind('qw_guild', 'qworld');

SELECT ws.hlc_now() AS h0 \gset
SELECT count(*) FROM (
    SELECT ws.create_entity('qw_ann', 'qw_player', 'qworld', '{"team": "red", "gold": 10}')
    UNION ALL SELECT ws.create_entity('qw_bob', 'qw_player', 'qworld', '{"team": "blue", "gold": 5}')
    UNION ALL SELECT ws.create_entity('qw_cid', 'qw_player', 'qworld', '{"team": "red", "gold": 0}')
    UNION ALL SELECT ws.create_entity('qw_guild1', 'qw_guild', 'qworld', '{"name": "Owls"}')) s;
SELECT ws.hlc_now() AS h1 \gset

SELECT version FROM ws.transition('qw_ann', '{"gold": 5}');
SELECT version FROM ws.transition('qw_bob', '{"team": "red"}');
SELECT version FROM ws.create_entity('qw_dan', 'qw_player', 'qworld', '{"team": "blue", "gold": 7}');
SELECT count(ws.transition('qw_dan', '{"gold": 1}')) FROM generate_series(1, 9);
SELECT ws.hlc_now() AS h2 \gset

SELECT version FROM ws.retire_entity('qw_cid');
SELECT version FROM ws.transition('qw_ann', '{"gold": -3, "title": "Countess"}');
SELECT ws.hlc_now() AS h3 \gset

-- the world at each moment, in entity id order
SELECT entity_id, kind, state, version, retired FROM ws.entities_at(:'h0') WHERE module = 'qworld';
SELECT entity_id, kind, state, version, retired FROM ws.entities_at(:'h1') WHERE module = 'qworld';
SELECT entity_id, kind, state, version, retired FROM ws.entities_at(:'h2') WHERE module = 'qworld';
SELECT entity_id, kind, state, version, retired FROM ws.entities_at(:'h3') WHERE module = 'qworld';

-- a worked aggregate: gold per team, then and now
SELECT 'h1' AS at, state->>'team' AS team, count(*) AS players, sum((state->>'gold')::int) AS gold
FROM ws.entities_at(:'h1') WHERE kind = 'qw_player' GROUP BY 2
UNION ALL
SELECT 'h2', state->>'team', count(*), sum((state->>'gold')::int)
FROM ws.entities_at(:'h2') WHERE kind = 'qw_player' GROUP BY 2
UNION ALL
SELECT 'now', state->>'team', count(*), sum((state->>'gold')::int)
FROM ws.entities WHERE kind = 'qw_player' AND NOT retired GROUP BY 2
ORDER BY 1, 2;

-- a join of two moments: what changed between h1 and h3
SELECT coalesce(a.entity_id, b.entity_id) AS entity_id,
       CASE WHEN a.entity_id IS NULL THEN 'appeared'
            WHEN b.entity_id IS NULL THEN 'disappeared'
            WHEN a.state <> b.state THEN 'changed' ELSE 'same' END AS what,
       b.version - a.version AS versions_later
FROM (SELECT * FROM ws.entities_at(:'h1') WHERE module = 'qworld') a
FULL JOIN (SELECT * FROM ws.entities_at(:'h3') WHERE module = 'qworld') b USING (entity_id)
ORDER BY 1;

-- every row agrees with ws.get_entity at the same HLC (version, hlc,
-- vclock, created_hlc) and is not retired
SELECT i AS moment, bool_and(w.state = g.state AND w.version = g.version AND w.hlc = g.hlc
                   AND w.vclock = g.vclock AND w.created_hlc = g.created_hlc
                   AND NOT w.retired AND NOT g.retired) AS agrees_with_get_entity,
       count(*) AS entities
FROM unnest(ARRAY[:'h1', :'h2', :'h3']::ws.hlc[]) WITH ORDINALITY AS m(h, i),
     LATERAL ws.entities_at(h) w,
     LATERAL ws.get_entity(w.entity_id, h) g
WHERE w.module = 'qworld'
GROUP BY h, i ORDER BY i;

-- at every event of these entities, and just before it, the rows are the
-- entities' states folded from their events up to then
SELECT bool_and(ok) AS every_moment_matches, count(*) AS moments
FROM (
    SELECT at, NOT EXISTS (
        (SELECT entity_id, state::text, version FROM ws.entities_at(at) WHERE module = 'qworld'
         EXCEPT
         SELECT ev.entity_id, ws.merge_patches(ev.patch ORDER BY ev.version)::text, max(ev.version)
         FROM ws.events ev JOIN ws.entities e USING (entity_id)
         WHERE e.module = 'qworld' AND ev.hlc <= at AND NOT (e.retired AND e.hlc <= at)
         GROUP BY ev.entity_id)
        UNION ALL
        (SELECT ev.entity_id, ws.merge_patches(ev.patch ORDER BY ev.version)::text, max(ev.version)
         FROM ws.events ev JOIN ws.entities e USING (entity_id)
         WHERE e.module = 'qworld' AND ev.hlc <= at AND NOT (e.retired AND e.hlc <= at)
         GROUP BY ev.entity_id
         EXCEPT
         SELECT entity_id, state::text, version FROM ws.entities_at(at) WHERE module = 'qworld')) AS ok
    FROM (SELECT hlc AS at FROM ws.events WHERE module = 'qworld'
          UNION ALL
          SELECT ws.hlc(ws.hlc_wall(hlc) - interval '1 microsecond') FROM ws.events WHERE module = 'qworld') m
) s;

-- rows come in entity id order
SELECT bool_and(entity_id > prev) AS ordered
FROM (SELECT entity_id, lag(entity_id) OVER () AS prev FROM ws.entities_at(:'h3')) s
WHERE prev IS NOT NULL;

-- NULL is the present: the live rows of ws.entities
SELECT (SELECT count(*) FROM ws.entities_at(NULL)) = (SELECT count(*) FROM ws.entities WHERE NOT retired)
    AS present_count,
       NOT EXISTS (SELECT e::text FROM ws.entities_at(NULL) e
                   EXCEPT SELECT e::text FROM ws.entities e WHERE NOT retired) AS present_rows;

-- entities_at is a set like any other: here, in a correlated subquery
SELECT p.entity_id,
       (SELECT count(*) FROM ws.entities_at(p.hlc) w WHERE w.kind = 'qw_player') AS players_then
FROM ws.entities p WHERE p.module = 'qworld' AND p.kind = 'qw_player' ORDER BY 1;

RESET worldstate.keyframe_interval;
