-- The stable past on a standalone node (src/stable.c): ws.stable_hlc() is
-- the node's safe horizon, held back by a transaction with events in
-- flight; ws.archive_events refuses a boundary above it; time travel and
-- snapshots never say they are tentative; a peer's horizon event, as the
-- apply worker inserts it, moves ws.nodes.horizon forward only, and a
-- malformed one becomes a conflict, not an error.  Several nodes:
-- test/t/065_stable.pl.
\set VERBOSITY terse
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';
SELECT ws.register_module('stab', 1);
SELECT ws.define_kind('stab_thing', 'stab');
SELECT version FROM ws.create_entity('st1', 'stab_thing', 'stab', '{"n": 1}');

-- standalone: the stable HLC is the safe horizon, which the clock moves
SELECT ws.hlc_now() AS before_now \gset
SELECT ws.stable_hlc() >= :'before_now'::ws.hlc AS stable_at_least_clock,
       ws.stable_hlc() < ws.hlc_now() AS stable_below_later_clock;
SELECT hlc AS st1_hlc FROM ws.entities WHERE entity_id = 'st1' \gset
SELECT ws.stable_hlc() >= :'st1_hlc'::ws.hlc AS committed_event_is_stable;

-- a snapshot, then a transaction with an event in flight (prepared, so
-- it outlives this session's statements) holds the stable HLC back,
-- below its event
SELECT ws.create_snapshot('stable_hlc') > 0 AS snapshot_taken;
SELECT hlc AS snap_hlc FROM ws.snapshots WHERE label = 'stable_hlc' \gset
BEGIN;
SELECT version FROM ws.transition('st1', '{"n": 2}');
PREPARE TRANSACTION 'stable_hlc_held';
SELECT ws.stable_hlc() AS held \gset
SELECT ws.hlc_now() > :'held'::ws.hlc AS clock_moves_on, ws.stable_hlc() = :'held'::ws.hlc AS stable_held;
SELECT :'snap_hlc'::ws.hlc <= :'held'::ws.hlc AS snapshot_is_stable;
-- archival up to now would pass the event in flight: refused
\set VERBOSITY sqlstate
SELECT ws.archive_events(ws.hlc_now());
\set VERBOSITY terse
-- up to the snapshot, at or below the stable HLC, it goes ahead
SELECT ws.archive_events(:'snap_hlc') >= 0 AS archived_up_to_snapshot;
COMMIT PREPARED 'stable_hlc_held';
SELECT ws.stable_hlc() > :'held'::ws.hlc AS stable_moves_after_commit,
       ws.stable_hlc() >= (SELECT hlc FROM ws.entities WHERE entity_id = 'st1') AS event_now_stable;

-- bad boundaries
SELECT ws.archive_events(NULL);
SELECT ws.archive_events(ws.hlc('9999-12-31 23:59:59+00'::timestamptz));

-- nothing is tentative on a standalone node, however far in the future
SELECT ws.get_state('st1', ws.hlc('9999-12-31 23:59:59+00'::timestamptz)) AS state_far_ahead;
SELECT count(*) AS st1_far_ahead FROM ws.entities_at(ws.hlc('9999-12-31 23:59:59+00'::timestamptz)) WHERE entity_id = 'st1';
SELECT length(ws.state_hash('9999-12-31 23:59:59+00'::timestamptz)) AS hash_far_ahead;
SELECT ws.create_snapshot('stable_hlc_2') > 0 AS snapshot_without_notice;
-- and no horizon is published: the node has no peers
SELECT ws._publish_horizon() IS NULL AS no_horizon_published;
SELECT count(*) AS horizon_events FROM ws.events WHERE module = 'ws' AND event_type = 'horizon';

-- ws.peer_status: no peers, no rows; readers may see it, not its parts
SELECT count(*) AS peers FROM ws.peer_status;
SELECT ws._peer_clock_skew(NULL) IS NULL AS skew_null, ws._peer_clock_skew(987654) IS NULL AS skew_unknown;
SET ROLE ws_reader;
SELECT count(*) AS peers_as_reader FROM ws.peer_status;
SELECT ws.stable_hlc() IS NOT NULL AS reader_stable;
SELECT ws._peer_clock_skew(1);
SELECT ws._publish_horizon();
RESET ROLE;

-- a peer's horizon events as the apply worker inserts them: recorded in
-- its ws.nodes row, forward only; a malformed one is a conflict
BEGIN;
INSERT INTO ws.nodes (node_id, name, conninfo, subscription, slot)
VALUES (7, 'seven', 'host=nowhere', 'ws_peer_seven', 'ws_node_7_to_0');
-- the patch of a horizon at 2026-01-01 00:00:00 plus s seconds
CREATE FUNCTION pg_temp.at(s int, c int DEFAULT 0) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('horizon', ws.hlc('2026-01-01 00:00:00+00'::timestamptz + s * interval '1 second', c, 7)::text)
$$;
CREATE FUNCTION pg_temp.horizon_event(n int, patch jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO ws.events (event_id, hlc, origin_node, module, event_type, patch, handshake)
    VALUES (md5('stable_hlc' || n)::uuid, ws.hlc('2026-01-01 00:00:00+00'::timestamptz, n, 7),
            7, 'ws', 'horizon', patch, '')
$$;
SET LOCAL session_replication_role = replica;
SELECT pg_temp.horizon_event(1, pg_temp.at(5));
SELECT horizon FROM ws.nodes WHERE node_id = 7;
SELECT pg_temp.horizon_event(2, pg_temp.at(9, 3));
SELECT horizon FROM ws.nodes WHERE node_id = 7;
-- an older horizon (a re-ordered delivery cannot happen, a forged one can)
SELECT pg_temp.horizon_event(3, pg_temp.at(1));
SELECT horizon FROM ws.nodes WHERE node_id = 7;
SELECT pg_temp.horizon_event(4, '{"horizon": "not an hlc"}');
SELECT pg_temp.horizon_event(5, '[1, 2]');
SELECT pg_temp.horizon_event(6, '{"horizon": 17}');
SELECT horizon FROM ws.nodes WHERE node_id = 7;
SELECT c.type, c.status, c.resolution, e.patch FROM ws.conflicts c
JOIN ws.events e ON e.event_id = c.event_ids[1]
WHERE e.origin_node = 7 ORDER BY e.hlc;
-- horizon events never move the clock (a peer's clock far ahead included)
INSERT INTO ws.events (event_id, hlc, origin_node, module, event_type, patch, handshake)
VALUES (md5('stable_hlc7')::uuid, ws.hlc(now() + interval '1 day', 0, 7), 7, 'ws', 'horizon',
        pg_temp.at(10), '');
SELECT ws.hlc_wall(ws.hlc_now()) < now() + interval '1 hour' AS clock_not_moved;
SELECT horizon FROM ws.nodes WHERE node_id = 7;
SELECT ws._peer_clock_skew(7) > 86000000000 AS skew_of_node_7_seen;
-- an update of node 7 whose creation has not arrived is held, counted for it
INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind, event_type,
                       patch, handshake, vclock)
VALUES (md5('stable_hlc8')::uuid, 'st_late', 2, ws.hlc('2026-01-01 00:00:20+00'::timestamptz, 0, 7), 7,
        'stab', 'stab_thing', 'update', '{"n": 3}', '55-45-17', '{7:2}');
SELECT reason, origin_node FROM ws.pending WHERE entity_id = 'st_late';
-- its events are counted for it in ws.peer_status
SELECT name, node_id, enabled, running, horizon, max_clock_skew_us > 0 AS skewed, pending,
       open_conflicts, synchronous, wal_retained_bytes
FROM ws.peer_status;
ROLLBACK;
