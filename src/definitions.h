/*-------------------------------------------------------------------------
 *
 * definitions.h
 *		The catalog as a document: export, import, and the catalog events
 *		that carry each change to the other nodes (definitions.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_DEFINITIONS_H
#define WS_DEFINITIONS_H

#include "postgres.h"

#include "utils/jsonb.h"

/* The kinds of definitions, in the order an import creates them. */
typedef enum WsDefSection
{
	WS_DEF_MODULES,
	WS_DEF_GRANTS,
	WS_DEF_KINDS,
	WS_DEF_CONSTRAINTS,
	WS_DEF_EVENT_SCHEMAS,
	WS_DEF_NSECTIONS
} WsDefSection;

/* the most fields that name one definition (an event schema's three) */
#define WS_DEF_MAX_KEYS	3

/*
 * One definition a catalog function is changing: its section, the values
 * of the fields that name it, and its entry before the change (NULL when
 * absent), read only when catalog events are written.
 */
typedef struct WsDefinitionChange
{
	WsDefSection section;
	const char *keys[WS_DEF_MAX_KEYS];
	bool		on;
	Jsonb	   *before;
} WsDefinitionChange;

/* the module and event type of catalog events */
#define WS_CATALOG_MODULE		"ws"
#define WS_CATALOG_EVENT_TYPE	"definitions"

extern void ws_definition_change_begin(WsDefinitionChange *c, WsDefSection section,
									   const char *key1, const char *key2, const char *key3);
extern void ws_definition_change_end(WsDefinitionChange *c);
/*
 * ws_import_definitions: what ws.import_definitions does (a definition
 * present differently is an error), without catalog events.
 * ws_apply_definitions: the patch of a peer's catalog event, applied as a
 * later change made there (redefinitions, revocations and drops apply),
 * without catalog events.  Both run the defining functions as the current
 * role, raise on any failure and return the number of definitions written;
 * the replica trigger calls the latter inside a subtransaction.
 */
extern int	ws_import_definitions(Jsonb *doc);
extern int	ws_apply_definitions(Jsonb *doc);

#endif							/* WS_DEFINITIONS_H */
