-- Time travel by timestamptz: every function that takes a moment as ws.hlc
-- also takes a timestamptz, meaning the greatest HLC of that microsecond
-- (history's from bound: the least).  String literals and NULL still
-- resolve to the ws.hlc functions.  ws.get_entity returns no row for an
-- entity that did not exist; ws.state_hash() and ws.state_hash(at) agree
-- about retired entities.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';

\i sql/include/try.sql

SELECT ws.register_module('qtz', 1);
SELECT ws.define_kind('tz_thing', 'qtz');
SELECT version FROM ws.create_entity('tz1', 'tz_thing', 'qtz', '{"n": 1}');
SELECT version FROM ws.create_entity('tz2', 'tz_thing', 'qtz', '{"n": 1}');
SELECT from_id FROM ws.link('tz1', 'knows', 'tz2');
SELECT version FROM ws.transition('tz1', '{"n": 2}');
SELECT version FROM ws.transition('tz1', '{"n": 3}');
SELECT version FROM ws.retire_entity('tz2');
SELECT version FROM ws.transition('tz1', '{"n": 4}');

-- Each event's wall time as a timestamptz means the greatest HLC of that
-- microsecond: the state after the last event stamped at or before it.
-- (Several events may share a microsecond; the checks hold either way.)
CREATE TEMP TABLE tz_moments AS
SELECT e.entity_id, ws.hlc_wall(e.hlc) AS t,
       (SELECT max(x.hlc) FROM ws.events x
        WHERE x.entity_id = e.entity_id AND ws.hlc_wall(x.hlc) <= ws.hlc_wall(e.hlc)) AS last_hlc
FROM ws.events e WHERE e.module = 'qtz';
SELECT count(*) AS moments,
       bool_and(ws.get_state(entity_id, t) IS NOT DISTINCT FROM ws.get_state(entity_id, last_hlc))
           AS get_state_agrees,
       bool_and(ws.get_state(entity_id, t)
                IS NOT DISTINCT FROM ws.get_state(entity_id, ws.hlc(t, 2147483647, 2147483647)))
           AS is_greatest_hlc_of_the_microsecond,
       bool_and((SELECT g::text FROM ws.get_entity(entity_id, t) g)
                IS NOT DISTINCT FROM (SELECT g::text FROM ws.get_entity(entity_id, last_hlc) g))
           AS get_entity_agrees,
       bool_and((SELECT array_agg(w::text ORDER BY w.entity_id) FROM ws.entities_at(t) w WHERE w.module = 'qtz')
                IS NOT DISTINCT FROM
                (SELECT array_agg(w::text ORDER BY w.entity_id) FROM ws.entities_at(ws.hlc(t, 2147483647, 2147483647)) w
                 WHERE w.module = 'qtz'))
           AS entities_at_agrees,
       bool_and((SELECT array_agg(f.entity_id ORDER BY f.entity_id) FROM ws.find('{"n": 1}', 10, 0, t) f
                 WHERE f.module = 'qtz')
                IS NOT DISTINCT FROM
                (SELECT array_agg(f.entity_id ORDER BY f.entity_id)
                 FROM ws.find('{"n": 1}', 10, 0, ws.hlc(t, 2147483647, 2147483647)) f WHERE f.module = 'qtz'))
           AS find_agrees,
       bool_and((SELECT count(*) FROM ws.neighbors('tz1', NULL, t))
                = (SELECT count(*) FROM ws.neighbors('tz1', NULL, ws.hlc(t, 2147483647, 2147483647))))
           AS neighbors_agrees,
       bool_and(ws.state_hash(t) = ws.state_hash(ws.hlc(t, 2147483647, 2147483647))) AS state_hash_agrees,
       -- history from t to t: every event of that microsecond
       bool_and((SELECT count(*) FROM ws.history(entity_id, t, t))
                = (SELECT count(*) FROM ws.events x
                   WHERE x.entity_id = tz_moments.entity_id AND ws.hlc_wall(x.hlc) = t))
           AS history_covers_the_microsecond
FROM tz_moments;
-- before an entity's first event it did not exist
SELECT ws.get_state('tz1', min(t) - interval '1 microsecond') AS before_creation,
       (SELECT count(*) FROM ws.get_entity('tz1', min(t) - interval '1 microsecond')) AS rows_before
FROM tz_moments WHERE entity_id = 'tz1';
-- the wall time of a fresh HLC (the node clock may run ahead of now()) is
-- the present
SELECT ws.hlc_wall(ws.hlc_now()) AS t_now \gset
SELECT ws.get_state('tz1', :'t_now'::timestamptz) AS present,
       (SELECT count(*) FROM ws.entities_at(:'t_now'::timestamptz) WHERE module = 'qtz') AS alive,
       ws.state_hash(:'t_now'::timestamptz) = ws.state_hash() AS hash_present;
-- infinity is the end of time, -infinity the beginning
SELECT ws.get_state('tz1', 'infinity'::timestamptz) AS at_infinity,
       ws.get_state('tz1', '-infinity'::timestamptz) AS at_minus_infinity;

-- string literals and NULL keep resolving to the ws.hlc functions
SELECT ws.get_state('tz1', NULL) AS null_is_now;
SELECT ws.get_state('tz1', '2000-01-01T00:00:00Z') AS literal_is_hlc;
SELECT * FROM pg_temp.try($$SELECT ws.get_state('tz1', '2000-01-01 00:00:00+00')$$);
SELECT count(*) FROM ws.entities_at(NULL) WHERE module = 'qtz';
SELECT count(*) FROM ws.history('tz1', NULL, NULL);
SELECT count(*) FROM ws.find('{"n": 2}', 10, 0, NULL) WHERE module = 'qtz';
SELECT count(*) FROM ws.neighbors('tz1', NULL, NULL);
SELECT ws.state_hash(NULL) = ws.state_hash() AS null_hash;
SELECT p.oid::regprocedure AS moment_functions
FROM pg_proc p WHERE p.pronamespace = 'ws'::regnamespace
  AND 'timestamptz'::regtype = ANY (p.proargtypes)
  AND p.proname IN ('get_state', 'get_entity', 'entities_at', 'find', 'history', 'neighbors', 'state_hash')
ORDER BY 1::text;

-- get_entity: no row, not a row of NULLs
SELECT count(*) AS missing FROM ws.get_entity('tz-none');
SELECT count(*) AS before_creation FROM ws.get_entity('tz1', ws.hlc('2000-01-01'::timestamptz));
SELECT count(*) AS retired FROM ws.get_entity('tz2');
SELECT entity_id, version, retired FROM ws.get_entity('tz1');

-- state_hash at the present moment equals the present, retired entities
-- included (1.0 left them out of the past)
SELECT ws.state_hash() = ws.state_hash(ws.hlc_now()) AS agree_with_retired;
SELECT count(*) AS retired_entities FROM ws.entities WHERE retired AND module = 'qtz';
