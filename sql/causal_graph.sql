-- ws.causal_graph: an entity's events as a Graphviz DOT graph of
-- causality.  Local changes, events of other nodes as the apply worker
-- inserts them (session_replication_role = replica, as converge_apply
-- does), a manual conflict and its resolution; the structure of the DOT
-- read back with SQL, hostile text kept inside its strings, the error
-- paths with their SQLSTATEs.  test/t/068_causal_graph.pl renders it with
-- Graphviz and compares it between nodes.
\set SHOW_CONTEXT never
\i sql/include/try.sql
SET worldstate.handshake = '55-45-17';
SELECT ws.register_module('cgraph', 1);
SELECT ws.define_kind('cg_note', 'cgraph', 'merge', '{hits}');
SELECT ws.define_kind('cg_sheet', 'cgraph', 'manual');

-- an event as node `origin` would have sent it: id, HLC and version from
-- the arguments, so the picture of such events is the same on every run
CREATE FUNCTION pg_temp.arrive(id text, entity text, kind text, type text, origin int,
                               wall numeric, vc text, version int, patch jsonb,
                               caller_meta jsonb DEFAULT NULL, deps text[] DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO ws.events (event_id, entity_id, version, hlc, origin_node, module, kind,
                           event_type, patch, handshake, vclock, caller_meta, causal_deps,
                           txid, recorded_at)
    VALUES (md5(id)::uuid, entity, version,
            ws.hlc('2026-01-01 00:00:00+00'::timestamptz + wall * interval '1 second', 0, origin),
            origin, 'cgraph', kind, type, patch, '55-45-17', vc::ws.vclock, caller_meta,
            (SELECT array_agg(md5(d)::uuid) FROM unnest(deps) d),
            pg_current_xact_id(), now())
$$;

-- what a DOT text holds, read back: its nodes (by shape), its causal
-- arrows, its conflict lines, and the text left outside quoted strings
CREATE FUNCTION pg_temp.shape(dot text, OUT nodes int, OUT octagons int, OUT arrows int,
                              OUT order_edges int, OUT deps int, OUT conflicts int,
                              OUT heads int, OUT lanes int)
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM regexp_matches(dot, '^\t\te[0-9]+ \[', 'gn'))::int,
           (SELECT count(*) FROM regexp_matches(dot, '^\t\te[0-9]+ \[shape=octagon', 'gn'))::int,
           (SELECT count(*) FROM regexp_matches(dot, '^\te[0-9]+ -> e[0-9]+;$', 'gn'))::int,
           (SELECT count(*) FROM regexp_matches(dot, '^\te[0-9]+ -> e[0-9]+ \[style=invis\];$', 'gn'))::int,
           (SELECT count(*) FROM regexp_matches(dot, '^\te[0-9]+ -> e[0-9]+ \[style=dotted', 'gn'))::int,
           (SELECT count(*) FROM regexp_matches(dot, '^\te[0-9]+ -> e[0-9]+ \[dir=none, style=dashed, color=red', 'gn'))::int,
           (SELECT count(*) FROM regexp_matches(dot, 'canonical head', 'g'))::int,
           (SELECT count(*) FROM regexp_matches(dot, '^\tsubgraph cluster_node_[0-9]+ \{$', 'gn'))::int
$$;
-- the DOT with every quoted string emptied: what Graphviz reads as syntax
CREATE FUNCTION pg_temp.syntax(dot text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(dot, '"(?:[^"\\]|\\.)*"', '""', 'g')
$$;

-- local changes: a creation, two updates, a retirement, one lane
SELECT version FROM ws.create_entity('cg_local', 'cg_note', 'cgraph', '{"hits": 0, "text": "a"}');
SELECT version FROM ws.transition('cg_local', '{"hits": 2}');
SELECT version FROM ws.transition('cg_local', '{"text": "b"}');
SELECT version FROM ws.retire_entity('cg_local');
SELECT ws.causal_graph('cg_local') AS dot \gset
SELECT * FROM pg_temp.shape(:'dot');
-- a chain: each event's one arrow comes from the one before; the head is
-- the retirement, an octagon
SELECT array_agg(m[1] ORDER BY ord) AS arrows
FROM regexp_matches(:'dot', '^\t(e[0-9]+ -> e[0-9]+);$', 'gn') WITH ORDINALITY AS t(m, ord);
SELECT :'dot' ~ 'e4 \[shape=octagon[^\n]*penwidth=3[^\n]*v4@0 retired[^\n]*canonical head' AS retired_head;
SELECT :'dot' ~ 'e1 \[shape=box, style="rounded,filled"[^\n]*v1@0 created' AS created_box;
-- a valid digraph: one opening line, one closing brace, every other line
-- a statement of its own
SELECT :'dot' ~ '^digraph causal_history \{\n' AND :'dot' ~ '\n\}\n$' AS framed,
       (SELECT bool_and(l ~ '^\t(\t?e[0-9]+ .*;|graph \[.*\];|node \[.*\];|edge \[.*\];|subgraph cluster_node_[0-9]+ \{|\tlabel=.*;|\})$')
        FROM unnest(string_to_array(rtrim(:'dot', E'\n'), E'\n')) WITH ORDINALITY AS t(l, n)
        WHERE n > 1 AND l <> '}') AS one_statement_a_line;
-- the same events, the same bytes
SELECT ws.causal_graph('cg_local') = :'dot' AS same_again;

-- events of nodes 2 and 3: a creation on node 2, then an update on each
-- node that did not see the other's (concurrent, touching the same field:
-- a manual conflict), an event that saw both, with an explicit causal
-- dependency on the creation, and node 3's resolution of the conflict
SET session_replication_role = replica;
SELECT pg_temp.arrive('cs1', 'cg_sheet1', 'cg_sheet', 'created', 2, 1, '{2:1}', 1, '{"cell": 0, "note": "-"}');
SELECT pg_temp.arrive('cs2', 'cg_sheet1', 'cg_sheet', 'update', 2, 2, '{2:2}', 2, '{"cell": 1}');
SELECT pg_temp.arrive('cs3', 'cg_sheet1', 'cg_sheet', 'update', 3, 3, '{2:1,3:1}', 2, '{"cell": 2}');
RESET session_replication_role;
SELECT type, status FROM ws.conflicts WHERE entity_id = 'cg_sheet1';
SELECT ws.causal_graph('cg_sheet1') AS open_dot \gset
SELECT * FROM pg_temp.shape(:'open_dot');
SELECT substring(:'open_dot' from '\te[0-9]+ -> e[0-9]+ \[dir=none[^\n]*') AS conflict_line;
SELECT conflict_id AS cid FROM ws.conflicts WHERE entity_id = 'cg_sheet1' \gset
SET session_replication_role = replica;
SELECT pg_temp.arrive('cs4', 'cg_sheet1', 'cg_sheet', 'update', 3, 4, '{2:2,3:2}', 3, '{"note": "both"}',
                      deps => '{cs1}');
SELECT pg_temp.arrive('cs5', 'cg_sheet1', 'cg_sheet', 'resolve', 3, 5, '{2:2,3:3}', 4, '{"cell": 3}',
                      caller_meta => jsonb_build_object('resolves', :'cid'));
RESET session_replication_role;
SELECT type, status FROM ws.conflicts WHERE entity_id = 'cg_sheet1';
-- the whole picture: every byte of it follows from the events
SELECT ws.causal_graph('cg_sheet1');
SELECT * FROM pg_temp.shape(ws.causal_graph('cg_sheet1'));
-- the transitive reduction: the event that saw both sides has arrows from
-- the two sides only, not from the creation they both saw (the creation's
-- arrow to it is the explicit dependency, dotted)
SELECT array_agg(m[1] ORDER BY ord) AS arrows
FROM regexp_matches(ws.causal_graph('cg_sheet1'), '^\t(e[0-9]+ -> e[0-9]+)(;| \[style=dotted)', 'gn')
     WITH ORDINALITY AS t(m, ord);

-- a range: the events between two HLCs, the conflict when both of its
-- events are in it, a note on the one event that is when the other is not
SELECT * FROM pg_temp.shape(ws.causal_graph('cg_sheet1', '2026-01-01T00:00:02Z@0', '2026-01-01T00:00:04Z@3'));
SELECT * FROM pg_temp.shape(ws.causal_graph('cg_sheet1', '2026-01-01T00:00:03Z@0', NULL));
SELECT ws.causal_graph('cg_sheet1', '2026-01-01T00:00:03Z@0', '2026-01-01T00:00:03Z@3')
       ~ 'e1 \[shape=ellipse, style="filled", color="red"[^\n]*\\nconcurrent_update \(resolved\)' AS noted;
SELECT * FROM pg_temp.shape(ws.causal_graph('cg_sheet1', NULL, '2026-01-01T00:00:01Z@3'));
-- no events in the range: a graph with nothing in it
SELECT ws.causal_graph('cg_sheet1', '2027-01-01T00:00:00Z', NULL);

-- hostile text: quotes, backslashes, newlines, braces and markup in an
-- entity id, an event type and a patch stay inside their strings
SELECT version FROM ws.create_entity(E'cg_"]; evil -> x [label="\\\\N\n<b>&amp;', 'cg_note', 'cgraph',
                                     jsonb_build_object('text', E'"]; evil2 -> y; \\G\n<i>&lt;'));
SELECT version FROM ws.transition(E'cg_"]; evil -> x [label="\\\\N\n<b>&amp;', '{"hits": 1}',
                                  event_type => E'odd"];\nevil3 -> z;//');
SELECT ws.causal_graph(E'cg_"]; evil -> x [label="\\\\N\n<b>&amp;') AS hostile \gset
SELECT * FROM pg_temp.shape(:'hostile');
SELECT pg_temp.syntax(:'hostile') !~ 'evil' AS no_evil_syntax,
       pg_temp.syntax(:'hostile') !~ '<|&' AS no_markup_syntax,
       array_length(string_to_array(:'hostile', E'\n'), 1) AS lines;
-- as the labels read: escaped, the newline shown as \x0a, markup as entities
SELECT substring(:'hostile' from 'label="causal history of [^\n]*\\n') AS title;
SELECT substring(:'hostile' from 'v2@0 ([^\n]*?)\\n[0-9]{2}:') AS event_type_label;
SELECT substring(:'hostile' from '\\n\{[^\n]*"\];') AS patch_label;

-- long text is shortened: at most 64 characters of an id, 40 of a patch
SELECT version FROM ws.create_entity(repeat('cg_long', 100), 'cg_note', 'cgraph',
                                     jsonb_build_object('text', repeat('é', 500)));
SELECT ws.causal_graph(repeat('cg_long', 100)) AS long_dot \gset
SELECT substring(:'long_dot' from 'label="causal history of ([^\\]*)') AS title,
       substring(:'long_dot' from '\\n(\{.*?)\\ncanonical head') AS patch,
       octet_length(:'long_dot') < 1500 AS bounded;

-- archived events are drawn as ws.history returns them: the picture is
-- the same after ws.archive_events moved the early events (rolled back)
SET worldstate.keyframe_interval = 4;
SELECT version FROM ws.create_entity('cg_old', 'cg_note', 'cgraph', '{"hits": 0}');
SELECT count(ws.transition('cg_old', jsonb_build_object('step', i))) FROM generate_series(1, 9) i;
SELECT ws.hlc_now() AS mid \gset
SELECT count(ws.transition('cg_old', jsonb_build_object('late', i))) FROM generate_series(1, 3) i;
RESET worldstate.keyframe_interval;
SELECT ws.causal_graph('cg_old') AS before_archive \gset
BEGIN;
SELECT ws.create_snapshot('causal_graph') > 0 AS snapshot_taken;
SELECT ws.archive_events(:'mid') > 0 AS events_archived;
SELECT count(*) > 0 AS some_archived FROM ws.events_archive WHERE entity_id = 'cg_old';
SELECT ws.causal_graph('cg_old') = :'before_archive' AS same_picture,
       (pg_temp.shape(ws.causal_graph('cg_old'))).nodes;
ROLLBACK;

-- errors: the entity id missing, empty or unknown; the range backwards
SELECT * FROM pg_temp.try($$SELECT ws.causal_graph(NULL)$$);
SELECT * FROM pg_temp.try($$SELECT ws.causal_graph('')$$);
SELECT * FROM pg_temp.try($$SELECT ws.causal_graph('cg_nobody')$$);
SELECT * FROM pg_temp.try($$SELECT ws.causal_graph('cg_sheet1', '2026-01-02T00:00:00Z', '2026-01-01T00:00:00Z')$$);
SELECT * FROM pg_temp.try($$SELECT ws.causal_graph('cg_sheet1', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')$$);

-- bounded: 10000 events are drawn, one more is refused (54000) until the
-- range is narrowed
SELECT version FROM ws.create_entity('cg_big', 'cg_note', 'cgraph', '{"hits": 0}');
SELECT count(ws.transition('cg_big', '{"hits": 1}')) FROM generate_series(1, 9999);
SELECT (pg_temp.shape(ws.causal_graph('cg_big'))).nodes;
SELECT version FROM ws.transition('cg_big', '{"hits": 1}');
SELECT * FROM pg_temp.try($$SELECT ws.causal_graph('cg_big')$$);
SELECT ws.min(hlc) AS second FROM (SELECT hlc FROM ws.events WHERE entity_id = 'cg_big' ORDER BY hlc OFFSET 1) s \gset
SELECT (pg_temp.shape(ws.causal_graph('cg_big', :'second', NULL))).nodes;

-- who may call it: ws_reader, reading with its own privileges
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_cg_reader;
DROP ROLE IF EXISTS regress_cg_nobody;
RESET client_min_messages;
CREATE ROLE regress_cg_reader IN ROLE ws_reader;
CREATE ROLE regress_cg_nobody;
SET ROLE regress_cg_reader;
SELECT (pg_temp.shape(ws.causal_graph('cg_sheet1'))).nodes;
SET ROLE regress_cg_nobody;
SELECT code FROM pg_temp.try($$SELECT ws.causal_graph('cg_sheet1')$$);
RESET ROLE;
DROP ROLE regress_cg_reader;
DROP ROLE regress_cg_nobody;
