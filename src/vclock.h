/*-------------------------------------------------------------------------
 *
 * vclock.h
 *	  Declarations for the ws.vclock vector-clock type.
 *
 * A ws.vclock is a varlena holding a count and an array of WsVclockEntry
 * sorted by node, with no zero counters and every "reserved" field zero.
 * That canonical form is what makes byte equality the same as logical
 * equality, so other parts of the extension may compare or hash stored
 * values as bytes.
 *
 * src/vclock.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_VCLOCK_H
#define WS_VCLOCK_H

#include "fmgr.h"

#include "vclock_parse.h"

typedef struct WsVclock
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int32		n;				/* number of entries */
	WsVclockEntry entries[FLEXIBLE_ARRAY_MEMBER];	/* sorted by node */
} WsVclock;

#define WS_VCLOCK_HDRSZ			offsetof(WsVclock, entries)
#define WS_VCLOCK_SIZE(n)		(WS_VCLOCK_HDRSZ + (Size) (n) * sizeof(WsVclockEntry))

#define DatumGetWsVclockP(X)	((WsVclock *) PG_DETOAST_DATUM(X))
#define PG_GETARG_WS_VCLOCK_P(n)	DatumGetWsVclockP(PG_GETARG_DATUM(n))
#define PG_RETURN_WS_VCLOCK_P(x)	PG_RETURN_POINTER(x)

extern int64 ws_vclock_count(const WsVclock *v, int32 node);
extern Datum vclock_in(PG_FUNCTION_ARGS);
extern Datum vclock_tick(PG_FUNCTION_ARGS);
extern Datum vclock_merge(PG_FUNCTION_ARGS);

#endif							/* WS_VCLOCK_H */
