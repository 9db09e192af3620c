/*-------------------------------------------------------------------------
 *
 * canon.h
 *		Access to the canon memory layer (the ws tables) shared by the
 *		transition protocol and the module catalog.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_CANON_H
#define WS_CANON_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/jsonb.h"
#include "utils/jsonpath.h"
#include "utils/uuid.h"

#include "spi.h"
#include "stats.h"

extern void ws_check_module_grant(Oid caller, const char *module, const char *entity_id);
extern void ws_check_module_admin(Oid caller, const char *module);
extern void ws_require_ws_admin(const char *function);

extern void ws_reject_module(const char *module, WsStat stat, int sqlerrcode,
							 const char *entity_id, const char *detail, const char *hint,
							 const char *fmt,...) pg_attribute_printf(7, 8) pg_attribute_noreturn();
/* refuse a change of entity_id, naming its module when it exists */
#define ws_reject(...) ws_reject_module(NULL, __VA_ARGS__)


extern void ws_check_handshake(const char *given, const char *entity_id);
extern void ws_check_handshake_module(const char *given, const char *entity_id,
									  const char *module);
extern const char *ws_presented_handshake(const char *given);
extern void ws_new_event_id(pg_uuid_t *u);

/* module.c */
extern bool ws_jsonpath_is_predicate(JsonPath *jp);
extern void ws_check_identifier(const char *name, const char *what);
extern void ws_check_event_schema_required(const char *module, const char *event_type,
										   const char *entity_id);

/* transition.c: let archival move rows out of ws.events */
extern void ws_events_guard_suspend(bool suspend);

#endif							/* WS_CANON_H */
