-- ws.poll follows local arrival order (ws.events.arrival), not HLC order:
-- an event that arrives late from a peer, with an HLC older than events
-- already acknowledged, is still delivered.  ws.ack(subscriber, upto)
-- acknowledges every event that arrived up to and including the event
-- with HLC upto.  The late event is made as the apply worker would make it:
-- a superuser's insert under session_replication_role = replica, with an
-- arrival number from ws.events_arrival_seq.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

SELECT ws.register_module('arrmod', 1);
SELECT ws.register_event_schema('arrmod', 'arr_ping', 1, ARRAY[]::jsonpath[]);
SELECT ws.subscribe('arrmod.s', 'arrmod', 'arr_%');

-- a late remote event: origin node 7, an HLC from long ago
CREATE FUNCTION pg_temp.arrive_late(n int) RETURNS void LANGUAGE sql AS $$
    SET session_replication_role = replica;
    INSERT INTO ws.events (event_id, hlc, origin_node, module, event_type, patch, handshake, arrival)
    VALUES (gen_random_uuid(), ws.hlc('2001-01-01 00:00:00+00', n, 7), 7, 'arrmod', 'arr_ping',
            jsonb_build_object('late', n), '55-45-17', nextval('ws.events_arrival_seq'));
    SET session_replication_role = origin;
$$;

-- every event of ws.events has an arrival number, in the order written
SELECT ws.publish('arrmod', 'arr_ping', '{"n": 1}') IS NOT NULL AS p1,
       ws.publish('arrmod', 'arr_ping', '{"n": 2}') IS NOT NULL AS p2,
       ws.publish('arrmod', 'arr_ping', '{"n": 3}') IS NOT NULL AS p3;
SELECT patch, arrival > lag(arrival) OVER (ORDER BY hlc) AS after_previous
FROM ws.events WHERE module = 'arrmod' ORDER BY hlc;

CREATE TEMP TABLE got AS SELECT patch, hlc, arrival FROM ws.poll('arrmod.s', 10);
SELECT patch FROM got ORDER BY arrival;
SELECT ws.ack('arrmod.s', (SELECT hlc FROM got ORDER BY arrival DESC LIMIT 1));
SELECT count(*) AS after_ack FROM ws.poll('arrmod.s', 10);

-- an event older than every acknowledged one arrives: it is delivered
SELECT pg_temp.arrive_late(1);
SELECT patch, origin_node, hlc < (SELECT min(hlc) FROM got) AS older_than_acked
FROM ws.poll('arrmod.s', 10);
SELECT acked_hlc IS NOT NULL AS acked, events_behind FROM ws.module_lag WHERE subscriber = 'arrmod.s';
SELECT ws.ack('arrmod.s', hlc) FROM ws.poll('arrmod.s', 10);
SELECT count(*) AS after_ack FROM ws.poll('arrmod.s', 10);

-- acknowledging an event acknowledges what arrived before it, not what
-- arrived after it, whatever the HLCs
SELECT ws.publish('arrmod', 'arr_ping', '{"n": 4}') IS NOT NULL AS p4,
       ws.publish('arrmod', 'arr_ping', '{"n": 5}') IS NOT NULL AS p5;
SELECT pg_temp.arrive_late(2);
TRUNCATE got;
INSERT INTO got SELECT patch, hlc, arrival FROM ws.poll('arrmod.s', 10);
SELECT patch FROM got ORDER BY arrival;
SELECT ws.ack('arrmod.s', hlc) FROM got WHERE patch = '{"n": 5}';
SELECT patch FROM ws.poll('arrmod.s', 10);
SELECT ws.ack('arrmod.s', hlc) FROM got WHERE patch = '{"late": 2}';
SELECT count(*) AS after_ack FROM ws.poll('arrmod.s', 10);
-- an acknowledgement of an earlier event moves nothing back
SELECT ws.ack('arrmod.s', hlc) FROM got WHERE patch = '{"n": 4}';
SELECT count(*) AS after_old_ack FROM ws.poll('arrmod.s', 10);

-- an HLC that is no event's: everything that arrived before the first
-- event above it
SELECT ws.publish('arrmod', 'arr_ping', '{"n": 6}') IS NOT NULL AS p6,
       ws.publish('arrmod', 'arr_ping', '{"n": 7}') IS NOT NULL AS p7;
SELECT ws.ack('arrmod.s', ws.hlc(ws.hlc_wall(hlc), ws.hlc_counter(hlc), ws.hlc_node(hlc) + 1))
FROM ws.events WHERE module = 'arrmod' AND patch = '{"n": 6}';
SELECT patch FROM ws.poll('arrmod.s', 10);
SELECT pg_temp.arrive_late(3);
SELECT patch FROM ws.poll('arrmod.s', 10) ORDER BY arrival;
SELECT ws.ack('arrmod.s', ws.hlc_now());
SELECT count(*) AS after_ack_now FROM ws.poll('arrmod.s', 10);

-- the scan marks (ws.subscriptions.scanned) are arrival numbers too: a
-- subscriber that matches none of 150 events steps over them once
SELECT ws.subscribe('arrmod.rare', 'arrmod', 'arr_rare');
SELECT count(ws.publish('arrmod', 'arr_ping', jsonb_build_object('bulk', i))) FROM generate_series(1, 150) i;
SELECT count(*) AS rare_got FROM ws.poll('arrmod.rare', 10);
SELECT scanned = (SELECT max(arrival) FROM ws.events) AS marked_to_last
FROM ws.subscriptions WHERE subscriber = 'arrmod.rare';
SELECT ws.register_event_schema('arrmod', 'arr_rare', 1, ARRAY[]::jsonpath[]);
SELECT ws.publish('arrmod', 'arr_rare', '{"rare": 1}') IS NOT NULL AS rare;
SELECT patch FROM ws.poll('arrmod.rare', 10);

SELECT ws.unsubscribe('arrmod.s'), ws.unsubscribe('arrmod.rare');
