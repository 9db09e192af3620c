-- bus_scan benchmark: what a poll costs a subscriber whose patterns match
-- few events, against one matching everything, in the same run.
--
-- The log holds 100,000 bus events of one module: the first 1,000 are of
-- type 'rare', every 99th of the rest of type 'spread' (about 1,000), the
-- others 'common'.  Four subscribers poll with max 100:
--
--   all          matches everything; never acknowledges, so every poll
--                returns the log's first 100 events: the baseline, the
--                cost of returning 100 events;
--   rare, later  matches 'rare' (1 % of the log), has received and
--                acknowledged all of them, so it is caught up 99,000
--                events behind the end of the log: each poll returns
--                nothing.  Its first poll stepped over the 99,000 and
--                moved the scan marks of its patterns past them;
--   rare, first  the same subscriber with its marks cleared before every
--                poll, as every poll was before the marks (and as the
--                first poll is): it reads the 99,000 events again;
--   spread       matches 'spread' (1 %, spread over the log), never
--                acknowledges: each poll returns the same 100 events,
--                which lie among about 9,900 others it reads each time
--                (the marks skip what lies before a subscriber's first
--                event, not what lies between its events).
--
-- Each figure is the median of 5 runs (after a warm-up) of a statement of
-- 50 polls (5 for 'rare, first'), per poll; 5 rounds take turns so that
-- load from elsewhere falls on all, every round is printed, then the
-- medians and their ratios.  Target: rare, later / all <= 1.
\pset footer off
SET worldstate.handshake = '55-45-17';

\o /dev/null
SELECT ws.register_module('bscan', 1);
SELECT ws.register_event_schema('bscan', t, 1, '{}') FROM unnest(ARRAY['rare', 'spread', 'common']) t;
SELECT ws.subscribe('bscan.all', 'bscan', '%');
SELECT ws.subscribe('bscan.rare', 'bscan', 'rare');
SELECT ws.subscribe('bscan.spread', 'bscan', 'spread');
\o
SELECT count(ws.publish('bscan', CASE WHEN i <= 1000 THEN 'rare' WHEN i % 99 = 0 THEN 'spread' ELSE 'common' END,
                        jsonb_build_object('i', i)))
       AS events
FROM generate_series(1, 100000) i;
VACUUM ANALYZE ws.events;

-- rare: receive and acknowledge its 1,000 events, then one poll that
-- steps over the 99,000 after them
SELECT count(*) AS rare_received, ws.ack('bscan.rare', ws.max(hlc)) IS NULL AS acked
FROM ws.poll('bscan.rare', 1000);
SELECT count(*) AS rare_after_ack FROM ws.poll('bscan.rare', 100);
SELECT subscriber, scanned IS NOT NULL AS marked FROM ws.subscriptions
WHERE subscriber LIKE 'bscan.%' ORDER BY 1;

-- n polls of rare with its marks cleared before each
CREATE FUNCTION bscan_rare_first(n int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    got bigint := 0;
BEGIN
    FOR i IN 1 .. n LOOP
        UPDATE ws.subscriptions SET scanned = NULL WHERE subscriber = 'bscan.rare';
        got := got + (SELECT count(*) FROM ws.poll('bscan.rare', 100));
    END LOOP;
    RETURN got;
END
$$;

CREATE TEMP TABLE results (round int, what text, ms_per_poll float8);
CREATE FUNCTION bscan_round(r int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO results
    SELECT r, 'all', 1000 * ws_bench_median(
        'SELECT count(*) FROM generate_series(1, 50) g, LATERAL ws.poll(''bscan.all'', 100 + 0 * g)') / 50;
    INSERT INTO results
    SELECT r, 'rare, later', 1000 * ws_bench_median(
        'SELECT count(*) FROM generate_series(1, 50) g, LATERAL ws.poll(''bscan.rare'', 100 + 0 * g)') / 50;
    INSERT INTO results
    SELECT r, 'rare, first', 1000 * ws_bench_median('SELECT bscan_rare_first(5)') / 5;
    INSERT INTO results
    SELECT r, 'spread', 1000 * ws_bench_median(
        'SELECT count(*) FROM generate_series(1, 50) g, LATERAL ws.poll(''bscan.spread'', 100 + 0 * g)') / 50;
END
$$;
\o /dev/null
SELECT bscan_round(r) FROM generate_series(1, 5) r;
\o
-- the marks are back where the first poll of rare put them
SELECT count(*) AS rare_after_rounds FROM ws.poll('bscan.rare', 100);

SELECT round, what, round(ms_per_poll::numeric, 3) AS ms_per_poll FROM results ORDER BY round, what;

CREATE TEMP TABLE medians AS
SELECT what, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms_per_poll) AS ms
FROM results GROUP BY what;
SELECT what, round(ms::numeric, 3) AS median_ms_per_poll FROM medians ORDER BY ms;

SELECT v.ratio, round((n.ms / d.ms)::numeric, 3) AS value,
       CASE WHEN v.target IS NULL THEN '' WHEN n.ms / d.ms <= v.target THEN 'met' ELSE 'NOT met' END AS result
FROM (VALUES (1, 'rare, later / all (target <= 1)', 'rare, later', 'all', 1.0),
             (2, 'rare, first / all (every poll before the marks)', 'rare, first', 'all', NULL),
             (3, 'rare, first / rare, later', 'rare, first', 'rare, later', NULL),
             (4, 'spread / all (events among others: still read)', 'spread', 'all', NULL))
     v(ord, ratio, num, den, target)
JOIN medians n ON n.what = v.num
JOIN medians d ON d.what = v.den
ORDER BY v.ord;

\o /dev/null
SELECT ws.unsubscribe(s) FROM unnest(ARRAY['bscan.all', 'bscan.rare', 'bscan.spread']) s;
\o
DROP FUNCTION bscan_round(int);
DROP FUNCTION bscan_rare_first(int);
