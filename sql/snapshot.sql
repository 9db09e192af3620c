-- Snapshots, recovery, verification, the world digest and archival
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
SET worldstate.keyframe_interval = 3;

-- try(statement): SQLSTATE and message of the error it raises
CREATE FUNCTION pg_temp.try(stmt text, OUT code text, OUT message text)
LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE stmt;
    code := '00000';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
END
$f$;

-- this file owns the whole world: start from an empty one
SELECT count(*) AS entities_before FROM ws.entities \gset
SELECT ws.register_module('snap', 1);
SELECT ws.define_kind('snap_item', 'snap', 'lww', ARRAY['qty']);
SELECT count(*) FROM (
    SELECT ws.create_entity('s' || i, 'snap_item', 'snap', jsonb_build_object('qty', i, 'tag', NULL))
    FROM generate_series(1, 5) i) c;
SELECT count(*) FROM (
    SELECT ws.transition('s' || (i % 5 + 1), jsonb_build_object('qty', 1, 'note', 'n' || i))
    FROM generate_series(1, 12) i) t;
SELECT from_id, to_id FROM ws.link('s1', 'next', 's2', '{"w": 1}');
SELECT retired FROM ws.retire_entity('s5');

-- a consistent world verifies clean
SELECT * FROM ws.verify();

-- a snapshot: every entity and relationship, a checksum, the format version
SELECT ws.create_snapshot('first') AS snap1 \gset
SELECT label, entity_count = (SELECT count(*) FROM ws.entities) AS all_entities,
       length(checksum) AS checksum_length, format_version,
       hlc < ws.hlc_now() AS hlc_in_the_past
FROM ws.snapshots WHERE id = :snap1;
SELECT count(*) AS rows_differ FROM (
    SELECT entity_id, state, version, retired FROM ws.entities
    EXCEPT SELECT entity_id, state, version, retired FROM ws.snapshot_entities WHERE snapshot_id = :snap1) d;
SELECT from_id, rel, to_id, props FROM ws.snapshot_relationships WHERE snapshot_id = :snap1;
SELECT ws.state_hash() AS hash_at_snapshot \gset

-- more changes after the snapshot
SELECT count(*) FROM (
    SELECT ws.transition('s' || (i % 4 + 1), jsonb_build_object('qty', 2)) FROM generate_series(1, 8) i) t;
SELECT version FROM ws.create_entity('s6', 'snap_item', 'snap', '{"qty": 6}');
SELECT from_id FROM ws.unlink('s1', 'next', 's2');
SELECT from_id FROM ws.link('s6', 'next', 's1');
SELECT ws.state_hash() AS hash_now \gset
SELECT :'hash_now' <> :'hash_at_snapshot' AS hash_moved, length(:'hash_now') AS hash_length;

-- wipe the current state, restore from the snapshot: later events replayed
DELETE FROM ws.relationships;
DELETE FROM ws.entities;
SELECT ws.restore_snapshot(:snap1) AS replayed;
SELECT ws.state_hash() = :'hash_now' AS same_world_after_restore;
SELECT from_id, rel, to_id, props FROM ws.relationships ORDER BY 1;
SELECT count(*) AS problems FROM ws.verify();

-- the same from the whole log, without a snapshot
DELETE FROM ws.relationships;
DELETE FROM ws.entities;
SELECT ws.restore_snapshot(NULL) = (SELECT count(*) FROM ws.events) AS replayed_all;
SELECT ws.state_hash() = :'hash_now' AS same_world_after_full_replay;

-- a damaged snapshot is refused, naming the way out
UPDATE ws.snapshot_entities SET state = '{"qty": 999}' WHERE snapshot_id = :snap1 AND entity_id = 's1';
SELECT * FROM pg_temp.try(format('SELECT ws.restore_snapshot(%s)', :snap1));
SELECT ws.state_hash() = :'hash_now' AS world_untouched;
SELECT * FROM pg_temp.try('SELECT ws.restore_snapshot(987654321)');

-- verify names an entity whose state was corrupted by hand
UPDATE ws.entities SET state = '{"qty": -1}' WHERE entity_id = 's3';
UPDATE ws.entities SET version = 99 WHERE entity_id = 's4';
SELECT * FROM ws.verify() ORDER BY 1, 2;
SELECT ws.restore_snapshot(NULL) > 0 AS repaired;
SELECT count(*) AS problems FROM ws.verify();

-- archival: only what a kept snapshot covers, keeping the last keyframes
SELECT code, regexp_replace(message, '\d{4}-\S+', '<hlc>') AS message
FROM pg_temp.try('SELECT ws.archive_events(ws.hlc_now())');
SELECT ws.create_snapshot('second') AS snap2 \gset
SELECT hlc AS snap2_hlc FROM ws.snapshots WHERE id = :snap2 \gset
SELECT count(*) AS events_before_archive FROM ws.events \gset
SELECT ws.archive_events(:'snap2_hlc') AS moved \gset
SELECT :moved > 0 AS some_moved,
       (SELECT count(*) FROM ws.events) + :moved = :events_before_archive AS none_lost,
       (SELECT count(*) FROM ws.events_archive) = :moved AS all_in_archive;
-- every entity keeps the event of a keyframe in ws.events, and the world
-- still verifies
SELECT count(*) AS entities_without_keyframe FROM ws.entities e
WHERE NOT EXISTS (SELECT FROM ws.events v JOIN ws.keyframes k USING (entity_id, hlc)
                  WHERE v.entity_id = e.entity_id);
SELECT count(*) AS problems FROM ws.verify();
-- the archive is append-only too
SELECT * FROM pg_temp.try('DELETE FROM ws.events_archive');
SELECT * FROM pg_temp.try('TRUNCATE ws.events_archive');
-- a full replay needs the log from its start
SELECT * FROM pg_temp.try('SELECT ws.restore_snapshot(NULL)');
-- a restore from the kept snapshot still works
SELECT ws.restore_snapshot(:snap2) >= 0 AS restored;
SELECT ws.state_hash() = :'hash_now' AS same_world;

-- the snapshot messages reach the broadcast stream
SELECT 'init' FROM pg_create_logical_replication_slot('snap_slot', 'test_decoding');
SELECT ws.create_snapshot('third') IS NOT NULL AS taken;
SELECT (regexp_match(data, 'content:WS1:[0-9a-f]{64}:([a-z_]+)'))[1] AS kind
FROM pg_logical_slot_get_changes('snap_slot', NULL, NULL)
WHERE data LIKE 'message: transactional: 1 prefix: worldstate%';
SELECT pg_drop_replication_slot('snap_slot');
RESET worldstate.keyframe_interval;
