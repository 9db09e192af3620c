/*-------------------------------------------------------------------------
 *
 * writer.c
 *		The one writer of ws.events, ws.entities and ws.relationships:
 *		direct writes through the executor's simple-relation helpers.
 *
 * The transition protocol writes two rows per change: an event and the new
 * entity version.  Running each through SPI would build and tear down an
 * executor plan per statement; instead a change opens ws.events and
 * ws.entities once, with a minimal executor state, and inserts or updates
 * rows with ExecSimpleRelationInsert/Update -- the path logical replication
 * uses to apply changes.  Index maintenance, NOT NULL and CHECK
 * constraints, triggers (the foreign keys) and WAL are exactly those of
 * INSERT, UPDATE and DELETE; logical decoding sees ordinary changes.
 *
 * What is written, and why each way is safe against concurrent writers:
 *
 * - Events are appended (ws_writer_insert_event), by changes, and as
 *   events without an entity (ws_writer_append_unattached) by the event
 *   bus and the catalog events of definitions.c; each appended event is
 *   announced with NOTIFY worldstate when worldstate.notify is on, in one
 *   format for all.
 *
 * - An entity changes by a conditional update (ws_writer_try_update_entity)
 *   of the row read without a lock, as UPDATE itself does: when a
 *   concurrent transaction changed the row in between, the update waits
 *   for it and reports that, and the caller reads the new version and runs
 *   its checks again (in READ COMMITTED; with a transaction snapshot that
 *   is a serialization failure, as for UPDATE).  So a change costs no
 *   separate row-lock WAL record.
 *
 * - An entity is created by speculative insertion, as INSERT ... ON
 *   CONFLICT does it (ws_writer_insert_entity): the primary key is checked
 *   first, waiting for any transaction inserting the same id; then the row
 *   goes in with a speculative token, and if a conflicting insert slipped
 *   in between, the row is withdrawn and the check runs again.  A second
 *   create of an id thus waits for the first and then learns that the id
 *   exists -- never a unique-violation error from the index, never a
 *   duplicate.  An advisory lock on the id, held to the end of the
 *   transaction, would do the same, but would keep one lock-table entry
 *   per created entity until commit, and a transaction that creates many
 *   entities (a bulk load) would run out of max_locks_per_transaction; the
 *   speculative token is released as soon as the row is in.
 *
 * - A relationship row is inserted, replaced or deleted after a plain
 *   lookup of its primary key (ws_writer_put_link, ws_writer_delete_link).
 *   That is safe because every writer of the relationships of an entity
 *   holds that entity's row: a link or unlink is a change of its
 *   from-entity, whose row the change has replaced (step 9 of
 *   transition.c) before it writes the relationship, so any other change of
 *   the same from-entity waits for this transaction to end, then works on
 *   the version it left; and restore holds ws.entities and
 *   ws.relationships in EXCLUSIVE mode, which excludes every change.  So
 *   no two transactions ever write one relationship row at once.  The
 *   lookup reads the latest committed rows, which in READ COMMITTED is
 *   what UPDATE would see, and with a transaction snapshot is the same
 *   set: a relationship committed after the snapshot would mean its
 *   from-entity changed after it, and this change's own update of that
 *   entity would already have failed.
 *
 * - Convergence (converge.c) takes hold of an entity's row before it folds
 *   peers' events into it (ws_writer_hold_entity: the row locked as SELECT
 *   ... FOR NO KEY UPDATE locks it, or the version this transaction wrote
 *   last, which it holds already), then replaces it
 *   (ws_writer_try_update_entity, which cannot find it changed) or, for
 *   an entity it had no row of, creates it (ws_writer_insert_entity).
 *
 * - Restore's replay replaces or inserts each rebuilt entity row
 *   (ws_writer_put_entity), with the tables held in EXCLUSIVE mode.
 *
 * - A keyframe row of ws.keyframes is put (inserted, or replacing the row
 *   at the same (entity_id, hlc)) after a plain lookup of its primary key,
 *   and an entity's keyframes from an HLC on are deleted through it
 *   (ws_writer_put_keyframe, ws_writer_delete_keyframes).  Safe for the
 *   reason links are: every writer of an entity's keyframes holds the
 *   entity's row -- the transition protocol writes one at the first
 *   version and every worldstate.keyframe_interval-th, after replacing the
 *   row; convergence refolds an entity it holds -- or, for restore's
 *   replay, the tables in EXCLUSIVE mode.
 *
 * The last version written.  Each change of an entity makes a new version
 * of its row, and versions this transaction made cannot be pruned before
 * it ends; ws.entities' GIN index on the state makes every update add a
 * primary-key entry.  So a transaction that changes one entity n times
 * leaves n entries under its key, and a lookup by the key, or a uniqueness
 * check of the next entry, visits them all: n changes would cost n^2.
 * Two things keep them linear.  The writer remembers, for the rest of the
 * transaction, the tid of the version it wrote last for each entity
 * (remember_last_write, in a fixed number of slots), and reads the entity
 * there first (fetch_last_write): it is taken only if it is visible to the
 * reading snapshot and has the entity's id -- then it is the current
 * version, as under an MVCC snapshot only one version of a row is visible
 * -- else the primary key is searched as before.  What was remembered is
 * forgotten when the transaction ends and when a subtransaction aborts.
 * A reader without a writer may ask where that was
 * (ws_writer_last_entity_write) and read the row by its ctid: convergence's
 * check of an arriving event's causal past does, as the release of held
 * events folds thousands of one entity's events in one transaction.
 * And the primary-key entry of an updated row, whose key has not changed,
 * goes in without a uniqueness check (insert_update_index_entries says why
 * that is safe).
 *
 * Index descriptions.  Opening a table for writing also describes each of
 * its indexes (IndexInfo): its key columns and predicate, read from the
 * relcache, and -- on first use -- what its access method prepares for
 * inserting (GIN and BRIN build a description of their support functions)
 * and the compiled predicate of a partial index.  The executor does that
 * for every statement; for a change of one entity it would be about a
 * tenth of the work.  So the writer keeps them, per table, from one call
 * to the next (open_indexes): every index is still opened and locked on
 * every call, as ExecOpenIndices does, and the kept descriptions are used
 * only if they were made from the very relcache entries now open and no
 * relcache invalidation of the table or of any of its indexes (CREATE or
 * DROP INDEX, REINDEX, ALTER INDEX, VACUUM's statistics) came since;
 * invalidations committed before the locks were taken have been processed
 * by then.  Else they are made anew.  Two writers open at once in one
 * transaction do not share them: the second makes its own.
 *
 * Writes still made in SQL, each a single set-based statement where a
 * row at a time would only be slower, and none of them racing a writer:
 *
 * - snapshot.c, restore: clearing ws.relationships, and ws.entities for
 *   a full replay (two DELETEs); making a snapshot's rows those of the
 *   tables (deleting the entities it lacks, updating in place those that
 *   differ, one INSERT ... SELECT each from ws.snapshot_entities and
 *   ws.snapshot_relationships), under the EXCLUSIVE lock on both tables;
 * - snapshot.c, archival: moving events to ws.events_archive (one DELETE
 *   ... RETURNING feeding an INSERT), the only deletion of events, let
 *   through the append-only trigger while it runs.
 *
 * Columns are those of tables.h, found by name (lookup.c remembers them
 * until the tables change), so the code does not depend on the tables'
 * column order; a database still at 1.0 has no ws.events.actor,
 * caller_meta, intent and arrival, and its events are written without
 * them.  Elsewhere every event appended takes its arrival number here,
 * unless its writer gave one (horizon.c keeps readers in arrival order
 * behind the numbers of transactions still open).  The callers
 * check privileges: the writer runs as whoever calls it, which in
 * worldstate is the owner of schema ws.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/stratnum.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "nodes/makefuncs.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"
#include "utils/xid8.h"

#include "canon.h"
#include "hlc.h"
#include "horizon.h"
#include "lookup.h"
#include "settings.h"
#include "stats.h"
#include "writer.h"

/* range table entries of the tables a writer may open */
#define RTI_EVENTS			1
#define RTI_ENTITIES		2
#define RTI_RELATIONSHIPS	3
#define RTI_KEYFRAMES		4

/*
 * Where this transaction last wrote each entity (see "The last version
 * written" in the file header): a direct-mapped table of the hash of an
 * entity id and the tid of the row version written, valid while its
 * generation is the current one.  A fixed number of slots bounds the
 * memory; two entities sharing a slot only cost a lookup by the index.
 */
#define LAST_WRITE_SLOTS	4096	/* a power of two */

typedef struct LastWrite
{
	uint32		hash;			/* of the entity id */
	uint32		generation;		/* valid when it is last_write_generation */
	ItemPointerData tid;
} LastWrite;

static LastWrite *last_writes;	/* in TopMemoryContext, made on first use */
static uint32 last_write_generation = 1;	/* 0 marks a slot never used */
static Oid	last_write_relid;	/* ws.entities of the current generation */
static bool last_write_any;		/* a slot of the current generation is in use */

/* OID of table ws.name. */
static Oid
table_oid(const char *name)
{
	Oid			relid = ws_relation_oid(name);

	if (!OidIsValid(relid))
		elog(ERROR, "table ws.%s does not exist", name);
	return relid;
}

/*
 * The index descriptions of a table the writer opens, kept from one call
 * to the next (see "Index descriptions" in the file header): the OIDs of
 * its indexes, the relcache entries they were made with, and an IndexInfo
 * for each, in a context of their own -- with what the index access
 * methods and the executor cache in it (GIN's and BRIN's descriptions,
 * the compiled predicate of a partial index).
 */
#define INDEX_MEMOS			4	/* events, entities, relationships,
									 * keyframes */

typedef struct IndexMemo
{
	Oid			relid;			/* the table; InvalidOid: a free memo */
	bool		valid;			/* no invalidation of table or indexes since */
	bool		busy;			/* a writer of this transaction uses it */
	int			nindexes;
	Oid		   *index_oids;
	Relation   *index_rels;		/* what the descriptions were made from */
	IndexInfo **infos;
	MemoryContext cxt;
} IndexMemo;

static IndexMemo index_memos[INDEX_MEMOS];
static bool index_memo_callbacks = false;

/* Relcache invalidation of relid (InvalidOid: of every relation). */
static void
index_memo_inval(Datum arg, Oid relid)
{
	for (int m = 0; m < INDEX_MEMOS; m++)
	{
		IndexMemo  *memo = &index_memos[m];

		if (!OidIsValid(memo->relid) || !memo->valid)
			continue;
		if (relid == InvalidOid || relid == memo->relid)
			memo->valid = false;
		for (int i = 0; i < memo->nindexes && memo->valid; i++)
			if (relid == memo->index_oids[i])
				memo->valid = false;
	}
}

/* At the end of a transaction no writer uses a memo any more. */
static void
index_memo_xact_callback(XactEvent event, void *arg)
{
	for (int m = 0; m < INDEX_MEMOS; m++)
		index_memos[m].busy = false;
}

/*
 * The IndexInfo of index, made in the current memory context with what the
 * executor would otherwise compile into a statement's memory on first use
 * (ExecPrepareQual, ExecPrepareExprList): a partial index's predicate and
 * an expression index's expressions.
 */
static IndexInfo *
lasting_index_info(Relation index)
{
	IndexInfo  *ii = BuildIndexInfo(index);
	ListCell   *lc;

	if (ii->ii_Predicate != NIL)
		ii->ii_PredicateState =
			ExecInitQual((List *) expression_planner((Expr *) ii->ii_Predicate), NULL);
	foreach(lc, ii->ii_Expressions)
		ii->ii_ExpressionsState =
			lappend(ii->ii_ExpressionsState,
					ExecInitExpr(expression_planner((Expr *) lfirst(lc)), NULL));
	return ii;
}

/*
 * The memo of table relid for the indexes just opened (n of them, oids
 * and rels), made anew unless it was made from these very relcache
 * entries and nothing invalidated them since; NULL when another writer of
 * this transaction is using it or there is no room.  Called after every
 * index is open and locked, so every invalidation committed before is
 * processed.
 */
static IndexMemo *
index_memo_for(Oid relid, int n, const Oid *oids, Relation *rels)
{
	IndexMemo  *memo = NULL;
	MemoryContext old;

	if (!index_memo_callbacks)
	{
		CacheRegisterRelcacheCallback(index_memo_inval, (Datum) 0);
		RegisterXactCallback(index_memo_xact_callback, NULL);
		index_memo_callbacks = true;
	}
	for (int m = 0; m < INDEX_MEMOS && memo == NULL; m++)
		if (index_memos[m].relid == relid)
			memo = &index_memos[m];
	for (int m = 0; m < INDEX_MEMOS && memo == NULL; m++)
		if (!OidIsValid(index_memos[m].relid))
			memo = &index_memos[m];
	/* one of a table since dropped (schema ws made anew) */
	for (int m = 0; m < INDEX_MEMOS && memo == NULL; m++)
		if (!index_memos[m].valid && !index_memos[m].busy)
			memo = &index_memos[m];
	if (memo == NULL || memo->busy)
		return NULL;
	if (memo->relid == relid && memo->valid && memo->nindexes == n &&
		memcmp(memo->index_oids, oids, sizeof(Oid) * n) == 0 &&
		memcmp(memo->index_rels, rels, sizeof(Relation) * n) == 0)
	{
		memo->busy = true;
		return memo;
	}

	if (memo->cxt == NULL)
		memo->cxt = AllocSetContextCreate(CacheMemoryContext, "worldstate index descriptions",
										  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(memo->cxt);
	memo->relid = InvalidOid;
	old = MemoryContextSwitchTo(memo->cxt);
	memo->index_oids = palloc(sizeof(Oid) * n);
	memo->index_rels = palloc(sizeof(Relation) * n);
	memo->infos = palloc(sizeof(IndexInfo *) * n);
	for (int i = 0; i < n; i++)
	{
		memo->index_oids[i] = oids[i];
		memo->index_rels[i] = rels[i];
		memo->infos[i] = lasting_index_info(rels[i]);
	}
	MemoryContextSwitchTo(old);
	memo->nindexes = n;
	memo->relid = relid;
	memo->valid = true;
	memo->busy = true;
	return memo;
}

/*
 * ExecOpenIndices(rri, false), with the index descriptions taken from the
 * table's memo when it can be used: every index opened and locked for
 * writing, and its IndexInfo.
 */
static void
open_indexes(ResultRelInfo *rri, IndexMemo **memo_out)
{
	Relation	rel = rri->ri_RelationDesc;
	List	   *oid_list;
	Oid		   *oids;
	Relation   *rels;
	IndexMemo  *memo;
	int			n = 0;
	ListCell   *lc;

	*memo_out = NULL;
	rri->ri_NumIndices = 0;
	if (!RelationGetForm(rel)->relhasindex)
		return;
	oid_list = RelationGetIndexList(rel);
	if (list_length(oid_list) == 0)
		return;
	oids = palloc(sizeof(Oid) * list_length(oid_list));
	rels = palloc(sizeof(Relation) * list_length(oid_list));
	foreach(lc, oid_list)
	{
		oids[n] = lfirst_oid(lc);
		rels[n] = index_open(oids[n], RowExclusiveLock);
		n++;
	}
	list_free(oid_list);

	rri->ri_NumIndices = n;
	rri->ri_IndexRelationDescs = rels;
	memo = index_memo_for(RelationGetRelid(rel), n, oids, rels);
	if (memo)
		rri->ri_IndexRelationInfo = memo->infos;
	else
	{
		rri->ri_IndexRelationInfo = palloc(sizeof(IndexInfo *) * n);
		for (int i = 0; i < n; i++)
			rri->ri_IndexRelationInfo[i] = BuildIndexInfo(rels[i]);
	}
	pfree(oids);
	*memo_out = memo;
}

/* Let other writers use the memo again. */
static void
index_memo_release(IndexMemo *memo)
{
	if (memo)
		memo->busy = false;
}

/*
 * Open table relid for writing as range table entry rti; *memo is the
 * memo of its index descriptions that it uses, or NULL.
 */
static ResultRelInfo *
open_target(Oid relid, Index rti, Relation *rel, IndexMemo **memo)
{
	ResultRelInfo *rri;

	*rel = table_open(relid, RowExclusiveLock);
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, *rel, rti, NULL, 0);
	open_indexes(rri, memo);
	return rri;
}

/* A range table entry for a table written by the writer. */
static RangeTblEntry *
target_rte(Oid relid)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	return rte;
}

/*
 * Open ws.events, and ws.entities too when `entities` is true, for writing,
 * with the executor state, slots and AFTER-trigger query they need; the
 * range table also names ws.relationships and ws.keyframes then, which
 * open_relationships and open_keyframes open when first written.
 */
static void
writer_open(WsWriter *w, bool entities)
{
	Oid			events = table_oid("events");
	List	   *rtable = list_make1(target_rte(events));
	Oid			entities_oid = InvalidOid;
	Oid			keyframes_oid = InvalidOid;

	if (entities)
	{
		entities_oid = table_oid("entities");
		rtable = lappend(rtable, target_rte(entities_oid));
		rtable = lappend(rtable, target_rte(table_oid("relationships")));
		/* a database still at 1.0 has no ws.keyframes */
		keyframes_oid = ws_relation_oid(ws_keyframes_table.name);
		if (OidIsValid(keyframes_oid))
			rtable = lappend(rtable, target_rte(keyframes_oid));
	}
	memset(w, 0, sizeof(*w));
	w->keyframes_oid = keyframes_oid;
	w->estate = CreateExecutorState();
	ExecInitRangeTable(w->estate, rtable);
	w->events = open_target(events, RTI_EVENTS, &w->events_rel, &w->events_memo);
	/* AFTER triggers (the foreign keys) find their relations here */
	w->estate->es_opened_result_relations = list_make1(w->events);
	/* actor and caller_meta are absent on a database still at 1.0 */
	ws_column_numbers(w->events_rel, &ws_events_table, w->ev_att);
	w->estate->es_snapshot = GetActiveSnapshot();
	w->event_slot = table_slot_create(w->events_rel, &w->estate->es_tupleTable);
	if (entities)
	{
		w->entities = open_target(entities_oid, RTI_ENTITIES, &w->entities_rel, &w->entities_memo);
		w->estate->es_opened_result_relations =
			lappend(w->estate->es_opened_result_relations, w->entities);
		ws_column_numbers(w->entities_rel, &ws_entities_table, w->en_att);
		w->entity_slot = table_slot_create(w->entities_rel, &w->estate->es_tupleTable);
		w->old_slot = table_slot_create(w->entities_rel, &w->estate->es_tupleTable);
	}
	EvalPlanQualInit(&w->epq, w->estate, NULL, NIL, -1);
	AfterTriggerBeginQuery();
}

/*
 * Open ws.events and ws.entities for writing; ws.relationships is opened
 * when a link is first written.  Pair with ws_writer_end; an error in
 * between is cleaned up by transaction abort.
 */
void
ws_writer_begin(WsWriter *w)
{
	writer_open(w, true);
}

/*
 * Open ws.events alone, for events without an entity (the event bus,
 * bus.c): only ws_writer_insert_event may be used.  Pair with
 * ws_writer_end.
 */
void
ws_writer_begin_events(WsWriter *w)
{
	writer_open(w, false);
}

/* Open ws.relationships, once per writer, in the writer's own memory. */
static void
open_relationships(WsWriter *w)
{
	MemoryContext old;

	if (w->relationships)
		return;
	Assert(w->entities);
	old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	w->relationships = open_target(table_oid("relationships"), RTI_RELATIONSHIPS,
								   &w->relationships_rel, &w->relationships_memo);
	w->estate->es_opened_result_relations =
		lappend(w->estate->es_opened_result_relations, w->relationships);
	ws_column_numbers(w->relationships_rel, &ws_relationships_table, w->rl_att);
	w->link_slot = table_slot_create(w->relationships_rel, &w->estate->es_tupleTable);
	w->old_link_slot = table_slot_create(w->relationships_rel, &w->estate->es_tupleTable);
	MemoryContextSwitchTo(old);
}

/* Open ws.keyframes, once per writer, in the writer's own memory. */
static void
open_keyframes(WsWriter *w)
{
	MemoryContext old;

	if (w->keyframes)
		return;
	Assert(OidIsValid(w->keyframes_oid));
	old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	w->keyframes = open_target(w->keyframes_oid, RTI_KEYFRAMES, &w->keyframes_rel,
							   &w->keyframes_memo);
	w->estate->es_opened_result_relations =
		lappend(w->estate->es_opened_result_relations, w->keyframes);
	ws_column_numbers(w->keyframes_rel, &ws_keyframes_table, w->kf_att);
	w->keyframe_slot = table_slot_create(w->keyframes_rel, &w->estate->es_tupleTable);
	w->old_keyframe_slot = table_slot_create(w->keyframes_rel, &w->estate->es_tupleTable);
	MemoryContextSwitchTo(old);
}

/* Fire the queued AFTER triggers and close everything. */
void
ws_writer_end(WsWriter *w)
{
	ListCell   *lc;

	AfterTriggerEndQuery(w->estate);
	EvalPlanQualEnd(&w->epq);
	/* relations opened only for triggers, as ExecEndPlan would close them */
	foreach(lc, w->estate->es_trig_target_relations)
		table_close(((ResultRelInfo *) lfirst(lc))->ri_RelationDesc, NoLock);
	ExecCloseIndices(w->events);
	if (w->entities)
		ExecCloseIndices(w->entities);
	if (w->relationships)
		ExecCloseIndices(w->relationships);
	if (w->keyframes)
		ExecCloseIndices(w->keyframes);
	index_memo_release(w->events_memo);
	index_memo_release(w->entities_memo);
	index_memo_release(w->relationships_memo);
	index_memo_release(w->keyframes_memo);
	ExecResetTupleTable(w->estate->es_tupleTable, false);
	/* tables the executor opened itself, e.g. for trigger checks */
	ExecCloseRangeTableRelations(w->estate);
	FreeExecutorState(w->estate);
	table_close(w->events_rel, NoLock);
	if (w->entities_rel)
		table_close(w->entities_rel, NoLock);
	if (w->relationships_rel)
		table_close(w->relationships_rel, NoLock);
	if (w->keyframes_rel)
		table_close(w->keyframes_rel, NoLock);
	memset(w, 0, sizeof(*w));
}

/*
 * Fill slot from values given in the column-enum order of table, for a
 * write in the current command (the caller increments the command counter
 * between changes, so each sees the ones before).  What the previous
 * write left in per-tuple memory (index keys, constraint checks) goes.
 */
static void
fill_slot(WsWriter *w, TupleTableSlot *slot, const WsTable *table, const AttrNumber *att,
		  const Datum *values, const bool *nulls)
{
	ResetPerTupleExprContext(w->estate);
	w->estate->es_output_cid = GetCurrentCommandId(true);
	ExecClearTuple(slot);
	ws_table_spread(table, att, values, nulls, slot->tts_tupleDescriptor->natts,
					slot->tts_values, slot->tts_isnull);
	ExecStoreVirtualTuple(slot);
}

/*
 * Read the row of rri's table whose primary key equals keys (one datum per
 * key column: text, or ws.hlc for ws.keyframes), as of snapshot, into
 * slot.  False when there is none.
 */
static bool
fetch_by_key(ResultRelInfo *rri, const Datum *keys, int nkeys, Snapshot snapshot,
			 TupleTableSlot *slot)
{
	Relation	pk = NULL;
	ScanKeyData skey[RL_TO_ID + 1];
	IndexScanDesc scan;
	bool		found;

	Assert(nkeys <= (int) lengthof(skey));
	for (int i = 0; i < rri->ri_NumIndices; i++)
		if (rri->ri_IndexRelationDescs[i]->rd_index->indisprimary)
			pk = rri->ri_IndexRelationDescs[i];
	if (pk == NULL)
		elog(ERROR, "ws.%s has no primary key", RelationGetRelationName(rri->ri_RelationDesc));

	for (int i = 0; i < nkeys; i++)
	{
		if (pk->rd_opcintype[i] == TEXTOID)
		{
			ScanKeyInit(&skey[i], i + 1, BTEqualStrategyNumber, F_TEXTEQ, keys[i]);
			skey[i].sk_collation = pk->rd_indcollation[i];
		}
		else
		{
			ws_init_scan_key(&skey[i], pk, i + 1, BTEqualStrategyNumber);
			skey[i].sk_argument = keys[i];
		}
	}
	scan = index_beginscan(rri->ri_RelationDesc, pk, snapshot, nkeys, 0);
	index_rescan(scan, skey, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	if (found)
		slot_getallattrs(slot);
	return found;
}

/*
 * fetch_by_key as of the latest committed rows and this transaction's
 * earlier commands: for rows whose writers the caller has excluded (see
 * the file header).
 */
static bool
fetch_latest(ResultRelInfo *rri, const Datum *keys, int nkeys, TupleTableSlot *slot)
{
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	bool		found = fetch_by_key(rri, keys, nkeys, snap, slot);

	UnregisterSnapshot(snap);
	return found;
}

/*
 * Replace the row of rri's table whose primary key equals keys with the
 * one in slot, or insert that when there is none (fetch_latest's rows);
 * old_slot receives the row replaced.
 */
static void
put_row(WsWriter *w, ResultRelInfo *rri, const Datum *keys, int nkeys, TupleTableSlot *slot,
		TupleTableSlot *old_slot)
{
	if (fetch_latest(rri, keys, nkeys, old_slot))
		ExecSimpleRelationUpdate(rri, w->estate, &w->epq, old_slot, slot);
	else
		ExecSimpleRelationInsert(rri, w->estate, slot);
}

/*
 * The actor column's value for role: its name when the event is written.
 * The role is the calling one (current_user), whose grant was checked.
 */
Datum
ws_actor_datum(Oid role)
{
	return CStringGetTextDatum(GetUserNameFromId(role, false));
}

/*
 * Send NOTIFY worldstate with the header of an event being appended, when
 * worldstate.notify is on: its id, then for an entity's event the entity,
 * module and version, for an event of the bus (no entity) the module and
 * event type, and last its HLC.  Values in WsEventCol order.
 */
static void
notify_event(const Datum *values, const bool *nulls)
{
	bool		of_entity = !nulls[EV_ENTITY_ID];
	StringInfoData buf;

	if (!ws_notify)
		return;
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"event_id\":\"%s\"",
					 DatumGetCString(DirectFunctionCall1(uuid_out, values[EV_EVENT_ID])));
	if (of_entity)
	{
		appendStringInfoString(&buf, ",\"entity_id\":");
		escape_json(&buf, TextDatumGetCString(values[EV_ENTITY_ID]));
	}
	appendStringInfoString(&buf, ",\"module\":");
	escape_json(&buf, TextDatumGetCString(values[EV_MODULE]));
	if (of_entity)
		appendStringInfo(&buf, ",\"version\":" INT64_FORMAT, DatumGetInt64(values[EV_VERSION]));
	else
	{
		appendStringInfoString(&buf, ",\"event_type\":");
		escape_json(&buf, TextDatumGetCString(values[EV_EVENT_TYPE]));
	}
	appendStringInfo(&buf, ",\"hlc\":\"%s\"}", ws_hlc_to_cstring(DatumGetHlcP(values[EV_HLC])));
	Async_Notify("worldstate", buf.data);
}

/*
 * Append an event row and announce it; values and nulls in WsEventCol
 * order (tables.h).  An event given no arrival number takes the next one
 * (horizon.c), where the table has the column (since 1.1).
 */
void
ws_writer_insert_event(WsWriter *w, const Datum *values, const bool *nulls)
{
	Datum		v[EV_NCOLS];
	bool		n[EV_NCOLS];

	if (nulls[EV_ARRIVAL] && w->ev_att[EV_ARRIVAL] != InvalidAttrNumber)
	{
		memcpy(v, values, sizeof(v));
		memcpy(n, nulls, sizeof(n));
		v[EV_ARRIVAL] = Int64GetDatum(ws_arrival_for_event(table_oid("events_arrival_seq")));
		n[EV_ARRIVAL] = false;
		values = v;
		nulls = n;
	}
	fill_slot(w, w->event_slot, &ws_events_table, w->ev_att, values, nulls);
	ExecSimpleRelationInsert(w->events, w->estate, w->event_slot);
	notify_event(values, nulls);
}

/*
 * Append an event without an entity -- one published on the bus, a catalog
 * event -- with a new id (into *event_id) and a new HLC, made by role
 * actor, with the handshake presented (NULL: the session's) and the
 * caller's meta (or NULL).  The one place such rows are made; the caller
 * runs as the owner of schema ws and has checked what may be written.
 */
void
ws_writer_append_unattached(pg_uuid_t *event_id, const char *module, const char *event_type,
							Jsonb *payload, const char *handshake, int32 schema_version,
							Oid actor, Jsonb *meta)
{
	WsWriter	w;
	WsHlc		hlc;
	Datum		values[EV_NCOLS];
	bool		nulls[EV_NCOLS];

	ws_new_event_id(event_id);
	hlc = ws_hlc_for_event();

	memset(nulls, true, sizeof(nulls));
	values[EV_EVENT_ID] = UUIDPGetDatum(event_id);
	values[EV_HLC] = HlcPGetDatum(&hlc);
	values[EV_ORIGIN_NODE] = Int32GetDatum(ws_node_id);
	values[EV_MODULE] = CStringGetTextDatum(module);
	values[EV_EVENT_TYPE] = CStringGetTextDatum(event_type);
	values[EV_PATCH] = JsonbPGetDatum(payload);
	values[EV_HANDSHAKE] = CStringGetTextDatum(ws_presented_handshake(handshake));
	values[EV_SCHEMA_VERSION] = Int32GetDatum(schema_version);
	values[EV_TXID] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	values[EV_RECORDED_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	nulls[EV_EVENT_ID] = nulls[EV_HLC] = nulls[EV_ORIGIN_NODE] = nulls[EV_MODULE] = false;
	nulls[EV_EVENT_TYPE] = nulls[EV_PATCH] = nulls[EV_HANDSHAKE] = false;
	nulls[EV_SCHEMA_VERSION] = nulls[EV_TXID] = nulls[EV_RECORDED_AT] = false;
	values[EV_ACTOR] = ws_actor_datum(actor);
	nulls[EV_ACTOR] = false;
	values[EV_CALLER_META] = meta ? JsonbPGetDatum(meta) : (Datum) 0;
	nulls[EV_CALLER_META] = meta == NULL;

	ws_writer_begin_events(&w);
	ws_writer_insert_event(&w, values, nulls);
	ws_writer_end(&w);
	ws_stats_count(WS_STAT_EVENTS_WRITTEN);
}

/*
 * Forget every last write: a new generation.  At each transaction end, and
 * when a subtransaction aborts (the versions it wrote are dead, and the
 * lock on ws.entities it may have been the first to take is gone).
 */
static void
forget_last_writes(void)
{
	last_write_any = false;
	if (++last_write_generation == 0)
	{
		/* after 2^32 generations, clear the slots rather than reuse one */
		if (last_writes)
			memset(last_writes, 0, sizeof(LastWrite) * LAST_WRITE_SLOTS);
		last_write_generation = 1;
	}
}

static void
last_writes_xact_callback(XactEvent event, void *arg)
{
	forget_last_writes();
}

static void
last_writes_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		forget_last_writes();
}

/* The hash of an entity id, as the last writes are keyed. */
static uint32
entity_id_hash(const char *id, int len)
{
	return hash_bytes((const unsigned char *) id, len);
}

/*
 * The slot of the entity whose id hashes to hash in the current generation
 * of last writes for ws.entities (w's), or NULL.
 */
static LastWrite *
last_write_slot(Oid entities, uint32 hash)
{
	LastWrite  *lw;

	if (last_writes == NULL || !last_write_any || last_write_relid != entities)
		return NULL;
	lw = &last_writes[hash & (LAST_WRITE_SLOTS - 1)];
	if (lw->generation != last_write_generation || lw->hash != hash)
		return NULL;
	return lw;
}

/*
 * Remember that this transaction wrote the latest version of the entity
 * row just written from w->entity_slot (whose id is id_datum).
 */
static void
remember_last_write(WsWriter *w, Datum id_datum)
{
	text	   *id = DatumGetTextPP(id_datum);
	uint32		hash = entity_id_hash(VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id));
	LastWrite  *lw;

	if (last_writes == NULL)
	{
		last_writes = MemoryContextAllocZero(TopMemoryContext,
											 sizeof(LastWrite) * LAST_WRITE_SLOTS);
		RegisterXactCallback(last_writes_xact_callback, NULL);
		RegisterSubXactCallback(last_writes_subxact_callback, NULL);
	}
	if (last_write_relid != RelationGetRelid(w->entities_rel))
	{
		forget_last_writes();
		last_write_relid = RelationGetRelid(w->entities_rel);
	}
	lw = &last_writes[hash & (LAST_WRITE_SLOTS - 1)];
	lw->hash = hash;
	lw->generation = last_write_generation;
	lw->tid = w->entity_slot->tts_tid;
	last_write_any = true;
}

/*
 * Read entity_id's row version that this transaction wrote last, as of
 * snapshot, into w->old_slot, and its tid into *tid -- when there is one
 * and it is what the primary key would find: the version at that tid is
 * visible to snapshot and has entity_id.  Under an MVCC snapshot at most
 * one version of a row is visible, so that version is the current one,
 * whatever happened since it was remembered (an update by other means, a
 * rewrite or truncation of the table); else false, and the caller looks
 * the entity up by its key.
 */
static bool
fetch_last_write(WsWriter *w, const char *entity_id, Snapshot snapshot, ItemPointer tid)
{
	int			len;
	LastWrite  *lw;
	AttrNumber	att = w->en_att[EN_ENTITY_ID];
	text	   *id;

	len = strlen(entity_id);
	lw = last_write_slot(RelationGetRelid(w->entities_rel), entity_id_hash(entity_id, len));
	if (lw == NULL ||
		ItemPointerGetBlockNumber(&lw->tid) >= RelationGetNumberOfBlocks(w->entities_rel) ||
		!table_tuple_fetch_row_version(w->entities_rel, &lw->tid, snapshot, w->old_slot))
		return false;
	slot_getallattrs(w->old_slot);
	if (w->old_slot->tts_isnull[att - 1])
		return false;
	id = DatumGetTextPP(w->old_slot->tts_values[att - 1]);
	if ((int) VARSIZE_ANY_EXHDR(id) != len || memcmp(VARDATA_ANY(id), entity_id, len) != 0)
		return false;
	*tid = lw->tid;
	return true;
}

/*
 * Read the current row of entity_id, as of snapshot, into w->old_slot and
 * its tid into *tid: the version this transaction wrote last, if it still
 * is, else by the primary key.  False when there is none.
 */
bool
ws_writer_fetch_entity(WsWriter *w, const char *entity_id, Snapshot snapshot,
					   ItemPointer tid)
{
	Datum		key;

	if (fetch_last_write(w, entity_id, snapshot, tid))
		return true;
	key = CStringGetTextDatum(entity_id);
	if (!fetch_by_key(w->entities, &key, 1, snapshot, w->old_slot))
		return false;
	*tid = w->old_slot->tts_tid;
	return true;
}

/*
 * Read the current row of entity_id into w->old_slot and its tid into
 * *tid, and hold it: no other transaction can change it until this one
 * ends.  The version this transaction wrote last is held already (another
 * writer of the row waits for this transaction); any other is found by the
 * primary key and locked as SELECT ... FOR NO KEY UPDATE locks it: waiting
 * for a transaction changing it, then taking its newest version in READ
 * COMMITTED, a serialization failure with a transaction snapshot.  So a
 * transaction that folds many events into one entity reads and writes its
 * row in constant time each (see "The last version written" in the file
 * header).  False when the entity has no row.
 */
bool
ws_writer_hold_entity(WsWriter *w, const char *entity_id, ItemPointer tid)
{
	Snapshot	snap;
	bool		found;
	ItemPointerData read_tid;

	snap = RegisterSnapshot(IsolationUsesXactSnapshot() ? GetTransactionSnapshot()
							: GetLatestSnapshot());
	if (fetch_last_write(w, entity_id, snap, tid))
	{
		UnregisterSnapshot(snap);
		return true;
	}
	found = ws_writer_fetch_entity(w, entity_id, snap, tid);
	UnregisterSnapshot(snap);
	if (!found)
		return false;
	read_tid = *tid;
	if (!ws_writer_lock_latest(w, tid))
		return false;
	if (IsolationUsesXactSnapshot() && !ItemPointerEquals(tid, &read_tid))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update of entity \"%s\"",
						entity_id),
				 errhint("Retry the transaction.")));
	return true;
}

/*
 * Where this transaction last wrote entity_id's row, for a reader without
 * a writer (an SQL statement reading the row by its ctid): true and *tid
 * when it is remembered.  The version there is the current one only if the
 * reader's snapshot sees it and it has entity_id (see fetch_last_write);
 * else the reader looks the entity up by its key.
 */
bool
ws_writer_last_entity_write(const char *entity_id, ItemPointer tid)
{
	LastWrite  *lw;

	if (!last_write_any)
		return false;
	lw = last_write_slot(ws_relation_oid(ws_entities_table.name),
						 entity_id_hash(entity_id, strlen(entity_id)));
	if (lw == NULL)
		return false;
	*tid = lw->tid;
	return true;
}

/*
 * Lock the newest version of the entity row whose older version is at
 * *tid, waiting for any transaction changing it, and read it into
 * w->old_slot; *tid becomes its tid.  This is what UPDATE does in READ
 * COMMITTED when the row changed under it, and keeps waiters in the order
 * they came.  False if the row is gone.
 */
bool
ws_writer_lock_latest(WsWriter *w, ItemPointer tid)
{
	TM_FailureData tmfd;
	TM_Result	result;

	result = table_tuple_lock(w->entities_rel, tid, w->estate->es_snapshot, w->old_slot,
							  GetCurrentCommandId(false), LockTupleNoKeyExclusive,
							  LockWaitBlock, TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
	if (result != TM_Ok)
		return false;
	slot_getallattrs(w->old_slot);
	*tid = w->old_slot->tts_tid;
	return true;
}

/* Column col (WsEntityCol) of the row last read into w->old_slot. */
Datum
ws_writer_entity_col(WsWriter *w, int col, bool *isnull)
{
	AttrNumber	att = w->en_att[col];

	*isnull = w->old_slot->tts_isnull[att - 1];
	return w->old_slot->tts_values[att - 1];
}

/*
 * Whether the key of index (its key columns, plain columns all) is the
 * same in the new version, w->entity_slot, as in the replaced one,
 * w->old_slot, at old_tid.  False when that cannot be told.
 */
static bool
index_key_unchanged(WsWriter *w, IndexInfo *info, ItemPointer old_tid)
{
	TupleTableSlot *new = w->entity_slot;
	TupleTableSlot *old = w->old_slot;
	TupleDesc	desc = new->tts_tupleDescriptor;

	if (!ItemPointerEquals(&old->tts_tid, old_tid) || info->ii_Expressions != NIL)
		return false;
	for (int k = 0; k < info->ii_NumIndexKeyAttrs; k++)
	{
		AttrNumber	att = info->ii_IndexAttrNumbers[k];
		Form_pg_attribute attr;

		if (att <= 0)
			return false;
		attr = TupleDescAttr(desc, att - 1);
		if (new->tts_isnull[att - 1] != old->tts_isnull[att - 1])
			return false;
		if (!new->tts_isnull[att - 1] &&
			!datum_image_eq(new->tts_values[att - 1], old->tts_values[att - 1],
							attr->attbyval, attr->attlen))
			return false;
	}
	return true;
}

/*
 * Insert the index entries of the new version of an entity row, just
 * written over the version at old_tid, as ExecInsertIndexTuples does for an
 * UPDATE -- except that a unique index whose key the update left as it
 * was, such as the primary key, gets its entry without a uniqueness check.
 * That check would visit every version of the row in the index, and a
 * transaction that changes one entity many times makes one version per
 * change, none of which can be pruned before it ends: the check would make
 * such a transaction quadratic.  It is not needed: this transaction now
 * holds the replaced version, which has the same key, so any other writer
 * of the key waits for it, and then finds the new version -- as after a
 * HOT update, which adds no index entry at all.  A partial index, an
 * expression index, a deferrable unique constraint or an exclusion
 * constraint (none of which ws.entities has) is checked as always; with
 * the last two, every index goes the executor's way.  Returns the indexes
 * whose deferred check is pending, as ExecInsertIndexTuples does.
 */
static List *
insert_update_index_entries(WsWriter *w, ItemPointer old_tid)
{
	ResultRelInfo *rri = w->entities;
	TupleTableSlot *slot = w->entity_slot;
	ExprContext *econtext = GetPerTupleExprContext(w->estate);
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];

		if (rri->ri_IndexRelationInfo[i]->ii_ExclusionOps != NULL ||
			(index->rd_index->indisunique && !index->rd_index->indimmediate))
			return ExecInsertIndexTuples(rri, slot, w->estate, true, false, NULL, NIL);
	}
	econtext->ecxt_scantuple = slot;
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *info = rri->ri_IndexRelationInfo[i];
		bool		unchanged;

		if (!info->ii_ReadyForInserts)
			continue;
		if (info->ii_Predicate != NIL)
		{
			if (info->ii_PredicateState == NULL)
				info->ii_PredicateState = ExecPrepareQual(info->ii_Predicate, w->estate);
			if (!ExecQual(info->ii_PredicateState, econtext))
				continue;
		}
		FormIndexDatum(info, slot, w->estate, values, isnull);
		unchanged = info->ii_Predicate == NIL && index_key_unchanged(w, info, old_tid);
		index_insert(index, values, isnull, &slot->tts_tid, w->entities_rel,
					 index->rd_index->indisunique && !unchanged ? UNIQUE_CHECK_YES
					 : UNIQUE_CHECK_NO,
					 unchanged, info);
	}
	return NIL;
}

/*
 * Replace the entity row at tid with the given values (WsEntityCol order),
 * unless a concurrent transaction updated it since it was read: then wait
 * for that transaction and return TM_Updated without writing.
 */
TM_Result
ws_writer_try_update_entity(WsWriter *w, ItemPointer tid, const Datum *values,
							const bool *nulls)
{
	Relation	rel = w->entities_rel;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	result;
	List	   *recheck = NIL;

	fill_slot(w, w->entity_slot, &ws_entities_table, w->en_att, values, nulls);
	CheckCmdReplicaIdentity(rel, CMD_UPDATE);
	if (rel->rd_att->constr)
		ExecConstraints(w->entities, w->entity_slot, w->estate);
	result = table_tuple_update(rel, tid, w->entity_slot, w->estate->es_output_cid,
								w->estate->es_snapshot, InvalidSnapshot, true,
								&tmfd, &lockmode, &update_indexes);
	switch (result)
	{
		case TM_Ok:
			break;
		case TM_Updated:
			return result;
		case TM_Deleted:
			elog(ERROR, "entity row was deleted concurrently");
			break;
		default:
			elog(ERROR, "unexpected result %d updating an entity row", (int) result);
	}
	if (update_indexes && w->entities->ri_NumIndices > 0)
		recheck = insert_update_index_entries(w, tid);
	ExecARUpdateTriggers(w->estate, w->entities, NULL, NULL, tid, NULL,
						 w->entity_slot, recheck, NULL, false);
	list_free(recheck);
	remember_last_write(w, values[EN_ENTITY_ID]);
	return TM_Ok;
}

/*
 * Insert a new entity row (values in WsEntityCol order) unless its id
 * exists: false, writing nothing, when a row with the id is there -- one
 * committed, or written earlier by this transaction.  A transaction
 * inserting the same id is waited for first.  This is INSERT ... ON
 * CONFLICT DO NOTHING's speculative insertion (nodeModifyTable.c): check
 * the unique indexes, insert with a speculative token, insert the index
 * entries without raising duplicates, and withdraw the row and start again
 * if a conflicting row came in between.  The caller decides what an
 * existing id means.
 */
bool
ws_writer_insert_entity(WsWriter *w, const Datum *values, const bool *nulls)
{
	ResultRelInfo *rri = w->entities;
	Relation	rel = w->entities_rel;
	TupleTableSlot *slot = w->entity_slot;
	List	   *recheck;
	MemoryContext old;

	/*
	 * what ExecOpenIndices(rri, true) adds, made on the first create, in the
	 * IndexInfo's own memory (which may be kept for later writers)
	 */
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];

		if (ii->ii_Unique && ii->ii_UniqueOps == NULL)
		{
			old = MemoryContextSwitchTo(ii->ii_Context);
			BuildSpeculativeIndexInfo(rri->ri_IndexRelationDescs[i], ii);
			MemoryContextSwitchTo(old);
		}
	}
	fill_slot(w, slot, &ws_entities_table, w->en_att, values, nulls);
	if (rri->ri_TrigDesc && rri->ri_TrigDesc->trig_insert_before_row &&
		!ExecBRInsertTriggers(w->estate, rri, slot))
		elog(ERROR, "a trigger on ws.entities skipped the insert of an entity");
	if (rel->rd_att->constr)
		ExecConstraints(rri, slot, w->estate);
	for (;;)
	{
		ItemPointerData conflict;
		uint32		token;
		bool		spec_conflict = false;

		CHECK_FOR_INTERRUPTS();
		if (!ExecCheckIndexConstraints(rri, slot, w->estate, &conflict, NIL))
			return false;
		token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
		table_tuple_insert_speculative(rel, slot, w->estate->es_output_cid, 0, NULL, token);
		recheck = ExecInsertIndexTuples(rri, slot, w->estate, false, true, &spec_conflict, NIL);
		table_tuple_complete_speculative(rel, slot, token, !spec_conflict);
		SpeculativeInsertionLockRelease(GetCurrentTransactionId());
		if (!spec_conflict)
			break;
		list_free(recheck);
	}
	ExecARInsertTriggers(w->estate, rri, slot, recheck, NULL);
	list_free(recheck);
	remember_last_write(w, values[EN_ENTITY_ID]);
	return true;
}

/*
 * Replace the entity row with the id of values (WsEntityCol order), or
 * insert it: restore's replay writes each rebuilt entity so, with
 * ws.entities held in EXCLUSIVE mode.
 */
void
ws_writer_put_entity(WsWriter *w, const Datum *values, const bool *nulls)
{
	fill_slot(w, w->entity_slot, &ws_entities_table, w->en_att, values, nulls);
	put_row(w, w->entities, &values[EN_ENTITY_ID], 1, w->entity_slot, w->old_slot);
}

/*
 * Whether the row in w->old_slot holds exactly values (WsEntityCol order):
 * every column the same bytes, so jsonb 1.0 and 1 differ.
 */
static bool
entity_row_is(WsWriter *w, const Datum *values, const bool *nulls)
{
	TupleDesc	desc = w->old_slot->tts_tupleDescriptor;

	slot_getallattrs(w->old_slot);
	for (int c = 0; c < EN_NCOLS; c++)
	{
		AttrNumber	att = w->en_att[c];
		Form_pg_attribute attr = TupleDescAttr(desc, att - 1);

		if (w->old_slot->tts_isnull[att - 1] != nulls[c])
			return false;
		if (!nulls[c] && !datum_image_eq(w->old_slot->tts_values[att - 1], values[c],
										 attr->attbyval, attr->attlen))
			return false;
	}
	return true;
}

/*
 * As ws_writer_put_entity, but leaving a row that already holds exactly
 * these values alone: a restore rebuilds rows that are mostly there
 * already.  Returns whether it wrote.
 */
bool
ws_writer_put_entity_if_changed(WsWriter *w, const Datum *values, const bool *nulls)
{
	fill_slot(w, w->entity_slot, &ws_entities_table, w->en_att, values, nulls);
	if (!fetch_latest(w->entities, &values[EN_ENTITY_ID], 1, w->old_slot))
		ExecSimpleRelationInsert(w->entities, w->estate, w->entity_slot);
	else if (!entity_row_is(w, values, nulls))
		ExecSimpleRelationUpdate(w->entities, w->estate, &w->epq, w->old_slot, w->entity_slot);
	else
		return false;
	return true;
}

/*
 * Write a relationship (values in WsRelationshipCol order): a new row, or
 * the new props and hlc of the existing one.  The caller holds the
 * from-entity's row, or the tables (see the file header).
 */
void
ws_writer_put_link(WsWriter *w, const Datum *values, const bool *nulls)
{
	Datum		key[3];

	open_relationships(w);
	key[0] = values[RL_FROM_ID];
	key[1] = values[RL_REL];
	key[2] = values[RL_TO_ID];
	fill_slot(w, w->link_slot, &ws_relationships_table, w->rl_att, values, nulls);
	put_row(w, w->relationships, key, lengthof(key), w->link_slot, w->old_link_slot);
}

/*
 * Delete the relationship from_id -rel-> to_id and set *old_props to its
 * props (valid until the writer's next write); false, deleting nothing,
 * when there is none.  The caller holds the from-entity's row, or the
 * tables (see the file header).
 */
bool
ws_writer_delete_link(WsWriter *w, const char *from_id, const char *rel, const char *to_id,
					  Datum *old_props)
{
	Datum		key[3];
	AttrNumber	att;

	open_relationships(w);
	ResetPerTupleExprContext(w->estate);
	key[0] = CStringGetTextDatum(from_id);
	key[1] = CStringGetTextDatum(rel);
	key[2] = CStringGetTextDatum(to_id);
	if (!fetch_latest(w->relationships, key, lengthof(key), w->old_link_slot))
		return false;
	att = w->rl_att[RL_PROPS];
	*old_props = w->old_link_slot->tts_values[att - 1];
	ExecSimpleRelationDelete(w->relationships, w->estate, &w->epq, w->old_link_slot);
	return true;
}

/*
 * Whether this database has ws.keyframes (a database still at 1.0 has
 * not): ws_writer_put_keyframe and ws_writer_delete_keyframes need it.
 */
bool
ws_writer_has_keyframes(WsWriter *w)
{
	return OidIsValid(w->keyframes_oid);
}

/*
 * Put a keyframe row (values in WsKeyframeCol order): inserted, or
 * replacing the row at the same (entity_id, hlc).  The caller holds the
 * entity's row, or the tables (as for links, see the file header).
 */
void
ws_writer_put_keyframe(WsWriter *w, const Datum *values, const bool *nulls)
{
	Datum		key[2];

	open_keyframes(w);
	key[0] = values[KF_ENTITY_ID];
	key[1] = values[KF_HLC];
	fill_slot(w, w->keyframe_slot, &ws_keyframes_table, w->kf_att, values, nulls);
	put_row(w, w->keyframes, key, lengthof(key), w->keyframe_slot, w->old_keyframe_slot);
}

/*
 * Delete the keyframes of entity_id (a text datum) at or after HLC `from`
 * (all of them when NULL); returns how many went.  As of the latest
 * committed rows and this transaction's earlier commands; the caller holds
 * the entity's row, or the tables.
 */
int64
ws_writer_delete_keyframes(WsWriter *w, Datum entity_id, const WsHlc *from)
{
	Relation	pk = NULL;
	ScanKeyData skey[2];
	int			nkeys = 1;
	IndexScanDesc scan;
	Snapshot	snap;
	int64		deleted = 0;

	open_keyframes(w);
	for (int i = 0; i < w->keyframes->ri_NumIndices; i++)
		if (w->keyframes->ri_IndexRelationDescs[i]->rd_index->indisprimary)
			pk = w->keyframes->ri_IndexRelationDescs[i];
	if (pk == NULL)
		elog(ERROR, "ws.keyframes has no primary key");
	ws_init_scan_key(&skey[0], pk, 1, BTEqualStrategyNumber);
	skey[0].sk_argument = entity_id;
	if (from)
	{
		ws_init_scan_key(&skey[1], pk, 2, BTGreaterEqualStrategyNumber);
		skey[1].sk_argument = HlcPGetDatum(from);
		nkeys = 2;
	}
	ResetPerTupleExprContext(w->estate);
	w->estate->es_output_cid = GetCurrentCommandId(true);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = index_beginscan(w->keyframes_rel, pk, snap, nkeys, 0);
	index_rescan(scan, skey, nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, w->old_keyframe_slot))
	{
		ExecSimpleRelationDelete(w->keyframes, w->estate, &w->epq, w->old_keyframe_slot);
		deleted++;
	}
	index_endscan(scan);
	UnregisterSnapshot(snap);
	return deleted;
}
