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
 *	- an entity as of HLC `at` is its last keyframe at or before `at`
 *	  (ws.keyframes: the first event and every
 *	  worldstate.keyframe_interval-th, and wherever convergence put one)
 *	  with the effective patches of its events after the keyframe up to
 *	  `at` applied in HLC order; its version is the keyframe's plus the
 *	  number of those events, and it is retired when the keyframe or one of
 *	  them says so;
 *	- an entity exists from its creation (created_hlc <= at) until its
 *	  retirement.  Retirement is final, so a retired entity's row in
 *	  ws.entities carries the HLC of the retiring event, and "retired at
 *	  `at`" is `retired AND hlc <= at` for an entity that did not change
 *	  after `at`; one that did is rebuilt, and the retirement's event type
 *	  is reserved to ws.retire_entity;
 *	- one node issues an entity's HLCs in version order (a transition takes
 *	  its HLC after reading the version it replaces, and a new one when it
 *	  has to retry), so when an entity's last change is at or before `at`
 *	  its present row is the answer and no event is read.
 *
 * The reads are the reader's (reader.c): index scans through genam, no
 * plan and no executor per probe, checking what the executor would (SELECT
 * privilege, no row-level security).  A point query reads the entity as
 * of `at` with two index descents -- one probe of ws.keyframes, one range
 * of ws.events -- and at most K - 1 event rows, whatever the length of
 * the history, and the fold (fold.c) turns the keyframe and the patches
 * after it into the state in one pass.
 *
 * ws.archive_events moves old events to ws.events_archive, keeping each
 * entity's last keyframe before the boundary and everything after it in
 * ws.events, and every keyframe (see WsLog in reader.h).  Moments before
 * that keyframe are rebuilt from the archive the same way; ws.history
 * merges both tables by HLC, and the edges at a moment come from the link
 * events of both.
 *
 * ws.entities_at walks the primary key of ws.entities and rebuilds each
 * entity that changed after `at` -- O(E (log N + K)) for E entities
 * whatever the total history N -- in a memory context reset per entity.
 * When a snapshot lies at or before `at`, an entity that changed after
 * `at` is read from the snapshot, with its events between the snapshot
 * and `at` folded on (reader.c): the snapshot's rows are walked alongside
 * ws.entities in entity id order, so most entities cost no index descent.
 * Rows that need no rebuilding -- the present row, or the snapshot's as
 * it is -- go into the result as the tuples stored, not deformed and
 * formed again.
 *
 * On a node with peers, a result as of a moment above ws.stable_hlc() is
 * tentative -- events of peers at or below it may still arrive -- and a
 * NOTICE says so, once per statement (stable.c).
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
 * than a snapshot -- a writer's HLC is not its commit order, and reading
 * past the oldest transaction still writing would skip its events for
 * good; that is the event bus's job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/tupconvert.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "args.h"
#include "canon.h"
#include "hlc.h"
#include "lookup.h"
#include "merge_patch.h"
#include "progress.h"
#include "reader.h"
#include "settings.h"
#include "spi.h"
#include "stable.h"

PG_FUNCTION_INFO_V1(entity_get_state);
PG_FUNCTION_INFO_V1(entity_get);
PG_FUNCTION_INFO_V1(entity_get_rows);
PG_FUNCTION_INFO_V1(world_entities_at);
PG_FUNCTION_INFO_V1(entity_find);
PG_FUNCTION_INFO_V1(entity_history);
PG_FUNCTION_INFO_V1(entity_neighbors);
PG_FUNCTION_INFO_V1(merge_patches_transfn);

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
		values[i] = ws_reader_entity_col(r, i, &nulls[i]);
	retired = DatumGetBool(values[EN_RETIRED]);
	if (at == NULL)
		return !retired;
	if (ws_hlc_cmp(DatumGetHlcP(values[EN_CREATED_HLC]), at) > 0)
		return false;
	/* nothing changed since `at`: the present row, retired or not */
	if (ws_hlc_cmp(DatumGetHlcP(values[EN_HLC]), at) <= 0)
		return !retired;
	/* it changed after `at`: rebuilt as of `at` */
	if (!ws_reader_version_from_snapshot(r, values, at, &v) &&
		!ws_reader_version_at(r, values[EN_ENTITY_ID], values, at, &v))
		return false;
	if (v.retired)
		return false;
	values[EN_STATE] = JsonbPGetDatum(v.state);
	values[EN_VERSION] = Int64GetDatum(v.version);
	values[EN_HLC] = HlcPGetDatum(v.hlc);
	values[EN_VCLOCK] = v.vclock;
	nulls[EN_VCLOCK] = v.vclock == (Datum) 0;
	values[EN_RETIRED] = BoolGetDatum(false);
	return true;
}

/* Whether the entity in r->entity_slot existed at `at` (NULL: now). */
static bool
entity_alive(WsReader *r, const WsHlc *at)
{
	bool		isnull;
	bool		retired = DatumGetBool(ws_reader_entity_col(r, EN_RETIRED, &isnull));

	if (at == NULL)
		return !retired;
	if (ws_hlc_cmp(DatumGetHlcP(ws_reader_entity_col(r, EN_CREATED_HLC, &isnull)), at) > 0)
		return false;
	return !(retired && ws_hlc_cmp(DatumGetHlcP(ws_reader_entity_col(r, EN_HLC, &isnull)), at) <= 0);
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
 * The moment a result is computed at, as hlc_arg; on a node with peers a
 * NOTICE says when the result of `what` is tentative (stable.c).
 */
static const WsHlc *
moment_arg(FunctionCallInfo fcinfo, int n, const char *what)
{
	const WsHlc *at = hlc_arg(fcinfo, n);

	ws_stable_note_tentative(at, what);
	return at;
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
	const WsHlc *at = moment_arg(fcinfo, 1, "the entity");
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
	ws_reader_open(&r, WS_READ_ENTITIES);
	found = ws_reader_entity(&r, entity_id) && entity_as_of(&r, at, values, nulls);
	if (found)
	{
		MemoryContextSwitchTo(outer);
		result = done(fcinfo, values, nulls);
		MemoryContextSwitchTo(work);
	}
	ws_reader_close(&r);
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
	bool		as_is;			/* the last entity returned is its present
								 * row, in r.entity_slot, unchanged */
} WsWorldScan;

/*
 * Start a world scan as of `at` (NULL: now) for operation (as ws.progress
 * names it); pair with world_end.
 */
static void
world_begin(WsWorldScan *w, const WsHlc *at, const char *operation)
{
	ws_reader_open(&w->r, WS_READ_ENTITIES);
	w->at = at;
	w->all = ws_reader_all_entities(&w->r);
	w->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate entity as of",
									  ALLOCSET_DEFAULT_SIZES);
	w->scanned = 0;
	/* the past is rebuilt entity by entity: worth watching */
	if (at != NULL)
		ws_reader_use_snapshot(&w->r, at);
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
		/* every column is read: deform the row once, not column by column */
		slot_getallattrs(w->r.entity_slot);
		MemoryContextReset(w->rowcxt);
		old = MemoryContextSwitchTo(w->rowcxt);
		found = entity_as_of(&w->r, w->at, values, nulls);
		MemoryContextSwitchTo(old);
		if (found)
		{
			bool		isnull;

			/* as entity_as_of decides: nothing changed since w->at */
			w->as_is = w->at == NULL ||
				ws_hlc_cmp(DatumGetHlcP(ws_reader_entity_col(&w->r, EN_HLC, &isnull)), w->at) <= 0;
			return true;
		}
	}
}

/* End a world scan and free what it built. */
static void
world_end(WsWorldScan *w)
{
	index_endscan(w->all);
	ws_reader_close(&w->r);
	MemoryContextDelete(w->rowcxt);
	if (w->at != NULL)
		ws_progress_end();
}

/*
 * Whether the rows of rel, as stored, are rows of desc as ws_table_spread
 * would make them: the same attributes (dropped ones included) of the same
 * types in the same places, every one that is not dropped a column of
 * ws.entities that att places there.
 */
static bool
stored_rows_fit(Relation rel, TupleDesc desc, const AttrNumber *att)
{
	TupleDesc	td = RelationGetDescr(rel);
	int			live = 0;

	if (td->natts != desc->natts)
		return false;
	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i);
		Form_pg_attribute b = TupleDescAttr(desc, i);

		/*
		 * a dropped attribute's type is InvalidOid in both: they are the
		 * same catalog rows, the result being ws.entities' row type
		 */
		if (a->attisdropped != b->attisdropped || !ws_attrs_stored_alike(a, b))
			return false;
		live += !b->attisdropped;
	}
	for (int c = 0; c < EN_NCOLS; c++)
		if (att[c] == InvalidAttrNumber ||
			strcmp(NameStr(TupleDescAttr(td, att[c] - 1)->attname), ws_entities_table.cols[c].name) != 0)
			return false;
	return live == EN_NCOLS;
}

/*
 * The most of its result, in kB, that ws.entities_at holds in memory
 * (work_mem when that is less); the rest goes to a temporary file, as a
 * sort's does.  The rows are written once and read once, in order: held
 * in memory, each call takes about 250 bytes of fresh memory per row
 * (30 MB for 100 000 entities) that the backend returns to the system
 * afterwards, and the page faults of taking it again cost more than
 * writing the rows through a temporary file, which the system caches (see
 * the timetravel benchmark, part 3b).
 */
#define RESULT_MEMORY_KB	4096

/*
 * ws.entities_at(at ws.hlc) -> SETOF ws.entities: every entity that
 * existed at `at`, as it was then, in entity id order; the present world
 * (without retired entities) when `at` is NULL.
 *
 * An entity whose present row is the answer (nothing changed since `at`)
 * goes into the result as the heap tuple read, copied once, when the
 * table's rows are rows of the result type with ws.entities' columns only
 * and the tuple holds every attribute (one stored before a column was
 * added and dropped again does not); any other row is formed from its
 * values.
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
	bool		fit;

	InitMaterializedSRF(fcinfo, 0);
	if (work_mem > RESULT_MEMORY_KB)
	{
		MemoryContext old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);

		tuplestore_end(rsinfo->setResult);
		rsinfo->setResult = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
												  false, RESULT_MEMORY_KB);
		MemoryContextSwitchTo(old);
	}
	desc = rsinfo->setDesc;
	ws_row_column_numbers(desc, &ws_entities_table, att);
	outv = palloc(sizeof(Datum) * desc->natts);
	outn = palloc(sizeof(bool) * desc->natts);

	world_begin(&w, moment_arg(fcinfo, 0, "the world"), "entities_at");
	fit = stored_rows_fit(w.r.entities, desc, att);
	while (world_next(&w, values, nulls))
	{
		if (fit && w.as_is)
		{
			HeapTuple	t = ExecFetchSlotHeapTuple(w.r.entity_slot, false, NULL);

			if (HeapTupleHeaderGetNatts(t->t_data) == desc->natts)
			{
				tuplestore_puttuple(rsinfo->setResult, t);
				continue;
			}
		}
		else if (fit)
		{
			MemoryContext old = MemoryContextSwitchTo(w.rowcxt);
			HeapTuple	t = ws_reader_snapshot_row(&w.r, values);

			MemoryContextSwitchTo(old);
			if (t != NULL)
			{
				tuplestore_puttuple(rsinfo->setResult, t);
				continue;
			}
		}
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
		find_at(rsinfo, att, predicate, lim, off, moment_arg(fcinfo, 3, "the world"));
	return (Datum) 0;
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
	WsHistory	h;
	WsLog	   *log;
	TupleConversionMap *maps[2];

	InitMaterializedSRF(fcinfo, 0);
	ws_reader_open(&r, 0);
	ws_history_begin(&r, &h, entity_id, from, to);
	/* NULL when the table's rows are ws.events rows as they are */
	for (int i = 0; i < 2; i++)
		maps[i] = convert_tuples_by_name(RelationGetDescr(h.logs[i]->rel), rsinfo->setDesc);
	while ((log = ws_history_next(&h)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		if (maps[h.cur] == NULL)
			tuplestore_puttupleslot(rsinfo->setResult, log->slot);
		else
		{
			HeapTuple	t = ExecCopySlotHeapTuple(log->slot);
			HeapTuple	c = execute_attr_map_tuple(t, maps[h.cur]);

			tuplestore_puttuple(rsinfo->setResult, c);
			heap_freetuple(c);
			heap_freetuple(t);
		}
	}
	ws_history_end(&h);
	ws_reader_close(&r);
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

	type = TextDatumGetCString(ws_log_col(log, EV_EVENT_TYPE, &isnull));
	if (strcmp(type, "linked") != 0 && strcmp(type, "unlinked") != 0)
		return;
	d = ws_log_col(log, EV_META, &isnull);
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
	e.hlc = ws_hlc_copy(*DatumGetHlcP(ws_log_col(log, EV_HLC, &isnull)));
	if (links->n == links->cap)
	{
		links->cap *= 2;
		links->ev = repalloc(links->ev, sizeof(WsLinkEvent) * links->cap);
	}
	links->ev[links->n++] = e;
}

/*
 * Add the link and unlink events of entity_id with hlc <= at that log's
 * table holds.
 */
static void
scan_link_events(WsReader *r, WsLog *log, Datum entity_id, text *rel, const WsHlc *at,
				 WsLinkEvents *links)
{
	IndexScanDesc scan = ws_reader_link_scan(r, log, entity_id, at);

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

	scan_link_events(r, &r->archive, entity_id, rel, at, &links);
	scan_link_events(r, &r->log, entity_id, rel, at, &links);

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
	IndexScanDesc scan = ws_reader_edges_scan(r, entity_id, rel);

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
	const WsHlc *at = moment_arg(fcinfo, 2, "the graph");
	WsReader	r;

	if (!PG_ARGISNULL(1))
	{
		(void) ws_arg_text(fcinfo, 1, "rel", 0);
		rel = PG_GETARG_TEXT_PP(1);
	}

	InitMaterializedSRF(fcinfo, 0);
	ws_reader_open(&r, WS_READ_ENTITIES | (at ? 0 : WS_READ_RELATIONSHIPS));
	if (ws_reader_entity(&r, entity_id) && entity_alive(&r, at))
	{
		if (at)
			neighbors_at(&r, rsinfo, entity_id, rel, at);
		else
			neighbors_now(&r, rsinfo, entity_id, rel);
	}
	ws_reader_close(&r);
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
