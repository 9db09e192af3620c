-- What ws.restore_snapshot checks after a restore from a snapshot: the
-- snapshot's rows by its checksum, and what the restore rebuilt -- each
-- entity with events after the snapshot, folded from its row in the
-- snapshot through those events (the keyframes of ws.keyframes there,
-- their states and positions, and the rebuilt row); the restore rebuilds
-- the keyframes of the events it replays.  ws.verify() checks the whole
-- log.  Also: what a restore writes, and the snapshot formats it reads.
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
SELECT e.entity_id, e.version, k.hlc IS NOT NULL AS keyframe
FROM ws.events e LEFT JOIN ws.keyframes k USING (entity_id, hlc)
WHERE e.entity_id IN ('rv1', 'rv2') ORDER BY 1, 2;
SELECT ws.state_hash() AS hash \gset

-- a clean restore replays the 8 events after the snapshot
SELECT ws.restore_snapshot(:snap) AS replayed;
SELECT ws.state_hash() = :'hash' AS same_world;

-- the keyframes after the snapshot are checked and rebuilt: one changed
-- by hand differs from the fold, and the restore is refused; one deleted
-- by hand is written again
DELETE FROM ws.keyframes WHERE entity_id = 'rv1' AND version = 6;
UPDATE ws.keyframes SET state = '{"qty": -6}' WHERE entity_id = 'rv2' AND version = 6;
SELECT code, message FROM pg_temp.try(format('SELECT ws.restore_snapshot(%s)', :snap));
UPDATE ws.keyframes SET state = (SELECT state FROM ws.events e
                                 WHERE e.entity_id = 'rv2' AND e.hlc = keyframes.hlc)
WHERE entity_id = 'rv2' AND version = 6;
SELECT ws.restore_snapshot(:snap) AS replayed;
SELECT entity_id, version, state FROM ws.keyframes WHERE entity_id LIKE 'rv%' AND version = 6 ORDER BY 1;
SELECT count(*) AS problems FROM ws.verify() WHERE entity_id LIKE 'rv%';

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

-- rows already as the restore rebuilds them are not written again, those
-- it replays (rv1, rv2) or not (rv3): they keep their place in the table
CREATE TEMP TABLE rv_rows AS SELECT entity_id, ctid AS place FROM ws.entities WHERE entity_id LIKE 'rv%';
SELECT ws.restore_snapshot(:snap) AS replayed;
SELECT count(*) AS rows_rewritten FROM ws.entities e JOIN rv_rows r USING (entity_id)
WHERE e.ctid <> r.place;

-- a row the snapshot lacks and no event explains goes; rows deleted by
-- hand come back, from the replay (rv1) or from the snapshot (rv3)
INSERT INTO ws.entities SELECT 'rv-ghost', kind, module, state, version, hlc, vclock,
    created_hlc, retired FROM ws.entities WHERE entity_id = 'rv3';
DELETE FROM ws.entities WHERE entity_id IN ('rv1', 'rv3');
SELECT ws.restore_snapshot(:snap) AS replayed;
SELECT ws.state_hash() = :'hash' AS same_world;
SELECT entity_id, version FROM ws.entities WHERE entity_id LIKE 'rv%' ORDER BY 1;

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

-- a keyframe after the snapshot renumbered: its version is not the
-- position of its event (the versions events carry are their origin's and
-- are not checked)
BEGIN;
UPDATE ws.keyframes SET version = 9 WHERE entity_id = 'rv2' AND version = 6;
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

-- Snapshots are taken in format 2: the checksum sums a SHA-256 of each
-- row, so it is computed without sorting the rows, and does not depend
-- on the order they are stored in
SELECT format_version FROM ws.snapshots WHERE id = :snap;
BEGIN;
CREATE TEMP TABLE rv_snap ON COMMIT DROP AS
SELECT * FROM ws.snapshot_entities WHERE snapshot_id = :snap;
DELETE FROM ws.snapshot_entities WHERE snapshot_id = :snap;
INSERT INTO ws.snapshot_entities SELECT * FROM rv_snap ORDER BY entity_id DESC;
SELECT ws.restore_snapshot(:snap) AS replayed;
-- two rows that swap their states no longer match it
UPDATE ws.snapshot_entities s SET state = o.state FROM rv_snap o
WHERE s.snapshot_id = :snap AND o.entity_id = CASE s.entity_id WHEN 'rv1' THEN 'rv2' ELSE 'rv1' END
  AND s.entity_id IN ('rv1', 'rv2');
SELECT code, regexp_replace(message, '[0-9]+', 'N') AS message
FROM pg_temp.try(format('SELECT ws.restore_snapshot(%s)', :snap));
ROLLBACK;

-- a snapshot in format 1, as taken before: its checksum digests the rows'
-- text in byte order of their keys; it still restores, and its damage is
-- still found
BEGIN;
UPDATE ws.snapshots SET format_version = 1, checksum = encode(sha256(convert_to(
    coalesce((SELECT string_agg(concat_ws(E'\t', entity_id, kind, module, version, retired,
                                          state::text, hlc, vclock, created_hlc) || E'\n', ''
                                ORDER BY entity_id COLLATE "C")
              FROM ws.snapshot_entities WHERE snapshot_id = :snap), '')
    || E'--\n' ||
    coalesce((SELECT string_agg(concat_ws(E'\t', from_id, rel, to_id, props::text, hlc) || E'\n', ''
                                ORDER BY from_id COLLATE "C", rel COLLATE "C", to_id COLLATE "C")
              FROM ws.snapshot_relationships WHERE snapshot_id = :snap), ''),
    'UTF8')), 'hex')
WHERE id = :snap;
SELECT ws.restore_snapshot(:snap) AS replayed;
SELECT ws.state_hash() = :'hash' AS same_world;
UPDATE ws.snapshot_entities SET version = 2 WHERE snapshot_id = :snap AND entity_id = 'rv3';
SELECT code, regexp_replace(message, '[0-9]+', 'N') AS message
FROM pg_temp.try(format('SELECT ws.restore_snapshot(%s)', :snap));
ROLLBACK;

-- a format this build does not know is refused
BEGIN;
UPDATE ws.snapshots SET format_version = 3 WHERE id = :snap;
SELECT code, regexp_replace(message, '[0-9]+ has', 'N has') AS message, hint
FROM pg_temp.try(format('SELECT ws.restore_snapshot(%s)', :snap));
ROLLBACK;

SELECT count(*) AS problems FROM ws.verify() WHERE entity_id LIKE 'rv%';
RESET worldstate.keyframe_interval;
