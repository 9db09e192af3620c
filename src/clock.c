/*-------------------------------------------------------------------------
 *
 * clock.c
 *		The node's hybrid logical clock: shared memory state, ws.hlc_now()
 *		and ws.hlc_receive(), and the persisted high-water mark.
 *
 * Every backend of the node shares one clock: the last value issued or
 * received, protected by a spinlock, so ws.hlc_now() is strictly increasing
 * across backends.
 *
 * Monotonicity across restarts and crashes uses a persisted ceiling, the
 * technique of leases: before the clock issues a value whose wall time is
 * above the ceiling, it durably writes a new ceiling (that wall time plus
 * WS_CLOCK_CEILING_WINDOW) to $PGDATA/worldstate.clock with write, fsync,
 * rename and directory fsync.  Nothing issued can therefore exceed the
 * ceiling on disk.  When shared memory is initialised (server start, or
 * reinitialisation after a crash) the clock starts at (ceiling, INT32_MAX),
 * so the next value is above everything issued before, whatever the system
 * clock now says.  The window bounds both the fsync rate and how far ahead
 * of real time the clock may start after a restart.  The ceiling is raised
 * as soon as the clock comes within half a window of it, by whichever
 * backend gets there first while no other is writing, so the others do not
 * wait for the file: one write per half window of clock progress.
 *
 * The physical reading is GetCurrentTimestamp() plus the superuser-only
 * test setting worldstate.clock_offset, which lets tests step the clock
 * backwards or forwards without sleeping.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "miscadmin.h"
#include "port/atomics.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "errcodes.h"
#include "hlc.h"
#include "settings.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(hlc_now);
PG_FUNCTION_INFO_V1(hlc_receive);

#define WS_CLOCK_FILE			"worldstate.clock"
#define WS_CLOCK_FILE_TMP		"worldstate.clock.tmp"
#define WS_CLOCK_MAGIC			0x57534b43	/* "WSKC" */
#define WS_CLOCK_FORMAT			1
#define WS_CLOCK_CEILING_WINDOW	INT64CONST(100000)	/* 100 ms */

/* On-disk form of the ceiling. */
typedef struct WsClockFile
{
	uint32		magic;
	uint32		format;
	int64		ceiling;
	pg_crc32c	crc;			/* of the fields above */
} WsClockFile;

typedef struct WsClockShared
{
	slock_t		mutex;			/* protects last and ceiling */
	WsHlc		last;			/* greatest value issued or received */
	int64		ceiling;		/* persisted bound on any issued wall */
	LWLock	   *persist_lock;	/* serialises writers of the file */
} WsClockShared;

static WsClockShared *shared_clock = NULL;

Size
ws_clock_shmem_size(void)
{
	return MAXALIGN(sizeof(WsClockShared));
}

/* Called from the shmem_request hook. */
void
ws_clock_shmem_request(void)
{
	RequestAddinShmemSpace(ws_clock_shmem_size());
	RequestNamedLWLockTranche("worldstate_clock", 1);
}

/* CRC of the fields that precede crc. */
static pg_crc32c
clock_file_crc(const WsClockFile *f)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, f, offsetof(WsClockFile, crc));
	FIN_CRC32C(crc);
	return crc;
}

/*
 * Read the persisted ceiling; 0 when there is none yet.  A damaged file is
 * reported and ignored: the clock then relies on the system clock alone.
 */
static int64
clock_file_read(void)
{
	WsClockFile f;
	FILE	   *fp = AllocateFile(WS_CLOCK_FILE, PG_BINARY_R);
	bool		ok;

	if (fp == NULL)
	{
		if (errno != ENOENT)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", WS_CLOCK_FILE)));
		return 0;
	}
	ok = fread(&f, sizeof(f), 1, fp) == 1 &&
		f.magic == WS_CLOCK_MAGIC && f.format == WS_CLOCK_FORMAT &&
		EQ_CRC32C(f.crc, clock_file_crc(&f));
	FreeFile(fp);
	if (!ok)
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("ignoring damaged hybrid logical clock file \"%s\"", WS_CLOCK_FILE),
				 errdetail("The clock cannot prove it is above values issued before this start."),
				 errhint("Check that the system clock is correct.")));
		return 0;
	}
	return f.ceiling;
}

/* Durably replace the ceiling file. */
static void
clock_file_write(int64 ceiling)
{
	WsClockFile f;
	int			fd;

	memset(&f, 0, sizeof(f));
	f.magic = WS_CLOCK_MAGIC;
	f.format = WS_CLOCK_FORMAT;
	f.ceiling = ceiling;
	f.crc = clock_file_crc(&f);

	fd = OpenTransientFile(WS_CLOCK_FILE_TMP, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", WS_CLOCK_FILE_TMP)));
	errno = 0;
	if (write(fd, &f, sizeof(f)) != sizeof(f))
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", WS_CLOCK_FILE_TMP)));
	}
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", WS_CLOCK_FILE_TMP)));
	/* fsyncs the file, renames it and fsyncs the directory */
	durable_rename(WS_CLOCK_FILE_TMP, WS_CLOCK_FILE, ERROR);
}

/* Called from the shmem_startup hook, in the postmaster. */
void
ws_clock_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared_clock = ShmemInitStruct("worldstate clock", ws_clock_shmem_size(), &found);
	if (!found)
	{
		SpinLockInit(&shared_clock->mutex);
		shared_clock->persist_lock = &(GetNamedLWLockTranche("worldstate_clock"))->lock;
		shared_clock->ceiling = clock_file_read();
		shared_clock->last.wall = shared_clock->ceiling;
		shared_clock->last.counter = PG_INT32_MAX;
		shared_clock->last.node = 0;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The physical clock reading: microseconds since the Unix epoch. */
int64
ws_clock_physical(void)
{
	return GetCurrentTimestamp() + WS_UNIX_TO_PG_USECS +
		(int64) ws_clock_offset_ms * 1000;
}

static void
clock_check_ready(void)
{
	if (shared_clock == NULL)
		ws_require_preload("the node clock");
}

/*
 * Persist wall + WS_CLOCK_CEILING_WINDOW as the new ceiling when the
 * current one is below wall + margin.  The caller holds persist_lock, so
 * only it changes the ceiling and reading it is safe.
 */
static void
clock_persist_ceiling(int64 wall, int64 margin)
{
	if (shared_clock->ceiling < wall + margin)
	{
		int64		ceiling = wall + WS_CLOCK_CEILING_WINDOW;

		clock_file_write(ceiling);
		SpinLockAcquire(&shared_clock->mutex);
		shared_clock->ceiling = ceiling;
		SpinLockRelease(&shared_clock->mutex);
	}
}

/*
 * Make sure a value with the given wall time may be issued: persist a new
 * ceiling when it lies above the current one.
 */
static void
clock_raise_ceiling(int64 wall)
{
	LWLockAcquire(shared_clock->persist_lock, LW_EXCLUSIVE);
	clock_persist_ceiling(wall, 0);
	LWLockRelease(shared_clock->persist_lock);
}

/*
 * The clock has come within half a window of the ceiling: raise it now,
 * unless another backend is already writing it, so that other backends
 * seldom have to wait for the file to be written.  This makes one write per
 * half window of clock progress, normally off their way.
 */
static void
clock_raise_ceiling_early(int64 wall)
{
	if (!LWLockConditionalAcquire(shared_clock->persist_lock, LW_EXCLUSIVE))
		return;
	clock_persist_ceiling(wall, WS_CLOCK_CEILING_WINDOW / 2);
	LWLockRelease(shared_clock->persist_lock);
}

/*
 * Advance the node clock by the send rule (remote == NULL) or the receive
 * rule, and return the new value.  Nothing is issued above the persisted
 * ceiling; the rule is recomputed after raising it, since other backends
 * may have moved the clock meanwhile.
 */
static WsHlc
clock_advance(const WsHlc *remote)
{
	int64		pt = ws_clock_physical();

	for (;;)
	{
		WsHlc		next;
		bool		ok;
		int64		ceiling;

		SpinLockAcquire(&shared_clock->mutex);
		if (remote)
			next = ws_hlc_merge_rule(shared_clock->last, *remote, pt, ws_node_id);
		else
			next = ws_hlc_tick_rule(shared_clock->last, pt, ws_node_id);
		ok = next.wall <= shared_clock->ceiling;
		if (ok && next.wall <= WS_HLC_WALL_MAX)
			shared_clock->last = next;
		ceiling = shared_clock->ceiling;
		SpinLockRelease(&shared_clock->mutex);

		ws_hlc_check(&next, ERRCODE_DATETIME_VALUE_OUT_OF_RANGE);

		if (ok)
		{
			if (next.wall > ceiling - WS_CLOCK_CEILING_WINDOW / 2)
				clock_raise_ceiling_early(next.wall);
			return next;
		}
		clock_raise_ceiling(next.wall);
	}
}

/* The next value of the node clock. */
WsHlc
ws_clock_now(void)
{
	clock_check_ready();
	return clock_advance(NULL);
}

/*
 * The greatest value the node clock has issued or received.  Every value
 * issued after this call is above it (see horizon.c).
 */
WsHlc
ws_clock_last(void)
{
	WsHlc		last;

	clock_check_ready();
	SpinLockAcquire(&shared_clock->mutex);
	last = shared_clock->last;
	SpinLockRelease(&shared_clock->mutex);
	return last;
}

/*
 * Merge a remote timestamp into the node clock and return the new local
 * value.  A remote wall time ahead of the physical clock by more than
 * worldstate.max_clock_skew is refused with WS508, counted, and leaves the
 * clock unchanged.
 */
/*
 * How far (microseconds) the remote wall time is ahead of the physical
 * clock, observed for ws.stats(); counted as a rejection when beyond
 * worldstate.max_clock_skew.
 */
static int64
observe_skew(const WsHlc *remote, bool *too_far)
{
	int64		skew;

	clock_check_ready();
	skew = remote->wall - ws_clock_physical();
	ws_stats_observe_skew(skew);
	*too_far = skew > (int64) ws_max_clock_skew_ms * 1000;
	if (*too_far)
		ws_stats_count(WS_STAT_CLOCK_SKEW_REJECTIONS);
	return skew;
}

/*
 * The receive rule for an event a peer replicated (converge.c): as
 * ws_clock_receive, except that a remote wall time too far ahead is
 * counted and leaves the clock unchanged without raising, since the apply
 * path must not fail.  Returns whether the clock took the remote value.
 */
bool
ws_clock_receive_bounded(const WsHlc *remote)
{
	bool		too_far;

	(void) observe_skew(remote, &too_far);
	if (too_far)
		return false;
	(void) clock_advance(remote);
	return true;
}

WsHlc
ws_clock_receive(const WsHlc *remote)
{
	bool		too_far;
	int64		skew = observe_skew(remote, &too_far);

	if (too_far)
	{
		ereport(ERROR,
				(errcode(ERRCODE_WS_CLOCK_SKEW),
				 errmsg("remote hlc %s is " INT64_FORMAT " ms ahead of the local clock",
						ws_hlc_to_cstring(remote),
						skew / 1000),
				 errdetail("The limit is worldstate.max_clock_skew = %d ms.", ws_max_clock_skew_ms),
				 errhint("Check the clock of the node that issued it (node %d).", remote->node)));
	}
	return clock_advance(remote);
}

/* ws.hlc_now() */
Datum
hlc_now(PG_FUNCTION_ARGS)
{
	PG_RETURN_HLC_P(ws_hlc_copy(ws_clock_now()));
}

/* ws.hlc_receive(remote hlc) */
Datum
hlc_receive(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("remote must not be null"),
				 errhint("Pass the HLC a remote node stamped.")));
	PG_RETURN_HLC_P(ws_hlc_copy(ws_clock_receive(PG_GETARG_HLC_P(0))));
}
