-- The event bus: subscribe, poll, ack.  Events come in HLC order, the
-- entity events of a module's kinds included; a poll does not move the
-- position, an acknowledgement does, and never backwards; reading other
-- modules' events is allowed
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
CREATE TEMP TABLE stats_before AS SELECT * FROM ws.stats();

SELECT ws.register_module('radio', 1);
SELECT ws.register_module('tv', 1);
SELECT ws.register_event_schema('radio', 'song', 1, ARRAY['exists($.title)']::jsonpath[]);
SELECT ws.register_event_schema('radio', 'ad', 1, '{}');
SELECT ws.register_event_schema('radio', 'news', 1, '{}');
SELECT ws.register_event_schema('tv', 'show', 1, '{}');

-- tv's listener reads radio's songs and ads; radio's own subscriber
-- reads everything of radio and tv's shows
SELECT ws.subscribe('tv.listener', 'radio', 'song');
SELECT ws.subscribe('tv.listener', 'radio', 'ad%');
SELECT ws.subscribe('tv.listener', 'radio', 'ad%');  -- already there: nothing changes
SELECT ws.subscribe('radio', 'radio', '%');
SELECT ws.subscribe('radio', 'tv', 'show');
SELECT subscriber, module_pattern, event_type_pattern FROM ws.subscriptions
WHERE subscriber IN ('tv.listener', 'radio') ORDER BY 1, 2, 3;
-- a new subscriber starts before the first event
SELECT subscriber, module, position, acked_at FROM ws.subscribers
WHERE subscriber IN ('tv.listener', 'radio') ORDER BY 1;

-- nothing published yet
SELECT count(*) FROM ws.poll('tv.listener', 10);

SELECT count(ws.publish('radio', 'song', jsonb_build_object('title', 'song ' || i)))
FROM generate_series(1, 3) i;
SELECT ws.publish('radio', 'ad', '{"brand": "soap"}') IS NOT NULL;
SELECT ws.publish('radio', 'news', '{"headline": "rain"}') IS NOT NULL;
SELECT ws.publish('tv', 'show', '{"name": "quiz"}') IS NOT NULL;
SELECT ws.define_kind('station', 'radio');
SELECT version FROM ws.create_entity('fm1', 'station', 'radio', '{"freq": 101.1}');
SELECT version FROM ws.transition('fm1', '{"freq": 99.5}');
SELECT ws.publish('radio', 'song', '{"title": "song 4"}') IS NOT NULL;

-- the listener's events, in HLC order
CREATE TEMP TABLE got AS SELECT * FROM ws.poll('tv.listener', 10);
SELECT module, event_type, patch FROM got ORDER BY hlc;
SELECT bool_and(prev OPERATOR(ws.<) hlc) AS strictly_increasing
FROM (SELECT hlc, lag(hlc) OVER (ORDER BY hlc) AS prev FROM got) s WHERE prev IS NOT NULL;
-- the function returns them in HLC order too
SELECT array_agg(patch ORDER BY n) = array_agg(patch ORDER BY hlc) AS returned_in_hlc_order
FROM (SELECT row_number() OVER () AS n, * FROM ws.poll('tv.listener', 10)) s;
-- polling again without acknowledging delivers the same events
SELECT array_agg(event_id ORDER BY hlc) = (SELECT array_agg(event_id ORDER BY hlc) FROM got) AS redelivered
FROM ws.poll('tv.listener', 10);
-- max limits the batch
SELECT patch FROM ws.poll('tv.listener', 2);

-- acknowledging the first two
SELECT ws.ack('tv.listener', (SELECT hlc FROM got ORDER BY hlc OFFSET 1 LIMIT 1));
SELECT patch FROM ws.poll('tv.listener', 10);
SELECT acked_at IS NOT NULL AS acked,
       position = (SELECT hlc FROM got ORDER BY hlc OFFSET 1 LIMIT 1) AS at_second
FROM ws.subscribers WHERE subscriber = 'tv.listener';
-- an older acknowledgement does not move the position back
SELECT ws.ack('tv.listener', (SELECT hlc FROM got ORDER BY hlc LIMIT 1));
SELECT count(*) FROM ws.poll('tv.listener', 10);
-- acknowledging everything
SELECT ws.ack('tv.listener', (SELECT ws.max(hlc) FROM got));
SELECT count(*) FROM ws.poll('tv.listener', 10);

-- radio's subscriber also gets the events of its entities and tv's show
SELECT module, event_type, entity_id, version, patch FROM ws.poll('radio', 20) ORDER BY hlc;

-- how far behind each subscriber is
SELECT subscriber, module, events_behind, oldest_unacked_age IS NOT NULL AS has_age,
       oldest_unacked_age >= '0' AS age_not_negative
FROM ws.module_lag WHERE subscriber IN ('tv.listener', 'radio') ORDER BY 1;

-- a transaction sees the events it wrote itself; a rollback takes them away
BEGIN;
SELECT ws.publish('radio', 'song', '{"title": "uncommitted"}') IS NOT NULL;
SELECT patch FROM ws.poll('tv.listener', 10);
ROLLBACK;
SELECT count(*) FROM ws.poll('tv.listener', 10);

-- an acknowledgement is transactional too
BEGIN;
SELECT ws.ack('tv.listener', ws.hlc_now());
ROLLBACK;
SELECT position = (SELECT ws.max(hlc) FROM got) AS unchanged
FROM ws.subscribers WHERE subscriber = 'tv.listener';

-- acknowledging the present skips whatever came before
SELECT ws.ack('radio', ws.hlc_now());
SELECT count(*) FROM ws.poll('radio', 20);
SELECT events_behind, oldest_unacked_age FROM ws.module_lag WHERE subscriber = 'radio';

-- unsubscribing forgets the position and the patterns
SELECT ws.unsubscribe('radio');
SELECT count(*) FROM ws.subscriptions WHERE subscriber = 'radio';
SELECT ws.subscribe('radio', 'radio', 'news');
SELECT event_type, patch FROM ws.poll('radio', 20);

SELECT s.name, s.value - b.value AS delta
FROM ws.stats() s JOIN stats_before b USING (name)
WHERE s.name IN ('events_published', 'bus_acks', 'events_written')
ORDER BY s.name;
SELECT (SELECT value FROM ws.stats() WHERE name = 'bus_polls') >
       (SELECT value FROM stats_before WHERE name = 'bus_polls') AS polls_counted,
       (SELECT value FROM ws.stats() WHERE name = 'events_delivered') >
       (SELECT value FROM stats_before WHERE name = 'events_delivered') AS deliveries_counted,
       (SELECT value FROM ws.stats() WHERE name = 'event_writers_in_flight') AS in_flight;
