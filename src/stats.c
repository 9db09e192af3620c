/*-------------------------------------------------------------------------
 *
 * stats.c
 *		Node-wide counters in shared memory and ws.stats().
 *
 * Counters are atomics, so the paths that bump them (often on their way to
 * raising an error) never take a lock.  They count since the server
 * started; like pg_stat_* counters they are not persisted.
 *
 * The greatest clock skew seen from each peer (ws.peer_status) is kept the
 * same way, in a small fixed array of (node, skew) pairs: a peer's pair is
 * claimed by a compare-and-swap of its node id into a free one, and never
 * given back while the server runs.  A mesh has far fewer nodes than
 * WS_STAT_PEERS; nodes beyond it are not tracked (ws.stats() counts them
 * as peer_skew_untracked).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"

#include "settings.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(ws_stats);
PG_FUNCTION_INFO_V1(ws_peer_clock_skew);

/* the peers whose greatest skew is tracked */
#define WS_STAT_PEERS 64

/* The greatest skew seen from one node; node 0: a free pair. */
typedef struct WsPeerSkew
{
	pg_atomic_uint32 node;
	pg_atomic_uint64 max_skew_us;	/* 0 until a remote clock was ahead */
} WsPeerSkew;

typedef struct WsStatsShared
{
	pg_atomic_uint64 counters[WS_STAT_COUNT];
	pg_atomic_uint64 max_skew_us;	/* greatest remote-ahead skew seen */
	WsPeerSkew	peers[WS_STAT_PEERS];
} WsStatsShared;

/* Names reported by ws.stats(), in WsStat order. */
static const char *const stat_names[WS_STAT_COUNT] = {
	"clock_skew_rejections",
	"events_written",
	"rejected_handshake",
	"rejected_no_entity",
	"rejected_version_conflict",
	"rejected_retired",
	"rejected_idempotency",
	"rejected_constraint",
	"rejected_causal",
	"rejected_permission",
	"rejected_not_home",
	"rejected_schema",
	"events_published",
	"bus_polls",
	"events_delivered",
	"bus_acks",
	"broadcast_messages_dropped",
	"remote_events_applied",
	"events_buffered",
	"events_released",
	"causal_expired",
	"clock_skew_parked",
	"peer_skew_untracked",
	"conflicts_concurrent_update",
	"conflicts_duplicate_create",
	"conflicts_after_retirement",
	"conflicts_constraint",
	"conflicts_malformed_event",
	"conflicts_apply_error",
	"conflicts_causal_timeout",
};

/* The conflict types of ws.conflicts, from WS_STAT_CONFLICT_CONCURRENT_UPDATE to the last counter. */
#define WS_STAT_FIRST_CONFLICT WS_STAT_CONFLICT_CONCURRENT_UPDATE
#define WS_STAT_CONFLICT_PREFIX "conflicts_"

static WsStatsShared *stats_shared = NULL;

/*
 * Gauges ws.stats() reports after the counters: values read when asked,
 * from files above this one (the safe horizon's writers in flight), which
 * register them from _PG_init.
 */
#define WS_STAT_MAX_GAUGES 4

static struct
{
	const char *name;
	WsStatGauge read;
}			gauges[WS_STAT_MAX_GAUGES];
static int	ngauges = 0;

Size
ws_stats_shmem_size(void)
{
	return MAXALIGN(sizeof(WsStatsShared));
}

/* Called from the shmem_startup hook. */
void
ws_stats_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats_shared = ShmemInitStruct("worldstate stats", ws_stats_shmem_size(), &found);
	if (!found)
	{
		for (int i = 0; i < WS_STAT_COUNT; i++)
			pg_atomic_init_u64(&stats_shared->counters[i], 0);
		pg_atomic_init_u64(&stats_shared->max_skew_us, 0);
		for (int i = 0; i < WS_STAT_PEERS; i++)
		{
			pg_atomic_init_u32(&stats_shared->peers[i].node, 0);
			pg_atomic_init_u64(&stats_shared->peers[i].max_skew_us, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Add one to a counter; a no-op when the library was not preloaded. */
void
ws_stats_count(WsStat stat)
{
	if (stats_shared)
		pg_atomic_fetch_add_u64(&stats_shared->counters[stat], 1);
}

/* Add n to a counter; a no-op when the library was not preloaded. */
void
ws_stats_add(WsStat stat, uint64 n)
{
	if (stats_shared && n > 0)
		pg_atomic_fetch_add_u64(&stats_shared->counters[stat], n);
}

/*
 * Count a row of ws.conflicts of the given type (concurrent_update, ...,
 * causal_timeout); false for a type that has no counter.
 */
bool
ws_stats_count_conflict(const char *type)
{
	size_t		plen = strlen(WS_STAT_CONFLICT_PREFIX);

	for (int i = WS_STAT_FIRST_CONFLICT; i < WS_STAT_COUNT; i++)
		if (strcmp(stat_names[i] + plen, type) == 0)
		{
			ws_stats_count((WsStat) i);
			return true;
		}
	return false;
}

/* Raise *target to value (both microseconds, value > 0). */
static void
atomic_raise(pg_atomic_uint64 *target, uint64 value)
{
	uint64		seen = pg_atomic_read_u64(target);

	while (seen < value && !pg_atomic_compare_exchange_u64(target, &seen, value))
		;
}

/* Record how far a remote clock was ahead of ours, keeping the maximum. */
void
ws_stats_observe_skew(int64 skew_us)
{
	if (stats_shared == NULL || skew_us <= 0)
		return;
	atomic_raise(&stats_shared->max_skew_us, (uint64) skew_us);
}

/*
 * Record how far the clock of node `node` (an event's origin, > 0) was
 * ahead of ours when one of its events arrived: its pair keeps the
 * greatest skew, 0 when its clock was never ahead.  A no-op when the
 * library was not preloaded.
 */
void
ws_stats_observe_peer_skew(int32 node, int64 skew_us)
{
	if (stats_shared == NULL || node <= 0)
		return;
	for (int i = 0; i < WS_STAT_PEERS; i++)
	{
		WsPeerSkew *p = &stats_shared->peers[i];
		uint32		owner = pg_atomic_read_u32(&p->node);

		if (owner == 0)
		{
			uint32		expected = 0;

			/* claim the free pair, unless another backend got it first */
			if (!pg_atomic_compare_exchange_u32(&p->node, &expected, (uint32) node))
				owner = expected;
			else
				owner = (uint32) node;
		}
		if (owner == (uint32) node)
		{
			if (skew_us > 0)
				atomic_raise(&p->max_skew_us, (uint64) skew_us);
			return;
		}
	}
	ws_stats_count(WS_STAT_PEER_SKEW_UNTRACKED);
}

/*
 * The greatest skew seen from node `node` into *skew_us; false when no
 * event of it has arrived since the server started (or it is not tracked).
 */
bool
ws_stats_peer_skew(int32 node, int64 *skew_us)
{
	if (stats_shared == NULL || node <= 0)
		return false;
	for (int i = 0; i < WS_STAT_PEERS; i++)
	{
		WsPeerSkew *p = &stats_shared->peers[i];

		if (pg_atomic_read_u32(&p->node) == (uint32) node)
		{
			*skew_us = (int64) pg_atomic_read_u64(&p->max_skew_us);
			return true;
		}
	}
	return false;
}

/* Report a gauge in ws.stats(), under name (a string that stays). */
void
ws_stats_register_gauge(const char *name, WsStatGauge read)
{
	if (ngauges >= WS_STAT_MAX_GAUGES)
		elog(ERROR, "too many worldstate gauges");
	gauges[ngauges].name = name;
	gauges[ngauges].read = read;
	ngauges++;
}

/* ws.stats() → TABLE(name text, value bigint) */
Datum
ws_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (stats_shared == NULL)
		ws_require_preload("ws.stats()");

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < WS_STAT_COUNT; i++)
	{
		values[0] = CStringGetTextDatum(stat_names[i]);
		values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&stats_shared->counters[i]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	values[0] = CStringGetTextDatum("max_clock_skew_observed_us");
	values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&stats_shared->max_skew_us));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	for (int i = 0; i < ngauges; i++)
	{
		values[0] = CStringGetTextDatum(gauges[i].name);
		values[1] = Int64GetDatum(gauges[i].read());
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * ws._peer_clock_skew(node_id int) -> bigint: the greatest skew, in
 * microseconds, seen from the node since the server started (0: its clock
 * was never ahead); NULL when none of its events has arrived.
 */
Datum
ws_peer_clock_skew(PG_FUNCTION_ARGS)
{
	int64		skew;

	if (PG_ARGISNULL(0) || !ws_stats_peer_skew(PG_GETARG_INT32(0), &skew))
		PG_RETURN_NULL();
	PG_RETURN_INT64(skew);
}
