--
-- ws.vclock: vector clocks
--
-- pg_regress creates the extension (--load-extension).  Checks that must hold over
-- generated data print a count of violations, which must be 0.
--
\set SHOW_CONTEXT never
-- The operators live in schema ws, like everything else.
SET search_path = public, ws;

-- Runs a statement and returns the SQLSTATE, message and detail of the
-- error it raised ('00000' when it raised none).
CREATE FUNCTION pg_temp.vclock_error(stmt text,
									 OUT code text, OUT message text,
									 OUT detail text)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	code := '00000';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE,
							message = MESSAGE_TEXT,
							detail = PG_EXCEPTION_DETAIL;
END
$$;

--
-- Text input and output
--

-- Output is canonical: sorted by node, zero counters omitted, no spaces.
SELECT input, input::ws.vclock AS vclock
FROM (VALUES ('{}'), (' { } '), ('{1:3,2:5}'), ('{2:5,1:3}'),
			 (' { 2 : 5 , 1 : 3 } '), ('{1:0}'), ('{3:0,1:1,2:0}'),
			 ('{007:010}'), ('{0:1}'),
			 ('{2147483647:9223372036854775807,0:9223372036854775807}'))
	 AS t(input)
ORDER BY input;

-- Tabs, newlines and other whitespace between tokens are accepted.
SELECT E'\t{\n1\r:\f2\x0b,\n0:1 }\n'::ws.vclock;

-- Equal clocks are equal however they were written, down to the bytes.
SELECT '{2:5,1:3,9:0}'::ws.vclock = '{1:3,2:5}' AS eq,
	   '{2:5,1:3,9:0}'::ws.vclock <> '{1:3,2:5}' AS ne,
	   '{1:3}'::ws.vclock = '{1:3,2:5}' AS eq_shorter,
	   '{1:3,2:5}'::ws.vclock = '{1:3,2:6}' AS eq_other_count,
	   '{1:3,2:5}'::ws.vclock <> '{1:3,3:5}' AS ne_other_node,
	   '{1:0}'::ws.vclock = '{}' AS zero_is_empty,
	   pg_column_size('{2:5,1:3,9:0}'::ws.vclock) AS size;

-- NULL in, NULL out.
SELECT NULL::ws.vclock AS v, ws.vclock_tick(NULL, 1) AS tick,
	   ws.vclock_get(NULL, 1) AS get, ws.vclock_merge('{1:1}', NULL) AS merge,
	   ws.vclock_relation(NULL, '{}') AS relation,
	   '{}'::ws.vclock = NULL AS eq;

-- Every malformed input is refused with SQLSTATE 22P02, quoting the input.
SELECT input, e.code,
	   e.message = format('invalid input syntax for type vclock: "%s"', input)
		   AS message_ok,
	   e.detail
FROM (VALUES (1, ''), (2, '   '), (3, 'garbage'), (4, '1:2'), (5, '{'),
			 (6, '}'), (7, '{1:2'), (8, '1:2}'), (9, '{1:2}x'),
			 (10, '{1:2} ;'), (11, '{1:2}}'), (12, '{{1:2}}'), (13, '{,}'),
			 (14, '{1:2,}'), (15, '{,1:2}'), (16, '{1:2,,3:4}'), (17, '{1}'),
			 (18, '{1:}'), (19, '{:1}'), (20, '{1:2 3:4}'), (21, '{1 2:3}'),
			 (22, '{1:2;3:4}'), (23, '{1::2}'), (24, '{-1:2}'), (25, '{1:-2}'),
			 (26, '{+1:2}'), (27, '{1:+2}'), (28, '{1.5:2}'), (29, '{1:2.0}'),
			 (30, '{0x1:2}'), (31, '{1:1e3}'), (32, '{2147483648:1}'),
			 (33, '{99999999999999999999999:1}'),
			 (34, '{1:9223372036854775808}'),
			 (35, '{1:99999999999999999999999}'), (36, '{1:2,1:3}'),
			 (37, '{1:0,1:3}'), (38, '{5:1,2:1,5:0}'), (39, '{01:1,1:2}'),
			 (40, '[1:2]'), (41, '{"1":2}'), (42, 'null'))
	 AS t(n, input),
	 LATERAL pg_temp.vclock_error(format('SELECT %L::ws.vclock', input)) AS e
ORDER BY n;

-- The same errors as a client sees them.
\set VERBOSITY sqlstate
SELECT ''::ws.vclock;
SELECT '{1:2}x'::ws.vclock;
SELECT '{-1:2}'::ws.vclock;
SELECT '{2147483648:1}'::ws.vclock;
SELECT '{1:9223372036854775808}'::ws.vclock;
SELECT '{1:2,1:3}'::ws.vclock;
SELECT '{1:2'::ws.vclock;
\set VERBOSITY default
SELECT '{1:2,1:3}'::ws.vclock;
SELECT '{1:2;3:4}'::ws.vclock;

--
-- Binary output: int4 entry count, then int4 node and int8 counter per
-- entry, in node order.
--
SELECT ws.vclock_send('{}') AS empty,
	   ws.vclock_send('{2:5,1:3,4:0}') AS two;

--
-- tick, get, merge, relation on fixed values
--
SELECT v, node, ws.vclock_tick(v::ws.vclock, node) AS tick,
	   ws.vclock_get(v::ws.vclock, node) AS get
FROM (VALUES ('{}', 0), ('{}', 2147483647), ('{1:3,5:1}', 2),
			 ('{1:3,5:1}', 1), ('{1:3,5:1}', 5), ('{1:3,5:1}', 9),
			 ('{1:9223372036854775806}', 1)) AS t(v, node);

SELECT a, b, ws.vclock_merge(a::ws.vclock, b::ws.vclock) AS merge,
	   ws.vclock_relation(a::ws.vclock, b::ws.vclock) AS relation
FROM (VALUES ('{}', '{}'),
			 ('{1:3,2:5}', '{2:5,1:3}'),
			 ('{}', '{1:1}'),
			 ('{1:1}', '{1:2}'),
			 ('{1:1}', '{1:1,2:1}'),
			 ('{1:2,3:4}', '{1:2,2:1,3:4}'),
			 ('{1:2}', '{1:1}'),
			 ('{1:1,2:1}', '{}'),
			 ('{1:1}', '{2:1}'),
			 ('{1:2,2:1}', '{1:1,2:2}'),
			 ('{1:5,3:1}', '{1:5,2:1}'),
			 ('{0:9223372036854775807}', '{0:1,2147483647:1}'))
	 AS t(a, b)
ORDER BY 1, 2;

-- Argument errors: 22023 for a bad node, 22003 when a counter would
-- overflow.
SELECT f, e.code, e.message, e.detail
FROM (VALUES ('ws.vclock_tick(''{1:1}'', -1)'),
			 ('ws.vclock_get(''{1:1}'', -2147483648)'),
			 ('ws.vclock_tick(''{1:9223372036854775807}'', 1)'),
			 ('ws.vclock_tick(''{1:9223372036854775807}'', 2)')) AS t(f),
	 LATERAL pg_temp.vclock_error('SELECT ' || f) AS e;
\set VERBOSITY sqlstate
SELECT ws.vclock_tick('{1:1}', -1);
SELECT ws.vclock_get('{}', -1);
SELECT ws.vclock_tick('{1:9223372036854775807}', 1);
\set VERBOSITY default

--
-- Generated clocks
--
SELECT setseed(0.25);

-- The entries of clock i: each of the nodes 0 .. 2 + i % 5 present with
-- probability 0.7, with a counter of 0 .. 3 (zeros must be dropped).
CREATE TEMP TABLE vc_entry AS
SELECT g.i, n.n, floor(random() * 4)::bigint AS c
FROM generate_series(1, 200) AS g(i),
	 generate_series(0, 2 + g.i % 5) AS n(n)
WHERE random() < 0.7;

-- Clock i written with its entries in random order and, for odd i, with
-- spaces around the commas; plus the extremes.
CREATE TEMP TABLE vc AS
SELECT g.i,
	   ('{' || coalesce(string_agg(e.n || ':' || e.c,
								   CASE WHEN g.i % 2 = 0 THEN ',' ELSE ' , ' END
								   ORDER BY random()), '') || '}')::ws.vclock AS v
FROM generate_series(1, 200) AS g(i)
	 LEFT JOIN vc_entry AS e ON e.i = g.i
GROUP BY g.i;
INSERT INTO vc VALUES
	(201, '{}'),
	(202, '{0:9223372036854775807,2147483647:9223372036854775807}');

SELECT count(*) AS clocks, count(DISTINCT v::text) AS distinct_clocks,
	   count(*) FILTER (WHERE v = '{}') AS empty_clocks
FROM vc;

-- Output is the sorted list of the non-zero entries.
SELECT count(*) AS bad_text
FROM vc
WHERE i <= 200
  AND v::text <> (SELECT '{' || coalesce(string_agg(e.n || ':' || e.c, ','
													ORDER BY e.n)
											 FILTER (WHERE e.c > 0), '') || '}'
				  FROM vc_entry AS e
				  WHERE e.i = vc.i);

-- get returns each entry's counter, and 0 for absent nodes.
SELECT count(*) AS bad_get
FROM vc, generate_series(0, 8) AS n(n)
WHERE vc.i <= 200
  AND ws.vclock_get(v, n.n) <> coalesce((SELECT e.c FROM vc_entry AS e
										 WHERE e.i = vc.i AND e.n = n.n), 0);

-- Text round trip.
SELECT count(*) AS bad_text_round_trip
FROM vc
WHERE v::text::ws.vclock <> v OR v::text::ws.vclock::text <> v::text;

-- Binary round trip through COPY.
SELECT '/tmp/worldstate_vclock_regress_' || current_setting('port') || '.bin'
	AS vclock_file \gset
COPY vc TO :'vclock_file' WITH (FORMAT binary);
CREATE TEMP TABLE vc_copy (LIKE vc);
COPY vc_copy FROM :'vclock_file' WITH (FORMAT binary);
SELECT count(*) AS copied,
	   count(*) FILTER (WHERE vc.v IS DISTINCT FROM vc_copy.v) AS bad_copy,
	   count(*) FILTER (WHERE ws.vclock_send(vc.v) <> ws.vclock_send(vc_copy.v))
		   AS bad_bytes
FROM vc FULL JOIN vc_copy USING (i);

-- Merge laws over all pairs: commutative, idempotent, an upper bound of
-- both inputs, and the pointwise maximum.
SELECT count(*) AS pairs,
	   count(*) FILTER (WHERE ws.vclock_merge(a.v, b.v) <> ws.vclock_merge(b.v, a.v))
		   AS not_commutative,
	   count(*) FILTER (WHERE ws.vclock_relation(a.v, ws.vclock_merge(a.v, b.v))
							  NOT IN ('equal', 'before')) AS not_upper_bound,
	   count(*) FILTER (WHERE ws.vclock_merge(ws.vclock_merge(a.v, b.v), b.v)
							  <> ws.vclock_merge(a.v, b.v)) AS not_absorbing
FROM vc AS a, vc AS b;

SELECT count(*) AS not_idempotent
FROM vc
WHERE ws.vclock_merge(v, v) <> v;

SELECT count(*) AS not_pointwise_max
FROM vc AS a, vc AS b, generate_series(0, 8) AS n(n)
WHERE a.i <= 200 AND b.i <= 200
  AND ws.vclock_get(ws.vclock_merge(a.v, b.v), n.n)
	  <> greatest(ws.vclock_get(a.v, n.n), ws.vclock_get(b.v, n.n));

SELECT count(*) AS triples,
	   count(*) FILTER (WHERE ws.vclock_merge(ws.vclock_merge(a.v, b.v), c.v)
							  <> ws.vclock_merge(a.v, ws.vclock_merge(b.v, c.v)))
		   AS not_associative
FROM vc AS a, vc AS b, vc AS c
WHERE a.i % 5 = 0 AND b.i % 5 = 1 AND c.i % 5 = 2;

-- Relation: all four outcomes occur; it agrees with =, with merge, and
-- with itself when the arguments are swapped.
SELECT ws.vclock_relation(a.v, b.v) AS relation, count(*)
FROM vc AS a, vc AS b
GROUP BY 1
ORDER BY 1;

SELECT count(*) FILTER (WHERE (ws.vclock_relation(a.v, b.v) = 'equal') <> (a.v = b.v))
		   AS bad_equal,
	   count(*) FILTER (WHERE (ws.vclock_relation(a.v, b.v) = 'before')
							  <> (ws.vclock_merge(a.v, b.v) = b.v AND a.v <> b.v))
		   AS bad_before,
	   count(*) FILTER (WHERE (ws.vclock_relation(a.v, b.v) = 'concurrent')
							  <> (ws.vclock_merge(a.v, b.v) NOT IN (a.v, b.v)))
		   AS bad_concurrent,
	   count(*) FILTER (WHERE ws.vclock_relation(b.v, a.v)
							  <> CASE ws.vclock_relation(a.v, b.v)
									 WHEN 'before' THEN 'after'
									 WHEN 'after' THEN 'before'
									 ELSE ws.vclock_relation(a.v, b.v)
								 END) AS bad_swap
FROM vc AS a, vc AS b;

-- Tick: the result happened after its input and differs in one counter.
SELECT count(*) AS bad_tick
FROM vc, generate_series(0, 8) AS n(n)
WHERE vc.i <= 200
  AND (ws.vclock_relation(v, ws.vclock_tick(v, n.n)) <> 'before'
	   OR ws.vclock_get(ws.vclock_tick(v, n.n), n.n) <> ws.vclock_get(v, n.n) + 1
	   OR ws.vclock_merge(v, ws.vclock_tick(v, n.n)) <> ws.vclock_tick(v, n.n)
	   OR (SELECT count(*)
		   FROM generate_series(0, 8) AS m(m)
		   WHERE ws.vclock_get(ws.vclock_tick(v, n.n), m.m)
				 <> ws.vclock_get(v, m.m)) <> 1);

--
-- The aggregate equals folding the two-argument merge.
--
WITH RECURSIVE fold(i, acc) AS (
	SELECT 0, '{}'::ws.vclock
	UNION ALL
	SELECT vc.i, ws.vclock_merge(fold.acc, vc.v)
	FROM fold JOIN vc ON vc.i = fold.i + 1
	WHERE vc.i <= 200
)
SELECT (SELECT acc FROM fold ORDER BY i DESC LIMIT 1) AS folded,
	   (SELECT ws.vclock_merge(v) FROM vc WHERE i <= 200) AS aggregated,
	   (SELECT acc FROM fold ORDER BY i DESC LIMIT 1)
	   = (SELECT ws.vclock_merge(v) FROM vc WHERE i <= 200) AS same;

-- Per group: the pointwise maximum of the group, in any order, ignoring
-- NULLs.
WITH g AS (
	SELECT i % 7 AS k,
		   ws.vclock_merge(v ORDER BY i) AS agg,
		   ws.vclock_merge(v ORDER BY i DESC) AS agg_desc,
		   ws.vclock_merge(CASE WHEN i % 3 = 0 THEN NULL ELSE v END) AS agg_nulls,
		   ws.vclock_merge(v) FILTER (WHERE i % 3 <> 0) AS agg_filtered
	FROM vc
	GROUP BY 1
)
SELECT count(*) AS groups,
	   count(*) FILTER (WHERE agg <> agg_desc) AS order_matters,
	   count(*) FILTER (WHERE agg_nulls <> agg_filtered) AS nulls_matter,
	   count(*) FILTER (WHERE EXISTS (SELECT 1
									  FROM vc, generate_series(0, 8) AS n(n)
									  WHERE vc.i % 7 = g.k
									  GROUP BY n.n
									  HAVING max(ws.vclock_get(vc.v, n.n))
											 <> ws.vclock_get(g.agg, n.n)))
		   AS not_pointwise_max
FROM g;

-- No rows, or only NULLs: NULL.
SELECT ws.vclock_merge(v) IS NULL AS no_rows FROM vc WHERE false;
SELECT ws.vclock_merge(NULL::ws.vclock) IS NULL AS only_null;

-- Parallel aggregation uses the merge as combine function.
CREATE TABLE vclock_par AS
SELECT r, vc.v
FROM vc, generate_series(1, 100) AS r;
ANALYZE vclock_par;
BEGIN;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT ws.vclock_merge(v) FROM vclock_par;
SELECT ws.vclock_merge(v) = (SELECT ws.vclock_merge(v) FROM vc) AS parallel_same
FROM vclock_par;
COMMIT;
DROP TABLE vclock_par;

--
-- A large clock (toasted and compressed) behaves like a small one.
--
CREATE TEMP TABLE vc_big AS
SELECT ('{' || string_agg(n || ':' || (n + 1), ',' ORDER BY n DESC) || '}')::ws.vclock AS v
FROM generate_series(0, 9999) AS n;
SELECT pg_column_size(v) < 10000 * 16 AS compressed,
	   octet_length(v::text) AS text_length,
	   ws.vclock_get(v, 0) AS first, ws.vclock_get(v, 9999) AS last,
	   ws.vclock_get(v, 10000) AS absent,
	   v::text::ws.vclock = v AS text_round_trip,
	   v = '{1:1}' AS eq_small,
	   ws.vclock_relation(v, ws.vclock_tick(v, 5000)) AS tick_relation,
	   ws.vclock_merge(v, '{10000:1}') = ws.vclock_tick(v, 10000) AS merge_eq_tick
FROM vc_big;

--
-- Binary input refuses anything but the canonical form.
--
-- Writes a binary COPY file holding one row with one field, payload, and
-- returns its path.
CREATE FUNCTION pg_temp.vclock_copy_file(payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	path text := '/tmp/worldstate_vclock_regress_' || current_setting('port') || '.bin';
	lo oid;
BEGIN
	lo := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea	-- signature
						|| int4send(0) || int4send(0)			-- flags, extension
						|| int2send(1::int2)					-- one field
						|| int4send(length(payload)) || payload
						|| int2send(-1::int2));					-- trailer
	PERFORM lo_export(lo, path);
	PERFORM lo_unlink(lo);
	RETURN path;
END
$$;
CREATE TEMP TABLE vc_bin (v ws.vclock);

SELECT label, e.code, e.message, e.detail
FROM (VALUES (1, 'empty', int4send(0)),
			 (2, 'two entries', int4send(2) || int4send(1) || int8send(3)
								|| int4send(2) || int8send(5)),
			 (3, 'extremes', int4send(2) || int4send(0) || int8send(9223372036854775807)
							 || int4send(2147483647) || int8send(1)),
			 (4, 'negative count', int4send(-1)),
			 (5, 'count too large', int4send(2) || int4send(1) || int8send(3)),
			 (6, 'huge count', int4send(2147483647)),
			 (7, 'trailing bytes', int4send(0) || int4send(1)),
			 (8, 'truncated header', '\x0000'::bytea),
			 (9, 'negative node', int4send(1) || int4send(-1) || int8send(1)),
			 (10, 'zero counter', int4send(1) || int4send(1) || int8send(0)),
			 (11, 'negative counter', int4send(1) || int4send(1) || int8send(-5)),
			 (12, 'unsorted', int4send(2) || int4send(2) || int8send(1)
							  || int4send(1) || int8send(1)),
			 (13, 'duplicate', int4send(2) || int4send(1) || int8send(1)
							   || int4send(1) || int8send(2)))
	 AS t(n, label, payload),
	 LATERAL pg_temp.vclock_error(format('COPY vc_bin FROM %L WITH (FORMAT binary)',
										 pg_temp.vclock_copy_file(payload))) AS e
ORDER BY n;

-- Only the three valid payloads were loaded.
SELECT v FROM vc_bin ORDER BY v::text;

\set VERBOSITY sqlstate
SELECT pg_temp.vclock_copy_file(int4send(1) || int4send(1) || int8send(0))
	AS vclock_file \gset
COPY vc_bin FROM :'vclock_file' WITH (FORMAT binary);
\set VERBOSITY default
