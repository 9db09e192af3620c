/*-------------------------------------------------------------------------
 *
 * settings.h
 *		The worldstate.* settings and whether the library was preloaded
 *		(settings.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_SETTINGS_H
#define WS_SETTINGS_H

#include "postgres.h"

/* the node and the protocol */
extern int	ws_node_id;
extern int	ws_max_clock_skew_ms;
extern int	ws_clock_offset_ms;
extern int	ws_causal_timeout_ms;
extern char *ws_required_handshake;
extern char *ws_handshake;
extern int	ws_keyframe_interval;
extern bool ws_notify;

/* the background worker (worker.c) */
extern int	ws_heartbeat_interval_ms;
extern int	ws_snapshot_interval_ms;
extern int	ws_horizon_interval_ms;
extern int	ws_snapshot_retention;
extern char *ws_worker_database;

/* true when the library was loaded through shared_preload_libraries */
extern bool ws_preloaded;

extern void ws_define_settings(bool preloading);
extern void ws_require_preload(const char *what);

#endif							/* WS_SETTINGS_H */
