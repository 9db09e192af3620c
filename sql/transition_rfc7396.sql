-- Every example of RFC 7396 Appendix A, applied through ws.transition.
-- An entity's state is always a JSON object, so the examples whose
-- original document or result is not an object are refused (22023)
-- and leave the entity unchanged.
SET search_path = public, ws;
\set SHOW_CONTEXT never
SET worldstate.handshake = '55-45-17';
SELECT ws.register_module('rfc', 1);
SELECT ws.define_kind('doc', 'rfc');

CREATE TEMP TABLE rfc (n int, original jsonb, patch jsonb, result jsonb);
INSERT INTO rfc VALUES
 (1,  '{"a":"b"}',             '{"a":"c"}',                 '{"a":"c"}'),
 (2,  '{"a":"b"}',             '{"b":"c"}',                 '{"a":"b","b":"c"}'),
 (3,  '{"a":"b"}',             '{"a":null}',                '{}'),
 (4,  '{"a":"b","b":"c"}',     '{"a":null}',                '{"b":"c"}'),
 (5,  '{"a":["b"]}',           '{"a":"c"}',                 '{"a":"c"}'),
 (6,  '{"a":"c"}',             '{"a":["b"]}',               '{"a":["b"]}'),
 (7,  '{"a":{"b":"c"}}',       '{"a":{"b":"d","c":null}}',  '{"a":{"b":"d"}}'),
 (8,  '{"a":[{"b":"c"}]}',     '{"a":[1]}',                 '{"a":[1]}'),
 (9,  '["a","b"]',             '["c","d"]',                 '["c","d"]'),
 (10, '{"a":"b"}',             '["c"]',                     '["c"]'),
 (11, '{"a":"foo"}',           'null',                      'null'),
 (12, '{"a":"foo"}',           '"bar"',                     '"bar"'),
 (13, '{"e":null}',            '{"a":1}',                   '{"e":null,"a":1}'),
 (14, '[1,2]',                 '{"a":"b","c":null}',        '{"a":"b"}'),
 (15, '{}',                    '{"a":{"bb":{"ccc":null}}}', '{"a":{"bb":{}}}');

-- objects: create with the original, transition with the patch
SELECT n, patch, t.state AS state, t.state = result AS as_rfc, t.version
FROM rfc,
     LATERAL (SELECT ws.create_entity('rfc' || n, 'doc', 'rfc', original)) c,
     LATERAL ws.transition('rfc' || n, patch, expected_version => 1) t
WHERE jsonb_typeof(original) = 'object' AND jsonb_typeof(result) = 'object'
ORDER BY n;

-- the same results from ws.merge_patch, for all fifteen
SELECT count(*) FILTER (WHERE ws.merge_patch(original, patch) = result) AS merge_patch_as_rfc,
       count(*) AS examples
FROM rfc;

-- a result that is not an object would replace the state: refused
SELECT version FROM ws.create_entity('rfc10', 'doc', 'rfc', '{"a":"b"}');
SELECT ws.transition('rfc10', '["c"]');
SELECT version FROM ws.create_entity('rfc11', 'doc', 'rfc', '{"a":"foo"}');
SELECT ws.transition('rfc11', 'null');
SELECT version FROM ws.create_entity('rfc12', 'doc', 'rfc', '{"a":"foo"}');
SELECT ws.transition('rfc12', '"bar"');
SELECT entity_id, state, version FROM ws.entities WHERE entity_id IN ('rfc10', 'rfc11', 'rfc12') ORDER BY 1;
-- an original that is not an object cannot be an entity's state
SELECT ws.create_entity('rfc9', 'doc', 'rfc', '["a","b"]');
SELECT ws.create_entity('rfc14', 'doc', 'rfc', '[1,2]');
