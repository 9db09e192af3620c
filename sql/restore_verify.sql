-- What ws.restore_snapshot checks after a restore from a snapshot: the
-- snapshot's rows by its checksum, and what the restore rebuilt -- each
-- entity with events after the snapshot, folded from its row in the
-- snapshot through those events (versions, HLC order, keyframes, the
-- rebuilt row).  ws.verify() checks the whole log.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
SET worldstate.keyframe_interval = 3;

\i sql/include/try.sql

SELECT ws.register_module('rv', 1);
SELECT ws.define_kind('rv_item', 'rv', 'lww', ARRAY['qty']);
SELECT count(ws.create_entity('rv' || i, 'rv_item', 'rv', jsonb_build_object('qty', i)))
FROM generate_series(1, 3) i;
-- versions 2 and 3 of each before the snapshot
SELECT count(ws.transition('rv' || i, jsonb_build_object('qty', 10 * i + n)))
FROM generate_series(1, 3) i, generate_series(1, 2) n;
SELECT ws.create_snapshot('restore_verify') AS snap \gset
-- versions 4 to 7 of rv1 and rv2 after it; rv3 does not change
SELECT count(ws.transition('rv' || i, jsonb_build_object('qty', 100 * i + n, 'n', n)))
FROM generate_series(1, 2) i, generate_series(1, 4) n;
SELECT entity_id, version, state IS NOT NULL AS keyframe FROM ws.events
WHERE entity_id IN ('rv1', 'rv2') ORDER BY 1, 2;
SELECT ws.state_hash() AS hash \gset

-- a clean restore replays the 8 events after the snapshot
SELECT ws.restore_snapshot(:snap) AS replayed;
SELECT ws.state_hash() = :'hash' AS same_world;

-- a row changed by hand is put back, also when its entity has no later
-- events and its version and HLC still match the snapshot's
UPDATE ws.entities SET state = '{"qty": -3}' WHERE entity_id = 'rv3';
SELECT ws.restore_snapshot(:snap) AS replayed;
SELECT ws.state_hash() = :'hash' AS same_world;
-- also a state equal as jsonb but not the same (32.0 = 32)
UPDATE ws.entities SET state = '{"qty": 32.0}' WHERE entity_id = 'rv3';
SELECT ws.restore_snapshot(:snap) AS replayed;
SELECT ws.state_hash() = :'hash' AS same_world;
SELECT entity_id, version, state FROM ws.entities WHERE entity_id LIKE 'rv%' ORDER BY 1;

-- a patch after the snapshot tampered with: the replay folds it, and the
-- keyframe after it no longer matches, so the restore is refused and
-- changes nothing
BEGIN;
ALTER TABLE ws.events DISABLE TRIGGER USER;
UPDATE ws.events SET patch = '{"qty": -1, "forged": true}' WHERE entity_id = 'rv1' AND version = 5;
ALTER TABLE ws.events ENABLE TRIGGER USER;
SELECT code, message, hint FROM pg_temp.try(format('SELECT ws.restore_snapshot(%s)', :snap));
SELECT ws.state_hash() = :'hash' AS world_untouched;
ROLLBACK;

-- an event after the snapshot renumbered: the rebuilt row would skip a
-- version
BEGIN;
ALTER TABLE ws.events DISABLE TRIGGER USER;
UPDATE ws.events SET version = 9 WHERE entity_id = 'rv2' AND version = 7;
ALTER TABLE ws.events ENABLE TRIGGER USER;
SELECT code, message FROM pg_temp.try(format('SELECT ws.restore_snapshot(%s)', :snap));
SELECT ws.state_hash() = :'hash' AS world_untouched;
ROLLBACK;

-- the first event after the snapshot does not follow the snapshot's row:
-- an entity the snapshot has at version 3 resumes at version 5
BEGIN;
ALTER TABLE ws.events DISABLE TRIGGER USER;
DELETE FROM ws.events WHERE entity_id = 'rv1' AND version = 4;
ALTER TABLE ws.events ENABLE TRIGGER USER;
SELECT code, message FROM pg_temp.try(format('SELECT ws.restore_snapshot(%s)', :snap));
ROLLBACK;

-- a patch before the snapshot tampered with: the snapshot's checksum
-- vouches for the rows it holds, so restoring from it does not read the
-- log before it; ws.verify() reads the whole log and finds the damage
BEGIN;
ALTER TABLE ws.events DISABLE TRIGGER USER;
UPDATE ws.events SET patch = '{"qty": -2, "forged": true}' WHERE entity_id = 'rv3' AND version = 2;
ALTER TABLE ws.events ENABLE TRIGGER USER;
SELECT ws.restore_snapshot(:snap) AS replayed;
SELECT ws.state_hash() = :'hash' AS same_world;
SELECT * FROM ws.verify() WHERE entity_id LIKE 'rv%' ORDER BY 1, 2;
ROLLBACK;

SELECT count(*) AS problems FROM ws.verify() WHERE entity_id LIKE 'rv%';
RESET worldstate.keyframe_interval;
