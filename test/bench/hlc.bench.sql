-- hlc benchmark: the node clock against clock_timestamp(), and sorting
-- hlc against sorting timestamptz, in the same run.
-- Targets: hlc_now / clock_timestamp <= 1.5; sort hlc / sort timestamptz <= 1.3.
--
-- Sorting is measured twice.  A query that sorts a single by-value column
-- (timestamptz) gets PostgreSQL 15's datum sort, which skips building
-- tuples; a 16-byte type passed by reference cannot, so the single-column
-- figure compares different executor paths.  Sorting rows (id, key) by key
-- uses a tuple sort for both and compares the types themselves.
\pset footer off

CREATE TEMP TABLE results (what text, seconds float8);

INSERT INTO results
SELECT 'clock_timestamp() x 1M',
       ws_bench_median('SELECT count(x) FROM (SELECT clock_timestamp() AS x FROM generate_series(1, 1000000)) s');
INSERT INTO results
SELECT 'ws.hlc_now() x 1M',
       ws_bench_median('SELECT count(x) FROM (SELECT ws.hlc_now() AS x FROM generate_series(1, 1000000)) s');

-- the same 1M wall times as timestamptz and as hlc (random counters and
-- nodes), in random order
SELECT setseed(0.3);
CREATE TABLE sort_ts AS
SELECT i AS id,
       timestamptz '2026-01-01 00:00:00+00' + (random() * 86400e6)::bigint * interval '1 microsecond' AS t,
       (random() * 100)::int AS c, (random() * 8)::int AS n
FROM generate_series(1, 1000000) i;
CREATE TABLE sort_hlc AS SELECT id, ws.hlc(t, c, n) AS h FROM sort_ts;
ALTER TABLE sort_ts DROP COLUMN c, DROP COLUMN n;
VACUUM ANALYZE sort_ts;
VACUUM ANALYZE sort_hlc;

INSERT INTO results
SELECT 'sort 1M timestamptz',
       ws_bench_median('SELECT t FROM sort_ts ORDER BY t OFFSET 1000000');
INSERT INTO results
SELECT 'sort 1M hlc',
       ws_bench_median('SELECT h FROM sort_hlc ORDER BY h OFFSET 1000000');
INSERT INTO results
SELECT 'sort 1M rows by timestamptz',
       ws_bench_median('SELECT id, t FROM sort_ts ORDER BY t OFFSET 1000000');
INSERT INTO results
SELECT 'sort 1M rows by hlc',
       ws_bench_median('SELECT id, h FROM sort_hlc ORDER BY h OFFSET 1000000');

SELECT what, round(seconds::numeric, 3) AS median_seconds FROM results;

\x on
SELECT round(((SELECT seconds FROM results WHERE what = 'ws.hlc_now() x 1M') /
              (SELECT seconds FROM results WHERE what = 'clock_timestamp() x 1M'))::numeric, 2)
           AS "ratio hlc_now/clock_timestamp (target <= 1.5)",
       round(((SELECT seconds FROM results WHERE what = 'sort 1M hlc') /
              (SELECT seconds FROM results WHERE what = 'sort 1M timestamptz'))::numeric, 2)
           AS "ratio sort hlc/timestamptz, single column",
       round(((SELECT seconds FROM results WHERE what = 'sort 1M rows by hlc') /
              (SELECT seconds FROM results WHERE what = 'sort 1M rows by timestamptz'))::numeric, 2)
           AS "ratio sort rows by hlc/timestamptz";

DROP TABLE sort_ts, sort_hlc;
