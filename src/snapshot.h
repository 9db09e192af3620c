/*-------------------------------------------------------------------------
 *
 * snapshot.h
 *		Snapshots of the world, used by the SQL functions and the worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_SNAPSHOT_H
#define WS_SNAPSHOT_H

#include "postgres.h"

extern int64 ws_snapshot_take(const char *label);
extern int64 ws_snapshot_prune(int keep);
extern int64 ws_snapshot_cycle(int retention);

#endif							/* WS_SNAPSHOT_H */
