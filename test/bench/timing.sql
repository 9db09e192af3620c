-- ws_bench_median(query, runs): runs query `runs` times after one warm-up
-- run and returns the median elapsed seconds.
CREATE FUNCTION ws_bench_median(query text, runs int DEFAULT 5) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    times float8[] := '{}';
BEGIN
    EXECUTE query;
    FOR i IN 1 .. runs LOOP
        t0 := clock_timestamp();
        EXECUTE query;
        times := times || extract(epoch FROM clock_timestamp() - t0)::float8;
    END LOOP;
    RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END
$$;
