/*-------------------------------------------------------------------------
 *
 * horizon.c
 *		The safe horizon of the event log: which transactions have an event
 *		in flight, and the HLC at or below which every event belongs to a
 *		transaction that has ended.
 *
 * A transaction takes the HLC of an event before it commits, so HLC order
 * is not commit order: a reader delivering "everything after X" in HLC
 * order (ws.poll) could deliver, and have acknowledged, events above the
 * HLC of a transaction that is still open, and would then never see that
 * transaction's event.  So readers stop at the safe horizon.
 *
 * Every backend has a slot in shared memory.  Before a transaction takes
 * the HLC of its first event (ws_hlc_for_event), it stores in its slot a
 * lower bound of every HLC it will take: the clock's current value.  The
 * slot is emptied by a transaction callback at commit -- which runs after
 * the commit became visible to new snapshots -- or at abort.  A reader
 * (ws_event_horizon) first reads the clock, L, then the slots of the other
 * backends: an event at or below min(L, their bounds) belongs to an ended
 * transaction.  The order makes that hold without holding the clock's lock:
 * a slot the reader did not see was set after it read the slots, so after
 * it read L, so the transaction's HLCs, taken after its slot was set, lie
 * above L.  The reader then takes its snapshot, which shows every such
 * event that committed.  Its own transaction does not count: it sees its own
 * events.
 *
 * Arrival order.  Every event also gets a local arrival number from the
 * sequence ws.events_arrival_seq (ws.events.arrival): local events when
 * they are written, remote ones when they arrive; ws.poll follows it, so
 * a remote event with an old HLC that arrives late is not skipped.
 * Sequence numbers, too, are taken before commit, and the same scheme
 * gives their safe horizon: before a transaction takes its first arrival
 * number (ws_arrival_for_event), its slot stores the sequence's last
 * value, a lower bound of the numbers it will take; a reader
 * (ws_arrival_horizon) reads the sequence's last value first, then the
 * slots, and every event at or below the least of them belongs to an
 * ended transaction.  That needs the sequence to hand out its numbers in
 * order across backends: it must keep CACHE 1, as the install script
 * creates it.
 *
 * Prepared transactions outlive their backend, and server restarts.  At
 * PREPARE TRANSACTION the bound moves to a prepared slot that holds the
 * transaction id; a reader counts it while the transaction is in progress
 * -- prepared transactions are, until COMMIT or ROLLBACK PREPARED has
 * finished -- and frees it after.  Prepared slots are written durably to
 * $PGDATA/worldstate.prepared before the transaction is prepared and
 * loaded again when shared memory is initialised, so a prepared
 * transaction keeps holding readers back across a restart or crash.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/transam.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "storage/backendid.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/fmgrprotos.h"

#include "clock.h"
#include "hlc.h"
#include "horizon.h"
#include "settings.h"

#define WS_PREPARED_FILE		"worldstate.prepared"
#define WS_PREPARED_FILE_TMP	"worldstate.prepared.tmp"
#define WS_PREPARED_MAGIC		0x57535050	/* "WSPP" */
#define WS_PREPARED_FORMAT		2

/* A backend's event in flight. */
typedef struct WsPendingSlot
{
	bool		active;			/* its transaction writes events */
	Oid			dbid;			/* in this database */
	WsHlc		bound;			/* at or below every HLC of those events */
	bool		arrival_active; /* its transaction takes arrival numbers */
	int64		arrival_bound;	/* below every arrival number it takes */
} WsPendingSlot;

/* A prepared transaction's events; also the on-disk form. */
typedef struct WsPreparedSlot
{
	uint64		fxid;			/* FullTransactionId; 0: a free slot */
	Oid			dbid;
	WsHlc		bound;
	bool		arrival_active;
	int64		arrival_bound;
} WsPreparedSlot;

/*
 * A prepared slot as format 1 of the file stored it, before arrival
 * numbers: read, a slot holds readers in arrival order back entirely until
 * its transaction ends, as its bound is not known.
 */
typedef struct WsPreparedSlotV1
{
	uint64		fxid;
	Oid			dbid;
	WsHlc		bound;
} WsPreparedSlotV1;

/* Header of the prepared file, followed by the slots and a CRC of both. */
typedef struct WsPreparedFileHeader
{
	uint32		magic;
	uint32		format;
	uint32		count;
	uint32		unused;
} WsPreparedFileHeader;

typedef struct WsHorizonShared
{
	slock_t		mutex;			/* protects every slot */
	LWLock	   *file_lock;		/* serialises writers of the prepared file */
	int			nbackends;		/* backend slots, one per backend id */
	int			nprepared;		/* prepared slots: max_prepared_transactions */
	/* then nbackends WsPendingSlot, then nprepared WsPreparedSlot */
} WsHorizonShared;

static WsHorizonShared *horizon = NULL;

/* this backend's slot is set and must be emptied at transaction end */
static bool pending_in_xact = false;
static bool callback_registered = false;

#define BACKEND_SLOTS(h) \
	((WsPendingSlot *) ((char *) (h) + MAXALIGN(sizeof(WsHorizonShared))))
#define PREPARED_SLOTS(h) \
	((WsPreparedSlot *) ((char *) BACKEND_SLOTS(h) + \
						 MAXALIGN(sizeof(WsPendingSlot) * (h)->nbackends)))

/*
 * Shared memory needed: the header, a slot per backend and one per
 * prepared transaction.
 */
Size
ws_horizon_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(WsHorizonShared));

	/* MaxBackends is known by the time shared memory is requested */
	size = add_size(size, MAXALIGN(mul_size(MaxBackends, sizeof(WsPendingSlot))));
	size = add_size(size, mul_size(max_prepared_xacts, sizeof(WsPreparedSlot)));
	return size;
}

/* Called from the shmem_request hook. */
void
ws_horizon_shmem_request(void)
{
	RequestAddinShmemSpace(ws_horizon_shmem_size());
	RequestNamedLWLockTranche("worldstate_horizon", 1);
}

/* CRC of a prepared file's header and slots. */
static pg_crc32c
prepared_file_crc(const char *buf, Size len)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf, len);
	FIN_CRC32C(crc);
	return crc;
}

/*
 * Load the prepared slots from the file, at server start or after a crash.
 * A damaged file is reported and ignored: a prepared transaction it named
 * may then be overtaken by readers when it commits.
 */
static void
prepared_file_read(void)
{
	FILE	   *fp = AllocateFile(WS_PREPARED_FILE, PG_BINARY_R);
	WsPreparedFileHeader hdr;
	WsPreparedSlot *slots = PREPARED_SLOTS(horizon);
	char	   *buf;
	Size		len;
	pg_crc32c	crc;
	bool		ok;

	if (fp == NULL)
	{
		if (errno != ENOENT)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", WS_PREPARED_FILE)));
		return;
	}
	ok = fread(&hdr, sizeof(hdr), 1, fp) == 1 &&
		hdr.magic == WS_PREPARED_MAGIC &&
		(hdr.format == WS_PREPARED_FORMAT || hdr.format == 1) &&
		hdr.count <= 65536;
	if (ok)
	{
		Size		slot_size = hdr.format == 1 ? sizeof(WsPreparedSlotV1) : sizeof(WsPreparedSlot);

		len = sizeof(hdr) + slot_size * hdr.count;
		buf = palloc(len);
		memcpy(buf, &hdr, sizeof(hdr));
		ok = fread(buf + sizeof(hdr), slot_size, hdr.count, fp) == hdr.count &&
			fread(&crc, sizeof(crc), 1, fp) == 1 &&
			EQ_CRC32C(crc, prepared_file_crc(buf, len));
		if (ok)
		{
			if (hdr.count > (uint32) horizon->nprepared)
				ereport(WARNING,
						(errmsg("file \"%s\" names %u prepared transactions, more than max_prepared_transactions",
								WS_PREPARED_FILE, hdr.count)));
			for (uint32 i = 0; i < hdr.count && i < (uint32) horizon->nprepared; i++)
			{
				if (hdr.format == 1)
				{
					const WsPreparedSlotV1 *v1 = (const WsPreparedSlotV1 *) (buf + sizeof(hdr)) + i;

					memset(&slots[i], 0, sizeof(WsPreparedSlot));
					slots[i].fxid = v1->fxid;
					slots[i].dbid = v1->dbid;
					slots[i].bound = v1->bound;
					slots[i].arrival_active = true;
					slots[i].arrival_bound = 0;
				}
				else
					slots[i] = ((const WsPreparedSlot *) (buf + sizeof(hdr)))[i];
			}
		}
		pfree(buf);
	}
	FreeFile(fp);
	if (!ok)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("ignoring damaged file \"%s\"", WS_PREPARED_FILE),
				 errdetail("Readers of the event log may pass events of transactions prepared before this start.")));
}

/*
 * Durably replace the prepared file with the prepared slots in use.
 * Caller holds file_lock.
 */
static void
prepared_file_write(void)
{
	WsPreparedFileHeader hdr;
	StringInfoData buf;
	WsPreparedSlot *slots = PREPARED_SLOTS(horizon);
	pg_crc32c	crc;
	int			fd;

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = WS_PREPARED_MAGIC;
	hdr.format = WS_PREPARED_FORMAT;
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (char *) &hdr, sizeof(hdr));
	SpinLockAcquire(&horizon->mutex);
	for (int i = 0; i < horizon->nprepared; i++)
		if (slots[i].fxid != 0)
		{
			appendBinaryStringInfo(&buf, (char *) &slots[i], sizeof(WsPreparedSlot));
			hdr.count++;
		}
	SpinLockRelease(&horizon->mutex);
	memcpy(buf.data, &hdr, sizeof(hdr));
	crc = prepared_file_crc(buf.data, buf.len);
	appendBinaryStringInfo(&buf, (char *) &crc, sizeof(crc));

	fd = OpenTransientFile(WS_PREPARED_FILE_TMP, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", WS_PREPARED_FILE_TMP)));
	errno = 0;
	if (write(fd, buf.data, buf.len) != buf.len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", WS_PREPARED_FILE_TMP)));
	}
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", WS_PREPARED_FILE_TMP)));
	/* fsyncs the file, renames it and fsyncs the directory */
	durable_rename(WS_PREPARED_FILE_TMP, WS_PREPARED_FILE, ERROR);
	pfree(buf.data);
}

/* Called from the shmem_startup hook, in the postmaster. */
void
ws_horizon_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	horizon = ShmemInitStruct("worldstate horizon", ws_horizon_shmem_size(), &found);
	if (!found)
	{
		SpinLockInit(&horizon->mutex);
		horizon->file_lock = &(GetNamedLWLockTranche("worldstate_horizon"))->lock;
		horizon->nbackends = MaxBackends;
		horizon->nprepared = max_prepared_xacts;
		memset(BACKEND_SLOTS(horizon), 0, sizeof(WsPendingSlot) * MaxBackends);
		memset(PREPARED_SLOTS(horizon), 0, sizeof(WsPreparedSlot) * max_prepared_xacts);
		if (max_prepared_xacts > 0)
			prepared_file_read();
	}
	LWLockRelease(AddinShmemInitLock);
}

/* true while the transaction of a prepared slot is in progress (or prepared) */
static bool
prepared_in_progress(const WsPreparedSlot *s)
{
	FullTransactionId fxid = FullTransactionIdFromU64(s->fxid);

	return TransactionIdIsInProgress(XidFromFullTransactionId(fxid));
}

/*
 * Free the prepared slots whose transactions have ended (committed, rolled
 * back, or never prepared after all).  Not under the spinlock: checking a
 * transaction takes ProcArrayLock.  A transaction that has ended stays
 * ended, so freeing the slot later is safe.
 */
static void
prepared_purge(void)
{
	WsPreparedSlot *slots = PREPARED_SLOTS(horizon);
	uint64	   *ended = palloc(sizeof(uint64) * Max(horizon->nprepared, 1));
	WsPreparedSlot *copy = palloc(sizeof(WsPreparedSlot) * Max(horizon->nprepared, 1));
	int			n = 0;
	int			nended = 0;

	SpinLockAcquire(&horizon->mutex);
	for (int i = 0; i < horizon->nprepared; i++)
		if (slots[i].fxid != 0)
			copy[n++] = slots[i];
	SpinLockRelease(&horizon->mutex);
	for (int i = 0; i < n; i++)
		if (!prepared_in_progress(&copy[i]))
			ended[nended++] = copy[i].fxid;
	if (nended > 0)
	{
		SpinLockAcquire(&horizon->mutex);
		for (int i = 0; i < horizon->nprepared; i++)
			for (int j = 0; j < nended; j++)
				if (slots[i].fxid == ended[j])
					slots[i].fxid = 0;
		SpinLockRelease(&horizon->mutex);
	}
	pfree(ended);
	pfree(copy);
}

/*
 * At PREPARE TRANSACTION of a transaction that wrote events: keep its
 * bound in a prepared slot, durably, before the transaction is prepared.
 * (If preparing fails after this, the transaction is not in progress and
 * the slot is freed.)
 */
static void
prepared_keep(void)
{
	WsPreparedSlot *slots = PREPARED_SLOTS(horizon);
	WsPendingSlot *mine = &BACKEND_SLOTS(horizon)[MyBackendId - 1];
	FullTransactionId fxid = GetTopFullTransactionIdIfAny();
	bool		kept = false;

	/* without prepared transactions, PostgreSQL refuses to prepare */
	if (horizon->nprepared == 0 || !FullTransactionIdIsValid(fxid))
		return;
	LWLockAcquire(horizon->file_lock, LW_EXCLUSIVE);
	prepared_purge();
	SpinLockAcquire(&horizon->mutex);
	for (int i = 0; i < horizon->nprepared && !kept; i++)
		if (slots[i].fxid == 0)
		{
			slots[i].fxid = U64FromFullTransactionId(fxid);
			slots[i].dbid = mine->dbid;
			/* a transaction that took no HLC holds no reader back by one */
			slots[i].bound = mine->bound;
			if (!mine->active)
			{
				slots[i].bound.wall = PG_INT64_MAX;
				slots[i].bound.counter = PG_INT32_MAX;
				slots[i].bound.node = PG_INT32_MAX;
			}
			slots[i].arrival_active = mine->arrival_active;
			slots[i].arrival_bound = mine->arrival_bound;
			kept = true;
		}
	SpinLockRelease(&horizon->mutex);
	if (!kept)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many prepared transactions with worldstate events"),
				 errhint("Increase max_prepared_transactions.")));
	prepared_file_write();
	LWLockRelease(horizon->file_lock);
}

/* Empty this backend's slot. */
static void
pending_clear(void)
{
	SpinLockAcquire(&horizon->mutex);
	BACKEND_SLOTS(horizon)[MyBackendId - 1].active = false;
	BACKEND_SLOTS(horizon)[MyBackendId - 1].arrival_active = false;
	SpinLockRelease(&horizon->mutex);
	pending_in_xact = false;
}

/*
 * Keep the bound in a prepared slot before PREPARE TRANSACTION, and empty
 * this backend's slot when its transaction has ended: at commit, after the
 * commit became visible; at abort; after PREPARE, when the prepared
 * transaction is in progress in its own right.
 */
static void
horizon_xact_callback(XactEvent event, void *arg)
{
	if (!pending_in_xact)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			prepared_keep();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			pending_clear();
			break;
		default:
			break;
	}
}

/*
 * This backend's slot, whose parts are emptied when the transaction ends;
 * what names what the caller does, for the error when the library was not
 * preloaded.
 */
static WsPendingSlot *
my_slot(const char *what)
{
	if (horizon == NULL)
		ws_require_preload(what);
	if (MyBackendId == InvalidBackendId || MyBackendId > horizon->nbackends)
		elog(ERROR, "events can only be written by a backend with a backend id");
	if (!callback_registered)
	{
		RegisterXactCallback(horizon_xact_callback, NULL);
		callback_registered = true;
	}
	pending_in_xact = true;
	return &BACKEND_SLOTS(horizon)[MyBackendId - 1];
}

/*
 * The HLC of an event this transaction is about to write.  The first time
 * in a transaction, a lower bound of it is stored in this backend's slot
 * first, so readers of the event log stop below it until the transaction
 * ends (ws_event_horizon).
 */
WsHlc
ws_hlc_for_event(void)
{
	WsPendingSlot *mine = my_slot("writing events");

	if (!mine->active)
	{
		/* the bound before any HLC of this transaction is taken */
		WsHlc		bound = ws_clock_last();

		SpinLockAcquire(&horizon->mutex);
		mine->active = true;
		mine->dbid = MyDatabaseId;
		mine->bound = bound;
		SpinLockRelease(&horizon->mutex);
	}
	return ws_clock_now();
}

/*
 * The last value the sequence seq has given, 0 when it has given none
 * (ws.events_arrival_seq starts at 1).  The caller may read it: the owner
 * of schema ws, or a superuser.
 */
static int64
sequence_last(Oid seq)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		d;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(seq);
	fcinfo->args[0].isnull = false;
	d = pg_sequence_last_value(fcinfo);
	return fcinfo->isnull ? 0 : DatumGetInt64(d);
}

/*
 * The arrival number of an event this transaction is about to write or
 * integrate: the next value of seq (ws.events_arrival_seq).  The first
 * time in a transaction, the sequence's last value is stored in this
 * backend's slot first, so readers in arrival order stop at it until the
 * transaction ends (ws_arrival_horizon).
 */
int64
ws_arrival_for_event(Oid seq)
{
	WsPendingSlot *mine = my_slot("writing events");

	if (!mine->arrival_active)
	{
		int64		bound = sequence_last(seq);

		SpinLockAcquire(&horizon->mutex);
		mine->arrival_active = true;
		mine->dbid = MyDatabaseId;
		mine->arrival_bound = bound;
		SpinLockRelease(&horizon->mutex);
	}
	return nextval_internal(seq, false);
}

/*
 * Lower *hlc (when not NULL) to the HLC bounds, and *arrival (when not
 * NULL) to the arrival bounds, of the transactions of this database that
 * have events in flight, other than the caller's own.  The caller read
 * the clock or the sequence into them first (see the file header).
 */
static void
lower_to_bounds(WsHlc *hlc, int64 *arrival)
{
	WsPendingSlot *backends;
	WsPreparedSlot *slots;
	WsPreparedSlot *copy;
	int			self = (MyBackendId == InvalidBackendId) ? -1 : MyBackendId - 1;
	int			n = 0;
	bool		ended = false;

	backends = BACKEND_SLOTS(horizon);
	slots = PREPARED_SLOTS(horizon);
	copy = palloc(sizeof(WsPreparedSlot) * Max(horizon->nprepared, 1));
	SpinLockAcquire(&horizon->mutex);
	for (int i = 0; i < horizon->nbackends; i++)
	{
		const WsPendingSlot *s = &backends[i];

		if (i == self || s->dbid != MyDatabaseId)
			continue;
		if (hlc && s->active && ws_hlc_cmp(&s->bound, hlc) < 0)
			*hlc = s->bound;
		if (arrival && s->arrival_active && s->arrival_bound < *arrival)
			*arrival = s->arrival_bound;
	}
	for (int i = 0; i < horizon->nprepared; i++)
		if (slots[i].fxid != 0 && slots[i].dbid == MyDatabaseId)
			copy[n++] = slots[i];
	SpinLockRelease(&horizon->mutex);

	for (int i = 0; i < n; i++)
	{
		if (!prepared_in_progress(&copy[i]))
			ended = true;
		else
		{
			if (hlc && ws_hlc_cmp(&copy[i].bound, hlc) < 0)
				*hlc = copy[i].bound;
			if (arrival && copy[i].arrival_active && copy[i].arrival_bound < *arrival)
				*arrival = copy[i].arrival_bound;
		}
	}
	pfree(copy);
	if (ended)
		prepared_purge();
}

/*
 * The safe horizon in arrival order (seq is ws.events_arrival_seq): every
 * event whose arrival number is at or below the result belongs to a
 * transaction that has ended, other than the caller's own.  Take the
 * snapshot of the read after this call.
 */
int64
ws_arrival_horizon(Oid seq)
{
	int64		result;

	if (horizon == NULL)
		ws_require_preload("reading the event log");
	/* the sequence first, then the slots: see the file header */
	result = sequence_last(seq);
	lower_to_bounds(NULL, &result);
	return result;
}

/*
 * The safe horizon for a reader of this database's event log: every event
 * at or below the result belongs to a transaction that has ended, other
 * than the caller's own.  Take the snapshot of the read after this call.
 */
WsHlc
ws_event_horizon(void)
{
	WsHlc		result;

	if (horizon == NULL)
		ws_require_preload("reading the event log");
	/* the clock first, then the slots: see the file header */
	result = ws_clock_last();
	lower_to_bounds(&result, NULL);
	return result;
}

/*
 * How many transactions of the node have events in flight: open in a
 * backend, or prepared.
 */
int64
ws_events_in_flight(void)
{
	WsPendingSlot *backends;
	WsPreparedSlot *slots;
	WsPreparedSlot *copy;
	int			count = 0;
	int			n = 0;

	if (horizon == NULL)
		return 0;
	backends = BACKEND_SLOTS(horizon);
	slots = PREPARED_SLOTS(horizon);
	copy = palloc(sizeof(WsPreparedSlot) * Max(horizon->nprepared, 1));
	SpinLockAcquire(&horizon->mutex);
	for (int i = 0; i < horizon->nbackends; i++)
		if (backends[i].active || backends[i].arrival_active)
			count++;
	for (int i = 0; i < horizon->nprepared; i++)
		if (slots[i].fxid != 0)
			copy[n++] = slots[i];
	SpinLockRelease(&horizon->mutex);
	for (int i = 0; i < n; i++)
		if (prepared_in_progress(&copy[i]))
			count++;
	pfree(copy);
	return count;
}
