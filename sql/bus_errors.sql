-- The event bus refuses bad calls with the SQLSTATEs of DESIGN.md
-- section 8: WS401 handshake, 42501 module grant, WS422 schema, 22023 bad
-- parameters, 0A000 where the safe horizon cannot be kept (prepared
-- transactions: test/t/007_bus_durability.pl)
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

SELECT ws.register_module('mail', 1);
SELECT ws.register_event_schema('mail', 'sent', 1, ARRAY['exists($.to)']::jsonpath[]);
SELECT ws.subscribe('mail.archive', 'mail', '%');

------------------------------------------------------------------------
-- ws.publish
------------------------------------------------------------------------

-- WS401: missing or wrong handshake
RESET worldstate.handshake;
SELECT * FROM pg_temp.try($$SELECT ws.publish('mail', 'sent', '{"to": "a"}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.publish('mail', 'sent', '{"to": "a"}', handshake => '00-00-00')$$);
SELECT ws.publish('mail', 'sent', '{"to": "a"}', handshake => '55-45-17') IS NOT NULL AS with_argument;
SET worldstate.handshake = '55-45-17';
-- 22023: missing arguments
SELECT * FROM pg_temp.try($$SELECT ws.publish(NULL, 'sent', '{"to": "a"}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.publish('mail', '', '{"to": "a"}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.publish('mail', 'sent', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.publish('mail', 'sent', '{"to": "a"}', NULL)$$);
-- WS422: no schema (also for a module that does not exist, to a superuser)
SELECT * FROM pg_temp.try($$SELECT ws.publish('nosuchmodule', 'sent', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.publish('mail', repeat('x', 100), '{}')$$);
SELECT * FROM pg_temp.try($$SELECT ws.publish('mail', 'sent', '{"to": "a"}', 0)$$);

------------------------------------------------------------------------
-- ws.subscribe, ws.unsubscribe
------------------------------------------------------------------------

SELECT * FROM pg_temp.try($$SELECT ws.subscribe(NULL, '%', '%')$$);
SELECT * FROM pg_temp.try($$SELECT ws.subscribe('mail.x', NULL, '%')$$);
SELECT * FROM pg_temp.try($$SELECT ws.subscribe('mail.x', '%', '')$$);
SELECT * FROM pg_temp.try($$SELECT ws.subscribe('.x', '%', '%')$$);
SELECT * FROM pg_temp.try($$SELECT ws.subscribe('mail.', '%', '%')$$);
SELECT * FROM pg_temp.try($$SELECT ws.subscribe('nosuchmodule.x', '%', '%')$$);
SELECT * FROM pg_temp.try($$SELECT ws.subscribe('mail.' || repeat('x', 200), '%', '%')$$);
SELECT * FROM pg_temp.try($$SELECT ws.unsubscribe('mail.nobody')$$);
SELECT * FROM pg_temp.try($$SELECT ws.unsubscribe(NULL)$$);

------------------------------------------------------------------------
-- ws.poll, ws.ack
------------------------------------------------------------------------

SELECT * FROM pg_temp.try($$SELECT * FROM ws.poll('mail.archive', 0)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.poll('mail.archive', -1)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.poll('mail.archive', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.poll('mail.nobody', 10)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM ws.poll(NULL, 10)$$);
SELECT * FROM pg_temp.try($$SELECT ws.ack('mail.archive', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.ack('mail.nobody', ws.hlc_now())$$);
-- a transaction snapshot would predate the safe horizon
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM pg_temp.try($$SELECT * FROM ws.poll('mail.archive', 10)$$);
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT * FROM pg_temp.try($$SELECT * FROM ws.poll('mail.archive', 10)$$);
ROLLBACK;
-- READ COMMITTED works
SELECT event_type, patch FROM ws.poll('mail.archive', 10);

------------------------------------------------------------------------
-- 42501: the subscriber's module must be granted; reading others' is fine
------------------------------------------------------------------------

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_bus_reader, regress_bus_app;
RESET client_min_messages;
CREATE ROLE regress_bus_app IN ROLE ws_writer;
CREATE ROLE regress_bus_reader IN ROLE ws_reader;
SELECT ws.register_module('crm', 1);
SELECT ws.grant_module('crm', 'regress_bus_app');

SET ROLE regress_bus_app;
SELECT code, message FROM pg_temp.try($$SELECT ws.publish('mail', 'sent', '{"to": "a"}')$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.subscribe('mail.spy', '%', '%')$$);
SELECT code, message FROM pg_temp.try($$SELECT * FROM ws.poll('mail.archive', 10)$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.ack('mail.archive', ws.hlc_now())$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.unsubscribe('mail.archive')$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.register_event_schema('mail', 'sent', 2, '{}')$$);
-- its own module's subscriber may read mail's events
SELECT ws.subscribe('crm.mail_watch', 'mail', 'sent');
SELECT patch FROM ws.poll('crm.mail_watch', 10);
RESET ROLE;

-- ws_reader may read the bus tables but call none of the functions
SET ROLE regress_bus_reader;
SELECT count(*) >= 1 AS can_read FROM ws.subscribers WHERE subscriber = 'crm.mail_watch';
SELECT code, message FROM pg_temp.try($$SELECT * FROM ws.poll('crm.mail_watch', 10)$$);
SELECT code, message FROM pg_temp.try($$SELECT ws.publish('crm', 'x', '{}')$$);
SELECT code, message FROM pg_temp.try($$INSERT INTO ws.subscribers VALUES ('crm.fake', 'crm', ws.hlc_now())$$);
SELECT code, message FROM pg_temp.try($$UPDATE ws.subscribers SET position = ws.hlc_now()$$);
RESET ROLE;

SELECT ws.unsubscribe('crm.mail_watch');
DELETE FROM ws.module_grants WHERE role = 'regress_bus_app'::regrole;
DROP ROLE regress_bus_app, regress_bus_reader;
