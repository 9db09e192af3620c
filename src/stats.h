/*-------------------------------------------------------------------------
 *
 * stats.h
 *		Node-wide counters in shared memory, reported by ws.stats().
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_STATS_H
#define WS_STATS_H

#include "postgres.h"

typedef enum WsStat
{
	WS_STAT_CLOCK_SKEW_REJECTIONS,
	WS_STAT_EVENTS_WRITTEN,
	WS_STAT_REJECT_HANDSHAKE,
	WS_STAT_REJECT_NO_ENTITY,
	WS_STAT_REJECT_VERSION,
	WS_STAT_REJECT_RETIRED,
	WS_STAT_REJECT_IDEMPOTENCY,
	WS_STAT_REJECT_CONSTRAINT,
	WS_STAT_REJECT_CAUSAL,
	WS_STAT_REJECT_PERMISSION,
	WS_STAT_REJECT_NOT_HOME,
	/* the event bus (bus.c) */
	WS_STAT_REJECT_SCHEMA,
	WS_STAT_EVENTS_PUBLISHED,
	WS_STAT_BUS_POLLS,
	WS_STAT_EVENTS_DELIVERED,
	WS_STAT_BUS_ACKS,
	/* the output plugin (decoder.c) */
	WS_STAT_BROADCAST_DROPPED,
	/* events from peers (converge.c) */
	WS_STAT_REMOTE_APPLIED,
	WS_STAT_BUFFERED,
	WS_STAT_RELEASED,
	WS_STAT_CAUSAL_EXPIRED,
	WS_STAT_CLOCK_SKEW_PARKED,
	/* peers beyond those whose skew is tracked (ws_stats_observe_peer_skew) */
	WS_STAT_PEER_SKEW_UNTRACKED,
	/* rows of ws.conflicts recorded, by type */
	WS_STAT_CONFLICT_CONCURRENT_UPDATE,
	WS_STAT_CONFLICT_DUPLICATE_CREATE,
	WS_STAT_CONFLICT_AFTER_RETIREMENT,
	WS_STAT_CONFLICT_CONSTRAINT,
	WS_STAT_CONFLICT_MALFORMED_EVENT,
	WS_STAT_CONFLICT_APPLY_ERROR,
	WS_STAT_CONFLICT_CAUSAL_TIMEOUT,
	WS_STAT_COUNT				/* number of counters; keep last */
} WsStat;

/* a value ws.stats() reads when asked (see ws_stats_register_gauge) */
typedef int64 (*WsStatGauge) (void);

extern Size ws_stats_shmem_size(void);
extern void ws_stats_shmem_init(void);
extern void ws_stats_count(WsStat stat);
extern void ws_stats_add(WsStat stat, uint64 n);
extern void ws_stats_observe_skew(int64 skew_us);
extern bool ws_stats_count_conflict(const char *type);

extern void ws_stats_observe_peer_skew(int32 node, int64 skew_us);
extern bool ws_stats_peer_skew(int32 node, int64 *skew_us);
extern void ws_stats_register_gauge(const char *name, WsStatGauge read);

#endif							/* WS_STATS_H */
