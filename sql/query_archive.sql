-- Archival (ws.archive_events) moves old events to ws.events_archive.  The
-- query functions read them there: every answer about every moment --
-- states, rows, the world, history, edges -- is the same after archival as
-- before.  The archival is rolled back at the end.
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';
SET worldstate.keyframe_interval = 4;

SELECT ws.register_module('qarch', 1);
SELECT ws.define_kind('qa_thing', 'qarch', 'lww', ARRAY['c']);

SELECT count(ws.create_entity(id, 'qa_thing', 'qarch', '{"c": 0, "keep": null}'))
FROM unnest(ARRAY['qa1', 'qa2', 'qa3']) id;
SELECT rel, to_id FROM ws.link('qa1', 'knows', 'qa2', '{"w": 1}');
SELECT rel, to_id FROM ws.link('qa1', 'knows', 'qa3');
SELECT count(ws.transition('qa1', jsonb_build_object('c', 1, 'step', i, 'o', jsonb_build_object('k' || i % 3, i))))
FROM generate_series(1, 13) i;
SELECT rel, to_id FROM ws.unlink('qa1', 'knows', 'qa3');
SELECT count(ws.transition('qa2', jsonb_build_object('c', 2, 'step', i))) FROM generate_series(1, 6) i;
SELECT ws.hlc_now() AS mid \gset
SELECT count(ws.transition('qa1', jsonb_build_object('c', 1, 'late', i))) FROM generate_series(1, 6) i;
SELECT rel, to_id FROM ws.link('qa1', 'owns', 'qa2');
SELECT version FROM ws.retire_entity('qa3');
SELECT version FROM ws.create_entity('qa4', 'qa_thing', 'qarch', '{"c": 1}');

-- the answers before archival, at every event and just after it
CREATE TEMP TABLE moments AS
SELECT hlc AS at FROM ws.events WHERE module = 'qarch'
UNION SELECT ws.hlc(ws.hlc_wall(hlc), ws.hlc_counter(hlc), ws.hlc_node(hlc) + 1) FROM ws.events WHERE module = 'qarch';
CREATE TEMP TABLE answers AS
SELECT e.entity_id, m.at,
       ws.get_state(e.entity_id, m.at) AS state,
       (SELECT g::text FROM ws.get_entity(e.entity_id, m.at) g) AS row,
       (SELECT string_agg(format('%s>%s %s', n.rel, n.to_id, n.props), ', ')
        FROM ws.neighbors(e.entity_id, NULL, m.at) n) AS edges
FROM ws.entities e, moments m WHERE e.module = 'qarch';
CREATE TEMP TABLE world AS
SELECT m.at, w::text AS row FROM moments m, ws.entities_at(m.at) w WHERE w.module = 'qarch';
CREATE TEMP TABLE histories AS
SELECT e.entity_id, (SELECT array_agg(h::text) FROM ws.history(e.entity_id) h) AS events,
       (SELECT array_agg(h.version) FROM ws.history(e.entity_id, NULL, :'mid') h) AS until_mid
FROM ws.entities e WHERE e.module = 'qarch';

BEGIN;
SELECT ws.create_snapshot('query_archive') > 0 AS snapshot_taken;
SELECT ws.archive_events(:'mid') > 0 AS events_archived;
-- qa1 and qa2 lost their early events to the archive, keeping a keyframe
SELECT entity_id, min(version) AS first_version_left, bool_or(state IS NOT NULL) AS keyframe_left
FROM ws.events WHERE module = 'qarch' GROUP BY entity_id ORDER BY 1;
SELECT entity_id, count(*) AS archived FROM ws.events_archive WHERE module = 'qarch'
GROUP BY entity_id ORDER BY 1;

SELECT count(*) AS point_disagreements FROM answers a
WHERE ws.get_state(a.entity_id, a.at) IS DISTINCT FROM a.state
   OR (SELECT g::text FROM ws.get_entity(a.entity_id, a.at) g) IS DISTINCT FROM a.row;
SELECT count(*) AS edge_disagreements FROM answers a
WHERE (SELECT string_agg(format('%s>%s %s', n.rel, n.to_id, n.props), ', ')
       FROM ws.neighbors(a.entity_id, NULL, a.at) n) IS DISTINCT FROM a.edges;
SELECT count(*) AS world_disagreements FROM (
    (SELECT m.at, w::text FROM moments m, ws.entities_at(m.at) w WHERE w.module = 'qarch'
     EXCEPT ALL SELECT at, row FROM world)
    UNION ALL
    (SELECT at, row FROM world
     EXCEPT ALL SELECT m.at, w::text FROM moments m, ws.entities_at(m.at) w WHERE w.module = 'qarch')) d;
SELECT count(*) AS history_disagreements FROM histories x
WHERE (SELECT array_agg(h::text) FROM ws.history(x.entity_id) h) IS DISTINCT FROM x.events
   OR (SELECT array_agg(h.version) FROM ws.history(x.entity_id, NULL, :'mid') h) IS DISTINCT FROM x.until_mid;
-- some of these answers did need the archive
SELECT count(*) > 0 AS answers_from_the_archive FROM answers a
WHERE NOT EXISTS (SELECT FROM ws.events v WHERE v.entity_id = a.entity_id AND v.hlc <= a.at)
  AND a.state IS NOT NULL;
SELECT ws.state_hash(:'mid') IS NOT NULL AS state_hash_at_mid;
ROLLBACK;

SELECT count(*) AS archived_after_rollback FROM ws.events_archive WHERE module = 'qarch';
RESET worldstate.keyframe_interval;
