/*-------------------------------------------------------------------------
 *
 * writer.c
 *		Direct writes of event and entity rows through the executor's
 *		simple-relation helpers.
 *
 * The transition protocol writes two rows per change: an event and the new
 * entity version.  Running each through SPI would build and tear down an
 * executor plan per statement; instead a change opens ws.events and
 * ws.entities once, with a minimal executor state, and inserts or updates
 * rows with ExecSimpleRelationInsert/Update -- the path logical replication
 * uses to apply changes.  Index maintenance, NOT NULL checks, triggers
 * (the foreign keys of ws.entities) and WAL are exactly those of INSERT and
 * UPDATE; logical decoding sees ordinary inserts.
 *
 * The entity row is read without a lock and replaced with a conditional
 * update, as UPDATE itself does: when a concurrent transaction changed the
 * row in between, the update waits for it and reports that, and the
 * caller reads the new version and runs its checks again (in READ
 * COMMITTED; with a transaction snapshot that is a serialization failure,
 * as for UPDATE).  So a change costs no separate row-lock WAL record.
 *
 * Columns are those of tables.h, found by name (lookup.c remembers them
 * until the tables change), so the code does not depend on the tables'
 * column order; a database still at 1.0 has no ws.events.actor and
 * caller_meta, and its events are written without them.  The callers
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
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "nodes/makefuncs.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "canon.h"
#include "lookup.h"
#include "writer.h"

/* OID of table ws.name. */
static Oid
table_oid(const char *name)
{
	Oid			relid = ws_relation_oid(name);

	if (!OidIsValid(relid))
		elog(ERROR, "table ws.%s does not exist", name);
	return relid;
}

/* Open table relid for writing as range table entry rti. */
static ResultRelInfo *
open_target(Oid relid, Index rti, Relation *rel)
{
	ResultRelInfo *rri;

	*rel = table_open(relid, RowExclusiveLock);
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, *rel, rti, NULL, 0);
	ExecOpenIndices(rri, false);
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
 * Open ws.events and ws.entities for writing.  Pair with ws_writer_end; an
 * error in between is cleaned up by transaction abort.
 */
void
ws_writer_begin(WsWriter *w)
{
	Oid			events = table_oid("events");
	Oid			entities = table_oid("entities");

	memset(w, 0, sizeof(*w));
	w->estate = CreateExecutorState();
	ExecInitRangeTable(w->estate, list_make2(target_rte(events), target_rte(entities)));
	w->events = open_target(events, 1, &w->events_rel);
	w->entities = open_target(entities, 2, &w->entities_rel);
	/* AFTER triggers (the foreign keys) find their relations here */
	w->estate->es_opened_result_relations = list_make2(w->events, w->entities);
	/* actor and caller_meta are absent on a database still at 1.0 */
	ws_column_numbers(w->events_rel, &ws_events_table, w->ev_att);
	ws_column_numbers(w->entities_rel, &ws_entities_table, w->en_att);

	w->estate->es_snapshot = GetActiveSnapshot();
	w->event_slot = table_slot_create(w->events_rel, &w->estate->es_tupleTable);
	w->entity_slot = table_slot_create(w->entities_rel, &w->estate->es_tupleTable);
	w->old_slot = table_slot_create(w->entities_rel, &w->estate->es_tupleTable);
	AfterTriggerBeginQuery();
}

/*
 * Open ws.events alone, for events without an entity (the event bus,
 * bus.c): only ws_writer_insert_event may be used.  Pair with
 * ws_writer_end.
 */
void
ws_writer_begin_events(WsWriter *w)
{
	Oid			events = table_oid("events");

	memset(w, 0, sizeof(*w));
	w->estate = CreateExecutorState();
	ExecInitRangeTable(w->estate, list_make1(target_rte(events)));
	w->events = open_target(events, 1, &w->events_rel);
	w->estate->es_opened_result_relations = list_make1(w->events);
	ws_column_numbers(w->events_rel, &ws_events_table, w->ev_att);
	w->estate->es_snapshot = GetActiveSnapshot();
	w->event_slot = table_slot_create(w->events_rel, &w->estate->es_tupleTable);
	AfterTriggerBeginQuery();
}

/* Fire the queued AFTER triggers and close everything. */
void
ws_writer_end(WsWriter *w)
{
	ListCell   *lc;

	AfterTriggerEndQuery(w->estate);
	/* relations opened only for triggers, as ExecEndPlan would close them */
	foreach(lc, w->estate->es_trig_target_relations)
		table_close(((ResultRelInfo *) lfirst(lc))->ri_RelationDesc, NoLock);
	ExecCloseIndices(w->events);
	if (w->entities)
		ExecCloseIndices(w->entities);
	ExecResetTupleTable(w->estate->es_tupleTable, false);
	/* tables the executor opened itself, e.g. for trigger checks */
	ExecCloseRangeTableRelations(w->estate);
	FreeExecutorState(w->estate);
	table_close(w->events_rel, NoLock);
	if (w->entities_rel)
		table_close(w->entities_rel, NoLock);
	memset(w, 0, sizeof(*w));
}

/*
 * Fill slot from values given in the column-enum order of table, for a
 * write in the current command (the caller increments the command counter
 * between changes, so each sees the ones before).
 */
static void
fill_slot(WsWriter *w, TupleTableSlot *slot, const WsTable *table, const AttrNumber *att,
		  const Datum *values, const bool *nulls)
{
	w->estate->es_output_cid = GetCurrentCommandId(true);
	ExecClearTuple(slot);
	ws_table_spread(table, att, values, nulls, slot->tts_tupleDescriptor->natts,
					slot->tts_values, slot->tts_isnull);
	ExecStoreVirtualTuple(slot);
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

/* Insert an event row; values and nulls in WsEventCol order (tables.h). */
void
ws_writer_insert_event(WsWriter *w, const Datum *values, const bool *nulls)
{
	fill_slot(w, w->event_slot, &ws_events_table, w->ev_att, values, nulls);
	ExecSimpleRelationInsert(w->events, w->estate, w->event_slot);
}

/*
 * Read the current row of entity_id, as of snapshot, into w->old_slot and
 * its tid into *tid.  False when there is none.
 */
bool
ws_writer_fetch_entity(WsWriter *w, const char *entity_id, Snapshot snapshot,
					   ItemPointer tid)
{
	Relation	pk = NULL;
	ScanKeyData key;
	IndexScanDesc scan;
	bool		found;

	for (int i = 0; i < w->entities->ri_NumIndices; i++)
		if (w->entities->ri_IndexRelationDescs[i]->rd_index->indisprimary)
			pk = w->entities->ri_IndexRelationDescs[i];
	if (pk == NULL)
		elog(ERROR, "ws.entities has no primary key");

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(entity_id));
	key.sk_collation = pk->rd_indcollation[0];
	scan = index_beginscan(w->entities_rel, pk, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, w->old_slot);
	index_endscan(scan);
	if (found)
	{
		slot_getallattrs(w->old_slot);
		*tid = w->old_slot->tts_tid;
	}
	return found;
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
		recheck = ExecInsertIndexTuples(w->entities, w->entity_slot, w->estate,
										true, false, NULL, NIL);
	ExecARUpdateTriggers(w->estate, w->entities, NULL, NULL, tid, NULL,
						 w->entity_slot, recheck, NULL, false);
	list_free(recheck);
	return TM_Ok;
}
