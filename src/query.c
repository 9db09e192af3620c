/*-------------------------------------------------------------------------
 *
 * query.c
 *		Queries and time travel: ws.get_state, ws.get_entity,
 *		ws.entities_at, ws.find, ws.history, ws.neighbors, and the
 *		ws.merge_patches aggregate.
 *
 * The present is ws.entities and ws.relationships.  The past is rebuilt
 * from the event log, by these rules:
 *
 *	- the version of an entity in force at HLC `at` is its event with the
 *	  greatest hlc <= at;
 *	- its state is the nearest keyframe at or before it (version 1 and every
 *	  worldstate.keyframe_interval-th event store the full state) with the
 *	  effective patches of the versions after the keyframe applied in
 *	  version order;
 *	- an entity exists from its creation (created_hlc <= at) until its
 *	  retirement.  Retirement is final, so a retired entity's row in
 *	  ws.entities carries the HLC of the retiring event, and "retired at
 *	  `at`" is `retired AND hlc <= at`.  This is read from ws.entities, not
 *	  from event types, which callers of ws.transition choose freely;
 *	- one node issues an entity's HLCs in version order (a transition takes
 *	  its HLC after reading the version it replaces, and a new one when it
 *	  has to retry), so when an entity's last change is at or before `at`
 *	  its present row is the answer and no event is read.
 *
 * A point query reads its answer with short index scans of ws.events:
 * (entity_id, hlc) backwards from `at` gives the event in force and, as far
 * as its window reaches, the versions below it; (entity_id, version) gives
 * the rest down to the keyframe (version 1 and every
 * worldstate.keyframe_interval-th event store the full state) -- one or two
 * index descents and at most K heap rows, whatever the length of the
 * history (PITFALLS 14).  Both scans carry bounds that stop btree's eager
 * reading of a leaf page close to the rows wanted (see version_at), and the
 * K - 1 patches are folded in one pass, member by member, instead of
 * rebuilding the document K - 1 times.
 *
 * ws.archive_events moves old events to ws.events_archive, keeping each
 * entity's last keyframe before the boundary and everything after it in
 * ws.events (see WsLog).  Moments before that keyframe are rebuilt from the
 * archive the same way; ws.history merges both tables by HLC, and the
 * edges at a moment come from the link events of both.
 *
 * Rows are read with index scans through genam, the way writer.c writes
 * through the executor's simple-relation helpers: no plan and no executor
 * per probe.  ws.entities_at walks the primary key of ws.entities and
 * rebuilds each entity that changed after `at` -- O(E (log N + K)) for E
 * entities whatever the total history N -- in a memory context reset per
 * entity.  Direct scans check what the executor would: the calling role
 * must be allowed to SELECT the tables (ws_reader is), and row-level
 * security, which they would bypass, is refused.
 *
 * ws.find on the present is the one statement PostgreSQL plans (through
 * SPI, for each predicate's actual value): whether the GIN index on
 * ws.entities.state or the primary key order is cheaper depends on how
 * selective the predicate is.
 *
 * Everything reads with the snapshot of the calling statement, like any
 * query: ws.history returns the events of transactions that committed
 * before the statement began (and the caller's own), never those of
 * transactions still in progress.  Hence the past near the present is not
 * final: a transaction that took its HLC before `at` may commit after a
 * query at `at`.  A consumer that polls "everything after X" needs more
 * than a snapshot (PITFALLS 3); that is the event bus's job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/tupconvert.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "args.h"
#include "canon.h"
#include "hlc.h"
#include "lookup.h"
#include "merge_patch.h"
#include "progress.h"
#include "settings.h"
#include "spi.h"

PG_FUNCTION_INFO_V1(entity_get_state);
PG_FUNCTION_INFO_V1(entity_get);
PG_FUNCTION_INFO_V1(entity_get_rows);
PG_FUNCTION_INFO_V1(world_entities_at);
PG_FUNCTION_INFO_V1(entity_find);
PG_FUNCTION_INFO_V1(entity_history);
PG_FUNCTION_INFO_V1(entity_neighbors);
PG_FUNCTION_INFO_V1(merge_patches_transfn);

/*
 * What a reader opens up front.  The event log is opened on first use:
 * point queries and world scans read it only for entities that changed
 * after the moment asked for.
 */
#define READ_ENTITIES		0x01	/* ws.entities and its primary key */
#define READ_RELATIONSHIPS	0x02	/* ws.relationships and its primary key */

/* Tables and indexes of the event log, as the install script names them. */
#define EVENTS				"events"
#define EVENTS_BY_HLC		"events_entity_hlc_idx"
#define EVENTS_BY_VERSION	"events_entity_id_version_key"
#define EVENTS_LINKS		"events_links_idx"
#define ARCHIVE				"events_archive"
#define ARCHIVE_BY_HLC		"events_archive_entity_hlc_idx"
#define ARCHIVE_BY_VERSION	"events_archive_entity_idx"

/*
 * One table of the event log -- ws.events, or ws.events_archive, where
 * ws.archive_events moves old events -- with its indexes on (entity_id,
 * hlc) and (entity_id, version), each opened on first use.
 *
 * Archival moves, for each entity, the versions before its last keyframe
 * preceding the archival boundary, so an entity's archived versions are
 * 1 .. k - 1 and ws.events holds k onwards, k a keyframe; its HLCs increase
 * with its versions.  Hence: when ws.events holds an event of the entity at
 * or before a moment, the version in force then and its keyframe are in
 * ws.events; otherwise (and if the entity existed then) both are in the
 * archive.  A state is never folded from both tables.
 */
typedef struct WsLog
{
	const char *table;
	const char *by_hlc_name;
	const char *by_version_name;
	Relation	rel;
	TupleTableSlot *slot;
	AttrNumber	col[EV_NCOLS];
	Relation	by_hlc;
	IndexScanDesc at_scan;		/* (entity_id = $1, hlc >= $2, hlc <= $3)
								 * backwards */
	ScanKeyData at_keys[3];
	Relation	by_version;
	IndexScanDesc version_scan; /* (entity_id = $1, version >= $2,
								 * version <= $3) backwards */
	ScanKeyData version_keys[3];
} WsLog;

/*
 * Open relations, slots and index scans for reading, with the snapshot of
 * the calling statement.  Scans are begun once and rescanned with new key
 * values, so a probe costs an index descent and nothing else.
 */
typedef struct WsReader
{
	MemoryContext cxt;			/* where scans and slots live */
	Snapshot	snapshot;

	Relation	entities;
	Relation	entities_pk;
	TupleTableSlot *entity_slot;
	IndexScanDesc entity_scan;	/* one entity by id */
	ScanKeyData entity_key;
	AttrNumber	en[EN_NCOLS];

	WsLog		log;			/* ws.events */
	WsLog		archive;		/* ws.events_archive */
	Relation	events_links;

	Relation	relationships;
	Relation	relationships_pk;
	TupleTableSlot *rel_slot;
	AttrNumber	rl[RL_NCOLS];
} WsReader;

/* A version of an entity rebuilt from the log. */
typedef struct WsVersion
{
	int64		version;
	WsHlc	   *hlc;
	Datum		vclock;
	Jsonb	   *state;
} WsVersion;

/*
 * Open table ws.<name> for reading as the calling role: SELECT privilege
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

/* Open a log table's index on (entity_id, hlc), once. */
static void
log_by_hlc(WsReader *r, WsLog *log)
{
	MemoryContext old;

	log_table(r, log);
	if (log->by_hlc != NULL)
		return;
	old = MemoryContextSwitchTo(r->cxt);
	log->by_hlc = open_index(r, log->by_hlc_name);
	MemoryContextSwitchTo(old);
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

/* End a log table's scans and close it. */
static void
log_close(WsLog *log)
{
	if (log->at_scan)
		index_endscan(log->at_scan);
	if (log->version_scan)
		index_endscan(log->version_scan);
	if (log->slot)
		ExecDropSingleTupleTableSlot(log->slot);
	if (log->by_hlc)
		index_close(log->by_hlc, NoLock);
	if (log->by_version)
		index_close(log->by_version, NoLock);
	if (log->rel)
		table_close(log->rel, NoLock);
}

/* Open what `what` asks for; pair with reader_close. */
static void
reader_open(WsReader *r, int what)
{
	memset(r, 0, sizeof(*r));
	r->cxt = CurrentMemoryContext;
	r->snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();

	if (what & READ_ENTITIES)
	{
		r->entities = open_table(r, "entities");
		r->entities_pk = open_primary_key(r->entities);
		ws_column_numbers(r->entities, &ws_entities_table, r->en);
		r->entity_slot = table_slot_create(r->entities, NULL);
		ws_init_scan_key(&r->entity_key, r->entities_pk, 1, BTEqualStrategyNumber);
		r->entity_scan = index_beginscan(r->entities, r->entities_pk, r->snapshot, 1, 0);
	}
	r->log.table = EVENTS;
	r->log.by_hlc_name = EVENTS_BY_HLC;
	r->log.by_version_name = EVENTS_BY_VERSION;
	r->archive.table = ARCHIVE;
	r->archive.by_hlc_name = ARCHIVE_BY_HLC;
	r->archive.by_version_name = ARCHIVE_BY_VERSION;
	if (what & READ_RELATIONSHIPS)
	{
		r->relationships = open_table(r, "relationships");
		r->relationships_pk = open_primary_key(r->relationships);
		ws_column_numbers(r->relationships, &ws_relationships_table, r->rl);
		r->rel_slot = table_slot_create(r->relationships, NULL);
	}
}

/* End the scans and close everything; locks are kept until commit. */
static void
reader_close(WsReader *r)
{
	if (r->entity_scan)
		index_endscan(r->entity_scan);
	if (r->entity_slot)
		ExecDropSingleTupleTableSlot(r->entity_slot);
	if (r->rel_slot)
		ExecDropSingleTupleTableSlot(r->rel_slot);
	log_close(&r->log);
	log_close(&r->archive);
	if (r->entities_pk)
		index_close(r->entities_pk, NoLock);
	if (r->events_links)
		index_close(r->events_links, NoLock);
	if (r->relationships_pk)
		index_close(r->relationships_pk, NoLock);
	if (r->entities)
		table_close(r->entities, NoLock);
	if (r->relationships)
		table_close(r->relationships, NoLock);
}

/* Column col of the entity row in r->entity_slot. */
static inline Datum
entity_col(WsReader *r, WsEntityCol col, bool *isnull)
{
	return slot_getattr(r->entity_slot, r->en[col], isnull);
}

/* Column col of the event row in log->slot. */
static inline Datum
event_col(WsLog *log, WsEventCol col, bool *isnull)
{
	return slot_getattr(log->slot, log->col[col], isnull);
}

/* Read the row of entity_id (a text datum) into r->entity_slot. */
static bool
reader_entity(WsReader *r, Datum entity_id)
{
	r->entity_key.sk_argument = entity_id;
	index_rescan(r->entity_scan, &r->entity_key, 1, NULL, 0);
	return index_getnext_slot(r->entity_scan, ForwardScanDirection, r->entity_slot);
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
		MemoryContext old = MemoryContextSwitchTo(r->cxt);

		log->by_version = open_index(r, log->by_version_name);
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
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("version " INT64_FORMAT " of entity \"%s\" is missing from ws.%s",
						expected, TextDatumGetCString(entity_id), log->table),
				 errhint("Run ws.verify() to find the damage, and recover with ws.restore_snapshot().")));
	return log->version_scan;
}

/*
 * Merge patches, folded in one pass.
 *
 * Applying K-1 patches one after the other with ws_merge_patch would
 * rebuild the whole document K-1 times.  Instead the fold computes each
 * member's final value directly from the keyframe's value and the values
 * the patches give it, in order, which is what RFC 7396 applied patch by
 * patch amounts to:
 *
 *	- the last patch value that is not an object decides the base: null
 *	  removes the member, a scalar or array replaces it; without one, the
 *	  base is the target's value;
 *	- the object values after that are merged into the base (a base that is
 *	  not an object counting as {}), member by member, recursively;
 *	- with no object after it, the member is the base (or absent).
 *
 * ws.merge_patches, which applies ws_merge_patch patch by patch, is the
 * reference the regression tests compare this fold against.
 */

/* A member (key, value) of one of the objects being merged. */
typedef struct WsMember
{
	JsonbValue	key;
	JsonbValue	val;
} WsMember;

/* The members of one object, in the order jsonb stores them (sorted by key). */
typedef struct WsMembers
{
	WsMember   *m;
	int			n;
	int			pos;			/* next member to merge */
} WsMembers;

/* Whether v is a JSON object. */
static bool
value_is_object(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/* Order of two keys as jsonb orders object keys: shorter first, then bytes. */
static int
key_cmp(const JsonbValue *a, const JsonbValue *b)
{
	if (a->val.string.len != b->val.string.len)
		return a->val.string.len < b->val.string.len ? -1 : 1;
	if (a->val.string.len == 0)
		return 0;
	return memcmp(a->val.string.val, b->val.string.val, a->val.string.len);
}

/*
 * The value of child `index` of container c, `len` bytes at offset `off`
 * of the children's data area `data`: the decoding that jsonb's own
 * iterator does, without the iterator's state (jsonb.h describes the
 * layout; numbers and containers start at an int-aligned offset).
 */
static void
child_value(JsonbContainer *c, int index, char *data, uint32 off, uint32 len,
			JsonbValue *v)
{
	JEntry		entry = c->children[index];

	if (JBE_ISNULL(entry))
		v->type = jbvNull;
	else if (JBE_ISSTRING(entry))
	{
		v->type = jbvString;
		v->val.string.val = data + off;
		v->val.string.len = len;
	}
	else if (JBE_ISNUMERIC(entry))
	{
		v->type = jbvNumeric;
		v->val.numeric = (Numeric) (data + INTALIGN(off));
	}
	else if (JBE_ISBOOL_TRUE(entry) || JBE_ISBOOL_FALSE(entry))
	{
		v->type = jbvBool;
		v->val.boolean = JBE_ISBOOL_TRUE(entry);
	}
	else
	{
		v->type = jbvBinary;
		v->val.binary.data = (JsonbContainer *) (data + INTALIGN(off));
		v->val.binary.len = len - (INTALIGN(off) - off);
	}
}

/*
 * The members of object container c (NULL: none), in key order, into
 * out->m, which has room for them.  An object's children are its keys,
 * sorted, then its values in the same order; they are read in place, in
 * one pass, each child's length following from its JEntry and the running
 * offset.
 */
static void
collect_members(JsonbContainer *c, WsMembers *out)
{
	int			n = c ? JsonContainerSize(c) : 0;
	char	   *data;
	uint32		off = 0;

	out->n = n;
	out->pos = 0;
	if (n == 0)
		return;
	data = (char *) &c->children[2 * n];
	for (int i = 0; i < 2 * n; i++)
	{
		JEntry		entry = c->children[i];
		uint32		end = JBE_HAS_OFF(entry) ? JBE_OFFLENFLD(entry) : off + JBE_OFFLENFLD(entry);

		child_value(c, i, data, off, end - off, i < n ? &out->m[i].key : &out->m[i - n].val);
		off = end;
	}
}

static bool fold_value(JsonbParseState **ps, JsonbValue *key, JsonbValue *target,
					   JsonbValue **vals, int n);

/*
 * Push onto *ps the members of object `base` (NULL: {}) with the object
 * patches objs[0..n-1] applied in order.  Every object's keys are sorted,
 * so the members are merged key by key, like the merge step of a merge
 * sort over n + 1 lists: list 0 is the base, list i + 1 patch i.
 */
static void
fold_members(JsonbParseState **ps, JsonbContainer *base, JsonbValue **objs, int n)
{
	WsMembers  *lists = palloc(sizeof(WsMembers) * (n + 1));
	JsonbValue **vals = palloc(sizeof(JsonbValue *) * Max(n, 1));
	WsMember   *members;
	int			total = base ? JsonContainerSize(base) : 0;

	check_stack_depth();
	/* one array holds the members of the base and of every patch */
	for (int i = 0; i < n; i++)
		total += JsonContainerSize(objs[i]->val.binary.data);
	members = palloc(sizeof(WsMember) * Max(total, 1));
	lists[0].m = members;
	collect_members(base, &lists[0]);
	for (int i = 0; i < n; i++)
	{
		lists[i + 1].m = lists[i].m + lists[i].n;
		collect_members(objs[i]->val.binary.data, &lists[i + 1]);
	}

	for (;;)
	{
		JsonbValue *key = NULL;
		JsonbValue *target = NULL;
		int			nvals = 0;

		/* the least key not merged yet */
		for (int i = 0; i <= n; i++)
			if (lists[i].pos < lists[i].n &&
				(key == NULL || key_cmp(&lists[i].m[lists[i].pos].key, key) < 0))
				key = &lists[i].m[lists[i].pos].key;
		if (key == NULL)
			break;
		/* its value in the base and in each patch that has it, in order */
		for (int i = 0; i <= n; i++)
		{
			WsMember   *cur;

			if (lists[i].pos >= lists[i].n)
				continue;
			cur = &lists[i].m[lists[i].pos];
			if (cur->key.val.string.val != key->val.string.val && key_cmp(&cur->key, key) != 0)
				continue;
			if (i == 0)
				target = &cur->val;
			else
				vals[nvals++] = &cur->val;
			lists[i].pos++;
		}
		(void) fold_value(ps, key, target, vals, nvals);
	}
	pfree(members);
	pfree(lists);
	pfree(vals);
}

/*
 * Push onto *ps the member `key` with the value that patch values
 * vals[0..n-1], applied in order, make of `target` (NULL: absent).
 * Returns false, pushing nothing, when the member ends up absent.
 */
static bool
fold_value(JsonbParseState **ps, JsonbValue *key, JsonbValue *target,
		   JsonbValue **vals, int n)
{
	JsonbValue *base = target;
	int			first = 0;

	for (int i = n - 1; i >= 0; i--)
		if (!value_is_object(vals[i]))
		{
			base = vals[i]->type == jbvNull ? NULL : vals[i];
			first = i + 1;
			break;
		}
	if (first == n)
	{
		if (base == NULL)
			return false;
		pushJsonbValue(ps, WJB_KEY, key);
		pushJsonbValue(ps, WJB_VALUE, base);
		return true;
	}
	pushJsonbValue(ps, WJB_KEY, key);
	pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
	fold_members(ps, base && value_is_object(base) ? base->val.binary.data : NULL,
				 vals + first, n - first);
	pushJsonbValue(ps, WJB_END_OBJECT, NULL);
	return true;
}

/* A whole document as a JsonbValue: its scalar, or its container. */
static void
document_value(Jsonb *jb, JsonbValue *v)
{
	if (JB_ROOT_IS_SCALAR(jb))
	{
		if (!JsonbExtractScalar(&jb->root, v))
			elog(ERROR, "could not extract jsonb scalar");
		return;
	}
	v->type = jbvBinary;
	v->val.binary.data = &jb->root;
	v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
}

/*
 * The document `base` with merge patches patches[0..n-1] applied in order
 * (RFC 7396), in CurrentMemoryContext.
 */
static Jsonb *
fold_patches(Jsonb *base, Jsonb **patches, int n)
{
	JsonbValue	target;
	JsonbValue *vals = palloc(sizeof(JsonbValue) * Max(n, 1));
	JsonbValue **pv = palloc(sizeof(JsonbValue *) * Max(n, 1));
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	int			first = 0;

	document_value(base, &target);
	for (int i = 0; i < n; i++)
	{
		document_value(patches[i], &vals[i]);
		pv[i] = &vals[i];
	}
	/* a patch that is not an object replaces the whole document */
	for (int i = n - 1; i >= 0; i--)
		if (!value_is_object(pv[i]))
		{
			base = patches[i];
			target = vals[i];
			first = i + 1;
			break;
		}
	if (first == n)
		return base;
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	fold_members(&ps, value_is_object(&target) ? target.val.binary.data : NULL,
				 pv + first, n - first);
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
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
 *	2. the versions below it come from the same scan while it has them in
 *	   order, then from (entity_id, version), between the version wanted and
 *	   the keyframe that worldstate.keyframe_interval places at or below it
 *	   (versions 1 and every K-th).  If the interval was different when they
 *	   were written and the range holds no keyframe, the next range below is
 *	   read the same way.
 *
 * The patches collected are then folded onto the keyframe's state.
 */
static bool
version_at(WsReader *r, WsLog *log, const Datum *e, const WsHlc *at, WsVersion *out)
{
	Datum		entity_id = e[EN_ENTITY_ID];
	const WsHlc *created = DatumGetHlcP(e[EN_CREATED_HLC]);
	const WsHlc *last = DatumGetHlcP(e[EN_HLC]);
	int64		changes = DatumGetInt64(e[EN_VERSION]) - 1;
	int64		rate = 0;
	int64		events = 4;
	Jsonb	  **patches;
	int			npatches = 0;
	int			cap = 16;
	Jsonb	   *keyframe = NULL;
	int64		expected;
	int64		lo = 0;
	IndexScanDesc scan;
	bool		isnull;
	bool		found = false;
	Datum		d;

	/*
	 * 1. the event in force at `at`, and as many versions below it as the
	 * window holds: the events back to the keyframe of the version that the
	 * entity's average rate puts at `at`, and a few more, as the rate of a
	 * history is seldom even
	 */
	log_at_scan(r, log);
	scan = log->at_scan;
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
	out->version = DatumGetInt64(event_col(log, EV_VERSION, &isnull));
	out->hlc = ws_hlc_copy(*DatumGetHlcP(event_col(log, EV_HLC, &isnull)));
	out->vclock = PointerGetDatum(PG_DETOAST_DATUM_COPY(event_col(log, EV_VCLOCK, &isnull)));

	/*
	 * 2. the versions below it down to the keyframe: from the same scan
	 * while they come in order, then from (entity_id, version)
	 */
	patches = palloc(sizeof(Jsonb *) * cap);
	expected = out->version;
	for (;;)
	{
		int64		v = DatumGetInt64(event_col(log, EV_VERSION, &isnull));

		if (v != expected)
		{
			if (scan == log->version_scan)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("version " INT64_FORMAT " of entity \"%s\" is missing from ws.%s",
								expected, TextDatumGetCString(entity_id), log->table),
						 errhint("Run ws.verify() to find the damage, and recover with ws.restore_snapshot().")));
			/* not in HLC order: go on through (entity_id, version) */
			scan = next_version_range(r, log, entity_id, expected, &lo);
			continue;
		}
		d = event_col(log, EV_STATE, &isnull);
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
		patches[npatches++] = DatumGetJsonbPCopy(event_col(log, EV_PATCH, &isnull));
		expected--;
		if (expected < 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("no keyframe at or before version " INT64_FORMAT " of entity \"%s\" in ws.%s",
							out->version, TextDatumGetCString(entity_id), log->table),
					 errdetail("Version 1 of every entity stores its full state, and archival keeps a keyframe in ws.events."),
					 errhint("Run ws.verify() to find the damage, and recover with ws.restore_snapshot().")));
		if ((scan == log->at_scan || expected >= lo) &&
			index_getnext_slot(scan, BackwardScanDirection, log->slot))
			continue;
		if (scan == log->version_scan && expected >= lo)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("version " INT64_FORMAT " of entity \"%s\" is missing from ws.%s",
							expected, TextDatumGetCString(entity_id), log->table),
					 errhint("Run ws.verify() to find the damage, and recover with ws.restore_snapshot().")));
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
	out->state = fold_patches(keyframe, patches, npatches);
	return true;
}

/*
 * The entity in r->entity_slot as of `at` (NULL: the present) into
 * values/nulls, in WsEntityCol order; false when it did not exist then
 * (not created yet, or retired).  Datums point into the slot or into
 * CurrentMemoryContext.
 */
static bool
entity_as_of(WsReader *r, const WsHlc *at, Datum *values, bool *nulls)
{
	WsVersion	v;
	bool		retired;

	for (int i = 0; i < EN_NCOLS; i++)
		values[i] = entity_col(r, i, &nulls[i]);
	retired = DatumGetBool(values[EN_RETIRED]);
	if (at == NULL)
		return !retired;
	if (ws_hlc_cmp(DatumGetHlcP(values[EN_CREATED_HLC]), at) > 0)
		return false;
	/* nothing changed since `at`: the present row, retired or not */
	if (ws_hlc_cmp(DatumGetHlcP(values[EN_HLC]), at) <= 0)
		return !retired;
	/* it changed after `at`, so it was not retired then */
	if (!version_at(r, &r->log, values, at, &v) &&
		!version_at(r, &r->archive, values, at, &v))
		return false;
	values[EN_STATE] = JsonbPGetDatum(v.state);
	values[EN_VERSION] = Int64GetDatum(v.version);
	values[EN_HLC] = HlcPGetDatum(v.hlc);
	values[EN_VCLOCK] = v.vclock;
	values[EN_RETIRED] = BoolGetDatum(false);
	return true;
}

/* Whether the entity in r->entity_slot existed at `at` (NULL: now). */
static bool
entity_alive(WsReader *r, const WsHlc *at)
{
	bool		isnull;
	bool		retired = DatumGetBool(entity_col(r, EN_RETIRED, &isnull));

	if (at == NULL)
		return !retired;
	if (ws_hlc_cmp(DatumGetHlcP(entity_col(r, EN_CREATED_HLC, &isnull)), at) > 0)
		return false;
	return !(retired && ws_hlc_cmp(DatumGetHlcP(entity_col(r, EN_HLC, &isnull)), at) <= 0);
}

/* The entity_id argument as a scan key value; 22023 when NULL or empty. */
static Datum
entity_id_arg(FunctionCallInfo fcinfo, int n)
{
	(void) ws_arg_text(fcinfo, n, "entity_id", 0);
	/* short header at most, never compressed or external: cheap to compare */
	return PointerGetDatum(PG_GETARG_TEXT_PP(n));
}

/* An optional "as of" moment argument; NULL when SQL NULL. */
static const WsHlc *
hlc_arg(FunctionCallInfo fcinfo, int n)
{
	return ws_arg_moment(fcinfo, n, true);
}

/*
 * Look up entity_id as of `at` (NULL: now) and call done() with its row
 * while the reader is open.  Shared by ws.get_state and ws.get_entity,
 * which differ only in what they return.
 */
typedef Datum (*PointResult) (FunctionCallInfo fcinfo, Datum *values, bool *nulls);

static Datum
point_query(FunctionCallInfo fcinfo, PointResult done)
{
	Datum		entity_id = entity_id_arg(fcinfo, 0);
	const WsHlc *at = hlc_arg(fcinfo, 1);
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext work;
	WsReader	r;
	Datum		values[EN_NCOLS];
	bool		nulls[EN_NCOLS];
	Datum		result = (Datum) 0;
	bool		found;

	/* the fold's intermediate states die with this context */
	work = AllocSetContextCreate(outer, "worldstate point query", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work);
	reader_open(&r, READ_ENTITIES);
	found = reader_entity(&r, entity_id) && entity_as_of(&r, at, values, nulls);
	if (found)
	{
		MemoryContextSwitchTo(outer);
		result = done(fcinfo, values, nulls);
		MemoryContextSwitchTo(work);
	}
	reader_close(&r);
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(work);
	if (!found)
		PG_RETURN_NULL();
	return result;
}

/* get_state's result: the state, copied. */
static Datum
state_result(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
	return JsonbPGetDatum(DatumGetJsonbPCopy(values[EN_STATE]));
}

/* get_entity's result: a ws.entities row. */
static Datum
entity_result(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
	TupleDesc	desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "function returning a row called in a context that cannot accept it");
	desc = BlessTupleDesc(desc);
	return HeapTupleGetDatum(ws_form_row(desc, &ws_entities_table, values, nulls));
}

/*
 * ws.get_state(entity_id text, at ws.hlc DEFAULT NULL) -> jsonb: the
 * entity's state at `at`, or now when `at` is NULL; NULL when it did not
 * exist then (not created yet, or retired).
 */
Datum
entity_get_state(PG_FUNCTION_ARGS)
{
	return point_query(fcinfo, state_result);
}

/*
 * ws.get_entity(entity_id text, at ws.hlc DEFAULT NULL) -> ws.entities:
 * the entity's row as of `at` -- the version, hlc and vclock of the event
 * in force, retired false -- or NULL as for get_state.
 */
Datum
entity_get(PG_FUNCTION_ARGS)
{
	return point_query(fcinfo, entity_result);
}

/*
 * ws.get_entity(entity_id text, at ws.hlc or timestamptz) -> SETOF
 * ws.entities (1.1): the row as for entity_get, or no row when the entity
 * did not exist then.
 */
Datum
entity_get_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		row;

	InitMaterializedSRF(fcinfo, 0);
	row = point_query(fcinfo, entity_result);
	fcinfo->isnull = false;
	if (row != (Datum) 0)
	{
		HeapTupleHeader h = DatumGetHeapTupleHeader(row);
		HeapTupleData tup;

		tup.t_len = HeapTupleHeaderGetDatumLength(h);
		ItemPointerSetInvalid(&tup.t_self);
		tup.t_tableOid = InvalidOid;
		tup.t_data = h;
		tuplestore_puttuple(rsinfo->setResult, &tup);
	}
	return (Datum) 0;
}

/*
 * Iteration over the world as of an HLC, in entity id order: every entity
 * of ws.entities, through its primary key, rebuilt as of `at` when it
 * changed since.  Each entity is built in rowcxt, reset for the next.
 */
typedef struct WsWorldScan
{
	WsReader	r;
	const WsHlc *at;			/* NULL: the present */
	IndexScanDesc all;
	MemoryContext rowcxt;
	int64		scanned;		/* entities read so far */
} WsWorldScan;

/*
 * Start a world scan as of `at` (NULL: now) for operation (as ws.progress
 * names it); pair with world_end.
 */
static void
world_begin(WsWorldScan *w, const WsHlc *at, const char *operation)
{
	reader_open(&w->r, READ_ENTITIES);
	w->at = at;
	w->all = index_beginscan(w->r.entities, w->r.entities_pk, w->r.snapshot, 0, 0);
	index_rescan(w->all, NULL, 0, NULL, 0);
	w->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate entity as of",
									  ALLOCSET_DEFAULT_SIZES);
	w->scanned = 0;
	/* the past is rebuilt entity by entity: worth watching */
	if (at != NULL)
		ws_progress_begin(operation, "rebuilding entities", WS_PROGRESS_UNKNOWN);
}

/*
 * The next entity that existed at w->at into values/nulls (WsEntityCol
 * order), valid until the next call; false at the end.
 */
static bool
world_next(WsWorldScan *w, Datum *values, bool *nulls)
{
	for (;;)
	{
		MemoryContext old;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		if (!index_getnext_slot(w->all, ForwardScanDirection, w->r.entity_slot))
			return false;
		ws_progress_count(++w->scanned);
		MemoryContextReset(w->rowcxt);
		old = MemoryContextSwitchTo(w->rowcxt);
		found = entity_as_of(&w->r, w->at, values, nulls);
		MemoryContextSwitchTo(old);
		if (found)
			return true;
	}
}

/* End a world scan and free what it built. */
static void
world_end(WsWorldScan *w)
{
	index_endscan(w->all);
	reader_close(&w->r);
	MemoryContextDelete(w->rowcxt);
	if (w->at != NULL)
		ws_progress_end();
}

/*
 * ws.entities_at(at ws.hlc) -> SETOF ws.entities: every entity that
 * existed at `at`, as it was then, in entity id order; the present world
 * (without retired entities) when `at` is NULL.
 */
Datum
world_entities_at(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WsWorldScan w;
	TupleDesc	desc;
	AttrNumber	att[EN_NCOLS];
	Datum		values[EN_NCOLS];
	bool		nulls[EN_NCOLS];
	Datum	   *outv;
	bool	   *outn;

	InitMaterializedSRF(fcinfo, 0);
	desc = rsinfo->setDesc;
	ws_row_column_numbers(desc, &ws_entities_table, att);
	outv = palloc(sizeof(Datum) * desc->natts);
	outn = palloc(sizeof(bool) * desc->natts);

	world_begin(&w, hlc_arg(fcinfo, 0), "entities_at");
	while (world_next(&w, values, nulls))
	{
		ws_table_spread(&ws_entities_table, att, values, nulls, desc->natts, outv, outn);
		tuplestore_putvalues(rsinfo->setResult, desc, outv, outn);
	}
	world_end(&w);
	return (Datum) 0;
}

/* 22023 unless an int argument is given and not negative. */
static int64
count_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	int32		v;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be null", name),
				 errhint("Pass a number, 0 or more.")));
	v = PG_GETARG_INT32(n);
	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", name),
				 errdetail("%s is %d.", name, v),
				 errhint("Pass a number, 0 or more.")));
	return v;
}

/* The plan of ws.find on the present; re-prepared if schema ws is re-created. */
static SPIPlanPtr find_plan = NULL;
static Oid	find_plan_nsp = InvalidOid;

/*
 * ws.find on the present: live entities whose state contains the
 * predicate, by entity id, through the GIN index on state when the planner
 * finds it cheaper for this predicate (the plan is made for the actual
 * values, never generic).  Rows stream from a cursor into the tuplestore.
 */
static void
find_present(ReturnSetInfo *rsinfo, const AttrNumber *att, Jsonb *predicate, int64 lim, int64 off)
{
	TupleDesc	desc = rsinfo->setDesc;
	Datum		args[3];
	Portal		portal;
	Datum	   *outv = palloc(sizeof(Datum) * desc->natts);
	bool	   *outn = palloc(sizeof(bool) * desc->natts);
	Oid			nsp = ws_namespace();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (find_plan == NULL || find_plan_nsp != nsp)
	{
		Oid			types[3] = {JSONBOID, INT8OID, INT8OID};
		SPIPlanPtr	plan;

		if (find_plan != NULL)
			SPI_freeplan(find_plan);
		find_plan = NULL;
		/* the columns in WsEntityCol order */
		plan = SPI_prepare_cursor(psprintf("SELECT %s FROM ws.entities e"
										   " WHERE e.state OPERATOR(pg_catalog.@>) $1"
										   " AND NOT e.retired"
										   " ORDER BY e.entity_id LIMIT $2 OFFSET $3",
										   ws_table_select_list(&ws_entities_table, "e")),
								  3, types, CURSOR_OPT_CUSTOM_PLAN);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare_cursor failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		find_plan = plan;
		find_plan_nsp = nsp;
	}

	args[0] = JsonbPGetDatum(predicate);
	args[1] = Int64GetDatum(lim);
	args[2] = Int64GetDatum(off);
	portal = SPI_cursor_open(NULL, find_plan, args, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			Datum		values[EN_NCOLS];
			bool		nulls[EN_NCOLS];

			for (int c = 0; c < EN_NCOLS; c++)
				values[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
										  c + 1, &nulls[c]);
			ws_table_spread(&ws_entities_table, att, values, nulls, desc->natts, outv, outn);
			tuplestore_putvalues(rsinfo->setResult, desc, outv, outn);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
}

/*
 * ws.find on the past: the world as of `at` filtered by containment,
 * skipping `off` matches and stopping after `lim`.
 */
static void
find_at(ReturnSetInfo *rsinfo, const AttrNumber *att, Jsonb *predicate, int64 lim, int64 off,
		const WsHlc *at)
{
	TupleDesc	desc = rsinfo->setDesc;
	WsWorldScan w;
	Datum		values[EN_NCOLS];
	bool		nulls[EN_NCOLS];
	Datum	   *outv = palloc(sizeof(Datum) * desc->natts);
	bool	   *outn = palloc(sizeof(bool) * desc->natts);
	int64		skipped = 0;
	int64		emitted = 0;

	if (lim == 0)
		return;
	world_begin(&w, at, "find");
	while (world_next(&w, values, nulls))
	{
		MemoryContext old = MemoryContextSwitchTo(w.rowcxt);
		bool		match;

		/* a detoasted state is freed with the row */
		match = DatumGetBool(DirectFunctionCall2(jsonb_contains, values[EN_STATE],
												 JsonbPGetDatum(predicate)));
		MemoryContextSwitchTo(old);
		if (!match)
			continue;
		if (skipped < off)
		{
			skipped++;
			continue;
		}
		ws_table_spread(&ws_entities_table, att, values, nulls, desc->natts, outv, outn);
		tuplestore_putvalues(rsinfo->setResult, desc, outv, outn);
		if (++emitted == lim)
			break;
	}
	world_end(&w);
}

/*
 * ws.find(predicate jsonb, lim int DEFAULT 100, off int DEFAULT 0,
 *		   at ws.hlc DEFAULT NULL) -> SETOF ws.entities
 *
 * Entities whose state contains predicate (jsonb @>), in entity id order,
 * `lim` of them after skipping `off`; as of `at`, or now when NULL.
 * Retired entities are never found.  predicate must be a JSON object;
 * lim and off must be given and not negative (22023).
 */
Datum
entity_find(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *predicate;
	int64		lim;
	int64		off;
	AttrNumber	att[EN_NCOLS];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("predicate must not be null"),
				 errhint("Pass '{}' to match every entity.")));
	predicate = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_OBJECT(predicate) || JB_ROOT_IS_SCALAR(predicate))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("predicate must be a JSON object"),
				 errdetail("Entity states are objects; find returns those that contain the predicate."),
				 errhint("Pass an object such as '{\"color\": \"red\"}', or '{}' to match every entity.")));
	lim = count_arg(fcinfo, 1, "lim");
	off = count_arg(fcinfo, 2, "off");

	InitMaterializedSRF(fcinfo, 0);
	ws_row_column_numbers(rsinfo->setDesc, &ws_entities_table, att);
	if (PG_ARGISNULL(3))
		find_present(rsinfo, att, predicate, lim, off);
	else
		find_at(rsinfo, att, predicate, lim, off, hlc_arg(fcinfo, 3));
	return (Datum) 0;
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
 * ws.history(entity_id text, from_hlc ws.hlc DEFAULT NULL,
 *			  to_hlc ws.hlc DEFAULT NULL) -> SETOF ws.events
 *
 * The entity's events with from_hlc <= hlc <= to_hlc (a NULL bound is
 * open), in HLC order, read in order from the indexes on (entity_id, hlc)
 * of ws.events and of ws.events_archive, merged.  No events (not an error)
 * for an unknown entity or an empty range.
 */
Datum
entity_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		entity_id = entity_id_arg(fcinfo, 0);
	const WsHlc *from = ws_arg_moment(fcinfo, 1, false);
	const WsHlc *to = hlc_arg(fcinfo, 2);
	WsReader	r;
	WsLog	   *logs[2];
	IndexScanDesc scans[2];
	bool		more[2];
	TupleConversionMap *maps[2];

	InitMaterializedSRF(fcinfo, 0);
	reader_open(&r, 0);
	logs[0] = &r.archive;
	logs[1] = &r.log;
	for (int i = 0; i < 2; i++)
	{
		scans[i] = history_scan(&r, logs[i], entity_id, from, to, &more[i]);
		/* NULL when the table's rows are ws.events rows as they are */
		maps[i] = convert_tuples_by_name(RelationGetDescr(logs[i]->rel), rsinfo->setDesc);
	}
	while (more[0] || more[1])
	{
		int			i;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (!more[1])
			i = 0;
		else if (!more[0])
			i = 1;
		else
			i = ws_hlc_cmp(DatumGetHlcP(event_col(logs[0], EV_HLC, &isnull)),
						   DatumGetHlcP(event_col(logs[1], EV_HLC, &isnull))) <= 0 ? 0 : 1;
		if (maps[i] == NULL)
			tuplestore_puttupleslot(rsinfo->setResult, logs[i]->slot);
		else
		{
			HeapTuple	t = ExecCopySlotHeapTuple(logs[i]->slot);
			HeapTuple	c = execute_attr_map_tuple(t, maps[i]);

			tuplestore_puttuple(rsinfo->setResult, c);
			heap_freetuple(c);
			heap_freetuple(t);
		}
		more[i] = index_getnext_slot(scans[i], ForwardScanDirection, logs[i]->slot);
	}
	index_endscan(scans[0]);
	index_endscan(scans[1]);
	reader_close(&r);
	return (Datum) 0;
}

/* One link or unlink event, for rebuilding an entity's edges. */
typedef struct WsLinkEvent
{
	text	   *rel;
	text	   *to_id;
	Jsonb	   *props;
	WsHlc	   *hlc;
	bool		linked;
} WsLinkEvent;

/* Compare two texts as the text columns of ws.relationships sort. */
static int
text_order(text *a, text *b)
{
	return varstr_cmp(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
					  VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), DEFAULT_COLLATION_OID);
}

/* qsort order: (rel, to_id) as the primary key sorts them, then HLC order. */
static int
link_event_cmp(const void *pa, const void *pb)
{
	const WsLinkEvent *a = pa;
	const WsLinkEvent *b = pb;
	int			c = text_order(a->rel, b->rel);

	if (c == 0)
		c = text_order(a->to_id, b->to_id);
	if (c == 0)
		c = ws_hlc_cmp(a->hlc, b->hlc);
	return c;
}

/* Whether two link events are about the same edge (same rel and target). */
static bool
same_edge(const WsLinkEvent *a, const WsLinkEvent *b)
{
	return VARSIZE_ANY_EXHDR(a->rel) == VARSIZE_ANY_EXHDR(b->rel) &&
		VARSIZE_ANY_EXHDR(a->to_id) == VARSIZE_ANY_EXHDR(b->to_id) &&
		memcmp(VARDATA_ANY(a->rel), VARDATA_ANY(b->rel), VARSIZE_ANY_EXHDR(a->rel)) == 0 &&
		memcmp(VARDATA_ANY(a->to_id), VARDATA_ANY(b->to_id), VARSIZE_ANY_EXHDR(a->to_id)) == 0;
}

/* A string member of a link event's meta, as text; NULL when absent. */
static text *
meta_text(Jsonb *meta, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&meta->root, key, strlen(key), NULL);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return cstring_to_text_with_len(v->val.string.val, v->val.string.len);
}

/* The link events of an entity gathered so far. */
typedef struct WsLinkEvents
{
	WsLinkEvent *ev;
	int			n;
	int			cap;
} WsLinkEvents;

/*
 * Add the event in log->slot to *links if it is a link or unlink event (of
 * relation rel, unless NULL).  Its details are in meta; an update that
 * merely calls itself "linked" has none and is skipped.
 */
static void
add_link_event(WsLog *log, text *rel, WsLinkEvents *links)
{
	bool		isnull;
	Datum		d;
	char	   *type;
	Jsonb	   *meta;
	WsLinkEvent e;

	type = TextDatumGetCString(event_col(log, EV_EVENT_TYPE, &isnull));
	if (strcmp(type, "linked") != 0 && strcmp(type, "unlinked") != 0)
		return;
	d = event_col(log, EV_META, &isnull);
	if (isnull)
		return;
	meta = DatumGetJsonbP(d);
	e.rel = meta_text(meta, "rel");
	e.to_id = meta_text(meta, "to");
	if (e.rel == NULL || e.to_id == NULL)
		return;
	if (rel && !(VARSIZE_ANY_EXHDR(rel) == VARSIZE_ANY_EXHDR(e.rel) &&
				 memcmp(VARDATA_ANY(rel), VARDATA_ANY(e.rel), VARSIZE_ANY_EXHDR(rel)) == 0))
		return;
	e.linked = strcmp(type, "linked") == 0;
	e.props = NULL;
	if (e.linked)
	{
		JsonbValue *p = getKeyJsonValueFromContainer(&meta->root, "props", 5, NULL);

		e.props = p ? JsonbValueToJsonb(p) : NULL;
	}
	e.hlc = ws_hlc_copy(*DatumGetHlcP(event_col(log, EV_HLC, &isnull)));
	if (links->n == links->cap)
	{
		links->cap *= 2;
		links->ev = repalloc(links->ev, sizeof(WsLinkEvent) * links->cap);
	}
	links->ev[links->n++] = e;
}

/*
 * Add the link and unlink events of entity_id with hlc <= at that the
 * scan of `index` (on log's table, keyed (entity_id, hlc)) finds.
 */
static void
scan_link_events(WsReader *r, WsLog *log, Relation index, Datum entity_id, text *rel,
				 const WsHlc *at, WsLinkEvents *links)
{
	ScanKeyData keys[2];
	IndexScanDesc scan;

	ws_init_scan_key(&keys[0], index, 1, BTEqualStrategyNumber);
	keys[0].sk_argument = entity_id;
	ws_init_scan_key(&keys[1], index, 2, BTLessEqualStrategyNumber);
	keys[1].sk_argument = HlcPGetDatum(at);
	scan = index_beginscan(log->rel, index, r->snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, log->slot))
	{
		CHECK_FOR_INTERRUPTS();
		add_link_event(log, rel, links);
	}
	index_endscan(scan);
}

/*
 * The outgoing edges of the entity at `at`, rebuilt from its link and
 * unlink events up to `at` -- in ws.events through the partial index of
 * link events, and in ws.events_archive -- where the last event of each
 * (rel, to_id) decides and a link's meta carries the properties.  Emitted
 * in (rel, to_id) order, as the present is.
 */
static void
neighbors_at(WsReader *r, ReturnSetInfo *rsinfo, Datum entity_id, text *rel, const WsHlc *at)
{
	WsLinkEvents links;
	WsLinkEvent *evs;

	links.cap = 16;
	links.n = 0;
	links.ev = palloc(sizeof(WsLinkEvent) * links.cap);

	log_by_hlc(r, &r->archive);
	scan_link_events(r, &r->archive, r->archive.by_hlc, entity_id, rel, at, &links);
	log_table(r, &r->log);
	r->events_links = open_index(r, EVENTS_LINKS);
	scan_link_events(r, &r->log, r->events_links, entity_id, rel, at, &links);

	evs = links.ev;
	qsort(evs, links.n, sizeof(WsLinkEvent), link_event_cmp);
	for (int i = 0; i < links.n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		/* the last event of each edge decides */
		if (i + 1 < links.n && same_edge(&evs[i], &evs[i + 1]))
			continue;
		if (!evs[i].linked)
			continue;
		values[0] = PointerGetDatum(evs[i].rel);
		values[1] = PointerGetDatum(evs[i].to_id);
		if (evs[i].props)
			values[2] = JsonbPGetDatum(evs[i].props);
		else
			nulls[2] = true;
		values[3] = HlcPGetDatum(evs[i].hlc);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* The present outgoing edges of the entity, from ws.relationships. */
static void
neighbors_now(WsReader *r, ReturnSetInfo *rsinfo, Datum entity_id, text *rel)
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
	while (index_getnext_slot(scan, ForwardScanDirection, r->rel_slot))
	{
		Datum		values[4];
		bool		nulls[4];

		CHECK_FOR_INTERRUPTS();
		values[0] = slot_getattr(r->rel_slot, r->rl[RL_REL], &nulls[0]);
		values[1] = slot_getattr(r->rel_slot, r->rl[RL_TO_ID], &nulls[1]);
		values[2] = slot_getattr(r->rel_slot, r->rl[RL_PROPS], &nulls[2]);
		values[3] = slot_getattr(r->rel_slot, r->rl[RL_HLC], &nulls[3]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	index_endscan(scan);
}

/*
 * ws.neighbors(entity_id text, rel text DEFAULT NULL, at ws.hlc DEFAULT
 * NULL) -> TABLE(rel text, to_id text, props jsonb, hlc ws.hlc)
 *
 * The entity's outgoing edges (edges belong to their source entity), of
 * one relation or all, in (rel, to_id) order: now from ws.relationships,
 * or as of `at` from the entity's link and unlink events; hlc is that of
 * the link event that set the edge.  None for an entity that did not exist
 * then (unknown, not created yet, retired).
 */
Datum
entity_neighbors(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		entity_id = entity_id_arg(fcinfo, 0);
	text	   *rel = NULL;
	const WsHlc *at = hlc_arg(fcinfo, 2);
	WsReader	r;

	if (!PG_ARGISNULL(1))
	{
		(void) ws_arg_text(fcinfo, 1, "rel", 0);
		rel = PG_GETARG_TEXT_PP(1);
	}

	InitMaterializedSRF(fcinfo, 0);
	reader_open(&r, READ_ENTITIES | (at ? 0 : READ_RELATIONSHIPS));
	if (reader_entity(&r, entity_id) && entity_alive(&r, at))
	{
		if (at)
			neighbors_at(&r, rsinfo, entity_id, rel, at);
		else
			neighbors_now(&r, rsinfo, entity_id, rel);
	}
	reader_close(&r);
	return (Datum) 0;
}

/*
 * Transition function of the aggregate ws.merge_patches(jsonb): apply the
 * next RFC 7396 merge patch to the state so far.  Strict, with no initial
 * value, so the first non-NULL value is taken as it is -- an entity's first
 * patch is its initial state, members with value null included -- and NULL
 * values are skipped.
 */
Datum
merge_patches_transfn(PG_FUNCTION_ARGS)
{
	Jsonb	   *state = PG_GETARG_JSONB_P(0);
	Jsonb	   *patch = PG_GETARG_JSONB_P(1);

	PG_RETURN_JSONB_P(ws_merge_patch(state, patch, NULL, 0, NULL));
}
