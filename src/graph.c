/*-------------------------------------------------------------------------
 *
 * graph.c
 *		A picture of causal history: ws.causal_graph, the events of an
 *		entity as a Graphviz DOT graph of causality.
 *
 * One node per event, in a lane (a cluster) and a colour of its origin
 * node, laid out from left to right in HLC order.  The edges are the
 * entity's causality, read from the entity vclocks its events carry (see
 * converge.c): x is in past(e) exactly when e.vclock[x.origin] >=
 * x.vclock[x.origin].  Only the transitive reduction is drawn: for each
 * origin counted in e.vclock, the latest event of that origin in past(e),
 * unless it is in the past of another such event -- so an arrow x -> e
 * says "x happened immediately before e", and two events with no path
 * between them were concurrent.  The explicit causal_deps of an event on
 * events of the same entity are dotted arrows where they add something.
 *
 * Conflicts come from ws.conflicts, which holds the same rows on every
 * node that holds the same events (the node's own apply errors aside,
 * which are left out): a dashed red line between the two events of a
 * conflict, labelled with its type and status, or a red outline on an
 * event whose conflict has one event in the picture.  A resolve event
 * (ws.resolve_conflict) names the conflict it closes; the conflict's label
 * names it back.  A retirement is an octagon, the event that is the
 * entity's canonical head has a thick outline.
 *
 * The output is a function of the events and their conflicts only --
 * nothing of when or where it is asked (arrival order, detection times,
 * node-local errors) -- so converged nodes draw the same bytes.  Events
 * are read as ws.history reads them (reader.c: both tables of the event
 * log, merged by HLC, with the caller's privileges), at most
 * WS_GRAPH_MAX_EVENTS of them: above that the caller narrows the range,
 * which keeps the text this builds bounded.  Everything a user supplied
 * (entity id, event type, patch) is escaped for a DOT quoted string and
 * shortened, so it can neither end a string nor reach Graphviz as markup.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "args.h"
#include "errcodes.h"
#include "hlc.h"
#include "reader.h"
#include "spi.h"
#include "tables.h"
#include "vclock.h"

PG_FUNCTION_INFO_V1(causal_graph);

/* The most events one picture draws (the README documents it). */
#define WS_GRAPH_MAX_EVENTS 10000

/* How much of a user's text a label shows, in characters. */
#define ENTITY_CHARS	64
#define TYPE_CHARS		32
#define PATCH_CHARS		40
#define RESOLUTION_CHARS 40

/* Colours of origin nodes (outline, fill), by node id modulo their number. */
static const char *const lane_colours[][2] = {
	{"#1f77b4", "#d6e6f4"},
	{"#ff7f0e", "#ffe3c8"},
	{"#2ca02c", "#d5f0d5"},
	{"#9467bd", "#e6ddf0"},
	{"#8c564b", "#eadbd8"},
	{"#e377c2", "#f9dcef"},
	{"#7f7f7f", "#e5e5e5"},
	{"#17becf", "#d0f2f6"},
};

/* One event of the picture; its DOT node is "e<index + 1>". */
typedef struct GEvent
{
	pg_uuid_t	id;
	WsHlc		hlc;
	int64		version;
	int32		origin;
	int64		seq;			/* vclock[origin]: its place among the
								 * origin's events; < 1 when the vclock does
								 * not count it */
	WsVclock   *vclock;			/* NULL when the event has none */
	char	   *type;
	char	   *patch;			/* text form, or NULL */
	pg_uuid_t  *deps;			/* explicit causal_deps */
	int			ndeps;
	char	   *resolves;		/* the conflict a resolve event names */
	StringInfo	notes;			/* lines the label adds, or NULL */
	bool		conflicted;		/* a conflict of one event drawn is on it */
	bool		head;
} GEvent;

/* An event id and the event's index, for lookups by id. */
typedef struct GEventId
{
	pg_uuid_t	id;
	int			index;
} GEventId;

/* The picture being drawn. */
typedef struct Graph
{
	GEvent	   *ev;				/* in HLC order */
	int			n;
	int32	   *origins;		/* distinct origin nodes, ascending */
	int			norigins;
	GEventId   *ids;			/* sorted by id */
	StringInfoData out;
} Graph;

/* The conflicts of the entity in the range, in id order. */
static struct
{
	SPIPlanPtr	conflicts;
	Oid			prepared_for;
} plans;

static const WsPlanDef plan_defs[] = {
	{&plans.conflicts,
		"SELECT conflict_id::pg_catalog.text, type, status, resolution, event_ids"
		" FROM ws.conflicts WHERE entity_id OPERATOR(pg_catalog.=) $1"
		" AND ($2 IS NULL OR hlc OPERATOR(ws.>=) $2) AND ($3 IS NULL OR hlc OPERATOR(ws.<=) $3)"
		" AND type OPERATOR(pg_catalog.=) ANY ('{concurrent_update,duplicate_create,"
		"after_retirement,constraint,malformed_event}')"
		" ORDER BY conflict_id",
	{"pg_catalog.text", "ws.hlc", "ws.hlc"}},
};

/*
 * Append s to buf as the inside of a DOT quoted string that Graphviz shows
 * as text, at most maxchars characters of it (then "...").  A quote or a
 * backslash is escaped, so the string cannot end early nor start one of
 * Graphviz's escapes (\N, \G, \l...); a control character is shown as
 * \xNN; &, < and > are written as entities, which Graphviz shows as the
 * characters themselves rather than reading them as markup.
 */
static void
append_text(StringInfo buf, const char *s, int maxchars)
{
	int			chars = 0;

	while (*s)
	{
		unsigned char c = (unsigned char) *s;
		int			len = 1;

		if (chars == maxchars)
		{
			appendStringInfoString(buf, "...");
			return;
		}
		if (c == '"' || c == '\\')
		{
			appendStringInfoChar(buf, '\\');
			appendStringInfoChar(buf, c);
		}
		else if (c == '&')
			appendStringInfoString(buf, "&amp;");
		else if (c == '<')
			appendStringInfoString(buf, "&lt;");
		else if (c == '>')
			appendStringInfoString(buf, "&gt;");
		else if (c < 0x20 || c == 0x7f)
			appendStringInfo(buf, "\\\\x%02x", c);
		else
		{
			len = pg_mblen(s);
			appendBinaryStringInfo(buf, s, len);
		}
		s += len;
		chars++;
	}
}

/* The time of day of an HLC with its counter and node: 10:00:00.123456Z/5@3. */
static const char *
short_hlc(const WsHlc *h)
{
	char	   *full = ws_hlc_to_cstring(h);
	char	   *t = strchr(full, 'T');

	return t ? t + 1 : full;
}

/* A uuid as text. */
static char *
uuid_text(const pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
}

/* The text form of a jsonb, at most maxchars characters (then "..."). */
static char *
jsonb_short(Jsonb *jb, int maxchars)
{
	char	   *full = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	int			bytes = 0;

	for (int chars = 0; full[bytes] && chars < maxchars; chars++)
		bytes += pg_mblen(full + bytes);
	if (full[bytes] == '\0')
		return full;
	return psprintf("%.*s...", bytes, full);
}

/*
 * Copy the event in log->slot into e, in the current memory context;
 * rowcxt is reset afterwards and holds what the copying needed.
 */
static void
read_event(GEvent *e, WsLog *log, MemoryContext rowcxt)
{
	MemoryContext keep = CurrentMemoryContext;
	bool		isnull;
	Datum		d;

	memset(e, 0, sizeof(*e));
	e->id = *DatumGetUUIDP(ws_log_col(log, EV_EVENT_ID, &isnull));
	e->hlc = *DatumGetHlcP(ws_log_col(log, EV_HLC, &isnull));
	e->version = DatumGetInt64(ws_log_col(log, EV_VERSION, &isnull));
	e->origin = DatumGetInt32(ws_log_col(log, EV_ORIGIN_NODE, &isnull));
	e->type = TextDatumGetCString(ws_log_col(log, EV_EVENT_TYPE, &isnull));
	d = ws_log_col(log, EV_VCLOCK, &isnull);
	if (!isnull)
	{
		e->vclock = (WsVclock *) PG_DETOAST_DATUM_COPY(d);
		e->seq = ws_vclock_count(e->vclock, e->origin);
	}

	MemoryContextSwitchTo(rowcxt);
	d = ws_log_col(log, EV_PATCH, &isnull);
	if (!isnull)
	{
		char	   *p = jsonb_short(DatumGetJsonbP(d), PATCH_CHARS);

		MemoryContextSwitchTo(keep);
		e->patch = pstrdup(p);
		MemoryContextSwitchTo(rowcxt);
	}
	d = ws_log_col(log, EV_CAUSAL_DEPS, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(DatumGetArrayTypeP(d), UUIDOID, UUID_LEN, false, TYPALIGN_CHAR,
						  &elems, &nulls, &n);
		MemoryContextSwitchTo(keep);
		e->deps = palloc(sizeof(pg_uuid_t) * Max(n, 1));
		for (int i = 0; i < n; i++)
			if (!nulls[i])
				e->deps[e->ndeps++] = *DatumGetUUIDP(elems[i]);
		MemoryContextSwitchTo(rowcxt);
	}
	/* a resolve event names its conflict in the caller's meta (converge.c) */
	if (strcmp(e->type, "resolve") == 0 && log->col[EV_CALLER_META] != InvalidAttrNumber &&
		!(d = ws_log_col(log, EV_CALLER_META, &isnull), isnull))
	{
		Jsonb	   *meta = DatumGetJsonbP(d);
		JsonbValue *v;

		if (JB_ROOT_IS_OBJECT(meta) &&
			(v = getKeyJsonValueFromContainer(&meta->root, "resolves", 8, NULL)) != NULL &&
			v->type == jbvString)
		{
			MemoryContextSwitchTo(keep);
			e->resolves = pnstrdup(v->val.string.val, v->val.string.len);
		}
	}
	MemoryContextSwitchTo(keep);
	MemoryContextReset(rowcxt);
}

/*
 * Read the events of entity_id with from <= hlc <= to into g, in HLC
 * order; 54000 when there are more than WS_GRAPH_MAX_EVENTS.
 */
static void
read_events(Graph *g, WsReader *r, Datum entity_id, const char *id,
			const WsHlc *from, const WsHlc *to)
{
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate causal graph row",
												 ALLOCSET_DEFAULT_SIZES);
	WsHistory	h;
	WsLog	   *log;
	int			cap = 64;

	g->ev = palloc(sizeof(GEvent) * cap);
	ws_history_begin(r, &h, entity_id, from, to);
	while ((log = ws_history_next(&h)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		if (g->n == WS_GRAPH_MAX_EVENTS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("entity \"%s\" has more than %d events in the range asked for",
							id, WS_GRAPH_MAX_EVENTS),
					 errdetail("ws.causal_graph draws at most %d events.", WS_GRAPH_MAX_EVENTS),
					 errhint("Narrow the range with from_hlc and to_hlc.")));
		if (g->n == cap)
		{
			cap *= 2;
			g->ev = repalloc(g->ev, sizeof(GEvent) * cap);
		}
		read_event(&g->ev[g->n++], log, rowcxt);
	}
	ws_history_end(&h);
	MemoryContextDelete(rowcxt);
}

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return x < y ? -1 : x > y;
}

static int
event_id_cmp(const void *a, const void *b)
{
	return memcmp(&((const GEventId *) a)->id, &((const GEventId *) b)->id, UUID_LEN);
}

/* Index the events by origin (g->origins) and by id (g->ids). */
static void
index_events(Graph *g)
{
	int			n = 0;

	g->origins = palloc(sizeof(int32) * Max(g->n, 1));
	g->ids = palloc(sizeof(GEventId) * Max(g->n, 1));
	for (int i = 0; i < g->n; i++)
	{
		g->origins[i] = g->ev[i].origin;
		g->ids[i].id = g->ev[i].id;
		g->ids[i].index = i;
	}
	qsort(g->origins, g->n, sizeof(int32), int32_cmp);
	for (int i = 0; i < g->n; i++)
		if (n == 0 || g->origins[n - 1] != g->origins[i])
			g->origins[n++] = g->origins[i];
	g->norigins = n;
	qsort(g->ids, g->n, sizeof(GEventId), event_id_cmp);
}

/* The lane (index in g->origins) of origin node, or -1. */
static int
lane_of(Graph *g, int32 origin)
{
	int32	   *p = bsearch(&origin, g->origins, g->norigins, sizeof(int32), int32_cmp);

	return p ? (int) (p - g->origins) : -1;
}

/* The index of the event with this id, or -1 when it is not drawn. */
static int
event_index(Graph *g, const pg_uuid_t *id)
{
	GEventId	key;
	GEventId   *p;

	key.id = *id;
	p = bsearch(&key, g->ids, g->n, sizeof(GEventId), event_id_cmp);
	return p ? p->index : -1;
}

/* An event in labels: v3@2, version 3 from node 2. */
static char *
event_name(const GEvent *e)
{
	return psprintf("v" INT64_FORMAT "@%d", e->version, e->origin);
}

/* A new line of the label of event e, to append to. */
static StringInfo
note_line(GEvent *e)
{
	if (e->notes == NULL)
		e->notes = makeStringInfo();
	appendStringInfoString(e->notes, "\\n");
	return e->notes;
}

/* Mark event e with a conflict of which it is the only event drawn. */
static void
add_conflict_note(GEvent *e, const char *type, const char *status)
{
	StringInfo	line = note_line(e);

	append_text(line, type, TYPE_CHARS);
	appendStringInfoString(line, " (");
	append_text(line, status, TYPE_CHARS);
	appendStringInfoChar(line, ')');
	e->conflicted = true;
}

/* The resolve event drawn that names conflict id, or -1. */
static int
resolver_of(Graph *g, const char *id)
{
	for (int i = 0; i < g->n; i++)
		if (g->ev[i].resolves && strcmp(g->ev[i].resolves, id) == 0)
			return i;
	return -1;
}

/*
 * Draw the conflicts of the entity whose HLC is in the range: read from
 * ws.conflicts with the caller's privileges.  A conflict between two
 * events drawn is a dashed red line; one with a single event drawn is a
 * note on that event.  Lines go to edges; notes wait in the events.
 */
static void
draw_conflicts(Graph *g, StringInfo edges, const char *id, const WsHlc *from, const WsHlc *to)
{
	MemoryContext keep = CurrentMemoryContext;
	Datum		a[3];
	char		nulls[3] = {' ', from ? ' ' : 'n', to ? ' ' : 'n'};
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_prepare_table(&plans.prepared_for, plan_defs, lengthof(plan_defs));
	a[0] = CStringGetTextDatum(id);
	a[1] = from ? HlcPGetDatum(from) : (Datum) 0;
	a[2] = to ? HlcPGetDatum(to) : (Datum) 0;
	rc = SPI_execute_plan(plans.conflicts, a, nulls, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read ws.conflicts: %s", SPI_result_code_string(rc));
	MemoryContextSwitchTo(keep);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	t = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *cid = SPI_getvalue(t, desc, 1);
		char	   *type = SPI_getvalue(t, desc, 2);
		char	   *status = SPI_getvalue(t, desc, 3);
		char	   *resolution = SPI_getvalue(t, desc, 4);
		bool		isnull;
		Datum	   *elems;
		bool	   *enulls;
		int			nelems;
		int			ix[2] = {-1, -1};
		int			resolver;

		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(t, desc, 5, &isnull)),
						  UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &enulls, &nelems);
		for (int k = 0; k < nelems && k < 2; k++)
			if (!enulls[k])
				ix[k] = event_index(g, DatumGetUUIDP(elems[k]));
		if (ix[0] < 0 || ix[1] < 0)
		{
			/* one event of it in the picture: a note on that event */
			for (int k = 0; k < 2; k++)
				if (ix[k] >= 0)
					add_conflict_note(&g->ev[ix[k]], type, status);
			continue;
		}
		/* the earlier event, then the one that met it */
		appendStringInfo(edges, "\te%d -> e%d [dir=none, style=dashed, color=red, fontcolor=red,"
						 " constraint=false, penwidth=2, label=\"", ix[1] + 1, ix[0] + 1);
		append_text(edges, type, TYPE_CHARS);
		appendStringInfoString(edges, "\\n");
		append_text(edges, status, TYPE_CHARS);
		resolver = resolver_of(g, cid);
		if (resolver >= 0)
			appendStringInfo(edges, " by %s", event_name(&g->ev[resolver]));
		else if (resolution && strcmp(status, "resolved") == 0)
		{
			appendStringInfoString(edges, ": ");
			append_text(edges, resolution, RESOLUTION_CHARS);
		}
		appendStringInfoString(edges, "\"];\n");
		/* the resolve event says what it resolved */
		if (resolver >= 0)
			appendStringInfo(note_line(&g->ev[resolver]), "resolves %s ~ %s",
							 event_name(&g->ev[ix[1]]), event_name(&g->ev[ix[0]]));
	}
	SPI_finish();
}

/*
 * The latest event of a lane's list (indices of events, in HLC order, and
 * their seq) whose seq is at most count, or -1.  The list of a well-formed
 * history rises (one origin numbers its events in order), which a binary
 * search uses; a malformed one is walked.
 */
static int
latest_upto(Graph *g, const int *list, int len, bool rising, int64 count)
{
	int			best = -1;

	if (rising)
	{
		int			lo = 0,
					hi = len;

		while (lo < hi)
		{
			int			mid = lo + (hi - lo) / 2;

			if (g->ev[list[mid]].seq <= count)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo > 0 ? list[lo - 1] : -1;
	}
	for (int k = 0; k < len; k++)
		if (g->ev[list[k]].seq <= count && (best < 0 || g->ev[list[k]].seq >= g->ev[best].seq))
			best = list[k];
	return best;
}

/* Whether drawn event x is in the causal past of drawn event y. */
static bool
in_past(const GEvent *x, const GEvent *y)
{
	return y->vclock != NULL && x->seq >= 1 &&
		ws_vclock_count(y->vclock, x->origin) >= x->seq;
}

/*
 * Append the causal edges to edges: for each event, its immediate causal
 * predecessors among the events drawn (the transitive reduction), then
 * its explicit causal_deps on drawn events that are not one of them.
 */
static void
draw_causality(Graph *g, StringInfo edges)
{
	int		  **lists = palloc0(sizeof(int *) * Max(g->norigins, 1));
	int		   *lens = palloc0(sizeof(int) * Max(g->norigins, 1));
	bool	   *rising = palloc(sizeof(bool) * Max(g->norigins, 1));
	int		   *preds = palloc(sizeof(int) * Max(g->norigins, 1));
	int		   *sizes = palloc0(sizeof(int) * Max(g->norigins, 1));

	/* each lane's list holds at most the events of its origin */
	for (int i = 0; i < g->n; i++)
		sizes[lane_of(g, g->ev[i].origin)]++;
	for (int l = 0; l < g->norigins; l++)
	{
		lists[l] = palloc(sizeof(int) * sizes[l]);
		rising[l] = true;
	}
	for (int i = 0; i < g->n; i++)
	{
		GEvent	   *e = &g->ev[i];
		int			np = 0;
		int			kept = 0;

		CHECK_FOR_INTERRUPTS();
		/* per origin, the latest event of it in past(e) */
		for (int k = 0; e->vclock && k < e->vclock->n; k++)
		{
			int			l = lane_of(g, e->vclock->entries[k].node);
			int			x;

			if (l < 0)
				continue;
			x = latest_upto(g, lists[l], lens[l], rising[l], e->vclock->entries[k].count);
			if (x >= 0)
				preds[np++] = x;
		}
		/* less those in the past of a later one of them */
		for (int p = 0; p < np; p++)
		{
			bool		implied = false;

			for (int q = 0; q < np && !implied; q++)
				implied = q != p && preds[q] > preds[p] &&
					in_past(&g->ev[preds[p]], &g->ev[preds[q]]);
			if (!implied)
				preds[kept++] = preds[p];
		}
		qsort(preds, kept, sizeof(int), int32_cmp);
		for (int p = 0; p < kept; p++)
			appendStringInfo(edges, "\te%d -> e%d;\n", preds[p] + 1, i + 1);
		for (int k = 0; k < e->ndeps; k++)
		{
			int			d = event_index(g, &e->deps[k]);
			bool		drawn = d == i;

			for (int p = 0; p < kept && !drawn; p++)
				drawn = preds[p] == d;
			if (d >= 0 && !drawn)
				appendStringInfo(edges, "\te%d -> e%d [style=dotted, label=\"causal dep\"];\n",
								 d + 1, i + 1);
		}
		/* e joins its origin's list, where later events find it */
		if (e->seq >= 1)
		{
			int			l = lane_of(g, e->origin);

			if (lens[l] > 0 && g->ev[lists[l][lens[l] - 1]].seq > e->seq)
				rising[l] = false;
			lists[l][lens[l]++] = i;
		}
	}
}

/* Append the DOT node of event i. */
static void
draw_event(Graph *g, int i)
{
	GEvent	   *e = &g->ev[i];
	StringInfo	out = &g->out;
	const char *const *colour = lane_colours[(uint32) e->origin % lengthof(lane_colours)];
	const char *shape = "ellipse";
	const char *style = "filled";

	if (strcmp(e->type, "created") == 0)
	{
		shape = "box";
		style = "rounded,filled";
	}
	else if (strcmp(e->type, WS_RETIRED_EVENT) == 0)
	{
		shape = "octagon";
		style = "filled,bold";
	}
	else if (strcmp(e->type, "resolve") == 0)
	{
		shape = "box";
		style = "filled,bold";
	}
	appendStringInfo(out, "\t\te%d [shape=%s, style=\"%s\", color=\"%s\", fillcolor=\"%s\"",
					 i + 1, shape, style, e->conflicted ? "red" : colour[0], colour[1]);
	if (strcmp(e->type, "resolve") == 0)
		appendStringInfoString(out, ", peripheries=2");
	if (e->head || e->conflicted)
		appendStringInfo(out, ", penwidth=%d", e->head ? 3 : 2);
	appendStringInfo(out, ", tooltip=\"event %s\\nhlc %s\", label=\"%s ",
					 uuid_text(&e->id), ws_hlc_to_cstring(&e->hlc), event_name(e));
	append_text(out, e->type, TYPE_CHARS);
	appendStringInfo(out, "\\n%s", short_hlc(&e->hlc));
	if (e->patch)
	{
		appendStringInfoString(out, "\\n");
		append_text(out, e->patch, PATCH_CHARS + 3);
	}
	if (e->notes)
		appendBinaryStringInfo(out, e->notes->data, e->notes->len);
	if (e->head)
		appendStringInfoString(out, "\\ncanonical head");
	appendStringInfoString(out, "\"];\n");
}

/* Append a lane: the cluster of origin node g->origins[l] and its events. */
static void
draw_lane(Graph *g, int l)
{
	int32		origin = g->origins[l];
	const char *const *colour = lane_colours[(uint32) origin % lengthof(lane_colours)];

	appendStringInfo(&g->out, "\tsubgraph cluster_node_%d {\n"
					 "\t\tlabel=\"node %d\"; color=\"%s\"; fontcolor=\"%s\"; style=rounded;\n",
					 l + 1, origin, colour[0], colour[0]);
	for (int i = 0; i < g->n; i++)
		if (g->ev[i].origin == origin)
			draw_event(g, i);
	appendStringInfoString(&g->out, "\t}\n");
}

/*
 * The DOT text of the picture of entity id, whose canonical head is at
 * head (NULL: not known), between from and to.
 */
static void
draw(Graph *g, const char *id, const WsHlc *head, const WsHlc *from, const WsHlc *to)
{
	StringInfoData edges;
	StringInfo	out = &g->out;

	initStringInfo(out);
	initStringInfo(&edges);
	index_events(g);
	for (int i = 0; head && i < g->n; i++)
		g->ev[i].head = ws_hlc_cmp(&g->ev[i].hlc, head) == 0;
	draw_causality(g, &edges);
	draw_conflicts(g, &edges, id, from, to);

	appendStringInfoString(out, "digraph causal_history {\n"
						   "\tgraph [rankdir=LR, newrank=true, labelloc=t, fontname=\"Helvetica\", label=\"causal history of ");
	append_text(out, id, ENTITY_CHARS);
	appendStringInfo(out, "\\n%d event%s", g->n, g->n == 1 ? "" : "s");
	if (from)
		appendStringInfo(out, " from %s", ws_hlc_to_cstring(from));
	if (to)
		appendStringInfo(out, " to %s", ws_hlc_to_cstring(to));
	appendStringInfoString(out, "\"];\n"
						   "\tnode [fontname=\"Helvetica\", fontsize=10];\n"
						   "\tedge [fontname=\"Helvetica\", fontsize=9];\n");
	for (int l = 0; l < g->norigins; l++)
		draw_lane(g, l);
	/* HLC order, left to right */
	for (int i = 1; i < g->n; i++)
		appendStringInfo(out, "\te%d -> e%d [style=invis];\n", i, i + 1);
	appendBinaryStringInfo(out, edges.data, edges.len);
	appendStringInfoString(out, "}\n");
}

/*
 * ws.causal_graph(entity_id text, from_hlc ws.hlc DEFAULT NULL,
 *				   to_hlc ws.hlc DEFAULT NULL) -> text
 *
 * The entity's events with from_hlc <= hlc <= to_hlc (a NULL bound is
 * open) as a Graphviz DOT digraph of causality (file header).  WS404 for
 * an entity that does not exist, 22023 when from_hlc is after to_hlc,
 * 54000 above WS_GRAPH_MAX_EVENTS events.
 */
Datum
causal_graph(PG_FUNCTION_ARGS)
{
	char	   *id = ws_arg_text(fcinfo, 0, "entity_id", 0);
	Datum		entity_id = PointerGetDatum(PG_GETARG_TEXT_PP(0));
	const WsHlc *from = ws_arg_moment(fcinfo, 1, false);
	const WsHlc *to = ws_arg_moment(fcinfo, 2, true);
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext work;
	WsReader	r;
	Graph		g = {0};
	WsHlc		head;
	bool		isnull;
	text	   *result;

	if (from && to && ws_hlc_cmp(from, to) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_hlc is after to_hlc"),
				 errdetail("from_hlc is %s and to_hlc is %s.",
						   ws_hlc_to_cstring(from), ws_hlc_to_cstring(to)),
				 errhint("Pass a from_hlc at or before to_hlc, or NULL for an open bound.")));
	work = AllocSetContextCreate(outer, "worldstate causal graph", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work);
	ws_reader_open(&r, WS_READ_ENTITIES);
	if (!ws_reader_entity(&r, entity_id))
		ereport(ERROR,
				(errcode(ERRCODE_WS_NO_ENTITY),
				 errmsg("entity \"%s\" does not exist", id),
				 errhint("Pass the id of an entity of ws.entities.")));
	{
		Datum		d = ws_reader_entity_col(&r, EN_HLC, &isnull);

		if (!isnull)
			head = *DatumGetHlcP(d);
	}
	read_events(&g, &r, entity_id, id, from, to);
	ws_reader_close(&r);

	draw(&g, id, isnull ? NULL : &head, from, to);
	MemoryContextSwitchTo(outer);
	result = cstring_to_text_with_len(g.out.data, g.out.len);
	MemoryContextDelete(work);
	PG_RETURN_TEXT_P(result);
}
