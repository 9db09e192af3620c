-- Scan marks of the event bus (ws.subscriptions.scanned): a subscriber
-- whose patterns match few events does not read the others again on every
-- poll -- the mark of each pair moves past the events a poll stepped over
-- -- and yet never misses an event of its own behind them.  Marks are
-- arrival numbers (ws.events.arrival), the order ws.poll reads in.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

SELECT ws.register_module('meteo', 1);
SELECT ws.register_event_schema('meteo', 'reading', 1, '{}');
SELECT ws.register_event_schema('meteo', 'storm', 1, '{}');
-- alerts: storms only; starts now
SELECT ws.subscribe('meteo.alerts', 'meteo', 'storm');
SELECT ws.ack('meteo.alerts', ws.hlc_now());
-- a new pair has no mark
SELECT scanned IS NULL AS no_mark FROM ws.subscriptions WHERE subscriber = 'meteo.alerts';

-- 300 readings, a storm, 300 readings
SELECT count(ws.publish('meteo', 'reading', jsonb_build_object('i', i))) FROM generate_series(1, 300) i;
SELECT ws.publish('meteo', 'storm', '{"n": 1}') IS NOT NULL;
SELECT count(ws.publish('meteo', 'reading', jsonb_build_object('i', i))) FROM generate_series(301, 600) i;
CREATE TEMP TABLE storm1 AS SELECT hlc, arrival FROM ws.events WHERE module = 'meteo' AND event_type = 'storm';

-- the storm behind 300 readings arrives
SELECT event_type, patch FROM ws.poll('meteo.alerts', 10);
-- the mark moved past the 300 readings before it, not past the storm
SELECT p.scanned >= (SELECT max(e.arrival) FROM ws.events e
                     WHERE e.module = 'meteo' AND e.arrival < s.arrival) AS past_readings,
       p.scanned < s.arrival AS before_storm
FROM ws.subscriptions p, storm1 s WHERE p.subscriber = 'meteo.alerts';
-- a poll does not acknowledge: the storm comes again, and with max 1 too
SELECT event_type, patch FROM ws.poll('meteo.alerts', 1);

-- acknowledged: nothing is due, and the mark moves past the 300 readings
-- after it
SELECT ws.ack('meteo.alerts', hlc) FROM storm1;
SELECT count(*) FROM ws.poll('meteo.alerts', 10);
SELECT scanned >= (SELECT max(arrival) FROM ws.events WHERE module = 'meteo') AS past_all
FROM ws.subscriptions WHERE subscriber = 'meteo.alerts';
-- the position is only moved by acknowledgements
SELECT s.position OPERATOR(ws.=) storm1.hlc AS position_at_storm
FROM ws.subscribers s, storm1 WHERE s.subscriber = 'meteo.alerts';
SELECT events_behind FROM ws.module_lag WHERE subscriber = 'meteo.alerts';

-- a storm after the mark arrives
SELECT ws.publish('meteo', 'storm', '{"n": 2}') IS NOT NULL;
SELECT event_type, patch FROM ws.poll('meteo.alerts', 10);
SELECT ws.ack('meteo.alerts', ws.max(hlc)) FROM ws.events WHERE module = 'meteo';

-- fewer than 100 events stepped over: the mark stays where it is, and is
-- written once more have come
CREATE TEMP TABLE mark AS SELECT scanned FROM ws.subscriptions WHERE subscriber = 'meteo.alerts';
SELECT count(ws.publish('meteo', 'reading', jsonb_build_object('i', i))) FROM generate_series(1, 60) i;
SELECT count(*) FROM ws.poll('meteo.alerts', 10);
SELECT p.scanned = m.scanned AS mark_unchanged
FROM ws.subscriptions p, mark m WHERE p.subscriber = 'meteo.alerts';
SELECT count(ws.publish('meteo', 'reading', jsonb_build_object('i', i))) FROM generate_series(61, 120) i;
SELECT count(*) FROM ws.poll('meteo.alerts', 10);
SELECT scanned >= (SELECT max(arrival) FROM ws.events WHERE module = 'meteo') AS past_all
FROM ws.subscriptions WHERE subscriber = 'meteo.alerts';

-- a pair added later has no mark, so the poll reads again from the
-- position: the 120 readings stepped over above it arrive
SELECT ws.subscribe('meteo.alerts', 'meteo', 'read%');
SELECT module_pattern, event_type_pattern, scanned IS NULL AS no_mark
FROM ws.subscriptions WHERE subscriber = 'meteo.alerts' ORDER BY 1, 2;
SELECT count(*), min((patch ->> 'i')::int), max((patch ->> 'i')::int)
FROM ws.poll('meteo.alerts', 1000);

-- a read-only transaction polls, and leaves the marks alone
SELECT ws.unsubscribe('meteo.alerts');
SELECT ws.subscribe('meteo.alerts', 'meteo', 'storm');
BEGIN READ ONLY;
SELECT event_type, patch FROM ws.poll('meteo.alerts', 10) ORDER BY hlc;
COMMIT;
SELECT scanned IS NULL AS no_mark FROM ws.subscriptions WHERE subscriber = 'meteo.alerts';

-- the mark is part of the poller's transaction: its own events stepped
-- over go away with it on rollback
SELECT ws.ack('meteo.alerts', ws.hlc_now());
SELECT count(*) FROM ws.poll('meteo.alerts', 10);
CREATE TEMP TABLE mark2 AS SELECT scanned FROM ws.subscriptions WHERE subscriber = 'meteo.alerts';
BEGIN;
SELECT count(ws.publish('meteo', 'reading', jsonb_build_object('i', i))) FROM generate_series(1, 150) i;
SELECT count(*) FROM ws.poll('meteo.alerts', 10);
SELECT p.scanned IS DISTINCT FROM m.scanned AS mark_moved
FROM ws.subscriptions p, mark2 m WHERE p.subscriber = 'meteo.alerts';
ROLLBACK;
SELECT p.scanned IS NOT DISTINCT FROM m.scanned AS mark_back
FROM ws.subscriptions p, mark2 m WHERE p.subscriber = 'meteo.alerts';

-- two subscribers with the same patterns keep marks of their own
SELECT ws.subscribe('meteo.log', 'meteo', 'storm');
SELECT ws.ack('meteo.log', ws.hlc_now());
SELECT count(ws.publish('meteo', 'reading', jsonb_build_object('i', i))) FROM generate_series(1, 150) i;
SELECT count(*) FROM ws.poll('meteo.alerts', 10);
SELECT subscriber, scanned IS NOT NULL AS marked FROM ws.subscriptions
WHERE subscriber IN ('meteo.alerts', 'meteo.log') ORDER BY 1;
SELECT ws.publish('meteo', 'storm', '{"n": 3}') IS NOT NULL;
SELECT subscriber, (SELECT patch FROM ws.poll(subscriber, 10)) AS got
FROM (VALUES ('meteo.alerts'), ('meteo.log')) v(subscriber) ORDER BY 1;

SELECT ws.unsubscribe('meteo.alerts');
SELECT ws.unsubscribe('meteo.log');
