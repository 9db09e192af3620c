-- The apply path cannot fail (src/converge.c): events from peers arrive
-- as rows inserted into ws.events in a replica session, as PostgreSQL's
-- apply worker inserts them.  Whatever they hold, the insert succeeds, and
-- what cannot be folded becomes a row of ws.conflicts or ws.pending.
\set VERBOSITY terse
SELECT ws.register_module('peer', 1);
SELECT ws.define_kind('ap_note', 'peer', 'merge', '{hits}');
SELECT ws.define_kind('ap_sheet', 'peer', 'manual');
CREATE ROLE conv_writer LOGIN;
GRANT ws_writer TO conv_writer;
SELECT ws.grant_module('peer', 'conv_writer');

-- an event as node `origin` would have sent it
CREATE FUNCTION pg_temp.arrive(id text, entity text, kind text, type text, origin int,
                               wall numeric, vc text, patch jsonb, intent jsonb DEFAULT NULL,
                               meta jsonb DEFAULT NULL, caller_meta jsonb DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind,
                           event_type, patch, meta, handshake, vclock, intent, caller_meta,
                           txid, recorded_at)
    VALUES (md5(id)::uuid, entity, ('x' || left(md5(id), 7))::bit(28)::int, 
            ws.hlc('2026-01-01 00:00:00+00'::timestamptz + wall * interval '1 second', 0, origin),
            origin, 'peer', kind, type, patch, meta, '55-45-17', vc::ws.vclock, intent,
            caller_meta, pg_current_xact_id(), now())
$$;
CREATE VIEW conflicts AS
    SELECT entity_id, type, status, policy, detail FROM ws.conflicts
    WHERE entity_id LIKE 'ap\_%' ORDER BY hlc, type;

SET session_replication_role = replica;

-- a creation, a re-delivery of it (dropped), a forged event at the same HLC
SELECT pg_temp.arrive('n1', 'ap_n', 'ap_note', 'created', 2, 1, '{2:1}', '{"hits": 0, "text": "a"}');
SELECT pg_temp.arrive('n1', 'ap_n', 'ap_note', 'created', 2, 1, '{2:1}', '{"hits": 0, "text": "a"}');
SELECT pg_temp.arrive('forged', 'ap_n', 'ap_note', 'update', 2, 1, '{2:2}', '{"text": "x"}');
SELECT count(*) AS events FROM ws.events WHERE entity_id = 'ap_n';
SELECT * FROM conflicts;

-- malformed rows: a patch that is not an object, a vclock that does not
-- count the event; the rows stay, the entity does not change, and every
-- node records the same conflicts for them
SELECT pg_temp.arrive('bad1', 'ap_n', 'ap_note', 'update', 2, 2, '{2:2}', '[1, 2]');
SELECT pg_temp.arrive('bad2', 'ap_n', 'ap_note', 'update', 3, 3, '{2:1}', '{"text": "b"}');
SELECT state, version FROM ws.entities WHERE entity_id = 'ap_n';
SELECT * FROM conflicts;

-- replication keeps flowing: a good event after them is folded
SELECT pg_temp.arrive('n2', 'ap_n', 'ap_note', 'update', 3, 4, '{2:1,3:1}', '{"hits": 2}', '{"hits": 2}');
SELECT state, version FROM ws.entities WHERE entity_id = 'ap_n';

-- a kind this node does not have: the event waits, and is folded once
-- the kind is here
SELECT pg_temp.arrive('k1', 'ap_k', 'ap_gauge', 'created', 2, 5, '{2:1}', '{"level": 1}');
SELECT p.reason, p.detail FROM ws.pending p WHERE p.entity_id LIKE 'ap\_%';
SELECT ws.retry_pending();
RESET session_replication_role;
SELECT ws.define_kind('ap_gauge', 'peer', 'lww');
SELECT ws.retry_pending();
SELECT entity_id, state, version FROM ws.entities WHERE entity_id = 'ap_k';
SELECT count(*) AS pending FROM ws.pending WHERE entity_id LIKE 'ap\_%';
SET session_replication_role = replica;

-- an update whose creation has not arrived waits for it (held: its causal past is not here)
SELECT pg_temp.arrive('c2', 'ap_c', 'ap_note', 'update', 3, 7, '{2:1,3:1}', '{"text": "later"}');
SELECT p.reason FROM ws.pending p WHERE p.entity_id LIKE 'ap\_%';
SELECT pg_temp.arrive('c1', 'ap_c', 'ap_note', 'created', 2, 6, '{2:1}', '{"text": "first", "hits": 0}');
SELECT state, version FROM ws.entities WHERE entity_id = 'ap_c';
SELECT count(*) AS pending FROM ws.pending WHERE entity_id LIKE 'ap\_%';

-- links: the latest link or unlink of a relationship, in HLC order, decides
SELECT pg_temp.arrive('l1', 'ap_c', 'ap_note', 'linked', 2, 8, '{2:2,3:1}', '{}',
                      meta => '{"rel": "cites", "to": "ap_n", "props": {"w": 1}}');
SELECT from_id, rel, to_id, props FROM ws.relationships WHERE from_id LIKE 'ap\_%';
SELECT pg_temp.arrive('l3', 'ap_c', 'ap_note', 'unlinked', 3, 10, '{2:2,3:3}', '{}',
                      meta => '{"rel": "cites", "to": "ap_n"}');
SELECT pg_temp.arrive('l2', 'ap_c', 'ap_note', 'linked', 3, 9, '{2:2,3:2}', '{}',
                      meta => '{"rel": "cites", "to": "ap_n", "props": {"w": 2}}');
SELECT count(*) AS links FROM ws.relationships WHERE from_id LIKE 'ap\_%';

-- a manual conflict, then closed with ws.resolve_conflict by a writer
SELECT pg_temp.arrive('s1', 'ap_s', 'ap_sheet', 'created', 2, 11, '{2:1}', '{"cell": 0, "note": "-"}');
SELECT pg_temp.arrive('s2', 'ap_s', 'ap_sheet', 'update', 2, 12, '{2:2}', '{"cell": 1}');
SELECT pg_temp.arrive('s3', 'ap_s', 'ap_sheet', 'update', 3, 13, '{2:1,3:1}', '{"cell": 2}');
RESET session_replication_role;
SELECT entity_id, type, status, policy FROM conflicts WHERE entity_id = 'ap_s';
SET ROLE conv_writer;
SET worldstate.handshake = '55-45-17';
SELECT ws.resolve_conflict(NULL, '{}');
SELECT ws.resolve_conflict('00000000-0000-4000-8000-000000000000', '{}');
SELECT ws.resolve_conflict((SELECT conflict_id FROM ws.conflicts WHERE entity_id = 'ap_s'), '[]');
SELECT state, version FROM ws.resolve_conflict((SELECT conflict_id FROM ws.conflicts WHERE entity_id = 'ap_s'),
                                               '{"cell": 3}');
SELECT ws.resolve_conflict((SELECT conflict_id FROM ws.conflicts WHERE entity_id = 'ap_s'), '{"cell": 4}');
RESET ROLE;
SELECT status, resolution FROM ws.conflicts WHERE entity_id = 'ap_s';
SELECT event_type, caller_meta ? 'resolves' AS names_it FROM ws.events
WHERE entity_id = 'ap_s' ORDER BY hlc DESC LIMIT 1;

-- a resolution made on another node closes the conflict here when its
-- event arrives
SET session_replication_role = replica;
SELECT pg_temp.arrive('u1', 'ap_u', 'ap_sheet', 'created', 2, 16, '{2:1}', '{"cell": 0}');
SELECT pg_temp.arrive('u2', 'ap_u', 'ap_sheet', 'update', 2, 17, '{2:2}', '{"cell": 1}');
SELECT pg_temp.arrive('u3', 'ap_u', 'ap_sheet', 'update', 3, 18, '{2:1,3:1}', '{"cell": 2}');
SELECT conflict_id AS u_conflict FROM ws.conflicts WHERE entity_id = 'ap_u' \gset
SELECT status FROM ws.conflicts WHERE entity_id = 'ap_u';
SELECT pg_temp.arrive('u4', 'ap_u', 'ap_sheet', 'resolve', 3, 19, '{2:2,3:2}', '{"cell": 5}',
                      caller_meta => jsonb_build_object('resolves', :'u_conflict'));
SELECT status, resolution FROM ws.conflicts WHERE entity_id = 'ap_u';
SELECT state FROM ws.entities WHERE entity_id = 'ap_u';
RESET session_replication_role;

-- a counter resolved to a value: the event carries the delta
SET session_replication_role = replica;
SELECT pg_temp.arrive('h2', 'ap_n', 'ap_note', 'update', 2, 14, '{2:3,3:1}', '{"hits": 5}', '{"hits": 3}');
SELECT pg_temp.arrive('h3', 'ap_n', 'ap_note', 'update', 3, 15, '{2:1,3:2}', '{"hits": 7}', '{"hits": 5}');
SELECT entity_id, type, status, policy FROM conflicts WHERE entity_id = 'ap_n';
SELECT state->'hits' AS hits FROM ws.entities WHERE entity_id = 'ap_n';
RESET session_replication_role;

-- the triggers refuse to be called any other way
SELECT ws.events_arrive();

DROP VIEW conflicts;
SELECT ws.revoke_module('peer', 'conv_writer');
DROP ROLE conv_writer;

-- ws.verify checks entities with concurrent events against the fold of
-- several nodes: what it folded here is right
SELECT * FROM ws.verify() WHERE entity_id IN ('ap_n', 'ap_c', 'ap_k', 'ap_s', 'ap_u');
-- and a state changed by hand is still found
SET session_replication_role = replica;
UPDATE ws.entities SET state = '{"cell": 6}' WHERE entity_id = 'ap_u';
RESET session_replication_role;
SELECT * FROM ws.verify() WHERE entity_id IN ('ap_n', 'ap_c', 'ap_k', 'ap_s', 'ap_u');
UPDATE ws.entities SET state = '{"cell": 5}' WHERE entity_id = 'ap_u';

-- a restore from a snapshot, and from the log alone, rebuild the same
SELECT ws.state_hash() AS before_restore \gset
SELECT ws.create_snapshot('converged') AS snap \gset
SET session_replication_role = replica;
SELECT pg_temp.arrive('n9', 'ap_n', 'ap_note', 'update', 3, 20, '{2:1,3:3}', '{"hits": 8}', '{"hits": 1}');
RESET session_replication_role;
SELECT ws.state_hash() AS after_event \gset
SELECT ws.restore_snapshot(:snap) >= 0 AS restored, ws.state_hash() = :'after_event' AS same_world;
SELECT count(*) AS problems FROM ws.verify() WHERE entity_id LIKE 'ap\_%';
