/*-------------------------------------------------------------------------
 *
 * session.c
 *		Session state: ws.session_put, ws.session_get and the backends
 *		behind the ws.session_state view.
 *
 * Session state (the specification's "session" state kind, such as
 * presence in a space) lives as long as the database session that put it,
 * and other sessions can see it.  It is kept in the unlogged table
 * ws.session_data, keyed by the owning backend's pid *and start time*, so a
 * row can never be mistaken for a later backend that reuses the pid, nor
 * for one of a later server start:
 *
 *	- the view ws.session_state joins the rows with the backends that are
 *	  alive now (ws._session_backends(), read from the backend status
 *	  array), so a session's state disappears from it the moment the
 *	  session ends, however it ends -- normal exit, pg_terminate_backend,
 *	  or kill -9 -- and after a server restart;
 *	- rows of ended sessions are deleted lazily: the first ws.session_put
 *	  of each session purges them.  The purge decides from the process
 *	  array, read when it runs, never from the list of backends the view
 *	  reads (PostgreSQL keeps that list for the rest of the transaction
 *	  once read, so it misses sessions started since): a row goes only
 *	  when no process with its pid is running or it predates the server's
 *	  start, and the delete names the row's start time too, so a new
 *	  session that takes over the pid meanwhile keeps its rows.  A row
 *	  whose pid a new session reuses stays hidden until that session ends
 *	  too;
 *	- being unlogged, the table is emptied by crash recovery, and neither
 *	  written to WAL nor replicated: session state is local to the node.
 *
 * Writes run as the owner of schema ws, as everywhere in worldstate; a
 * session can only change its own rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/procarray.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "args.h"
#include "spi.h"

PG_FUNCTION_INFO_V1(session_put);
PG_FUNCTION_INFO_V1(session_get);
PG_FUNCTION_INFO_V1(session_backends);

/* longest key, as for entity ids */
#define WS_SESSION_KEY_MAX 1024

/* this session has purged the rows of ended sessions */
static bool purged = false;

/* The key argument, or 22023. */
static char *
session_key(FunctionCallInfo fcinfo)
{
	char	   *key = ws_arg_text(fcinfo, 0, "key", 0);

	if (strlen(key) > WS_SESSION_KEY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("session state key is longer than %d bytes", WS_SESSION_KEY_MAX),
				 errhint("Use a shorter key; keep large data in the value.")));
	return key;
}

/*
 * This session's pid, start time and key as the arguments $1..$3 of a
 * statement; the caller may add $4 after them.
 */
static void
session_args(const char *key, Oid *types, Datum *args)
{
	types[0] = INT4OID;
	args[0] = Int32GetDatum(MyProcPid);
	types[1] = TIMESTAMPTZOID;
	args[1] = TimestampTzGetDatum(MyStartTimestamp);
	types[2] = TEXTOID;
	args[2] = CStringGetTextDatum(key);
}

/*
 * Delete the rows of sessions whose process is gone (inside SPI, as the
 * owner of schema ws); see the file header.
 */
static void
purge_ended_sessions(void)
{
	Datum	   *pids;
	Datum	   *starts;
	int			n = 0;
	Oid			t[2] = {INT4ARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		a[2];

	ws_exec("SELECT DISTINCT pid, backend_start FROM ws.session_data", 0, NULL, NULL, NULL,
			SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	pids = palloc(sizeof(Datum) * SPI_processed);
	starts = palloc(sizeof(Datum) * SPI_processed);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int32		pid = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		Datum		start = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);

		CHECK_FOR_INTERRUPTS();
		/* keep it while a process with its pid runs, unless it predates the server */
		if (BackendPidGetProc(pid) != NULL && DatumGetTimestampTz(start) >= PgStartTime)
			continue;
		pids[n] = Int32GetDatum(pid);
		starts[n] = start;
		n++;
	}
	if (n == 0)
		return;
	a[0] = PointerGetDatum(construct_array(pids, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	a[1] = PointerGetDatum(construct_array(starts, n, TIMESTAMPTZOID, sizeof(TimestampTz),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	ws_exec("DELETE FROM ws.session_data d"
			" USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS g(pid, backend_start)"
			" WHERE d.pid OPERATOR(pg_catalog.=) g.pid"
			" AND d.backend_start OPERATOR(pg_catalog.=) g.backend_start",
			2, t, a, NULL, SPI_OK_DELETE);
}

/*
 * ws.session_put(key, value jsonb): set a key of this session's state; a
 * NULL value removes it.
 */
Datum
session_put(PG_FUNCTION_ARGS)
{
	char	   *key = session_key(fcinfo);
	Oid			t[4];
	Datum		a[4];
	WsAsOwner	saved;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_as_owner_begin(&saved);
	if (!purged)
	{
		purge_ended_sessions();
		purged = true;
	}
	session_args(key, t, a);
	if (PG_ARGISNULL(1))
		ws_exec("DELETE FROM ws.session_data WHERE pid OPERATOR(pg_catalog.=) $1"
				" AND backend_start OPERATOR(pg_catalog.=) $2"
				" AND key OPERATOR(pg_catalog.=) $3", 3, t, a, NULL, SPI_OK_DELETE);
	else
	{
		t[3] = JSONBOID;
		a[3] = PG_GETARG_DATUM(1);
		ws_exec("INSERT INTO ws.session_data (pid, backend_start, key, value, since)"
				" VALUES ($1, $2, $3, $4, pg_catalog.now())"
				" ON CONFLICT (pid, backend_start, key)"
				" DO UPDATE SET value = excluded.value, since = excluded.since",
				4, t, a, NULL, SPI_OK_INSERT);
	}
	ws_as_owner_end(&saved);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ws.session_get(key) -> jsonb: this session's value of key, or NULL. */
Datum
session_get(PG_FUNCTION_ARGS)
{
	char	   *key = session_key(fcinfo);
	MemoryContext outcxt = CurrentMemoryContext;
	WsAsOwner	saved;
	Datum		result = (Datum) 0;
	bool		isnull = true;
	Oid			t[3];
	Datum		a[3];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_as_owner_begin(&saved);
	session_args(key, t, a);
	ws_exec("SELECT value FROM ws.session_data WHERE pid OPERATOR(pg_catalog.=) $1"
			" AND backend_start OPERATOR(pg_catalog.=) $2"
			" AND key OPERATOR(pg_catalog.=) $3", 3, t, a, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		MemoryContext old = MemoryContextSwitchTo(outcxt);

		result = PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
		MemoryContextSwitchTo(old);
	}
	ws_as_owner_end(&saved);
	SPI_finish();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * ws._session_backends() -> TABLE(pid int, backend_start timestamptz): the
 * backends alive now, from the backend status array.  Unlike
 * pg_stat_activity it shows every backend's start time to every role: a
 * pid and a start time reveal nothing, and the view must work for readers
 * without pg_read_all_stats.
 */
Datum
session_backends(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	n = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_procpid <= 0)
			continue;
		values[0] = Int32GetDatum(be->st_procpid);
		values[1] = TimestampTzGetDatum(be->st_proc_start_timestamp);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
