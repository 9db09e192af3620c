/*-------------------------------------------------------------------------
 *
 * canon.h
 *		Who may change what (module grants, ws_admin, the handshake),
 *		refusing a change, and event ids (canon.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_CANON_H
#define WS_CANON_H

#include "postgres.h"

#include "utils/uuid.h"

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

#endif							/* WS_CANON_H */
