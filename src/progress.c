/*-------------------------------------------------------------------------
 *
 * progress.c
 *		Progress of long operations -- restore, verify, rebuilding a past
 *		world (ws.entities_at, ws.find and ws.state_hash at an HLC) -- for
 *		the view ws.progress.
 *
 * PostgreSQL 15's pg_stat_progress_* views are closed to extensions, so
 * each backend owns one slot of a shared array (indexed by its backend id)
 * and publishes there what it is doing: the operation, its phase, items
 * done and the total when it is known, and when it started.  Only the
 * owner writes its slot, under the slot's spinlock, at most every
 * WS_PROGRESS_EVERY items; readers copy a slot under the same lock.
 *
 * Operations nest (ws.restore_snapshot verifies; ws.state_hash at an HLC
 * rebuilds the world): the outermost names the operation, inner ones set
 * the phase.  The slot is cleared when the outermost one ends, and by
 * transaction and subtransaction callbacks when an error ends it early, so
 * nothing is left behind.  Without shared_preload_libraries every call is
 * a no-op and the view is empty.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "progress.h"
#include "settings.h"

PG_FUNCTION_INFO_V1(ws_progress_list);

/* Publish the count at most this often, in items. */
#define WS_PROGRESS_EVERY 100

#define WS_PROGRESS_NAME_LEN 32

/* One backend's operation; pid 0 when it runs none. */
typedef struct WsProgressSlot
{
	slock_t		mutex;
	int			pid;
	char		operation[WS_PROGRESS_NAME_LEN];
	char		phase[WS_PROGRESS_NAME_LEN];
	int64		done;
	int64		total;
	TimestampTz started;
} WsProgressSlot;

static WsProgressSlot *progress_slots = NULL;

/* This backend's state: nesting depth and the subtransaction that began. */
static int	progress_depth = 0;
static SubTransactionId progress_subxact = InvalidSubTransactionId;
static int64 progress_published = 0;
static bool progress_callbacks = false;

Size
ws_progress_shmem_size(void)
{
	return MAXALIGN(mul_size(sizeof(WsProgressSlot), MaxBackends));
}

/* Called from the shmem_startup hook. */
void
ws_progress_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	progress_slots = ShmemInitStruct("worldstate progress", ws_progress_shmem_size(), &found);
	if (!found)
	{
		for (int i = 0; i < MaxBackends; i++)
		{
			SpinLockInit(&progress_slots[i].mutex);
			progress_slots[i].pid = 0;
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* This backend's slot, or NULL (not preloaded, or no backend id). */
static WsProgressSlot *
my_slot(void)
{
	if (progress_slots == NULL || MyBackendId == InvalidBackendId ||
		MyBackendId > MaxBackends)
		return NULL;
	return &progress_slots[MyBackendId - 1];
}

/* Copy a name into a slot field, cut to fit. */
static void
set_name(char *field, const char *value)
{
	strlcpy(field, value, WS_PROGRESS_NAME_LEN);
}

/* Clear this backend's slot and forget any operation. */
static void
progress_clear(void)
{
	WsProgressSlot *slot = my_slot();

	progress_depth = 0;
	progress_subxact = InvalidSubTransactionId;
	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	slot->pid = 0;
	SpinLockRelease(&slot->mutex);
}

/* An error ended the transaction: the operation is over. */
static void
progress_xact_callback(XactEvent event, void *arg)
{
	if (progress_depth > 0 &&
		(event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT))
		progress_clear();
}

/* An error ended the subtransaction the operation began in (or an outer one). */
static void
progress_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (progress_depth > 0 && event == SUBXACT_EVENT_ABORT_SUB &&
		mySubid <= progress_subxact)
		progress_clear();
}

/*
 * Begin an operation (or, inside one, a phase of it) with total items
 * (WS_PROGRESS_UNKNOWN when not known).  Pair with ws_progress_end.
 */
void
ws_progress_begin(const char *operation, const char *phase, int64 total)
{
	WsProgressSlot *slot = my_slot();

	if (slot == NULL)
		return;
	if (!progress_callbacks)
	{
		RegisterXactCallback(progress_xact_callback, NULL);
		RegisterSubXactCallback(progress_subxact_callback, NULL);
		progress_callbacks = true;
	}
	if (progress_depth++ > 0)
	{
		ws_progress_phase(phase, total);
		return;
	}
	progress_subxact = GetCurrentSubTransactionId();
	progress_published = 0;
	SpinLockAcquire(&slot->mutex);
	slot->pid = MyProcPid;
	set_name(slot->operation, operation);
	set_name(slot->phase, phase);
	slot->done = 0;
	slot->total = total;
	slot->started = GetCurrentTimestamp();
	SpinLockRelease(&slot->mutex);
}

/* Enter a new phase of the running operation; its count starts at 0. */
void
ws_progress_phase(const char *phase, int64 total)
{
	WsProgressSlot *slot = my_slot();

	if (slot == NULL || progress_depth == 0)
		return;
	progress_published = 0;
	SpinLockAcquire(&slot->mutex);
	set_name(slot->phase, phase);
	slot->done = 0;
	slot->total = total;
	SpinLockRelease(&slot->mutex);
}

/*
 * Items done so far in the current phase; published every
 * WS_PROGRESS_EVERY items.  A no-op outside an operation.
 */
void
ws_progress_count(int64 done)
{
	WsProgressSlot *slot;

	if (progress_depth == 0 || done - progress_published < WS_PROGRESS_EVERY)
		return;
	slot = my_slot();
	progress_published = done;
	SpinLockAcquire(&slot->mutex);
	slot->done = done;
	SpinLockRelease(&slot->mutex);
}

/* End an operation or phase begun by ws_progress_begin. */
void
ws_progress_end(void)
{
	if (progress_depth == 0)
		return;
	if (--progress_depth == 0)
		progress_clear();
}

/*
 * ws._progress() -> SETOF (pid, operation, phase, done, total, started):
 * the operations running now, one row per backend; the view ws.progress.
 */
Datum
ws_progress_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (progress_slots == NULL)
		return (Datum) 0;
	for (int i = 0; i < MaxBackends; i++)
	{
		WsProgressSlot copy;
		Datum		v[6];
		bool		n[6] = {false};

		SpinLockAcquire(&progress_slots[i].mutex);
		copy = progress_slots[i];
		SpinLockRelease(&progress_slots[i].mutex);
		if (copy.pid == 0)
			continue;
		v[0] = Int32GetDatum(copy.pid);
		v[1] = CStringGetTextDatum(copy.operation);
		v[2] = CStringGetTextDatum(copy.phase);
		v[3] = Int64GetDatum(copy.done);
		v[4] = Int64GetDatum(copy.total);
		n[4] = copy.total < 0;
		v[5] = TimestampTzGetDatum(copy.started);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	}
	return (Datum) 0;
}
