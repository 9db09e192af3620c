-- Every event records the role that made it (actor: the calling role,
-- current_user) and the caller's optional meta (caller_meta), shown by
-- ws.history and ws.poll; the column meta keeps the relationship of link
-- events, as in 1.0.  Tested as a role that is only a member of ws_writer.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_actor_app, regress_actor_team, regress_actor_member;
RESET client_min_messages;
CREATE ROLE regress_actor_app LOGIN IN ROLE ws_writer;
CREATE ROLE regress_actor_team NOLOGIN IN ROLE ws_writer;
CREATE ROLE regress_actor_member LOGIN IN ROLE regress_actor_team;

SELECT ws.register_module('actmod', 1);
SELECT ws.define_kind('act_thing', 'actmod');
SELECT ws.grant_module('actmod', 'regress_actor_app');
SELECT ws.grant_module('actmod', 'regress_actor_team');
SELECT ws.register_event_schema('actmod', 'act_ping', 1, ARRAY[]::jsonpath[]);

SET ROLE regress_actor_app;
SELECT version FROM ws.create_entity('act1', 'act_thing', 'actmod', '{"n": 0}',
                                     meta => '{"correlation_id": "c-1"}');
SELECT version FROM ws.create_entity('act2', 'act_thing', 'actmod', '{"n": 0}');
SELECT version FROM ws.transition('act1', '{"n": 1}',
                                  meta => '{"correlation_id": "c-1", "causation_id": "e-7"}');
SELECT from_id, rel, to_id FROM ws.link('act1', 'knows', 'act2', meta => '{"correlation_id": "c-2"}');
SELECT from_id, rel, to_id FROM ws.unlink('act1', 'knows', 'act2', meta => '{"correlation_id": "c-3"}');
SELECT entity_id, version FROM ws.transition_many(
    '[{"entity_id": "act2", "patch": {"n": 5}, "meta": {"correlation_id": "c-4"}}]');
SELECT version FROM ws.retire_entity('act2', meta => '{"correlation_id": "c-5"}');
SELECT ws.publish('actmod', 'act_ping', '{}', meta => '{"correlation_id": "c-6"}') IS NOT NULL
    AS published;
RESET ROLE;

-- a member of a granted team records itself, not the team
SET ROLE regress_actor_member;
SELECT version FROM ws.transition('act1', '{"n": 2}');
RESET ROLE;

-- inside a SECURITY DEFINER function the actor is the function's owner,
-- whoever calls it (the role whose privileges the call runs with)
CREATE FUNCTION public.actor_bump(id text) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT version FROM ws.transition(id, '{"bumped": true}') $$;
ALTER FUNCTION public.actor_bump(text) OWNER TO regress_actor_app;
SET ROLE regress_actor_member;
SELECT public.actor_bump('act1') AS version;
RESET ROLE;
DROP FUNCTION public.actor_bump(text);

-- the history shows both; link events keep their relationship in meta
SELECT entity_id, version, event_type, actor, caller_meta, meta
FROM ws.history('act1') ORDER BY version;
SELECT version, event_type, actor, caller_meta FROM ws.history('act2') ORDER BY version;
SELECT event_type, actor, caller_meta FROM ws.events
WHERE module = 'actmod' AND entity_id IS NULL;
-- an idempotent retry writes nothing new and returns the first result
SELECT version FROM ws.transition('act1', '{"n": 3}', event_id => '00000000-0000-4000-8000-0000000000a1',
                                  meta => '{"try": 1}');
SELECT version FROM ws.transition('act1', '{"n": 3}', event_id => '00000000-0000-4000-8000-0000000000a1',
                                  meta => '{"try": 2}');
SELECT count(*) AS events, min(caller_meta::text) AS kept_meta, min(actor) AS actor
FROM ws.events WHERE event_id = '00000000-0000-4000-8000-0000000000a1';

-- meta must be a JSON object of at most 4096 bytes as text (22023)
SELECT * FROM pg_temp.try($$SELECT ws.transition('act1', '{}', meta => '[1]')$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition('act1', '{}', meta => '"x"')$$);
SELECT * FROM pg_temp.try($$SELECT ws.create_entity('act3', 'act_thing', 'actmod', '{}',
                                                    meta => jsonb_build_object('pad', repeat('x', 4090)))$$);
SELECT * FROM pg_temp.try($$SELECT ws.transition_many(jsonb_build_array(jsonb_build_object(
    'entity_id', 'act1', 'patch', '{}'::jsonb, 'meta', jsonb_build_object('pad', repeat('x', 4090)))))$$);
SELECT * FROM pg_temp.try($$SELECT ws.publish('actmod', 'act_ping', '{}', meta => '1')$$);
-- exactly at the limit is accepted: {"pad": "..."} is 11 bytes around the text
SELECT version FROM ws.transition('act1', '{}', meta => jsonb_build_object('pad', repeat('x', 4085)));
SELECT length(caller_meta::text) AS meta_bytes FROM ws.events WHERE entity_id = 'act1'
ORDER BY version DESC LIMIT 1;
-- nothing half-written by the refused calls
SELECT count(*) AS act3_events FROM ws.events WHERE entity_id = 'act3';

-- a database restored from 1.0 and not yet updated has neither column: the
-- library still writes and reads its events
RESET ROLE;
BEGIN;
ALTER TABLE ws.events DROP COLUMN actor, DROP COLUMN caller_meta;
SELECT version FROM ws.transition('act1', '{"n": 5}', meta => '{"dropped": true}');
SELECT version, event_type, patch, meta FROM ws.events WHERE entity_id = 'act1'
ORDER BY version DESC LIMIT 1;
SELECT ws.get_state('act1'), ws.get_state('act1', (SELECT hlc FROM ws.events
                                                    WHERE entity_id = 'act1' AND version = 2));
ROLLBACK;
-- a column of another type than the install script's is an error (55000),
-- never a misread value, on the write path too
BEGIN;
ALTER TABLE ws.events RENAME COLUMN caller_meta TO caller_meta_moved;
ALTER TABLE ws.events ADD COLUMN caller_meta text;
SELECT * FROM pg_temp.try($$SELECT ws.transition('act1', '{"n": 6}', meta => '{"x": 1}')$$);
ROLLBACK;

DROP OWNED BY regress_actor_app, regress_actor_team, regress_actor_member;
DROP ROLE regress_actor_app, regress_actor_member, regress_actor_team;
