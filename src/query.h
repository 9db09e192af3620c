/*-------------------------------------------------------------------------
 *
 * query.h
 *		What other files use of the query functions (query.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_QUERY_H
#define WS_QUERY_H

#include "postgres.h"
#include "fmgr.h"

#include "hlc.h"

extern const WsHlc *ws_moment_arg(FunctionCallInfo fcinfo, int n, bool upper);

#endif							/* WS_QUERY_H */
