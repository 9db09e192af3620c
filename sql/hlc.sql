-- ws.hlc: text and binary forms, constructor, accessors, cast
-- operators and aggregates of ws.hlc live in schema ws, like its functions
SET search_path = public, ws;
SET timezone = 'UTC';

-- canonical output always has six fraction digits, counter and node
SELECT '2026-01-15T10:00:00.123456Z/5@3'::ws.hlc;
SELECT '2026-01-15T10:00:00Z'::ws.hlc;
SELECT '2026-01-15 10:00:00.5z/7'::ws.hlc;
SELECT '  2026-01-15t10:00:00.000001Z@9  '::ws.hlc;
SELECT '1970-01-01T00:00:00Z'::ws.hlc, '9999-12-31T23:59:59.999999Z/2147483647@2147483647'::ws.hlc;
SELECT '2024-02-29T23:59:59.999999Z'::ws.hlc;

-- accessors and the explicit cast
SELECT ws.hlc_wall(h), ws.hlc_counter(h), ws.hlc_node(h), h::timestamptz
FROM (SELECT '2026-01-15T10:00:00.123456Z/5@3'::ws.hlc AS h) s;

-- constructor, with defaults
SELECT ws.hlc('2026-01-15 10:00:00.123456+00', 5, 3);
SELECT ws.hlc(timestamptz '2026-01-15 12:00:00+02');
SELECT ws.hlc(now()) = ws.hlc(now(), 0, 0) AS defaults_apply;
-- like any type name, ws.hlc('...') with a single string literal is a cast
-- from text, so it reads the hlc text form
SELECT ws.hlc('2026-01-15T10:00:00Z/1@2');
SELECT ws.hlc(wall => '2026-01-15 10:00:00+00', node => 4);

-- no implicit or assignment cast to timestamptz
SELECT castcontext FROM pg_cast
WHERE castsource = 'ws.hlc'::regtype AND casttarget = 'timestamptz'::regtype;

-- text round trip over generated values: parse(format(x)) = x, field by field
SELECT setseed(0.42);
CREATE TEMP TABLE gen AS
SELECT ws.hlc(to_timestamp(0) + (random() * 8e9) * interval '1 second'
                + (floor(random() * 1e6)) * interval '1 microsecond',
              (random() * 2147483647)::int,
              (random() * 2147483647)::int) AS h
FROM generate_series(1, 5000);
SELECT count(*) AS text_roundtrip_mismatches
FROM gen
WHERE h::text::ws.hlc <> h
   OR ws.hlc_wall(h::text::ws.hlc) <> ws.hlc_wall(h)
   OR ws.hlc_counter(h::text::ws.hlc) <> ws.hlc_counter(h)
   OR ws.hlc_node(h::text::ws.hlc) <> ws.hlc_node(h);
-- the constructor and the accessors agree
SELECT count(*) AS constructor_mismatches
FROM gen
WHERE ws.hlc(ws.hlc_wall(h), ws.hlc_counter(h), ws.hlc_node(h)) <> h;

-- binary round trip through COPY ... (FORMAT binary)
COPY gen TO '/tmp/worldstate_hlc_regress.copy' WITH (FORMAT binary);
CREATE TEMP TABLE gen2 (h ws.hlc);
COPY gen2 FROM '/tmp/worldstate_hlc_regress.copy' WITH (FORMAT binary);
SELECT (SELECT count(*) FROM gen2) AS rows_back,
       (SELECT count(*) FROM (SELECT h FROM gen EXCEPT ALL SELECT h FROM gen2) d) AS binary_mismatches;
-- the send function's layout: int64 wall, int32 counter, int32 node
SELECT ws.hlc_send('1970-01-01T00:00:00.000001Z/2@3'::ws.hlc);

-- NULL handling: strict functions return NULL
SELECT ws.hlc(NULL), ws.hlc_wall(NULL), ws.hlc_counter(NULL), ws.hlc_node(NULL);
