/*-------------------------------------------------------------------------
 *
 * replication.h
 *		The peers of this node: how to reach one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_REPLICATION_H
#define WS_REPLICATION_H

#include "postgres.h"

extern char *ws_peer_conninfo(const char *name);

#endif							/* WS_REPLICATION_H */
