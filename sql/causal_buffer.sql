-- Causal buffering (src/converge.c): a peer's event whose causal past is
-- not all here waits in ws.pending, outside ws.events, and is applied in
-- causal order as soon as its prerequisites arrive; an HLC too far ahead
-- of the local clock waits until the clock catches up.  Events are
-- fabricated as a peer's apply worker inserts them (a replica session).
\set VERBOSITY terse
SELECT ws.register_module('cb', 1);
SELECT ws.define_kind('cb_note', 'cb', 'merge');
CREATE ROLE cb_writer LOGIN;
GRANT ws_writer TO cb_writer;
SELECT ws.grant_module('cb', 'cb_writer');

-- an event as node `origin` would have sent it, `wall` seconds into 2026;
-- its id is derived from the name given, in a space of this test's own
CREATE FUNCTION pg_temp.arrive(id text, entity text, type text, origin int, wall numeric,
                               vc text, patch jsonb DEFAULT '{}', deps text[] DEFAULT NULL,
                               at timestamptz DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind,
                           event_type, patch, handshake, vclock, causal_deps, txid, recorded_at)
    VALUES (md5('cb:' || id)::uuid, entity, 1,
            ws.hlc(COALESCE(at, '2026-01-01 00:00:00+00'::timestamptz + wall * interval '1 second'), 0, origin),
            origin, 'cb', 'cb_note', type, patch, '55-45-17', vc::ws.vclock,
            (SELECT array_agg(md5('cb:' || d)::uuid) FROM unnest(deps) d), pg_current_xact_id(), now())
$$;
-- what waits, by the names the test gave the events
CREATE FUNCTION pg_temp.name_of(u uuid) RETURNS text LANGUAGE sql AS $$
    SELECT n FROM unnest('{c1,u2,u3,b1,b2,b3,d1,x1,h1,h2,s1}'::text[]) n WHERE md5('cb:' || n)::uuid = u
$$;
CREATE VIEW held AS
    SELECT pg_temp.name_of(event_id) AS event, entity_id, origin_node, reason,
           CASE WHEN waits_for LIKE 'event:%'
                THEN 'event:<' || pg_temp.name_of(substr(waits_for, 7)::uuid) || '>'
                ELSE waits_for END AS waits_for,
           (held).event_type AS held_type
    FROM ws.pending WHERE entity_id LIKE 'cb\_%' ORDER BY (held).hlc;
CREATE TEMP TABLE stats0 AS SELECT * FROM ws.stats();
CREATE VIEW moved AS
    SELECT s.name, s.value - s0.value AS moved FROM ws.stats() s JOIN stats0 s0 USING (name)
    WHERE s.name IN ('remote_events_applied', 'events_buffered', 'events_released',
                     'causal_expired', 'clock_skew_parked', 'conflicts_causal_timeout')
    ORDER BY s.name;

SET session_replication_role = replica;

-- node 2's two updates arrive before node 1's creation they build on:
-- both are held, none is in ws.events (so none reaches ws.poll,
-- ws.history or the output plugin before its past)
SELECT pg_temp.arrive('u3', 'cb_a', 'update', 2, 3, '{1:1,2:2}', '{"c": 3}');
SELECT pg_temp.arrive('u2', 'cb_a', 'update', 2, 2, '{1:1,2:1}', '{"b": 2}');
SELECT pg_temp.arrive('u2', 'cb_a', 'update', 2, 2, '{1:1,2:1}', '{"b": 2}');
SELECT * FROM held;
SELECT count(*) AS in_log FROM ws.events WHERE entity_id = 'cb_a';
SELECT count(*) AS entity_rows FROM ws.entities WHERE entity_id = 'cb_a';
-- the creation arrives: both follow it, in causal order (arrival order)
SELECT pg_temp.arrive('c1', 'cb_a', 'created', 1, 1, '{1:1}', '{"a": 1}');
SELECT pg_temp.name_of(event_id) AS event, vclock FROM ws.events
WHERE entity_id = 'cb_a' ORDER BY arrival;
SELECT state, version FROM ws.entities WHERE entity_id = 'cb_a';
SELECT count(*) AS held FROM held;

-- the prerequisite comes from a third origin: node 3's update saw node 2's
SELECT pg_temp.arrive('b1', 'cb_b', 'created', 1, 10, '{1:1}', '{"n": 1}');
SELECT pg_temp.arrive('b3', 'cb_b', 'update', 3, 12, '{1:1,2:1,3:1}', '{"n": 3}');
SELECT * FROM held;
SELECT pg_temp.arrive('b2', 'cb_b', 'update', 2, 11, '{1:1,2:1}', '{"n": 2}');
SELECT pg_temp.name_of(event_id) AS event FROM ws.events WHERE entity_id = 'cb_b' ORDER BY arrival;
SELECT state FROM ws.entities WHERE entity_id = 'cb_b';

-- an explicit causal dependency on an event of another entity
SELECT pg_temp.arrive('d1', 'cb_d', 'created', 2, 21, '{2:1}', '{"d": 1}', '{x1}');
SELECT * FROM held;
SELECT pg_temp.arrive('x1', 'cb_x', 'created', 3, 20, '{3:1}', '{"x": 1}');
SELECT pg_temp.name_of(event_id) AS event FROM ws.events
WHERE entity_id IN ('cb_d', 'cb_x') ORDER BY arrival;
SELECT count(*) AS held FROM held;

-- an update whose creation is missing waits; a local causal write that
-- depends on it is refused with WS425, saying that it is buffered
SELECT pg_temp.arrive('h2', 'cb_h', 'update', 2, 31, '{2:2}', '{"h": 2}');
SELECT * FROM held;
RESET session_replication_role;
SET ROLE cb_writer;
SET worldstate.handshake = '55-45-17';
SELECT entity_id, version FROM ws.create_entity('cb_local', 'cb_note', 'cb', '{}');
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT ws.transition('cb_local', '{"l": 1}', causal_deps => ARRAY[md5('cb:h2')::uuid],
                     consistency => 'causal');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
RESET ROLE;

-- after worldstate.causal_timeout (60 s by default; here its start is set
-- back instead of waiting) the event is reported once: a WARNING, a
-- counter, an open conflict; it stays held
UPDATE ws.pending SET since = since - interval '2 minutes' WHERE event_id = md5('cb:h2')::uuid;
SELECT ws.retry_pending();
SELECT ws.retry_pending();
SELECT type, status, resolution, detail, pg_temp.name_of(event_ids[1]) AS event
FROM ws.conflicts WHERE entity_id LIKE 'cb\_%';
SELECT event, reason FROM held;
-- a causal_timeout conflict is not resolved by hand
SELECT ws.resolve_conflict((SELECT conflict_id FROM ws.conflicts WHERE type = 'causal_timeout'
                            AND entity_id = 'cb_h'), '{}');
-- its prerequisite comes late: it is still applied, and the conflict closes
SET session_replication_role = replica;
SELECT pg_temp.arrive('h1', 'cb_h', 'created', 2, 30, '{2:1}', '{"h": 1}');
SELECT state, version FROM ws.entities WHERE entity_id = 'cb_h';
SELECT type, status, resolution FROM ws.conflicts WHERE entity_id LIKE 'cb\_%';
SELECT count(*) AS held FROM held;

-- a remote HLC beyond worldstate.max_clock_skew waits (reason clock_skew)
-- and leaves the node clock alone; it is released once the local clock
-- (here moved by the test-only worldstate.clock_offset) is within the skew
SET worldstate.max_clock_skew = '200ms';
SELECT pg_temp.arrive('s1', 'cb_s', 'created', 2, 0, '{2:1}', '{"s": 1}',
                      at => clock_timestamp() + interval '1 s');
SELECT event, reason, waits_for, held_type FROM held;
SELECT ws.hlc_wall(ws.hlc_now()) < clock_timestamp() + interval '500 ms' AS clock_untouched;
SELECT ws.retry_pending() AS released;
SET worldstate.clock_offset = '1500ms';
SELECT ws.retry_pending() AS released;
RESET worldstate.clock_offset;
RESET worldstate.max_clock_skew;
SELECT state FROM ws.entities WHERE entity_id = 'cb_s';
SELECT count(*) AS held FROM held;

-- a long chain is drained in a loop: 2000 updates of node 2 wait for the
-- creation of node 1, then follow it in order
SELECT count(*) FROM (
    SELECT pg_temp.arrive('k' || i, 'cb_k', 'update', 2, 100 + i,
                          format('{1:1,2:%s}', i), jsonb_build_object('i', i))
    FROM generate_series(2000, 1, -1) i) t;
SELECT count(*) AS held, count(*) FILTER (WHERE waits_for = 'entity:1:1:cb_k') AS on_creation
FROM ws.pending WHERE entity_id = 'cb_k';
SELECT pg_temp.arrive('kc', 'cb_k', 'created', 1, 100, '{1:1}', '{"i": 0}');
SELECT count(*) AS applied,
       bool_and(ws.vclock_get(vclock, 2) = rn - 1) AS in_causal_order
FROM (SELECT vclock, row_number() OVER (ORDER BY arrival) AS rn
      FROM ws.events WHERE entity_id = 'cb_k') t;
SELECT state, version FROM ws.entities WHERE entity_id = 'cb_k';
SELECT count(*) AS held FROM ws.pending WHERE entity_id = 'cb_k';
RESET session_replication_role;

-- what moved in ws.stats()
SELECT * FROM moved;

-- the apply path never fails: a malformed dependency list is only data
SET session_replication_role = replica;
INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind, event_type,
                       patch, handshake, vclock, causal_deps, txid, recorded_at)
VALUES (md5('cb:m1')::uuid, 'cb_m', 1, ws.hlc('2026-01-01 01:00:00+00', 0, 2), 2, 'cb', 'cb_note',
        'created', '{}', '55-45-17', '{2:1}', '{NULL}', pg_current_xact_id(), now());
RESET session_replication_role;
SELECT count(*) AS applied FROM ws.events WHERE entity_id = 'cb_m';

DROP VIEW moved;
DROP VIEW held;
SELECT ws.revoke_module('cb', 'cb_writer');
DROP ROLE cb_writer;
