/*-------------------------------------------------------------------------
 *
 * worker.c
 *		worldstate's background worker, and heartbeats.
 *
 * A heartbeat is an authenticated non-transactional logical decoding
 * message (broadcast.c) -- a line {"kind": "heartbeat", "origin": <node>,
 * "hlc": <hlc>} -- which the output plugin broadcasts like any other line.  A consumer that
 * confirms it lets its slot advance although the database writes no
 * events, so an idle slot does not pin WAL.  ws.heartbeat() emits one on
 * demand; the worker emits one every worldstate.heartbeat_interval.
 *
 * The worker is registered when the library is preloaded.  It is one
 * process running periodic tasks, each with its own interval setting (0 =
 * off), in database worldstate.database; a task runs only where the
 * extension is installed.  Heartbeats are its first task; others (the
 * snapshot scheduler, and on a node of a mesh the release of held peer
 * events every second and the horizon events, stable.c) are added to
 * worker_tasks.  Until a task is first
 * turned on, the worker waits without connecting to any database, so a
 * default installation holds no connection (and does not keep a database
 * from being dropped).  A background worker cannot change databases: when
 * worldstate.database changes, the worker exits and the postmaster starts
 * it again after WS_WORKER_RESTART_SECONDS.
 *
 * Like pg_prewarm's autoprewarm worker, it reloads the configuration on
 * SIGHUP and uses a memory context of its own, reset after every cycle.
 * Its search_path is pinned to pg_catalog, pg_temp whatever the database
 * or role sets (ALTER DATABASE/ROLE ... SET search_path), and what it runs
 * is schema-qualified as well.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "broadcast.h"
#include "clock.h"
#include "converge.h"
#include "hlc.h"
#include "snapshot.h"
#include "settings.h"
#include "stable.h"
#include "util.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(ws_heartbeat);

/*
 * The worker's search_path, above any set for its database or role: the
 * worker runs as the bootstrap superuser, so an operator, type, collation
 * or function planted in another schema must never be chosen for it.
 */
#define WS_WORKER_SEARCH_PATH "pg_catalog, pg_temp"

/* seconds before the postmaster starts the worker again after it exits */
#define WS_WORKER_RESTART_SECONDS 5

/* how often the worker releases held events on a node of a mesh */
#define WS_WORKER_PENDING_MS 1000

static void worker_heartbeat(void);
static void worker_snapshot(void);
static void worker_pending(void);
static void worker_horizon(void);

/* the interval of the pending task */
static int	pending_interval_ms = WS_WORKER_PENDING_MS;

/* A periodic task of the worker. */
typedef struct WsWorkerTask
{
	const char *name;
	int		   *interval_ms;	/* its setting; 0 turns it off */
	void		(*run) (void);	/* runs in a transaction of a database
								 * where worldstate is installed */
	bool		first_after_interval;	/* first run one interval after start */
	bool		mesh_only;		/* only where worldstate.node_id is set */
	TimestampTz next;			/* when it is due; 0: now */
	int			logged_ms;		/* the interval last logged */
} WsWorkerTask;

static WsWorkerTask worker_tasks[] = {
	{"heartbeat", &ws_heartbeat_interval_ms, worker_heartbeat, false, false, 0, 0},
	{"snapshot", &ws_snapshot_interval_ms, worker_snapshot, true, false, 0, 0},
	{"pending", &pending_interval_ms, worker_pending, false, true, 0, 0},
	{"horizon", &ws_horizon_interval_ms, worker_horizon, false, true, 0, 0},
};

/* Register the worker; only while the postmaster preloads the library. */
void
ws_worker_register(void)
{
	BackgroundWorker bgw;

	if (!process_shared_preload_libraries_in_progress)
		return;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = WS_WORKER_RESTART_SECONDS;
	strlcpy(bgw.bgw_library_name, "worldstate", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, "ws_worker_main", BGW_MAXLEN);
	strlcpy(bgw.bgw_name, "worldstate worker", BGW_MAXLEN);
	strlcpy(bgw.bgw_type, "worldstate worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&bgw);
}

/*
 * Emit a heartbeat: a non-transactional message, so it is decoded although
 * the transaction writes nothing, and flushed, so walsenders (which decode
 * flushed WAL only) see it now.  Needs the node clock, so the library must
 * be preloaded.
 */
XLogRecPtr
ws_heartbeat_emit(void)
{
	WsHlc		now = ws_clock_now();
	char		hlc[WS_HLC_TEXT_MAX];
	char	   *json;
	XLogRecPtr	end;

	ws_hlc_format(&now, hlc, sizeof(hlc));
	json = psprintf("\"origin\":%d,\"hlc\":\"%s\"", ws_node_id, hlc);
	end = ws_broadcast_emit("heartbeat", NULL, json, false);
	XLogFlush(end);
	pfree(json);
	return end;
}

/* ws.heartbeat() -> pg_lsn: emit a heartbeat now; the end of its record. */
Datum
ws_heartbeat(PG_FUNCTION_ARGS)
{
	PG_RETURN_LSN(ws_heartbeat_emit());
}

/* The worker's heartbeat task. */
static void
worker_heartbeat(void)
{
	(void) ws_heartbeat_emit();
}

/* The snapshot cycle, as worker_guarded runs it. */
static void
snapshot_step(void)
{
	(void) ws_snapshot_cycle(ws_snapshot_retention);
}

/* The horizon event, as worker_guarded runs it. */
static void
horizon_step(void)
{
	WsHlc		published;

	(void) ws_horizon_publish(&published);
}

/* worker_guarded's work: arg is the step, run with a snapshot. */
static void
worker_step(void *arg)
{
	void		(*step) (void) = *(void (**) (void)) arg;

	PushActiveSnapshot(GetTransactionSnapshot());
	step();
	PopActiveSnapshot();
}

/*
 * Run step, the work of the task `name`, in a subtransaction with a
 * snapshot, so a failing run is logged and the next one runs on schedule.
 */
static void
worker_guarded(const char *name, void (*step) (void))
{
	ErrorData  *edata = ws_subxact_try(worker_step, &step);

	if (edata == NULL)
		return;
	ereport(LOG,
			(errmsg("worldstate worker: %s failed, retrying next cycle: %s", name, edata->message)));
	FreeErrorData(edata);
}

/* The worker's snapshot task. */
static void
worker_snapshot(void)
{
	worker_guarded("snapshot", snapshot_step);
}

/*
 * The worker's pending task: release the events from peers held in
 * ws.pending whose wait is over (a clock_skew one once the local clock has
 * caught up), and report the causal ones past worldstate.causal_timeout.
 */
static void
worker_pending(void)
{
	worker_guarded("releasing held events", ws_converge_pending_cycle);
}

/*
 * The worker's horizon task: on a node with peers, a horizon event when
 * the safe horizon advanced (stable.c).
 */
static void
worker_horizon(void)
{
	worker_guarded("horizon", horizon_step);
}

/*
 * The interval of task t, 0 when it is off: the tasks of a mesh (the
 * release of held events, the horizon) are off on a standalone node
 * (worldstate.node_id 0), which can have no peers.
 */
static int
task_interval(const WsWorkerTask *t)
{
	return t->mesh_only && ws_node_id == 0 ? 0 : *t->interval_ms;
}

/* True while some task is on, and so the worker needs its database. */
static bool
worker_has_work(void)
{
	for (size_t i = 0; i < lengthof(worker_tasks); i++)
		if (task_interval(&worker_tasks[i]) > 0)
			return true;
	return false;
}

/* Log each task's interval when it differs from what was last logged. */
static void
worker_log_intervals(void)
{
	for (size_t i = 0; i < lengthof(worker_tasks); i++)
	{
		WsWorkerTask *t = &worker_tasks[i];

		if (task_interval(t) == t->logged_ms)
			continue;
		if (task_interval(t) > 0)
			ereport(LOG,
					(errmsg("worldstate worker: %s every %d ms", t->name, task_interval(t))));
		else
			ereport(LOG,
					(errmsg("worldstate worker: %s off", t->name)));
		t->logged_ms = task_interval(t);
	}
}

/* Wait for timeout_ms (-1: until woken), then handle a pending reload. */
static void
worker_wait(long timeout_ms)
{
	(void) WaitLatch(MyLatch,
					 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout_ms >= 0 ? WL_TIMEOUT : 0),
					 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
		/* new intervals: every task is due again */
		for (size_t i = 0; i < lengthof(worker_tasks); i++)
			worker_tasks[i].next = 0;
		worker_log_intervals();
	}
}

/*
 * Run the tasks that are due, in one transaction, when worldstate is
 * installed in the worker's database.  *installed remembers the last answer
 * (-1: none yet), so the first answer and every change are logged once.
 */
static void
worker_run_due(TimestampTz now, MemoryContext cycle, int *installed)
{
	bool		due = false;
	bool		present;
	MemoryContext old;

	for (size_t i = 0; i < lengthof(worker_tasks); i++)
		if (task_interval(&worker_tasks[i]) > 0 && worker_tasks[i].next <= now)
			due = true;
	if (!due)
		return;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "worldstate worker tasks");
	present = OidIsValid(get_extension_oid("worldstate", true));
	if (*installed < 0 || present != (*installed == 1))
		ereport(LOG,
				(errmsg(present ?
						"worldstate worker: extension worldstate found in database \"%s\", running its tasks" :
						"worldstate worker: extension worldstate is not installed in database \"%s\", its tasks wait",
						ws_worker_database)));
	*installed = present ? 1 : 0;

	old = MemoryContextSwitchTo(cycle);
	for (size_t i = 0; i < lengthof(worker_tasks); i++)
	{
		WsWorkerTask *t = &worker_tasks[i];

		if (task_interval(t) <= 0 || t->next > now)
			continue;
		if (t->next == 0 && t->first_after_interval)
		{
			t->next = TimestampTzPlusMilliseconds(now, *t->interval_ms);
			continue;
		}
		if (present)
			t->run();
		t->next = TimestampTzPlusMilliseconds(now, *t->interval_ms);
	}
	MemoryContextSwitchTo(old);

	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextReset(cycle);
}

/* Milliseconds until the next task is due; -1 when every task is off. */
static long
worker_timeout(TimestampTz now)
{
	long		timeout = -1;

	for (size_t i = 0; i < lengthof(worker_tasks); i++)
	{
		WsWorkerTask *t = &worker_tasks[i];
		long		ms;

		if (task_interval(t) <= 0)
			continue;
		ms = t->next <= now ? 0 : (long) ((t->next - now + 999) / 1000);
		if (timeout < 0 || ms < timeout)
			timeout = ms;
	}
	return timeout;
}

/*
 * Entry point of the worker: wait until a task is on, connect to
 * worldstate.database, then run the tasks as they fall due.
 */
void
ws_worker_main(Datum main_arg)
{
	MemoryContext cycle;
	char	   *dbname;
	int			installed = -1;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	while (!worker_has_work())
		worker_wait(-1);

	dbname = MemoryContextStrdup(TopMemoryContext, ws_worker_database);
	BackgroundWorkerInitializeConnection(dbname, NULL, 0);
	/* whatever the database or role sets: nothing the worker runs resolves elsewhere */
	SetConfigOption("search_path", WS_WORKER_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * and its transactions are READ COMMITTED whatever the database's
	 * default_transaction_isolation: a snapshot needs a fresh view of the
	 * world and is refused in a transaction snapshot (REPEATABLE READ,
	 * SERIALIZABLE)
	 */
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	ereport(LOG,
			(errmsg("worldstate worker connected to database \"%s\"", dbname)));
	worker_log_intervals();

	cycle = AllocSetContextCreate(TopMemoryContext, "worldstate worker cycle",
								  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		TimestampTz now;

		if (strcmp(dbname, ws_worker_database) != 0)
		{
			ereport(LOG,
					(errmsg("worldstate worker restarts to connect to database \"%s\"",
							ws_worker_database)));
			proc_exit(1);
		}
		now = GetCurrentTimestamp();
		worker_run_due(now, cycle, &installed);
		worker_wait(worker_timeout(GetCurrentTimestamp()));
	}
}
