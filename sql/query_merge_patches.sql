-- ws.merge_patches(jsonb): an ordered fold of RFC 7396 merge patches.  The
-- first value is taken as it is (an entity's first patch is its initial
-- state, null members included); each next one is applied.  Over an
-- entity's events in version order it gives the entity's state.
SET search_path = public, ws;
SET worldstate.handshake = '55-45-17';

SELECT ws.merge_patches(p ORDER BY i) FROM (VALUES
    (1, '{"a": null, "b": 1, "o": {"x": 1, "y": 2}}'::jsonb)) v(i, p);
SELECT ws.merge_patches(p ORDER BY i) FROM (VALUES
    (1, '{"a": null, "b": 1, "o": {"x": 1, "y": 2}}'::jsonb),
    (2, '{"b": null, "c": null, "o": {"y": null, "z": {"deep": null, "k": 3}}}')) v(i, p);
-- order matters
SELECT ws.merge_patches(p ORDER BY i DESC) FROM (VALUES
    (1, '{"a": 1}'::jsonb), (2, '{"a": 2}'), (3, '{"b": 3}')) v(i, p);
-- NULLs are skipped; no rows, or only NULLs, give NULL
SELECT ws.merge_patches(p ORDER BY i) FROM (VALUES
    (1, NULL::jsonb), (2, '{"a": null}'), (3, NULL), (4, '{"b": 1}')) v(i, p);
SELECT ws.merge_patches(p) IS NULL AS no_rows FROM (SELECT '{}'::jsonb WHERE false) v(p);
SELECT ws.merge_patches(NULL::jsonb) IS NULL AS only_null;
-- a patch that is not an object replaces the document; an object patch
-- then starts from {}
SELECT ws.merge_patches(p ORDER BY i) FROM (VALUES
    (1, '{"a": 1}'::jsonb), (2, '[1, 2]'), (3, '{"b": 1, "c": null}')) v(i, p);
SELECT ws.merge_patches(p ORDER BY i) FROM (VALUES (1, '{"a": 1}'::jsonb), (2, '"text"')) v(i, p);
-- RFC 7396 Appendix A, each as a fold of (target, patch)
SELECT t, p, ws.merge_patches(x ORDER BY o) AS result
FROM (VALUES ('{"a":"b"}'::jsonb, '{"a":"c"}'::jsonb), ('{"a":"b"}', '{"b":"c"}'),
             ('{"a":"b"}', '{"a":null}'), ('{"a":"b","b":"c"}', '{"a":null}'),
             ('{"a":["b"]}', '{"a":"c"}'), ('{"a":"c"}', '{"a":["b"]}'),
             ('{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}'), ('{"a":[{"b":"c"}]}', '{"a":[1]}'),
             ('["a","b"]', '["c","d"]'), ('{"a":"b"}', '["c"]'), ('{"a":"foo"}', 'null'),
             ('{"a":"foo"}', '"bar"'), ('{"e":null}', '{"a":1}'), ('[1,2]', '{"a":"b","c":null}'),
             ('{}', '{"a":{"bb":{"ccc":null}}}')) AS v(t, p),
     LATERAL (VALUES (1, t), (2, p)) AS f(o, x)
GROUP BY t, p ORDER BY t::text, p::text;

-- over events: ORDER BY version (or hlc) gives the state, for every
-- entity of this suite and of the other query suites
SELECT ws.register_module('qmerge', 1);
SELECT ws.define_kind('qm_doc', 'qmerge', 'lww', ARRAY['count']);
SELECT version FROM ws.create_entity('qm1', 'qm_doc', 'qmerge', '{"keep": null, "count": 1, "o": {"a": 1}}');
SELECT count(ws.transition('qm1', p)) FROM (VALUES
    ('{"count": 5}'::jsonb), ('{"o": {"b": 2, "a": null}}'), ('{"o": 3}'), ('{"o": {"c": [1, {"d": null}]}}'),
    ('{"count": -2, "new": "x"}'), ('{"new": null}')) v(p);
SELECT state FROM ws.entities WHERE entity_id = 'qm1';
SELECT ws.merge_patches(patch ORDER BY version) AS folded FROM ws.events WHERE entity_id = 'qm1';
SELECT count(*) AS entities, count(*) FILTER (WHERE e.state = f.by_version) AS by_version_equal,
       count(*) FILTER (WHERE e.state = f.by_hlc) AS by_hlc_equal
FROM ws.entities e,
     LATERAL (SELECT ws.merge_patches(patch ORDER BY version) AS by_version,
                     ws.merge_patches(patch ORDER BY hlc) AS by_hlc
              FROM ws.events v WHERE v.entity_id = e.entity_id) f
WHERE e.module IN ('qmerge', 'qpoint', 'qworld', 'qfind', 'qhist', 'qnb');

-- as a window function: the running state after each event, which is what
-- ws.get_state returns at that event's HLC
SELECT version, ws.merge_patches(patch) OVER (ORDER BY version) AS running
FROM ws.events WHERE entity_id = 'qm1' ORDER BY version;
SELECT bool_and(running = ws.get_state(entity_id, hlc)) AS running_is_get_state
FROM (SELECT entity_id, hlc, ws.merge_patches(patch) OVER (PARTITION BY entity_id ORDER BY version) AS running
      FROM ws.events WHERE module IN ('qmerge', 'qpoint', 'qworld', 'qfind', 'qhist', 'qnb')) s
WHERE ws.get_state(entity_id, hlc) IS NOT NULL;
