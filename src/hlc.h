/*-------------------------------------------------------------------------
 *
 * hlc.h
 *		The ws.hlc type: its functions, operators and rules (hlc.c).
 *		The node's clock, which issues the values, is in clock.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_HLC_H
#define WS_HLC_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/timestamp.h"

#include "hlc_parse.h"

#define DatumGetHlcP(X)		((WsHlc *) DatumGetPointer(X))
#define HlcPGetDatum(X)		PointerGetDatum(X)
#define PG_GETARG_HLC_P(n)	DatumGetHlcP(PG_GETARG_DATUM(n))
#define PG_RETURN_HLC_P(x)	return HlcPGetDatum(x)

/* microseconds between the Unix epoch and PostgreSQL's (2000-01-01) */
#define WS_UNIX_TO_PG_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

extern int	ws_hlc_cmp(const WsHlc *a, const WsHlc *b);
extern void ws_hlc_check(const WsHlc *h, int sqlstate);
extern WsHlc ws_hlc_tick_rule(WsHlc prev, int64 pt, int32 node);
extern WsHlc ws_hlc_merge_rule(WsHlc local, WsHlc remote, int64 pt, int32 node);
extern WsHlc *ws_hlc_copy(WsHlc h);
extern char *ws_hlc_to_cstring(const WsHlc *h);

#endif							/* WS_HLC_H */
