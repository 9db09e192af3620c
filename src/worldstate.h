/*-------------------------------------------------------------------------
 *
 * worldstate.h
 *		Settings and process-wide state shared by worldstate's files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WORLDSTATE_H
#define WORLDSTATE_H

#include "postgres.h"

/* settings (worldstate.c) */
extern int	ws_node_id;
extern int	ws_max_clock_skew_ms;
extern int	ws_clock_offset_ms;
extern char *ws_required_handshake;
extern char *ws_handshake;
extern int	ws_keyframe_interval;
extern bool ws_notify;

/* true when the library was loaded through shared_preload_libraries */
extern bool ws_preloaded;

extern void ws_require_preload(const char *what);

#endif							/* WORLDSTATE_H */
