-- ws.reconcile() folds every entity again from its events and repairs
-- what differs from that fold: the row in ws.entities (state, version,
-- retired, a row missing), the keyframes (one missing, changed or extra);
-- it reports each entity it repaired with what differed, writes nothing
-- for entities already right, and a second call reports nothing.  Archived
-- events are part of the history it folds.  The damage is done by hand, as
-- a superuser.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
SET worldstate.keyframe_interval = 3;

SELECT ws.register_module('rc', 1);
SELECT ws.define_kind('rc_item', 'rc', 'lww');
SELECT ws.define_kind('rc_tally', 'rc', 'merge', ARRAY['n']);
SELECT count(ws.create_entity('rc' || i, CASE WHEN i % 2 = 0 THEN 'rc_tally' ELSE 'rc_item' END,
                              'rc', jsonb_build_object('n', i)))
FROM generate_series(1, 8) i;
SELECT count(ws.transition('rc' || i, jsonb_build_object('n', 1, 'step', s)))
FROM generate_series(1, 8) i, generate_series(1, 4) s;
SELECT version FROM ws.retire_entity('rc7');

-- a world that is right: nothing reported, nothing written
CREATE TEMP TABLE before_rows AS
SELECT 'entity' AS t, entity_id, xmin::text AS x FROM ws.entities WHERE entity_id LIKE 'rc%'
UNION ALL SELECT 'keyframe', entity_id, xmin::text FROM ws.keyframes WHERE entity_id LIKE 'rc%';
SELECT ws.state_hash() AS hash \gset
SELECT * FROM ws.reconcile() WHERE entity_id LIKE 'rc%';
SELECT count(*) AS rows_written FROM (
    SELECT 'entity' AS t, entity_id, xmin::text AS x FROM ws.entities WHERE entity_id LIKE 'rc%'
    UNION ALL SELECT 'keyframe', entity_id, xmin::text FROM ws.keyframes WHERE entity_id LIKE 'rc%'
    EXCEPT SELECT * FROM before_rows) w;

-- damage: a state, a version, a retired flag, a whole row, a keyframe
-- missing, a keyframe changed, a keyframe where the fold has none
UPDATE ws.entities SET state = '{"n": -1}' WHERE entity_id = 'rc1';
UPDATE ws.entities SET version = 99 WHERE entity_id = 'rc2';
UPDATE ws.entities SET retired = NOT retired WHERE entity_id IN ('rc3', 'rc7');
DELETE FROM ws.entities WHERE entity_id = 'rc4';
DELETE FROM ws.keyframes WHERE entity_id = 'rc5' AND version = 3;
UPDATE ws.keyframes SET state = '{"n": 0}' WHERE entity_id = 'rc6' AND version = 3;
INSERT INTO ws.keyframes (entity_id, hlc, version, state, vclock, retired)
SELECT entity_id, hlc, version, '{}', vclock, false FROM ws.events WHERE entity_id = 'rc8' AND version = 2;
SELECT ws.state_hash() = :'hash' AS same_world;
SELECT entity_id, problem FROM ws.verify() WHERE entity_id LIKE 'rc%' ORDER BY 1, 2;

-- each is reported once and repaired (HLCs shown as <hlc>)
SELECT entity_id, regexp_replace(change, '\S+Z/\d+@\d+', '<hlc>', 'g') AS change
FROM ws.reconcile() WHERE entity_id LIKE 'rc%' ORDER BY 1;
SELECT ws.state_hash() = :'hash' AS same_world;
SELECT count(*) AS problems FROM ws.verify() WHERE entity_id LIKE 'rc%';
SELECT entity_id, version, retired, state FROM ws.entities WHERE entity_id LIKE 'rc%' ORDER BY 1;
-- a second call has nothing to repair
SELECT * FROM ws.reconcile() WHERE entity_id LIKE 'rc%';

-- a row without any event cannot be folded: reported, left as it is
INSERT INTO ws.entities (entity_id, kind, module, state, version, hlc, vclock, created_hlc, retired)
VALUES ('rc_orphan', 'rc_item', 'rc', '{}', 1, ws.hlc_now(), '{}', ws.hlc_now(), false);
SELECT * FROM ws.reconcile() WHERE entity_id LIKE 'rc%';
SELECT * FROM ws.reconcile() WHERE entity_id LIKE 'rc%';
DELETE FROM ws.entities WHERE entity_id = 'rc_orphan';

-- archived events are folded too: an entity whose early events are in
-- ws.events_archive is repaired to the fold of all of them
BEGIN;
SELECT ws.hlc_now() AS mid \gset
SELECT count(ws.transition('rc' || i, jsonb_build_object('n', 1, 'late', true)))
FROM generate_series(1, 2) i;
SELECT ws.create_snapshot('reconcile') > 0 AS snapshot_taken;
SELECT ws.archive_events(:'mid') > 0 AS events_archived;
SELECT entity_id, count(*) AS archived FROM ws.events_archive
WHERE entity_id IN ('rc1', 'rc2') GROUP BY 1 ORDER BY 1;
SELECT ws.state_hash() AS archived_hash \gset
SELECT * FROM ws.reconcile() WHERE entity_id LIKE 'rc%';
UPDATE ws.entities SET state = '{"n": 0}', version = 3 WHERE entity_id IN ('rc1', 'rc2');
SELECT * FROM ws.reconcile() WHERE entity_id LIKE 'rc%' ORDER BY 1;
SELECT ws.state_hash() = :'archived_hash' AS same_world;
SELECT * FROM ws.reconcile() WHERE entity_id LIKE 'rc%';
ROLLBACK;

-- a ws_admin may call it
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_rc_admin;
RESET client_min_messages;
CREATE ROLE regress_rc_admin IN ROLE ws_admin;
UPDATE ws.entities SET state = '{"n": -1}' WHERE entity_id = 'rc1';
SET ROLE regress_rc_admin;
SELECT * FROM ws.reconcile() WHERE entity_id LIKE 'rc%';
RESET ROLE;
DROP ROLE regress_rc_admin;
SELECT ws.state_hash() = :'hash' AS same_world;
