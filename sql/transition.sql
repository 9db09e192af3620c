-- The transition protocol: create, transition, counters, constraints,
-- idempotent retries, retire, links
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';

SELECT ws.register_module('game', 1);
SELECT ws.define_kind('room', 'game');
SELECT ws.define_kind('player', 'game', 'lww', ARRAY['score', 'coins']);
SELECT ws.add_constraint('player', 'coins_not_negative', '$.coins >= 0');

-- create: version 1, event type created, a keyframe
SELECT entity_id, kind, module, state, version, vclock, retired, hlc = created_hlc AS same_hlc
FROM ws.create_entity('p1', 'player', 'game', '{"name": "Ada", "coins": 10, "score": 0}');
SELECT entity_id, version, event_type, patch, state, origin_node, handshake, kind, module
FROM ws.events WHERE entity_id = 'p1';

-- a kind that is not defined yet is defined for the module (policy lww)
SELECT entity_id, kind, version FROM ws.create_entity('room1', 'room', 'game', '{"title": "Hall"}');
SELECT kind, module, policy, counters FROM ws.kinds ORDER BY kind;

-- transition: merge patch, version + 1, HLC moves forward
SELECT ws.hlc_now() AS before \gset
SELECT entity_id, state, version, vclock, hlc > :'before'::ws.hlc AS hlc_advanced
FROM ws.transition('p1', '{"name": "Ada L.", "title": "Countess"}', expected_version => 1);
-- counters take deltas; the event stores the resolved absolute values
SELECT state, version FROM ws.transition('p1', '{"score": 5, "coins": -3}');
SELECT state, version FROM ws.transition('p1', '{"score": 2.5}');
SELECT version, event_type, patch FROM ws.events WHERE entity_id = 'p1' ORDER BY version;
-- null removes a field (a counter too)
SELECT state FROM ws.transition('p1', '{"title": null}');
-- custom event type
SELECT version FROM ws.transition('p1', '{"level": 2}', event_type => 'level_up');
SELECT event_type FROM ws.events WHERE entity_id = 'p1' AND version = 6;


-- idempotency: a retry with the same event_id returns the first result and
-- writes nothing, even after the version moved on
SELECT version, state FROM ws.transition('p1', '{"coins": 1}', event_id => '00000000-0000-4000-8000-000000000001');
SELECT version FROM ws.transition('p1', '{"level": 3}');
SELECT version, state FROM ws.transition('p1', '{"coins": 1}', event_id => '00000000-0000-4000-8000-000000000001');
SELECT count(*) AS events_with_key FROM ws.events WHERE event_id = '00000000-0000-4000-8000-000000000001';
SELECT version, state->'coins' AS coins FROM ws.entities WHERE entity_id = 'p1';
-- a retried create returns version 1 and writes nothing
SELECT version, state FROM ws.create_entity('p2', 'player', 'game', '{"coins": 0}', event_id => '00000000-0000-4000-8000-000000000002');
SELECT version FROM ws.transition('p2', '{"coins": 4}');
SELECT version, state FROM ws.create_entity('p2', 'player', 'game', '{"coins": 0}', event_id => '00000000-0000-4000-8000-000000000002');
SELECT count(*) AS p2_events FROM ws.events WHERE entity_id = 'p2';

-- the handshake can be passed per call instead of through the session
RESET worldstate.handshake;
SELECT version FROM ws.transition('p2', '{"coins": 1}', handshake => '55-45-17');
SET worldstate.handshake = '55-45-17';

-- consistency levels
SELECT version FROM ws.transition('p2', '{"coins": 1}', consistency => 'eventual');
BEGIN;
SELECT version FROM ws.transition('p2', '{"coins": 1}', consistency => 'eventual');
SHOW synchronous_commit;
COMMIT;
SHOW synchronous_commit;
BEGIN;
SET LOCAL synchronous_commit = off;
SELECT version FROM ws.transition('p2', '{"coins": 1}', consistency => 'strong');
SHOW synchronous_commit;
COMMIT;
SELECT event_id AS dep FROM ws.events WHERE entity_id = 'p2' AND version = 1 \gset
SELECT version FROM ws.transition('p2', '{"coins": 1}', causal_deps => ARRAY[:'dep'::uuid], consistency => 'causal');
SELECT causal_deps = ARRAY[:'dep'::uuid] AS deps_stored FROM ws.events WHERE entity_id = 'p2' AND version = 7;

-- transition_many: all-or-nothing, in entity id order
SELECT entity_id, version, state->'coins' AS coins
FROM ws.transition_many('[{"entity_id": "p2", "patch": {"coins": 1}},
                          {"entity_id": "p1", "patch": {"coins": 1}, "expected_version": 8}]');
SELECT entity_id, version FROM ws.entities WHERE entity_id IN ('p1', 'p2') ORDER BY 1;
SELECT count(*) FROM ws.transition_many('[]');

-- links: events on the from entity; the graph as a table
SELECT from_id, rel, to_id, props, hlc IS NOT NULL AS has_hlc
FROM ws.link('p1', 'in', 'room1', '{"since": "today"}');
SELECT from_id, rel, to_id, props FROM ws.link('p1', 'in', 'room1', '{"since": "now"}');
SELECT from_id, rel, to_id, props FROM ws.link('p2', 'in', 'room1');
SELECT from_id, rel, to_id, props FROM ws.relationships ORDER BY from_id;
SELECT version, event_type, patch, meta FROM ws.events WHERE entity_id = 'p1' AND event_type IN ('linked', 'unlinked') ORDER BY version;
SELECT from_id, rel, to_id, props FROM ws.unlink('p2', 'in', 'room1');
SELECT count(*) AS links FROM ws.relationships;

-- retire: a tombstone event; the state is kept
SELECT entity_id, version, retired, state FROM ws.retire_entity('p2');
SELECT version, event_type, patch FROM ws.events WHERE entity_id = 'p2' ORDER BY version DESC LIMIT 1;

-- keyframes: the first version and every keyframe_interval-th carry the state
SET worldstate.keyframe_interval = 4;
SELECT ws.create_entity('k1', 'player', 'game', '{"coins": 0}') IS NOT NULL;
SELECT count(*) FROM (SELECT ws.transition('k1', '{"coins": 1}') FROM generate_series(1, 9)) s;
SELECT version, state IS NOT NULL AS keyframe, state FROM ws.events WHERE entity_id = 'k1' ORDER BY version;
RESET worldstate.keyframe_interval;

-- every entity's version equals its number of events, and its state the
-- fold of its patches in version order
WITH RECURSIVE fold(entity_id, version, acc) AS (
    SELECT entity_id, version, patch FROM ws.events WHERE version = 1
  UNION ALL
    SELECT f.entity_id, e.version, ws.merge_patch(f.acc, e.patch)
    FROM fold f JOIN ws.events e ON e.entity_id = f.entity_id AND e.version = f.version + 1
)
SELECT count(*) AS entities,
       count(*) FILTER (WHERE e.version <> (SELECT count(*) FROM ws.events v WHERE v.entity_id = e.entity_id)) AS version_mismatches,
       count(*) FILTER (WHERE e.state <> (SELECT acc FROM fold f WHERE f.entity_id = e.entity_id AND f.version = e.version)) AS state_mismatches
FROM ws.entities e;

-- counters in ws.stats()
SELECT value > 0 AS events_counted FROM ws.stats() WHERE name = 'events_written';
