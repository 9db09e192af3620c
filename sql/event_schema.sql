-- Event schemas: versions of jsonpath rules per module and event type,
-- validation of published events and of transitions (WS422 naming the
-- rule), and grace periods for superseded versions
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql
CREATE TEMP TABLE stats_before AS SELECT * FROM ws.stats();

SELECT ws.register_module('shop', 1);

------------------------------------------------------------------------
-- registering
------------------------------------------------------------------------

SELECT ws.register_event_schema('shop', 'order_placed', 1,
                                ARRAY['$.amount > 0', 'exists($.customer)']::jsonpath[]);
SELECT module, event_type, version, rules, grace, registered_at <= clock_timestamp() AS registered
FROM ws.event_schemas WHERE module = 'shop' ORDER BY event_type, version;
-- the same version again with the same rules changes nothing
SELECT ws.register_event_schema('shop', 'order_placed', 1,
                                ARRAY['$.amount > 0', 'exists($.customer)']::jsonpath[]);
SELECT count(*) FROM ws.event_schemas WHERE module = 'shop';
-- a schema without rules accepts any payload
SELECT ws.register_event_schema('shop', 'note', 1, '{}');

-- versions never change: other rules or another grace for a registered version
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'order_placed', 1, ARRAY['$.amount > 1']::jsonpath[])$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'order_placed', 1, ARRAY['$.amount > 0', 'exists($.customer)']::jsonpath[], grace => '1 day')$$);
-- versions only grow
SELECT ws.register_event_schema('shop', 'audit', 3, '{}');
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'audit', 2, '{}')$$);
-- rules must be jsonpath predicates, not paths selecting values
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'bad', 1, ARRAY['$.amount > 0', '$.amount']::jsonpath[])$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'bad', 1, ARRAY['$.amount > 0', NULL]::jsonpath[])$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'bad', 1, ARRAY[['$.a > 0'], ['$.b > 0']]::jsonpath[])$$);
-- other bad arguments
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'bad', 0, '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'bad', -1, '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'bad', NULL, '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'bad', 1, NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'bad', 1, '{}', grace => NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'bad', 1, '{}', grace => '-1 day')$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', '', 1, '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', NULL, 1, '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('shop', repeat('x', 64), 1, '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema(NULL, 'bad', 1, '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('nosuchmodule', 'bad', 1, '{}')$$);
SELECT count(*) FROM ws.event_schemas WHERE event_type = 'bad';

------------------------------------------------------------------------
-- publishing validates the payload
------------------------------------------------------------------------

SELECT ws.publish('shop', 'order_placed', '{"amount": 5, "customer": "c1"}') IS NOT NULL AS published;
SELECT ws.publish('shop', 'note', '"any JSON value"') IS NOT NULL AS published;
-- WS422 names the rule that failed
SELECT * FROM pg_temp.try($$SELECT ws.publish('shop', 'order_placed', '{"amount": 0, "customer": "c1"}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.publish('shop', 'order_placed', '{"amount": 5}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.publish('shop', 'order_placed', '{"amount": "5", "customer": "c1"}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.publish('shop', 'order_placed', '[1, 2]')$$);
-- an unknown version, an event type without a schema
SELECT * FROM pg_temp.try($$SELECT ws.publish('shop', 'order_placed', '{"amount": 5, "customer": "c1"}', schema_version => 2)$$);
SELECT * FROM pg_temp.try($$SELECT ws.publish('shop', 'order_lost', '{}')$$);
-- events store their type and schema version; bus events have no entity
SELECT module, event_type, patch, schema_version, entity_id, version, kind, vclock, state,
       handshake, origin_node
FROM ws.events WHERE module = 'shop' ORDER BY hlc;

------------------------------------------------------------------------
-- versions side by side, grace periods
------------------------------------------------------------------------

-- version 2 adds a rule; version 1 stays accepted for its grace period
-- (7 days by default), and is still the default of ws.publish
SELECT ws.register_event_schema('shop', 'order_placed', 2,
                                ARRAY['$.amount > 0', 'exists($.customer)', 'exists($.currency)']::jsonpath[]);
SELECT ws.publish('shop', 'order_placed', '{"amount": 7, "customer": "c2"}') IS NOT NULL AS v1_still_accepted;
SELECT * FROM pg_temp.try($$SELECT ws.publish('shop', 'order_placed', '{"amount": 7, "customer": "c2"}', 2)$$);
SELECT ws.publish('shop', 'order_placed', '{"amount": 7, "customer": "c2", "currency": "EUR"}', 2) IS NOT NULL AS v2;
SELECT event_type, schema_version, patch FROM ws.events
WHERE module = 'shop' AND event_type = 'order_placed' ORDER BY hlc;

-- grace 0: refused as soon as a newer version exists, naming the version
SELECT ws.register_event_schema('shop', 'refund', 1, ARRAY['$.amount > 0']::jsonpath[], grace => '0');
SELECT ws.publish('shop', 'refund', '{"amount": 1}') IS NOT NULL AS before_v2;
SELECT ws.register_event_schema('shop', 'refund', 2, ARRAY['$.amount > 0', '$.amount < 1000']::jsonpath[]);
SELECT code, message, hint FROM pg_temp.try($$SELECT ws.publish('shop', 'refund', '{"amount": 1}')$$);
SELECT ws.publish('shop', 'refund', '{"amount": 1}', 2) IS NOT NULL AS v2;

-- the time is the node clock's physical reading, so moving it back
-- registers versions in the past: version 2 of "shipped" superseded
-- version 1 eight days ago, past its 7 days of grace; version 2 of
-- "packed" superseded version 1 six days ago, within them
SET worldstate.clock_offset = '-9d';
SELECT ws.register_event_schema('shop', 'shipped', 1, '{}');
SELECT ws.register_event_schema('shop', 'packed', 1, '{}');
SET worldstate.clock_offset = '-8d';
SELECT ws.register_event_schema('shop', 'shipped', 2, '{}');
SET worldstate.clock_offset = '-6d';
SELECT ws.register_event_schema('shop', 'packed', 2, '{}');
RESET worldstate.clock_offset;
SELECT code, message, regexp_replace(detail, 'at [^;]*?(;|\.$)', 'at <time>\1', 'g') AS detail, hint
FROM pg_temp.try($$SELECT ws.publish('shop', 'shipped', '{}', 1)$$);
SELECT ws.publish('shop', 'shipped', '{}', 2) IS NOT NULL AS v2;
SELECT ws.publish('shop', 'packed', '{}', 1) IS NOT NULL AS v1_within_grace;

------------------------------------------------------------------------
-- transitions of the module's entities are validated the same way,
-- against the latest version of the schema for their event type
------------------------------------------------------------------------

SELECT ws.define_kind('cart', 'shop', 'lww', ARRAY['items']);
-- no schema for "created" yet: version 1 recorded, as for every event
SELECT entity_id, version FROM ws.create_entity('cart1', 'cart', 'shop', '{"items": 0}');
-- rules see the event's patch: the fields the change sets, counters as
-- the values they produced
SELECT ws.register_event_schema('shop', 'update', 1,
                                ARRAY['$.items >= 0 || !exists($.items)']::jsonpath[]);
SELECT ws.register_event_schema('shop', 'update', 2,
                                ARRAY['$.items >= 0 || !exists($.items)',
                                      '$.items <= 10 || !exists($.items)']::jsonpath[],
                                grace => '0');
SELECT version, state FROM ws.transition('cart1', '{"items": 3}');
SELECT version, state FROM ws.transition('cart1', '{"note": "gift"}');
SELECT * FROM pg_temp.try($$SELECT ws.transition('cart1', '{"items": 20}')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[{"entity_id": "cart1", "patch": {"items": -5}}]')$$);
-- a schema for "created" checks initial states
SELECT ws.register_event_schema('shop', 'created', 1, ARRAY['exists($.items)']::jsonpath[]);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('cart2', 'cart', 'shop', '{"note": "empty"}')$$);
SELECT entity_id, version FROM ws.create_entity('cart2', 'cart', 'shop', '{"items": 1}');
-- other event types of transitions
SELECT ws.register_event_schema('shop', 'checkout', 1, ARRAY['$.paid == true']::jsonpath[]);
SELECT * FROM pg_temp.try($$SELECT ws.transition('cart1', '{"paid": false}', event_type => 'checkout')$$);
SELECT version FROM ws.transition('cart1', '{"paid": true}', event_type => 'checkout');
SELECT entity_id, version, event_type, schema_version, patch FROM ws.events
WHERE kind = 'cart' ORDER BY entity_id, version;
-- a published event's id is no idempotency key for a transition
SELECT code, message FROM pg_temp.try(format($$SELECT ws.transition('cart1', '{"note": "x"}', event_id => %L)$$,
    (SELECT event_id FROM ws.events WHERE module = 'shop' AND event_type = 'note' LIMIT 1)));
SELECT code, message FROM pg_temp.try(format($$SELECT ws.create_entity('cart3', 'cart', 'shop', '{"items": 1}', event_id => %L)$$,
    (SELECT event_id FROM ws.events WHERE module = 'shop' AND event_type = 'note' LIMIT 1)));
-- entities of other modules are not affected by shop's schemas
SELECT ws.register_module('garden', 1);
SELECT ws.define_kind('flowerbed', 'garden');
SELECT version FROM ws.create_entity('bed1', 'flowerbed', 'garden', '{"items": 99}');
SELECT version FROM ws.transition('bed1', '{"items": 50}');

------------------------------------------------------------------------
-- module grants (more in test/pgtap/003_bus.sql) and counters
------------------------------------------------------------------------

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_schema_app;
RESET client_min_messages;
CREATE ROLE regress_schema_app IN ROLE ws_writer;
SET ROLE regress_schema_app;
SELECT code, message FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'order_placed', 3, '{}')$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.publish('shop', 'note', '{}')$$);
RESET ROLE;
SELECT ws.grant_module('shop', 'regress_schema_app');
SET ROLE regress_schema_app;
-- a writer of the module publishes; registering schemas is for its admins
SELECT code, message FROM pg_temp.try($$SELECT ws.register_event_schema('shop', 'order_placed', 3, '{}')$$);
SELECT ws.publish('shop', 'note', '{}') IS NOT NULL AS published;
RESET ROLE;
SELECT ws.grant_module('shop', 'regress_schema_app', admin => true);
SET ROLE regress_schema_app;
SELECT ws.register_event_schema('shop', 'order_placed', 3, '{}');
RESET ROLE;
DELETE FROM ws.module_grants WHERE role = 'regress_schema_app'::regrole;
DROP ROLE regress_schema_app;

SELECT s.name, s.value - b.value AS delta
FROM ws.stats() s JOIN stats_before b USING (name)
WHERE s.name IN ('rejected_schema', 'events_published', 'rejected_permission')
ORDER BY s.name;
