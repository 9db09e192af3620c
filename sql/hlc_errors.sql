-- ws.hlc: bad input is refused with 22P02 (text) or 22023 (arguments), and
-- the bad text is quoted in the message
\set VERBOSITY default
\set SHOW_CONTEXT never
-- operators and aggregates of ws.hlc live in schema ws, like its functions
SET search_path = public, ws;
SET timezone = 'UTC';

SELECT ''::ws.hlc;
SELECT '   '::ws.hlc;
SELECT 'garbage'::ws.hlc;
SELECT '2026-01-15'::ws.hlc;
SELECT '2026-01-15T10:00:00'::ws.hlc;
SELECT '2026-01-15T10:00:00Zjunk'::ws.hlc;
SELECT '2026-01-15T10:00:00Z/5@3 x'::ws.hlc;
SELECT '2026-01-15T10:00:00.1234567Z'::ws.hlc;
SELECT '2026-01-15T10:00:00.Z'::ws.hlc;
SELECT '2026-01-15T10:00:00+02:00'::ws.hlc;
SELECT '26-01-15T10:00:00Z'::ws.hlc;
SELECT '2026-1-15T10:00:00Z'::ws.hlc;
SELECT '2026-01-15T10:00:00Z/'::ws.hlc;
SELECT '2026-01-15T10:00:00Z@'::ws.hlc;
SELECT '2026-01-15T10:00:00Z@3/5'::ws.hlc;
-- out-of-range wall
SELECT '1969-12-31T23:59:59Z'::ws.hlc;
SELECT '2026-02-29T00:00:00Z'::ws.hlc;
SELECT '2026-13-01T00:00:00Z'::ws.hlc;
SELECT '2026-01-15T24:00:00Z'::ws.hlc;
SELECT '2026-01-15T10:60:00Z'::ws.hlc;
SELECT '2026-01-15T10:00:60Z'::ws.hlc;
-- negative or overflowing counter, node out of range
SELECT '2026-01-15T10:00:00Z/-1'::ws.hlc;
SELECT '2026-01-15T10:00:00Z/2147483648'::ws.hlc;
SELECT '2026-01-15T10:00:00Z/99999999999999999999999'::ws.hlc;
SELECT '2026-01-15T10:00:00Z@-1'::ws.hlc;
SELECT '2026-01-15T10:00:00Z@2147483648'::ws.hlc;
SELECT '2026-01-15T10:00:00Z/+1'::ws.hlc;
-- huge input
SELECT repeat('9', 100000)::ws.hlc IS NULL;
SELECT ('2026-01-15T10:00:00Z/' || repeat('1', 100000))::ws.hlc IS NULL;

-- the SQLSTATEs
\set VERBOSITY sqlstate
SELECT 'garbage'::ws.hlc;
SELECT '2026-01-15T10:00:00Z/-1'::ws.hlc;
SELECT ws.hlc(timestamptz '1969-12-31 23:59:59+00');
\set VERBOSITY default

-- constructor arguments: 22023
SELECT ws.hlc(timestamptz '1969-12-31 23:59:59+00');
SELECT ws.hlc(timestamptz 'infinity');
SELECT ws.hlc(timestamptz '-infinity');
SELECT ws.hlc(timestamptz '10000-01-01 00:00:00+00');
SELECT ws.hlc('2026-01-15 10:00:00+00', -1);
SELECT ws.hlc('2026-01-15 10:00:00+00', 0, -1);
SELECT ws.hlc_send('2026-01-15T10:00:00Z', '2026-01-15 10:00:00+00', -5);
SELECT ws.hlc_merge('2026-01-15T10:00:00Z', '2026-01-15T10:00:00Z', 'infinity', 1);
\set VERBOSITY sqlstate
SELECT ws.hlc('2026-01-15 10:00:00+00', -1);
SELECT ws.hlc('2026-01-15 10:00:00+00', 0, -1);
\set VERBOSITY default

-- a value never leaves the type's range through the rules
SELECT ws.hlc_send('9999-12-31T23:59:59.999999Z/2147483647@1', '2026-01-01 00:00:00+00', 1);
