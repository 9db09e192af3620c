/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *		Snapshots, recovery, verification, the world digest and archival.
 *
 * A snapshot copies every entity and relationship at one HLC.  To make
 * "at one HLC" exact, creation takes a SHARE lock on ws.entities: it waits
 * for every transaction that is changing entities to finish and holds off
 * new ones while the copy is made, so each change either precedes the
 * snapshot's HLC and is in the copy, or follows it.  The copy carries a
 * SHA-256 checksum of its rows' canonical text and a format version (the
 * format says how the checksum was made); a snapshot whose checksum no
 * longer matches is refused when restoring.
 *
 * Recovery restores a snapshot's rows and replays every later event from
 * the log -- state by merge patch, retirement, and links in HLC order --
 * rebuilds the keyframes of the events it replays (ws.keyframes is
 * derived) and verifies what it rebuilt; without a snapshot it replays
 * the whole log and verifies the whole log.  Verification folds each
 * entity's events in HLC order from its first and compares the keyframes
 * (state and position) and the current row (state, retired, version: the
 * number of events).  A restore from a snapshot checks what it rebuilt: the
 * checksum vouches for the snapshot's rows, and the replay of each entity
 * with events after the snapshot, from its snapshot row through those
 * events, checks them as it folds them; so recovery costs the events
 * after the snapshot, not the whole log again.  Rows already as the
 * restore would write them are left alone.
 *
 * Archival moves events that a kept snapshot covers to ws.events_archive,
 * keeping each entity's events from its last keyframe before the boundary
 * on, so point queries after it still need no archived event; keyframes
 * are never archived.  The boundary must be stable (stable.c): at or below
 * ws.stable_hlc(), where no event can arrive any more.  Horizon events
 * before it go to the archive too.
 *
 * On a node with peers, a snapshot taken above ws.stable_hlc() -- any
 * snapshot of the present, as the stable past lags behind -- is noted
 * with a NOTICE: events of peers at or below its HLC may still arrive,
 * which it will not hold.  So is ws.state_hash(at) above it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "broadcast.h"
#include "canon.h"
#include "clock.h"
#include "hlc.h"
#include "converge.h"
#include "fold.h"
#include "progress.h"
#include "reader.h"
#include "settings.h"
#include "spi.h"
#include "stable.h"
#include "transition.h"
#include "util.h"
#include "args.h"
#include "snapshot.h"
#include "writer.h"

PG_FUNCTION_INFO_V1(snapshot_create);
PG_FUNCTION_INFO_V1(snapshot_restore);
PG_FUNCTION_INFO_V1(world_verify);
PG_FUNCTION_INFO_V1(world_state_hash);
PG_FUNCTION_INFO_V1(events_archive);
PG_FUNCTION_INFO_V1(snapshot_cycle_now);
PG_FUNCTION_INFO_V1(snapshot_delete);

/*
 * An incremental SHA-256 over canonical rows: of their text one after the
 * other, or (by_row) of each row's own SHA-256 summed over the rows of a
 * query, which does not depend on the order they come in.
 */
typedef struct WsDigest
{
	pg_cryptohash_ctx *ctx;
	pg_cryptohash_ctx *row;		/* by row: the digest of the current row */
	uint8		sum[PG_SHA256_DIGEST_LENGTH];	/* by row: of the rows so far */
} WsDigest;

static void
digest_begin(WsDigest *d, bool by_row)
{
	d->ctx = pg_cryptohash_create(PG_SHA256);
	if (d->ctx == NULL || pg_cryptohash_init(d->ctx) < 0)
		elog(ERROR, "could not initialise SHA-256");
	d->row = by_row ? pg_cryptohash_create(PG_SHA256) : NULL;
	if (by_row && d->row == NULL)
		elog(ERROR, "could not initialise SHA-256");
	memset(d->sum, 0, sizeof(d->sum));
}

static void
digest_add(WsDigest *d, const char *s, size_t len)
{
	if (pg_cryptohash_update(d->row ? d->row : d->ctx, (const uint8 *) s, len) < 0)
		elog(ERROR, "could not compute SHA-256");
}

/* By row: a row begins. */
static void
digest_row_begin(WsDigest *d)
{
	if (d->row && pg_cryptohash_init(d->row) < 0)
		elog(ERROR, "could not initialise SHA-256");
}

/*
 * By row: a row ends; its digest, read as a 256-bit big-endian number, is
 * added to the sum, modulo 2^256.
 */
static void
digest_row_end(WsDigest *d)
{
	uint8		raw[PG_SHA256_DIGEST_LENGTH];
	unsigned int carry = 0;

	if (d->row == NULL)
		return;
	if (pg_cryptohash_final(d->row, raw, sizeof(raw)) < 0)
		elog(ERROR, "could not compute SHA-256");
	for (int i = PG_SHA256_DIGEST_LENGTH - 1; i >= 0; i--)
	{
		carry += (unsigned int) d->sum[i] + raw[i];
		d->sum[i] = (uint8) carry;
		carry >>= 8;
	}
}

/* By row: the rows of a query end; their number and sum go to the digest. */
static void
digest_rows_end(WsDigest *d, int64 rows)
{
	char		count[32];
	int			len;

	if (d->row == NULL)
		return;
	len = snprintf(count, sizeof(count), INT64_FORMAT "\n", rows);
	if (pg_cryptohash_update(d->ctx, (const uint8 *) count, len) < 0 ||
		pg_cryptohash_update(d->ctx, d->sum, sizeof(d->sum)) < 0)
		elog(ERROR, "could not compute SHA-256");
	memset(d->sum, 0, sizeof(d->sum));
}

/* The hex digest; frees the contexts. */
static char *
digest_end(WsDigest *d)
{
	uint8		raw[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);

	if (pg_cryptohash_final(d->ctx, raw, sizeof(raw)) < 0)
		elog(ERROR, "could not compute SHA-256");
	pg_cryptohash_free(d->ctx);
	if (d->row)
		pg_cryptohash_free(d->row);
	hex_encode((const char *) raw, sizeof(raw), hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

/*
 * Feed every row of a query into the digest, each as its columns' text
 * (their types' output functions, as SPI_getvalue gives it) separated by
 * tabs, rows by newlines.  The query must order its rows.  The output
 * functions are looked up once, and each row's text is freed after it is
 * digested.  Returns the number of rows.
 */
static int64
digest_query(WsDigest *d, const char *sql, int nargs, Oid *types, Datum *args)
{
	Portal		portal;
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate digest row",
												  ALLOCSET_DEFAULT_SIZES);
	FmgrInfo   *out = NULL;
	int64		rows = 0;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\"", sql);
	portal = SPI_cursor_open(NULL, plan, args, NULL, false);
	for (;;)
	{
		TupleDesc	desc;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		desc = SPI_tuptable->tupdesc;
		if (out == NULL)
		{
			out = palloc(desc->natts * sizeof(FmgrInfo));
			for (int c = 0; c < desc->natts; c++)
			{
				Oid			func;
				bool		varlena;

				getTypeOutputInfo(TupleDescAttr(desc, c)->atttypid, &func, &varlena);
				fmgr_info(func, &out[c]);
			}
		}
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			MemoryContext old = MemoryContextSwitchTo(row_cxt);

			digest_row_begin(d);
			for (int c = 1; c <= desc->natts; c++)
			{
				bool		isnull;
				Datum		v = heap_getattr(tup, c, desc, &isnull);

				if (c > 1)
					digest_add(d, "\t", 1);
				if (isnull)
					digest_add(d, "\\N", 2);
				else
				{
					char	   *text = OutputFunctionCall(&out[c - 1], v);

					digest_add(d, text, strlen(text));
				}
			}
			digest_add(d, "\n", 1);
			digest_row_end(d);
			MemoryContextSwitchTo(old);
			MemoryContextReset(row_cxt);
			ws_progress_count(++rows);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	MemoryContextDelete(row_cxt);
	digest_rows_end(d, rows);
	return rows;
}

/* The bigint a one-value query returns: a total for ws.progress. */
static int64
count_of(const char *sql, int nargs, Oid *types, Datum *args, const char *nulls)
{
	bool		isnull;

	ws_exec(sql, nargs, types, args, nulls, SPI_OK_SELECT);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The canonical checksum of a stored snapshot in format `format`: a
 * SHA-256 of the text of its entities' rows, then of its relationships'.
 * Format 1 digests them one after the other in byte order of their keys;
 * format 2 digests each row apart and sums the digests (digest_row_end),
 * so the rows are read as they come, not sorted -- a damaged row still
 * changes the sum, and the number of rows is digested with it.
 */
static char *
snapshot_checksum(int64 id, int format)
{
	WsDigest	d;
	Oid			t[1] = {INT8OID};
	Datum		a[1] = {Int64GetDatum(id)};
	bool		sorted = format == 1;

	digest_begin(&d, !sorted);
	digest_query(&d, psprintf("SELECT entity_id, kind, module, version, retired, state::pg_catalog.text,"
							  " hlc, vclock, created_hlc FROM ws.snapshot_entities"
							  " WHERE snapshot_id OPERATOR(pg_catalog.=) $1%s",
							  sorted ? " ORDER BY entity_id COLLATE pg_catalog.\"C\"" : ""), 1, t, a);
	if (sorted)
		digest_add(&d, "--\n", 3);
	digest_query(&d, psprintf("SELECT from_id, rel, to_id, props::pg_catalog.text, hlc"
							  " FROM ws.snapshot_relationships WHERE snapshot_id OPERATOR(pg_catalog.=) $1%s",
							  sorted ? " ORDER BY from_id COLLATE pg_catalog.\"C\", rel COLLATE pg_catalog.\"C\","
							  " to_id COLLATE pg_catalog.\"C\"" : ""), 1, t, a);
	return digest_end(&d);
}

/*
 * Check that snapshot `id` exists, is of a format this build reads and
 * matches its checksum; returns its HLC.  Inside SPI, as the owner.
 */
static WsHlc
snapshot_check(int64 id)
{
	Oid			t[1] = {INT8OID};
	Datum		a[1] = {Int64GetDatum(id)};
	bool		isnull;
	char	   *stored;
	int32		format;
	WsHlc		hlc;

	ws_exec("SELECT hlc, checksum, format_version FROM ws.snapshots WHERE id OPERATOR(pg_catalog.=) $1",
			1, t, a, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("snapshot " INT64_FORMAT " does not exist", id),
				 errhint("ws.snapshots lists the snapshots and their ids; NULL replays the whole event log.")));
	hlc = *DatumGetHlcP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	stored = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	format = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	if (!ws_snapshot_format_read(format))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snapshot " INT64_FORMAT " has format version %d, this build reads %d to %d",
						id, format, WS_SNAPSHOT_FORMAT_OLDEST, WS_SNAPSHOT_FORMAT),
				 errhint("Recover from the event log alone with ws.restore_snapshot(NULL).")));
	if (stored == NULL || strcmp(stored, snapshot_checksum(id, format)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snapshot " INT64_FORMAT " is damaged: its checksum does not match its contents", id),
				 errhint("Recover from the event log alone with ws.restore_snapshot(NULL).")));
	return hlc;
}

/*
 * Broadcast a snapshot message, authenticated (broadcast.c) and
 * transactional: it arrives with the commit.
 */
static void
announce(const char *kind, int64 id, const WsHlc *hlc, int64 entities)
{
	char	   *members = psprintf("\"snapshot_id\":" INT64_FORMAT
								   ",\"hlc\":\"%s\",\"entities\":" INT64_FORMAT ",\"origin\":%d",
								   id, ws_hlc_to_cstring(hlc), entities, ws_node_id);

	(void) ws_broadcast_emit(kind, NULL, members, true);
	pfree(members);
}

/*
 * Take a snapshot; returns its id.  Must be called as the owner of schema
 * ws, inside SPI.
 *
 * The copy must be read after the SHARE lock is granted, so only by a
 * statement snapshot: a transaction snapshot (REPEATABLE READ,
 * SERIALIZABLE) was taken before the lock, misses the changes committed
 * while it waited, and would record a copy that is not the world at its
 * HLC -- with a valid checksum, failing only when it is restored.  Such
 * transactions are refused, as ws.poll refuses them.
 */
int64
ws_snapshot_take(const char *label)
{
	Oid			t3[3] = {TEXTOID, ws_type_oid("hlc"), INT4OID};
	Datum		a3[3];
	bool		isnull;
	int64		id;
	int64		entities;
	WsHlc		hlc;
	char	   *checksum;
	Oid			t1[1] = {INT8OID};
	Datum		a1[1];

	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a snapshot cannot be taken in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("Its copy must be read after it has waited for the changes in flight, which a transaction snapshot is not."),
				 errhint("Call ws.create_snapshot() in a READ COMMITTED transaction.")));

	/* every change in flight finishes first; new ones wait for us */
	ws_exec("LOCK TABLE ws.entities IN SHARE MODE", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	hlc = ws_clock_now();

	a3[0] = label ? CStringGetTextDatum(label) : (Datum) 0;
	a3[1] = HlcPGetDatum(&hlc);
	a3[2] = Int32GetDatum(WS_SNAPSHOT_FORMAT);
	ws_exec("INSERT INTO ws.snapshots (label, hlc, format_version)"
			" VALUES ($1, $2, $3) RETURNING id", 3, t3, a3,
			label ? NULL : "n  ", SPI_OK_INSERT_RETURNING);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	announce("snapshot_start", id, &hlc, 0);

	a1[0] = Int64GetDatum(id);
	ws_exec("INSERT INTO ws.snapshot_entities"
			" SELECT $1, entity_id, kind, module, state, version, hlc, vclock, created_hlc, retired"
			" FROM ws.entities", 1, t1, a1, NULL, SPI_OK_INSERT);
	entities = (int64) SPI_processed;
	ws_exec("INSERT INTO ws.snapshot_relationships"
			" SELECT $1, from_id, rel, to_id, props, hlc FROM ws.relationships",
			1, t1, a1, NULL, SPI_OK_INSERT);

	checksum = snapshot_checksum(id, WS_SNAPSHOT_FORMAT);
	{
		Oid			t[3] = {INT8OID, INT8OID, TEXTOID};
		Datum		a[3] = {Int64GetDatum(id), Int64GetDatum(entities), CStringGetTextDatum(checksum)};

		ws_exec("UPDATE ws.snapshots SET entity_count = $2, checksum = $3"
				" WHERE id OPERATOR(pg_catalog.=) $1", 3, t, a, NULL, SPI_OK_UPDATE);
	}
	announce("snapshot_complete", id, &hlc, entities);
	return id;
}

/*
 * Delete all but the newest `keep` snapshots; returns how many went.
 * Inside SPI, as the owner.
 */
int64
ws_snapshot_prune(int keep)
{
	Oid			t[1] = {INT4OID};
	Datum		a[1] = {Int32GetDatum(keep)};

	ws_exec("DELETE FROM ws.snapshots WHERE NOT id OPERATOR(pg_catalog.=) ANY"
			" (ARRAY(SELECT id FROM ws.snapshots ORDER BY id DESC LIMIT $1))",
			1, t, a, NULL, SPI_OK_DELETE);
	return (int64) SPI_processed;
}

/*
 * One cycle of the snapshot schedule: take a snapshot, keep the newest
 * `retention`.  Returns the new snapshot's id.
 */
int64
ws_snapshot_cycle(int retention)
{
	WsAsOwner	saved;
	int64		id;

	SPI_connect();
	ws_as_owner_begin(&saved);
	id = ws_snapshot_take("scheduled");
	ws_snapshot_prune(retention);
	ws_as_owner_end(&saved);
	SPI_finish();
	return id;
}

/*
 * ws.run_snapshot_worker_now() -> bigint: run the worker's snapshot cycle
 * in this session now (tests, operators); returns the snapshot id.
 */
Datum
snapshot_cycle_now(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(ws_snapshot_cycle(ws_snapshot_retention));
}

/* ws.create_snapshot(label text) -> bigint */
Datum
snapshot_create(PG_FUNCTION_ARGS)
{
	char	   *label = PG_ARGISNULL(0) ? NULL : TextDatumGetCString(PG_GETARG_DATUM(0));
	WsAsOwner	saved;
	int64		id;

	SPI_connect();
	ws_as_owner_begin(&saved);
	id = ws_snapshot_take(label);
	{
		Oid			t[1] = {INT8OID};
		Datum		a[1] = {Int64GetDatum(id)};
		bool		isnull;

		ws_exec("SELECT hlc FROM ws.snapshots WHERE id OPERATOR(pg_catalog.=) $1",
				1, t, a, NULL, SPI_OK_SELECT);
		ws_stable_note_tentative(DatumGetHlcP(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 1, &isnull)),
								 "the snapshot");
	}
	ws_as_owner_end(&saved);
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* Problems found by verification, as (entity_id, problem) pairs. */
typedef struct WsProblems
{
	Tuplestorestate *store;
	TupleDesc	desc;
	int64		count;
	bool		hold;			/* keep them in `held` (one entity's) */
	List	   *held;			/* of char * pairs: entity_id, problem */
	MemoryContext cxt;			/* where `held` lives */
} WsProblems;

static void
problem(WsProblems *p, const char *entity_id, const char *fmt,...) pg_attribute_printf(3, 4);

static void
problem(WsProblems *p, const char *entity_id, const char *fmt,...)
{
	StringInfoData msg;
	Datum		v[2];
	bool		n[2] = {false, false};
	va_list		args;

	initStringInfo(&msg);
	va_start(args, fmt);
	ws_append_vformat(&msg, fmt, args);
	va_end(args);
	if (p->hold)
	{
		MemoryContext old = MemoryContextSwitchTo(p->cxt);

		p->held = lappend(p->held, pstrdup(entity_id));
		p->held = lappend(p->held, pstrdup(msg.data));
		MemoryContextSwitchTo(old);
		return;
	}
	v[0] = CStringGetTextDatum(entity_id);
	v[1] = CStringGetTextDatum(msg.data);
	tuplestore_putvalues(p->store, p->desc, v, n);
	p->count++;
}

static void report_held(WsProblems *p, const char *entity_id);

/*
 * Bring every entity whose history has concurrent events (each has a
 * conflict recorded) to the fold of several nodes: a replay folds patches
 * one after the other, which is their fold only where no events met.
 */
static void
refold_converged(void)
{
	SPITupleTable *ids;
	uint64		n;

	ws_exec("SELECT DISTINCT entity_id FROM ws.conflicts WHERE entity_id IS NOT NULL"
			" UNION SELECT DISTINCT entity_id FROM ws.pending WHERE entity_id IS NOT NULL",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	ids = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
		(void) ws_converge_entity(SPI_getvalue(ids->vals[i], ids->tupdesc, 1), false);
}

/*
 * Report the problems held for the entities whose replay found them, one
 * entity after the other (report_held).
 */
static void
report_held_all(WsProblems *p)
{
	List	   *held = p->held;
	int			start = 0;

	p->held = NIL;
	while (start + 1 < list_length(held))
	{
		const char *eid = list_nth(held, start);
		int			end = start;

		MemoryContext old = MemoryContextSwitchTo(p->cxt);

		p->held = NIL;
		while (end + 1 < list_length(held) && strcmp(list_nth(held, end), eid) == 0)
		{
			p->held = lappend(p->held, list_nth(held, end));
			p->held = lappend(p->held, list_nth(held, end + 1));
			end += 2;
		}
		MemoryContextSwitchTo(old);
		report_held(p, eid);
		start = end;
	}
	p->hold = false;
}

/*
 * Report the problems held for one entity, unless the fold of several
 * nodes explains them: where concurrent events met, the state and its
 * keyframes are the canonical fold's (converge.c), which the plain fold of
 * patches here does not reproduce.  Only entities that show a problem are
 * folded again that way.
 */
static void
report_held(WsProblems *p, const char *entity_id)
{
	Oid			t[1] = {TEXTOID};
	Datum		a[1];
	bool		met;

	if (p->held == NIL)
		return;
	p->hold = false;
	/* only where events met (a conflict, or an event waiting) */
	a[0] = CStringGetTextDatum(entity_id);
	ws_exec("SELECT FROM ws.conflicts WHERE entity_id OPERATOR(pg_catalog.=) $1"
			" UNION ALL SELECT FROM ws.pending WHERE entity_id OPERATOR(pg_catalog.=) $1 LIMIT 1",
			1, t, a, NULL, SPI_OK_SELECT);
	met = SPI_processed > 0;
	if (!met || ws_converge_entity(entity_id, true) != NULL)
		for (int i = 0; i + 1 < list_length(p->held); i += 2)
			problem(p, (const char *) list_nth(p->held, i), "%s",
					(const char *) list_nth(p->held, i + 1));
	list_free(p->held);
	p->held = NIL;
	p->hold = true;
}

/*
 * Check the keyframe row at an entity's event, the pos-th in HLC order
 * (kf_version, kf_state and kf_retired its columns), against the fold
 * through that event and the retired flag of the events so far: each
 * keyframe must be what a reader folding from the start would have
 * there, as its place (version) too.
 */
static void
check_keyframe(WsProblems *p, const char *entity_id, WsFold *fold, int64 pos, bool retired,
			   int64 kf_version, Datum kf_state, bool kf_retired)
{
	if (kf_version != pos)
		problem(p, entity_id, "keyframe at event " INT64_FORMAT " says version " INT64_FORMAT,
				pos, kf_version);
	if (ws_fold_started(fold) &&
		compareJsonbContainers(&DatumGetJsonbP(kf_state)->root, &ws_fold_state(fold)->root) != 0)
		problem(p, entity_id, "keyframe at event " INT64_FORMAT " differs from the fold through it", pos);
	if (kf_retired != retired)
		problem(p, entity_id, "keyframe at event " INT64_FORMAT " has another retired flag than its events",
				pos);
}

/*
 * Check the keyframe columns of a row of the replay or verification
 * queries, from column `col` on (keyframe present, version, state,
 * retired), at the pos-th event: a keyframe is compared with the fold,
 * and the first event must have one, where every reader starts.
 */
static void
check_keyframe_cols(WsProblems *p, const char *entity_id, WsFold *fold, int64 pos, bool retired,
					HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;

	if (!DatumGetBool(SPI_getbinval(tup, desc, col, &isnull)))
	{
		if (pos == 1)
			problem(p, entity_id, "no keyframe at its first event");
		return;
	}
	check_keyframe(p, entity_id, fold, pos, retired,
				   DatumGetInt64(SPI_getbinval(tup, desc, col + 1, &isnull)),
				   SPI_getbinval(tup, desc, col + 2, &isnull),
				   DatumGetBool(SPI_getbinval(tup, desc, col + 3, &isnull)));
}

/* One entity being rebuilt from the log. */
typedef struct WsReplay
{
	char	   *entity_id;
	char	   *kind;
	char	   *module;
	Jsonb	   *state;
	int64		version;
	Datum		hlc;
	Datum		vclock;
	Datum		created_hlc;
	bool		retired;
} WsReplay;

/*
 * Write a rebuilt entity through the writer: its row replaced, or
 * inserted when there is none; with rebuilt (a restore from a snapshot),
 * only when the row there is not already this one, and its id is
 * added to rebuilt.  Nothing before the first entity.
 */
static void
put_replayed(WsWriter *w, const WsReplay *r, WsIdSet *rebuilt)
{
	Datum		v[EN_NCOLS];
	bool		n[EN_NCOLS];

	if (r->entity_id == NULL)
		return;
	memset(n, 0, sizeof(n));
	v[EN_ENTITY_ID] = CStringGetTextDatum(r->entity_id);
	v[EN_KIND] = r->kind ? CStringGetTextDatum(r->kind) : (Datum) 0;
	n[EN_KIND] = r->kind == NULL;
	v[EN_MODULE] = r->module ? CStringGetTextDatum(r->module) : (Datum) 0;
	n[EN_MODULE] = r->module == NULL;
	v[EN_STATE] = JsonbPGetDatum(r->state);
	n[EN_STATE] = r->state == NULL;
	v[EN_VERSION] = Int64GetDatum(r->version);
	v[EN_HLC] = r->hlc;
	v[EN_VCLOCK] = r->vclock;
	v[EN_CREATED_HLC] = r->created_hlc;
	n[EN_CREATED_HLC] = r->created_hlc == (Datum) 0;
	v[EN_RETIRED] = BoolGetDatum(r->retired);
	if (rebuilt == NULL)
		ws_writer_put_entity(w, v, n);
	else
	{
		(void) ws_writer_put_entity_if_changed(w, v, n);
		ws_idset_add(rebuilt, cstring_to_text(r->entity_id));
	}
}

/*
 * Write the keyframe of a rebuilt entity at its event (the first, and
 * every worldstate.keyframe_interval-th): its position, the fold so far.
 */
static void
put_replayed_keyframe(WsWriter *w, const WsReplay *r, WsFold *fold)
{
	Datum		v[KF_NCOLS];
	bool		n[KF_NCOLS];

	if (!ws_writer_has_keyframes(w) || !ws_fold_started(fold))
		return;
	memset(n, 0, sizeof(n));
	v[KF_ENTITY_ID] = CStringGetTextDatum(r->entity_id);
	v[KF_HLC] = r->hlc;
	v[KF_VERSION] = Int64GetDatum(r->version);
	v[KF_STATE] = JsonbPGetDatum(ws_fold_state(fold));
	v[KF_VCLOCK] = r->vclock;
	v[KF_RETIRED] = BoolGetDatum(r->retired);
	ws_writer_put_keyframe(w, v, n);
}

/* Write one edge as its last link or unlink left it (a row of replay_edges). */
static void
replay_edge(WsWriter *w, HeapTuple tup, TupleDesc desc)
{
	Datum		v[RL_NCOLS];
	bool		n[RL_NCOLS];
	bool		isnull;
	Datum		props;

	for (int c = 0; c < RL_NCOLS; c++)
		v[c] = SPI_getbinval(tup, desc, c + 1, &n[c]);
	if (DatumGetBool(SPI_getbinval(tup, desc, RL_NCOLS + 1, &isnull)))
		ws_writer_put_link(w, v, n);
	else
		(void) ws_writer_delete_link(w, TextDatumGetCString(v[RL_FROM_ID]),
									 TextDatumGetCString(v[RL_REL]),
									 TextDatumGetCString(v[RL_TO_ID]), &props);
}

/*
 * Replay the links and unlinks after `after` (all when NULL) onto
 * ws.relationships: each edge as its last link or unlink leaves it.  The
 * writer runs no SPI, so SPI_tuptable stays the cursor's.
 */
static void
replay_edges(WsWriter *w, Oid *types, Datum *args, const char *nulls)
{
	SPIPlanPtr	plan;
	Portal		portal;
	MemoryContext edge_cxt;
	MemoryContext old;

	/* the columns of ws.relationships in WsRelationshipCol order, then linked */
	plan = SPI_prepare("SELECT DISTINCT ON (entity_id, meta->>'rel', meta->>'to')"
					   "   entity_id, meta->>'rel', meta->>'to', meta->'props', hlc,"
					   "   event_type = 'linked'"
					   " FROM ws.events WHERE ($1 IS NULL OR hlc OPERATOR(ws.>) $1)"
					   "   AND event_type IN ('linked', 'unlinked') AND entity_id IS NOT NULL"
					   " ORDER BY entity_id, meta->>'rel', meta->>'to', hlc DESC", 1, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the replay of relationships");
	edge_cxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate replay edge",
									 ALLOCSET_DEFAULT_SIZES);
	portal = SPI_cursor_open(NULL, plan, args, nulls, true);
	do
	{
		SPI_cursor_fetch(portal, true, 1000);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			old = MemoryContextSwitchTo(edge_cxt);
			replay_edge(w, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
			MemoryContextSwitchTo(old);
			MemoryContextReset(edge_cxt);
		}
		SPI_freetuptable(SPI_tuptable);
	} while (SPI_processed > 0);
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	MemoryContextDelete(edge_cxt);
}

/*
 * Replay the entities' events after `after`, the HLC of snapshot
 * snapshot_id (all events when NULL), onto ws.entities through writer w,
 * the table held in EXCLUSIVE mode by the caller; returns the number of
 * events replayed.  Events come in (entity, HLC) order, each entity's row
 * in the snapshot, where its fold starts, joined to them; each rebuilt
 * row is written as soon as its entity's events are folded, replacing the
 * row there or inserted.  An entity's version is its number of events:
 * the snapshot row's, plus one per event replayed.
 *
 * The keyframes of the events replayed are rebuilt: those after `after`
 * are deleted (all, for a full replay) and one is written at the first
 * event of each entity and at every worldstate.keyframe_interval-th.
 *
 * After a snapshot (p and rebuilt given), the replay also verifies what it
 * rebuilds, as ws.verify() would from the snapshot's row on: each
 * keyframe row that was there equals the fold through its event, at its
 * position; problems go to p.  A rebuilt row is written only where the
 * row there is not already exactly it, so afterwards every rebuilt
 * entity's row is its fold; the ids of the rebuilt entities go to
 * rebuilt.
 */
static int64
replay_entities(WsWriter *w, int64 snapshot_id, const WsHlc *after, WsProblems *p,
				WsIdSet *rebuilt)
{
	Oid			hlct = ws_type_oid("hlc");
	Oid			t[2] = {hlct, INT8OID};
	Datum		a[2] = {after ? HlcPGetDatum(after) : (Datum) 0, Int64GetDatum(snapshot_id)};
	const char *nulls = after ? NULL : "nn";
	SPIPlanPtr	scan;
	Portal		portal;
	MemoryContext entity_cxt;
	MemoryContext old;
	WsReplay	r;
	WsFold		fold;
	int64		replayed = 0;

	/* columns 15 to 18, the keyframes there, are read only to check them */
	scan = SPI_prepare(psprintf("SELECT e.entity_id, e.version, e.hlc, e.kind, e.module, e.event_type,"
								" e.patch, e.vclock, cur.entity_id IS NOT NULL, cur.state,"
								" cur.created_hlc, cur.retired, cur.version, cur.hlc, %s"
								" FROM ws.events e LEFT JOIN ws.snapshot_entities cur"
								"   ON cur.snapshot_id OPERATOR(pg_catalog.=) $2"
								"   AND cur.entity_id OPERATOR(pg_catalog.=) e.entity_id"
								" %s"
								" WHERE ($1 IS NULL OR e.hlc OPERATOR(ws.>) $1)"
								"   AND e.entity_id IS NOT NULL"	/* not events of the bus */
								" ORDER BY e.entity_id, e.hlc",
								p ? "k.entity_id IS NOT NULL, k.version, k.state, k.retired" :
								"false, NULL::pg_catalog.int8, NULL::pg_catalog.jsonb, NULL::pg_catalog.bool",
								p ? "LEFT JOIN ws.keyframes k ON k.entity_id OPERATOR(pg_catalog.=) e.entity_id"
								"   AND k.hlc OPERATOR(ws.=) e.hlc" : ""), 2, t);
	if (scan == NULL)
		elog(ERROR, "could not prepare the replay");
	ws_progress_phase("replaying events",
					  count_of("SELECT pg_catalog.count(*) FROM ws.events e"
							   " WHERE ($1 IS NULL OR e.hlc OPERATOR(ws.>) $1)"
							   " AND e.entity_id IS NOT NULL", 1, t, a, nulls));

	entity_cxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate replay",
									   ALLOCSET_DEFAULT_SIZES);
	ws_fold_begin(&fold);
	memset(&r, 0, sizeof(r));
	/* the cursor reads the keyframes as they were; they are rebuilt */
	portal = SPI_cursor_open(NULL, scan, a, nulls, false);
	if (ws_writer_has_keyframes(w))
		ws_exec("DELETE FROM ws.keyframes WHERE $1 IS NULL OR hlc OPERATOR(ws.>) $1",
				1, t, a, nulls, SPI_OK_DELETE);
	for (;;)
	{
		SPITupleTable *tuples;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, 1000);
		/* the rows fetched, kept apart from SPI_tuptable / SPI_processed */
		tuples = SPI_tuptable;
		nrows = SPI_processed;
		if (nrows == 0)
			break;
		for (uint64 i = 0; i < nrows; i++)
		{
			HeapTuple	tup = tuples->vals[i];
			TupleDesc	desc = tuples->tupdesc;
			bool		isnull;
			char	   *entity_id = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
			char	   *event_type;
			Datum		patch;

			old = MemoryContextSwitchTo(entity_cxt);
			if (r.entity_id == NULL || strcmp(r.entity_id, entity_id) != 0)
			{
				r.state = ws_fold_state(&fold);
				put_replayed(w, &r, rebuilt);
				MemoryContextReset(entity_cxt);
				ws_fold_reset(&fold);
				memset(&r, 0, sizeof(r));
				r.entity_id = pstrdup(entity_id);
				/* the entity's row in the snapshot, if any, is where the fold starts */
				if (DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull)))
				{
					r.kind = TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull));
					r.module = TextDatumGetCString(SPI_getbinval(tup, desc, 5, &isnull));
					ws_fold_keyframe(&fold, SPI_getbinval(tup, desc, 10, &isnull));
					r.created_hlc = datumCopy(SPI_getbinval(tup, desc, 11, &isnull), false, sizeof(WsHlc));
					r.retired = DatumGetBool(SPI_getbinval(tup, desc, 12, &isnull));
					r.version = DatumGetInt64(SPI_getbinval(tup, desc, 13, &isnull));
				}
			}
			event_type = TextDatumGetCString(SPI_getbinval(tup, desc, 6, &isnull));
			patch = SPI_getbinval(tup, desc, 7, &isnull);
			r.version++;
			r.hlc = datumCopy(SPI_getbinval(tup, desc, 3, &isnull), false, sizeof(WsHlc));
			r.vclock = PointerGetDatum(PG_DETOAST_DATUM_COPY(SPI_getbinval(tup, desc, 8, &isnull)));
			if (r.version == 1)
			{
				r.kind = TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull));
				r.module = TextDatumGetCString(SPI_getbinval(tup, desc, 5, &isnull));
				/* the first event's patch is the initial state */
				ws_fold_keyframe(&fold, patch);
				r.created_hlc = r.hlc;
				r.retired = false;
			}
			else if (strcmp(event_type, WS_RETIRED_EVENT) == 0)
				r.retired = true;
			else
			{
				if (!ws_fold_started(&fold))
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("cannot replay entity \"%s\": its events before the one at %s are missing",
									r.entity_id, ws_hlc_to_cstring(DatumGetHlcP(r.hlc))),
							 errhint("Restore from an older snapshot, or from the whole log with ws.restore_snapshot(NULL).")));
				ws_fold_patch(&fold, patch);
			}
			if (p)
				check_keyframe_cols(p, r.entity_id, &fold, r.version, r.retired, tup, desc, 15);
			if (r.version == 1 || r.version % ws_keyframe_interval == 0)
				put_replayed_keyframe(w, &r, &fold);
			MemoryContextSwitchTo(old);
			ws_progress_count(++replayed);
		}
		SPI_freetuptable(tuples);
	}
	SPI_cursor_close(portal);
	r.state = ws_fold_state(&fold);
	put_replayed(w, &r, rebuilt);
	ws_fold_end(&fold);
	MemoryContextDelete(entity_cxt);
	SPI_freeplan(scan);
	return replayed;
}

/* An entity's row as verification found it next to its events. */
typedef struct WsRow
{
	bool		present;
	Jsonb	   *state;
	int64		version;
	bool		retired;
} WsRow;

/* Compare a folded entity with its row. */
static void
verify_entity(WsProblems *p, const char *entity_id, const WsRow *row, Jsonb *state,
			  int64 version, bool retired)
{
	if (!row->present)
	{
		problem(p, entity_id, "has events but no row in ws.entities");
		return;
	}
	if (row->version != version)
		problem(p, entity_id, "version " INT64_FORMAT " but " INT64_FORMAT " events",
				row->version, version);
	if (state == NULL || compareJsonbContainers(&row->state->root, &state->root) != 0)
		problem(p, entity_id, "state differs from the replay of its events");
	if (row->retired != retired)
		problem(p, entity_id, "retired flag differs from its events");
}

/*
 * Verify the world from the whole log, archived events included; fill p.
 * Inside SPI, as the owner.  One pass over the log in (entity, HLC)
 * order, each event joined to its entity's row and to the keyframe at
 * it, if any: the fold of the patches from the first event is compared
 * with every keyframe (ws.keyframes is derived: each row must be the fold
 * through its event, at its position, and the first event must have one)
 * and with the entity's row, whose version must be its number of events.
 * Then the rows without events and the keyframes without an event.
 * Returns the number of problems.
 */
static int64
verify_world(WsProblems *p)
{
	SPIPlanPtr	scan;
	Portal		portal;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate verify",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	char	   *entity_id = NULL;
	WsRow		row = {0};
	WsFold		fold;
	int64		version = 0;
	bool		retired = false;
	int64		checked = 0;

	scan = SPI_prepare("SELECT e.entity_id, e.event_type, e.patch,"
					   " cur.entity_id IS NOT NULL, cur.state, cur.version, cur.retired,"
					   " k.entity_id IS NOT NULL, k.version, k.state, k.retired FROM ("
					   "  SELECT entity_id, hlc, event_type, patch FROM ws.events"
					   "  UNION ALL"
					   "  SELECT entity_id, hlc, event_type, patch FROM ws.events_archive) e"
					   " LEFT JOIN ws.entities cur ON cur.entity_id OPERATOR(pg_catalog.=) e.entity_id"
					   " LEFT JOIN ws.keyframes k ON k.entity_id OPERATOR(pg_catalog.=) e.entity_id"
					   "   AND k.hlc OPERATOR(ws.=) e.hlc"
					   " WHERE e.entity_id IS NOT NULL"	/* not events of the bus */
					   " ORDER BY e.entity_id, e.hlc", 0, NULL);
	if (scan == NULL)
		elog(ERROR, "could not prepare the verification");
	ws_progress_begin("verify", "checking events",
					  count_of("SELECT (SELECT pg_catalog.count(*) FROM ws.events WHERE entity_id IS NOT NULL)"
							   " OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM ws.events_archive"
							   " WHERE entity_id IS NOT NULL)", 0, NULL, NULL, NULL));

	ws_fold_begin(&fold);
	p->hold = true;
	p->held = NIL;
	portal = SPI_cursor_open(NULL, scan, NULL, NULL, false);
	for (;;)
	{
		SPITupleTable *batch;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, 1000);
		batch = SPI_tuptable;
		nrows = SPI_processed;
		if (nrows == 0)
			break;
		for (uint64 i = 0; i < nrows; i++)
		{
			HeapTuple	tup = batch->vals[i];
			TupleDesc	desc = batch->tupdesc;
			bool		isnull;
			char	   *eid = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
			char	   *type = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
			Datum		patch = SPI_getbinval(tup, desc, 3, &isnull);

			if (entity_id == NULL || strcmp(entity_id, eid) != 0)
			{
				if (entity_id != NULL)
				{
					verify_entity(p, entity_id, &row, ws_fold_state(&fold), version, retired);
					report_held(p, entity_id);
				}
				MemoryContextReset(cxt);
				ws_fold_reset(&fold);
				old = MemoryContextSwitchTo(cxt);
				entity_id = pstrdup(eid);
				row.present = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
				if (row.present)
				{
					row.state = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 5, &isnull));
					row.version = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
					row.retired = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
				}
				version = 0;
				retired = false;
				MemoryContextSwitchTo(old);
			}
			version++;

			/*
			 * the first event's patch is the initial state; keyframes do not
			 * restart the fold, they are compared with it
			 */
			if (version == 1)
				ws_fold_keyframe(&fold, patch);
			else if (strcmp(type, WS_RETIRED_EVENT) == 0)
				retired = true;
			else if (ws_fold_started(&fold))
				ws_fold_patch(&fold, patch);
			check_keyframe_cols(p, entity_id, &fold, version, retired, tup, desc, 8);
			ws_progress_count(++checked);
		}
		SPI_freetuptable(batch);
	}
	SPI_cursor_close(portal);
	if (entity_id != NULL)
	{
		verify_entity(p, entity_id, &row, ws_fold_state(&fold), version, retired);
		report_held(p, entity_id);
	}
	p->hold = false;
	ws_fold_end(&fold);

	/* rows without any event */
	ws_exec("SELECT entity_id FROM ws.entities e WHERE NOT EXISTS"
			" (SELECT FROM ws.events v WHERE v.entity_id OPERATOR(pg_catalog.=) e.entity_id)"
			" AND NOT EXISTS (SELECT FROM ws.events_archive v"
			"  WHERE v.entity_id OPERATOR(pg_catalog.=) e.entity_id) ORDER BY 1",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		problem(p, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
				"has no events");
	/* keyframes without an event */
	ws_exec("SELECT entity_id, hlc FROM ws.keyframes k WHERE NOT EXISTS"
			" (SELECT FROM ws.events v WHERE v.entity_id OPERATOR(pg_catalog.=) k.entity_id"
			"  AND v.hlc OPERATOR(ws.=) k.hlc)"
			" AND NOT EXISTS (SELECT FROM ws.events_archive v"
			"  WHERE v.entity_id OPERATOR(pg_catalog.=) k.entity_id AND v.hlc OPERATOR(ws.=) k.hlc)"
			" ORDER BY 1, 2", 0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		problem(p, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
				"keyframe at %s has no event",
				SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	SPI_freeplan(scan);
	MemoryContextDelete(cxt);
	ws_progress_end();
	return p->count;
}

/* ws.verify() -> TABLE(entity_id text, problem text) */
Datum
world_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WsAsOwner	saved;
	WsProblems	p;

	InitMaterializedSRF(fcinfo, 0);
	p.store = rsinfo->setResult;
	p.desc = rsinfo->setDesc;
	p.count = 0;
	p.hold = false;
	p.held = NIL;
	p.cxt = CurrentMemoryContext;
	SPI_connect();
	ws_as_owner_begin(&saved);
	verify_world(&p);
	ws_as_owner_end(&saved);
	SPI_finish();
	return (Datum) 0;
}

/* A text[] of the ids gathered in ids[0 .. n - 1]. */
static Datum
id_array(Datum *ids, int64 n)
{
	return PointerGetDatum(construct_array(ids, (int) n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Make the rows of ws.entities that the replay did not rebuild (those not
 * in rebuilt) the rows of snapshot `id`.  Inside SPI, as the owner, with
 * the table held in EXCLUSIVE mode.
 *
 * One join of the snapshot's rows with the table's finds the rows that
 * differ -- present on one side only, or with any column not the same;
 * every column is compared by its text where equality is looser than
 * identity (jsonb 1.0 = 1) -- and then one DELETE, one UPDATE and one
 * INSERT at most, each of the ids it found, put them right.  Rows are not
 * deleted and inserted again: each row is a foreign key of
 * ws.relationships and refers to ws.kinds and ws.modules, so every deleted
 * or inserted row costs its foreign-key checks; a row the snapshot also
 * has is updated in place, its key unchanged (no check).
 */
static void
restore_rows(int64 id, WsIdSet *rebuilt)
{
	Oid			t[2] = {INT8OID, TEXTARRAYOID};
	Datum		a[2] = {Int64GetDatum(id), (Datum) 0};
	SPIPlanPtr	plan;
	Portal		portal;
	Datum	   *ids[3];			/* to delete, update, insert */
	int64		n[3] = {0, 0, 0};
	int64		size[3] = {0, 0, 0};
	MemoryContext keep = CurrentMemoryContext;
	MemoryContext row_cxt = AllocSetContextCreate(keep, "worldstate restore row",
												  ALLOCSET_DEFAULT_SIZES);

	plan = SPI_prepare("SELECT COALESCE(s.entity_id, e.entity_id),"
					   "  CASE WHEN s.entity_id IS NULL THEN 0 WHEN e.entity_id IS NULL THEN 2 ELSE 1 END"
					   " FROM (SELECT * FROM ws.snapshot_entities WHERE snapshot_id OPERATOR(pg_catalog.=) $1) s"
					   " FULL JOIN ws.entities e ON e.entity_id OPERATOR(pg_catalog.=) s.entity_id"
					   " WHERE s.entity_id IS NULL OR e.entity_id IS NULL"
					   "  OR NOT (e.version OPERATOR(pg_catalog.=) s.version AND e.hlc OPERATOR(ws.=) s.hlc"
					   "  AND e.retired OPERATOR(pg_catalog.=) s.retired AND e.kind OPERATOR(pg_catalog.=) s.kind"
					   "  AND e.module OPERATOR(pg_catalog.=) s.module"
					   "  AND e.created_hlc OPERATOR(ws.=) s.created_hlc"
					   "  AND e.vclock::pg_catalog.text OPERATOR(pg_catalog.=) s.vclock::pg_catalog.text"
					   "  AND e.state::pg_catalog.text OPERATOR(pg_catalog.=) s.state::pg_catalog.text)",
					   1, t);
	if (plan == NULL)
		elog(ERROR, "could not prepare the comparison with the snapshot");
	portal = SPI_cursor_open(NULL, plan, a, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			Datum		eid = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);
			int			what = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
			bool		replayed;

			/* the rows of the entities replayed differ: they are skipped */
			MemoryContextSwitchTo(row_cxt);
			replayed = ws_idset_has(rebuilt, DatumGetTextPP(eid));
			MemoryContextSwitchTo(keep);
			MemoryContextReset(row_cxt);
			if (replayed)
				continue;
			if (n[what] == size[what])
			{
				size[what] = size[what] ? size[what] * 2 : 64;
				ids[what] = n[what] ? repalloc_huge(ids[what], size[what] * sizeof(Datum)) :
					palloc_extended(size[what] * sizeof(Datum), MCXT_ALLOC_HUGE);
			}
			ids[what][n[what]++] = datumCopy(eid, false, -1);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	MemoryContextDelete(row_cxt);

	if (n[0] > 0)
	{
		a[1] = id_array(ids[0], n[0]);
		ws_exec("DELETE FROM ws.entities WHERE entity_id OPERATOR(pg_catalog.=) ANY ($2)",
				2, t, a, NULL, SPI_OK_DELETE);
	}
	if (n[1] > 0)
	{
		a[1] = id_array(ids[1], n[1]);
		ws_exec("UPDATE ws.entities e SET kind = s.kind, module = s.module, state = s.state,"
				" version = s.version, hlc = s.hlc, vclock = s.vclock, created_hlc = s.created_hlc,"
				" retired = s.retired"
				" FROM ws.snapshot_entities s WHERE s.snapshot_id OPERATOR(pg_catalog.=) $1"
				" AND s.entity_id OPERATOR(pg_catalog.=) e.entity_id"
				" AND e.entity_id OPERATOR(pg_catalog.=) ANY ($2)", 2, t, a, NULL, SPI_OK_UPDATE);
	}
	if (n[2] > 0)
	{
		a[1] = id_array(ids[2], n[2]);
		ws_exec("INSERT INTO ws.entities SELECT entity_id, kind, module, state, version, hlc,"
				" vclock, created_hlc, retired FROM ws.snapshot_entities"
				" WHERE snapshot_id OPERATOR(pg_catalog.=) $1"
				" AND entity_id OPERATOR(pg_catalog.=) ANY ($2)", 2, t, a, NULL, SPI_OK_INSERT);
	}
}

/*
 * ws.restore_snapshot(snapshot_id bigint) -> bigint: restore the snapshot
 * (NULL: none, the whole log), replay later events, verify what was
 * rebuilt (everything after a full replay); returns the number of events
 * replayed.
 *
 * From a snapshot: its checksum is checked first; the entities with events
 * after it are rebuilt and verified by the replay, from their rows in the
 * snapshot; then every other row is made the snapshot's, the snapshot's
 * relationships put back and the later links and unlinks replayed onto
 * them.  Rows already right are not written.
 */
Datum
snapshot_restore(PG_FUNCTION_ARGS)
{
	WsAsOwner	saved;
	int64		replayed;
	WsHlc		after;
	bool		have_snapshot = !PG_ARGISNULL(0);
	int64		id = have_snapshot ? PG_GETARG_INT64(0) : 0;
	Oid			t[1] = {INT8OID};
	Datum		a[1] = {Int64GetDatum(id)};
	WsWriter	w;
	WsProblems	p;
	TupleDesc	desc = CreateTemplateTupleDesc(2);

	TupleDescInitEntry(desc, 1, "entity_id", TEXTOID, -1, 0);
	TupleDescInitEntry(desc, 2, "problem", TEXTOID, -1, 0);
	p.store = tuplestore_begin_heap(false, false, work_mem);
	p.desc = desc;
	p.count = 0;
	p.hold = false;
	p.held = NIL;
	p.cxt = CurrentMemoryContext;

	SPI_connect();
	ws_as_owner_begin(&saved);
	ws_progress_begin("restore", "locking the world", WS_PROGRESS_UNKNOWN);
	ws_exec("LOCK TABLE ws.entities, ws.relationships IN EXCLUSIVE MODE", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	if (have_snapshot)
	{
		WsIdSet    *rebuilt = ws_idset_create(CurrentMemoryContext);
		Oid			hlct[1] = {ws_type_oid("hlc")};
		Datum		hlca[1];

		ws_progress_phase("checking the snapshot", WS_PROGRESS_UNKNOWN);
		after = snapshot_check(id);
		ws_exec("DELETE FROM ws.relationships", 0, NULL, NULL, NULL, SPI_OK_DELETE);
		ws_writer_begin(&w);
		p.hold = true;
		replayed = replay_entities(&w, id, &after, &p, rebuilt);
		ws_writer_end(&w);
		ws_progress_phase("restoring the snapshot", WS_PROGRESS_UNKNOWN);
		restore_rows(id, rebuilt);
		refold_converged();
		report_held_all(&p);
		ws_exec("INSERT INTO ws.relationships SELECT from_id, rel, to_id, props, hlc"
				" FROM ws.snapshot_relationships WHERE snapshot_id OPERATOR(pg_catalog.=) $1",
				1, t, a, NULL, SPI_OK_INSERT);
		hlca[0] = HlcPGetDatum(&after);
		ws_writer_begin(&w);
		replay_edges(&w, hlct, hlca, NULL);
		ws_writer_end(&w);
	}
	else
	{
		ws_exec("SELECT 1 FROM ws.events_archive LIMIT 1", 0, NULL, NULL, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the event log has been archived, so it no longer starts at the first event"),
					 errhint("Restore from a snapshot kept since the archival.")));
		ws_exec("DELETE FROM ws.relationships", 0, NULL, NULL, NULL, SPI_OK_DELETE);
		ws_exec("DELETE FROM ws.entities", 0, NULL, NULL, NULL, SPI_OK_DELETE);
		ws_writer_begin(&w);
		replayed = replay_entities(&w, 0, NULL, NULL, NULL);
		{
			Oid			hlct[1] = {ws_type_oid("hlc")};
			Datum		none[1] = {(Datum) 0};

			replay_edges(&w, hlct, none, "n");
		}
		ws_writer_end(&w);
		refold_converged();
		verify_world(&p);
	}
	if (p.count > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the restored world does not verify: " INT64_FORMAT " problems", p.count),
				 errhint("Run ws.verify() after ws.restore_snapshot(NULL) to see them.")));
	tuplestore_end(p.store);
	ws_progress_end();
	ws_as_owner_end(&saved);
	SPI_finish();
	PG_RETURN_INT64(replayed);
}

/*
 * ws.state_hash(at ws.hlc or timestamptz) -> text: SHA-256 of every
 * entity's id, version, retired flag and canonical state, in id order; now,
 * or as of an HLC.  Retired entities count, now and in the past alike, so
 * ws.state_hash() equals ws.state_hash(ws.hlc_now()) while nothing
 * changes.  Equal on any two databases holding the same events.
 */
Datum
world_state_hash(PG_FUNCTION_ARGS)
{
	MemoryContext outer = CurrentMemoryContext;
	WsAsOwner	saved;
	WsDigest	d;
	char	   *hex;
	text	   *result;

	SPI_connect();
	ws_as_owner_begin(&saved);
	digest_begin(&d, false);
	ws_progress_begin("state_hash", "hashing entities", WS_PROGRESS_UNKNOWN);
	if (PG_ARGISNULL(0))
		digest_query(&d, "SELECT entity_id, version, retired, state::text FROM ws.entities"
					 " ORDER BY entity_id COLLATE \"C\"", 0, NULL, NULL);
	else
	{
		Oid			t[1] = {ws_type_oid("hlc")};
		Datum		a[1] = {HlcPGetDatum(ws_arg_moment(fcinfo, 0, true))};

		ws_stable_note_tentative(DatumGetHlcP(a[0]), "the state hash");

		/*
		 * The entities alive then, as they were, and those retired by then
		 * as their present rows (retirement is final), like the present.
		 */
		digest_query(&d, "SELECT * FROM ("
					 " SELECT entity_id, version, retired, state::text FROM ws.entities_at($1)"
					 " UNION ALL"
					 " SELECT entity_id, version, retired, state::text FROM ws.entities"
					 " WHERE retired AND hlc OPERATOR(ws.<=) $1) w"
					 " ORDER BY entity_id COLLATE \"C\"", 1, t, a);
	}
	ws_progress_end();
	hex = digest_end(&d);
	/* SPI calls leave us in SPI's context, which SPI_finish frees */
	MemoryContextSwitchTo(outer);
	result = cstring_to_text(hex);
	ws_as_owner_end(&saved);
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}

/*
 * Move the events before "before" that each entity's last keyframe before
 * it makes unnecessary to ws.events_archive; return how many moved.  The
 * keyframes stay in ws.keyframes: a point query before the kept keyframe
 * starts from an earlier one and folds archived events (reader.c).  The
 * entities are taken ARCHIVE_BATCH at a time, so ws.progress shows how
 * many of them are done out of how many.  Runs in SPI, as the owner, with
 * the append-only guard suspended.
 */
#define ARCHIVE_BATCH 1000

static int64
archive_move(Datum before)
{
	Oid			t[2] = {ws_type_oid("hlc"), TEXTARRAYOID};
	Datum		a[2] = {before, 0};
	SPITupleTable *keep;
	uint64		nkeep;
	SPIPlanPtr	plan;
	int64		moved = 0;

	ws_progress_begin("archive", "finding the keyframes to keep", WS_PROGRESS_UNKNOWN);
	ws_exec("SELECT DISTINCT entity_id FROM ws.keyframes"
			" WHERE hlc OPERATOR(ws.<) $1 ORDER BY entity_id", 1, t, a, NULL, SPI_OK_SELECT);
	keep = SPI_tuptable;
	nkeep = SPI_processed;
	plan = SPI_prepare("WITH k AS (SELECT entity_id, ws.max(hlc) AS hlc FROM ws.keyframes"
					   "  WHERE entity_id OPERATOR(pg_catalog.=) ANY ($2) AND hlc OPERATOR(ws.<) $1"
					   "  GROUP BY entity_id),"
					   " moved AS ("
					   "  DELETE FROM ws.events e USING k"
					   "  WHERE e.entity_id OPERATOR(pg_catalog.=) k.entity_id"
					   "    AND e.hlc OPERATOR(ws.<) k.hlc RETURNING e.*)"
					   " INSERT INTO ws.events_archive SELECT * FROM moved", 2, t);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	ws_progress_phase("moving events, entities done", (int64) nkeep);
	for (uint64 from = 0; from < nkeep; from += ARCHIVE_BATCH)
	{
		uint64		n = Min(ARCHIVE_BATCH, nkeep - from);
		Datum	   *ids = palloc(n * sizeof(Datum));
		bool		isnull;
		int			rc;

		CHECK_FOR_INTERRUPTS();
		for (uint64 i = 0; i < n; i++)
			ids[i] = SPI_getbinval(keep->vals[from + i], keep->tupdesc, 1, &isnull);
		a[1] = PointerGetDatum(construct_array(ids, (int) n, TEXTOID, -1, false, TYPALIGN_INT));
		rc = SPI_execute_plan(plan, a, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "archiving events failed: %s", SPI_result_code_string(rc));
		moved += (int64) SPI_processed;
		ws_progress_count((int64) (from + n));
		pfree(ids);
	}
	SPI_freeplan(plan);
	/* horizon events (stable.c) before it: no reader needs them */
	ws_exec("WITH moved AS (DELETE FROM ws.events"
			"  WHERE module OPERATOR(pg_catalog.=) 'ws' AND event_type OPERATOR(pg_catalog.=) 'horizon'"
			"    AND entity_id IS NULL AND hlc OPERATOR(ws.<) $1 RETURNING *)"
			" INSERT INTO ws.events_archive SELECT * FROM moved", 1, t, a, NULL, SPI_OK_INSERT);
	moved += (int64) SPI_processed;
	ws_progress_end();
	return moved;
}

/*
 * ws.archive_events(before ws.hlc) -> bigint: move the events before
 * `before` that a kept snapshot covers to ws.events_archive, except each
 * entity's last keyframe before it; returns how many moved.
 */
Datum
events_archive(PG_FUNCTION_ARGS)
{
	WsAsOwner	saved;
	Oid			t[1] = {ws_type_oid("hlc")};
	Datum		a[1];
	volatile int64 moved = 0;
	bool		isnull;

	ws_require_ws_admin("ws.archive_events");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("before must not be null"),
				 errhint("Pass the HLC before which to archive, such as the hlc of a row of ws.snapshots.")));
	a[0] = PG_GETARG_DATUM(0);
	/* nothing above the stable HLC: events may still arrive there */
	ws_stable_check_archive(DatumGetHlcP(a[0]));
	SPI_connect();
	ws_as_owner_begin(&saved);
	ws_exec("SELECT ws.max(hlc) FROM ws.snapshots", 0, NULL, NULL, NULL, SPI_OK_SELECT);
	{
		Datum		newest = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (isnull || ws_hlc_cmp(DatumGetHlcP(a[0]), DatumGetHlcP(newest)) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("no kept snapshot covers the events before %s",
							ws_hlc_to_cstring(DatumGetHlcP(a[0]))),
					 isnull ? errdetail("There is no snapshot.") :
					 errdetail("The newest snapshot was taken at %s.",
							   ws_hlc_to_cstring(DatumGetHlcP(newest))),
					 errhint("Take one with ws.create_snapshot() first.")));
	}
	ws_events_guard_suspend(true);
	PG_TRY();
	{
		moved = archive_move(a[0]);
	}
	PG_FINALLY();
	{
		ws_events_guard_suspend(false);
	}
	PG_END_TRY();
	ws_exec("INSERT INTO ws.archive_boundary (hlc) VALUES ($1)", 1, t, a, NULL, SPI_OK_INSERT);
	ws_as_owner_end(&saved);
	SPI_finish();
	PG_RETURN_INT64(moved);
}

/*
 * ws.delete_snapshot(snapshot_id bigint): delete a snapshot (ws_admin).
 * Once events were archived, recovery needs a snapshot taken at or after
 * the newest archive boundary (the archived events are not replayed), so
 * the last such snapshot is kept.
 */
Datum
snapshot_delete(PG_FUNCTION_ARGS)
{
	WsAsOwner	saved;
	Oid			t[1] = {INT8OID};
	Datum		a[1];
	bool		isnull;

	ws_require_ws_admin("ws.delete_snapshot");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("snapshot_id must not be null"),
				 errhint("ws.snapshots lists the snapshots and their ids.")));
	a[0] = PG_GETARG_DATUM(0);
	SPI_connect();
	ws_as_owner_begin(&saved);
	/* archival and snapshot creation wait, so the check below stays true */
	ws_exec("LOCK TABLE ws.snapshots IN SHARE ROW EXCLUSIVE MODE", 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	ws_exec("SELECT s.hlc OPERATOR(ws.>=) b.hlc AND NOT EXISTS ("
			"  SELECT FROM ws.snapshots o WHERE o.id OPERATOR(pg_catalog.<>) s.id"
			"  AND o.hlc OPERATOR(ws.>=) b.hlc)"
			" FROM ws.snapshots s LEFT JOIN (SELECT ws.max(hlc) AS hlc FROM ws.archive_boundary) b ON true"
			" WHERE s.id OPERATOR(pg_catalog.=) $1", 1, t, a, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("snapshot " INT64_FORMAT " does not exist", DatumGetInt64(a[0])),
				 errhint("ws.snapshots lists the snapshots and their ids.")));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("snapshot " INT64_FORMAT " is the last one taken since events were archived",
						DatumGetInt64(a[0])),
				 errdetail("Recovery restores such a snapshot and replays the events after it; the archived events are not replayed."),
				 errhint("Take a newer snapshot with ws.create_snapshot() first.")));
	ws_exec("DELETE FROM ws.snapshots WHERE id OPERATOR(pg_catalog.=) $1", 1, t, a, NULL, SPI_OK_DELETE);
	ws_as_owner_end(&saved);
	SPI_finish();
	PG_RETURN_VOID();
}
