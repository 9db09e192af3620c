-- Module roles in two tiers: a writer changes the module's entities and
-- publishes its events; an admin of the module also defines its kinds,
-- constraints and event schemas; ws_admin may do everything.  Tested as
-- the attacker: a member of ws_writer holding a writer grant, with hostile
-- objects in pg_temp and public.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_tier_writer, regress_tier_owner, regress_tier_ops, regress_tier_team,
                    regress_tier_member;
RESET client_min_messages;

CREATE ROLE regress_tier_writer LOGIN IN ROLE ws_writer;
CREATE ROLE regress_tier_owner LOGIN IN ROLE ws_writer;
CREATE ROLE regress_tier_ops LOGIN IN ROLE ws_admin;
CREATE ROLE regress_tier_team NOLOGIN IN ROLE ws_writer;
CREATE ROLE regress_tier_member LOGIN IN ROLE regress_tier_team;
GRANT CREATE ON SCHEMA public TO regress_tier_writer, regress_tier_owner;

-- a ws_admin (not a superuser) registers and grants; the module admin
-- defines the catalog
SET ROLE regress_tier_ops;
SELECT ws.register_module('tier_bank', 1);
SELECT ws.register_module('tier_other', 1);
SELECT ws.grant_module('tier_bank', 'regress_tier_writer');
SELECT ws.grant_module('tier_bank', 'regress_tier_owner', admin => true);
RESET ROLE;
SELECT module, role, admin FROM ws.module_grants WHERE module LIKE 'tier_%' ORDER BY 1, 2::text;

SET ROLE regress_tier_owner;
SELECT ws.define_kind('tier_account', 'tier_bank', 'lww', ARRAY['balance']);
SELECT ws.add_constraint('tier_account', 'balance_not_negative', '$.balance >= 0');
SELECT ws.register_event_schema('tier_bank', 'deposit', 1, ARRAY['$.balance > 0']::jsonpath[]);
RESET ROLE;

------------------------------------------------------------------------
-- a writer writes, within the constraints ...
------------------------------------------------------------------------

SET ROLE regress_tier_writer;
SELECT entity_id, version, state FROM ws.create_entity('tier-a1', 'tier_account', 'tier_bank', '{"balance": 5}');
SELECT entity_id, version, state FROM ws.transition('tier-a1', '{"balance": -2}');
SELECT * FROM pg_temp.try($$SELECT ws.transition('tier-a1', '{"balance": -10}')$$);
SELECT ws.publish('tier_bank', 'deposit', '{"balance": 1}') IS NOT NULL AS published;

------------------------------------------------------------------------
-- ... and cannot change them: no weaker constraint, no dropped one, no
-- redefined kind or event schema, no grant
------------------------------------------------------------------------

-- hostile objects the functions must not pick up
CREATE FUNCTION public.jsonb_path_match(jsonb, jsonpath, jsonb, boolean) RETURNS boolean
    LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION pg_temp.jsonb_path_match(jsonb, jsonpath, jsonb, boolean) RETURNS boolean
    LANGUAGE sql AS 'SELECT true';
CREATE TABLE public.module_grants (module text, role regrole, admin boolean);
INSERT INTO public.module_grants VALUES ('tier_bank', 'regress_tier_writer', true);

SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('tier_account', 'balance_not_negative', '$.balance >= -1000000')$$);
SELECT * FROM pg_temp.try($$SELECT ws.add_constraint('tier_account', 'anything', '$.balance >= -1000000')$$);
SELECT * FROM pg_temp.try($$SELECT ws.drop_constraint('tier_account', 'balance_not_negative')$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('tier_account', 'tier_bank', 'lww', ARRAY['balance', 'free'])$$);
SELECT * FROM pg_temp.try($$SELECT ws.define_kind('tier_loan', 'tier_bank')$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_event_schema('tier_bank', 'deposit', 2, '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.grant_module('tier_bank', 'regress_tier_writer', admin => true)$$);
SELECT * FROM pg_temp.try($$SELECT ws.revoke_module('tier_bank', 'regress_tier_owner')$$);
SELECT * FROM pg_temp.try($$SELECT ws.register_module('tier_mine', 1)$$);
SELECT * FROM pg_temp.try($$SELECT ws.delete_snapshot(1)$$);
SELECT * FROM pg_temp.try($$SELECT ws.archive_events(ws.hlc_now())$$);
RESET ROLE;

-- nothing changed
SELECT kind, counters FROM ws.kinds WHERE module = 'tier_bank' ORDER BY kind;
SELECT name, predicate FROM ws.constraints WHERE kind = 'tier_account' ORDER BY name;
SELECT event_type, version FROM ws.event_schemas WHERE module = 'tier_bank' ORDER BY 1, 2;
SELECT module, role, admin FROM ws.module_grants WHERE module LIKE 'tier_%' ORDER BY 1, 2::text;
SELECT count(*) AS modules FROM ws.modules WHERE name = 'tier_mine';

------------------------------------------------------------------------
-- a module admin: its own module only, and no grants
------------------------------------------------------------------------

SET ROLE regress_tier_owner;
-- existing entities are checked with the real jsonb_path_match, whatever
-- is planted in pg_temp and public (above)
SELECT code, message, detail FROM pg_temp.try($$SELECT ws.add_constraint('tier_account', 'at_least_ten', '$.balance >= 10')$$);
SELECT ws.add_constraint('tier_account', 'below_a_million', '$.balance < 1000000');
SELECT ws.drop_constraint('tier_account', 'below_a_million');
SELECT ws.define_kind('tier_loan', 'tier_bank', 'merge');
SELECT ws.register_event_schema('tier_bank', 'deposit', 2, '{}');
SELECT code, message FROM pg_temp.try($$SELECT ws.define_kind('tier_thing', 'tier_other')$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.register_event_schema('tier_other', 'x', 1, '{}')$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.grant_module('tier_bank', 'regress_tier_team')$$);
-- and as a writer of its module it writes
SELECT entity_id, version FROM ws.create_entity('tier-l1', 'tier_loan', 'tier_bank', '{}');
RESET ROLE;

------------------------------------------------------------------------
-- ws_admin does everything, on every module, without a module grant
------------------------------------------------------------------------

SET ROLE regress_tier_ops;
SELECT ws.define_kind('tier_thing', 'tier_other');
SELECT ws.add_constraint('tier_thing', 'named', 'exists($.name)');
SELECT entity_id, version FROM ws.create_entity('tier-t1', 'tier_thing', 'tier_other', '{"name": "t"}');
SELECT ws.drop_constraint('tier_thing', 'named');
RESET ROLE;

------------------------------------------------------------------------
-- tiers change and go: granting again sets the tier, revoking removes it
-- (for members of the granted role too), at once for cached grants
------------------------------------------------------------------------

SET ROLE regress_tier_ops;
SELECT ws.grant_module('tier_bank', 'regress_tier_owner');
SELECT ws.grant_module('tier_bank', 'regress_tier_team', admin => true);
RESET ROLE;
SET ROLE regress_tier_owner;
SELECT code, message FROM pg_temp.try($$SELECT ws.add_constraint('tier_account', 'c', '$.balance < 100')$$);
RESET ROLE;
SET ROLE regress_tier_member;
SELECT ws.add_constraint('tier_account', 'below_a_million', '$.balance < 1000000');
RESET ROLE;

SET ROLE regress_tier_ops;
SELECT ws.revoke_module('tier_bank', 'regress_tier_writer');
SELECT ws.revoke_module('tier_bank', 'regress_tier_team');
SELECT * FROM pg_temp.try($$SELECT ws.revoke_module('tier_bank', 'regress_tier_writer')$$);
SELECT * FROM pg_temp.try($$SELECT ws.revoke_module('tier_bank', 'regress_tier_member')$$);
SELECT * FROM pg_temp.try($$SELECT ws.revoke_module('tier_nomodule', 'regress_tier_writer')$$);
SELECT * FROM pg_temp.try($$SELECT ws.revoke_module('tier_bank', 'regress_tier_nobody')$$);
RESET ROLE;
SET ROLE regress_tier_writer;
SELECT code, message FROM pg_temp.try($$SELECT ws.transition('tier-a1', '{"balance": 1}')$$);
RESET ROLE;
SET ROLE regress_tier_member;
SELECT code, message FROM pg_temp.try($$SELECT ws.drop_constraint('tier_account', 'below_a_million')$$);
RESET ROLE;
SELECT module, role, admin FROM ws.module_grants WHERE module LIKE 'tier_%' ORDER BY 1, 2::text;

DROP TABLE public.module_grants;
DROP FUNCTION public.jsonb_path_match(jsonb, jsonpath, jsonb, boolean);
DROP FUNCTION pg_temp.jsonb_path_match(jsonb, jsonpath, jsonb, boolean);
REVOKE CREATE ON SCHEMA public FROM regress_tier_writer, regress_tier_owner;
DELETE FROM ws.module_grants WHERE module LIKE 'tier_%';
DROP ROLE regress_tier_writer, regress_tier_owner, regress_tier_ops, regress_tier_member, regress_tier_team;
