/*-------------------------------------------------------------------------
 *
 * horizon.h
 *		The safe horizon of the event log: events in flight.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_HORIZON_H
#define WS_HORIZON_H

#include "postgres.h"

#include "hlc.h"

extern Size ws_horizon_shmem_size(void);
extern void ws_horizon_shmem_request(void);
extern void ws_horizon_shmem_init(void);
extern WsHlc ws_hlc_for_event(void);
extern WsHlc ws_event_horizon(void);
extern int64 ws_arrival_for_event(Oid seq);
extern int64 ws_arrival_horizon(Oid seq);
extern int64 ws_events_in_flight(void);

#endif							/* WS_HORIZON_H */
