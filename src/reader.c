/*-------------------------------------------------------------------------
 *
 * reader.c
 *		The reader: index and heap reads of the ws tables -- an entity's
 *		row, the version of an entity in force at an HLC, a version's
 *		state, an entity's events in HLC order, its link events and its
 *		present edges.
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
 * The past is read from the event log, ws.events, and from
 * ws.events_archive, where ws.archive_events moves old events (WsLog says
 * which of the two holds what).  The version in force at an HLC is read
 * with short index scans: (entity_id, hlc) backwards from the moment gives
 * the event in force and, as far as its window reaches, the versions below
 * it; (entity_id, version) gives the rest down to the keyframe (version 1
 * and every worldstate.keyframe_interval-th event store the full state).
 * That is one or two index descents and at most K heap rows, however long
 * the history, so time travel does not slow down as history grows.  Both
 * scans carry bounds that stop btree's eager reading of a leaf page close
 * to the rows wanted (see ws_reader_version_at).  The patches read are
 * folded onto the keyframe by the fold (fold.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

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
#define EVENTS_BY_VERSION	"events_entity_id_version_key"
#define EVENTS_LINKS		"events_links_idx"
#define ARCHIVE				"events_archive"
#define ARCHIVE_BY_HLC		"events_archive_entity_hlc_idx"
#define ARCHIVE_BY_VERSION	"events_archive_entity_idx"

/*
 * Open table ws.<name> for reading as the current role: SELECT privilege
 * (42501 otherwise), and no row-level security, which direct scans would
 * bypass.
 */
static Relation
open_table(WsReader *r, const char *name)
{
	Oid			relid = ws_relation_oid(name);
	Relation	rel;
	AclResult	aclresult;

	if (!OidIsValid(relid))
		elog(ERROR, "table ws.%s does not exist", name);
	rel = table_open(relid, AccessShareLock);
	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(rel->rd_rel->relkind),
					   RelationGetRelationName(rel));
	if (rel->rd_rel->relrowsecurity &&
		check_enable_rls(relid, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the worldstate query functions do not support row-level security on ws.%s",
						name),
				 errhint("Disable row-level security on ws.%s, or query it with plain SQL.", name)));
	return rel;
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

/* Open the backward scan of a log table from an HLC, once. */
static void
log_at_scan(WsReader *r, WsLog *log)
{
	MemoryContext old;

	log_by_hlc(r, log);
	if (log->at_scan != NULL)
		return;
	old = MemoryContextSwitchTo(r->cxt);
	ws_init_scan_key(&log->at_keys[0], log->by_hlc, 1, BTEqualStrategyNumber);
	ws_init_scan_key(&log->at_keys[1], log->by_hlc, 2, BTGreaterEqualStrategyNumber);
	ws_init_scan_key(&log->at_keys[2], log->by_hlc, 2, BTLessEqualStrategyNumber);
	log->at_scan = index_beginscan(log->rel, log->by_hlc, r->snapshot, 3, 0);
	MemoryContextSwitchTo(old);
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
	end_scan(log->at_scan);
	end_scan(log->version_scan);
	drop_slot(log->slot);
	close_rel(log->by_hlc);
	close_rel(log->by_version);
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
	r->log.by_version_name = EVENTS_BY_VERSION;
	r->archive.table = ARCHIVE;
	r->archive.by_hlc_name = ARCHIVE_BY_HLC;
	r->archive.by_version_name = ARCHIVE_BY_VERSION;
	if (what & WS_READ_RELATIONSHIPS)
	{
		r->relationships = open_table(r, ws_relationships_table.name);
		r->relationships_pk = open_primary_key(r->relationships);
		ws_column_numbers(r->relationships, &ws_relationships_table, r->rl);
		r->rel_slot = table_slot_create(r->relationships, NULL);
	}
}

/* End the scans and close everything; locks are kept until commit. */
void
ws_reader_close(WsReader *r)
{
	end_scan(r->entity_scan);
	drop_slot(r->entity_slot);
	drop_slot(r->rel_slot);
	log_close(&r->log);
	log_close(&r->archive);
	close_rel(r->entities_pk);
	close_rel(r->events_links);
	close_rel(r->relationships_pk);
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

/* XX001: version `expected` of entity_id is not in log's table. */
static void missing_version(WsLog *log, Datum entity_id, int64 expected) pg_attribute_noreturn();

static void
missing_version(WsLog *log, Datum entity_id, int64 expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("version " INT64_FORMAT " of entity \"%s\" is missing from ws.%s",
					expected, TextDatumGetCString(entity_id), log->table),
			 errhint("Run ws.verify() to find the damage, and recover with ws.restore_snapshot().")));
}

/*
 * Start log->version_scan backwards over the events of entity_id with
 * lo <= version <= hi (opening the index on first use); the first row, if
 * any, is in log->slot.  Both bounds are keys of the scan, so btree checks
 * no entry outside them.
 */
static bool
version_scan_range(WsReader *r, WsLog *log, Datum entity_id, int64 lo, int64 hi)
{
	if (log->version_scan == NULL)
	{
		MemoryContext old;

		(void) index_once(r, &log->by_version, log->by_version_name);
		old = MemoryContextSwitchTo(r->cxt);
		ws_init_scan_key(&log->version_keys[0], log->by_version, 1, BTEqualStrategyNumber);
		ws_init_scan_key(&log->version_keys[1], log->by_version, 2, BTGreaterEqualStrategyNumber);
		ws_init_scan_key(&log->version_keys[2], log->by_version, 2, BTLessEqualStrategyNumber);
		log->version_scan = index_beginscan(log->rel, log->by_version, r->snapshot, 3, 0);
		MemoryContextSwitchTo(old);
	}
	log->version_keys[0].sk_argument = entity_id;
	log->version_keys[1].sk_argument = Int64GetDatum(lo);
	log->version_keys[2].sk_argument = Int64GetDatum(hi);
	index_rescan(log->version_scan, log->version_keys, 3, NULL, 0);
	return index_getnext_slot(log->version_scan, BackwardScanDirection, log->slot);
}

/*
 * Continue the versions of entity_id below `expected` (inclusive) from
 * (entity_id, version), down to the keyframe that worldstate.keyframe_interval
 * places at or below it (version 1 and every K-th): *lo becomes that
 * lower bound.  The row of `expected` is in log->slot; XX001 when there is
 * none.
 */
static IndexScanDesc
next_version_range(WsReader *r, WsLog *log, Datum entity_id, int64 expected, int64 *lo)
{
	*lo = Max(expected - expected % ws_keyframe_interval, 1);
	if (!version_scan_range(r, log, entity_id, *lo, expected))
		missing_version(log, entity_id, expected);
	return log->version_scan;
}


/*
 * Start log->at_scan backwards from `at` over the events of entity_id with
 * lo <= hlc <= at (lo NULL: no lower bound); the first row, if any, is in
 * log->slot.
 */
static bool
at_scan_from(WsLog *log, Datum entity_id, const WsHlc *lo, const WsHlc *at)
{
	static const WsHlc lowest = {PG_INT64_MIN, PG_INT32_MIN, PG_INT32_MIN};

	log->at_keys[0].sk_argument = entity_id;
	log->at_keys[1].sk_argument = HlcPGetDatum(lo ? lo : &lowest);
	log->at_keys[2].sk_argument = HlcPGetDatum(at);
	index_rescan(log->at_scan, log->at_keys, 3, NULL, 0);
	return index_getnext_slot(log->at_scan, BackwardScanDirection, log->slot);
}

/*
 * The state of version `version` of entity_id, whose event is the current
 * row of `scan` (in log->slot): the versions below it, down to their
 * keyframe, read from the same scan while it has them in order (it may be
 * log->at_scan, whose rows come in HLC order) and then from (entity_id,
 * version), between the version wanted and the keyframe that
 * worldstate.keyframe_interval places at or below it (versions 1 and every
 * K-th), lo being the lower bound of the range `scan` reads if it is
 * log->version_scan.  If the interval was different when they were written
 * and a range holds no keyframe, the next range below is read the same
 * way.  The patches collected are folded onto the keyframe's state, in
 * CurrentMemoryContext.
 */
static Jsonb *
fold_to_keyframe(WsReader *r, WsLog *log, Datum entity_id, IndexScanDesc scan,
				 int64 version, int64 lo)
{
	Jsonb	  **patches;
	int			npatches = 0;
	int			cap = 16;
	Jsonb	   *keyframe = NULL;
	int64		expected = version;
	bool		isnull;
	Datum		d;

	patches = palloc(sizeof(Jsonb *) * cap);
	for (;;)
	{
		int64		v = DatumGetInt64(ws_log_col(log, EV_VERSION, &isnull));

		if (v != expected)
		{
			if (scan == log->version_scan)
				missing_version(log, entity_id, expected);
			/* not in HLC order: go on through (entity_id, version) */
			scan = next_version_range(r, log, entity_id, expected, &lo);
			continue;
		}
		d = ws_log_col(log, EV_STATE, &isnull);
		if (!isnull)
		{
			keyframe = DatumGetJsonbPCopy(d);
			break;
		}
		if (npatches == cap)
		{
			cap *= 2;
			patches = repalloc(patches, sizeof(Jsonb *) * cap);
		}
		patches[npatches++] = DatumGetJsonbPCopy(ws_log_col(log, EV_PATCH, &isnull));
		expected--;
		if (expected < 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("no keyframe at or before version " INT64_FORMAT " of entity \"%s\" in ws.%s",
							version, TextDatumGetCString(entity_id), log->table),
					 errdetail("Version 1 of every entity stores its full state, and archival keeps a keyframe in ws.events."),
					 errhint("Run ws.verify() to find the damage, and recover with ws.restore_snapshot().")));
		if ((scan == log->at_scan || expected >= lo) &&
			index_getnext_slot(scan, BackwardScanDirection, log->slot))
			continue;
		if (scan == log->version_scan && expected >= lo)
			missing_version(log, entity_id, expected);
		/* the window ended, or the range held no keyframe */
		scan = next_version_range(r, log, entity_id, expected, &lo);
	}

	/* patches[] runs newest first; fold oldest first */
	for (int i = 0; i < npatches / 2; i++)
	{
		Jsonb	   *t = patches[i];

		patches[i] = patches[npatches - 1 - i];
		patches[npatches - 1 - i] = t;
	}
	return ws_fold_patches(keyframe, patches, npatches);
}

/*
 * Rebuild the version of entity e (its row is in r->entity_slot, and it
 * changed after `at`) in force at `at` into *out, from the events in log,
 * allocated in CurrentMemoryContext; false when log holds no event of it at
 * or before `at`.
 *
 * Bounded index scans, so that the work does not depend on the length of
 * the history.  btree reads a leaf page eagerly, checking every entry from
 * the starting point to where a key of the scan stops it, so each scan is
 * given bounds that stop it close to what it needs:
 *
 *	1. the event in force is the first row of a backward scan of
 *	   (entity_id, hlc) from `at`.  Its lower bound is where the events back
 *	   to the keyframe of the version that the entity's average rate puts at
 *	   `at` would begin, a few events further; an empty window is retried
 *	   sixteen times wider, then unbounded, so the bound only ever saves
 *	   work;
 *	2. the versions below it, down to the keyframe, come from the same
 *	   scan while it has them in order, then from (entity_id, version)
 *	   (fold_to_keyframe).
 */
bool
ws_reader_version_at(WsReader *r, WsLog *log, const Datum *e, const WsHlc *at, WsVersion *out)
{
	Datum		entity_id = e[EN_ENTITY_ID];
	const WsHlc *created = DatumGetHlcP(e[EN_CREATED_HLC]);
	const WsHlc *last = DatumGetHlcP(e[EN_HLC]);
	int64		changes = DatumGetInt64(e[EN_VERSION]) - 1;
	int64		rate = 0;
	int64		events = 4;
	bool		isnull;
	bool		found = false;

	/*
	 * 1. the event in force at `at`, and as many versions below it as the
	 * window holds: the events back to the keyframe of the version that the
	 * entity's average rate puts at `at`, and a few more, as the rate of a
	 * history is seldom even
	 */
	log_at_scan(r, log);
	if (changes > 0 && last->wall > created->wall)
	{
		int64		v;

		rate = (last->wall - created->wall) / changes;
		v = rate > 0 ? Min((at->wall - created->wall) / rate, changes) + 1 : 1;
		events = Max(v % ws_keyframe_interval + 10, events);
	}
	for (; !found; events *= 16)
	{
		WsHlc		from;

		if (rate > 0 && events <= 4096 && rate < PG_INT64_MAX / events &&
			at->wall - rate * events > created->wall)
		{
			from.wall = at->wall - rate * events;
			from.counter = 0;
			from.node = 0;
			found = at_scan_from(log, entity_id, &from, at);
		}
		else
		{
			if (!at_scan_from(log, entity_id, NULL, at))
				return false;
			found = true;
		}
	}
	out->version = DatumGetInt64(ws_log_col(log, EV_VERSION, &isnull));
	out->hlc = ws_hlc_copy(*DatumGetHlcP(ws_log_col(log, EV_HLC, &isnull)));
	out->vclock = PointerGetDatum(PG_DETOAST_DATUM_COPY(ws_log_col(log, EV_VCLOCK, &isnull)));

	/* 2. the versions below it down to the keyframe, folded */
	out->state = fold_to_keyframe(r, log, entity_id, log->at_scan, out->version, 0);
	return true;
}

/*
 * The state of version `version` of entity_id (a text datum), from
 * ws.events, in CurrentMemoryContext; XX001 when the version or its
 * keyframe is missing.  For a version that a statement found in ws.events
 * (by its event_id, say): archival keeps every event from an entity's last
 * archived keyframe on in ws.events, so its keyframe is there too.
 */
Jsonb *
ws_reader_state_at_version(WsReader *r, Datum entity_id, int64 version)
{
	int64		lo;
	IndexScanDesc scan;

	log_table(r, &r->log);
	scan = next_version_range(r, &r->log, entity_id, version, &lo);
	return fold_to_keyframe(r, &r->log, entity_id, scan, version, lo);
}

/*
 * Begin a forward scan of log's (entity_id, hlc) index over the events of
 * entity_id with from <= hlc <= to (NULL bounds are open); the first row,
 * if any, is in log->slot and *more says whether there is one.
 */
IndexScanDesc
ws_reader_history_scan(WsReader *r, WsLog *log, Datum entity_id, const WsHlc *from, const WsHlc *to,
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
