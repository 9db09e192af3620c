/*-------------------------------------------------------------------------
 *
 * bus.h
 *		The event bus: event schemas, publishing and consumption.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_BUS_H
#define WS_BUS_H

#include "postgres.h"

#include "utils/jsonb.h"

extern int32 ws_event_schema_check(const char *module, const char *event_type,
								   Jsonb *payload, const char *entity_id);

#endif							/* WS_BUS_H */
