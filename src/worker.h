/*-------------------------------------------------------------------------
 *
 * worker.h
 *		worldstate's background worker and heartbeats (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_WORKER_H
#define WS_WORKER_H

#include "postgres.h"

#include "access/xlogdefs.h"

/* register the background worker; call from _PG_init while preloading */
extern void ws_worker_register(void);

/* emit one heartbeat message; returns the end of its WAL record */
extern XLogRecPtr ws_heartbeat_emit(void);

extern PGDLLEXPORT void ws_worker_main(Datum main_arg);

#endif							/* WS_WORKER_H */
