-- The fold over a long history: every path that rebuilds a state (point
-- queries, the idempotent replay of a transition, ws.verify, restore's
-- replay) gives what ws.merge_patches -- patches applied one by one --
-- gives, also where a history is folded in several chunks of patches and
-- across several keyframes.
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';
SET worldstate.keyframe_interval = 100;

SELECT ws.register_module('fold', 1);
SELECT ws.define_kind('fold_item', 'fold', 'lww', ARRAY['n']);
-- version i + 1's patch: a member of its own (so that no patch goes
-- unnoticed), members set, removed with null, nested and replaced, an
-- object member turned into a scalar and back
CREATE FUNCTION pg_temp.fold_patch(i int) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('h' || i, i) || CASE i % 7
        WHEN 0 THEN jsonb_build_object('n', 1, 'k' || (i % 11), i)
        WHEN 1 THEN jsonb_build_object('k' || ((i + 5) % 11), NULL, 'gone', NULL, 'h' || (i - 3), NULL)
        WHEN 2 THEN jsonb_build_object('deep', jsonb_build_object('a', jsonb_build_object('c' || (i % 3), i)))
        WHEN 3 THEN jsonb_build_object('deep', jsonb_build_object('a', 'flat' || i))
        WHEN 4 THEN jsonb_build_object('deep', jsonb_build_object('a', jsonb_build_object('b', NULL, 'd', i)))
        WHEN 5 THEN jsonb_build_object('list', jsonb_build_array(i, 'x'), 'gone', i)
        ELSE jsonb_build_object('n', 1, 'deep', NULL)
    END
$$;
CREATE FUNCTION pg_temp.fold_event_id(i int) RETURNS uuid LANGUAGE sql AS $$
    SELECT ('f01d0000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid
$$;

-- the world before f1, to restore f1 onto by replaying its events
SELECT ws.create_snapshot('fold_stream') AS snap \gset

SELECT version FROM ws.create_entity('f1', 'fold_item', 'fold',
    '{"n": 0, "keep": "k", "gone": 1, "deep": {"a": {"b": 1}}, "list": [1]}');

-- 300 versions, with a known event_id each
SELECT count(*) FROM (
    SELECT ws.transition('f1', pg_temp.fold_patch(i), event_id => pg_temp.fold_event_id(i))
    FROM generate_series(1, 300) i) t;

-- the reference: every version's state, folded patch by patch
CREATE TEMP TABLE fold_ref AS
SELECT e.version, e.hlc,
       (SELECT ws.merge_patches(x.patch ORDER BY x.version) FROM ws.events x
        WHERE x.entity_id = 'f1' AND x.version <= e.version) AS state
FROM ws.events e WHERE e.entity_id = 'f1';
SELECT count(*) AS versions, count(*) FILTER (WHERE version % 100 = 0) AS keyframes_after_1
FROM fold_ref;

-- the present row is the fold of all its patches
SELECT state = (SELECT state FROM fold_ref WHERE version = 301) AS present_is_the_fold
FROM ws.entities WHERE entity_id = 'f1';

-- point queries: the state in force at every version's HLC
SELECT count(*) AS point_queries_differing FROM fold_ref r
WHERE ws.get_state('f1', r.hlc) IS DISTINCT FROM r.state;

-- idempotent replays: each event_id again returns the state it left
SELECT count(*) AS replays_differing FROM generate_series(1, 300, 13) i
WHERE (SELECT state FROM ws.transition('f1', pg_temp.fold_patch(i),
                                        event_id => pg_temp.fold_event_id(i)))
      IS DISTINCT FROM (SELECT state FROM fold_ref WHERE version = i + 1);

-- verification folds the 300 patches in chunks and compares every keyframe
SELECT * FROM ws.verify() WHERE entity_id = 'f1';

-- restore's replay of f1's 301 events rebuilds the same state
SELECT ws.state_hash() AS hash_before \gset
DELETE FROM ws.relationships;
DELETE FROM ws.entities;
SELECT ws.restore_snapshot(:snap) >= 301 AS replayed;
SELECT state = (SELECT state FROM fold_ref WHERE version = 301) AS replayed_is_the_fold,
       version
FROM ws.entities WHERE entity_id = 'f1';
SELECT ws.state_hash() = :'hash_before' AS same_world_after_replay;
RESET worldstate.keyframe_interval;
