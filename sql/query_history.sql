-- ws.history: an entity's events between two HLCs, bounds included, in
-- HLC order, through the index on (entity_id, hlc).
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';

SELECT ws.register_module('qhist', 1);
SELECT ws.define_kind('qh_log', 'qhist', 'lww', ARRAY['n']);

CREATE FUNCTION pg_temp.h(e text, v bigint) RETURNS ws.hlc
LANGUAGE sql AS $$SELECT hlc FROM ws.events WHERE entity_id = e AND version = v$$;
CREATE FUNCTION pg_temp.after(h ws.hlc) RETURNS ws.hlc
LANGUAGE sql AS $$SELECT ws.hlc(ws.hlc_wall(h), ws.hlc_counter(h), ws.hlc_node(h) + 1)$$;
-- the versions history returns, in its order
CREATE FUNCTION pg_temp.versions(e text, f ws.hlc, t ws.hlc) RETURNS bigint[]
LANGUAGE sql AS $$SELECT coalesce(array_agg(version), '{}') FROM ws.history(e, f, t)$$;

SELECT version FROM ws.create_entity('qh1', 'qh_log', 'qhist', '{"n": 0}');
SELECT version FROM ws.create_entity('qh2', 'qh_log', 'qhist', '{"n": 0}');
SELECT count(ws.transition('qh1', jsonb_build_object('n', 1, 'at', i))) FROM generate_series(2, 6) i;
SELECT from_id, rel, to_id FROM ws.link('qh1', 'next', 'qh2', '{"w": 1}');
SELECT count(ws.transition('qh2', '{"n": 1}')) FROM generate_series(1, 3);
SELECT from_id, rel, to_id FROM ws.unlink('qh1', 'next', 'qh2');
SELECT count(ws.transition('qh1', jsonb_build_object('n', 1, 'at', i))) FROM generate_series(9, 10) i;

-- everything, in HLC order, as stored in ws.events
SELECT version, event_type, patch, meta FROM ws.history('qh1');
SELECT NOT EXISTS (SELECT h::text FROM ws.history('qh1') h
                   EXCEPT ALL SELECT e::text FROM ws.events e WHERE entity_id = 'qh1')
   AND (SELECT count(*) FROM ws.history('qh1')) = (SELECT count(*) FROM ws.events WHERE entity_id = 'qh1')
   AS rows_are_the_events;
SELECT bool_and(hlc > prev) AS strictly_hlc_ordered
FROM (SELECT hlc, lag(hlc) OVER () AS prev FROM ws.history('qh1')) s WHERE prev IS NOT NULL;

-- bounds are inclusive; NULL is open; between events; empty ranges
SELECT pg_temp.versions('qh1', pg_temp.h('qh1', 3), pg_temp.h('qh1', 6)) AS from3_to6,
       pg_temp.versions('qh1', pg_temp.h('qh1', 5), pg_temp.h('qh1', 5)) AS just5,
       pg_temp.versions('qh1', pg_temp.h('qh1', 8), NULL) AS from8,
       pg_temp.versions('qh1', NULL, pg_temp.h('qh1', 2)) AS to2,
       pg_temp.versions('qh1', pg_temp.after(pg_temp.h('qh1', 3)), pg_temp.after(pg_temp.h('qh1', 6))) AS after3_to_after6,
       pg_temp.versions('qh1', pg_temp.h('qh1', 6), pg_temp.h('qh1', 3)) AS reversed,
       pg_temp.versions('qh1', pg_temp.after(pg_temp.h('qh1', 10)), NULL) AS after_last,
       pg_temp.versions('qh_nobody', NULL, NULL) AS unknown;
-- every range [h(i), h(j)] holds exactly versions i..j
SELECT bool_and(pg_temp.versions('qh1', pg_temp.h('qh1', i), pg_temp.h('qh1', j))
                = ARRAY(SELECT generate_series(i, j)::bigint)) AS all_ranges_inclusive
FROM generate_series(1, 10) i, generate_series(1, 10) j WHERE i <= j;
-- the other entity's events are not mixed in, though they interleave in time
SELECT pg_temp.versions('qh2', pg_temp.h('qh1', 1), pg_temp.h('qh1', 10)) AS qh2_during_qh1;

-- history reads what the statement's snapshot sees: a transaction sees its
-- own new events; others see them once it commits (see also the isolation
-- spec history_committed)
BEGIN;
SELECT version FROM ws.transition('qh1', '{"n": 1}');
SELECT max(version) AS last_seen_inside FROM ws.history('qh1');
ROLLBACK;
SELECT max(version) AS last_seen_after_rollback FROM ws.history('qh1');

-- a retired entity keeps its history
SELECT version FROM ws.retire_entity('qh2');
SELECT version, event_type FROM ws.history('qh2');
