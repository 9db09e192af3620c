-- worldstate's settings: defaults, contexts, units, reserved prefix
SELECT name, setting, unit, context, vartype, min_val, max_val
FROM pg_settings
WHERE name LIKE 'worldstate.%'
ORDER BY name;

SHOW worldstate.max_clock_skew;
SHOW worldstate.required_handshake;
SHOW worldstate.handshake;

-- the handshake is the client's header, per session
SET worldstate.handshake = '55-45-17';
SHOW worldstate.handshake;
RESET worldstate.handshake;

-- the node id is fixed at server start
\set VERBOSITY sqlstate
SET worldstate.node_id = 5;
-- the prefix is reserved: unknown worldstate.* names are refused
SET worldstate.no_such_setting = 'x';
SET worldstate.max_clock_skew = -1;
SET worldstate.max_clock_skew = 'soon';
\set VERBOSITY default
SET worldstate.no_such_setting = 'x';
