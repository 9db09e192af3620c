-- Every entity event records its intent: the counter deltas the request
-- gave, {"field": delta}, beside the effective patch (which holds the
-- values they produced).  A merge of concurrent changes on several nodes
-- sums the intents, so no increment is lost.  Written by ws.create_entity
-- (its counter values, deltas from nothing), ws.transition and
-- ws.transition_many; NULL when the request gave no counter a number.
-- Tested as a role that is only a member of ws_writer.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_intent_app;
RESET client_min_messages;
CREATE ROLE regress_intent_app LOGIN IN ROLE ws_writer;

SELECT ws.register_module('intentmod', 1);
SELECT ws.define_kind('int_wallet', 'intentmod', 'merge', ARRAY['coins', 'gems']);
SELECT ws.define_kind('int_plain', 'intentmod');
SELECT ws.grant_module('intentmod', 'regress_intent_app');

SET ROLE regress_intent_app;
SELECT version FROM ws.create_entity('iw1', 'int_wallet', 'intentmod', '{"coins": 10, "name": "w"}');
-- a delta of a counter and a plain field: the intent has the delta only
SELECT version, state FROM ws.transition('iw1', '{"coins": 5, "name": "x"}');
-- two counters, one negative and fractional
SELECT version, state FROM ws.transition('iw1', '{"coins": -2.5, "gems": 3}');
-- no counter: no intent
SELECT version, state FROM ws.transition('iw1', '{"name": "y"}');
-- null removes a counter: that is no delta
SELECT version FROM ws.create_entity('iw2', 'int_wallet', 'intentmod', '{"gems": 1}');
SELECT version, state FROM ws.transition('iw2', '{"gems": null}');
-- a number given to a field that is no counter is not an intent
SELECT version FROM ws.create_entity('ip1', 'int_plain', 'intentmod', '{"coins": 1}');
SELECT version FROM ws.transition('ip1', '{"coins": 7}');
-- transition_many records each update's own deltas
SELECT entity_id, version FROM ws.transition_many(
    '[{"entity_id": "iw1", "patch": {"gems": 4}},
      {"entity_id": "ip1", "patch": {"coins": 2}}]');
SELECT version FROM ws.retire_entity('ip1');
RESET ROLE;

SELECT entity_id, version, event_type, patch, intent
FROM ws.events WHERE module = 'intentmod' ORDER BY entity_id, version;

-- the sum of the intents is each counter's value
SELECT key, sum(value::numeric) AS summed, (SELECT state -> key FROM ws.entities WHERE entity_id = 'iw1') AS state
FROM ws.events, jsonb_each_text(intent)
WHERE entity_id = 'iw1' GROUP BY key ORDER BY key;

-- a published event of the bus has no intent
SELECT ws.register_event_schema('intentmod', 'int_ping', 1, ARRAY[]::jsonpath[]);
SELECT ws.publish('intentmod', 'int_ping', '{"coins": 3}') IS NOT NULL AS published;
SELECT event_type, intent FROM ws.events WHERE module = 'intentmod' AND entity_id IS NULL;

DROP OWNED BY regress_intent_app;
DROP ROLE regress_intent_app;
