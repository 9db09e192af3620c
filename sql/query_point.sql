-- Point queries: ws.get_state and ws.get_entity, now and at an HLC, read
-- from keyframes and patches; creation and retirement bound an entity's
-- existence.
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';
SET worldstate.keyframe_interval = 4;

SELECT ws.register_module('qpoint', 1);
SELECT ws.define_kind('qp_thing', 'qpoint', 'lww', ARRAY['hp']);

-- h(entity, version): the HLC of an entity's event at a version
CREATE FUNCTION pg_temp.h(e text, v bigint) RETURNS ws.hlc
LANGUAGE sql AS $$SELECT hlc FROM ws.events WHERE entity_id = e AND version = v$$;
-- after(h): an HLC strictly between h and the next HLC this node issues
CREATE FUNCTION pg_temp.after(h ws.hlc) RETURNS ws.hlc
LANGUAGE sql AS $$SELECT ws.hlc(ws.hlc_wall(h), ws.hlc_counter(h), ws.hlc_node(h) + 1)$$;
-- before(h): an HLC one microsecond before h
CREATE FUNCTION pg_temp.before(h ws.hlc) RETURNS ws.hlc
LANGUAGE sql AS $$SELECT ws.hlc(ws.hlc_wall(h) - interval '1 microsecond')$$;

-- version 1 keeps its members with value null; then ten changes: merges,
-- removals, nested objects, a counter, a replaced object
SELECT version FROM ws.create_entity('qp1', 'qp_thing', 'qpoint',
    '{"name": "box", "hp": 10, "gone": null, "pos": {"x": 0, "y": 0}}');
SELECT version FROM ws.transition('qp1', '{"hp": -3}');
SELECT version FROM ws.transition('qp1', '{"pos": {"x": 5}}');
SELECT version FROM ws.transition('qp1', '{"name": null, "tags": ["a", "b"]}');
SELECT version FROM ws.transition('qp1', '{"pos": {"y": null, "z": {"deep": true}}}');
SELECT version FROM ws.transition('qp1', '{"hp": 2}');
SELECT version FROM ws.transition('qp1', '{"pos": 7}');
SELECT version FROM ws.transition('qp1', '{"pos": {"again": 1}, "name": "crate"}');
SELECT version FROM ws.transition('qp1', '{"tags": null}');
SELECT version FROM ws.transition('qp1', '{"hp": 100}');
SELECT version FROM ws.transition('qp1', '{}', event_type => 'touched');

-- keyframes: version 1 and every 4th
SELECT version, state IS NOT NULL AS keyframe, patch FROM ws.events
WHERE entity_id = 'qp1' ORDER BY version;

-- the state at each event's HLC and just after it
SELECT v, ws.get_state('qp1', pg_temp.h('qp1', v)) AS state_at,
       ws.get_state('qp1', pg_temp.after(pg_temp.h('qp1', v)))
         IS NOT DISTINCT FROM ws.get_state('qp1', pg_temp.h('qp1', v)) AS same_just_after
FROM generate_series(1, 11) v ORDER BY v;

-- each equals the fold of the patches up to that version
SELECT bool_and(ws.get_state('qp1', e.hlc) =
                (SELECT ws.merge_patches(f.patch ORDER BY f.version) FROM ws.events f
                 WHERE f.entity_id = 'qp1' AND f.version <= e.version)) AS all_equal_fold
FROM ws.events e WHERE e.entity_id = 'qp1';

-- before creation: NULL; at or after the last change: the present
SELECT ws.get_state('qp1', pg_temp.before(pg_temp.h('qp1', 1))) IS NULL AS null_before_creation;
SELECT ws.get_state('qp1', ws.hlc_now()) = (SELECT state FROM ws.entities WHERE entity_id = 'qp1') AS now_is_present;
SELECT ws.get_state('qp1', '9999-12-31T00:00:00Z') = ws.get_state('qp1') AS far_future_is_present;
SELECT ws.get_state('qp1') = (SELECT state FROM ws.entities WHERE entity_id = 'qp1') AS present;
-- an unknown entity does not exist at any time
SELECT ws.get_state('qp_nobody') IS NULL AS unknown_now,
       ws.get_state('qp_nobody', ws.hlc_now()) IS NULL AS unknown_at;

-- get_entity: the row as of then -- that event's version, hlc and vclock
SELECT entity_id, kind, module, state, version, vclock, retired,
       hlc = pg_temp.h('qp1', 6) AS hlc_of_event,
       created_hlc = pg_temp.h('qp1', 1) AS created_hlc_of_v1
FROM ws.get_entity('qp1', pg_temp.after(pg_temp.h('qp1', 6)));
SELECT bool_and(g.version = e.version AND g.hlc = e.hlc AND g.vclock = e.vclock
                AND g.created_hlc = pg_temp.h('qp1', 1) AND NOT g.retired
                AND g.kind = 'qp_thing' AND g.module = 'qpoint') AS rows_match_events
FROM ws.events e, LATERAL ws.get_entity('qp1', e.hlc) g WHERE e.entity_id = 'qp1';
SELECT ws.get_entity('qp1')::text = (SELECT e::text FROM ws.entities e WHERE entity_id = 'qp1')
    AS present_row;
-- no row (1.0 returned one row of NULLs)
SELECT count(*) AS rows_before_creation FROM ws.get_entity('qp1', pg_temp.before(pg_temp.h('qp1', 1)));

-- retirement: from the retiring event on, the entity does not exist; before
-- it, it does
SELECT ws.hlc_now() AS before_retire \gset
SELECT version, retired FROM ws.retire_entity('qp1');
SELECT ws.get_state('qp1') IS NULL AS gone_now,
       NOT EXISTS (SELECT FROM ws.get_entity('qp1')) AS no_row_now,
       ws.get_state('qp1', pg_temp.h('qp1', 12)) IS NULL AS gone_at_retirement,
       ws.get_state('qp1', pg_temp.after(pg_temp.h('qp1', 12))) IS NULL AS gone_after,
       ws.get_state('qp1', :'before_retire') = ws.get_state('qp1', pg_temp.h('qp1', 11)) AS there_before,
       (SELECT version FROM ws.get_entity('qp1', :'before_retire')) AS version_before;
-- its last row stays in ws.entities, and its history in ws.events
SELECT retired, version FROM ws.entities WHERE entity_id = 'qp1';

-- An event type is the caller's choice: an update that calls itself
-- "retired" does not retire anything.
SELECT version FROM ws.create_entity('qp2', 'qp_thing', 'qpoint', '{"hp": 1}');
SELECT version FROM ws.transition('qp2', '{"hp": 1}', event_type => 'retired');
SELECT ws.get_state('qp2', pg_temp.h('qp2', 2)) AS state_after_fake_retire,
       ws.get_state('qp2') AS state_now;

-- Long gaps in an entity's history.  The probe for the event in force
-- first looks at a window of about K + 1 events at the entity's average
-- rate; these histories make that window miss -- empty, or ending before
-- the keyframe -- and the answer must not change.  The clock is moved
-- forward 300 milliseconds past the node clock (which earlier tests may
-- have left ahead of the system clock) with worldstate.clock_offset, so
-- nothing sleeps.
SELECT version FROM ws.create_entity('qp3', 'qp_thing', 'qpoint', '{"step": 1}');
SELECT count(ws.transition('qp3', jsonb_build_object('step', i))) FROM generate_series(2, 4) i;
SELECT greatest(0, ceil(extract(epoch FROM ws.hlc_wall(ws.hlc_now()) - clock_timestamp()) * 1000))::int
       + 300 AS jump_ms \gset
SET worldstate.clock_offset = :jump_ms;
SELECT count(ws.transition('qp3', jsonb_build_object('step', i, 'late', true))) FROM generate_series(5, 40) i;
RESET worldstate.clock_offset;
SELECT ws.hlc_wall(pg_temp.h('qp3', 5)) - ws.hlc_wall(pg_temp.h('qp3', 4)) >= interval '250ms' AS gap_before_v5;
-- versions 5 to 7 lie far from their keyframe (version 4)
SELECT v, ws.get_state('qp3', pg_temp.h('qp3', v)) AS state_at
FROM generate_series(4, 8) v ORDER BY v;
-- in the middle of the gap the window holds no event at all
SELECT ws.get_state('qp3', ws.hlc(ws.hlc_wall(pg_temp.h('qp3', 4)) + interval '200ms')) AS mid_gap;
SELECT bool_and(ws.get_state('qp3', e.hlc) =
                (SELECT ws.merge_patches(f.patch ORDER BY f.version) FROM ws.events f
                 WHERE f.entity_id = 'qp3' AND f.version <= e.version)) AS all_equal_fold
FROM ws.events e WHERE e.entity_id = 'qp3';
-- the same through ws.entities_at, which rebuilds entity after entity
SELECT bool_and(w.state = ws.get_state(w.entity_id, e.hlc)) AS world_agrees, count(*) AS rows
FROM ws.events e, LATERAL ws.entities_at(e.hlc) w
WHERE e.entity_id = 'qp3' AND w.module = 'qpoint';

-- An entity's events are ordered by HLC, and the version an event carries
-- is its origin's: an event that arrives with an HLC between versions 39
-- and 40 (here a version 41 written directly) is folded between them, in
-- HLC order, as every reader folds.  Rolled back.
BEGIN;
INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind,
                       event_type, patch, handshake, vclock)
SELECT '00000000-0000-4000-8000-0000000a0041', 'qp3', 41,
       pg_temp.after(pg_temp.h('qp3', 39)), 0, 'qpoint', 'qp_thing', 'update',
       '{"odd": true}', '55-45-17', '{0:41}';
SELECT ws.get_state('qp3', pg_temp.after(pg_temp.h('qp3', 41))) AS state_at_v41,
       ws.get_state('qp3', pg_temp.after(pg_temp.h('qp3', 41))) =
       (SELECT ws.merge_patches(patch ORDER BY hlc) FROM ws.events
        WHERE entity_id = 'qp3' AND hlc <= pg_temp.after(pg_temp.h('qp3', 41)))
         AS equals_fold_in_hlc_order,
       (SELECT state FROM ws.entities_at(pg_temp.after(pg_temp.h('qp3', 41))) WHERE entity_id = 'qp3')
         = ws.get_state('qp3', pg_temp.after(pg_temp.h('qp3', 41))) AS world_agrees;
ROLLBACK;

-- Wide objects: the fold reads object members in place, and jsonb stores
-- an offset instead of a length in every 32nd child, so a state and patches
-- with 40 members, nested ones too, and every kind of value (strings of
-- many lengths, numbers, booleans, arrays, objects; null removes) must fold
-- to what ws.merge_patches gives at every version.  Written with keyframes
-- every 32 versions (so up to 12 patches are folded at once), read with
-- that interval and with 4 (whose keyframe positions are wrong for it).
SET worldstate.keyframe_interval = 32;
SELECT (ws.create_entity('qp4', 'qp_thing', 'qpoint',
        (SELECT jsonb_object_agg('k' || i, CASE i % 5 WHEN 0 THEN to_jsonb(repeat('s', i * 7))
                                                     WHEN 1 THEN to_jsonb(i * 1.5)
                                                     WHEN 2 THEN to_jsonb(i % 2 = 0)
                                                     WHEN 3 THEN jsonb_build_array(i, 'x', NULL)
                                                     ELSE jsonb_build_object('a', i, 'b', repeat('t', i)) END)
         FROM generate_series(1, 40) i))).version;
SELECT count(ws.transition('qp4', p)) FROM (
    SELECT step, (SELECT jsonb_object_agg('k' || i, CASE (i + step) % 6 WHEN 0 THEN 'null'::jsonb
                                                     WHEN 1 THEN to_jsonb(repeat('u', step + i))
                                                     WHEN 2 THEN to_jsonb(step * 1000 + i)
                                                     WHEN 3 THEN jsonb_build_object('a', NULL, 'c', step)
                                                     WHEN 4 THEN to_jsonb(step % 2 = 0)
                                                     ELSE jsonb_build_array(step) END)
                  FROM generate_series(step, 40, 3) i) AS p
    FROM generate_series(1, 12) step ORDER BY step) s;
SELECT count(*) AS versions,
       bool_and(ws.get_state('qp4', e.hlc) =
                (SELECT ws.merge_patches(f.patch ORDER BY f.version) FROM ws.events f
                 WHERE f.entity_id = 'qp4' AND f.version <= e.version)) AS all_equal_fold,
       max((SELECT count(*) FROM jsonb_object_keys(ws.get_state('qp4', e.hlc)))) AS widest
FROM ws.events e WHERE e.entity_id = 'qp4';
SET worldstate.keyframe_interval = 4;
SELECT bool_and(ws.get_state('qp4', e.hlc) =
                (SELECT ws.merge_patches(f.patch ORDER BY f.version) FROM ws.events f
                 WHERE f.entity_id = 'qp4' AND f.version <= e.version)) AS all_equal_fold_k4
FROM ws.events e WHERE e.entity_id = 'qp4';

RESET worldstate.keyframe_interval;
