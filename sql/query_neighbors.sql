-- ws.neighbors: an entity's outgoing edges now (ws.relationships) or as of
-- an HLC (rebuilt from its link and unlink events), in (rel, to_id) order.
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';

SELECT ws.register_module('qnb', 1);
SELECT ws.define_kind('qn_node', 'qnb');
SELECT count(ws.create_entity(id, 'qn_node', 'qnb', '{}'))
FROM unnest(ARRAY['qn_a', 'qn_b', 'qn_c', 'qn_d', 'qn_e']) id;

-- edges as text, for comparisons
CREATE FUNCTION pg_temp.edges(e text, r text, at ws.hlc) RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(string_agg(format('%s>%s %s', n.rel, n.to_id, n.props), ', '), '')
    FROM ws.neighbors(e, r, at) n $$;
CREATE FUNCTION pg_temp.edges_now(e text) RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(string_agg(format('%s>%s %s', rel, to_id, props), ', ' ORDER BY rel, to_id), '')
    FROM ws.relationships WHERE from_id = e $$;

SELECT ws.hlc_now() AS h0 \gset
SELECT rel, to_id FROM ws.link('qn_a', 'knows', 'qn_b', '{"since": 1}');
SELECT ws.hlc_now() AS h1 \gset
SELECT rel, to_id FROM ws.link('qn_a', 'knows', 'qn_c');
SELECT rel, to_id FROM ws.link('qn_a', 'owns', 'qn_d', '{"w": 2}');
SELECT rel, to_id FROM ws.link('qn_b', 'knows', 'qn_a');
SELECT ws.hlc_now() AS h2 \gset
SELECT rel, to_id, props FROM ws.link('qn_a', 'knows', 'qn_b', '{"since": 2}');
SELECT rel, to_id FROM ws.unlink('qn_a', 'knows', 'qn_c');
SELECT ws.hlc_now() AS h3 \gset
SELECT rel, to_id FROM ws.link('qn_a', 'knows', 'qn_c', '{"again": true}');
SELECT rel, to_id FROM ws.unlink('qn_a', 'owns', 'qn_d');
-- an update that calls itself "linked" links nothing
SELECT version FROM ws.transition('qn_a', '{}', event_type => 'linked');
SELECT ws.hlc_now() AS h4 \gset

-- now: the rows of ws.relationships, in (rel, to_id) order
SELECT rel, to_id, props FROM ws.neighbors('qn_a');
SELECT pg_temp.edges('qn_a', NULL, NULL) = pg_temp.edges_now('qn_a') AS same_as_relationships;
-- one relation
SELECT rel, to_id, props FROM ws.neighbors('qn_a', 'knows');
SELECT rel, to_id, props FROM ws.neighbors('qn_a', rel => 'owns');

-- the past, from the link events
SELECT at_name, pg_temp.edges('qn_a', NULL, at) AS edges
FROM (VALUES ('h0', :'h0'::ws.hlc), ('h1', :'h1'), ('h2', :'h2'), ('h3', :'h3'), ('h4', :'h4')) v(at_name, at)
ORDER BY at_name;
SELECT pg_temp.edges('qn_a', 'owns', :'h2') AS owns_at_h2, pg_temp.edges('qn_a', 'owns', :'h4') AS owns_at_h4,
       pg_temp.edges('qn_b', NULL, :'h2') AS b_at_h2;
-- at the present HLC the edges are the present ones; an edge's hlc is
-- that of the link event that set it
SELECT pg_temp.edges('qn_a', NULL, ws.hlc_now()) = pg_temp.edges_now('qn_a') AS at_now_is_present;
SELECT bool_and(n.hlc = (SELECT max(e.hlc) FROM ws.events e
                         WHERE e.entity_id = 'qn_a' AND e.event_type = 'linked'
                           AND e.meta->>'rel' = n.rel AND e.meta->>'to' = n.to_id AND e.hlc <= :'h3'))
       AS edge_hlc_is_link_hlc
FROM ws.neighbors('qn_a', NULL, :'h3') n;
SELECT (SELECT hlc FROM ws.neighbors('qn_a', 'knows') WHERE to_id = 'qn_b')
     = (SELECT hlc FROM ws.relationships WHERE from_id = 'qn_a' AND rel = 'knows' AND to_id = 'qn_b')
       AS present_hlc;

-- edges belong to their source: a retired target keeps its incoming edges;
-- a retired source has none from then on, but had them before
SELECT version FROM ws.retire_entity('qn_b');
SELECT rel, to_id FROM ws.neighbors('qn_a');
SELECT ws.hlc_now() AS h5 \gset
SELECT version FROM ws.retire_entity('qn_a');
SELECT count(*) AS retired_now FROM ws.neighbors('qn_a');
SELECT count(*) AS retired_at_now FROM ws.neighbors('qn_a', NULL, ws.hlc_now());
SELECT pg_temp.edges('qn_a', NULL, :'h5') AS before_retirement;
-- not created yet, unknown
SELECT count(*) AS before_creation FROM ws.neighbors('qn_e', NULL, :'h0');
SELECT rel, to_id FROM ws.link('qn_e', 'knows', 'qn_c');
SELECT (SELECT count(*) FROM ws.neighbors('qn_e', NULL, :'h4')) AS not_yet_linked,
       (SELECT count(*) FROM ws.neighbors('qn_e', NULL, ws.hlc_now())) AS linked_now,
       (SELECT count(*) FROM ws.neighbors('qn_nobody')) AS unknown;
