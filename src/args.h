/*-------------------------------------------------------------------------
 *
 * args.h
 *		Arguments of the transition and query functions: required text,
 *		length limits, the caller's meta, moments given as ws.hlc or
 *		timestamptz.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_ARGS_H
#define WS_ARGS_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/jsonb.h"

#include "hlc.h"

/* Longest entity id, event type and relation name, in bytes. */
#define WS_ENTITY_ID_MAX 1024
#define WS_EVENT_TYPE_MAX 255
#define WS_REL_MAX 255

/* Longest caller meta, in bytes of its text form (meta::text). */
#define WS_CALLER_META_MAX 4096

extern char *ws_arg_text(FunctionCallInfo fcinfo, int n, const char *name, int max);
extern void ws_check_length(const char *value, const char *name, int max);
extern Jsonb *ws_arg_meta(FunctionCallInfo fcinfo, int n);
extern void ws_check_caller_meta(Jsonb *meta, const char *name);
extern const WsHlc *ws_arg_moment(FunctionCallInfo fcinfo, int n, bool upper);

#endif							/* WS_ARGS_H */
