-- ws.hlc: total order (wall, counter, node), operators, sorting, and btree,
-- hash and BRIN index scans agreeing with sequential scans
-- operators and aggregates of ws.hlc live in schema ws, like its functions
SET search_path = public, ws;
SET timezone = 'UTC';
SELECT setseed(0.17);

-- values with many ties in each component, so every tie-break is exercised
CREATE TABLE hlc_vals AS
SELECT i,
       ws.hlc(timestamptz '2026-01-01 00:00:00+00' + (floor(random() * 50))::int * interval '1 microsecond',
              (random() * 4)::int, (random() * 3)::int) AS h
FROM generate_series(1, 20000) i;

-- every operator against the tuple comparison, over 40000 pairs
CREATE TEMP TABLE pairs AS
SELECT a.h AS a, b.h AS b FROM
    (SELECT h FROM hlc_vals WHERE i <= 200) a,
    (SELECT h FROM hlc_vals WHERE i > 19800) b;
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE (a = b) IS DISTINCT FROM (ta = tb)) AS eq_wrong,
       count(*) FILTER (WHERE (a <> b) IS DISTINCT FROM (ta <> tb)) AS ne_wrong,
       count(*) FILTER (WHERE (a < b) IS DISTINCT FROM (ta < tb)) AS lt_wrong,
       count(*) FILTER (WHERE (a <= b) IS DISTINCT FROM (ta <= tb)) AS le_wrong,
       count(*) FILTER (WHERE (a > b) IS DISTINCT FROM (ta > tb)) AS gt_wrong,
       count(*) FILTER (WHERE (a >= b) IS DISTINCT FROM (ta >= tb)) AS ge_wrong,
       count(*) FILTER (WHERE sign(ws.hlc_cmp(a, b)) <> CASE WHEN ta < tb THEN -1 WHEN ta > tb THEN 1 ELSE 0 END) AS cmp_wrong,
       count(*) FILTER (WHERE a = b AND ws.hlc_hash(a) <> ws.hlc_hash(b)) AS hash_wrong,
       count(*) FILTER (WHERE a = b AND ws.hlc_hash_extended(a, 7) <> ws.hlc_hash_extended(b, 7)) AS hash_ext_wrong,
       count(*) FILTER (WHERE a = b) > 0 AS some_equal,
       count(*) FILTER (WHERE a < b) > 0 AS some_less,
       count(*) FILTER (WHERE a > b) > 0 AS some_greater
FROM (SELECT a, b,
             ROW(ws.hlc_wall(a), ws.hlc_counter(a), ws.hlc_node(a)) AS ta,
             ROW(ws.hlc_wall(b), ws.hlc_counter(b), ws.hlc_node(b)) AS tb
      FROM pairs) p;

-- the seed changes the extended hash
SELECT ws.hlc_hash_extended('2026-01-01T00:00:00Z', 0) <> ws.hlc_hash_extended('2026-01-01T00:00:00Z', 1) AS seeded;

-- ORDER BY hlc (sort support with abbreviated keys) = ORDER BY the tuple
SELECT count(*) AS sort_mismatches
FROM (SELECT row_number() OVER (ORDER BY h) AS rn, h FROM hlc_vals) a
JOIN (SELECT row_number() OVER (ORDER BY ws.hlc_wall(h), ws.hlc_counter(h), ws.hlc_node(h)) AS rn, h FROM hlc_vals) b
  USING (rn)
WHERE a.h <> b.h;
SELECT count(*) AS desc_sort_mismatches
FROM (SELECT row_number() OVER (ORDER BY h DESC) AS rn, h FROM hlc_vals) a
JOIN (SELECT row_number() OVER (ORDER BY ws.hlc_wall(h) DESC, ws.hlc_counter(h) DESC, ws.hlc_node(h) DESC) AS rn, h FROM hlc_vals) b
  USING (rn)
WHERE a.h <> b.h;

-- min and max
SELECT ws.min(h) = (SELECT h FROM hlc_vals ORDER BY h LIMIT 1) AS min_ok,
       ws.max(h) = (SELECT h FROM hlc_vals ORDER BY h DESC LIMIT 1) AS max_ok,
       ws.min(h) < ws.max(h) AS distinct_ends
FROM hlc_vals;
SELECT ws.max(h) IS NULL AS max_of_nothing FROM hlc_vals WHERE false;

-- DISTINCT and GROUP BY through hashing and sorting agree
SET enable_hashagg = on;
SELECT count(*) AS groups_hashed FROM (SELECT h FROM hlc_vals GROUP BY h) s \gset
SET enable_hashagg = off;
SELECT count(*) = :groups_hashed AS groups_sorted_agree FROM (SELECT h FROM hlc_vals GROUP BY h) s;
RESET enable_hashagg;

-- the answers of a sequential scan, kept for comparison
CREATE TEMP TABLE probes AS
SELECT h AS p FROM hlc_vals WHERE i % 2000 = 0;
CREATE TEMP TABLE seq_answers AS
SELECT p,
       (SELECT count(*) FROM hlc_vals WHERE h = p) AS eq,
       (SELECT count(*) FROM hlc_vals WHERE h < p) AS lt,
       (SELECT count(*) FROM hlc_vals WHERE h <= p) AS le,
       (SELECT count(*) FROM hlc_vals WHERE h > p) AS gt,
       (SELECT count(*) FROM hlc_vals WHERE h >= p) AS ge
FROM probes;
SELECT count(*) AS probes, bool_and(eq > 0) AS all_found FROM seq_answers;

-- btree
CREATE INDEX hlc_vals_btree ON hlc_vals USING btree (h);
ANALYZE hlc_vals;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM hlc_vals WHERE h < '2026-01-01T00:00:00.000025Z';
SELECT count(*) AS btree_disagreements
FROM seq_answers
WHERE eq <> (SELECT count(*) FROM hlc_vals WHERE h = p)
   OR lt <> (SELECT count(*) FROM hlc_vals WHERE h < p)
   OR le <> (SELECT count(*) FROM hlc_vals WHERE h <= p)
   OR gt <> (SELECT count(*) FROM hlc_vals WHERE h > p)
   OR ge <> (SELECT count(*) FROM hlc_vals WHERE h >= p);
-- an index-ordered scan returns the same sequence as a sort
SELECT count(*) AS index_order_mismatches
FROM (SELECT row_number() OVER () AS rn, h FROM (SELECT h FROM hlc_vals ORDER BY h) o) a
JOIN (SELECT row_number() OVER (ORDER BY ws.hlc_wall(h), ws.hlc_counter(h), ws.hlc_node(h)) AS rn, h FROM hlc_vals) b
  USING (rn)
WHERE a.h <> b.h;
DROP INDEX hlc_vals_btree;

-- hash
CREATE INDEX hlc_vals_hash ON hlc_vals USING hash (h);
EXPLAIN (COSTS OFF) SELECT count(*) FROM hlc_vals WHERE h = '2026-01-01T00:00:00.000025Z';
SELECT count(*) AS hash_disagreements
FROM seq_answers
WHERE eq <> (SELECT count(*) FROM hlc_vals WHERE h = p);
DROP INDEX hlc_vals_hash;

-- BRIN (minmax), on a table laid out in hlc order as an event log is
CREATE TABLE hlc_log AS SELECT h FROM hlc_vals ORDER BY h;
CREATE INDEX hlc_log_brin ON hlc_log USING brin (h) WITH (pages_per_range = 2);
ANALYZE hlc_log;
SET enable_bitmapscan = on;
EXPLAIN (COSTS OFF) SELECT count(*) FROM hlc_log WHERE h > '2026-01-01T00:00:00.000025Z';
SELECT count(*) AS brin_disagreements
FROM seq_answers
WHERE eq <> (SELECT count(*) FROM hlc_log WHERE h = p)
   OR lt <> (SELECT count(*) FROM hlc_log WHERE h < p)
   OR le <> (SELECT count(*) FROM hlc_log WHERE h <= p)
   OR gt <> (SELECT count(*) FROM hlc_log WHERE h > p)
   OR ge <> (SELECT count(*) FROM hlc_log WHERE h >= p);
RESET enable_seqscan;
RESET enable_bitmapscan;

-- unique index on hlc
CREATE TABLE hlc_unique (h ws.hlc PRIMARY KEY);
INSERT INTO hlc_unique VALUES ('2026-01-01T00:00:00Z/1@1'), ('2026-01-01T00:00:00Z/1@2');
\set VERBOSITY sqlstate
INSERT INTO hlc_unique VALUES ('2026-01-01T00:00:00.000000Z/1@1');
\set VERBOSITY default

DROP TABLE hlc_vals, hlc_log, hlc_unique;
