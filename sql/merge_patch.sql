--
-- ws.merge_patch: RFC 7396 JSON Merge Patch on jsonb, and counter fields
--
-- pg_regress creates the extension (--load-extension).  Checks that must
-- hold over generated data print a count of violations, which must be 0.
--
SET search_path = public, ws;
\set SHOW_CONTEXT never

-- Runs a statement and returns the SQLSTATE, message, detail and hint of
-- the error it raised ('00000' when it raised none).
CREATE FUNCTION pg_temp.mp_error(stmt text,
								 OUT code text, OUT message text,
								 OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	code := '00000';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE,
							message = MESSAGE_TEXT,
							detail = PG_EXCEPTION_DETAIL,
							hint = PG_EXCEPTION_HINT;
END
$$;

-- A reference implementation written straight from the pseudocode of
-- RFC 7396 section 2, slow but obviously right, to compare against.
CREATE FUNCTION pg_temp.ref_merge(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	result	jsonb;
	k		text;
	v		jsonb;
BEGIN
	IF jsonb_typeof(patch) <> 'object' THEN
		RETURN patch;
	END IF;
	IF target IS NULL OR jsonb_typeof(target) <> 'object' THEN
		result := '{}';
	ELSE
		result := target;
	END IF;
	FOR k, v IN SELECT * FROM jsonb_each(patch) LOOP
		IF jsonb_typeof(v) = 'null' THEN
			result := result - k;
		ELSE
			result := jsonb_set(result, ARRAY[k], pg_temp.ref_merge(result -> k, v));
		END IF;
	END LOOP;
	RETURN result;
END
$$;

-- A random document (an object when obj): scalars (null included), arrays
-- and objects nested up to depth levels, keys drawn from a small alphabet
-- so that target and patch keys collide often.
CREATE FUNCTION pg_temp.rand_doc(depth int, obj boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	r		float8 := random();
	result	jsonb := '{}';
	i		int;
BEGIN
	IF NOT obj AND (depth <= 0 OR r < 0.35) THEN
		r := random();
		RETURN CASE
			WHEN r < 0.2 THEN 'null'::jsonb
			WHEN r < 0.45 THEN to_jsonb(floor(random() * 100)::int)
			WHEN r < 0.65 THEN to_jsonb(chr(97 + floor(random() * 4)::int))
			WHEN r < 0.75 THEN to_jsonb(random() < 0.5)
			WHEN r < 0.9 THEN jsonb_build_array(floor(random() * 3)::int, NULL, 'x')
			ELSE '{}'::jsonb
		END;
	END IF;
	FOR i IN 1 .. floor(random() * 5)::int LOOP
		result := result || jsonb_build_object(chr(97 + floor(random() * 5)::int),
											   pg_temp.rand_doc(depth - 1));
	END LOOP;
	RETURN result;
END
$$;

-- The SQL-level contract: not strict, immutable, parallel safe.
SELECT p.oid::regprocedure, p.proisstrict, p.provolatile, p.proparallel,
	   obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
FROM pg_proc p
WHERE p.pronamespace = 'ws'::regnamespace
  AND p.proname IN ('merge_patch', '_merge_patch_counters')
ORDER BY p.proname;

--
-- RFC 7396 Appendix A: every example, as (original, patch, result).
--
SELECT n, ws.merge_patch(original, patch) AS merged,
	   ws.merge_patch(original, patch) = result AS ok
FROM (VALUES
	(1, '{"a":"b"}'::jsonb, '{"a":"c"}'::jsonb, '{"a":"c"}'::jsonb),
	(2, '{"a":"b"}', '{"b":"c"}', '{"a":"b","b":"c"}'),
	(3, '{"a":"b"}', '{"a":null}', '{}'),
	(4, '{"a":"b","b":"c"}', '{"a":null}', '{"b":"c"}'),
	(5, '{"a":["b"]}', '{"a":"c"}', '{"a":"c"}'),
	(6, '{"a":"c"}', '{"a":["b"]}', '{"a":["b"]}'),
	(7, '{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}', '{"a":{"b":"d"}}'),
	(8, '{"a":[{"b":"c"}]}', '{"a":[1]}', '{"a":[1]}'),
	(9, '["a","b"]', '["c","d"]', '["c","d"]'),
	(10, '{"a":"b"}', '["c"]', '["c"]'),
	(11, '{"a":"foo"}', 'null', 'null'),
	(12, '{"a":"foo"}', '"bar"', '"bar"'),
	(13, '{"e":null}', '{"a":1}', '{"e":null,"a":1}'),
	(14, '[1,2]', '{"a":"b","c":null}', '{"a":"b"}'),
	(15, '{}', '{"a":{"bb":{"ccc":null}}}', '{"a":{"bb":{}}}'))
	AS rfc(n, original, patch, result)
ORDER BY n;

--
-- Object merges beyond the RFC's examples
--

-- Deep merge: untouched members at every level are kept, touched ones
-- merged, replaced or removed.
SELECT ws.merge_patch(
	'{"a":{"b":{"c":1,"d":2,"e":{"f":3}},"g":[1,2]},"h":"keep"}',
	'{"a":{"b":{"c":10,"e":{"x":true},"d":null},"g":{"now":"object"},"new":{"n":null,"m":1}}}');

-- A patch that is not an object replaces the target wholesale, whatever
-- the target is.
SELECT target, patch, ws.merge_patch(target, patch) AS merged
FROM (VALUES ('{"a":1}'::jsonb, '[{"b":null}]'::jsonb),
			 ('{"a":1}', '42'), ('{"a":1}', 'true'), ('{"a":1}', '""'),
			 ('[1]', '[]'), ('"s"', '{"k":"v"}'::jsonb -> 'k'))
	 AS t(target, patch);

-- An object patch on a target that is not an object starts from {}, and
-- drops the patch's nulls.
SELECT target, ws.merge_patch(target, '{"a":1,"b":null,"c":{"d":null,"e":2}}') AS merged
FROM (VALUES ('[1,2]'::jsonb), ('"text"'), ('12.5'), ('true'), ('null'))
	 AS t(target);

-- A member that is an object in the patch but not in the target: the
-- patch's object is merged into {}, not stored with its nulls.
SELECT ws.merge_patch('{"a":[1],"b":5,"c":"s"}',
					  '{"a":{"x":1,"y":null},"b":{"z":null},"c":{}}');

-- Null removes a member at any depth, and leaves its siblings.
SELECT ws.merge_patch('{"a":{"b":{"c":{"d":1,"e":2}},"f":3}}',
					  '{"a":{"b":{"c":{"d":null}},"f":null}}');

-- Null on a member that is absent is a no-op, at the top and nested.
SELECT ws.merge_patch('{"a":{"b":1}}', '{"zz":null,"a":{"q":null}}') AS merged,
	   ws.merge_patch('{"a":{"b":1}}', '{"zz":null,"a":{"q":null}}')
		 = '{"a":{"b":1}}' AS unchanged;

-- An empty object patch leaves an object target unchanged, down to the
-- bytes, and turns any other target into {}.
SELECT ws.merge_patch(t, '{}') AS merged,
	   ws.merge_patch(t, '{}')::text = t::text AS same_text
FROM (VALUES ('{"b":[1,{"c":null}],"a":{"x":null}}'::jsonb), ('{}'))
	 AS v(t);
SELECT ws.merge_patch('[1]', '{}') AS from_array,
	   ws.merge_patch('7', '{}') AS from_number;

-- Numbers keep their exact value and scale: beyond 2^53, long decimals,
-- exponents.
SELECT ws.merge_patch('{"keep":9007199254740993,"x":1}',
					  '{"x":12345678901234567890.123456789,"y":-0.000000000000000000001,"z":1e30}');
SELECT ws.merge_patch('{"keep":9007199254740993}', '{"x":1}') -> 'keep'
	   = '9007199254740993'::jsonb AS big_kept,
	   (ws.merge_patch('{}', '{"x":12345678901234567890.123456789}') ->> 'x')::numeric
	   = 12345678901234567890.123456789 AS decimal_kept;

-- Unicode keys and values merge like any others (keys sort by byte length,
-- then bytes).
SELECT ws.merge_patch('{"ключ":1,"键":{"a":1},"🎉":"party","é":"e"}',
					  '{"键":{"b":"值"},"ключ":null,"ü":"u","🎉":{"🎈":true}}');

-- Keys that differ only in length or in one byte are kept apart.
SELECT ws.merge_patch('{"a":1,"aa":2,"b":3,"ab":4,"":5}',
					  '{"aa":null,"ab":40,"aaa":6,"":null,"ba":7}');

--
-- SQL NULL handling: a NULL target is an absent document; a NULL patch
-- changes nothing; the JSON patch null replaces the document with JSON
-- null, which is not SQL NULL.
--
SELECT ws.merge_patch(NULL, NULL) IS NULL AS null_null,
	   ws.merge_patch('{"a":1}', NULL) AS null_patch,
	   ws.merge_patch(NULL, '{"a":1,"b":null,"c":{"d":null}}') AS null_target,
	   ws.merge_patch(NULL, '[null]') AS null_target_array;
SELECT r IS NULL AS is_sql_null, jsonb_typeof(r) AS json_type
FROM (VALUES (ws.merge_patch('{"a":1}', 'null')),
			 (ws.merge_patch(NULL, 'null'))) AS t(r);

--
-- A large object: 10k keys, of which the patch removes every third,
-- rewrites every other remaining even one, and adds 1000 new keys.  The
-- target is read from a table so that it arrives compressed or toasted.
--
CREATE TEMP TABLE big(doc jsonb);
INSERT INTO big
SELECT jsonb_object_agg('k' || i, i) FROM generate_series(0, 9999) i;
CREATE TEMP TABLE big_patch AS
SELECT jsonb_object_agg(k, v) AS patch
FROM (SELECT 'k' || i AS k,
			 CASE WHEN i % 3 = 0 THEN 'null'::jsonb ELSE to_jsonb(i * 10) END AS v
	  FROM generate_series(0, 9999) i
	  WHERE i % 3 = 0 OR i % 2 = 0
	  UNION ALL
	  SELECT 'n' || i, to_jsonb(i) FROM generate_series(0, 999) i) s;
CREATE TEMP TABLE big_expected AS
SELECT jsonb_object_agg(k, v) AS doc
FROM (SELECT 'k' || i AS k, to_jsonb(CASE WHEN i % 2 = 0 THEN i * 10 ELSE i END) AS v
	  FROM generate_series(0, 9999) i
	  WHERE i % 3 <> 0
	  UNION ALL
	  SELECT 'n' || i, to_jsonb(i) FROM generate_series(0, 999) i) s;
SELECT (SELECT count(*) FROM jsonb_object_keys(m)) AS nkeys,
	   m = (SELECT doc FROM big_expected) AS ok,
	   ws.merge_patch(m, (SELECT patch FROM big_patch)) = m AS idempotent
FROM (SELECT ws.merge_patch(doc, patch) AS m FROM big, big_patch) t;

--
-- A 1000-deep nested object: merging at the bottom works and keeps the
-- rest; past the stack limit the merge fails cleanly.
--
CREATE TEMP TABLE deep AS
SELECT (repeat('{"a":', 1000) || '{"x":1,"y":2}' || repeat('}', 1000))::jsonb AS target,
	   (repeat('{"a":', 1000) || '{"x":null,"z":3}' || repeat('}', 1000))::jsonb AS patch,
	   (repeat('{"a":', 1000) || '{"y":2,"z":3}' || repeat('}', 1000))::jsonb AS expected;
SELECT ws.merge_patch(target, patch) = expected AS deep_ok,
	   ws.merge_patch(NULL, patch) = (repeat('{"a":', 1000) || '{"z":3}' || repeat('}', 1000))::jsonb
	   AS deep_from_null
FROM deep;
SET max_stack_depth = '100kB';
SELECT code, message FROM pg_temp.mp_error(
	'SELECT ws.merge_patch(target, patch) FROM deep');
-- (the same setting leaves room for a shallow merge: the depth is the cause)
SELECT code, message FROM pg_temp.mp_error(
	'SELECT ws.merge_patch(''{"a":{"b":{"c":1}}}'', ''{"a":{"b":{"d":2}}}'')');
RESET max_stack_depth;

--
-- Laws over generated documents, against the reference implementation.
--
SELECT setseed(0.7396);
CREATE TEMP TABLE pairs AS
SELECT i, CASE WHEN random() < 0.1 THEN pg_temp.rand_doc(0) ELSE pg_temp.rand_doc(3, true) END AS t,
	   CASE WHEN random() < 0.1 THEN pg_temp.rand_doc(0) ELSE pg_temp.rand_doc(3, true) END AS p
FROM generate_series(1, 2000) i;

-- The generated data is not degenerate: most patches are objects that
-- change their target, and some of them remove members.
SELECT count(*) FILTER (WHERE jsonb_typeof(p) = 'object') > 1500 AS mostly_objects,
	   count(*) FILTER (WHERE ws.merge_patch(t, p) <> t) > 1000 AS mostly_changing,
	   count(*) FILTER (WHERE p::text LIKE '%null%'
						AND jsonb_typeof(p) = 'object') > 200 AS with_nulls
FROM pairs;

-- Same result as the RFC's pseudocode.
SELECT count(*) AS reference_violations
FROM pairs WHERE ws.merge_patch(t, p) IS DISTINCT FROM pg_temp.ref_merge(t, p);

-- Idempotence: applying the same patch twice is applying it once.
SELECT count(*) AS idempotence_violations
FROM pairs
WHERE ws.merge_patch(ws.merge_patch(t, p), p) IS DISTINCT FROM ws.merge_patch(t, p);

-- Applying a patch to nothing and then again is applying it once.
SELECT count(*) AS null_target_violations
FROM pairs
WHERE ws.merge_patch(ws.merge_patch(NULL, p), p) IS DISTINCT FROM ws.merge_patch(NULL, p);

--
-- Counter fields (the merge ws.transition does for a kind's counters)
--

-- A number adds to the current value; the effective patch holds the sum.
SELECT * FROM ws._merge_patch_counters('{"n":5,"s":"x"}', '{"n":2}', '{n}');
SELECT * FROM ws._merge_patch_counters('{"n":5,"m":1}', '{"n":-7.5,"m":0.1}', '{n,m}');

-- Absent, or not a number: counts as 0.  Null still removes.
SELECT target, r.*
FROM (VALUES ('{}'::jsonb), ('{"n":"ten"}'), ('{"n":{"a":1}}'), ('{"n":null}'),
			 ('[1]'), ('null')) AS t(target),
	 ws._merge_patch_counters(target, '{"n":3}', '{n}') r;
SELECT * FROM ws._merge_patch_counters('{"n":5,"s":1}', '{"n":null}', '{n}');

-- Exact arithmetic: 0.1 + 0.2, beyond 2^53, long decimals.
SELECT (ws._merge_patch_counters('{"n":0.1}', '{"n":0.2}', '{n}')).result,
	   (ws._merge_patch_counters('{"n":9007199254740993}', '{"n":1}', '{n}')).result
		 AS big,
	   (ws._merge_patch_counters('{"n":12345678901234567890.123456789}',
								 '{"n":0.000000001}', '{n}')).result AS precise;

-- Only top-level members are counters; other members, and members of the
-- same name deeper down, follow plain RFC 7396.
SELECT * FROM ws._merge_patch_counters('{"n":1,"o":{"n":5},"p":2}',
									   '{"n":1,"o":{"n":1},"p":3}', '{n}');

-- Without a delta in the patch, the effective patch is the patch.
SELECT * FROM ws._merge_patch_counters('{"n":1}', '{"a":{"b":null}}', '{n}');
SELECT * FROM ws._merge_patch_counters('{"n":1}', '{"n":null,"a":2}', '{n}');
SELECT * FROM ws._merge_patch_counters('{"n":1}', '[2]', '{n}');
SELECT * FROM ws._merge_patch_counters('{"n":1}', '{"n":2}', '{}');
SELECT * FROM ws._merge_patch_counters('{"n":1}', '{"n":2}', '{NULL,n}');

-- A value that is neither a number nor null is refused, naming the field.
SELECT patch, e.*
FROM (VALUES ('{"n":"1"}'), ('{"n":true}'), ('{"n":[1]}'), ('{"n":{"add":1}}'),
			 ('{"a":1,"hits \"x\"":"one"}')) AS t(patch),
	 pg_temp.mp_error(format('SELECT ws._merge_patch_counters(%L, %L, %L)',
							 '{"n":1}', patch, '{n,"hits \"x\""}')) e;

-- Folding effective patches with plain merge patch rebuilds the state
-- that the counter merges built, over generated patch sequences.
CREATE FUNCTION pg_temp.fold_check(steps int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
	state	jsonb := NULL;
	replay	jsonb := NULL;
	patch	jsonb;
	r		record;
	bad		int := 0;
	i		int;
BEGIN
	FOR i IN 1 .. steps LOOP
		patch := pg_temp.rand_doc(2);
		IF jsonb_typeof(patch) = 'object' OR random() < 0.9 THEN
			patch := CASE WHEN jsonb_typeof(patch) = 'object' THEN patch ELSE '{}' END
				|| jsonb_build_object('n', CASE WHEN random() < 0.1 THEN NULL
												ELSE round((random() * 20 - 10)::numeric, 2) END)
				|| CASE WHEN random() < 0.5
						THEN jsonb_build_object('m', floor(random() * 5)::int)
						ELSE '{}' END;
		END IF;
		r := ws._merge_patch_counters(coalesce(state, 'null'), patch, '{n,m}');
		state := r.result;
		replay := ws.merge_patch(replay, r.effective);
		IF replay IS DISTINCT FROM state THEN
			bad := bad + 1;
		END IF;
	END LOOP;
	RETURN bad;
END
$$;
SELECT setseed(0.25);
SELECT sum(pg_temp.fold_check(50)) AS fold_violations FROM generate_series(1, 40);
