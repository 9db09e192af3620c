/*-------------------------------------------------------------------------
 *
 * transition.h
 *		The transition protocol (transition.c): what other files use of it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_TRANSITION_H
#define WS_TRANSITION_H

#include "postgres.h"

/* let archival move rows out of ws.events */
extern void ws_events_guard_suspend(bool suspend);

#endif							/* WS_TRANSITION_H */
