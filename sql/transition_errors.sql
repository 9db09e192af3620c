-- The transition protocol refuses bad changes with the SQLSTATEs of
-- DESIGN.md section 8 and leaves nothing half-written
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql
CREATE TEMP TABLE stats_before AS SELECT * FROM ws.stats();

SELECT ws.register_module('bank', 1);
SELECT ws.define_kind('account', 'bank', 'lww', ARRAY['balance']);
SELECT ws.add_constraint('account', 'balance_not_negative', '$.balance >= 0');
SELECT ws.add_constraint('account', 'has_owner', 'exists($.owner)');
SELECT version FROM ws.create_entity('acc1', 'account', 'bank', '{"owner": "ann", "balance": 100}');

-- rejections are broadcast as non-transactional logical messages
SELECT 'init' FROM pg_create_logical_replication_slot('errors_slot', 'test_decoding');

-- WS401: missing or wrong handshake
RESET worldstate.handshake;
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{"balance": 1}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{"balance": 1}', handshake => '12-34-56')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{"balance": 1}', handshake => '')$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('acc9', 'account', 'bank', '{"owner": "x"}')$$);
SET worldstate.handshake = 'wrong';
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{"balance": 1}')$$);
SET worldstate.handshake = '55-45-17';

-- WS404: no such entity
SELECT * FROM pg_temp.try($$SELECT ws.transition('nobody', '{"a": 1}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.retire_entity('nobody')$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('nobody', 'owns', 'acc1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('acc1', 'owned_by', 'nobody')$$);
SELECT * FROM pg_temp.try($$SELECT ws.unlink('acc1', 'owned_by', 'acc1')$$);

-- WS409: version conflict names entity, expected and actual
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{"balance": 1}', expected_version => 7)$$);
SELECT * FROM pg_temp.try($$SELECT ws.retire_entity('acc1', expected_version => 0)$$);

-- WS422: constraint violation names the constraint
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{"balance": -101}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{"owner": null}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('acc2', 'account', 'bank', '{"balance": 5}')$$);

-- WS412: an idempotency key reused with a different update
SELECT version FROM ws.transition('acc1', '{"balance": 1}', event_id => '00000000-0000-4000-8000-0000000000aa');
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{"balance": 2}', event_id => '00000000-0000-4000-8000-0000000000aa')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{"balance": 1}', event_id => '00000000-0000-4000-8000-0000000000aa', event_type => 'deposit')$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('acc3', 'account', 'bank', '{"owner": "bo", "balance": 1}', event_id => '00000000-0000-4000-8000-0000000000aa')$$);

-- WS425: causal prerequisite missing
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{"balance": 1}', causal_deps => ARRAY['00000000-0000-4000-8000-00000000dead'::uuid], consistency => 'causal')$$);

-- WS410: retired entities refuse changes and links
SELECT version FROM ws.create_entity('acc4', 'account', 'bank', '{"owner": "cy", "balance": 0}');
SELECT retired FROM ws.retire_entity('acc4');
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc4', '{"balance": 1}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.retire_entity('acc4')$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('acc1', 'peer', 'acc4')$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('acc4', 'peer', 'acc1')$$);

-- 22023: bad parameters
SELECT * FROM pg_temp.try($$SELECT ws.transition(NULL, '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition(repeat('x', 2000), '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{}', event_type => '')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{}', event_type => NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{}', event_type => 'retired')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[{"entity_id": "acc1", "patch": {}, "event_type": "linked"}]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{}', consistency => 'linearizable')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '[1, 2]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '"replace me"')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{"balance": "lots"}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('acc1', '{}', causal_deps => ARRAY[NULL::uuid], consistency => 'causal')$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('acc5', 'account', 'bank', '[1]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('acc5', 'account', 'bank', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('acc5', 'account', 'nomodule', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('acc5', NULL, 'bank', '{}')$$);
SELECT ws.register_module('other', 1);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('acc5', 'account', 'other', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('account', 'other')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('thing', 'bank', 'fifo')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('thing', 'bank', 'lww', ARRAY[''])$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('thing', 'bank', 'lww', ARRAY[NULL])$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('thing', 'nomodule')$$);
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('account', 'not_a_predicate', '$.balance')$$);
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('nokind', 'c', '$.a > 1')$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_module('', 1)$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_module('m', 0)$$);
SELECT * FROM pg_temp.try($$SELECT ws.grant_module('bank', 'no_such_role')$$);
SELECT * FROM pg_temp.try($$SELECT ws.grant_module('nomodule', 'ws_writer')$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('acc1', 'peer', 'acc1', '[1]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.link('acc1', '', 'acc1')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many(NULL)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('{"entity_id": "acc1"}')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[1]')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[{"patch": {}}]')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[{"entity_id": "acc1"}]')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[{"entity_id": 7, "patch": {}}]')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[{"entity_id": "acc1", "patch": {}, "expected_version": "x"}]')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[{"entity_id": "acc1", "patch": {}, "event_id": "not-a-uuid"}]')$$);
-- 23505: an entity id is created once
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('acc1', 'account', 'bank', '{"owner": "dup", "balance": 0}')$$);

-- nothing half-written: a batch with one bad update changes nothing
SELECT version AS v_before FROM ws.entities WHERE entity_id = 'acc1' \gset
SELECT count(*) AS events_before FROM ws.events \gset
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[{"entity_id": "acc1", "patch": {"balance": 1}},
                                   {"entity_id": "acc4", "patch": {"balance": 1}}]')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.transition_many('[{"entity_id": "acc1", "patch": {"balance": 1}},
                                   {"entity_id": "acc1", "patch": {"balance": -1000}}]')$$);
SELECT version = :v_before AS version_unchanged FROM ws.entities WHERE entity_id = 'acc1';
SELECT count(*) = :events_before AS no_new_events FROM ws.events;

-- the event log is append-only for everyone, also under replication role
\set VERBOSITY sqlstate
UPDATE ws.events SET event_type = 'x';
DELETE FROM ws.events;
TRUNCATE ws.events;
SET session_replication_role = replica;
UPDATE ws.events SET event_type = 'x';
DELETE FROM ws.events;
RESET session_replication_role;
\set VERBOSITY default
DELETE FROM ws.events WHERE entity_id = 'acc1';

-- the rejections reached the broadcast stream, one message each, although
-- every transaction above rolled back
SELECT (regexp_match(data, '"sqlstate":"([A-Z0-9]+)"'))[1] AS sqlstate, count(*)
FROM pg_logical_slot_get_changes('errors_slot', NULL, NULL)
WHERE data LIKE 'message: transactional: 0 prefix: worldstate%'
GROUP BY 1 ORDER BY 1;
SELECT pg_drop_replication_slot('errors_slot');
-- and were counted
SELECT s.name, s.value - b.value AS counted
FROM ws.stats() s JOIN stats_before b USING (name)
WHERE s.name LIKE 'rejected%' ORDER BY s.name;
