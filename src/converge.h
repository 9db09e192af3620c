/*-------------------------------------------------------------------------
 *
 * converge.h
 *		Events from other nodes: integration and the canonical fold.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_CONVERGE_H
#define WS_CONVERGE_H

#include "postgres.h"

#include "fmgr.h"

extern char *ws_converge_entity(const char *entity_id, bool check_only);

/* the background worker's turn: release held events whose wait is over, report expired ones */
extern void ws_converge_pending_cycle(void);

extern Datum events_arrive(PG_FUNCTION_ARGS);
extern Datum events_integrate(PG_FUNCTION_ARGS);
extern Datum conflict_resolve(PG_FUNCTION_ARGS);
extern Datum pending_retry(PG_FUNCTION_ARGS);

#endif							/* WS_CONVERGE_H */
