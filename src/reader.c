/*-------------------------------------------------------------------------
 *
 * reader.c
 *		The reader: index and heap reads of the ws tables -- an entity's
 *		row, an entity as of an HLC from its keyframes and events, its
 *		events in HLC order, its link events and its present edges.
 *
 * Rows are read with index scans through genam, the way writer.c writes
 * through the executor's simple-relation helpers: no plan and no executor
 * per probe.  A reader opens what its caller will need once, begins each
 * scan once and rescans it with new key values, so a probe costs an index
 * descent and the heap rows it returns.  Everything reads with the active
 * snapshot, the calling statement's, as a query would.
 *
 * Direct scans check what the executor would: the current role must be
 * allowed to SELECT the tables (ws_reader is), and row-level security,
 * which they would bypass, is refused.  Columns are those of tables.h,
 * found by name, so nothing depends on the tables' column order.
 *
 * The past is read from ws.keyframes, the derived table of full states at
 * some of an entity's events, and from the event log, ws.events, and
 * ws.events_archive, where ws.archive_events moves old events (WsLog says
 * which of the two holds what).  An entity as of an HLC is its last
 * keyframe at or before it -- one backward probe of ws.keyframes' primary
 * key -- with the patches of the events after the keyframe up to the HLC
 * folded on in HLC order -- one bounded range of (entity_id, hlc).  A
 * keyframe may stand at any event (the transition protocol puts one at the
 * first and every worldstate.keyframe_interval-th, convergence wherever
 * the canonical state is not the fold of the stored patches), and there it
 * wins over the event's patch.  That is two index descents and at most
 * K - 1 event rows, however long the history, so time travel does not
 * slow down as history grows.  The patches read are folded onto the
 * keyframe by the fold (fold.c).  Versions count: the keyframe's (the
 * position of its event) plus the events folded after it; the versions
 * the events carry are their origin's and are not read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "common/hashfn.h"
#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "fold.h"
#include "hlc.h"
#include "lookup.h"
#include "reader.h"
#include "settings.h"

/*
 * Indexes of the event log, and the archive's table, as the install script
 * names them (the tables themselves are tables.h's).
 */
#define EVENTS_BY_HLC		"events_entity_hlc_idx"
#define EVENTS_LINKS		"events_links_idx"
#define ARCHIVE				"events_archive"
#define ARCHIVE_BY_HLC		"events_archive_entity_hlc_idx"

/*
 * Open table ws.<name> for reading as the current role: SELECT privilege
 * (42501 otherwise), and no row-level security, which direct scans would
 * bypass.  With if_readable, a table that is missing or that the role may
 * not read that way gives NULL instead of an error.
 */
static Relation
open_readable(const char *name, bool if_readable)
{
	Oid			relid = ws_relation_oid(name);
	Relation	rel;
	AclResult	aclresult;
	bool		rls;

	if (!OidIsValid(relid))
	{
		if (if_readable)
			return NULL;
		elog(ERROR, "table ws.%s does not exist", name);
	}
	rel = table_open(relid, AccessShareLock);
	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	rls = rel->rd_rel->relrowsecurity &&
		check_enable_rls(relid, InvalidOid, if_readable) == RLS_ENABLED;
	if (if_readable && (aclresult != ACLCHECK_OK || rls))
	{
		table_close(rel, AccessShareLock);
		return NULL;
	}
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(rel->rd_rel->relkind),
					   RelationGetRelationName(rel));
	if (rls)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the worldstate query functions do not support row-level security on ws.%s",
						name),
				 errhint("Disable row-level security on ws.%s, or query it with plain SQL.", name)));
	return rel;
}

/* Open table ws.<name> for reading as the current role; an error if it may not. */
static Relation
open_table(WsReader *r, const char *name)
{
	return open_readable(name, false);
}

/* Open index ws.<name>, which the install script creates. */
static Relation
open_index(WsReader *r, const char *name)
{
	Oid			relid = ws_relation_oid(name);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("index ws.%s does not exist", name),
				 errhint("The worldstate install script creates it; reinstall the extension or create it as that script does.")));
	return index_open(relid, AccessShareLock);
}

/* The primary key index of rel, opened. */
static Relation
open_primary_key(Relation rel)
{
	Oid			pk = RelationGetPrimaryKeyIndex(rel);

	if (!OidIsValid(pk))
		elog(ERROR, "ws.%s has no primary key", RelationGetRelationName(rel));
	return index_open(pk, AccessShareLock);
}

/*
 * Open a table of the event log and a slot for its rows, once, in the
 * reader's context (the caller may be working in a shorter-lived one).
 */
static void
log_table(WsReader *r, WsLog *log)
{
	MemoryContext old;

	if (log->rel != NULL)
		return;
	old = MemoryContextSwitchTo(r->cxt);
	log->rel = open_table(r, log->table);
	ws_column_numbers(log->rel, &ws_events_table, log->col);
	log->slot = table_slot_create(log->rel, NULL);
	MemoryContextSwitchTo(old);
}

/* Index ws.<name> in *index, opened on first use. */
static Relation
index_once(WsReader *r, Relation *index, const char *name)
{
	if (*index == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(r->cxt);

		*index = open_index(r, name);
		MemoryContextSwitchTo(old);
	}
	return *index;
}

/* Open a log table's index on (entity_id, hlc), once. */
static void
log_by_hlc(WsReader *r, WsLog *log)
{
	log_table(r, log);
	(void) index_once(r, &log->by_hlc, log->by_hlc_name);
}

/* End scan s, if begun. */
static void
end_scan(IndexScanDesc s)
{
	if (s)
		index_endscan(s);
}

/* Drop slot s, if made. */
static void
drop_slot(TupleTableSlot *s)
{
	if (s)
		ExecDropSingleTupleTableSlot(s);
}

/*
 * The next row of scan, a scan that lives as long as the reader, into
 * slot.  It is stepped in the reader's context: btree allocates there what
 * outlives the row (the list of entries to mark dead), and callers may be
 * working in a context reset per row.
 */
static bool
step(WsReader *r, IndexScanDesc scan, ScanDirection dir, TupleTableSlot *slot)
{
	MemoryContext old = MemoryContextSwitchTo(r->cxt);
	bool		found = index_getnext_slot(scan, dir, slot);

	MemoryContextSwitchTo(old);
	return found;
}

/* Close relation rel, if opened (an index or a table); its lock is kept. */
static void
close_rel(Relation rel)
{
	if (rel == NULL)
		return;
	if (rel->rd_rel->relkind == RELKIND_INDEX)
		index_close(rel, NoLock);
	else
		table_close(rel, NoLock);
}

/* End a log table's scans and close it. */
static void
log_close(WsLog *log)
{
	end_scan(log->span_scan);
	drop_slot(log->slot);
	close_rel(log->by_hlc);
	close_rel(log->rel);
}

/*
 * Open what `what` asks for (WS_READ_*), reading with the active snapshot
 * (the transaction's when none is set); pair with ws_reader_close.
 */
void
ws_reader_open(WsReader *r, int what)
{
	memset(r, 0, sizeof(*r));
	r->cxt = CurrentMemoryContext;
	r->snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();

	if (what & WS_READ_ENTITIES)
	{
		r->entities = open_table(r, ws_entities_table.name);
		r->entities_pk = open_primary_key(r->entities);
		ws_column_numbers(r->entities, &ws_entities_table, r->en);
		r->entity_slot = table_slot_create(r->entities, NULL);
		ws_init_scan_key(&r->entity_key, r->entities_pk, 1, BTEqualStrategyNumber);
		r->entity_scan = index_beginscan(r->entities, r->entities_pk, r->snapshot, 1, 0);
	}
	r->log.table = ws_events_table.name;
	r->log.by_hlc_name = EVENTS_BY_HLC;
	r->archive.table = ARCHIVE;
	r->archive.by_hlc_name = ARCHIVE_BY_HLC;
	if (what & WS_READ_RELATIONSHIPS)
	{
		r->relationships = open_table(r, ws_relationships_table.name);
		r->relationships_pk = open_primary_key(r->relationships);
		ws_column_numbers(r->relationships, &ws_relationships_table, r->rl);
		r->rel_slot = table_slot_create(r->relationships, NULL);
	}
}

static void base_close(struct WsBase *b);

/* End the scans and close everything; locks are kept until commit. */
void
ws_reader_close(WsReader *r)
{
	end_scan(r->entity_scan);
	end_scan(r->keyframe_scan);
	drop_slot(r->entity_slot);
	drop_slot(r->keyframe_slot);
	drop_slot(r->rel_slot);
	log_close(&r->log);
	log_close(&r->archive);
	close_rel(r->entities_pk);
	close_rel(r->keyframes_pk);
	close_rel(r->keyframes);
	close_rel(r->events_links);
	close_rel(r->relationships_pk);
	base_close(r->base);
	close_rel(r->entities);
	close_rel(r->relationships);
}

/* Read the row of entity_id (a text datum) into r->entity_slot. */
bool
ws_reader_entity(WsReader *r, Datum entity_id)
{
	r->entity_key.sk_argument = entity_id;
	index_rescan(r->entity_scan, &r->entity_key, 1, NULL, 0);
	return index_getnext_slot(r->entity_scan, ForwardScanDirection, r->entity_slot);
}

/*
 * Open ws.keyframes, its primary key and the backward probe of it, once,
 * in the reader's context.
 */
static void
keyframes_open(WsReader *r)
{
	MemoryContext old;

	if (r->keyframe_scan != NULL)
		return;
	if (!OidIsValid(ws_relation_oid(ws_keyframes_table.name)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table ws.keyframes does not exist"),
				 errdetail("This database is still at worldstate 1.0, whose full states are in ws.events; this library reads past states from ws.keyframes."),
				 errhint("Run ALTER EXTENSION worldstate UPDATE, which creates ws.keyframes from the states in ws.events.")));
	old = MemoryContextSwitchTo(r->cxt);
	r->keyframes = open_table(r, ws_keyframes_table.name);
	r->keyframes_pk = open_primary_key(r->keyframes);
	ws_column_numbers(r->keyframes, &ws_keyframes_table, r->kf);
	r->keyframe_slot = table_slot_create(r->keyframes, NULL);
	ws_init_scan_key(&r->keyframe_keys[0], r->keyframes_pk, 1, BTEqualStrategyNumber);
	ws_init_scan_key(&r->keyframe_keys[1], r->keyframes_pk, 2, BTGreaterEqualStrategyNumber);
	ws_init_scan_key(&r->keyframe_keys[2], r->keyframes_pk, 2, BTLessEqualStrategyNumber);
	r->keyframe_scan = index_beginscan(r->keyframes, r->keyframes_pk, r->snapshot, 3, 0);
	MemoryContextSwitchTo(old);
}

/*
 * Read the last keyframe of entity_id with lo <= hlc <= at (lo NULL: no
 * lower bound) into r->keyframe_slot: one backward probe of ws.keyframes'
 * primary key.  False when there is none.  btree reads a leaf page
 * eagerly, checking every entry from the starting point back to where a
 * key of the scan stops it, so a lower bound close to the keyframe wanted
 * saves reading the rest of the page.
 */
static bool
keyframe_at(WsReader *r, Datum entity_id, const WsHlc *lo, const WsHlc *at)
{
	static const WsHlc lowest = {PG_INT64_MIN, PG_INT32_MIN, PG_INT32_MIN};

	keyframes_open(r);
	r->keyframe_keys[0].sk_argument = entity_id;
	r->keyframe_keys[1].sk_argument = HlcPGetDatum(lo ? lo : &lowest);
	r->keyframe_keys[2].sk_argument = HlcPGetDatum(at);
	index_rescan(r->keyframe_scan, r->keyframe_keys, 3, NULL, 0);
	if (!step(r, r->keyframe_scan, BackwardScanDirection, r->keyframe_slot))
		return false;
	slot_getallattrs(r->keyframe_slot);
	return true;
}

/* Column col of the keyframe row in r->keyframe_slot. */
static Datum
keyframe_col(WsReader *r, WsKeyframeCol col, bool *isnull)
{
	return slot_getattr(r->keyframe_slot, r->kf[col], isnull);
}

/*
 * Start *out and the state from the keyframe in r->keyframe_slot, copied
 * into CurrentMemoryContext; returns the state.
 */
static Jsonb *
start_from_keyframe(WsReader *r, WsVersion *out)
{
	bool		isnull;
	Datum		vclock;

	out->version = DatumGetInt64(keyframe_col(r, KF_VERSION, &isnull));
	out->hlc = ws_hlc_copy(*DatumGetHlcP(keyframe_col(r, KF_HLC, &isnull)));
	vclock = keyframe_col(r, KF_VCLOCK, &isnull);
	out->vclock = isnull ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(vclock));
	out->retired = DatumGetBool(keyframe_col(r, KF_RETIRED, &isnull));
	return DatumGetJsonbPCopy(keyframe_col(r, KF_STATE, &isnull));
}

/* Whether event type t (a text datum) is the retirement's. */
static bool
is_retirement(Datum t)
{
	text	   *type = DatumGetTextPP(t);

	return VARSIZE_ANY_EXHDR(type) == strlen(WS_RETIRED_EVENT) &&
		memcmp(VARDATA_ANY(type), WS_RETIRED_EVENT, strlen(WS_RETIRED_EVENT)) == 0;
}

/* The patches of a fold from a keyframe, oldest first. */
typedef struct Patches
{
	Jsonb	  **items;
	int			n;
	int			cap;
} Patches;

static void
patches_init(Patches *p)
{
	p->n = 0;
	p->cap = 16;
	p->items = palloc(sizeof(Jsonb *) * p->cap);
}

static void
patches_add(Patches *p, Jsonb *patch)
{
	if (p->n == p->cap)
	{
		p->cap *= 2;
		p->items = repalloc(p->items, sizeof(Jsonb *) * p->cap);
	}
	p->items[p->n++] = patch;
}

/*
 * Apply one event after the fold's start to *out and p: its position,
 * HLC and vclock, and its patch, or for a retirement the retired flag
 * (the retirement's patch changes no field).
 */
static void
fold_event(WsVersion *out, Patches *p, const WsHlc *hlc, Datum vclock, bool retirement,
		   Jsonb *patch)
{
	out->version++;
	out->hlc = (WsHlc *) hlc;
	if (vclock != (Datum) 0)
		out->vclock = vclock;
	if (retirement)
		out->retired = true;
	else
		patches_add(p, patch);
}

/* Open a log table's forward scan of an entity's events in an HLC span, once. */
static void
log_span_scan(WsReader *r, WsLog *log)
{
	MemoryContext old;

	log_by_hlc(r, log);
	if (log->span_scan != NULL)
		return;
	old = MemoryContextSwitchTo(r->cxt);
	ws_init_scan_key(&log->span_keys[0], log->by_hlc, 1, BTEqualStrategyNumber);
	ws_init_scan_key(&log->span_keys[1], log->by_hlc, 2, BTGreaterStrategyNumber);
	ws_init_scan_key(&log->span_keys[2], log->by_hlc, 2, BTLessEqualStrategyNumber);
	log->span_scan = index_beginscan(log->rel, log->by_hlc, r->snapshot, 3, 0);
	MemoryContextSwitchTo(old);
}

/*
 * Fold the events of entity_id in log with after < hlc <= at, in HLC
 * order, one range of (entity_id, hlc), into *out and p; returns how many
 * there were.
 */
static int64
fold_span(WsReader *r, WsLog *log, Datum entity_id, const WsHlc *after, const WsHlc *at,
		  WsVersion *out, Patches *p)
{
	int64		n = 0;
	WsHlc	   *hlc = NULL;
	bool		isnull;

	log_span_scan(r, log);
	log->span_keys[0].sk_argument = entity_id;
	log->span_keys[1].sk_argument = HlcPGetDatum(after);
	log->span_keys[2].sk_argument = HlcPGetDatum(at);
	index_rescan(log->span_scan, log->span_keys, 3, NULL, 0);
	while (step(r, log->span_scan, ForwardScanDirection, log->slot))
	{
		bool		retirement = is_retirement(ws_log_col(log, EV_EVENT_TYPE, &isnull));
		Datum		vclock = ws_log_col(log, EV_VCLOCK, &isnull);

		/* one copy of the HLC, overwritten row by row */
		if (hlc == NULL)
			hlc = palloc(sizeof(WsHlc));
		*hlc = *DatumGetHlcP(ws_log_col(log, EV_HLC, &isnull));
		fold_event(out, p, hlc,
				   isnull ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(vclock)),
				   retirement,
				   retirement ? NULL : DatumGetJsonbPCopy(ws_log_col(log, EV_PATCH, &isnull)));
		n++;
	}
	return n;
}

/*
 * The last keyframe of entity_id at or before `at` into r->keyframe_slot,
 * false when there is none.  When the entity's row is known (e, its
 * values), the probe is first bounded below where the entity's average
 * rate of change puts the events of two keyframe intervals and a few
 * more before `at`; an empty window is retried sixteen times wider, then
 * unbounded, so the bound only ever saves work.
 */
static bool
last_keyframe(WsReader *r, Datum entity_id, const Datum *e, const WsHlc *at)
{
	int64		rate = 0;
	const WsHlc *created = NULL;

	if (e != NULL)
	{
		const WsHlc *last = DatumGetHlcP(e[EN_HLC]);
		int64		changes = DatumGetInt64(e[EN_VERSION]) - 1;

		created = DatumGetHlcP(e[EN_CREATED_HLC]);
		if (changes > 0 && last->wall > created->wall)
			rate = (last->wall - created->wall) / changes;
	}
	for (int64 events = 2 * (int64) ws_keyframe_interval + 8;; events *= 16)
	{
		WsHlc		from;

		if (rate <= 0 || events > 65536 || rate >= PG_INT64_MAX / events ||
			at->wall - rate * events <= created->wall)
			return keyframe_at(r, entity_id, NULL, at);
		from.wall = at->wall - rate * events;
		from.counter = 0;
		from.node = 0;
		if (keyframe_at(r, entity_id, &from, at))
			return true;
	}
}

/*
 * The entity entity_id (a text datum) as of `at` into *out, allocated in
 * CurrentMemoryContext: its last keyframe at or before `at` -- one
 * backward probe of ws.keyframes' primary key, bounded when the entity's
 * row e is given (NULL otherwise; see last_keyframe) -- and the events after it
 * up to `at`, folded in HLC order -- one range of (entity_id, hlc) in
 * ws.events, at most the K - 1 events between two keyframes.  The version
 * is the keyframe's plus the number of events folded; the entity is
 * retired when the keyframe says so or a retirement is among them.  False
 * when there is no keyframe at or before `at` (the entity did not exist
 * then).
 *
 * Archival moves an entity's events before its last keyframe before the
 * boundary, and keeps every keyframe: so the events after the keyframe
 * are either all in ws.events or, when the keyframe precedes the one
 * archival kept, all in ws.events_archive, which is read only when
 * ws.events has none of them.
 */
bool
ws_reader_version_at(WsReader *r, Datum entity_id, const Datum *e, const WsHlc *at,
					 WsVersion *out)
{
	Patches		p;
	Jsonb	   *state;
	WsHlc		kf_hlc;

	if (!last_keyframe(r, entity_id, e, at))
		return false;
	state = start_from_keyframe(r, out);
	kf_hlc = *out->hlc;
	patches_init(&p);
	/* a moment at the keyframe's own event has nothing to fold after it */
	if (ws_hlc_cmp(&kf_hlc, at) < 0 &&
		fold_span(r, &r->log, entity_id, &kf_hlc, at, out, &p) == 0)
		(void) fold_span(r, &r->archive, entity_id, &kf_hlc, at, out, &p);
	out->state = p.n > 0 ? ws_fold_patches(state, p.items, p.n) : state;
	return true;
}

/*
 * The state of entity_id (a text datum) at its event with HLC `at` (or as
 * of `at`), from ws.keyframes and the log, in CurrentMemoryContext; XX001
 * when it has no keyframe at or before `at`.  For an event a statement
 * found in the log (by its event_id, say).
 */
Jsonb *
ws_reader_state_at(WsReader *r, Datum entity_id, const WsHlc *at)
{
	WsVersion	v;

	if (!ws_reader_version_at(r, entity_id, NULL, at, &v))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("entity \"%s\" has no keyframe at or before %s",
						TextDatumGetCString(entity_id), ws_hlc_to_cstring(at)),
				 errdetail("The first event of every entity has a keyframe in ws.keyframes."),
				 errhint("Run ws.verify() to find the damage, and recover with ws.restore_snapshot().")));
	return v.state;
}

/*
 * Starting a world scan from a snapshot.
 *
 * ws.create_snapshot copies ws.entities into ws.snapshot_entities under a
 * SHARE lock on ws.entities, so a snapshot at HLC s holds every entity as
 * of s: no event with hlc <= s is missing from it and none after s is in
 * it.  Rebuilding the world at `at` >= s then needs, for each entity that
 * changed after `at`, only the events between s and `at`:
 *
 *	- the entities with an event in (s, at] are found once, by one range
 *	  scan of ws.events' index on hlc (the changed set);
 *	- an entity that changed after `at` and is not in that set was as the
 *	  snapshot has it: its row is read in a merge walk of the snapshot's
 *	  rows, which the world scan and ws.snapshot_entities' primary key
 *	  both return in entity id order;
 *	- one in the set is folded from the later of its snapshot row and its
 *	  last keyframe at or before `at` (a keyframe wins over the patch of
 *	  its event, wherever it stands) with its events after that start up
 *	  to `at`: the keyframes in (s, at] are found by one range scan of
 *	  ws.keyframes' index on hlc, and both they and the events the first
 *	  range scan read are kept in memory while they fit in work_mem; else
 *	  the events are read again through (entity_id, hlc) and the keyframe
 *	  by one probe of ws.keyframes per entity.
 *
 * A row taken from the snapshot as it is goes into a world scan's result
 * as its stored bytes without the leading snapshot_id
 * (ws_reader_snapshot_row), when the table stores them as ws.entities
 * does; otherwise it is formed from its values.
 *
 * Whatever cannot be answered this way -- a row that does not match the
 * entity (created_hlc differs, retired, a version ahead of the present
 * row) when no keyframe after s starts the entity -- returns false and the caller
 * rebuilds the entity from its keyframes as without a snapshot, so the
 * answer never depends on the snapshot being there.  The snapshot's
 * checksum is not verified: the rows are written only by ws.create_snapshot,
 * in the transaction that records the checksum, and ws.snapshot_entities is
 * read-only to every role but the extension's owner; verifying would read
 * every row of the snapshot in canonical form, which is the cost this
 * avoids (ws.restore_snapshot, which writes the world from it, verifies).
 *
 * A snapshot is used only when it is complete (its checksum recorded), in
 * the format read here, at or after the archival boundary (so every event
 * after it is in ws.events), readable by the current role without
 * row-level security, and when (s, at] holds at most twice as many events
 * as the snapshot has entities: beyond that, rebuilding from keyframes
 * costs less.  It is chosen when the first entity that changed after `at`
 * is met, so a world with none reads no snapshot.
 */
#define SNAPSHOTS			"snapshots"
#define SNAPSHOT_ENTITIES	"snapshot_entities"
#define ARCHIVE_BOUNDARY	"archive_boundary"
#define EVENTS_HLC			"events_hlc_idx"
#define KEYFRAMES_HLC		"keyframes_hlc_idx"

/*
 * An event of the span (snapshot, at], as the range scan that finds the
 * changed entities read it: what a fold needs, copied.
 */
typedef struct SpanEvent
{
	struct SpanEvent *next;		/* the entity's next, in HLC order */
	WsHlc		hlc;
	Datum		vclock;
	bool		retirement;
	Jsonb	   *patch;			/* NULL for a retirement */
} SpanEvent;

/* A keyframe of the span (snapshot, at], copied as SpanEvent is. */
typedef struct SpanKeyframe
{
	WsHlc		hlc;
	int64		version;
	Datum		vclock;
	bool		retired;
	Jsonb	   *state;
} SpanKeyframe;

/* A set of entity ids (text), hashed by their bytes. */
typedef struct IdEntry
{
	text	   *id;
	uint32		hash;
	char		status;
	SpanEvent  *first;			/* its events in the span, when kept */
	SpanEvent  *last;
	SpanKeyframe *keyframe;		/* its last keyframe in the span, when kept */
} IdEntry;

static inline uint32
id_hash(text *t)
{
	return hash_bytes((const unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

static inline bool
id_equal(text *a, text *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

#define SH_PREFIX idset
#define SH_ELEMENT_TYPE IdEntry
#define SH_KEY_TYPE text *
#define SH_KEY id
#define SH_HASH_KEY(tb, key) id_hash(key)
#define SH_EQUAL(tb, a, b) id_equal(a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * The same set for other modules (the entities a restore rebuilt): the
 * keys are copied into cxt, where the set lives.
 */
WsIdSet *
ws_idset_create(MemoryContext cxt)
{
	return idset_create(cxt, 1024, NULL);
}

/* The entry of id, added (its key copied into the set's context) if new. */
static IdEntry *
idset_add(idset_hash *set, text *id)
{
	bool		exists;
	IdEntry    *entry = idset_insert(set, id, &exists);

	if (!exists)
	{
		/* the key must outlive the caller's copy */
		entry->id = (text *) MemoryContextAlloc(set->ctx, VARSIZE_ANY(id));
		memcpy(entry->id, id, VARSIZE_ANY(id));
		entry->first = entry->last = NULL;
		entry->keyframe = NULL;
	}
	return entry;
}

void
ws_idset_add(WsIdSet *set, text *id)
{
	(void) idset_add(set, id);
}

bool
ws_idset_has(WsIdSet *set, text *id)
{
	return idset_lookup(set, id) != NULL;
}

typedef enum WsBaseState
{
	BASE_PENDING,				/* not chosen yet */
	BASE_READY,
	BASE_NONE					/* no usable snapshot */
} WsBaseState;

/* The snapshot a world scan starts from. */
typedef struct WsBase
{
	WsBaseState state;
	WsHlc		at;				/* the moment of the world scan */
	int64		id;
	WsHlc		hlc;			/* the snapshot's */
	Relation	rel;			/* ws.snapshot_entities */
	Relation	pk;
	AttrNumber	col[EN_NCOLS];
	TupleTableSlot *slot;
	IndexScanDesc scan;
	ScanKeyData key;
	bool		started;
	bool		more;			/* slot holds the walk's current row */
	Oid			collation;		/* of entity ids in both primary keys */
	idset_hash *changed;		/* entities with an event in (hlc, at] */
	MemoryContext events;		/* their events and keyframes, while they
								 * fit in work_mem; NULL when they did not */
	bool		stored_alike;	/* rows stored as ws.entities' are, after
								 * a leading bigint snapshot_id */
	bool		row_as_is;		/* the last answer is the row the walk is
								 * on, as it is */
} WsBase;

/*
 * Whether rows of ws.snapshot_entities (rel) are stored as those of
 * ws.entities are, after a leading bigint: the other attributes of the
 * same types in the same order.  An 8-byte column keeps the alignment of
 * those after it, so their bytes are those of a ws.entities row.
 */
static bool
stored_alike(Relation rel, Relation entities)
{
	TupleDesc	sd = RelationGetDescr(rel);
	TupleDesc	ed = RelationGetDescr(entities);
	Form_pg_attribute first;

	if (sd->natts != ed->natts + 1)
		return false;
	first = TupleDescAttr(sd, 0);
	if (first->attisdropped || first->atttypid != INT8OID || first->attlen != 8 ||
		strcmp(NameStr(first->attname), "snapshot_id") != 0)
		return false;
	for (int i = 0; i < ed->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(sd, i + 1);
		Form_pg_attribute b = TupleDescAttr(ed, i);

		if (a->attisdropped || b->attisdropped || !ws_attrs_stored_alike(a, b) ||
			strcmp(NameStr(a->attname), NameStr(b->attname)) != 0)
			return false;
	}
	return true;
}

/*
 * The greatest HLC in column `column` of the rows of ws.<table> that
 * `usable` accepts, with the row's id column (when id_column is given)
 * into *id; false when there is none, or the table cannot be read.
 */
typedef bool (*RowFilter) (TupleTableSlot *slot, Relation rel, const WsHlc *at);

static bool
greatest_hlc(WsReader *r, const char *table, const char *column, const char *id_column,
			 RowFilter usable, const WsHlc *at, WsHlc *out, int64 *id, bool *readable)
{
	Relation	rel = open_readable(table, true);
	AttrNumber	hcol;
	AttrNumber	icol = InvalidAttrNumber;
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		found = false;

	*readable = rel != NULL;
	if (rel == NULL)
		return false;
	hcol = get_attnum(RelationGetRelid(rel), column);
	if (id_column)
		icol = get_attnum(RelationGetRelid(rel), id_column);
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, r->snapshot, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		const WsHlc *h = DatumGetHlcP(slot_getattr(slot, hcol, &isnull));

		if (isnull || (usable && !usable(slot, rel, at)))
			continue;
		if (!found || ws_hlc_cmp(h, out) > 0)
		{
			*out = *h;
			if (id_column)
				*id = DatumGetInt64(slot_getattr(slot, icol, &isnull));
			found = true;
		}
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return found;
}

/* A snapshot at or before `at`, complete, in the format read here. */
static bool
snapshot_usable(TupleTableSlot *slot, Relation rel, const WsHlc *at)
{
	Oid			relid = RelationGetRelid(rel);
	bool		isnull;
	Datum		d;

	if (ws_hlc_cmp(DatumGetHlcP(slot_getattr(slot, get_attnum(relid, "hlc"), &isnull)), at) > 0)
		return false;
	(void) slot_getattr(slot, get_attnum(relid, "checksum"), &isnull);
	if (isnull)
		return false;
	(void) slot_getattr(slot, get_attnum(relid, "entity_count"), &isnull);
	if (isnull)
		return false;
	d = slot_getattr(slot, get_attnum(relid, "format_version"), &isnull);
	return !isnull && ws_snapshot_format_read(DatumGetInt32(d));
}

/*
 * Keep a copy of the event in r->log.slot as the next event of `entry`, in
 * b->events; forget every event kept when they outgrow work_mem.
 */
static void
keep_span_event(WsReader *r, WsBase *b, IdEntry *entry)
{
	MemoryContext old = MemoryContextSwitchTo(b->events);
	SpanEvent  *ev = palloc(sizeof(SpanEvent));
	bool		isnull;
	Datum		d;

	ev->next = NULL;
	ev->hlc = *DatumGetHlcP(ws_log_col(&r->log, EV_HLC, &isnull));
	d = ws_log_col(&r->log, EV_VCLOCK, &isnull);
	ev->vclock = isnull ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
	ev->retirement = is_retirement(ws_log_col(&r->log, EV_EVENT_TYPE, &isnull));
	ev->patch = NULL;
	if (!ev->retirement)
		ev->patch = DatumGetJsonbPCopy(ws_log_col(&r->log, EV_PATCH, &isnull));
	MemoryContextSwitchTo(old);
	if (entry->last)
		entry->last->next = ev;
	else
		entry->first = ev;
	entry->last = ev;
	if (MemoryContextMemAllocated(b->events, false) > (Size) work_mem * 1024)
	{
		MemoryContextDelete(b->events);
		b->events = NULL;
	}
}

/*
 * Keep, for each entity of b->changed, a copy of its last keyframe in
 * (b->hlc, b->at], from one range scan of ws.keyframes' index on hlc, in
 * b->events; forget everything kept when it outgrows work_mem.
 */
static void
collect_keyframes(WsReader *r, WsBase *b)
{
	Relation	index;
	ScanKeyData keys[2];
	IndexScanDesc scan;

	keyframes_open(r);
	index = open_index(r, KEYFRAMES_HLC);
	ws_init_scan_key(&keys[0], index, 1, BTGreaterStrategyNumber);
	keys[0].sk_argument = HlcPGetDatum(&b->hlc);
	ws_init_scan_key(&keys[1], index, 1, BTLessEqualStrategyNumber);
	keys[1].sk_argument = HlcPGetDatum(&b->at);
	scan = index_beginscan(r->keyframes, index, r->snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (b->events && index_getnext_slot(scan, ForwardScanDirection, r->keyframe_slot))
	{
		bool		isnull;
		IdEntry    *entry;
		MemoryContext old;
		SpanKeyframe *kf;
		WsVersion	v;

		CHECK_FOR_INTERRUPTS();
		entry = idset_lookup(b->changed, DatumGetTextPP(keyframe_col(r, KF_ENTITY_ID, &isnull)));
		if (entry == NULL)
			continue;			/* no event of its in the span: not read */
		old = MemoryContextSwitchTo(b->events);
		kf = entry->keyframe ? entry->keyframe : palloc(sizeof(SpanKeyframe));
		kf->state = start_from_keyframe(r, &v);
		kf->hlc = *v.hlc;
		kf->version = v.version;
		kf->vclock = v.vclock;
		kf->retired = v.retired;
		entry->keyframe = kf;
		MemoryContextSwitchTo(old);
		if (MemoryContextMemAllocated(b->events, false) > (Size) work_mem * 1024)
		{
			MemoryContextDelete(b->events);
			b->events = NULL;
		}
	}
	index_endscan(scan);
	index_close(index, NoLock);
}

/*
 * Collect into b->changed the entities with an event in (b->hlc, b->at],
 * from ws.events' index on hlc, and their events while they fit in
 * work_mem; false when there are more than `limit` such events.
 */
static bool
collect_changed(WsReader *r, WsBase *b, int64 limit)
{
	Relation	index;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	int64		events = 0;
	bool		ok = true;

	log_table(r, &r->log);
	index = open_index(r, EVENTS_HLC);
	ws_init_scan_key(&keys[0], index, 1, BTGreaterStrategyNumber);
	keys[0].sk_argument = HlcPGetDatum(&b->hlc);
	ws_init_scan_key(&keys[1], index, 1, BTLessEqualStrategyNumber);
	keys[1].sk_argument = HlcPGetDatum(&b->at);
	scan = index_beginscan(r->log.rel, index, r->snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	b->changed = idset_create(r->cxt, 1024, NULL);
	b->events = AllocSetContextCreate(r->cxt, "worldstate events since a snapshot",
									  ALLOCSET_DEFAULT_SIZES);
	while (index_getnext_slot(scan, ForwardScanDirection, r->log.slot))
	{
		bool		isnull;
		Datum		d;
		text	   *id;
		IdEntry    *entry;

		CHECK_FOR_INTERRUPTS();
		if (++events > limit)
		{
			ok = false;
			break;
		}
		d = ws_log_col(&r->log, EV_ENTITY_ID, &isnull);
		if (isnull)
			continue;			/* a bus event: no entity */
		id = DatumGetTextPP(d);
		entry = idset_add(b->changed, id);
		if (b->events)
			keep_span_event(r, b, entry);
	}
	index_endscan(scan);
	index_close(index, NoLock);
	if (ok && b->events)
		collect_keyframes(r, b);
	return ok;
}

/*
 * Choose the snapshot for b->at and prepare its walk; false when none is
 * usable.
 */
static bool
base_choose(WsReader *r, WsBase *b)
{
	WsHlc		boundary;
	bool		readable;
	Relation	snapshots;
	int64		entity_count = 0;

	if (!greatest_hlc(r, SNAPSHOTS, "hlc", "id", snapshot_usable, &b->at, &b->hlc, &b->id,
					  &readable))
		return false;
	/* events after an archival boundary beyond the snapshot may be archived */
	if (greatest_hlc(r, ARCHIVE_BOUNDARY, "hlc", NULL, NULL, NULL, &boundary, NULL, &readable) &&
		ws_hlc_cmp(&boundary, &b->hlc) > 0)
		return false;
	if (!readable)
		return false;

	/* the snapshot's size, which bounds the events worth reading */
	snapshots = open_readable(SNAPSHOTS, true);
	if (snapshots == NULL)
		return false;
	{
		Relation	pk = open_primary_key(snapshots);
		ScanKeyData key;
		IndexScanDesc scan;
		TupleTableSlot *slot = table_slot_create(snapshots, NULL);
		bool		isnull;

		ws_init_scan_key(&key, pk, 1, BTEqualStrategyNumber);
		key.sk_argument = Int64GetDatum(b->id);
		scan = index_beginscan(snapshots, pk, r->snapshot, 1, 0);
		index_rescan(scan, &key, 1, NULL, 0);
		if (index_getnext_slot(scan, ForwardScanDirection, slot))
			entity_count = DatumGetInt64(slot_getattr(slot, get_attnum(RelationGetRelid(snapshots),
																	   "entity_count"), &isnull));
		index_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		index_close(pk, NoLock);
		table_close(snapshots, NoLock);
	}

	b->rel = open_readable(SNAPSHOT_ENTITIES, true);
	if (b->rel == NULL)
		return false;
	b->pk = open_primary_key(b->rel);
	/* the merge walk needs both keys in the same order */
	b->collation = b->pk->rd_indcollation[1];
	if (b->collation != r->entities_pk->rd_indcollation[0])
		return false;
	ws_column_numbers(b->rel, &ws_entities_table, b->col);
	for (int i = 0; i < EN_NCOLS; i++)
		if (b->col[i] == InvalidAttrNumber)
			return false;
	b->slot = table_slot_create(b->rel, NULL);
	ws_init_scan_key(&b->key, b->pk, 1, BTEqualStrategyNumber);
	b->key.sk_argument = Int64GetDatum(b->id);
	b->scan = index_beginscan(b->rel, b->pk, r->snapshot, 1, 0);
	b->stored_alike = stored_alike(b->rel, r->entities);

	return collect_changed(r, b, 2 * entity_count + 1000);
}

/*
 * Let the world scan as of `at` that r serves start from the nearest
 * snapshot at or before `at` (chosen on first need).  The entities must
 * then be asked for in entity id order.
 */
void
ws_reader_use_snapshot(WsReader *r, const WsHlc *at)
{
	WsBase	   *b = MemoryContextAllocZero(r->cxt, sizeof(WsBase));

	b->state = BASE_PENDING;
	b->at = *at;
	r->base = b;
}

/*
 * Move the walk of the snapshot's rows to entity_id; false when the
 * snapshot has no row for it.
 */
static bool
base_seek(WsReader *r, WsBase *b, Datum entity_id)
{
	text	   *want = DatumGetTextPP(entity_id);

	if (!b->started)
	{
		index_rescan(b->scan, &b->key, 1, NULL, 0);
		b->more = step(r, b->scan, ForwardScanDirection, b->slot);
		b->started = true;
	}
	while (b->more)
	{
		bool		isnull;
		text	   *have = DatumGetTextPP(slot_getattr(b->slot, b->col[EN_ENTITY_ID], &isnull));

		if (id_equal(have, want))
		{
			/* the row's other columns are read next: deform it at once */
			slot_getallattrs(b->slot);
			return true;
		}
		if (varstr_cmp(VARDATA_ANY(have), VARSIZE_ANY_EXHDR(have),
					   VARDATA_ANY(want), VARSIZE_ANY_EXHDR(want), b->collation) > 0)
			return false;
		b->more = step(r, b->scan, ForwardScanDirection, b->slot);
	}
	return false;
}

/* Column col of the snapshot row the walk is on. */
static Datum
base_col(WsBase *b, WsEntityCol col)
{
	bool		isnull;

	return slot_getattr(b->slot, b->col[col], &isnull);
}

/*
 * Whether the snapshot's row (the walk is on it) can be the entity e's
 * state at the snapshot: the same creation, not retired (e changed after
 * the moment asked for, so it was not retired then), a version that the
 * present row has reached, changed at or before the snapshot.
 */
static bool
base_row_matches(WsBase *b, const Datum *e)
{
	return ws_hlc_cmp(DatumGetHlcP(base_col(b, EN_CREATED_HLC)), DatumGetHlcP(e[EN_CREATED_HLC])) == 0 &&
		!DatumGetBool(base_col(b, EN_RETIRED)) &&
		DatumGetInt64(base_col(b, EN_VERSION)) <= DatumGetInt64(e[EN_VERSION]) &&
		ws_hlc_cmp(DatumGetHlcP(base_col(b, EN_HLC)), &b->hlc) <= 0;
}

/*
 * Fold entity_id's events in (b->hlc, at] into *out, from the later of
 * its snapshot row (in_snapshot: *out holds its values, the walk is on
 * it) and its last keyframe at or before `at`, with the events after that
 * start: those kept by collect_changed (`kept`, in HLC order), or when
 * they were not kept, those read through (entity_id, hlc).  False when
 * neither start is there (created after the snapshot, and no keyframe
 * after it).
 */
static bool
fold_from_base(WsReader *r, WsBase *b, Datum entity_id, const WsHlc *at, bool in_snapshot,
			   const IdEntry *kept, WsVersion *out)
{
	Patches		p;
	Jsonb	   *state;
	WsHlc		from;
	bool		isnull;

	if (b->events && kept->keyframe)
	{
		/* the last keyframe in the span, kept by collect_keyframes */
		state = kept->keyframe->state;
		out->version = kept->keyframe->version;
		out->hlc = &kept->keyframe->hlc;
		out->vclock = kept->keyframe->vclock;
		out->retired = kept->keyframe->retired;
		from = kept->keyframe->hlc;
	}
	else if (!b->events && keyframe_at(r, entity_id, &b->hlc, at) &&
			 ws_hlc_cmp(DatumGetHlcP(keyframe_col(r, KF_HLC, &isnull)), &b->hlc) > 0)
	{
		/* only a keyframe after the snapshot is of use: it bounds the probe */
		state = start_from_keyframe(r, out);
		from = *out->hlc;
	}
	else if (in_snapshot)
	{
		state = DatumGetJsonbPCopy(base_col(b, EN_STATE));
		out->retired = false;
		from = b->hlc;
	}
	else
		return false;

	patches_init(&p);
	if (b->events)
	{
		for (SpanEvent *ev = kept->first; ev; ev = ev->next)
			if (ws_hlc_cmp(&ev->hlc, &from) > 0)
				fold_event(out, &p, &ev->hlc, ev->vclock, ev->retirement, ev->patch);
	}
	else
		(void) fold_span(r, &r->log, entity_id, &from, at, out, &p);
	out->state = p.n > 0 ? ws_fold_patches(state, p.items, p.n) : state;
	return true;
}

/*
 * The version in force at `at` of entity e (a ws.entities row that
 * changed after `at`), from the snapshot that ws_reader_use_snapshot
 * allowed, in CurrentMemoryContext or in the snapshot's row, which stays
 * in place until the next entity is asked for; false when there is no such
 * snapshot or it cannot answer for e, and the caller rebuilds e from its
 * keyframes.
 */
bool
ws_reader_version_from_snapshot(WsReader *r, const Datum *e, const WsHlc *at, WsVersion *out)
{
	WsBase	   *b = r->base;
	Datum		entity_id = e[EN_ENTITY_ID];
	bool		in_snapshot;
	IdEntry    *changed;

	if (b == NULL || b->state == BASE_NONE || ws_hlc_cmp(at, &b->at) != 0)
		return false;
	if (b->state == BASE_PENDING)
	{
		MemoryContext old = MemoryContextSwitchTo(r->cxt);

		b->state = base_choose(r, b) ? BASE_READY : BASE_NONE;
		MemoryContextSwitchTo(old);
		if (b->state == BASE_NONE)
			return false;
	}

	b->row_as_is = false;
	in_snapshot = base_seek(r, b, entity_id) && base_row_matches(b, e);
	if (in_snapshot)
	{
		/*
		 * The snapshot's values as they are in its row, like those of a
		 * ws.entities row: the walk stays on it until the next entity.
		 */
		out->version = DatumGetInt64(base_col(b, EN_VERSION));
		out->hlc = DatumGetHlcP(base_col(b, EN_HLC));
		out->vclock = base_col(b, EN_VCLOCK);
		out->state = (Jsonb *) DatumGetPointer(base_col(b, EN_STATE));
		out->retired = false;
	}
	changed = idset_lookup(b->changed, DatumGetTextPP(entity_id));
	if (changed == NULL)
	{
		/* no event between the snapshot and `at`: as the snapshot has it */
		b->row_as_is = in_snapshot;
		return in_snapshot;
	}
	return fold_from_base(r, b, entity_id, at, in_snapshot, changed, out);
}

/*
 * When the last answer of ws_reader_version_from_snapshot, for entity e,
 * was the snapshot's row as it is, that row as the heap tuple of a
 * ws.entities row, in CurrentMemoryContext: its bytes without the leading
 * snapshot_id, under a header of its own.  NULL when it was not, or when
 * the row is not stored so (see stored_alike), has NULLs, or names
 * another kind or module than e (the columns the answer takes from e).
 */
HeapTuple
ws_reader_snapshot_row(WsReader *r, const Datum *e)
{
	WsBase	   *b = r->base;
	HeapTuple	src;
	HeapTuple	t;
	Size		hoff = MAXALIGN(SizeofHeapTupleHeader);
	Size		skip;
	Size		len;

	if (b == NULL || b->state != BASE_READY || !b->row_as_is || !b->stored_alike)
		return NULL;
	if (!id_equal(DatumGetTextPP(base_col(b, EN_KIND)), DatumGetTextPP(e[EN_KIND])) ||
		!id_equal(DatumGetTextPP(base_col(b, EN_MODULE)), DatumGetTextPP(e[EN_MODULE])))
		return NULL;
	src = ExecFetchSlotHeapTuple(b->slot, false, NULL);
	if (HeapTupleHasNulls(src) ||
		HeapTupleHeaderGetNatts(src->t_data) != RelationGetDescr(b->rel)->natts)
		return NULL;
	skip = src->t_data->t_hoff + sizeof(int64);
	len = src->t_len - skip;
	t = (HeapTuple) palloc(HEAPTUPLESIZE + hoff + len);
	t->t_len = hoff + len;
	ItemPointerSetInvalid(&t->t_self);
	t->t_tableOid = InvalidOid;
	t->t_data = (HeapTupleHeader) ((char *) t + HEAPTUPLESIZE);
	memset(t->t_data, 0, hoff);
	HeapTupleHeaderSetDatumLength(t->t_data, hoff + len);
	HeapTupleHeaderSetTypeId(t->t_data, RelationGetForm(r->entities)->reltype);
	HeapTupleHeaderSetTypMod(t->t_data, -1);
	HeapTupleHeaderSetNatts(t->t_data, RelationGetDescr(r->entities)->natts);
	t->t_data->t_hoff = hoff;
	t->t_data->t_infomask = src->t_data->t_infomask & (HEAP_HASVARWIDTH | HEAP_HASEXTERNAL);
	memcpy((char *) t->t_data + hoff, (char *) src->t_data + skip, len);
	return t;
}

/* End the snapshot's walk and close its tables. */
static void
base_close(WsBase *b)
{
	if (b == NULL)
		return;
	end_scan(b->scan);
	drop_slot(b->slot);
	close_rel(b->pk);
	close_rel(b->rel);
	if (b->events)
		MemoryContextDelete(b->events);
}

/*
 * Begin a forward scan of log's (entity_id, hlc) index over the events of
 * entity_id with from <= hlc <= to (NULL bounds are open); the first row,
 * if any, is in log->slot and *more says whether there is one.
 */
static IndexScanDesc
history_scan(WsReader *r, WsLog *log, Datum entity_id, const WsHlc *from, const WsHlc *to,
			 bool *more)
{
	ScanKeyData keys[3];
	int			nkeys = 0;
	IndexScanDesc scan;

	log_by_hlc(r, log);
	ws_init_scan_key(&keys[nkeys], log->by_hlc, 1, BTEqualStrategyNumber);
	keys[nkeys++].sk_argument = entity_id;
	if (from)
	{
		ws_init_scan_key(&keys[nkeys], log->by_hlc, 2, BTGreaterEqualStrategyNumber);
		keys[nkeys++].sk_argument = HlcPGetDatum(from);
	}
	if (to)
	{
		ws_init_scan_key(&keys[nkeys], log->by_hlc, 2, BTLessEqualStrategyNumber);
		keys[nkeys++].sk_argument = HlcPGetDatum(to);
	}
	scan = index_beginscan(log->rel, log->by_hlc, r->snapshot, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	*more = index_getnext_slot(scan, ForwardScanDirection, log->slot);
	return scan;
}

/*
 * Begin the walk of entity_id's history with from <= hlc <= to (NULL
 * bounds are open): both tables of the event log, each read in order
 * through its index on (entity_id, hlc), merged by HLC.  Step it with
 * ws_history_next; end it with ws_history_end before closing the reader.
 */
void
ws_history_begin(WsReader *r, WsHistory *h, Datum entity_id, const WsHlc *from,
				 const WsHlc *to)
{
	h->logs[0] = &r->archive;
	h->logs[1] = &r->log;
	for (int i = 0; i < 2; i++)
		h->scans[i] = history_scan(r, h->logs[i], entity_id, from, to, &h->more[i]);
	h->cur = -1;
}

/*
 * The next event of the walk in HLC order: the table whose slot holds it,
 * or NULL when there are no more.  The row stays in that slot until the
 * next call.
 */
WsLog *
ws_history_next(WsHistory *h)
{
	bool		isnull;

	if (h->cur >= 0)
		h->more[h->cur] = index_getnext_slot(h->scans[h->cur], ForwardScanDirection,
											 h->logs[h->cur]->slot);
	if (!h->more[1])
		h->cur = h->more[0] ? 0 : -1;
	else if (!h->more[0])
		h->cur = 1;
	else
		h->cur = ws_hlc_cmp(DatumGetHlcP(ws_log_col(h->logs[0], EV_HLC, &isnull)),
							DatumGetHlcP(ws_log_col(h->logs[1], EV_HLC, &isnull))) <= 0 ? 0 : 1;
	return h->cur < 0 ? NULL : h->logs[h->cur];
}

/* End the walk's scans. */
void
ws_history_end(WsHistory *h)
{
	index_endscan(h->scans[0]);
	index_endscan(h->scans[1]);
}

/* Begin a scan of every entity row, in entity id order, into r->entity_slot. */
IndexScanDesc
ws_reader_all_entities(WsReader *r)
{
	IndexScanDesc scan = index_beginscan(r->entities, r->entities_pk, r->snapshot, 0, 0);

	index_rescan(scan, NULL, 0, NULL, 0);
	return scan;
}

/*
 * Begin a forward scan, into log->slot, of the events of entity_id with
 * hlc <= at that may be link or unlink events: in ws.events through the
 * partial index of link events, in ws.events_archive through (entity_id,
 * hlc).  The caller tells them from the others by their event type.
 */
IndexScanDesc
ws_reader_link_scan(WsReader *r, WsLog *log, Datum entity_id, const WsHlc *at)
{
	ScanKeyData keys[2];
	Relation	index;
	IndexScanDesc scan;

	if (log == &r->log)
	{
		log_table(r, log);
		index = index_once(r, &r->events_links, EVENTS_LINKS);
	}
	else
	{
		log_by_hlc(r, log);
		index = log->by_hlc;
	}
	ws_init_scan_key(&keys[0], index, 1, BTEqualStrategyNumber);
	keys[0].sk_argument = entity_id;
	ws_init_scan_key(&keys[1], index, 2, BTLessEqualStrategyNumber);
	keys[1].sk_argument = HlcPGetDatum(at);
	scan = index_beginscan(log->rel, index, r->snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	return scan;
}

/*
 * Begin a scan, into r->rel_slot, of the present outgoing edges of
 * entity_id in ws.relationships, of relation rel (all when NULL), in
 * (rel, to_id) order.  The reader must have been opened with
 * WS_READ_RELATIONSHIPS.
 */
IndexScanDesc
ws_reader_edges_scan(WsReader *r, Datum entity_id, text *rel)
{
	ScanKeyData keys[2];
	int			nkeys = 1;
	IndexScanDesc scan;

	ws_init_scan_key(&keys[0], r->relationships_pk, 1, BTEqualStrategyNumber);
	keys[0].sk_argument = entity_id;
	if (rel)
	{
		ws_init_scan_key(&keys[1], r->relationships_pk, 2, BTEqualStrategyNumber);
		keys[1].sk_argument = PointerGetDatum(rel);
		nkeys = 2;
	}
	scan = index_beginscan(r->relationships, r->relationships_pk, r->snapshot, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	return scan;
}
