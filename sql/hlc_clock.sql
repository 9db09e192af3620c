-- The node clock: ws.hlc_now() and ws.hlc_receive()
-- operators and aggregates of ws.hlc live in schema ws, like its functions
SET search_path = public, ws;
SET timezone = 'UTC';

-- strictly increasing within a session, stamped with worldstate.node_id
CREATE TEMP TABLE ticks AS
SELECT n, ws.hlc_now() AS h FROM generate_series(1, 20000) n;
SELECT count(*) AS decreases
FROM (SELECT h, lag(h) OVER (ORDER BY n) AS prev FROM ticks) t
WHERE prev IS NOT NULL AND NOT h > prev;
SELECT count(DISTINCT h) = count(*) AS all_distinct,
       bool_and(ws.hlc_node(h) = current_setting('worldstate.node_id')::int) AS stamped_with_node
FROM ticks;
-- close to the wall clock
SELECT abs(extract(epoch FROM ws.hlc_wall(ws.hlc_now()) - clock_timestamp())) < 1 AS near_wall_clock;

-- the system clock stepping one hour back does not move the clock back:
-- the wall stays and the counter grows
SELECT ws.hlc_now() AS before_step \gset
SET worldstate.clock_offset = '-1h';
SELECT ws.hlc_now() > :'before_step'::ws.hlc AS above_after_backwards_step,
       ws.hlc_wall(ws.hlc_now()) = ws.hlc_wall(:'before_step'::ws.hlc) AS wall_held,
       ws.hlc_counter(ws.hlc_now()) > 0 AS counter_advances;
RESET worldstate.clock_offset;

-- a forward step moves the wall with it
SET worldstate.clock_offset = '1s';
SELECT ws.hlc_wall(ws.hlc_now()) >= clock_timestamp() + interval '900 ms' AS follows_forward_step;
RESET worldstate.clock_offset;

-- receive within the allowed skew: the result is above both clocks
SELECT ws.hlc_now() AS local_before \gset
SELECT ws.hlc(clock_timestamp() + interval '200 ms', 4, 2) AS remote \gset
SELECT ws.hlc_receive(:'remote') AS received \gset
SELECT :'received'::ws.hlc > :'remote'::ws.hlc AS above_remote,
       :'received'::ws.hlc > :'local_before'::ws.hlc AS above_local,
       ws.hlc_node(:'received'::ws.hlc) = current_setting('worldstate.node_id')::int AS local_node,
       ws.hlc_now() > :'received'::ws.hlc AS next_now_above;

-- receive of a clock one hour ahead: WS508, counted, clock unchanged
SELECT value AS rejections_before FROM ws.stats() WHERE name = 'clock_skew_rejections' \gset
SELECT ws.hlc_now() AS last_before \gset
SELECT ws.hlc(clock_timestamp() + interval '1 hour', 0, 2) AS far_remote \gset
\set VERBOSITY sqlstate
SELECT ws.hlc_receive(:'far_remote');
SELECT ws.hlc_receive(ws.hlc('2999-01-01 00:00:00+00', 0, 7));
\set VERBOSITY default
SELECT ws.hlc_now() < :'far_remote'::ws.hlc AS clock_not_moved,
       ws.hlc_wall(ws.hlc_now()) < clock_timestamp() + interval '1 minute' AS still_near_wall,
       ws.hlc_now() > :'last_before'::ws.hlc AS still_increasing;
SELECT value - :rejections_before AS new_rejections FROM ws.stats() WHERE name = 'clock_skew_rejections';
SELECT value >= 3600 * 1000000::bigint AS max_skew_recorded FROM ws.stats() WHERE name = 'max_clock_skew_observed_us';

-- a larger allowance accepts what was refused
SET worldstate.max_clock_skew = '2s';
SELECT ws.hlc_receive(ws.hlc(clock_timestamp() + interval '1 s', 0, 2)) > :'last_before'::ws.hlc AS accepted_within_2s;
RESET worldstate.max_clock_skew;

-- privileges: anyone may read the clock; only worldstate's writers may
-- merge remote clocks into it, and only superusers may offset it
CREATE ROLE ws_clock_app LOGIN;
SET ROLE ws_clock_app;
SELECT ws.hlc_now() IS NOT NULL AS app_can_read_clock;
\set VERBOSITY sqlstate
SELECT ws.hlc_receive(ws.hlc(clock_timestamp(), 0, 2));
SET worldstate.clock_offset = '-1h';
SELECT * FROM ws.stats();
\set VERBOSITY default
RESET ROLE;
GRANT ws_writer TO ws_clock_app;
SET ROLE ws_clock_app;
SELECT ws.hlc_receive(ws.hlc(clock_timestamp(), 0, 2)) IS NOT NULL AS writer_can_receive;
SELECT count(*) > 0 AS writer_reads_stats FROM ws.stats();
RESET ROLE;
DROP ROLE ws_clock_app;
-- NULL is refused, not ignored
SELECT ws.hlc_receive(NULL);
