-- ws.keyframes: the derived table of full states that every reader folds
-- from.  The transition protocol puts a keyframe at an entity's first
-- event and every worldstate.keyframe_interval-th, in the same
-- transaction; a point query, ws.entities_at (with or without a snapshot)
-- and ws.verify() all take the last keyframe at or before a moment and
-- fold the patches of the events after it.  A keyframe row at an event
-- wins over that event's patch, wherever it stands.
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';
SET worldstate.keyframe_interval = 4;

\i sql/include/try.sql

SELECT ws.register_module('kfm', 1);
SELECT ws.define_kind('kf_item', 'kfm', 'lww');
SELECT version FROM ws.create_entity('kf1', 'kf_item', 'kfm', '{"n": 1}');
SELECT count(ws.transition('kf1', jsonb_build_object('n', i))) FROM generate_series(2, 5) i;
-- e(v): the HLC of version v of kf1
CREATE FUNCTION pg_temp.e(v bigint) RETURNS ws.hlc
LANGUAGE sql STABLE AS $$ SELECT hlc FROM ws.events WHERE entity_id = 'kf1' AND version = v $$;
SELECT ws.create_snapshot('keyframes') AS snap \gset
SELECT count(ws.transition('kf1', jsonb_build_object('n', i))) FROM generate_series(6, 9) i;

-- keyframes at versions 1, 4 and 8, each at its event, with the position
-- of that event as its version
SELECT k.version, k.state, k.retired, k.vclock = e.vclock AS vclock_of_event
FROM ws.keyframes k JOIN ws.events e USING (entity_id, hlc)
WHERE k.entity_id = 'kf1' ORDER BY k.hlc;
SELECT count(*) AS keyframes_without_event FROM ws.keyframes k
WHERE k.entity_id = 'kf1'
  AND NOT EXISTS (SELECT FROM ws.events e WHERE e.entity_id = k.entity_id AND e.hlc = k.hlc);

-- readers may read it, and only the extension writes it
DROP ROLE IF EXISTS regress_kf_reader;
CREATE ROLE regress_kf_reader IN ROLE ws_reader;
SET ROLE regress_kf_reader;
SELECT count(*) AS readable FROM ws.keyframes WHERE entity_id = 'kf1';
SELECT code, message FROM pg_temp.try(
    $$INSERT INTO ws.keyframes (entity_id, hlc, version, state) VALUES ('kf1', ws.hlc_now(), 1, '{}')$$);
RESET ROLE;
DROP ROLE regress_kf_reader;

-- A keyframe placed at version 6, which is no position of the interval,
-- by a superuser.  In a running system only the convergence of several
-- nodes (src/converge.c) writes such rows, where an entity's canonical
-- state is not the fold of its stored patches; here it stands for one.
BEGIN;
INSERT INTO ws.keyframes (entity_id, hlc, version, state, vclock)
SELECT entity_id, hlc, 6, '{"n": 600, "placed": true}', vclock
FROM ws.events WHERE entity_id = 'kf1' AND version = 6;
-- a point query from it on takes its state over the patch of version 6,
-- until the next keyframe (version 8)
SELECT v, ws.get_state('kf1', pg_temp.e(v)) AS state,
       (SELECT version FROM ws.get_entity('kf1', pg_temp.e(v))) AS version
FROM generate_series(5, 9) v ORDER BY v;
-- ws.entities_at from the snapshot (taken at version 5) starts from the
-- keyframe too, as the later of the two
SELECT (SELECT state FROM ws.entities_at(pg_temp.e(7)) WHERE entity_id = 'kf1') AS from_snapshot;
-- and without the snapshot
DELETE FROM ws.snapshots WHERE id = :snap;
SELECT (SELECT state FROM ws.entities_at(pg_temp.e(7)) WHERE entity_id = 'kf1') AS without_snapshot;
-- verification folds the stored patches and finds the keyframe is not
-- their fold: right only where convergence put it
SELECT * FROM ws.verify() WHERE entity_id = 'kf1';
-- a keyframe that says retired ends the entity there
UPDATE ws.keyframes SET retired = true WHERE entity_id = 'kf1' AND version = 6;
SELECT ws.get_state('kf1', pg_temp.e(7)) IS NULL AS gone_at_7,
       NOT EXISTS (SELECT FROM ws.entities_at(pg_temp.e(7)) WHERE entity_id = 'kf1') AS gone_from_world;
ROLLBACK;

-- the answers without it: the fold of the patches
SELECT v, ws.get_state('kf1', pg_temp.e(v)) AS state FROM generate_series(6, 7) v ORDER BY v;
SELECT count(*) AS problems FROM ws.verify() WHERE entity_id = 'kf1';

-- a retried transition (same event_id) returns its state at its event,
-- rebuilt from the keyframes
SELECT version, state FROM ws.transition('kf1', '{"n": 10}', event_id => '00000000-0000-4000-8000-0000000f0010');
SELECT count(ws.transition('kf1', jsonb_build_object('n', i))) FROM generate_series(11, 12) i;
SELECT version, state FROM ws.transition('kf1', '{"n": 10}', event_id => '00000000-0000-4000-8000-0000000f0010');

RESET worldstate.keyframe_interval;
