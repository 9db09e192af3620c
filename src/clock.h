/*-------------------------------------------------------------------------
 *
 * clock.h
 *		The node's hybrid logical clock (clock.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_CLOCK_H
#define WS_CLOCK_H

#include "postgres.h"

#include "hlc.h"

extern Size ws_clock_shmem_size(void);
extern void ws_clock_shmem_request(void);
extern void ws_clock_shmem_init(void);
extern WsHlc ws_clock_now(void);
extern WsHlc ws_clock_last(void);
extern WsHlc ws_clock_receive(const WsHlc *remote);
extern bool ws_clock_receive_bounded(const WsHlc *remote);
extern int64 ws_clock_physical(void);

#endif							/* WS_CLOCK_H */
