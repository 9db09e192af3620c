-- The pure HLC rules of Kulkarni et al. (2014), "Logical Physical Clocks":
-- ws.hlc_tick, alias ws.hlc_send (local or send event), and ws.hlc_merge
-- (receive event)
-- operators and aggregates of ws.hlc live in schema ws, like its functions
SET search_path = public, ws;
SET timezone = 'UTC';

-- send: physical clock ahead -> wall = pt, counter 0, the given node
SELECT ws.hlc_send('2026-01-01T00:00:00Z/7@1', '2026-01-01 00:00:01+00', 2);
-- send: physical clock behind or equal -> wall kept, counter + 1
SELECT ws.hlc_send('2026-01-01T00:00:01Z/7@1', '2026-01-01 00:00:00+00', 2);
SELECT ws.hlc_send('2026-01-01T00:00:01Z/7@1', '2026-01-01 00:00:01+00', 2);

-- receive, the paper's cases:
-- remote ahead of local and of pt -> remote wall, remote counter + 1
SELECT ws.hlc_merge('2026-01-01T00:00:00Z/3@1', '2026-01-01T00:00:05Z/9@2', '2026-01-01 00:00:01+00', 1);
-- local ahead of remote and of pt -> local wall, local counter + 1
SELECT ws.hlc_merge('2026-01-01T00:00:05Z/3@1', '2026-01-01T00:00:01Z/9@2', '2026-01-01 00:00:02+00', 1);
-- equal walls ahead of pt -> that wall, max(counters) + 1
SELECT ws.hlc_merge('2026-01-01T00:00:05Z/3@1', '2026-01-01T00:00:05Z/9@2', '2026-01-01 00:00:02+00', 1);
SELECT ws.hlc_merge('2026-01-01T00:00:05Z/12@1', '2026-01-01T00:00:05Z/9@2', '2026-01-01 00:00:02+00', 1);
-- wall clock ahead of both -> pt, counter 0
SELECT ws.hlc_merge('2026-01-01T00:00:05Z/3@1', '2026-01-01T00:00:04Z/9@2', '2026-01-01 00:00:09+00', 1);
-- pt equal to local wall, remote behind -> local counter + 1
SELECT ws.hlc_merge('2026-01-01T00:00:05Z/3@1', '2026-01-01T00:00:04Z/9@2', '2026-01-01 00:00:05+00', 1);

-- the counter never wraps: at INT32_MAX the wall advances by 1 microsecond
SELECT ws.hlc_send('2026-01-01T00:00:05Z/2147483647@1', '2026-01-01 00:00:00+00', 1);
SELECT ws.hlc_merge('2026-01-01T00:00:05Z/2147483647@1', '2026-01-01T00:00:05Z/5@2', '2026-01-01 00:00:00+00', 1);
SELECT ws.hlc_merge('2026-01-01T00:00:05Z/5@1', '2026-01-01T00:00:05Z/2147483647@2', '2026-01-01 00:00:00+00', 1);

-- laws over generated values:
--  send(prev) > prev, and its wall >= pt;
--  merge(l, r) > l and > r (as (wall, counter) pairs), and its wall >= pt
SELECT setseed(0.5);
CREATE TEMP TABLE rule_cases AS
SELECT ws.hlc(timestamptz '2026-01-01 00:00:00+00' + (random() * 10)::int * interval '1 microsecond',
              (random() * 3)::int + CASE WHEN random() < 0.05 THEN 2147483644 ELSE 0 END, 1) AS l,
       ws.hlc(timestamptz '2026-01-01 00:00:00+00' + (random() * 10)::int * interval '1 microsecond',
              (random() * 3)::int, 2) AS r,
       timestamptz '2026-01-01 00:00:00+00' + (random() * 10)::int * interval '1 microsecond' AS pt
FROM generate_series(1, 5000);
SELECT count(*) FILTER (WHERE NOT (ROW(ws.hlc_wall(s), ws.hlc_counter(s)) > ROW(ws.hlc_wall(l), ws.hlc_counter(l)))) AS send_not_after_prev,
       count(*) FILTER (WHERE ws.hlc_wall(s) < pt) AS send_behind_pt,
       count(*) FILTER (WHERE NOT (ROW(ws.hlc_wall(m), ws.hlc_counter(m)) > ROW(ws.hlc_wall(l), ws.hlc_counter(l)))) AS merge_not_after_local,
       count(*) FILTER (WHERE NOT (ROW(ws.hlc_wall(m), ws.hlc_counter(m)) > ROW(ws.hlc_wall(r), ws.hlc_counter(r)))) AS merge_not_after_remote,
       count(*) FILTER (WHERE ws.hlc_wall(m) < pt) AS merge_behind_pt,
       count(*) FILTER (WHERE ws.hlc_wall(m) > greatest(ws.hlc_wall(l), ws.hlc_wall(r), pt) + interval '1 microsecond') AS merge_wall_too_far,
       count(*) FILTER (WHERE ws.hlc_node(m) <> 3 OR ws.hlc_node(s) <> 3) AS wrong_node
FROM (SELECT l, r, pt, ws.hlc_send(l, pt, 3) AS s, ws.hlc_merge(l, r, pt, 3) AS m FROM rule_cases) x;

-- a chain of sends is strictly increasing whatever the physical clock does
WITH RECURSIVE chain(n, h) AS (
    SELECT 1, ws.hlc('2026-01-01 00:00:00+00', 0, 1)
  UNION ALL
    SELECT n + 1, ws.hlc_send(h, timestamptz '2026-01-01 00:00:00+00' + ((n * 7919) % 13 - 6) * interval '1 microsecond', 1)
    FROM chain WHERE n < 2000
)
SELECT count(*) AS chain_decreases
FROM (SELECT h, lag(h) OVER (ORDER BY n) AS prev FROM chain) c
WHERE prev IS NOT NULL AND NOT h > prev;

-- ws.hlc_tick is the send rule's name; ws.hlc_send(prev, wall, node), its
-- name in 1.0, is an alias and gives the same value for every case
SELECT ws.hlc_tick('2026-01-01T00:00:00Z/7@1', '2026-01-01 00:00:01+00', 2);
SELECT ws.hlc_tick('2026-01-01T00:00:01Z/7@1', '2026-01-01 00:00:00+00', 2);
SELECT ws.hlc_tick('2026-01-01T00:00:05Z/2147483647@1', '2026-01-01 00:00:00+00', 1);
SELECT count(*) FILTER (WHERE ws.hlc_tick(l, pt, 3) <> ws.hlc_send(l, pt, 3)) AS tick_differs_from_send,
       count(*) AS cases
FROM rule_cases;
