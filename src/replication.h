/*-------------------------------------------------------------------------
 *
 * replication.h
 *		The peers of this node (replication.c): what other files use of
 *		them -- whether there are any, their names, how to reach one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_REPLICATION_H
#define WS_REPLICATION_H

#include "postgres.h"

/*
 * The application_name of this node's subscriptions, and so of the WAL
 * senders that feed them on its peers: the name synchronous_standby_names
 * lists there.
 */
#define WS_NODE_APPLICATION_NAME "ws_node_%d"

extern bool ws_has_peers(void);
extern char *ws_peer_name(int node_id);
extern char *ws_peer_conninfo(const char *name);

#endif							/* WS_REPLICATION_H */
