/*-------------------------------------------------------------------------
 *
 * stable.h
 *		The stable past of a node with peers: horizon events,
 *		ws.stable_hlc() and the tentative signal (stable.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_STABLE_H
#define WS_STABLE_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "hlc.h"

/* the event type of horizon events, of the reserved module "ws" */
#define WS_HORIZON_EVENT_TYPE	"horizon"

/* whether an event without an entity of this module and type is a horizon event */
extern bool ws_is_horizon_event(const char *module, const char *event_type);

/* the worker's task: publish this node's safe horizon if it advanced */
extern bool ws_horizon_publish(WsHlc *published);

/* record a peer's horizon event (converge.c); raises on a malformed patch */
extern void ws_stable_record_horizon(int32 origin, Jsonb *patch);

/* ws.stable_hlc(); false when it is NULL (a peer has sent no horizon yet) */
extern bool ws_stable_hlc_get(WsHlc *stable);

/* NOTICE, once per statement, when `at` lies above the stable HLC */
extern void ws_stable_note_tentative(const WsHlc *at, const char *what);

/* 22023 unless everything before `before` is stable (ws.archive_events) */
extern void ws_stable_check_archive(const WsHlc *before);

#endif							/* WS_STABLE_H */
