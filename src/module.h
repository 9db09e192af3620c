/*-------------------------------------------------------------------------
 *
 * module.h
 *		The module catalog: identifiers, constraints' jsonpaths and the
 *		"event schema required" rule (module.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_MODULE_H
#define WS_MODULE_H

#include "postgres.h"

#include "utils/jsonpath.h"

extern bool ws_jsonpath_is_predicate(JsonPath *jp);
extern void ws_check_identifier(const char *name, const char *what);
extern void ws_check_event_schema_required(const char *module, const char *event_type,
										   const char *entity_id);

#endif							/* WS_MODULE_H */
