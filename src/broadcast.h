/*-------------------------------------------------------------------------
 *
 * broadcast.h
 *		Authenticated logical decoding messages (broadcast.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_BROADCAST_H
#define WS_BROADCAST_H

#include "postgres.h"

#include "access/xlogdefs.h"

/* prefix of the logical decoding messages worldstate writes and decodes */
#define WS_MESSAGE_PREFIX	"worldstate"

/* An authenticated message: pointers into the message's bytes. */
typedef struct WsBroadcastMsg
{
	char	   *kind;
	char	   *module;			/* NULL: node-wide line */
	const char *members;		/* JSON members, not terminated */
	Size		members_len;
} WsBroadcastMsg;

extern Size ws_broadcast_shmem_size(void);
extern void ws_broadcast_shmem_init(void);

extern XLogRecPtr ws_broadcast_emit(const char *kind, const char *module,
									const char *members, bool transactional);
extern bool ws_broadcast_open(const char *message, Size size, bool transactional,
							  WsBroadcastMsg *out);

#endif							/* WS_BROADCAST_H */
