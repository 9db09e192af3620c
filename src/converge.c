/*-------------------------------------------------------------------------
 *
 * converge.c
 *		Events from other nodes: their integration, the canonical fold of
 *		several nodes' events, conflicts and ws.resolve_conflict.
 *
 * Peers' events arrive as rows inserted into ws.events by PostgreSQL's
 * logical replication apply worker (replication.c sets up the links).  Two
 * triggers on ws.events, enabled only for replica sessions (ENABLE REPLICA:
 * the apply worker, or a superuser with session_replication_role =
 * replica), integrate them; a local change never fires them, as the
 * transition protocol (transition.c) already wrote the canonical result:
 *
 *	- events_arrive, BEFORE INSERT: drops an exact re-delivery (the event id
 *	  is here already) and a forged duplicate of an HLC, records how far
 *	  the origin's clock is ahead (per origin, for ws.peer_status), applies
 *	  the HLC receive rule to the node clock (not when the remote wall time
 *	  is ahead by more than worldstate.max_clock_skew: that is counted and
 *	  the clock left alone; nor for a horizon event, see stable.c), and
 *	  stamps the local arrival order;
 *	- events_integrate, AFTER INSERT: folds the event into its entity; a
 *	  horizon event (stable.c) moves its origin's ws.nodes.horizon.
 *	  Every step runs in a subtransaction: an error (a malformed row, a
 *	  state that cannot be built) becomes a row of ws.conflicts of type
 *	  apply_error and the apply worker goes on.  Nothing raised here ever
 *	  reaches the apply worker, which would retry the same transaction
 *	  forever.
 *
 * The canonical fold.  An entity's events are ordered by HLC (unique per
 * event: the node id is part of it).  Let pos(e) be e's position in that
 * order and past(e) its causal past; the entity vclock an event carries
 * counts the events of each node it had seen, itself included, so x is in
 * past(e) exactly when e.vclock[x.origin] >= x.vclock[x.origin], and e is
 * concurrent with pos(e) - sum(e.vclock) of the events before it.  The state
 * at each position is, by the kind's policy:
 *
 *	- lww: the state the event's writer produced: its stored patch applied
 *	  to the state at pred(e), the latest event of its causal past.  So the
 *	  whole entity is the last writer's, and what that writer had not seen
 *	  is overwritten (it stays in ws.events);
 *	- merge: the state before it with its patch applied (RFC 7396), the
 *	  counters it changed given their value before it plus the deltas of
 *	  its intent (ws.events.intent): no increment is lost;
 *	- manual: as merge, and an event concurrent with an earlier one that
 *	  touches a field it touches opens a conflict.
 *
 * For every policy: the first creation in HLC order creates; another one is
 * a conflict of type duplicate_create and folds as an update.  The first
 * retirement is final: later events change nothing (type
 * after_retirement).  An event whose creation has not arrived waits in
 * ws.pending.  A state that breaks one of the kind's constraints where
 * events were concurrent is recorded (type constraint), not refused.
 *
 * An event that continues the entity (latest HLC, and everything before it
 * in its past) is one step.  Any other refolds the entity from the last
 * keyframe before it: the states after that keyframe, the keyframes, the
 * conflicts and ws.entities' row are computed again.  Keyframes are placed
 * at the first position, every worldstate.keyframe_interval-th, and
 * wherever the state is not the previous one with the event's stored patch
 * applied, so that readers (reader.c), which fold stored patches onto the
 * last keyframe, find the canonical state at every moment.
 *
 * Each concurrent event is recorded once, against the latest earlier event
 * it is concurrent with (for manual, that touches a field it touches): a
 * bounded number of conflicts, each with an id derived from the two event
 * ids, so every node holding the same events holds the same conflicts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/md5.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "clock.h"
#include "converge.h"
#include "definitions.h"
#include "errcodes.h"
#include "fold.h"
#include "hlc.h"
#include "horizon.h"
#include "kindcache.h"
#include "lookup.h"
#include "merge_patch.h"
#include "settings.h"
#include "spi.h"
#include "stable.h"
#include "stats.h"
#include "util.h"
#include "vclock.h"
#include "writer.h"

PG_FUNCTION_INFO_V1(events_arrive);
PG_FUNCTION_INFO_V1(events_integrate);
PG_FUNCTION_INFO_V1(conflict_resolve);
PG_FUNCTION_INFO_V1(pending_retry);

static int64 retry_pending_all(void);

/* Policies of ws.kinds.policy. */
typedef enum WsPolicy
{
	WS_LWW,
	WS_MERGE,
	WS_MANUAL
} WsPolicy;

/* One event of the entity being folded. */
typedef struct Ev
{
	pg_uuid_t	id;
	WsHlc		hlc;
	int32		origin;
	WsVclock   *vclock;
	char	   *type;
	Jsonb	   *patch;
	Jsonb	   *intent;			/* counter deltas, or NULL */
	Jsonb	   *caller_meta;
	char	   *kind;
	char	   *module;
	const char *bad;			/* why it cannot be folded, or NULL */
} Ev;

/* The entity's row in ws.entities, as read when the fold took hold of it. */
typedef struct EntityRow
{
	char	   *kind;
	char	   *module;
	Jsonb	   *state;
	int64		version;
	WsHlc		hlc;
	WsVclock   *vclock;
	bool		has_created;	/* created_hlc is not NULL */
	WsHlc		created_hlc;
	bool		retired;
} EntityRow;

/* What the fold works on: the entity's kind and where the refold starts. */
typedef struct Entity
{
	const char *id;
	char	   *kind;
	char	   *module;
	WsPolicy	policy;
	char	  **counters;
	int			ncounters;
	/* the writer of its row (NULL: check only), where the row is, and what */
	WsWriter   *w;
	bool		exists;			/* ws.entities has its row, held */
	ItemPointerData tid;
	EntityRow	row;
	/* the start: a keyframe (has_base) or nothing */
	bool		has_base;
	WsHlc		base_hlc;
	int64		base_version;
	Jsonb	   *base_state;
	WsVclock   *base_vclock;
	bool		base_retired;
	/* what a refold derives, written at its end where it differs */
	bool		collect;
	StringInfo	dry;			/* check only: what differs is described here */
	struct KfRow *kf;
	int			nkf;
	int			kfcap;
	struct ConfRow *cf;
	int			ncf;
	int			cfcap;
} Entity;

/* A keyframe a fold derived. */
typedef struct KfRow
{
	WsHlc		hlc;
	int64		version;
	Jsonb	   *state;
	WsVclock   *vclock;
	bool		retired;
} KfRow;

/* A conflict a fold derived: the arguments of plans.conflict_put. */
typedef struct ConfRow
{
	pg_uuid_t	id;
	Datum		args[10];
	char		nulls[10];
	char	   *digest;			/* what decides whether a stored row is the same */
} ConfRow;

/* Kept plans, prepared for the ws schema of prepared_for. */
static struct
{
	SPIPlanPtr	seen;
	SPIPlanPtr	same_hlc;
	SPIPlanPtr	kind;
	SPIPlanPtr	entity_vclock_at;
	SPIPlanPtr	keyframe_before;
	SPIPlanPtr	events_after;
	SPIPlanPtr	events_all;
	SPIPlanPtr	events_archived;
	SPIPlanPtr	events_before;
	SPIPlanPtr	keyframe_at;
	SPIPlanPtr	patches_between;
	SPIPlanPtr	keyframes_after;
	SPIPlanPtr	keyframe_replace;
	SPIPlanPtr	keyframe_delete;
	SPIPlanPtr	conflicts_after;
	SPIPlanPtr	conflict_delete;
	SPIPlanPtr	keyframe_put;
	SPIPlanPtr	conflict_put;
	SPIPlanPtr	resolved_by;
	SPIPlanPtr	entity_peek;
	SPIPlanPtr	mark_resolved;
	SPIPlanPtr	pending_delete;
	SPIPlanPtr	pending_put;
	SPIPlanPtr	link_later;
	SPIPlanPtr	link_put;
	SPIPlanPtr	link_delete;
	/* causal buffering */
	SPIPlanPtr	held_seen;
	SPIPlanPtr	dep_present;
	SPIPlanPtr	entity_vclock;
	SPIPlanPtr	count_from;
	SPIPlanPtr	hold_put;
	SPIPlanPtr	release_take;
	SPIPlanPtr	release_put;
	SPIPlanPtr	waiting_on;
	SPIPlanPtr	held_all;
	SPIPlanPtr	expired;
	SPIPlanPtr	timeout_released;
	Oid			prepared_for;
} plans;

/* the rows of ws.pending that hold an event (not in ws.events), and the others */
#define HELD_ROWS "reason OPERATOR(pg_catalog.=) ANY ('{causal,clock_skew}')"
#define UNFOLDED_ROWS "reason OPERATOR(pg_catalog.=) ANY ('{creation_missing,kind_missing}')"

#define EVENT_COLS "event_id, hlc, origin_node, vclock, event_type, patch, intent, caller_meta, kind, module"

static const WsPlanDef plan_defs[] = {
	{&plans.seen,
		"SELECT 1 FROM ws.events WHERE event_id OPERATOR(pg_catalog.=) $1",
	{"pg_catalog.uuid"}},
	{&plans.same_hlc,
		"SELECT 1 FROM ws.events WHERE entity_id OPERATOR(pg_catalog.=) $1"
		" AND hlc OPERATOR(ws.=) $2",
	{"pg_catalog.text", "ws.hlc"}},
	{&plans.kind,
		"SELECT policy, counters FROM ws.kinds WHERE kind OPERATOR(pg_catalog.=) $1",
	{"pg_catalog.text"}},
	{&plans.keyframe_before,
		"SELECT hlc, version, state, vclock, retired FROM ws.keyframes"
		" WHERE entity_id OPERATOR(pg_catalog.=) $1 AND hlc OPERATOR(ws.<) $2"
		" ORDER BY hlc USING OPERATOR(ws.>) LIMIT 1",
	{"pg_catalog.text", "ws.hlc"}},
	{&plans.events_after,
		"SELECT " EVENT_COLS " FROM ws.events"
		" WHERE entity_id OPERATOR(pg_catalog.=) $1 AND hlc OPERATOR(ws.>) $2"
		" ORDER BY hlc USING OPERATOR(ws.<)",
	{"pg_catalog.text", "ws.hlc"}},
	{&plans.events_all,
		"SELECT " EVENT_COLS " FROM ws.events"
		" WHERE entity_id OPERATOR(pg_catalog.=) $1"
		" ORDER BY hlc USING OPERATOR(ws.<)",
	{"pg_catalog.text"}},
	{&plans.events_archived,
		"SELECT " EVENT_COLS " FROM ws.events"
		" WHERE entity_id OPERATOR(pg_catalog.=) $1"
		" UNION ALL SELECT " EVENT_COLS " FROM ws.events_archive"
		" WHERE entity_id OPERATOR(pg_catalog.=) $1"
		" ORDER BY hlc USING OPERATOR(ws.<)",
	{"pg_catalog.text"}},
	{&plans.events_before,
		"SELECT " EVENT_COLS " FROM ws.events"
		" WHERE entity_id OPERATOR(pg_catalog.=) $1 AND hlc OPERATOR(ws.<) $2"
		" ORDER BY hlc USING OPERATOR(ws.>)",
	{"pg_catalog.text", "ws.hlc"}},
	{&plans.keyframe_at,
		"SELECT hlc, state FROM ws.keyframes"
		" WHERE entity_id OPERATOR(pg_catalog.=) $1 AND hlc OPERATOR(ws.<=) $2"
		" ORDER BY hlc USING OPERATOR(ws.>) LIMIT 1",
	{"pg_catalog.text", "ws.hlc"}},
	{&plans.patches_between,
		"SELECT patch FROM ws.events WHERE entity_id OPERATOR(pg_catalog.=) $1"
		" AND hlc OPERATOR(ws.>) $3 AND hlc OPERATOR(ws.<=) $2"
		" ORDER BY hlc USING OPERATOR(ws.<)",
	{"pg_catalog.text", "ws.hlc", "ws.hlc"}},
	{&plans.keyframes_after,
		"SELECT hlc, version, state, vclock, retired FROM ws.keyframes"
		" WHERE entity_id OPERATOR(pg_catalog.=) $1 AND ($2 IS NULL OR hlc OPERATOR(ws.>) $2)"
		" ORDER BY hlc USING OPERATOR(ws.<)",
	{"pg_catalog.text", "ws.hlc"}},
	{&plans.keyframe_put,
		"INSERT INTO ws.keyframes (entity_id, hlc, version, state, vclock, retired)"
		" VALUES ($1, $2, $3, $4, $5, $6)",
	{"pg_catalog.text", "ws.hlc", "pg_catalog.int8", "pg_catalog.jsonb", "ws.vclock",
	"pg_catalog.bool"}},
	{&plans.keyframe_replace,
		"UPDATE ws.keyframes SET version = $3, state = $4, vclock = $5, retired = $6"
		" WHERE entity_id OPERATOR(pg_catalog.=) $1 AND hlc OPERATOR(ws.=) $2",
	{"pg_catalog.text", "ws.hlc", "pg_catalog.int8", "pg_catalog.jsonb", "ws.vclock",
	"pg_catalog.bool"}},
	{&plans.keyframe_delete,
		"DELETE FROM ws.keyframes"
		" WHERE entity_id OPERATOR(pg_catalog.=) $1 AND hlc OPERATOR(ws.=) $2",
	{"pg_catalog.text", "ws.hlc"}},
	{&plans.conflicts_after,
		"SELECT conflict_id, pg_catalog.concat_ws('|', type, status, COALESCE(resolution, ''),"
		" COALESCE(detail, ''), event_ids::pg_catalog.text) FROM ws.conflicts"
		" WHERE entity_id OPERATOR(pg_catalog.=) $1 AND ($2 IS NULL OR hlc OPERATOR(ws.>) $2)"
		" AND type OPERATOR(pg_catalog.=) ANY ('{concurrent_update,duplicate_create,"
		"after_retirement,constraint,malformed_event}')",
	{"pg_catalog.text", "ws.hlc"}},
	{&plans.conflict_delete,
		"DELETE FROM ws.conflicts WHERE conflict_id OPERATOR(pg_catalog.=) $1",
	{"pg_catalog.uuid"}},
	{&plans.conflict_put,
		"INSERT INTO ws.conflicts (conflict_id, entity_id, kind, policy, type, event_ids,"
		" hlc, status, resolution, detail)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
		" ON CONFLICT (conflict_id) DO UPDATE SET kind = EXCLUDED.kind,"
		" policy = EXCLUDED.policy, event_ids = EXCLUDED.event_ids, hlc = EXCLUDED.hlc,"
		" status = EXCLUDED.status, resolution = EXCLUDED.resolution,"
		" detail = EXCLUDED.detail RETURNING xmax OPERATOR(pg_catalog.=) 0",
	{"pg_catalog.uuid", "pg_catalog.text", "pg_catalog.text", "pg_catalog.text",
		"pg_catalog.text", "pg_catalog.uuid[]", "ws.hlc", "pg_catalog.text",
	"pg_catalog.text", "pg_catalog.text"}},
	{&plans.resolved_by,
		"SELECT event_id FROM ws.events WHERE entity_id OPERATOR(pg_catalog.=) $1"
		" AND event_type OPERATOR(pg_catalog.=) 'resolve'"
		" AND caller_meta OPERATOR(pg_catalog.->>) 'resolves' OPERATOR(pg_catalog.=) $2"
		" ORDER BY hlc USING OPERATOR(ws.<) LIMIT 1",
	{"pg_catalog.text", "pg_catalog.text"}},
	{&plans.entity_peek,
		"SELECT state, version, retired FROM ws.entities WHERE entity_id OPERATOR(pg_catalog.=) $1",
	{"pg_catalog.text"}},
	{&plans.mark_resolved,
		"UPDATE ws.conflicts SET status = 'resolved', resolution = 'resolved by ws.resolve_conflict'"
		" WHERE conflict_id::pg_catalog.text OPERATOR(pg_catalog.=) $1"
		" AND status OPERATOR(pg_catalog.=) 'open'",
	{"pg_catalog.text"}},
	{&plans.pending_delete,
		"DELETE FROM ws.pending WHERE entity_id OPERATOR(pg_catalog.=) $1 AND " UNFOLDED_ROWS,
	{"pg_catalog.text"}},
	{&plans.pending_put,
		"INSERT INTO ws.pending (event_id, entity_id, reason, detail, origin_node)"
		" VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO UPDATE"
		" SET reason = EXCLUDED.reason, detail = EXCLUDED.detail",
	{"pg_catalog.uuid", "pg_catalog.text", "pg_catalog.text", "pg_catalog.text", "pg_catalog.int4"}},
	{&plans.link_later,
		"SELECT 1 FROM ws.events WHERE entity_id OPERATOR(pg_catalog.=) $1"
		" AND event_type OPERATOR(pg_catalog.=) ANY ('{linked,unlinked}')"
		" AND meta OPERATOR(pg_catalog.->>) 'rel' OPERATOR(pg_catalog.=) $2"
		" AND meta OPERATOR(pg_catalog.->>) 'to' OPERATOR(pg_catalog.=) $3"
		" AND hlc OPERATOR(ws.>) $4 LIMIT 1",
	{"pg_catalog.text", "pg_catalog.text", "pg_catalog.text", "ws.hlc"}},
	{&plans.link_put,
		"INSERT INTO ws.relationships (from_id, rel, to_id, props, hlc)"
		" VALUES ($1, $2, $3, COALESCE($4, '{}'), $5) ON CONFLICT (from_id, rel, to_id)"
		" DO UPDATE SET props = EXCLUDED.props, hlc = EXCLUDED.hlc",
	{"pg_catalog.text", "pg_catalog.text", "pg_catalog.text", "pg_catalog.jsonb", "ws.hlc"}},
	{&plans.link_delete,
		"DELETE FROM ws.relationships WHERE from_id OPERATOR(pg_catalog.=) $1"
		" AND rel OPERATOR(pg_catalog.=) $2 AND to_id OPERATOR(pg_catalog.=) $3",
	{"pg_catalog.text", "pg_catalog.text", "pg_catalog.text"}},
	{&plans.held_seen,
		"SELECT 1 FROM ws.pending WHERE event_id OPERATOR(pg_catalog.=) $1 AND " HELD_ROWS,
	{"pg_catalog.uuid"}},
	{&plans.dep_present,
		"SELECT EXISTS (SELECT 1 FROM ws.events WHERE event_id OPERATOR(pg_catalog.=) $1)"
		" OR EXISTS (SELECT 1 FROM ws.events_archive WHERE event_id OPERATOR(pg_catalog.=) $1)",
	{"pg_catalog.uuid"}},
	{&plans.entity_vclock,
		"SELECT vclock FROM ws.entities WHERE entity_id OPERATOR(pg_catalog.=) $1",
	{"pg_catalog.text"}},
	{&plans.entity_vclock_at,
		"SELECT vclock FROM ws.entities WHERE entity_id OPERATOR(pg_catalog.=) $1"
		" AND ctid OPERATOR(pg_catalog.=) $2",
	{"pg_catalog.text", "pg_catalog.tid"}},
	{&plans.count_from,
		"SELECT (SELECT pg_catalog.count(*) FROM ws.events WHERE entity_id OPERATOR(pg_catalog.=) $1"
		" AND origin_node OPERATOR(pg_catalog.=) $2) OPERATOR(pg_catalog.+)"
		" (SELECT pg_catalog.count(*) FROM ws.events_archive WHERE entity_id OPERATOR(pg_catalog.=) $1"
		" AND origin_node OPERATOR(pg_catalog.=) $2)",
	{"pg_catalog.text", "pg_catalog.int4"}},
	{&plans.hold_put,
		"INSERT INTO ws.pending (event_id, entity_id, origin_node, reason, detail, held, waits_for, since)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, pg_catalog.now()))"
		" ON CONFLICT (event_id) DO UPDATE SET reason = EXCLUDED.reason, detail = EXCLUDED.detail,"
		" held = EXCLUDED.held, waits_for = EXCLUDED.waits_for",
	{"pg_catalog.uuid", "pg_catalog.text", "pg_catalog.int4", "pg_catalog.text", "pg_catalog.text",
	"ws.events", "pg_catalog.text", "pg_catalog.timestamptz"}},
	{&plans.release_take,
		"DELETE FROM ws.pending WHERE event_id OPERATOR(pg_catalog.=) $1 AND " HELD_ROWS
		" RETURNING held, since, (held).hlc",
	{"pg_catalog.uuid"}},
	{&plans.release_put,
		"INSERT INTO ws.events SELECT ($1).*",
	{"ws.events"}},
	{&plans.waiting_on,
		"SELECT event_id FROM ws.pending WHERE waits_for OPERATOR(pg_catalog.=) ANY ($1)"
		" ORDER BY (held).hlc USING OPERATOR(ws.<)",
	{"pg_catalog.text[]"}},
	{&plans.held_all,
		"SELECT event_id, reason, waits_for, (held).hlc FROM ws.pending WHERE " HELD_ROWS
		" ORDER BY (held).hlc USING OPERATOR(ws.<)",
	{NULL}},
	{&plans.expired,
		"SELECT p.event_id, p.entity_id, p.origin_node, p.waits_for, p.detail, (p.held).hlc,"
		" (p.held).kind FROM ws.pending p"
		" WHERE p.reason OPERATOR(pg_catalog.=) 'causal'"
		" AND p.since OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-)"
		" ($1 OPERATOR(pg_catalog.*) '1 millisecond'::pg_catalog.interval))"
		" AND NOT EXISTS (SELECT 1 FROM ws.conflicts c"
		" WHERE c.type OPERATOR(pg_catalog.=) 'causal_timeout'"
		" AND (c.entity_id OPERATOR(pg_catalog.=) p.entity_id OR (c.entity_id IS NULL AND p.entity_id IS NULL))"
		" AND c.hlc OPERATOR(ws.=) (p.held).hlc)"
		" ORDER BY (p.held).hlc USING OPERATOR(ws.<)",
	{"pg_catalog.float8"}},
	{&plans.timeout_released,
		"UPDATE ws.conflicts SET status = 'resolved', resolution = 'released'"
		" WHERE conflict_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'open'",
	{"pg_catalog.uuid"}},
};

/*
 * Run kept plan p with args (nulls as SPI takes them); the SPI result code.
 * Never read-only: a statement sees what the ones before it wrote, and the
 * event that fired the trigger.
 */
static int
run(SPIPlanPtr p, Datum *args, const char *nulls)
{
	int			rc = SPI_execute_plan(p, args, nulls, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return rc;
}

/* Column col (1-based) of row r of the last SPI result. */
static Datum
col(int r, int c, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c, isnull);
}

/* The number of events v counts. */
static int64
vclock_sum(const WsVclock *v)
{
	int64		s = 0;

	for (int i = 0; i < v->n; i++)
		s += v->entries[i].count;
	return s;
}

/* Whether x is in the causal past of e (or is e). */
static bool
in_past(const Ev *x, const Ev *e)
{
	return ws_vclock_count(e->vclock, x->origin) >= ws_vclock_count(x->vclock, x->origin);
}

static WsVclock *
vclock_merged(WsVclock *a, WsVclock *b)
{
	if (a == NULL)
		return b;
	return DatumGetWsVclockP(DirectFunctionCall2(vclock_merge, PointerGetDatum(a),
												 PointerGetDatum(b)));
}

/* Copy column c of row r as a detoasted jsonb, or NULL. */
static Jsonb *
jsonb_col(int r, int c)
{
	bool		isnull;
	Datum		d = col(r, c, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

static char *
text_col(int r, int c)
{
	bool		isnull;
	Datum		d = col(r, c, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* A copy of attribute att of tuple t, detoasted, or NULL. */
static Jsonb *
tuple_jsonb(HeapTuple t, TupleDesc desc, int att)
{
	bool		isnull;
	Datum		d = heap_getattr(t, att, desc, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

static char *
tuple_text(HeapTuple t, TupleDesc desc, int att)
{
	bool		isnull;
	Datum		d = heap_getattr(t, att, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* The attribute numbers of EVENT_COLS in a result of a plan above. */
static const int result_atts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

/*
 * The event in tuple t, whose EVENT_COLS are attributes att[0..9], into *e
 * (copied into the current context).  An event that cannot be folded (no
 * JSON object as patch, no vclock counting itself) gets a reason in e->bad
 * instead of raising: it stays in the log, and every node skips it alike.
 */
static void
read_event_tuple(HeapTuple t, TupleDesc desc, const int *att, Ev *e)
{
	bool		isnull;
	Datum		d;

	d = heap_getattr(t, att[0], desc, &isnull);
	memcpy(&e->id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	e->hlc = *DatumGetHlcP(heap_getattr(t, att[1], desc, &isnull));
	e->origin = DatumGetInt32(heap_getattr(t, att[2], desc, &isnull));
	d = heap_getattr(t, att[3], desc, &isnull);
	e->vclock = isnull ? NULL : (WsVclock *) PG_DETOAST_DATUM_COPY(d);
	e->type = tuple_text(t, desc, att[4]);
	e->patch = tuple_jsonb(t, desc, att[5]);
	e->intent = tuple_jsonb(t, desc, att[6]);
	e->caller_meta = tuple_jsonb(t, desc, att[7]);
	e->kind = tuple_text(t, desc, att[8]);
	e->module = tuple_text(t, desc, att[9]);
	e->bad = NULL;
	if (e->patch == NULL || !JB_ROOT_IS_OBJECT(e->patch) || JB_ROOT_IS_SCALAR(e->patch))
		e->bad = "the patch of the event is not a JSON object";
	else if (e->vclock == NULL || ws_vclock_count(e->vclock, e->origin) < 1)
		e->bad = "the vclock of the event does not count the event itself";
	else if (e->intent != NULL && (!JB_ROOT_IS_OBJECT(e->intent) || JB_ROOT_IS_SCALAR(e->intent)))
		e->bad = "the intent of the event is not a JSON object";
}

/* Row r of the last SPI result, of EVENT_COLS, into *e. */
static void
read_event(int r, Ev *e)
{
	read_event_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, result_atts, e);
}

static bool
type_is(const Ev *e, const char *type)
{
	return e->type != NULL && strcmp(e->type, type) == 0;
}

/* A conflict id: the MD5 of a tag and the two event ids, as a uuid. */
static pg_uuid_t
conflict_id(const char *tag, const pg_uuid_t *a, const pg_uuid_t *b)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_MD5);
	uint8		sum[MD5_DIGEST_LENGTH];
	pg_uuid_t	id;

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) tag, strlen(tag)) < 0 ||
		pg_cryptohash_update(ctx, a->data, UUID_LEN) < 0 ||
		(b && pg_cryptohash_update(ctx, b->data, UUID_LEN) < 0) ||
		pg_cryptohash_final(ctx, sum, sizeof(sum)) < 0)
		elog(ERROR, "could not compute MD5: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	memcpy(id.data, sum, UUID_LEN);
	/* a version 3 (name-based, MD5) uuid of RFC 4122 */
	id.data[6] = (id.data[6] & 0x0f) | 0x30;
	id.data[8] = (id.data[8] & 0x3f) | 0x80;
	return id;
}

static Datum
uuid_datum(const pg_uuid_t *u)
{
	pg_uuid_t  *p = palloc(sizeof(pg_uuid_t));

	memcpy(p, u, sizeof(pg_uuid_t));
	return UUIDPGetDatum(p);
}

static Datum
uuid_pair(const pg_uuid_t *a, const pg_uuid_t *b)
{
	Datum		ids[2];
	int			n = 0;

	ids[n++] = uuid_datum(a);
	if (b)
		ids[n++] = uuid_datum(b);
	return PointerGetDatum(construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

/*
 * Record that event e of entity entity_id waits (ws.pending) for the
 * reason given, with its origin.
 */
static void
put_pending(const char *entity_id, const Ev *e, const char *reason, const char *detail)
{
	Datum		a[5];

	a[0] = uuid_datum(&e->id);
	a[1] = CStringGetTextDatum(entity_id);
	a[2] = CStringGetTextDatum(reason);
	a[3] = CStringGetTextDatum(detail);
	a[4] = Int32GetDatum(e->origin);
	run(plans.pending_put, a, NULL);
}

static const char *
policy_name(WsPolicy p)
{
	return p == WS_LWW ? "lww" : p == WS_MERGE ? "merge" : "manual";
}

/*
 * Write a row of ws.conflicts (the arguments of plans.conflict_put); one
 * that is new is counted by type in ws.stats().
 */
static void
put_conflict(Datum *a, const char *n)
{
	bool		isnull;

	run(plans.conflict_put, a, n);
	if (SPI_processed == 1 && DatumGetBool(col(0, 1, &isnull)))
	{
		char	   *type = TextDatumGetCString(a[4]);

		(void) ws_stats_count_conflict(type);
		pfree(type);
	}
}

/*
 * Record a conflict of the entity between event e and the earlier event m
 * (NULL for none).  A manual conflict is open until an event of type
 * resolve names it (ws.resolve_conflict); the others are resolved by the
 * policy as they are detected.
 */
static void
record_conflict(Entity *en, const char *type, const char *tag, const Ev *e, const Ev *m,
				const char *resolution, const char *detail)
{
	pg_uuid_t	id = conflict_id(tag ? tag : type, &e->id, m ? &m->id : NULL);
	bool		has_kind = en->kind != NULL;
	const char *status = "resolved";
	Datum		a[10];
	char		n[10];

	if (strcmp(type, "causal_timeout") == 0)
	{
		/* open until the event is released */
		status = "open";
		resolution = NULL;
	}
	else if (strcmp(type, "concurrent_update") == 0 && en->policy == WS_MANUAL)
	{
		Datum		ra[2];
		char	   *idtext = DatumGetCString(DirectFunctionCall1(uuid_out, uuid_datum(&id)));

		ra[0] = CStringGetTextDatum(en->id);
		ra[1] = CStringGetTextDatum(idtext);
		run(plans.resolved_by, ra, NULL);
		if (SPI_processed == 0)
		{
			status = "open";
			resolution = NULL;
		}
		else
			resolution = "resolved by ws.resolve_conflict";
	}
	memset(n, ' ', sizeof(n));
	a[0] = uuid_datum(&id);
	a[1] = en->id ? CStringGetTextDatum(en->id) : (Datum) 0;
	n[1] = en->id ? ' ' : 'n';
	a[2] = has_kind ? CStringGetTextDatum(en->kind) : (Datum) 0;
	n[2] = has_kind ? ' ' : 'n';
	a[3] = has_kind ? CStringGetTextDatum(policy_name(en->policy)) : (Datum) 0;
	n[3] = has_kind ? ' ' : 'n';
	a[4] = CStringGetTextDatum(type);
	a[5] = uuid_pair(&e->id, m ? &m->id : NULL);
	a[6] = HlcPGetDatum(&e->hlc);
	a[7] = CStringGetTextDatum(status);
	a[8] = resolution ? CStringGetTextDatum(resolution) : (Datum) 0;
	n[8] = resolution ? ' ' : 'n';
	a[9] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
	n[9] = detail ? ' ' : 'n';
	if (!en->collect)
	{
		put_conflict(a, n);
		return;
	}
	if (en->ncf == en->cfcap)
	{
		en->cfcap = Max(16, en->cfcap * 2);
		en->cf = en->cf ? repalloc(en->cf, sizeof(ConfRow) * en->cfcap) :
			palloc(sizeof(ConfRow) * en->cfcap);
	}
	{
		ConfRow    *c = &en->cf[en->ncf++];
		char	   *ids = DatumGetCString(DirectFunctionCall1(uuid_out, uuid_datum(&e->id)));

		c->id = id;
		memcpy(c->args, a, sizeof(a));
		memcpy(c->nulls, n, sizeof(n));

		if (m)
			ids = psprintf("%s,%s", ids,
						   DatumGetCString(DirectFunctionCall1(uuid_out, uuid_datum(&m->id))));
		/* as conflicts_after composes it from a stored row */
		c->digest = psprintf("%s|%s|%s|%s|{%s}", type, status, resolution ? resolution : "",
							 detail ? detail : "", ids);
	}
}

/* Whether objects a and b have a top-level key in common. */
static bool
touch_same_field(Jsonb *a, Jsonb *b)
{
	JsonbIterator *it = JsonbIteratorInit(&a->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		skip = false;

	while ((tok = JsonbIteratorNext(&it, &v, skip)) != WJB_DONE)
	{
		skip = true;
		if (tok == WJB_KEY &&
			getKeyJsonValueFromContainer(&b->root, v.val.string.val, v.val.string.len, NULL))
			return true;
	}
	return false;
}

/*
 * The patch of merge event e on state: its stored patch, with the counters
 * its intent gives deltas for added to their value in state.
 */
static Jsonb *
merge_step(Jsonb *state, const Ev *e)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	const char **keys;
	int			nkeys = 0;
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	bool		skip = false;

	if (e->intent == NULL || !JB_ROOT_IS_OBJECT(e->intent) || JB_ROOT_COUNT(e->intent) == 0)
		return ws_merge_patch(state, e->patch, NULL, 0, NULL);

	/* the stored patch with the intent's deltas in place of the values */
	keys = palloc(sizeof(char *) * JB_ROOT_COUNT(e->intent));
	it = JsonbIteratorInit(&e->intent->root);
	while ((tok = JsonbIteratorNext(&it, &v, skip)) != WJB_DONE)
	{
		skip = true;
		if (tok == WJB_KEY)
			keys[nkeys++] = pnstrdup(v.val.string.val, v.val.string.len);
	}
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(&e->patch->root);
	skip = false;
	while ((tok = JsonbIteratorNext(&it, &v, skip)) != WJB_DONE)
	{
		JsonbValue	key;
		JsonbValue *delta;

		skip = true;
		if (tok != WJB_KEY)
			continue;
		key = v;
		tok = JsonbIteratorNext(&it, &v, true);
		delta = getKeyJsonValueFromContainer(&e->intent->root, key.val.string.val,
											 key.val.string.len, NULL);
		pushJsonbValue(&ps, WJB_KEY, &key);
		if (delta)
			pushJsonbValue(&ps, WJB_VALUE, delta);
		else
			pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return ws_merge_patch(state, JsonbValueToJsonb(res), keys, nkeys, NULL);
}

/* Whether two jsonb documents are equal. */
static bool
jsonb_same(Jsonb *a, Jsonb *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return compareJsonbContainers(&a->root, &b->root) == 0;
}

/*
 * The state of lww event `pred` (the latest of e's past) when it is before
 * the events in memory: the state at its moment, as readers fold it (the
 * last keyframe at or before it, and the stored patches after that).
 */
static Jsonb *
state_at(Entity *en, const Ev *pred)
{
	Datum		a[3];
	Jsonb	   *s;

	a[0] = CStringGetTextDatum(en->id);
	a[1] = HlcPGetDatum(&pred->hlc);
	run(plans.keyframe_at, a, NULL);
	if (SPI_processed == 0)
		return ws_empty_object();
	s = jsonb_col(0, 2);
	{
		bool		isnull;

		a[2] = HlcPGetDatum(ws_hlc_copy(*DatumGetHlcP(col(0, 1, &isnull))));
	}
	run(plans.patches_between, a, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
		s = ws_merge_patch(s, jsonb_col(r, 1), NULL, 0, NULL);
	return s;
}

/*
 * Find, among the events before index i (evs[0..i-1] in memory, then those
 * before the in-memory ones in ws.events), the latest that `match` accepts
 * for e; look at no more than `limit` events that `counted` accepts.
 * Returns its index in evs, or -1 with *before filled when it came from the
 * table, or -2 when there is none.
 */
typedef bool (*EvMatch) (const Ev *x, const Ev *e);

static int
find_before(Entity *en, Ev *evs, int i, const Ev *e, EvMatch match, Ev *before)
{
	Datum		a[2];
	Portal		portal;
	int			found = -2;

	for (int j = i - 1; j >= 0; j--)
		if (match(&evs[j], e))
			return j;
	a[0] = CStringGetTextDatum(en->id);
	a[1] = HlcPGetDatum(i > 0 ? &evs[0].hlc : &e->hlc);
	portal = SPI_cursor_open(NULL, plans.events_before, a, NULL, false);
	while (found == -2)
	{
		SPI_cursor_fetch(portal, true, 16);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			read_event(r, before);
			if (match(before, e))
			{
				found = -1;
				break;
			}
		}
	}
	SPI_cursor_close(portal);
	return found;
}

static bool
match_past(const Ev *x, const Ev *e)
{
	return !x->bad && in_past(x, e);
}

static bool
match_any(const Ev *x, const Ev *e)
{
	return !x->bad;
}

static bool
match_created(const Ev *x, const Ev *e)
{
	return !x->bad && type_is(x, "created");
}

static bool
match_retired(const Ev *x, const Ev *e)
{
	return !x->bad && type_is(x, "retired");
}

static bool
match_concurrent_field(const Ev *x, const Ev *e)
{
	return !x->bad && !in_past(x, e) && touch_same_field(x->patch, e->patch);
}

/* Check the kind's constraints on state; record the ones it breaks at e. */
static void
check_constraints(Entity *en, Jsonb *state, const Ev *e)
{
	const WsKind *k = ws_kind_lookup(en->kind);

	if (k == NULL)
		return;
	for (int c = 0; c < k->nconstraints; c++)
		if (!ws_jsonpath_holds(state, k->constraint_paths[c]))
		{
			char	   *detail = psprintf("constraint \"%s\" of kind \"%s\" does not hold for the merged state",
										  k->constraint_names[c], en->kind);
			char	   *tag = psprintf("constraint:%s", k->constraint_names[c]);

			record_conflict(en, "constraint", tag, e, NULL, "recorded, not rejected", detail);
			pfree(tag);
		}
}

/* Put a keyframe of the entity at event e. */
static void
put_keyframe(Entity *en, const Ev *e, int64 version, Jsonb *state, WsVclock *vclock,
			 bool retired)
{
	KfRow	   *k;

	if (!en->collect)
	{
		Datum		a[6] = {CStringGetTextDatum(en->id), HlcPGetDatum(&e->hlc),
		Int64GetDatum(version), JsonbPGetDatum(state), PointerGetDatum(vclock),
		BoolGetDatum(retired)};

		run(plans.keyframe_put, a, NULL);
		return;
	}
	if (en->nkf == en->kfcap)
	{
		en->kfcap = Max(16, en->kfcap * 2);
		en->kf = en->kf ? repalloc(en->kf, sizeof(KfRow) * en->kfcap) :
			palloc(sizeof(KfRow) * en->kfcap);
	}
	k = &en->kf[en->nkf++];
	k->hlc = e->hlc;
	k->version = version;
	k->state = state;
	k->vclock = vclock;
	k->retired = retired;
}

static bool
vclock_same(WsVclock *a, WsVclock *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a->n == b->n && memcmp(a->entries, b->entries, sizeof(WsVclockEntry) * a->n) == 0;
}

/*
 * Write the keyframes and conflicts a fold derived after the base: only
 * where they differ from the rows already there, so that refolding an
 * entity after a late event writes what the event changed.
 */
static void
write_derived(Entity *en)
{
	Datum		a[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	SPITupleTable *old;
	uint64		nold;
	int			k = 0;
	bool		isnull;
	bool	   *kept;

	a[0] = CStringGetTextDatum(en->id);
	a[1] = en->has_base ? HlcPGetDatum(&en->base_hlc) : (Datum) 0;
	nulls[1] = en->has_base ? ' ' : 'n';

	/* keyframes: both lists are in HLC order */
	run(plans.keyframes_after, a, nulls);
	old = SPI_tuptable;
	nold = SPI_processed;
	for (uint64 r = 0; r <= nold; r++)
	{
		WsHlc		oh = {0};
		int			cmp;

		if (r < nold)
			oh = *DatumGetHlcP(SPI_getbinval(old->vals[r], old->tupdesc, 1, &isnull));
		/* the new ones before this old one */
		while (k < en->nkf && (r == nold || (cmp = ws_hlc_cmp(&en->kf[k].hlc, &oh)) < 0))
		{
			Datum		p[6] = {a[0], HlcPGetDatum(&en->kf[k].hlc), Int64GetDatum(en->kf[k].version),
			JsonbPGetDatum(en->kf[k].state), PointerGetDatum(en->kf[k].vclock),
			BoolGetDatum(en->kf[k].retired)};

			if (en->dry)
				appendStringInfo(en->dry, "no keyframe at %s; ", ws_hlc_to_cstring(&en->kf[k].hlc));
			else
				run(plans.keyframe_put, p, NULL);
			k++;
		}
		if (r == nold)
			break;
		if (k < en->nkf && ws_hlc_cmp(&en->kf[k].hlc, &oh) == 0)
		{
			KfRow	   *n = &en->kf[k++];
			bool		vnull;
			Datum		ov = SPI_getbinval(old->vals[r], old->tupdesc, 4, &vnull);

			if (DatumGetInt64(SPI_getbinval(old->vals[r], old->tupdesc, 2, &isnull)) != n->version ||
				!jsonb_same(DatumGetJsonbP(SPI_getbinval(old->vals[r], old->tupdesc, 3, &isnull)), n->state) ||
				!vclock_same(vnull ? NULL : DatumGetWsVclockP(ov), n->vclock) ||
				DatumGetBool(SPI_getbinval(old->vals[r], old->tupdesc, 5, &isnull)) != n->retired)
			{
				Datum		p[6] = {a[0], HlcPGetDatum(&n->hlc), Int64GetDatum(n->version),
				JsonbPGetDatum(n->state), PointerGetDatum(n->vclock), BoolGetDatum(n->retired)};

				if (en->dry)
					appendStringInfo(en->dry, "keyframe at %s differs from the fold; ",
									 ws_hlc_to_cstring(&n->hlc));
				else
					run(plans.keyframe_replace, p, NULL);
			}
		}
		else
		{
			Datum		p[2] = {a[0], HlcPGetDatum(ws_hlc_copy(oh))};

			if (en->dry)
				appendStringInfo(en->dry, "keyframe at %s is not the fold's; ", ws_hlc_to_cstring(&oh));
			else
				run(plans.keyframe_delete, p, NULL);
		}
	}

	/* conflicts: by id */
	run(plans.conflicts_after, a, nulls);
	old = SPI_tuptable;
	nold = SPI_processed;
	kept = palloc0(sizeof(bool) * Max(en->ncf, 1));
	for (uint64 r = 0; r < nold; r++)
	{
		pg_uuid_t  *oid = DatumGetUUIDP(SPI_getbinval(old->vals[r], old->tupdesc, 1, &isnull));
		char	   *digest = TextDatumGetCString(SPI_getbinval(old->vals[r], old->tupdesc, 2, &isnull));
		bool		found = false;

		for (int c = 0; c < en->ncf; c++)
			if (memcmp(en->cf[c].id.data, oid->data, UUID_LEN) == 0)
			{
				found = true;
				kept[c] = strcmp(digest, en->cf[c].digest) == 0;
				break;
			}
		if (!found)
		{
			Datum		p[1] = {uuid_datum(oid)};

			if (en->dry)
				appendStringInfoString(en->dry, "a conflict the events do not imply; ");
			else
				run(plans.conflict_delete, p, NULL);
		}
	}
	for (int c = 0; c < en->ncf; c++)
		if (!kept[c])
		{
			if (en->dry)
				appendStringInfoString(en->dry, "a conflict the events imply is missing or differs; ");
			else
				put_conflict(en->cf[c].args, en->cf[c].nulls);
		}
}

/* Describe in en->dry how the entity's row differs from the fold. */
static void
check_entity_row(Entity *en, Jsonb *state, int64 version, bool retired)
{
	Datum		a[1] = {CStringGetTextDatum(en->id)};
	bool		isnull;

	run(plans.entity_peek, a, NULL);
	if (SPI_processed == 0)
	{
		appendStringInfoString(en->dry, "the entity has no row in ws.entities; ");
		return;
	}
	if (!jsonb_same(jsonb_col(0, 1), state))
		appendStringInfoString(en->dry, "its state differs from the fold of its events; ");
	if (DatumGetInt64(col(0, 2, &isnull)) != version)
		appendStringInfo(en->dry, "its version is " INT64_FORMAT ", the fold's " INT64_FORMAT "; ",
						 DatumGetInt64(col(0, 2, &isnull)), version);
	if (DatumGetBool(col(0, 3, &isnull)) != retired)
		appendStringInfoString(en->dry, "its retired flag differs from the fold's; ");
}

/*
 * Fold the entity's events evs[0..n-1] (in HLC order, after the base) and
 * write what follows from them: keyframes, conflicts, pending rows and
 * ws.entities' row.  Returns false when ws.entities got a row for the
 * entity from another transaction meanwhile (the caller folds again).
 */
static bool
fold_events(Entity *en, Ev *evs, int n)
{
	Jsonb	  **states = palloc0(sizeof(Jsonb *) * (n + 1));
	Jsonb	   *state = en->has_base ? en->base_state : NULL;
	WsVclock   *vclock = en->has_base ? en->base_vclock : NULL;
	bool		retired = en->has_base && en->base_retired;
	int64		version = en->has_base ? en->base_version : 0;
	bool		created = state != NULL;
	const Ev   *created_by = NULL;
	const Ev   *retired_by = NULL;
	WsHlc		created_hlc = {0};
	Ev			before;
	Datum		rv[EN_NCOLS];
	bool		rn[EN_NCOLS];

	for (int i = 0; i < n; i++)
	{
		Ev		   *e = &evs[i];
		Jsonb	   *prev = state;
		int64		concurrent;
		bool		plain_ok;

		CHECK_FOR_INTERRUPTS();
		if (e->bad)
		{
			/* skipped: the state stays, and a keyframe says so to readers */
			record_conflict(en, "malformed_event", NULL, e, NULL,
							"skipped: the event changes nothing", e->bad);
			states[i] = state;
			if (state)
				put_keyframe(en, e, version, state, vclock, retired);
			continue;
		}
		version++;
		vclock = vclock_merged(vclock, e->vclock);
		concurrent = version - vclock_sum(e->vclock);

		if (!created && !type_is(e, "created"))
		{
			/* its creation has not arrived: it waits */
			if (!en->dry)
				put_pending(en->id, e, "creation_missing",
							"the event that creates the entity has not arrived");
			states[i] = NULL;
			continue;
		}
		if (retired)
		{
			if (!type_is(e, "retired"))
			{
				int			p = find_before(en, evs, i, e, match_retired, &before);

				record_conflict(en, "after_retirement", NULL, e,
								p >= 0 ? &evs[p] : p == -1 ? &before : NULL,
								"retirement is final: the event changes nothing", NULL);
			}
		}
		else if (type_is(e, "created") && !created)
		{
			state = e->patch;
			created = true;
			created_by = e;
			created_hlc = e->hlc;
		}
		else
		{
			Jsonb	   *base = prev;

			if (type_is(e, "created"))
			{
				int			p = find_before(en, evs, i, e, match_created, &before);

				record_conflict(en, "duplicate_create", NULL, e,
								p >= 0 ? &evs[p] : p == -1 ? &before : NULL,
								"the first creation in HLC order creates; this one folds as an update",
								NULL);
			}
			if (en->policy == WS_LWW)
			{
				/* the state of its writer: its patch on the state at pred(e) */
				if (concurrent > 0 || type_is(e, "created"))
				{
					int			p = find_before(en, evs, i, e, match_past, &before);

					base = p >= 0 ? states[p] : p == -1 ? state_at(en, &before) : ws_empty_object();
					if (base == NULL)
						base = ws_empty_object();
				}
				state = type_is(e, "retired") ? base : ws_merge_patch(base, e->patch, NULL, 0, NULL);
			}
			else if (!type_is(e, "retired"))
				state = merge_step(prev, e);
			if (type_is(e, "retired"))
			{
				retired = true;
				retired_by = e;
			}
		}

		/*
		 * Conflicts with concurrent events, recorded once per event: for
		 * manual, against the latest earlier event it is concurrent with
		 * that touches a field it touches; otherwise against the event
		 * just before it, when that one is concurrent with it (where two
		 * histories interleave).  So a late event changes the conflicts of
		 * itself and of the event after it, not of every later one.
		 */
		if (concurrent > 0 && created && !(retired && retired_by != e))
		{
			int			p;
			const Ev   *other;

			if (en->policy == WS_MANUAL)
				p = find_before(en, evs, i, e, match_concurrent_field, &before);
			else
				p = find_before(en, evs, i, e, match_any, &before);
			other = p >= 0 ? &evs[p] : p == -1 ? &before : NULL;
			if (other && in_past(other, e))
				other = NULL;
			if (other)
				record_conflict(en, "concurrent_update", NULL, e, other,
								en->policy == WS_LWW ? "last writer wins: the state is this event's writer's" :
								"merged: fields by HLC order, counters summed", NULL);
			if (other)
				check_constraints(en, state, e);
		}

		states[i] = state;
		/* a keyframe where readers could not fold the stored patch */
		plain_ok = prev != NULL && jsonb_same(ws_merge_patch(prev, e->patch, NULL, 0, NULL), state);
		if (version == 1 || version % ws_keyframe_interval == 0 || !plain_ok || type_is(e, "created"))
			put_keyframe(en, e, version, state, vclock, retired);
	}

	if (en->collect)
		write_derived(en);
	if (!created)
		return true;

	if (en->dry)
	{
		check_entity_row(en, state, version, retired);
		return true;
	}

	/* the entity's row, through the writer */
	memset(rn, false, sizeof(rn));
	rv[EN_ENTITY_ID] = CStringGetTextDatum(en->id);
	rv[EN_KIND] = CStringGetTextDatum(en->kind);
	rv[EN_MODULE] = CStringGetTextDatum(en->module);
	rv[EN_STATE] = JsonbPGetDatum(state);
	rv[EN_VERSION] = Int64GetDatum(version);
	rv[EN_HLC] = HlcPGetDatum(n > 0 ? &evs[n - 1].hlc : &en->base_hlc);
	rv[EN_VCLOCK] = PointerGetDatum(vclock);
	rv[EN_RETIRED] = BoolGetDatum(retired);
	if (created_by)
		rv[EN_CREATED_HLC] = HlcPGetDatum(&created_hlc);
	else if (en->exists && en->row.has_created)
	{
		/* the creation was before the events folded: its HLC stays */
		rv[EN_CREATED_HLC] = HlcPGetDatum(&en->row.created_hlc);
	}
	else
		rn[EN_CREATED_HLC] = true;
	if (en->exists)
	{
		/* held since it was read: no other transaction has changed it */
		if (ws_writer_try_update_entity(en->w, &en->tid, rv, rn) != TM_Ok)
			elog(ERROR, "entity \"%s\" changed while its events were folded", en->id);
	}
	else if (!created_by)
		elog(ERROR, "entity \"%s\" folded without its creation", en->id);
	else if (!ws_writer_insert_entity(en->w, rv, rn))
		return false;
	/* what follows in this transaction (the next event's fold) sees the row */
	CommandCounterIncrement();
	return true;
}

/*
 * Load the kind of the entity into en (policy, counters): from its row in
 * ws.entities (held), else from event e.  False when the kind is not
 * defined here.
 */
static bool
load_kind(Entity *en, const char *kind)
{
	Datum		a[1];
	bool		isnull;
	Datum		d;

	a[0] = CStringGetTextDatum(kind);
	run(plans.kind, a, NULL);
	if (SPI_processed == 0)
		return false;
	en->kind = pstrdup(kind);
	en->policy = WS_LWW;
	{
		char	   *p = text_col(0, 1);

		if (strcmp(p, "merge") == 0)
			en->policy = WS_MERGE;
		else if (strcmp(p, "manual") == 0)
			en->policy = WS_MANUAL;
	}
	d = col(0, 2, &isnull);
	en->ncounters = 0;
	en->counters = NULL;
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *enulls;
		int			ne;

		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &enulls, &ne);
		en->counters = palloc(sizeof(char *) * Max(ne, 1));
		for (int i = 0; i < ne; i++)
			en->counters[en->ncounters++] = TextDatumGetCString(elems[i]);
	}
	return true;
}

/*
 * Take hold of the entity's row through en->w (writer.c): read it into
 * en->row, its place into en->tid, and keep other transactions from
 * changing it until this one ends.  Sets en->exists.
 */
static void
hold_entity(Entity *en)
{
	WsWriter   *w = en->w;
	bool		isnull;
	Datum		d;

	en->exists = ws_writer_hold_entity(w, en->id, &en->tid);
	if (!en->exists)
		return;
	en->row.kind = TextDatumGetCString(ws_writer_entity_col(w, EN_KIND, &isnull));
	en->row.module = TextDatumGetCString(ws_writer_entity_col(w, EN_MODULE, &isnull));
	en->row.state = DatumGetJsonbPCopy(ws_writer_entity_col(w, EN_STATE, &isnull));
	en->row.version = DatumGetInt64(ws_writer_entity_col(w, EN_VERSION, &isnull));
	en->row.hlc = *DatumGetHlcP(ws_writer_entity_col(w, EN_HLC, &isnull));
	en->row.retired = DatumGetBool(ws_writer_entity_col(w, EN_RETIRED, &isnull));
	d = ws_writer_entity_col(w, EN_VCLOCK, &isnull);
	en->row.vclock = isnull ? NULL : (WsVclock *) PG_DETOAST_DATUM_COPY(d);
	d = ws_writer_entity_col(w, EN_CREATED_HLC, &isnull);
	en->row.has_created = !isnull;
	if (!isnull)
		en->row.created_hlc = *DatumGetHlcP(d);
}

/*
 * Integrate event e of entity entity_id: refold the entity from the last
 * keyframe before e (or, when e continues it, fold e alone).
 */
static void
integrate_entity(const char *entity_id, Ev *e)
{
	Entity		en;
	WsWriter	w;
	Datum		a[2];
	Ev		   *evs;
	int			n;

	ws_writer_begin(&w);
	for (;;)
	{
		bool		continues = false;

		memset(&en, 0, sizeof(en));
		en.id = entity_id;
		en.w = &w;
		hold_entity(&en);
		en.module = en.exists ? en.row.module : e->module;
		if (en.exists)
		{
			/* e continues the entity: its past is everything here */
			continues = !e->bad && ws_hlc_cmp(&en.row.hlc, &e->hlc) < 0 &&
				vclock_sum(e->vclock) == en.row.version + 1;
			if (continues)
			{
				en.has_base = true;
				en.base_hlc = en.row.hlc;
				en.base_version = en.row.version;
				en.base_state = en.row.state;
				en.base_vclock = en.row.vclock;
				en.base_retired = en.row.retired;
			}
		}
		if (!load_kind(&en, en.exists ? en.row.kind : e->kind))
		{
			put_pending(entity_id, e, "kind_missing",
						psprintf("kind \"%s\" is not defined on this node", e->kind ? e->kind : ""));
			break;
		}
		if (continues)
		{
			if (fold_events(&en, e, 1))
				break;
			continue;
		}

		/* the base: the last keyframe before e */
		a[0] = CStringGetTextDatum(entity_id);
		a[1] = HlcPGetDatum(&e->hlc);
		run(plans.keyframe_before, a, NULL);
		en.has_base = SPI_processed == 1;
		if (en.has_base)
		{
			bool		isnull;

			en.base_hlc = *DatumGetHlcP(col(0, 1, &isnull));
			en.base_version = DatumGetInt64(col(0, 2, &isnull));
			en.base_state = jsonb_col(0, 3);
			en.base_vclock = (WsVclock *) PG_DETOAST_DATUM_COPY(col(0, 4, &isnull));
			en.base_retired = DatumGetBool(col(0, 5, &isnull));
		}

		/* everything after it is folded again */
		run(plans.pending_delete, a, NULL);
		en.collect = true;
		a[1] = en.has_base ? HlcPGetDatum(&en.base_hlc) : (Datum) 0;
		if (en.has_base)
			run(plans.events_after, a, NULL);
		else
			run(plans.events_all, a, NULL);
		n = (int) SPI_processed;
		evs = palloc(sizeof(Ev) * Max(n, 1));
		for (int i = 0; i < n; i++)
			read_event(i, &evs[i]);
		if (fold_events(&en, evs, n))
			break;
		/* created meanwhile by a local change: fold again, now held */
	}
	ws_writer_end(&w);
}

/*
 * ws_converge_entity's fold of en->id, whose row en holds (en->w) or, when
 * there is no writer, is only checked.
 */
static char *
converge_entity(Entity *en)
{
	bool		check_only = en->w == NULL;
	Datum		a[1] = {CStringGetTextDatum(en->id)};
	StringInfoData dry;
	Ev		   *evs;
	int			n;

	if (check_only)
	{
		run(plans.entity_peek, a, NULL);
		en->exists = SPI_processed == 1;
	}
	run(plans.events_all, a, NULL);
	n = (int) SPI_processed;
	evs = palloc(sizeof(Ev) * Max(n, 1));
	for (int i = 0; i < n; i++)
		read_event(i, &evs[i]);
	if (n == 0 || !type_is(&evs[0], "created"))
	{
		/* its history starts in the archive (or its creation is missing) */
		run(plans.events_archived, a, NULL);
		n = (int) SPI_processed;
		evs = palloc(sizeof(Ev) * Max(n, 1));
		for (int i = 0; i < n; i++)
			read_event(i, &evs[i]);
	}
	if (n == 0)
		return check_only ? "it has no events" : NULL;
	en->module = evs[0].module;
	if (!load_kind(en, evs[0].kind))
		return check_only ? "its kind is not defined here" : NULL;
	en->collect = true;
	if (check_only)
	{
		initStringInfo(&dry);
		en->dry = &dry;
	}
	else
		run(plans.pending_delete, a, NULL);
	(void) fold_events(en, evs, n);
	return check_only && dry.len > 0 ? dry.data : NULL;
}

/*
 * Fold entity_id's whole history canonically.  With check_only, nothing is
 * written and the result describes how ws.entities, ws.keyframes and
 * ws.conflicts differ from the fold (NULL: they do not); otherwise they are
 * brought to it (NULL returned).  The history includes the archived
 * events (ws.events_archive), as the keyframes before the archive boundary
 * stay.  For restore, ws.verify (snapshot.c) and ws.reconcile (reconcile.c):
 * runs inside SPI, as the owner of schema ws.  An entity without events
 * or whose kind is not defined here is left alone (and, checked, is said to
 * differ).
 */
char *
ws_converge_entity(const char *entity_id, bool check_only)
{
	Entity		en = {0};
	WsWriter	w;
	char	   *result;

	ws_prepare_table(&plans.prepared_for, plan_defs, lengthof(plan_defs));
	en.id = entity_id;
	if (check_only)
		return converge_entity(&en);
	ws_writer_begin(&w);
	en.w = &w;
	hold_entity(&en);
	result = converge_entity(&en);
	ws_writer_end(&w);
	return result;
}

/*
 * Apply a link or unlink event to ws.relationships unless a later one of
 * the same relationship is already here.
 */
static void
integrate_link(const char *entity_id, const Ev *e, Jsonb *meta)
{
	JsonbValue *rel;
	JsonbValue *to;
	Datum		a[5];
	char		n[5] = {' ', ' ', ' ', ' ', ' '};

	if (meta == NULL ||
		(rel = getKeyJsonValueFromContainer(&meta->root, "rel", 3, NULL)) == NULL ||
		(to = getKeyJsonValueFromContainer(&meta->root, "to", 2, NULL)) == NULL ||
		rel->type != jbvString || to->type != jbvString)
		return;
	a[0] = CStringGetTextDatum(entity_id);
	a[1] = PointerGetDatum(cstring_to_text_with_len(rel->val.string.val, rel->val.string.len));
	a[2] = PointerGetDatum(cstring_to_text_with_len(to->val.string.val, to->val.string.len));
	a[3] = HlcPGetDatum(&e->hlc);
	run(plans.link_later, a, NULL);
	if (SPI_processed > 0)
		return;
	if (type_is(e, "linked"))
	{
		JsonbValue *props = getKeyJsonValueFromContainer(&meta->root, "props", 5, NULL);

		a[3] = props ? JsonbPGetDatum(JsonbValueToJsonb(props)) : (Datum) 0;
		n[3] = props ? ' ' : 'n';
		a[4] = HlcPGetDatum(&e->hlc);
		run(plans.link_put, a, n);
	}
	else
		run(plans.link_delete, a, NULL);
}

/* Column `name` of the trigger's row. */
static Datum
row_col(TriggerData *td, const char *name, bool *isnull)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			att = SPI_fnumber(desc, name);

	if (att <= 0)
		elog(ERROR, "ws.events has no column \"%s\"", name);
	return heap_getattr(td->tg_trigtuple, att, desc, isnull);
}

/* Whether the trigger's row is a horizon event (stable.c). */
static bool
row_is_horizon(TriggerData *td)
{
	bool		entity_null;
	bool		module_null;
	bool		type_null;
	Datum		module;
	Datum		type;

	(void) row_col(td, "entity_id", &entity_null);
	module = row_col(td, "module", &module_null);
	type = row_col(td, "event_type", &type_null);
	return entity_null && !module_null && !type_null &&
		ws_is_horizon_event(TextDatumGetCString(module), TextDatumGetCString(type));
}

static TriggerData *
check_trigger(FunctionCallInfo fcinfo, const char *name)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be called as a row trigger on insert", name),
				 errhint("It integrates events that peers replicate into ws.events.")));
	return td;
}

/*
 * Causal buffering.  A peer's event is applied only when its causal past
 * is here: for the event e of entity E from node o, the local count of E's
 * events from every node n is at least e.vclock[n] (e.vclock[o] - 1 for o
 * itself), and every explicit causal_deps id is in ws.events or
 * ws.events_archive (an event without an entity needs only the latter).
 * Otherwise events_arrive keeps the whole row in ws.pending.held (reason
 * causal) and the insert does not happen, as it does not for an HLC ahead
 * of the local clock by more than worldstate.max_clock_skew (reason
 * clock_skew).  So ws.events' arrival order is the order of application.
 *
 * A held causal event waits for one key at a time (ws.pending.waits_for),
 * its first missing prerequisite: event:<id>, or entity:<n>:<c>:<E>, the
 * c-th event of node n on E.  Since every node's events of an entity are
 * applied in their order, that key is met exactly when the event carrying
 * it (vclock[n] = c) is applied.  Every applied event looks up the two
 * keys it meets and queues the events waiting for them; the outermost
 * integration drains the queue in a loop, releasing each by inserting its
 * row into ws.events again as a replica insert, so that events_arrive
 * decides once more (and may hold it for its next key) and
 * events_integrate folds it and queues what it unblocks in turn.  The
 * nesting stays one level deep however long the chain.
 *
 * An entity's count of a node's events is read from ws.entities.vclock
 * when that suffices (every event folded there passed this check, so its
 * counts never exceed the rows here), else counted in the log.
 */

/* the queue of held events to release, drained by the outermost integration */
static struct
{
	pg_uuid_t  *ids;
	int			n;
	int			cap;
	bool		draining;
}			release_queue;

/* while an event is released: when it started waiting (0: not releasing) */
static TimestampTz releasing_since = 0;

/* The key of the c-th event of node on entity_id. */
static char *
entity_key(int32 node, int64 c, const char *entity_id)
{
	return psprintf("entity:%d:" INT64_FORMAT ":%s", node, c, entity_id);
}

static char *
uuid_text(const pg_uuid_t *u)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, uuid_datum(u)));
}

/*
 * Whether at least `need` events of node on entity_id are here; *here
 * caches the entity's vclock between calls (NULL before the first).
 */
static bool
have_count(const char *entity_id, int32 node, int64 need, WsVclock **here, bool *fetched)
{
	Datum		a[2];
	bool		isnull;

	a[0] = CStringGetTextDatum(entity_id);
	if (!*fetched)
	{
		ItemPointerData tid;
		bool		found = false;

		/*
		 * by its ctid when this transaction wrote the row last (writer.c
		 * remembers where; a lookup by key would read every version this
		 * transaction made), if the version there is still the one seen
		 */
		if (ws_writer_last_entity_write(entity_id, &tid))
		{
			a[1] = PointerGetDatum(&tid);
			run(plans.entity_vclock_at, a, NULL);
			found = SPI_processed == 1;
		}
		if (!found)
		{
			run(plans.entity_vclock, a, NULL);
			found = SPI_processed == 1;
		}
		*here = NULL;
		if (found)
		{
			Datum		d = col(0, 1, &isnull);

			if (!isnull)
				*here = (WsVclock *) PG_DETOAST_DATUM_COPY(d);
		}
		*fetched = true;
	}
	if (*here && ws_vclock_count(*here, node) >= need)
		return true;
	a[1] = Int32GetDatum(node);
	run(plans.count_from, a, NULL);
	return DatumGetInt64(col(0, 1, &isnull)) >= need;
}

static bool
dep_present(Datum id)
{
	bool		isnull;

	run(plans.dep_present, &id, NULL);
	return DatumGetBool(col(0, 1, &isnull));
}

/*
 * The first prerequisite of an event that is not here (its key, with a
 * sentence in *detail), or NULL when its causal past is all here.
 */
static char *
causal_wait(const char *entity_id, int32 origin, WsVclock *vc, ArrayType *deps, char **detail)
{
	WsVclock   *here = NULL;
	bool		fetched = false;

	if (entity_id != NULL && vc != NULL)
		for (int i = 0; i < vc->n; i++)
		{
			int32		node = vc->entries[i].node;
			int64		need = vc->entries[i].count - (node == origin ? 1 : 0);

			if (need <= 0 || have_count(entity_id, node, need, &here, &fetched))
				continue;
			*detail = psprintf("it has seen " INT64_FORMAT " events of node %d on entity \"%s\", "
							   "which are not all here", need, node, entity_id);
			return entity_key(node, need, entity_id);
		}
	if (deps != NULL && ARR_NDIM(deps) == 1)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(deps, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
			if (!nulls[i] && !dep_present(elems[i]))
			{
				char	   *id = uuid_text(DatumGetUUIDP(elems[i]));

				*detail = psprintf("event %s it depends on (causal_deps) has not arrived", id);
				return psprintf("event:%s", id);
			}
	}
	return NULL;
}

/* Whether the prerequisite a waits_for key names is here now. */
static bool
key_met(const char *key)
{
	if (strncmp(key, "event:", 6) == 0)
		return dep_present(DirectFunctionCall1(uuid_in, CStringGetDatum(key + 6)));
	if (strncmp(key, "entity:", 7) == 0)
	{
		int32		node;
		int64		need;
		int			off = 0;
		WsVclock   *here = NULL;
		bool		fetched = false;

		if (sscanf(key + 7, "%d:" INT64_FORMAT ":%n", &node, &need, &off) == 2 && off > 0)
			return have_count(key + 7 + off, node, need, &here, &fetched);
	}
	return false;
}

/*
 * Hold the row a replica session inserts into ws.events (trigger data td)
 * in ws.pending instead, for reason (causal: waiting for key).  A first
 * hold is counted; a release that holds it again keeps its start.
 */
static void
hold_event(TriggerData *td, const char *reason, const char *key, const char *detail)
{
	Datum		a[8];
	char		n[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;

	a[0] = row_col(td, "event_id", &isnull);
	a[1] = row_col(td, "entity_id", &isnull);
	n[1] = isnull ? 'n' : ' ';
	a[2] = row_col(td, "origin_node", &isnull);
	n[2] = isnull ? 'n' : ' ';
	a[3] = CStringGetTextDatum(reason);
	a[4] = CStringGetTextDatum(detail);
	a[5] = heap_copy_tuple_as_datum(td->tg_trigtuple, RelationGetDescr(td->tg_relation));
	a[6] = key ? CStringGetTextDatum(key) : (Datum) 0;
	n[6] = key ? ' ' : 'n';
	a[7] = TimestampTzGetDatum(releasing_since);
	n[7] = releasing_since != 0 ? ' ' : 'n';
	run(plans.hold_put, a, n);
	if (releasing_since == 0)
	{
		ws_stats_count(WS_STAT_BUFFERED);
		if (strcmp(reason, "clock_skew") == 0)
			ws_stats_count(WS_STAT_CLOCK_SKEW_PARKED);
	}
}

/* Add held event id to the release queue (which lives until the drain ends). */
static void
queue_push(const pg_uuid_t *id)
{
	if (release_queue.n == release_queue.cap)
	{
		release_queue.cap = Max(64, release_queue.cap * 2);
		release_queue.ids = release_queue.ids ?
			repalloc(release_queue.ids, sizeof(pg_uuid_t) * release_queue.cap) :
			MemoryContextAlloc(TopTransactionContext, sizeof(pg_uuid_t) * release_queue.cap);
	}
	memcpy(&release_queue.ids[release_queue.n++], id, sizeof(pg_uuid_t));
}

/* Queue the held events waiting for the arrival of event e (of entity_id, or NULL). */
static void
queue_waiting(const char *entity_id, const Ev *e)
{
	Datum		keys[2];
	int			nkeys = 0;
	Datum		a[1];

	keys[nkeys++] = CStringGetTextDatum(psprintf("event:%s", uuid_text(&e->id)));
	if (entity_id != NULL && e->vclock != NULL && ws_vclock_count(e->vclock, e->origin) > 0)
		keys[nkeys++] = CStringGetTextDatum(entity_key(e->origin, ws_vclock_count(e->vclock, e->origin),
													   entity_id));
	a[0] = PointerGetDatum(construct_array(keys, nkeys, TEXTOID, -1, false, TYPALIGN_INT));
	run(plans.waiting_on, a, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;

		queue_push(DatumGetUUIDP(col(r, 1, &isnull)));
	}
}

/*
 * Record ed, the error event e of entity entity_id (NULL: none known)
 * raised in its subtransaction, as an apply_error conflict with
 * resolution; frees ed.
 */
static void
record_apply_error(const char *entity_id, const Ev *e, const char *resolution, ErrorData *ed)
{
	Entity		en = {0};

	en.id = entity_id;
	record_conflict(&en, "apply_error", NULL, e, NULL, resolution,
					psprintf("%s (SQLSTATE %s)", ed->message, unpack_sql_state(ed->sqlerrcode)));
	FreeErrorData(ed);
}

/* What release_one's subtransaction takes and gives back. */
typedef struct Release
{
	const pg_uuid_t *id;
	WsHlc		hlc;			/* the held event's HLC, once read */
	bool		applied;
} Release;

/* release_one's work, in its subtransaction. */
static void
release_step(void *arg)
{
	Release    *r = (Release *) arg;
	Datum		a[1] = {uuid_datum(r->id)};
	bool		isnull;

	run(plans.release_take, a, NULL);
	if (SPI_processed != 1)
		return;
	r->hlc = *DatumGetHlcP(col(0, 3, &isnull));
	a[0] = col(0, 1, &isnull);
	releasing_since = DatumGetTimestampTz(col(0, 2, &isnull));
	run(plans.release_put, a, NULL);
	releasing_since = 0;
	r->applied = SPI_processed == 1;
	if (r->applied)
	{
		pg_uuid_t	cid = conflict_id("causal_timeout", r->id, NULL);

		a[0] = uuid_datum(&cid);
		run(plans.timeout_released, a, NULL);
		ws_stats_count(WS_STAT_RELEASED);
	}
}

/*
 * Release held event id: take its row out of ws.pending and insert it into
 * ws.events (events_arrive may hold it again), in a subtransaction so that
 * a failure is recorded, the event stays held, and the others go on.
 * Returns whether it was applied.
 */
static bool
release_one(const pg_uuid_t *id)
{
	Release		r = {.id = id};
	ErrorData  *ed = ws_subxact_try(release_step, &r);
	Ev			e = {0};

	if (ed == NULL)
		return r.applied;
	releasing_since = 0;
	e.id = *id;
	e.hlc = r.hlc;
	record_apply_error(NULL, &e, "held: not released", ed);
	return false;
}

/*
 * Release the queued events, and those their release queues, in order;
 * only the outermost call does (a release integrates the event it
 * inserts, which queues its own waiters here).  Inserts fire the replica
 * triggers, so the session acts as a replica meanwhile.  Returns how many
 * were applied.  Inside SPI, as the owner of schema ws.
 */
static int64
release_drain(void)
{
	int64		applied = 0;
	volatile int save_nestlevel = -1;
	MemoryContext cxt;
	MemoryContext old;

	if (release_queue.draining || release_queue.n == 0)
		return 0;
	release_queue.draining = true;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate release", ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		if (SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA)
		{
			save_nestlevel = NewGUCNestLevel();
			(void) set_config_option("session_replication_role", "replica", PGC_SUSET,
									 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		}
		for (int i = 0; i < release_queue.n; i++)
		{
			pg_uuid_t	id = release_queue.ids[i];

			CHECK_FOR_INTERRUPTS();
			old = MemoryContextSwitchTo(cxt);
			if (release_one(&id))
				applied++;
			MemoryContextSwitchTo(old);
			MemoryContextReset(cxt);
		}
		if (save_nestlevel >= 0)
			AtEOXact_GUC(false, save_nestlevel);
	}
	PG_FINALLY();
	{
		if (release_queue.ids)
			pfree(release_queue.ids);
		release_queue.draining = false;
		release_queue.n = 0;
		release_queue.cap = 0;
		release_queue.ids = NULL;
	}
	PG_END_TRY();
	MemoryContextDelete(cxt);
	return applied;
}

/*
 * Queue the held events whose wait may be over: causal ones whose key is
 * met, clock_skew ones now within worldstate.max_clock_skew of the local
 * clock.  Inside SPI.
 */
static void
queue_due(void)
{
	int64		limit = ws_clock_physical() + (int64) ws_max_clock_skew_ms * 1000;
	SPITupleTable *held;
	uint64		n;

	run(plans.held_all, NULL, NULL);
	held = SPI_tuptable;
	n = SPI_processed;
	for (uint64 r = 0; r < n; r++)
	{
		HeapTuple	t = held->vals[r];
		bool		isnull;
		char	   *reason = tuple_text(t, held->tupdesc, 2);
		char	   *key = tuple_text(t, held->tupdesc, 3);
		WsHlc	   *hlc = DatumGetHlcP(heap_getattr(t, 4, held->tupdesc, &isnull));
		bool		due;

		CHECK_FOR_INTERRUPTS();
		if (strcmp(reason, "clock_skew") == 0)
			due = hlc->wall <= limit;
		else
			due = key == NULL || key_met(key);
		if (due)
			queue_push(DatumGetUUIDP(heap_getattr(t, 1, held->tupdesc, &isnull)));
	}
}

/*
 * Report, once each, the held causal events that have waited longer than
 * worldstate.causal_timeout: a WARNING, the counter causal_expired, and an
 * open ws.conflicts row of type causal_timeout (closed with resolution
 * released when the event is applied).  They stay held.  Returns how many.
 */
static int64
report_expired(void)
{
	SPITupleTable *rows;
	uint64		n;
	Datum		a[1];

	if (ws_causal_timeout_ms <= 0)
		return 0;
	a[0] = Float8GetDatum((double) ws_causal_timeout_ms);
	run(plans.expired, a, NULL);
	rows = SPI_tuptable;
	n = SPI_processed;
	for (uint64 r = 0; r < n; r++)
	{
		HeapTuple	t = rows->vals[r];
		bool		isnull;
		Ev			e = {0};
		Entity		en = {0};
		char	   *kind = tuple_text(t, rows->tupdesc, 7);
		char	   *key = tuple_text(t, rows->tupdesc, 4);
		char	   *detail = tuple_text(t, rows->tupdesc, 5);
		int32		origin = DatumGetInt32(heap_getattr(t, 3, rows->tupdesc, &isnull));

		memcpy(&e.id, DatumGetUUIDP(heap_getattr(t, 1, rows->tupdesc, &isnull)), sizeof(pg_uuid_t));
		e.hlc = *DatumGetHlcP(heap_getattr(t, 6, rows->tupdesc, &isnull));
		en.id = tuple_text(t, rows->tupdesc, 2);
		if (kind != NULL)
			(void) load_kind(&en, kind);
		ereport(WARNING,
				(errcode(ERRCODE_WS_CAUSAL),
				 errmsg("event %s from node %d has waited more than %d ms for its causal past",
						uuid_text(&e.id), origin, ws_causal_timeout_ms),
				 errdetail("It waits for %s: %s.", key ? key : "?", detail ? detail : "?"),
				 errhint("It stays in ws.pending and is applied when that arrives; ws.peer_status shows the links to the peers.")));
		ws_stats_count(WS_STAT_CAUSAL_EXPIRED);
		record_conflict(&en, "causal_timeout", NULL, &e, NULL, NULL,
						psprintf("waits for %s: %s", key ? key : "?", detail ? detail : "?"));
	}
	return (int64) n;
}

/*
 * The background worker's turn (worker.c), in a transaction: release the
 * held events whose wait is over, report those past
 * worldstate.causal_timeout.
 */
void
ws_converge_pending_cycle(void)
{
	WsAsOwner	saved;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_as_owner_begin(&saved);
	ws_prepare_table(&plans.prepared_for, plan_defs, lengthof(plan_defs));
	queue_due();
	(void) release_drain();
	(void) report_expired();
	ws_as_owner_end(&saved);
	SPI_finish();
}

/*
 * ws.events_arrive(): BEFORE INSERT on ws.events, for replica sessions.
 * Drops a re-delivery, holds in ws.pending an event whose causal past is
 * not all here or whose HLC is too far ahead, else applies the receive
 * rule and stamps the arrival order.
 */
Datum
events_arrive(PG_FUNCTION_ARGS)
{
	TriggerData *td = check_trigger(fcinfo, "ws.events_arrive()");
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	HeapTuple	row = td->tg_trigtuple;
	bool		isnull;
	bool		entity_null;
	bool		vnull;
	bool		dnull;
	bool		onull;
	Datum		event_id = row_col(td, "event_id", &isnull);
	Datum		entity_id = row_col(td, "entity_id", &entity_null);
	Datum		hlc = row_col(td, "hlc", &isnull);
	Datum		vclock = row_col(td, "vclock", &vnull);
	Datum		deps = row_col(td, "causal_deps", &dnull);
	Datum		origin = row_col(td, "origin_node", &onull);
	bool		drop = false;
	WsAsOwner	saved;
	int			att;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_as_owner_begin(&saved);
	ws_prepare_table(&plans.prepared_for, plan_defs, lengthof(plan_defs));
	{
		Datum		a[2] = {event_id, entity_id};

		run(plans.seen, a, NULL);
		if (SPI_processed == 0 && releasing_since == 0)
			run(plans.held_seen, a, NULL);
		if (SPI_processed > 0)
		{
			drop = true;
		}
		else if (!entity_null && !isnull)
		{
			a[0] = entity_id;
			a[1] = hlc;
			run(plans.same_hlc, a, NULL);
			if (SPI_processed > 0)
			{
				Ev			e = {0};
				Entity		en = {0};

				memcpy(&e.id, DatumGetUUIDP(event_id), sizeof(pg_uuid_t));
				e.hlc = *DatumGetHlcP(hlc);
				en.id = TextDatumGetCString(entity_id);
				record_conflict(&en, "apply_error", NULL, &e, NULL, "dropped",
								"another event of the entity has the same HLC");
				drop = true;
			}
		}
	}
	if (!drop)
	{
		char	   *detail = NULL;
		char	   *key = causal_wait(entity_null ? NULL : TextDatumGetCString(entity_id),
									  onull ? 0 : DatumGetInt32(origin),
									  vnull ? NULL : (WsVclock *) PG_DETOAST_DATUM_COPY(vclock),
									  dnull ? NULL : DatumGetArrayTypeP(deps), &detail);

		/* how far the origin's clock is ahead of ours (ws.peer_status) */
		if (!isnull && !onull)
			ws_stats_observe_peer_skew(DatumGetInt32(origin),
									   DatumGetHlcP(hlc)->wall - ws_clock_physical());
		if (key != NULL)
		{
			hold_event(td, "causal", key, detail);
			drop = true;
		}
		/* a horizon event changes nothing of the clock */
		else if (row_is_horizon(td))
			;
		/* the HLC receive rule, unless the remote clock is too far ahead */
		else if (!isnull && !ws_clock_receive_bounded(DatumGetHlcP(hlc)))
		{
			hold_event(td, "clock_skew", NULL,
					   psprintf("its HLC %s is ahead of the local clock by more than worldstate.max_clock_skew (%d ms)",
								ws_hlc_to_cstring(DatumGetHlcP(hlc)), ws_max_clock_skew_ms));
			drop = true;
		}
	}
	ws_as_owner_end(&saved);
	SPI_finish();
	if (drop)
		return PointerGetDatum(NULL);

	/* local arrival order, which ws.poll follows (horizon.c) */
	att = SPI_fnumber(desc, "arrival");
	if (att <= 0)
		elog(ERROR, "ws.events has no column \"arrival\"");
	{
		Datum		v = Int64GetDatum(ws_arrival_for_event(ws_relation_oid("events_arrival_seq")));
		bool		vnull2 = false;

		row = heap_modify_tuple_by_cols(row, desc, 1, &att, &v, &vnull2);
	}
	return PointerGetDatum(row);
}

/*
 * A resolve event (ws.resolve_conflict on some node) closes the conflict
 * its meta names, if this node has it; one detected later finds the event
 * (record_conflict).
 */
static void
mark_resolved(const Ev *e)
{
	JsonbValue *v;
	Datum		a[1];

	if (e->caller_meta == NULL || !JB_ROOT_IS_OBJECT(e->caller_meta) ||
		(v = getKeyJsonValueFromContainer(&e->caller_meta->root, "resolves", 8, NULL)) == NULL ||
		v->type != jbvString)
		return;
	a[0] = CStringGetTextDatum(pnstrdup(v->val.string.val, v->val.string.len));
	run(plans.mark_resolved, a, NULL);
}

/* An event to integrate: integrate_guarded's arguments. */
typedef struct Integration
{
	const char *entity_id;		/* NULL: a catalog or horizon event */
	Ev		   *e;
	Jsonb	   *meta;
} Integration;

/* integrate_guarded's work, in its subtransaction. */
static void
integrate_step(void *arg)
{
	Integration *in = (Integration *) arg;
	Ev		   *e = in->e;

	if (in->entity_id == NULL && ws_is_horizon_event(e->module, e->type))
		ws_stable_record_horizon(e->origin, e->patch);
	else if (in->entity_id == NULL)
		(void) ws_apply_definitions(e->patch);
	else
	{
		if (type_is(e, "linked") || type_is(e, "unlinked"))
			integrate_link(in->entity_id, e, in->meta);
		integrate_entity(in->entity_id, e);
		if (type_is(e, "resolve"))
			mark_resolved(e);
	}
}

/*
 * Integrate event e of entity entity_id (meta: the event's meta; entity_id
 * NULL: a catalog or horizon event) in a subtransaction: a failure is
 * recorded as an apply_error conflict, never raised.  Runs inside SPI, as
 * the owner of schema ws.  Returns whether it succeeded.
 */
static bool
integrate_guarded(const char *entity_id, Ev *e, Jsonb *meta)
{
	Integration in = {entity_id, e, meta};
	ErrorData  *ed = ws_subxact_try(integrate_step, &in);

	if (ed == NULL)
		return true;
	record_apply_error(entity_id, e, "not applied", ed);
	return false;
}

/*
 * ws.events_integrate(): AFTER INSERT on ws.events, for replica sessions.
 * Folds the event, then releases the held events it was the last
 * prerequisite of.
 */
Datum
events_integrate(PG_FUNCTION_ARGS)
{
	TriggerData *td = check_trigger(fcinfo, "ws.events_integrate()");
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	static const char *const names[] = {"event_id", "hlc", "origin_node", "vclock",
	"event_type", "patch", "intent", "caller_meta", "kind", "module"};
	int			att[lengthof(names)];
	bool		entity_null;
	Datum		entity_id = row_col(td, "entity_id", &entity_null);
	char	   *entity = entity_null ? NULL : TextDatumGetCString(entity_id);
	int			meta_att = SPI_fnumber(desc, "meta");
	WsAsOwner	saved;
	Ev			e;

	for (int i = 0; i < (int) lengthof(names); i++)
		if ((att[i] = SPI_fnumber(desc, names[i])) <= 0)
			elog(ERROR, "ws.events has no column \"%s\"", names[i]);
	read_event_tuple(td->tg_trigtuple, desc, att, &e);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_as_owner_begin(&saved);
	ws_prepare_table(&plans.prepared_for, plan_defs, lengthof(plan_defs));
	if (entity_null && type_is(&e, WS_HORIZON_EVENT_TYPE))
		integrate_guarded(NULL, &e, NULL);
	else if (entity_null)
	{
		/*
		 * of events without an entity, only the catalog's change anything
		 * here: a definition from a peer, and what waited for it may fold
		 */
		if (e.module && strcmp(e.module, WS_CATALOG_MODULE) == 0 &&
			type_is(&e, WS_CATALOG_EVENT_TYPE) && integrate_guarded(NULL, &e, NULL))
			(void) retry_pending_all();
	}
	else
		integrate_guarded(entity, &e, tuple_jsonb(td->tg_trigtuple, desc, meta_att));
	ws_stats_count(WS_STAT_REMOTE_APPLIED);
	queue_waiting(entity, &e);
	(void) release_drain();
	ws_as_owner_end(&saved);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * Fold again every entity with events waiting in ws.pending; returns how
 * many events left ws.pending.  Inside SPI, as the owner of schema ws.
 */
static int64
retry_pending_all(void)
{
	int64		before;
	int64		after;
	bool		isnull;
	SPITupleTable *entities;
	uint64		n;

	ws_exec("SELECT count(*) FROM ws.pending WHERE " UNFOLDED_ROWS, 0, NULL, NULL, NULL, SPI_OK_SELECT);
	before = DatumGetInt64(col(0, 1, &isnull));
	if (before == 0)
		return 0;
	/* each entity's first event: the refold starts before it */
	ws_exec("SELECT DISTINCT ON (entity_id) " EVENT_COLS ", meta, entity_id"
			" FROM ws.events WHERE entity_id IN (SELECT entity_id FROM ws.pending WHERE " UNFOLDED_ROWS ")"
			" ORDER BY entity_id, hlc USING OPERATOR(ws.<)",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	entities = SPI_tuptable;
	n = SPI_processed;
	for (uint64 r = 0; r < n; r++)
	{
		HeapTuple	t = entities->vals[r];
		Ev			e;

		CHECK_FOR_INTERRUPTS();
		read_event_tuple(t, entities->tupdesc, result_atts, &e);
		integrate_guarded(tuple_text(t, entities->tupdesc, 12), &e,
						  tuple_jsonb(t, entities->tupdesc, 11));
	}
	ws_exec("SELECT count(*) FROM ws.pending WHERE " UNFOLDED_ROWS, 0, NULL, NULL, NULL, SPI_OK_SELECT);
	after = DatumGetInt64(col(0, 1, &isnull));
	return before - after;
}

/*
 * ws.retry_pending() -> bigint: fold again every entity with events waiting
 * in ws.pending (after the kind or the creation they wait for came by
 * another way), release the held events whose wait is over, and report
 * those past worldstate.causal_timeout; returns how many events left
 * ws.pending.
 */
Datum
pending_retry(PG_FUNCTION_ARGS)
{
	WsAsOwner	saved;
	int64		before;
	int64		after;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_as_owner_begin(&saved);
	ws_prepare_table(&plans.prepared_for, plan_defs, lengthof(plan_defs));
	ws_exec("SELECT count(*) FROM ws.pending", 0, NULL, NULL, NULL, SPI_OK_SELECT);
	before = DatumGetInt64(col(0, 1, &isnull));
	(void) retry_pending_all();
	queue_due();
	(void) release_drain();
	(void) report_expired();
	ws_exec("SELECT count(*) FROM ws.pending", 0, NULL, NULL, NULL, SPI_OK_SELECT);
	after = DatumGetInt64(col(0, 1, &isnull));
	ws_as_owner_end(&saved);
	SPI_finish();
	PG_RETURN_INT64(before - after);
}

/*
 * The merge patch that turns current into `target`: target's members, null
 * for the members only current has, and for a counter the difference of
 * its two values (counters take deltas in a transition's patch).
 */
static Jsonb *
patch_to(Jsonb *current, Jsonb *target, Entity *en)
{
	JsonbParseState *ps = NULL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		skip = false;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(&current->root);
	while ((tok = JsonbIteratorNext(&it, &v, skip)) != WJB_DONE)
	{
		skip = true;
		if (tok == WJB_KEY &&
			!getKeyJsonValueFromContainer(&target->root, v.val.string.val,
										  v.val.string.len, NULL))
		{
			JsonbValue	null = {.type = jbvNull};

			pushJsonbValue(&ps, WJB_KEY, &v);
			pushJsonbValue(&ps, WJB_VALUE, &null);
		}
	}
	it = JsonbIteratorInit(&target->root);
	skip = false;
	while ((tok = JsonbIteratorNext(&it, &v, skip)) != WJB_DONE)
	{
		JsonbValue	key;
		bool		counter = false;

		skip = true;
		if (tok != WJB_KEY)
			continue;
		key = v;
		(void) JsonbIteratorNext(&it, &v, true);
		for (int i = 0; i < en->ncounters; i++)
			if (strlen(en->counters[i]) == (size_t) key.val.string.len &&
				memcmp(en->counters[i], key.val.string.val, key.val.string.len) == 0)
				counter = true;
		if (counter)
		{
			JsonbValue *cur = getKeyJsonValueFromContainer(&current->root, key.val.string.val,
														   key.val.string.len, NULL);

			if (v.type != jbvNumeric)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("counter field \"%.*s\" takes a number",
								key.val.string.len, key.val.string.val),
						 errhint("Give the counter the value it should have.")));
			if (cur && cur->type == jbvNumeric)
				v.val.numeric = DatumGetNumeric(DirectFunctionCall2(numeric_sub,
																	NumericGetDatum(v.val.numeric),
																	NumericGetDatum(cur->val.numeric)));
		}
		pushJsonbValue(&ps, WJB_KEY, &key);
		pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * ws.resolve_conflict(conflict_id uuid, state jsonb) -> ws.entities: close
 * an open conflict by giving its entity the state wanted.  It is a
 * transition of event type resolve (the caller needs the module grant, and
 * the session's handshake) whose meta names the conflict; that event's
 * past covers both sides, and every node that integrates it marks the
 * conflict resolved.
 */
Datum
conflict_resolve(PG_FUNCTION_ARGS)
{
	Datum		id;
	Jsonb	   *target;
	Datum		a[3];
	Oid			t[3] = {UUIDOID, TEXTOID, JSONBOID};
	char	   *idtext;
	char	   *entity_id;
	char	   *status;
	Jsonb	   *current;
	Entity		en = {0};
	Datum		result;
	bool		isnull;
	WsAsOwner	saved;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conflict_id must not be null"),
				 errhint("Pass the id of an open conflict of ws.conflicts.")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("state must not be null"),
				 errhint("Pass the whole state the entity should have.")));
	id = PG_GETARG_DATUM(0);
	target = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(target) || JB_ROOT_IS_SCALAR(target))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("state must be a JSON object"),
				 errhint("Pass the whole state the entity should have.")));
	idtext = DatumGetCString(DirectFunctionCall1(uuid_out, id));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_prepare_table(&plans.prepared_for, plan_defs, lengthof(plan_defs));
	a[0] = id;
	ws_as_owner_begin(&saved);
	ws_exec("SELECT c.entity_id, c.status, e.state, e.kind, c.type FROM ws.conflicts c"
			" LEFT JOIN ws.entities e ON e.entity_id OPERATOR(pg_catalog.=) c.entity_id"
			" WHERE c.conflict_id OPERATOR(pg_catalog.=) $1",
			1, t, a, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no conflict %s", idtext),
				 errhint("List the open conflicts with SELECT * FROM ws.conflicts WHERE status = 'open'.")));
	entity_id = text_col(0, 1);
	status = text_col(0, 2);
	current = jsonb_col(0, 3);
	if (strcmp(text_col(0, 5), "causal_timeout") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conflict %s closes when its event is released", idtext),
				 errdetail("A causal_timeout conflict reports an event that waits in ws.pending for its causal past."),
				 errhint("Restore the link to the peer that has the missing events; ws.pending shows what the event waits for.")));
	if (strcmp(status, "open") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conflict %s is already resolved", idtext),
				 errhint("Only open conflicts are resolved; change the entity with ws.transition.")));
	if (entity_id == NULL || current == NULL || !load_kind(&en, text_col(0, 4)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conflict %s is not about an entity of this node", idtext),
				 errhint("Only conflicts of concurrent updates of an entity are resolved with a state.")));
	en.id = entity_id;
	ws_as_owner_end(&saved);

	/* the change itself, with the caller's rights */
	a[0] = CStringGetTextDatum(entity_id);
	a[1] = JsonbPGetDatum(patch_to(current, target, &en));
	a[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(psprintf("{\"resolves\": \"%s\"}", idtext)));
	{
		Oid			tt[3] = {TEXTOID, JSONBOID, JSONBOID};

		ws_exec("SELECT ws.transition($1, $2, NULL, NULL, NULL, 'resolve', NULL, NULL, $3)",
				3, tt, a, NULL, SPI_OK_SELECT);
	}
	result = SPI_datumTransfer(col(0, 1, &isnull), false, -1);

	a[0] = id;
	ws_exec_as_owner("UPDATE ws.conflicts SET status = 'resolved',"
					 " resolution = 'resolved by ws.resolve_conflict'"
					 " WHERE conflict_id OPERATOR(pg_catalog.=) $1",
					 1, t, a, NULL, SPI_OK_UPDATE);
	SPI_finish();
	PG_RETURN_DATUM(result);
}
