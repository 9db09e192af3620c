-- ws.entities_at(h) starts from the nearest snapshot at or before h: the
-- snapshot's rows, with the events between the snapshot and h folded on.
-- The answer must be the one rebuilt from the keyframes without any
-- snapshot, for moments before, at and after snapshots, with entities
-- created, changed and retired in between, and after archival.
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';
SET worldstate.keyframe_interval = 4;

SELECT ws.register_module('qsnap', 1);
SELECT ws.define_kind('qs_item', 'qsnap', 'lww', ARRAY['n']);

-- the moments asked about: after every step, and each snapshot's HLC
CREATE TABLE qs_moments (h ws.hlc);
CREATE FUNCTION qs_mark() RETURNS void LANGUAGE sql
AS $$ INSERT INTO qs_moments VALUES (ws.hlc_now()) $$;

SELECT qs_mark();
SELECT count(ws.create_entity('qs' || i, 'qs_item', 'qsnap', jsonb_build_object('n', i, 'tag', 'a')))
FROM generate_series(1, 20) i;
SELECT qs_mark();
SELECT count(ws.transition('qs' || (i % 20 + 1), jsonb_build_object('n', i, 'step', i % 3)))
FROM generate_series(1, 60) i;
SELECT qs_mark();
SELECT ws.create_snapshot('qs1') > 0 AS snapshot_1;
-- between the snapshots: changes, a retirement, a creation, a keyframe
SELECT count(ws.transition('qs' || i, jsonb_build_object('n', -i, 'tag', NULL)))
FROM generate_series(1, 5) i;
SELECT qs_mark();
SELECT version FROM ws.retire_entity('qs6');
SELECT version FROM ws.create_entity('qs_new', 'qs_item', 'qsnap', '{"n": 100}');
SELECT qs_mark();
SELECT count(ws.transition('qs_new', jsonb_build_object('n', 100 + i))) FROM generate_series(1, 6) i;
SELECT count(ws.transition('qs7', jsonb_build_object('deep', jsonb_build_object('k', i)))) FROM generate_series(1, 5) i;
SELECT qs_mark();
SELECT ws.create_snapshot('qs2') > 0 AS snapshot_2;
SELECT version FROM ws.retire_entity('qs_new');
SELECT version FROM ws.create_entity('qs_late', 'qs_item', 'qsnap', '{"n": 200}');
SELECT count(ws.transition('qs' || i, '{"n": 0}')) FROM generate_series(1, 20) i WHERE i NOT IN (6);
SELECT qs_mark();
INSERT INTO qs_moments SELECT hlc FROM ws.snapshots WHERE label IN ('qs1', 'qs2');
-- and every event's HLC
INSERT INTO qs_moments SELECT hlc FROM ws.events WHERE module = 'qsnap';

-- the world at every moment (vclocks as text, to compare rows)
CREATE FUNCTION qs_worlds() RETURNS TABLE (h ws.hlc, entity_id text, kind text, state jsonb,
    version bigint, hlc ws.hlc, vclock text, created_hlc ws.hlc, retired boolean)
LANGUAGE sql AS $$
    SELECT m.h, w.entity_id, w.kind, w.state, w.version, w.hlc, w.vclock::text, w.created_hlc, w.retired
    FROM (SELECT DISTINCT h FROM qs_moments) m, LATERAL ws.entities_at(m.h) w
    WHERE w.module = 'qsnap'
$$;
-- with the snapshots
CREATE TABLE qs_with AS SELECT * FROM qs_worlds();
-- the rows of the worlds now that differ from those, either way
CREATE FUNCTION qs_differences() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM (
        (SELECT * FROM qs_with EXCEPT ALL SELECT * FROM qs_worlds())
        UNION ALL
        (SELECT * FROM qs_worlds() EXCEPT ALL SELECT * FROM qs_with)) d
$$;

-- entities_at just after a snapshot reads the snapshot's rows and reads
-- the log only for the entities with events since it
CREATE FUNCTION qs_scans(rel regclass) RETURNS bigint LANGUAGE sql
AS $$ SELECT pg_stat_get_xact_numscans(rel) $$;
SELECT hlc AS at_qs2 FROM ws.snapshots WHERE label = 'qs2' \gset
SELECT hlc AS at_late FROM ws.events WHERE entity_id = 'qs_late' \gset
SELECT hlc AS at_qs1_v5 FROM ws.events WHERE entity_id = 'qs1' AND version = 5 \gset
SELECT min(h) AS at_first FROM qs_moments \gset
BEGIN;
SELECT qs_scans('ws.snapshot_entities_pkey') AS snap0, qs_scans('ws.events_entity_hlc_idx') AS log0 \gset
SELECT count(*) AS entities FROM ws.entities_at(:'at_qs2') WHERE module = 'qsnap';
SELECT qs_scans('ws.snapshot_entities_pkey') - :snap0 > 0 AS read_the_snapshot,
       qs_scans('ws.events_entity_hlc_idx') - :log0 AS log_scans;
-- after it, when qs_new was retired and qs_late created: only they have
-- events since the snapshot, and neither changed later
SELECT qs_scans('ws.snapshot_entities_pkey') AS snap0, qs_scans('ws.events_entity_hlc_idx') AS log0 \gset
SELECT count(*) AS entities FROM ws.entities_at(:'at_late') WHERE module = 'qsnap';
SELECT qs_scans('ws.snapshot_entities_pkey') - :snap0 > 0 AS read_the_snapshot,
       qs_scans('ws.events_entity_hlc_idx') - :log0 AS log_scans;
-- just after the first snapshot, at the first change since: qs1 alone is
-- folded onto its snapshot row, from the event that the range scan over
-- the span found (kept: no other read of the log)
SELECT qs_scans('ws.events_entity_hlc_idx') AS log0 \gset
SELECT count(*) AS entities FROM ws.entities_at(:'at_qs1_v5') WHERE module = 'qsnap';
SELECT qs_scans('ws.events_entity_hlc_idx') - :log0 AS log_scans;
-- before the first change: none of these entities
SELECT count(*) AS entities FROM ws.entities_at(:'at_first') WHERE module = 'qsnap';
COMMIT;

-- the same worlds without the snapshots: identical, row for row
BEGIN;
DELETE FROM ws.snapshots WHERE label IN ('qs1', 'qs2');
SELECT count(*) AS moments, count(*) FILTER (WHERE n > 0) AS nonempty FROM (
    SELECT m.h, (SELECT count(*) FROM ws.entities_at(m.h) w WHERE w.module = 'qsnap') AS n
    FROM (SELECT DISTINCT h FROM qs_moments) m) s;
SELECT qs_differences() AS differences;
ROLLBACK;

-- a snapshot row that does not match its entity (here: another creation
-- HLC) is not used for it; a snapshot not complete (no checksum) is not used
BEGIN;
UPDATE ws.snapshot_entities SET created_hlc = ws.hlc_now(), state = '{"n": "wrong"}'
WHERE entity_id = 'qs3' AND snapshot_id = (SELECT id FROM ws.snapshots WHERE label = 'qs2');
UPDATE ws.snapshots SET checksum = NULL WHERE label = 'qs1';
UPDATE ws.snapshot_entities SET state = '{"n": "wrong"}'
WHERE snapshot_id = (SELECT id FROM ws.snapshots WHERE label = 'qs1');
SELECT qs_differences() AS differences;
ROLLBACK;

-- row-level security on ws.snapshot_entities: the snapshot is not read,
-- the answer is the same
BEGIN;
ALTER TABLE ws.snapshot_entities ENABLE ROW LEVEL SECURITY;
CREATE ROLE qs_reader;
GRANT ws_reader TO qs_reader;
GRANT SELECT ON qs_with, qs_moments TO qs_reader;
SET LOCAL ROLE qs_reader;
SELECT qs_scans('ws.snapshot_entities_pkey') AS snap0 \gset
SELECT qs_differences() AS differences;
SELECT qs_scans('ws.snapshot_entities_pkey') - :snap0 AS snapshot_scans_under_rls;
RESET ROLE;
ROLLBACK;

-- after archival up to the first snapshot: the same worlds, archived
-- events and all
SELECT ws.archive_events((SELECT hlc FROM ws.snapshots WHERE label = 'qs1')) > 0 AS events_archived;
SELECT qs_differences() AS differences;

-- an entity whose present row is the answer goes into the result as the
-- row stored, when the table's rows are rows of the result: with a column
-- added to ws.entities, that the result leaves NULL, or rows stored before
-- a column was dropped, rows are formed from their values -- the same
-- rows either way
BEGIN;
ALTER TABLE ws.entities ADD COLUMN qs_extra int DEFAULT 7;
SELECT version FROM ws.transition('qs2', '{"n": 2}');
UPDATE ws.entities SET qs_extra = 8 WHERE entity_id IN ('qs4', 'qs5');
SELECT count(*) AS stored_extra FROM ws.entities WHERE module = 'qsnap' AND qs_extra IS NOT NULL;
SELECT count(*) AS entities, count(qs_extra) AS extra_filled
FROM ws.entities_at(NULL::ws.hlc) WHERE module = 'qsnap';
SELECT count(*) AS entities_now, count(qs_extra) AS extra_filled_now
FROM ws.entities_at(ws.hlc_now()) WHERE module = 'qsnap';
ALTER TABLE ws.entities DROP COLUMN qs_extra;
SELECT version FROM ws.transition('qs3', '{"n": 3}');
SELECT count(*) AS entities,
       count(*) FILTER (WHERE (w.*)::text = (SELECT (e.*)::text FROM ws.entities e
                                              WHERE e.entity_id = w.entity_id)) AS as_stored
FROM ws.entities_at(ws.hlc_now()) w WHERE module = 'qsnap';
SELECT qs_differences() AS differences;
ROLLBACK;

-- a snapshot row taken as it is goes into the result as its stored bytes
-- without the leading snapshot_id, when ws.snapshot_entities stores the
-- columns of ws.entities after it; otherwise it is formed from its values
BEGIN;
ALTER TABLE ws.snapshot_entities ADD COLUMN qs_note text DEFAULT 'note';
SELECT qs_differences() AS differences;
ALTER TABLE ws.snapshot_entities DROP COLUMN qs_note;
SELECT qs_differences() AS differences;
ROLLBACK;

-- the events of the span are kept from the range scan that finds them
-- while they fit in work_mem; beyond it each entity is folded from its
-- events read again through (entity_id, hlc): the same world either way
-- (each comparison reads the world twice)
BEGIN;
SELECT version FROM ws.transition('qs8', jsonb_build_object('big', repeat('x', 100000)));
SELECT ws.hlc_now() AS at_big \gset
SELECT version FROM ws.transition('qs8', '{"big": null}');
CREATE TEMP TABLE qs_big AS
SELECT entity_id, state, version FROM ws.entities_at(:'at_big') WHERE module = 'qsnap';
SELECT count(*) AS entities, max(octet_length(state->>'big')) AS big FROM qs_big;
-- the rows of the world at `at` that differ from those, either way
CREATE FUNCTION qs_big_differences(at ws.hlc) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM (
        (SELECT entity_id, state, version FROM ws.entities_at(at) WHERE module = 'qsnap'
         EXCEPT ALL SELECT * FROM qs_big)
        UNION ALL
        (SELECT * FROM qs_big
         EXCEPT ALL SELECT entity_id, state, version FROM ws.entities_at(at) WHERE module = 'qsnap')) d
$$;
SELECT qs_scans('ws.events_entity_hlc_idx') AS log0 \gset
SELECT qs_big_differences(:'at_big') AS differences;
SELECT qs_scans('ws.events_entity_hlc_idx') - :log0 AS log_scans_kept;
SET LOCAL work_mem = '64kB';
SELECT qs_scans('ws.events_entity_hlc_idx') AS log0 \gset
SELECT qs_big_differences(:'at_big') AS differences;
SELECT qs_scans('ws.events_entity_hlc_idx') - :log0 AS log_scans_read_again;
RESET work_mem;
-- and without the snapshots
DELETE FROM ws.snapshots WHERE label IN ('qs1', 'qs2');
SELECT qs_big_differences(:'at_big') AS differences;
ROLLBACK;
